/* Line-oriented inputs: a document per line (text), blank-line separated blocks (paragraphs)
 * and WikiExtractor output (<doc ...> title, paragraphs, </doc>). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "text/readers.h"

/* A block longer than this is handed over in pieces, keeping memory bounded on inputs
 * without blank lines (or a <doc> never closed); long documents are split later anyway. */
#define MAX_BLOCK_BYTES ((size_t)8 << 20)

typedef struct {
    char *buf;
    size_t len, cap;
} Block;

static int block_add(Block *b, const char *line, size_t n, const char *path) {
    if (kr_grow((void **)&b->buf, &b->cap, b->len + n + 2, 1, 1 << 16, path) != 0) return -1;
    if (b->len) b->buf[b->len++] = '\n';
    memcpy(b->buf + b->len, line, n);
    b->len += n;
    return 0;
}

static int block_flush(Block *b, ReaderContext *rc, DocKind kind) {
    if (b->len == 0) return 0;
    size_t n = b->len;
    b->len = 0;
    rc->counts->docs++;
    return rc->sink(rc->ctx, b->buf, n, kind);
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

int read_lines(Source *src, InputFormat format, ReaderContext *rc) {
    LineReader lr;
    lines_init(&lr, src);
    Block b = {0};
    int in_doc = 0, title_pending = 0, rc_out = 0;
    DocKind kind = format == FMT_WIKI_DOC ? DOC_WIKI_EXTRACTED : DOC_PLAIN;
    char *line;
    size_t n;
    for (;;) {
        int got = lines_next(&lr, &line, &n);
        if (got <= 0) {
            rc_out = got;
            break;
        }
        int r = 0;
        if (format == FMT_TEXT) {
            if (!is_blank(line, n)) {
                rc->counts->docs++;
                r = rc->sink(rc->ctx, line, n, DOC_PLAIN);
            }
        } else if (format == FMT_PARAGRAPHS) {
            if (is_blank(line, n) || b.len + n > MAX_BLOCK_BYTES) r = block_flush(&b, rc, kind);
            if (r == 0 && !is_blank(line, n)) r = block_add(&b, line, n, src->path);
        } else if (n >= 5 && memcmp(line, "<doc ", 5) == 0) {
            r = block_flush(&b, rc, kind);
            in_doc = title_pending = 1;
        } else if (n >= 6 && memcmp(line, "</doc>", 6) == 0) {
            r = block_flush(&b, rc, kind);
            in_doc = 0;
        } else if (in_doc && !is_blank(line, n)) {
            int is_title = title_pending;
            title_pending = 0;
            if (b.len + n > MAX_BLOCK_BYTES) r = block_flush(&b, rc, kind); /* a <doc> without </doc> */
            if (r == 0 && (!is_title || rc->keep_headings)) r = block_add(&b, line, n, src->path);
        }
        if (r != 0) {
            rc_out = -1;
            break;
        }
    }
    if (rc_out == 0) rc_out = block_flush(&b, rc, kind);
    free(b.buf);
    lines_free(&lr);
    return rc_out;
}
