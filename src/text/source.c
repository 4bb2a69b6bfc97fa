#include "text/source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* A line longer than this is treated as a broken (binary) input rather than buffered forever. */
#define MAX_LINE_BYTES ((size_t)256 << 20)

int source_open(Source *s, const char *path, int threads) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->fp = fopen(path, "rb");
    if (!s->fp) return kr_error("cannot open %s: %s", path, strerror(errno));
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, sizeof magic, s->fp);
    rewind(s->fp);
    int is_bz2 = got == 4 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h' && magic[3] >= '1' && magic[3] <= '9';
    if (is_bz2 && !(s->bz2 = bz2_open(s->fp, path, threads))) {
        source_close(s);
        return -1;
    }
    return 0;
}

static long read_plain(Source *s, char *buf, size_t cap) {
    size_t got = fread(buf, 1, cap, s->fp);
    if (got == 0 && ferror(s->fp)) return kr_error("%s: read error at byte %llu: %s", s->path, (unsigned long long)s->file_offset, strerror(errno));
    s->file_offset += got;
    return (long)got;
}

static long read_bz2(Source *s, char *buf, size_t cap) {
    long n = bz2_read(s->bz2, buf, cap);
    s->file_offset = bz2_compressed_offset(s->bz2);
    return n;
}

long source_read(Source *s, char *buf, size_t cap) {
    if (s->pending_pos < s->pending_len) {
        size_t n = s->pending_len - s->pending_pos;
        if (n > cap) n = cap;
        memcpy(buf, s->pending + s->pending_pos, n);
        s->pending_pos += n;
        return (long)n;
    }
    if (cap > 0x40000000) cap = 0x40000000;
    long n = s->bz2 ? read_bz2(s, buf, cap) : read_plain(s, buf, cap);
    if (n > 0) s->out_offset += (uint64_t)n;
    return n;
}

int source_unread(Source *s, const char *buf, size_t n) {
    size_t keep = s->pending_len - s->pending_pos;
    char *p = malloc(n + keep + 1);
    if (!p) return kr_error("out of memory");
    memcpy(p, buf, n);
    if (keep) memcpy(p + n, s->pending + s->pending_pos, keep);
    free(s->pending);
    s->pending = p;
    s->pending_len = n + keep;
    s->pending_pos = 0;
    return 0;
}

void source_close(Source *s) {
    bz2_close(s->bz2);
    if (s->fp) fclose(s->fp);
    free(s->pending);
    memset(s, 0, sizeof *s);
}

void lines_init(LineReader *lr, Source *src) {
    memset(lr, 0, sizeof *lr);
    lr->src = src;
}

/* Makes room for at least one more chunk after the unread bytes. */
static int lines_refill(LineReader *lr) {
    if (lr->pos > 0) {
        memmove(lr->buf, lr->buf + lr->pos, lr->len - lr->pos);
        lr->len -= lr->pos;
        lr->pos = 0;
    }
    if (lr->cap - lr->len < SOURCE_CHUNK) {
        if (lr->cap >= MAX_LINE_BYTES) return kr_error("%s: line %llu is longer than %zu MB (binary file?)", lr->src->path,
                                                       (unsigned long long)lr->line_no + 1, MAX_LINE_BYTES >> 20);
        size_t cap = lr->cap ? lr->cap * 2 : 2 * SOURCE_CHUNK;
        char *b = realloc(lr->buf, cap);
        if (!b) return kr_error("out of memory reading %s", lr->src->path);
        lr->buf = b;
        lr->cap = cap;
    }
    long n = source_read(lr->src, lr->buf + lr->len, lr->cap - lr->len);
    if (n < 0) return -1;
    if (n == 0) lr->eof = 1;
    lr->len += (size_t)n;
    return 0;
}

int lines_next(LineReader *lr, char **line, size_t *len) {
    size_t scanned = lr->pos;
    for (;;) {
        char *nl = lr->len > scanned ? memchr(lr->buf + scanned, '\n', lr->len - scanned) : NULL;
        if (nl || (lr->eof && lr->pos < lr->len)) {
            char *start = lr->buf + lr->pos;
            size_t n = nl ? (size_t)(nl - start) : lr->len - lr->pos;
            lr->pos += n + (nl ? 1 : 0);
            if (n > 0 && start[n - 1] == '\r') n--;
            *line = start;
            *len = n;
            lr->line_no++;
            return 1;
        }
        if (lr->eof) return 0;
        size_t offset = lr->len - lr->pos;
        if (lines_refill(lr) != 0) return -1;
        scanned = lr->pos + offset;
    }
}

void lines_free(LineReader *lr) {
    free(lr->buf);
    memset(lr, 0, sizeof *lr);
}
