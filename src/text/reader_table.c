/* TSV and CSV files with a header row: the chosen text column(s) of each row are a document.
 * Without --column, the text columns are picked from a sample of rows: among columns whose
 * values contain letters (not ids, numbers or dates), the one with the longest average value,
 * plus any other whose average is at least half as long (e.g. both Q and A of a Q/A file). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/util.h"
#include "text/readers.h"

#define MAX_FIELDS 256
#define SAMPLE_ROWS 200
/* A CSV record longer than this is an unbalanced quote, not data. */
#define MAX_RECORD_BYTES ((size_t)64 << 20)

typedef struct {
    char *s;
    size_t n;
} Field;

typedef struct {
    char *buf;
    size_t len, cap;
} Record;

/* Splits a record in place; CSV fields are unquoted ("" becomes "). Returns the field count. */
static int split_fields(char *rec, size_t n, int csv, Field *f) {
    int nf = 0;
    size_t i = 0;
    for (;;) {
        if (nf == MAX_FIELDS) return nf;
        if (csv && i < n && rec[i] == '"') {
            size_t o = i, j = i + 1;
            f[nf].s = rec + o;
            while (j < n) {
                if (rec[j] == '"' && j + 1 < n && rec[j + 1] == '"') {
                    rec[o++] = '"';
                    j += 2;
                } else if (rec[j] == '"') {
                    j++;
                    break;
                } else {
                    rec[o++] = rec[j++];
                }
            }
            f[nf].n = o - i;
            nf++;
            while (j < n && rec[j] != ',') j++;
            if (j >= n) return nf;
            i = j + 1;
            continue;
        }
        char sep = csv ? ',' : '\t';
        char *end = memchr(rec + i, sep, n - i);
        size_t e = end ? (size_t)(end - rec) : n;
        f[nf].s = rec + i;
        f[nf].n = e - i;
        nf++;
        if (!end) return nf;
        i = e + 1;
    }
}

/* Reads one record: a line, continued over line breaks inside CSV quotes. 1, 0 at end, -1. */
static int next_record(LineReader *lr, int csv, Record *r, const char *path) {
    char *line;
    size_t n;
    r->len = 0;
    int quotes = 0, got;
    do {
        got = lines_next(lr, &line, &n);
        if (got < 0) return -1;
        if (got == 0) return r->len > 0;
        if (r->len + n > MAX_RECORD_BYTES)
            return kr_error("%s: a quoted field opened before line %llu is still open after %zu MB (unbalanced quote?); the rest of this file is skipped",
                            path, (unsigned long long)lr->line_no, MAX_RECORD_BYTES >> 20);
        if (kr_grow((void **)&r->buf, &r->cap, r->len + n + 2, 1, 4096, path) != 0) return -1;
        if (r->len) r->buf[r->len++] = '\n';
        memcpy(r->buf + r->len, line, n);
        r->len += n;
        if (csv)
            for (size_t i = 0; i < n; i++) quotes += line[i] == '"';
    } while (csv && quotes % 2 == 1);
    return 1;
}

typedef struct {
    int cols[MAX_FIELDS];
    int ncols;
} Selection;

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

/* --column NAME|N[,NAME|N...] against the header. */
static int select_named(const char *spec, Field *hdr, int nh, Selection *sel, const char *path) {
    sel->ncols = 0;
    char item[128];
    for (const char *p = spec; *p && sel->ncols < MAX_FIELDS;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len >= sizeof item) len = sizeof item - 1;
        memcpy(item, p, len);
        item[len] = 0;
        int col = -1;
        if (all_digits(item)) col = atoi(item) - 1;
        else
            for (int k = 0; k < nh; k++)
                if (hdr[k].n == len && strncasecmp(hdr[k].s, item, len) == 0) col = k;
        if (col < 0 || col >= nh) return kr_error("%s: no column '%s' in the header (it has %d columns); see --column", path, item, nh);
        sel->cols[sel->ncols++] = col;
        p = comma ? comma + 1 : p + strlen(p);
    }
    return sel->ncols ? 0 : kr_error("--column is empty");
}

static int has_letter(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isalpha((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80) return 1;
    return 0;
}

static void select_auto(Record *sample, int nsample, int nh, int csv, Selection *sel) {
    double len[MAX_FIELDS] = {0};
    int texty[MAX_FIELDS] = {0}, seen[MAX_FIELDS] = {0};
    Field f[MAX_FIELDS];
    for (int r = 0; r < nsample; r++) {
        char *copy = malloc(sample[r].len + 1);
        if (!copy) continue;
        memcpy(copy, sample[r].buf, sample[r].len);
        int nf = split_fields(copy, sample[r].len, csv, f);
        for (int k = 0; k < nf && k < nh; k++) {
            len[k] += (double)f[k].n;
            texty[k] += has_letter(f[k].s, f[k].n);
            seen[k]++;
        }
        free(copy);
    }
    double best = 0;
    for (int k = 0; k < nh; k++) {
        len[k] = seen[k] ? len[k] / seen[k] : 0;
        if (seen[k] && texty[k] * 10 >= seen[k] * 8 && len[k] > best) best = len[k];
    }
    sel->ncols = 0;
    for (int k = 0; k < nh; k++)
        if (seen[k] && texty[k] * 10 >= seen[k] * 8 && best > 0 && len[k] * 2 >= best) sel->cols[sel->ncols++] = k;
}

/* Hands the selected fields of one record (joined by newlines) to the sink. */
static int emit_record(Record *r, int csv, const Selection *sel, ReaderContext *rc, Record *out) {
    Field f[MAX_FIELDS];
    int nf = split_fields(r->buf, r->len, csv, f);
    out->len = 0;
    int any = 0;
    for (int k = 0; k < sel->ncols; k++) {
        int c = sel->cols[k];
        if (c >= nf) continue;
        any = 1;
        if (kr_grow((void **)&out->buf, &out->cap, out->len + f[c].n + 2, 1, 4096, "table fields") != 0) return -1;
        if (out->len) out->buf[out->len++] = '\n';
        memcpy(out->buf + out->len, f[c].s, f[c].n);
        out->len += f[c].n;
    }
    if (!any) {
        rc->counts->bad_rows++;
        return 0;
    }
    rc->counts->docs++;
    return rc->sink(rc->ctx, out->buf, out->len, DOC_PLAIN);
}

static void describe_selection(const Selection *sel, Field *hdr, ReaderContext *rc) {
    size_t o = 0;
    rc->columns_used[0] = 0;
    for (int k = 0; k < sel->ncols && o + 1 < sizeof rc->columns_used; k++)
        o += (size_t)snprintf(rc->columns_used + o, sizeof rc->columns_used - o, "%s%.*s", k ? "," : "", (int)hdr[sel->cols[k]].n, hdr[sel->cols[k]].s);
}

int read_table(Source *src, InputFormat format, ReaderContext *rc) {
    int csv = format == FMT_CSV, rc_out = 0, nsample = 0, nh;
    LineReader lr;
    lines_init(&lr, src);
    Record header = {0}, rec = {0}, out = {0}, sample[SAMPLE_ROWS];
    memset(sample, 0, sizeof sample);
    Field hdr[MAX_FIELDS];
    Selection sel;
    int got = next_record(&lr, csv, &header, src->path);
    if (got <= 0) {
        rc_out = got < 0 ? -1 : kr_error("%s: no header row", src->path);
        goto done;
    }
    if (header.len >= 3 && memcmp(header.buf, "\xEF\xBB\xBF", 3) == 0) memmove(header.buf, header.buf + 3, header.len -= 3);
    nh = split_fields(header.buf, header.len, csv, hdr);
    if (rc->column) {
        if (select_named(rc->column, hdr, nh, &sel, src->path) != 0) {
            rc_out = -1;
            goto done;
        }
    } else {
        while (nsample < SAMPLE_ROWS && (got = next_record(&lr, csv, &sample[nsample], src->path)) > 0) nsample++;
        if (got < 0) rc_out = -1;
        select_auto(sample, nsample, nh, csv, &sel);
        if (sel.ncols == 0 && rc_out == 0) {
            rc_out = kr_error("%s: found no text column (give one with --column)", src->path);
            goto done;
        }
    }
    describe_selection(&sel, hdr, rc);
    for (int r = 0; r < nsample && rc_out == 0; r++) rc_out = emit_record(&sample[r], csv, &sel, rc, &out);
    while (rc_out == 0 && (got = next_record(&lr, csv, &rec, src->path)) > 0) rc_out = emit_record(&rec, csv, &sel, rc, &out);
    if (got < 0) rc_out = -1;
done:
    for (int r = 0; r < SAMPLE_ROWS; r++) free(sample[r].buf);
    free(header.buf);
    free(rec.buf);
    free(out.buf);
    lines_free(&lr);
    return rc_out;
}
