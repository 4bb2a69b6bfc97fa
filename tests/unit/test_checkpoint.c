/* Checkpoints: model.bin / optimizer.bin round trips, mmap alignment, run-directory resolution,
 * pruning, atomic replacement, and refusal of truncated, corrupted or foreign files. */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "model/params.h"
#include "model_testutil.h"
#include "test.h"
#include "train/checkpoint.h"

static char tmp[512];

static const char *tmp_path(const char *rel) {
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmp, rel);
    return p[k];
}

static ModelConfig ckpt_config(void) {
    ModelConfig c = tiny_config(64, 32, 2, 4, 2, 64, 32, 0.02f);
    strcpy(c.name, "ckpt-test");
    c.rope_theta = 5000.0f;
    return c;
}

static void expect_refused(const char *dir, const char *needle) {
    LoadedModel m;
    CHECK(checkpoint_load_model(dir, &m) != 0);
    CHECK_MSG(strstr(kr_last_error(), needle) != NULL, "error '%s' lacks '%s'", kr_last_error(), needle);
    CHECK(m.map == NULL && m.params == NULL);
}

/* Overwrites bytes of a file in place (no atomic write: the point is to damage it). */
static void poke(const char *path, long offset, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "r+b");
    fseek(fp, offset, SEEK_SET);
    fwrite(bytes, 1, n, fp);
    fclose(fp);
}

static void save_full(const char *run, const char *name, const ModelConfig *c, const float *p, const TrainState *st,
                      const float *m, const float *v, const char *tok) {
    TrainConfig tc;
    train_config_defaults(&tc);
    CheckpointWriter w;
    CHECK_MSG(checkpoint_begin(&w, run, name) == 0, "%s", kr_last_error());
    CHECK(checkpoint_write_model(&w, c, p) == 0);
    CHECK(checkpoint_write_optimizer(&w, st, m, v, (size_t)model_num_params(c)) == 0);
    CHECK_MSG(checkpoint_write_run_files(&w, &tc, tok) == 0, "%s", kr_last_error());
    CHECK_MSG(checkpoint_commit(&w) == 0, "%s", kr_last_error());
}

int main(void) {
    const char *t = getenv("KRLLM_TMP");
    snprintf(tmp, sizeof tmp, "%s", t ? t : "/tmp");
    ModelConfig c = ckpt_config();
    ParamLayout layout;
    CHECK(param_layout_init(&layout, &c) == 0);
    size_t n = layout.num_params;
    float *p = malloc(n * sizeof *p), *m = malloc(n * sizeof *m), *v = malloc(n * sizeof *v);
    float *m2 = malloc(n * sizeof *m2), *v2 = malloc(n * sizeof *v2);
    params_init_random(&layout, p, 3);
    for (size_t i = 0; i < n; i++) {
        m[i] = (float)i * 1e-3f;
        v[i] = 1.0f / (float)(i + 1);
    }

    /* The standard CRC-32 (zlib's): check value, and the same result when fed in pieces. */
    CHECK(kr_crc32(0, "123456789", 9) == 0xCBF43926u);
    CHECK(kr_crc32(kr_crc32(0, p, 13), (const uint8_t *)p + 13, 1000) == kr_crc32(0, p, 1013));

    /* checkpoint_save_model alone: exact parameters and config back, 64-byte aligned, mmap'd. */
    char exported[1024], run[1024], tok[1024], model[1024], opt[1024];
    snprintf(exported, sizeof exported, "%s", tmp_path("exported"));
    CHECK_MSG(checkpoint_save_model(exported, &c, p) == 0, "%s", kr_last_error());
    CHECK(kr_file_exists(tmp_path("exported/model_config.yaml")));
    LoadedModel lm;
    CHECK_MSG(checkpoint_load_model(exported, &lm) == 0, "%s", kr_last_error());
    CHECK(lm.num_params == n && memcmp(lm.params, p, n * sizeof *p) == 0);
    CHECK(memcmp(&lm.cfg, &c, sizeof c) == 0);
    CHECK(((uintptr_t)lm.params % 64) == 0 && lm.map != NULL);
    CHECK(lm.tokenizer_path[0] == '\0');
    CHECK(strcmp(lm.dir, exported) == 0);
    lm.params[0] = 123.0f; /* a private mapping: the file must not change */
    checkpoint_free_model(&lm);
    CHECK(checkpoint_load_model(exported, &lm) == 0 && lm.params[0] == p[0]);
    checkpoint_free_model(&lm);
    /* The YAML copy describes the same model. */
    ModelConfig from_yaml;
    CHECK_MSG(model_config_load(tmp_path("exported/model_config.yaml"), &from_yaml) == 0, "%s", kr_last_error());
    CHECK(memcmp(&from_yaml, &c, sizeof c) == 0);

    /* A training run directory: checkpoints, optimizer state, tokenizer copy, resolution order. */
    snprintf(run, sizeof run, "%s", tmp_path("run"));
    CHECK(kr_mkdir_p(run) == 0);
    snprintf(tok, sizeof tok, "%s", tmp_path("tok.model"));
    CHECK(kr_write_file_atomic(tok, "fake tokenizer", 14) == 0);
    TrainState st = {.step = 20, .tokens_seen = 12345, .elapsed_sec = 1.5, .data_tokens = 999, .data_crc = 0xabcdef,
                     .seed = 42, .batch_size = 8, .gradient_accumulation_steps = 2, .seq_len = 16, .max_steps = 100,
                     .warmup_steps = 5, .learning_rate = 1e-3f, .min_lr = 1e-4f};
    st.loader.sequences_drawn = 77;
    for (int i = 0; i < 4; i++) st.loader.rng.s[i] = 0x1111111111111111ULL * (i + 1);
    save_full(run, "checkpoint-10", &c, p, &st, m, v, tok);
    p[5] += 1.0f;
    save_full(run, "checkpoint-20", &c, p, &st, m, v, "");
    save_full(run, "checkpoint-9", &c, p, &st, m, v, "");
    char dir[1024];
    CHECK(checkpoint_resolve(run, dir, sizeof dir) == 0 && strcmp(dir, tmp_path("run/checkpoint-20")) == 0);
    CHECK(checkpoint_load_model(tmp_path("run/checkpoint-10"), &lm) == 0);
    CHECK(strcmp(lm.tokenizer_path, tmp_path("run/checkpoint-10/tokenizer.model")) == 0);
    CHECK(lm.params[5] != p[5]);
    checkpoint_free_model(&lm);
    CHECK(checkpoint_load_model(run, &lm) == 0 && lm.params[5] == p[5] && lm.tokenizer_path[0] == '\0');
    checkpoint_free_model(&lm);
    TrainConfig tc_back;
    CHECK(train_config_load(tmp_path("run/checkpoint-10/training_config.yaml"), &tc_back) == 0);

    TrainState st2;
    CHECK_MSG(checkpoint_load_optimizer(tmp_path("run/checkpoint-20"), n, &st2, m2, v2) == 0, "%s", kr_last_error());
    CHECK(memcmp(&st, &st2, sizeof st) == 0);
    CHECK(memcmp(m, m2, n * sizeof *m) == 0 && memcmp(v, v2, n * sizeof *v) == 0);
    CHECK(checkpoint_load_optimizer(tmp_path("run/checkpoint-20"), n + 1, &st2, m2, v2) != 0);

    /* An interrupted save (a .tmp directory) is neither a checkpoint nor in the way. */
    CHECK(kr_mkdir_p(tmp_path("run/checkpoint-30.tmp")) == 0);
    CHECK(kr_write_file_atomic(tmp_path("run/checkpoint-30.tmp/model.bin"), "junk", 4) == 0);
    CHECK(checkpoint_resolve(run, dir, sizeof dir) == 0 && strcmp(dir, tmp_path("run/checkpoint-20")) == 0);
    save_full(run, "checkpoint-30", &c, p, &st, m, v, "");
    CHECK(!kr_file_exists(tmp_path("run/checkpoint-30.tmp")));

    /* Saving under an existing name replaces it whole. */
    p[6] += 1.0f;
    save_full(run, "checkpoint-30", &c, p, &st, m, v, "");
    CHECK(checkpoint_load_model(tmp_path("run/checkpoint-30"), &lm) == 0 && lm.params[6] == p[6]);
    checkpoint_free_model(&lm);
    CHECK(!kr_file_exists(tmp_path("run/checkpoint-30.old")));

    /* final wins over any step; pruning keeps the newest steps. */
    save_full(run, "final", &c, p, &st, m, v, "");
    CHECK(checkpoint_resolve(run, dir, sizeof dir) == 0 && strcmp(dir, tmp_path("run/final")) == 0);
    CHECK(checkpoint_prune(run, 2) == 0);
    CHECK(!kr_file_exists(tmp_path("run/checkpoint-9")) && !kr_file_exists(tmp_path("run/checkpoint-10")));
    CHECK(kr_file_exists(tmp_path("run/checkpoint-20")) && kr_file_exists(tmp_path("run/checkpoint-30")));
    CHECK(kr_file_exists(tmp_path("run/final/model.bin")));
    CHECK(checkpoint_prune(run, 0) == 0 && kr_file_exists(tmp_path("run/checkpoint-20")));

    /* Damaged files are refused with the reason. */
    snprintf(model, sizeof model, "%s", tmp_path("exported/model.bin"));
    long size = (long)(CKPT_HEADER_SIZE + n * sizeof(float));
    uint8_t x = 0x5a;
    poke(model, CKPT_HEADER_SIZE + 100, &x, 1);
    expect_refused(exported, "parameters are corrupt");
    CHECK(checkpoint_save_model(exported, &c, p) == 0);
    poke(model, 40, &x, 1);
    expect_refused(exported, "header is corrupt");
    CHECK(checkpoint_save_model(exported, &c, p) == 0);
    poke(model, 0, "GGUF", 4);
    expect_refused(exported, "bad magic");
    CHECK(checkpoint_save_model(exported, &c, p) == 0);
    CHECK(truncate(model, size - 4) == 0);
    expect_refused(exported, "truncated");
    CHECK(truncate(model, 100) == 0);
    expect_refused(exported, "truncated");
    CHECK(truncate(model, 0) == 0);
    expect_refused(exported, "truncated");
    expect_refused(tmp_path("nowhere"), "not a directory");
    CHECK(kr_mkdir_p(tmp_path("empty")) == 0);
    expect_refused(tmp_path("empty"), "holds no checkpoint");

    snprintf(opt, sizeof opt, "%s", tmp_path("run/checkpoint-20/optimizer.bin"));
    poke(opt, CKPT_HEADER_SIZE + (long)n * 4 + 8, &x, 1);
    CHECK(checkpoint_load_optimizer(tmp_path("run/checkpoint-20"), n, &st2, m2, v2) != 0);
    CHECK_MSG(strstr(kr_last_error(), "optimizer state is corrupt") != NULL, "%s", kr_last_error());
    CHECK(truncate(opt, CKPT_HEADER_SIZE + n * 4) == 0);
    CHECK(checkpoint_load_optimizer(tmp_path("run/checkpoint-20"), n, &st2, m2, v2) != 0);
    CHECK_MSG(strstr(kr_last_error(), "truncated") != NULL, "%s", kr_last_error());
    CHECK(checkpoint_load_optimizer(tmp_path("exported"), n, &st2, m2, v2) != 0);
    CHECK_MSG(strstr(kr_last_error(), "cannot be resumed") != NULL, "%s", kr_last_error());

    param_layout_free(&layout);
    free(p), free(m), free(v), free(m2), free(v2);
    return test_summary("test_checkpoint");
}
