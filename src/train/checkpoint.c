#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"

/* ---- fixed-size little-endian headers (layout in docs/checkpoints.md) ---- */

typedef struct {
    uint8_t b[CKPT_HEADER_SIZE];
    size_t pos;
} Header;

static void put(Header *h, const void *v, size_t n) {
    memcpy(h->b + h->pos, v, n);
    h->pos += n;
}
static void put_u32(Header *h, uint32_t v) { put(h, &v, 4); }
static void put_i32(Header *h, int32_t v) { put(h, &v, 4); }
static void put_u64(Header *h, uint64_t v) { put(h, &v, 8); }
static void put_f32(Header *h, float v) { put(h, &v, 4); }
static void put_f64(Header *h, double v) { put(h, &v, 8); }

static void get(Header *h, void *v, size_t n) {
    memcpy(v, h->b + h->pos, n);
    h->pos += n;
}
static uint32_t get_u32(Header *h) { uint32_t v; get(h, &v, 4); return v; }
static int32_t get_i32(Header *h) { int32_t v; get(h, &v, 4); return v; }
static uint64_t get_u64(Header *h) { uint64_t v; get(h, &v, 8); return v; }
static float get_f32(Header *h) { float v; get(h, &v, 4); return v; }
static double get_f64(Header *h) { double v; get(h, &v, 8); return v; }

/* Common prefix of model.bin and optimizer.bin: magic, version, dtype, count, payload offset, CRC. */
static void put_prefix(Header *h, const char *magic, uint64_t count, uint32_t payload_crc) {
    memset(h, 0, sizeof *h);
    put(h, magic, 8);
    put_u32(h, CKPT_VERSION);
    put_u32(h, CKPT_DTYPE_F32);
    put_u64(h, count);
    put_u64(h, CKPT_HEADER_SIZE);
    put_u32(h, payload_crc);
}

static void seal(Header *h) {
    uint32_t crc = kr_crc32(0, h->b, CKPT_HEADER_SIZE - 4);
    memcpy(h->b + CKPT_HEADER_SIZE - 4, &crc, 4);
}

/* Checks the prefix and header CRC; leaves pos after the prefix. `what` names the file in errors. */
static int check_prefix(Header *h, const char *magic, const char *what, uint64_t *count, uint32_t *payload_crc) {
    uint32_t crc;
    memcpy(&crc, h->b + CKPT_HEADER_SIZE - 4, 4);
    h->pos = 0;
    if (memcmp(h->b, magic, 8) != 0) return kr_error("%s: not a krllm checkpoint file (bad magic; expected %.8s)", what, magic);
    if (crc != kr_crc32(0, h->b, CKPT_HEADER_SIZE - 4)) return kr_error("%s: header is corrupt (checksum mismatch)", what);
    h->pos = 8;
    uint32_t version = get_u32(h), dtype = get_u32(h);
    if (version != CKPT_VERSION) return kr_error("%s: unsupported checkpoint version %u (this krllm reads %d)", what, version, CKPT_VERSION);
    if (dtype != CKPT_DTYPE_F32) return kr_error("%s: unsupported dtype code %u (only fp32 is written)", what, dtype);
    *count = get_u64(h);
    if (get_u64(h) != CKPT_HEADER_SIZE) return kr_error("%s: unexpected payload offset", what);
    *payload_crc = get_u32(h);
    return 0;
}

static void put_model_config(Header *h, const ModelConfig *c) {
    char name[64] = {0};
    memcpy(name, c->name, strnlen(c->name, sizeof name - 1));
    put(h, name, sizeof name);
    put_i32(h, c->vocab_size);
    put_i32(h, c->hidden_size);
    put_i32(h, c->num_layers);
    put_i32(h, c->num_heads);
    put_i32(h, c->num_kv_heads);
    put_i32(h, c->intermediate_size);
    put_i32(h, c->max_seq_len);
    put_f32(h, c->rope_theta);
    put_f32(h, c->rms_norm_eps);
    put_i32(h, c->tie_word_embeddings);
    put_f32(h, c->initializer_range);
}

static void get_model_config(Header *h, ModelConfig *c) {
    memset(c, 0, sizeof *c);
    get(h, c->name, sizeof c->name);
    c->name[sizeof c->name - 1] = '\0';
    c->vocab_size = get_i32(h);
    c->hidden_size = get_i32(h);
    c->num_layers = get_i32(h);
    c->num_heads = get_i32(h);
    c->num_kv_heads = get_i32(h);
    c->intermediate_size = get_i32(h);
    c->max_seq_len = get_i32(h);
    c->rope_theta = get_f32(h);
    c->rms_norm_eps = get_f32(h);
    c->tie_word_embeddings = get_i32(h);
    c->initializer_range = get_f32(h);
}

/* Sizes read from a file are untrusted: reject absurd ones before dividing or validating. */
static int model_config_sane(const ModelConfig *c, const char *what) {
    if (c->vocab_size < 2 || c->hidden_size < 2 || c->num_layers < 1 || c->num_heads < 1 || c->num_kv_heads < 1 ||
        c->intermediate_size < 1 || c->max_seq_len < 1 || c->vocab_size > (1 << 24) || c->hidden_size > 65536 ||
        c->num_layers > 1024 || c->num_heads > 1024 || c->num_kv_heads > 1024 || c->intermediate_size > (1 << 20))
        return kr_error("%s: model configuration in the header is invalid", what);
    if (model_config_validate(c) != 0) return kr_error("%s: %s", what, kr_last_error());
    return 0;
}

/* ---- small file helpers ---- */

static int path_join(char *out, size_t size, const char *dir, const char *name) {
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size) return kr_error("path too long: %s/%s", dir, name);
    return 0;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Removes a checkpoint directory: it holds only plain files. */
static int remove_flat_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? 0 : kr_error("cannot open %s: %s", path, strerror(errno));
    struct dirent *e;
    char file[2200];
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (unlink(file) != 0 && rc == 0) rc = kr_error("cannot remove %s: %s", file, strerror(errno));
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0) rc = kr_error("cannot remove %s: %s", path, strerror(errno));
    return rc;
}

static void fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Parses "checkpoint-<digits>" into step; -1 for other names. */
static long checkpoint_step_of(const char *name) {
    if (strncmp(name, "checkpoint-", 11) != 0 || !name[11]) return -1;
    char *end;
    long step = strtol(name + 11, &end, 10);
    return *end || name[11] < '0' || name[11] > '9' ? -1 : step;
}

/* ---- writing ---- */

typedef void (*YamlWriter)(FILE *fp, const void *obj);
static void write_model_yaml(FILE *fp, const void *c) { model_config_write_yaml(fp, c); }
static void write_train_yaml(FILE *fp, const void *c) { train_config_write_yaml(fp, c); }

static int write_yaml_file(const char *dir, const char *name, YamlWriter fn, const void *obj) {
    char path[1200];
    AtomicFile af;
    if (path_join(path, sizeof path, dir, name) != 0 || kr_atomic_open(&af, path) != 0) return -1;
    fn(af.fp, obj);
    if (ferror(af.fp)) {
        kr_atomic_abort(&af);
        return kr_error("cannot write %s", path);
    }
    return kr_atomic_commit(&af);
}

/* Writes a header followed by `nparts` float arrays of n elements each, atomically. */
static int write_bin(const char *path, Header *h, const float *const *parts, int nparts, size_t n) {
    AtomicFile af;
    if (kr_atomic_open(&af, path) != 0) return -1;
    int rc = kr_fwrite(h->b, CKPT_HEADER_SIZE, af.fp, path);
    for (int i = 0; i < nparts && rc == 0; i++) rc = kr_fwrite(parts[i], n * sizeof(float), af.fp, path);
    if (rc != 0) {
        kr_atomic_abort(&af);
        return -1;
    }
    return kr_atomic_commit(&af);
}

static int write_model_files(const char *dir, const ModelConfig *cfg, const float *params) {
    size_t n = (size_t)model_num_params(cfg);
    Header h;
    put_prefix(&h, CKPT_MODEL_MAGIC, n, kr_crc32(0, params, n * sizeof(float)));
    put_model_config(&h, cfg);
    seal(&h);
    char path[1200];
    if (path_join(path, sizeof path, dir, "model.bin") != 0) return -1;
    if (write_bin(path, &h, &params, 1, n) != 0) return -1;
    return write_yaml_file(dir, "model_config.yaml", write_model_yaml, cfg);
}

int checkpoint_save_model(const char *dir, const ModelConfig *cfg, const float *params) {
    if (kr_mkdir_p(dir) != 0) return -1;
    return write_model_files(dir, cfg, params);
}

int checkpoint_begin(CheckpointWriter *w, const char *run_dir, const char *name) {
    memset(w, 0, sizeof *w);
    if (strlen(run_dir) >= sizeof w->run_dir) return kr_error("output directory path too long: %s", run_dir);
    strcpy(w->run_dir, run_dir);
    if ((size_t)snprintf(w->dir, sizeof w->dir, "%s/%s", run_dir, name) >= sizeof w->dir ||
        (size_t)snprintf(w->tmp_dir, sizeof w->tmp_dir, "%s/%s.tmp", run_dir, name) >= sizeof w->tmp_dir)
        return kr_error("checkpoint path too long: %s/%s", run_dir, name);
    if (remove_flat_dir(w->tmp_dir) != 0) return -1; /* left over from an interrupted save */
    return kr_mkdir_p(w->tmp_dir);
}

int checkpoint_write_model(CheckpointWriter *w, const ModelConfig *cfg, const float *params) {
    return write_model_files(w->tmp_dir, cfg, params);
}

int checkpoint_write_optimizer(CheckpointWriter *w, const TrainState *st, const float *m, const float *v, size_t num_params) {
    uint32_t crc = kr_crc32(kr_crc32(0, m, num_params * sizeof(float)), v, num_params * sizeof(float));
    Header h;
    put_prefix(&h, CKPT_OPT_MAGIC, num_params, crc);
    put_i32(&h, st->step);
    put_u64(&h, st->tokens_seen);
    put_f64(&h, st->elapsed_sec);
    for (int i = 0; i < 4; i++) put_u64(&h, st->loader.rng.s[i]);
    put_u64(&h, st->loader.sequences_drawn);
    put_u64(&h, st->data_tokens);
    put_u32(&h, st->data_crc);
    put_i32(&h, st->seed);
    put_i32(&h, st->batch_size);
    put_i32(&h, st->gradient_accumulation_steps);
    put_i32(&h, st->seq_len);
    put_i32(&h, st->max_steps);
    put_i32(&h, st->warmup_steps);
    put_f32(&h, st->learning_rate);
    put_f32(&h, st->min_lr);
    seal(&h);
    char path[1200];
    if (path_join(path, sizeof path, w->tmp_dir, "optimizer.bin") != 0) return -1;
    const float *parts[2] = {m, v};
    return write_bin(path, &h, parts, 2, num_params);
}

int checkpoint_write_run_files(CheckpointWriter *w, const TrainConfig *tc, const char *tokenizer) {
    if (write_yaml_file(w->tmp_dir, "training_config.yaml", write_train_yaml, tc) != 0) return -1;
    if (!tokenizer || !tokenizer[0]) return 0;
    char path[1200];
    if (path_join(path, sizeof path, w->tmp_dir, "tokenizer.model") != 0) return -1;
    if (kr_copy_file(tokenizer, path) != 0) return kr_error("cannot copy the tokenizer into the checkpoint: %s", kr_last_error());
    return 0;
}

int checkpoint_commit(CheckpointWriter *w) {
    char old[1200];
    snprintf(old, sizeof old, "%s.old", w->dir);
    /* An existing checkpoint of the same name (a resumed run saving again) moves aside first,
     * so that one complete copy exists at every moment. */
    if (remove_flat_dir(old) != 0) return -1;
    if (is_dir(w->dir) && rename(w->dir, old) != 0) return kr_error("cannot move %s aside: %s", w->dir, strerror(errno));
    if (rename(w->tmp_dir, w->dir) != 0) return kr_error("cannot rename %s to %s: %s", w->tmp_dir, w->dir, strerror(errno));
    fsync_dir(w->run_dir);
    return remove_flat_dir(old);
}

void checkpoint_abort(CheckpointWriter *w) {
    if (w->tmp_dir[0]) remove_flat_dir(w->tmp_dir);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Steps of the checkpoint-<step> directories in run_dir, sorted ascending (malloc'd). */
static int list_checkpoints(const char *run_dir, long **steps_out, int *n_out) {
    *steps_out = NULL;
    *n_out = 0;
    DIR *d = opendir(run_dir);
    if (!d) return kr_error("cannot open %s: %s", run_dir, strerror(errno));
    long *steps = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long step = checkpoint_step_of(e->d_name);
        if (step < 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            long *bigger = realloc(steps, cap * sizeof *steps);
            if (!bigger) {
                free(steps);
                closedir(d);
                return kr_error("out of memory");
            }
            steps = bigger;
        }
        steps[n++] = step;
    }
    closedir(d);
    if (n > 1) qsort(steps, n, sizeof *steps, cmp_long);
    *steps_out = steps;
    *n_out = n;
    return 0;
}

int checkpoint_prune(const char *run_dir, int keep) {
    if (keep <= 0) return 0;
    long *steps;
    int n;
    if (list_checkpoints(run_dir, &steps, &n) != 0) return -1;
    int rc = 0;
    char dir[1200];
    for (int i = 0; i + keep < n && rc == 0; i++) {
        snprintf(dir, sizeof dir, "%s/checkpoint-%ld", run_dir, steps[i]);
        rc = remove_flat_dir(dir);
    }
    free(steps);
    return rc;
}

/* ---- reading ---- */

static int has_model(const char *dir) {
    char path[2400];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    return kr_file_exists(path);
}

int checkpoint_resolve(const char *path, char *out, size_t out_size) {
    char cand[1200];
    if (!is_dir(path)) return kr_error("checkpoint %s: not a directory (pass a checkpoint or training output directory)", path);
    if (has_model(path)) {
        snprintf(cand, sizeof cand, "%s", path);
    } else {
        snprintf(cand, sizeof cand, "%s/final", path);
        if (!has_model(cand)) {
            long *steps;
            int n;
            if (list_checkpoints(path, &steps, &n) != 0) return -1;
            cand[0] = '\0';
            for (int i = n - 1; i >= 0 && !cand[0]; i--) {
                snprintf(cand, sizeof cand, "%s/checkpoint-%ld", path, steps[i]);
                if (!has_model(cand)) cand[0] = '\0';
            }
            free(steps);
            if (!cand[0])
                return kr_error("%s holds no checkpoint (expected model.bin, final/ or checkpoint-<step>/ inside)", path);
        }
    }
    if (strlen(cand) >= out_size) return kr_error("checkpoint path too long: %s", cand);
    strcpy(out, cand);
    return 0;
}

/* Opens `path`, checks its size against the header's payload of `parts` x count floats. */
static int read_header(int fd, const char *path, const char *magic, int parts, Header *h, uint64_t *count,
                       uint32_t *payload_crc, size_t *file_size) {
    struct stat st;
    if (fstat(fd, &st) != 0) return kr_error("cannot stat %s: %s", path, strerror(errno));
    if (st.st_size < CKPT_HEADER_SIZE) return kr_error("%s is truncated (%lld bytes, shorter than its header)", path, (long long)st.st_size);
    if (pread(fd, h->b, CKPT_HEADER_SIZE, 0) != CKPT_HEADER_SIZE) return kr_error("cannot read %s: %s", path, strerror(errno));
    if (check_prefix(h, magic, path, count, payload_crc) != 0) return -1;
    uint64_t expect = CKPT_HEADER_SIZE + *count * sizeof(float) * parts;
    if (*count > ((uint64_t)1 << 40) || (uint64_t)st.st_size != expect)
        return kr_error("%s is truncated or has trailing bytes (%lld bytes, header promises %llu)", path,
                        (long long)st.st_size, (unsigned long long)expect);
    *file_size = (size_t)st.st_size;
    return 0;
}

int checkpoint_load_model(const char *path, LoadedModel *m) {
    memset(m, 0, sizeof *m);
    char file[1200];
    if (checkpoint_resolve(path, m->dir, sizeof m->dir) != 0) return -1;
    snprintf(file, sizeof file, "%s/model.bin", m->dir);
    int fd = open(file, O_RDONLY);
    if (fd < 0) return kr_error("cannot open %s: %s", file, strerror(errno));
    Header h;
    uint64_t count;
    uint32_t crc;
    size_t size;
    int rc = read_header(fd, file, CKPT_MODEL_MAGIC, 1, &h, &count, &crc, &size);
    void *map = MAP_FAILED;
    if (rc == 0) {
        get_model_config(&h, &m->cfg);
        rc = model_config_sane(&m->cfg, file);
    }
    if (rc == 0 && (uint64_t)model_num_params(&m->cfg) != count)
        rc = kr_error("%s: holds %llu parameters but its configuration needs %lld", file, (unsigned long long)count,
                      (long long)model_num_params(&m->cfg));
    /* Private writable mapping: callers get a float * without the file ever changing. */
    if (rc == 0 && (map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        rc = kr_error("cannot map %s: %s", file, strerror(errno));
    close(fd);
    if (rc == 0 && kr_crc32(0, (uint8_t *)map + CKPT_HEADER_SIZE, count * sizeof(float)) != crc)
        rc = kr_error("%s: parameters are corrupt (checksum mismatch)", file);
    if (rc != 0) {
        if (map != MAP_FAILED) munmap(map, size);
        memset(m, 0, sizeof *m);
        return -1;
    }
    m->map = map;
    m->map_size = size;
    m->params = (float *)((uint8_t *)map + CKPT_HEADER_SIZE);
    m->num_params = count;
    if (path_join(m->tokenizer_path, sizeof m->tokenizer_path, m->dir, "tokenizer.model") != 0 ||
        !kr_file_exists(m->tokenizer_path))
        m->tokenizer_path[0] = '\0';
    return 0;
}

void checkpoint_free_model(LoadedModel *m) {
    if (m->map) munmap(m->map, m->map_size);
    memset(m, 0, sizeof *m);
}

static int read_floats(int fd, const char *path, float *dst, size_t n, off_t offset, uint32_t *crc) {
    uint8_t *p = (uint8_t *)dst;
    size_t left = n * sizeof(float);
    while (left > 0) {
        size_t chunk = left < ((size_t)1 << 30) ? left : ((size_t)1 << 30);
        ssize_t got = pread(fd, p, chunk, offset);
        if (got <= 0) return kr_error("cannot read %s: %s", path, got < 0 ? strerror(errno) : "unexpected end of file");
        *crc = kr_crc32(*crc, p, (size_t)got);
        p += got;
        offset += got;
        left -= (size_t)got;
    }
    return 0;
}

int checkpoint_load_optimizer(const char *dir, size_t num_params, TrainState *st, float *m, float *v) {
    char file[1200];
    if (path_join(file, sizeof file, dir, "optimizer.bin") != 0) return -1;
    int fd = open(file, O_RDONLY);
    if (fd < 0) return kr_error("cannot open %s: %s (a checkpoint without optimizer state cannot be resumed)", file, strerror(errno));
    Header h;
    uint64_t count;
    uint32_t crc, got_crc = 0;
    size_t size;
    int rc = read_header(fd, file, CKPT_OPT_MAGIC, 2, &h, &count, &crc, &size);
    if (rc == 0 && count != num_params)
        rc = kr_error("%s: optimizer state for %llu parameters, the model has %zu", file, (unsigned long long)count, num_params);
    if (rc == 0) rc = read_floats(fd, file, m, num_params, CKPT_HEADER_SIZE, &got_crc);
    if (rc == 0) rc = read_floats(fd, file, v, num_params, CKPT_HEADER_SIZE + num_params * sizeof(float), &got_crc);
    close(fd);
    if (rc == 0 && got_crc != crc) rc = kr_error("%s: optimizer state is corrupt (checksum mismatch)", file);
    if (rc != 0) return -1;
    memset(st, 0, sizeof *st);
    st->step = get_i32(&h);
    st->tokens_seen = get_u64(&h);
    st->elapsed_sec = get_f64(&h);
    for (int i = 0; i < 4; i++) st->loader.rng.s[i] = get_u64(&h);
    st->loader.sequences_drawn = get_u64(&h);
    st->data_tokens = get_u64(&h);
    st->data_crc = get_u32(&h);
    st->seed = get_i32(&h);
    st->batch_size = get_i32(&h);
    st->gradient_accumulation_steps = get_i32(&h);
    st->seq_len = get_i32(&h);
    st->max_steps = get_i32(&h);
    st->warmup_steps = get_i32(&h);
    st->learning_rate = get_f32(&h);
    st->min_lr = get_f32(&h);
    if (st->step < 0) return kr_error("%s: negative step count", file);
    return 0;
}
