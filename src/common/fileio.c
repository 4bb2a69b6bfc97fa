#include "common/fileio.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static char *dup_printf_path(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 32;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s.%ld", path, suffix, (long)getpid());
    return s;
}

int kr_atomic_open(AtomicFile *af, const char *path) {
    memset(af, 0, sizeof *af);
    af->final_path = strdup(path);
    af->tmp_path = dup_printf_path(path, ".tmp");
    if (!af->final_path || !af->tmp_path) {
        kr_atomic_abort(af);
        return kr_error("out of memory");
    }
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        int e = errno;
        kr_atomic_abort(af);
        return kr_error("cannot create %s.tmp: %s", path, strerror(e));
    }
    return 0;
}

static void fsync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int kr_atomic_commit(AtomicFile *af) {
    int rc = 0;
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) rc = kr_error("cannot write %s: %s", af->final_path, strerror(errno));
    if (fclose(af->fp) != 0 && rc == 0) rc = kr_error("cannot close %s: %s", af->final_path, strerror(errno));
    af->fp = NULL;
    if (rc == 0 && rename(af->tmp_path, af->final_path) != 0)
        rc = kr_error("cannot rename %s to %s: %s", af->tmp_path, af->final_path, strerror(errno));
    if (rc == 0) fsync_parent_dir(af->final_path);
    else unlink(af->tmp_path);
    free(af->final_path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    return rc;
}

void kr_atomic_abort(AtomicFile *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->final_path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

int kr_write_file_atomic(const char *path, const void *data, size_t size) {
    AtomicFile af;
    if (kr_atomic_open(&af, path) != 0) return -1;
    if (kr_fwrite(data, size, af.fp, path) != 0) {
        kr_atomic_abort(&af);
        return -1;
    }
    return kr_atomic_commit(&af);
}

int kr_fwrite(const void *data, size_t size, FILE *fp, const char *what) {
    if (size && fwrite(data, 1, size, fp) != size) return kr_error("cannot write %s: %s", what, strerror(errno));
    return 0;
}

char *kr_read_file(const char *path, size_t *size_out) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        kr_error("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2 + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(fp);
    fclose(fp);
    if (!buf || err) {
        free(buf);
        kr_error("cannot read %s", path);
        return NULL;
    }
    buf[n] = '\0';
    if (size_out) *size_out = n;
    return buf;
}

int kr_mkdir_p(const char *path) {
    char tmp[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof tmp) return kr_error("bad directory path '%s'", path);
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return kr_error("cannot create directory %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return kr_error("cannot create directory %s: %s", tmp, strerror(errno));
    return 0;
}

int kr_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int kr_copy_file(const char *src, const char *dst) {
    size_t n;
    char *data = kr_read_file(src, &n);
    if (!data) return -1;
    int rc = kr_write_file_atomic(dst, data, n);
    free(data);
    return rc;
}

/* Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes, so eight
 * input bytes fold in per step (several times faster on multi-GB shards and checkpoints). */
static uint32_t crc_table[8][256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++) crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xff];
}

uint32_t kr_crc32(uint32_t crc, const void *data, size_t n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const uint8_t *p = data;
    uint32_t (*t)[256] = crc_table;
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    for (; n > 0; n--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint64_t kr_hash64(const void *data, size_t n, uint64_t seed) {
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    h ^= n;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}
