#include "tokenizer/pretokenize.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"
#include "data/shard.h"
#include "tokenizer/encode_parallel.h"
#include "tokenizer/line_blocks.h"

/* One share's ids and where each of its lines ends. */
typedef struct {
    uint32_t *ids;
    size_t n_ids, cap_ids;
    size_t *line_end;
    size_t n_lines, cap_lines;
} IdsOut;

static int append_line(void *out, const Tokenizer *t, const EncodeScratch *s) {
    (void)t;
    IdsOut *o = out;
    if (kr_grow((void **)&o->ids, &o->cap_ids, o->n_ids + s->n, sizeof *o->ids, 4096, "token ids") != 0 ||
        kr_grow((void **)&o->line_end, &o->cap_lines, o->n_lines + 1, sizeof *o->line_end, 4096, "lines") != 0)
        return -1;
    if (s->n) memcpy(o->ids + o->n_ids, s->ids, s->n * sizeof *s->ids); /* s->ids may be NULL when empty */
    o->n_ids += s->n;
    o->line_end[o->n_lines++] = o->n_ids;
    return 0;
}

typedef struct {
    const Tokenizer *t;
    EncodeShare *shares;
    IdsOut *outs;
    int threads;
    ShardWriter *w;
    int has_bos;
    uint32_t bos; /* written before each document when the tokenizer has <s> */
    PretokenizeStats *st;
    Progress *prog;
} Job;

/* Encodes a block in parallel, then appends its non-empty lines to the shard in input order. */
static int tokenize_block(void *ctx, char *block, const size_t *starts, size_t nlines) {
    Job *job = ctx;
    for (int k = 0; k < job->threads; k++) job->outs[k].n_ids = job->outs[k].n_lines = 0;
    if (encode_block_parallel(job->t, job->shares, job->threads, block, starts, nlines, append_line) != 0) return -1;
    for (int k = 0; k < job->threads; k++) {
        const IdsOut *o = &job->outs[k];
        for (size_t i = 0, prev = 0; i < o->n_lines; prev = o->line_end[i++]) {
            size_t n = o->line_end[i] - prev;
            if (!n) continue; /* empty line: no document */
            /* <s> doc </s>: generation starts prompts with <s>, as Llama tools do */
            if (job->has_bos && shard_writer_append(job->w, &job->bos, 1) != 0) return -1;
            if (shard_writer_append_doc(job->w, o->ids + prev, n) != 0) return -1;
            job->st->docs++;
            job->st->tokens += n + 1 + job->has_bos;
        }
    }
    job->st->bytes += starts[nlines];
    progress_update(job->prog, (double)job->st->bytes);
    return 0;
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
    EncodeShare *shares = calloc(threads, sizeof *shares);
    IdsOut *outs = calloc(threads, sizeof *outs);
    Progress prog;
    progress_begin(&prog, "tokenizing", total, "MB", 1 << 20);
    int rc = shares && outs ? 0 : kr_error("out of memory");
    for (int k = 0; rc == 0 && k < threads; k++) shares[k].out = &outs[k];
    int bos = tokenizer_bos_id(t);
    Job job = {t, shares, outs, threads, &w, bos >= 0, bos >= 0 ? (uint32_t)bos : 0, st, &prog};
    if (rc == 0) rc = read_line_blocks(fp, input, tokenize_block, &job);
    progress_end(&prog, (double)st->bytes);
    fclose(fp);
    for (int k = 0; shares && outs && k < threads; k++) {
        encode_scratch_free(&shares[k].scratch);
        free(outs[k].ids), free(outs[k].line_end);
    }
    free(shares), free(outs);
    if (rc == 0) return shard_writer_close(&w);
    shard_writer_abort(&w);
    return -1;
}
