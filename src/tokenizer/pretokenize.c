#include "tokenizer/pretokenize.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"
#include "data/shard.h"
#include "tokenizer/tok_internal.h"

#define BLOCK_BYTES (4u << 20)

/* One thread's share of a block: a contiguous run of lines and their ids. */
typedef struct {
    EncodeScratch scratch;
    uint32_t *ids;
    size_t n_ids, cap_ids;
    size_t *line_end; /* ids end of each of its lines */
    size_t cap_lines;
    int failed;
} Share;

static int share_reserve(Share *s, size_t ids, size_t lines) {
    if (ids > s->cap_ids) {
        size_t cap = s->cap_ids ? s->cap_ids : 1 << 16;
        while (cap < ids) cap *= 2;
        uint32_t *p = realloc(s->ids, cap * sizeof *p);
        if (!p) return kr_error("out of memory");
        s->ids = p, s->cap_ids = cap;
    }
    if (lines > s->cap_lines) {
        size_t cap = s->cap_lines ? s->cap_lines : 1 << 12;
        while (cap < lines) cap *= 2;
        size_t *p = realloc(s->line_end, cap * sizeof *p);
        if (!p) return kr_error("out of memory");
        s->line_end = p, s->cap_lines = cap;
    }
    return 0;
}

static int encode_lines(const Tokenizer *t, Share *s, const char *block, const size_t *starts, size_t lo, size_t hi) {
    s->n_ids = 0;
    if (share_reserve(s, 0, hi - lo) != 0) return -1;
    for (size_t i = lo; i < hi; i++) {
        const char *line = block + starts[i];
        size_t len = starts[i + 1] - starts[i] - 1; /* without '\n' */
        if (tokenizer_encode_scratch(t, line, len, &s->scratch) != 0) return -1;
        if (share_reserve(s, s->n_ids + s->scratch.n, 0) != 0) return -1;
        memcpy(s->ids + s->n_ids, s->scratch.ids, s->scratch.n * sizeof *s->ids);
        s->n_ids += s->scratch.n;
        s->line_end[i - lo] = s->n_ids;
    }
    return 0;
}

static int write_shares(ShardWriter *w, Share *shares, int threads, size_t nlines, PretokenizeStats *st) {
    for (int k = 0; k < threads; k++) {
        size_t lo = nlines * k / threads, hi = nlines * (k + 1) / threads, prev = 0;
        for (size_t i = 0; i < hi - lo; i++) {
            size_t end = shares[k].line_end[i];
            if (end > prev) {
                if (shard_writer_append_doc(w, shares[k].ids + prev, end - prev) != 0) return -1;
                st->docs++;
                st->tokens += end - prev + 1;
            }
            prev = end;
        }
    }
    return 0;
}

static int process(const Tokenizer *t, FILE *fp, const char *input, ShardWriter *w, Share *shares, int threads,
                   PretokenizeStats *st, Progress *prog) {
    char *block = malloc(BLOCK_BYTES + 1);
    size_t cap_starts = 1 << 16, *starts = malloc(cap_starts * sizeof *starts), have = 0;
    int rc = block && starts ? 0 : kr_error("out of memory");
    while (rc == 0) {
        size_t got = fread(block + have, 1, BLOCK_BYTES - have, fp);
        if (ferror(fp)) {
            rc = kr_error("reading %s: %s", input, strerror(errno));
            break;
        }
        have += got;
        int eof = got == 0 || feof(fp);
        if (have == 0) break;
        if (eof && block[have - 1] != '\n') block[have++] = '\n';
        size_t nlines = 0, last = 0;
        starts[0] = 0;
        for (size_t i = 0; i < have && rc == 0; i++) {
            if (block[i] != '\n') continue;
            if (nlines + 2 > cap_starts) {
                size_t *s = realloc(starts, 2 * cap_starts * sizeof *s);
                if (!s) rc = kr_error("out of memory");
                else starts = s, cap_starts *= 2;
            }
            if (rc == 0) starts[++nlines] = last = i + 1;
        }
        if (rc == 0 && nlines == 0)
            rc = kr_error("%s: a line longer than %u MB near byte %llu; one document per line is expected", input,
                          BLOCK_BYTES >> 20, (unsigned long long)st->bytes);
        if (rc != 0) break;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int k = 0; k < threads; k++)
            shares[k].failed = encode_lines(t, &shares[k], block, starts, nlines * k / threads, nlines * (k + 1) / threads);
        for (int k = 0; k < threads && rc == 0; k++)
            if (shares[k].failed) rc = -1;
        if (rc == 0) rc = write_shares(w, shares, threads, nlines, st);
        st->bytes += last;
        progress_update(prog, (double)st->bytes);
        memmove(block, block + last, have - last);
        have -= last;
        if (eof && have == 0) break;
    }
    free(block), free(starts);
    return rc;
}

int pretokenize_file(const Tokenizer *t, const char *input, const char *output, int threads, PretokenizeStats *st) {
    memset(st, 0, sizeof *st);
    if (threads < 1) threads = 1;
    int sep = tokenizer_eos_id(t);
    if (sep < 0) return kr_error("the tokenizer has no </s> piece to separate documents");
    FILE *fp = fopen(input, "rb");
    if (!fp) return kr_error("cannot open %s: %s", input, strerror(errno));
    struct stat sb;
    double total = fstat(fileno(fp), &sb) == 0 ? (double)sb.st_size : 0;
    ShardWriter w;
    if (shard_writer_open(&w, output, (uint32_t)tokenizer_vocab_size(t), (uint32_t)sep) != 0) {
        fclose(fp);
        return -1;
    }
    Share *shares = calloc(threads, sizeof *shares);
    Progress prog;
    progress_begin(&prog, "tokenizing", total, "MB", 1 << 20);
    int rc = shares ? process(t, fp, input, &w, shares, threads, st, &prog) : kr_error("out of memory");
    progress_end(&prog, (double)st->bytes);
    fclose(fp);
    for (int k = 0; shares && k < threads; k++) {
        encode_scratch_free(&shares[k].scratch);
        free(shares[k].ids), free(shares[k].line_end);
    }
    free(shares);
    if (rc == 0) return shard_writer_close(&w);
    shard_writer_abort(&w);
    return -1;
}
