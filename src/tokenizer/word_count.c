#include "tokenizer/word_count.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "tokenizer/line_blocks.h"

#define MAX_SAMPLES 3
#define SAMPLE_MAX_BYTES 120

typedef struct {
    StrMap words;
    char *norm;
    size_t norm_cap;
    int failed;
} ThreadCounts;

static int add_word(ThreadCounts *tc, const char *w, size_t n) {
    int64_t *v = strmap_upsert(&tc->words, w, n, 0, NULL);
    if (!v) return -1;
    (*v)++;
    return 0;
}

static int count_line(ThreadCounts *tc, const Normalizer *nz, const char *line, size_t len) {
    if (NORMALIZE_BOUND(len) > tc->norm_cap) {
        free(tc->norm);
        tc->norm_cap = NORMALIZE_BOUND(len) * 2;
        tc->norm = malloc(tc->norm_cap);
        if (!tc->norm) return kr_error("out of memory");
    }
    size_t n = normalize_text(nz, line, len, tc->norm), pos = 0;
    TextSpan sp;
    while (next_span(nz->user, tc->norm, n, &pos, 1, &sp))
        if (!sp.user && add_word(tc, tc->norm + sp.start, sp.len) != 0) return -1;
    return 0;
}

/* Keeps the first few non-empty lines (cut at a character boundary) as self-test inputs. */
static void keep_sample(WordCounts *wc, const char *line, size_t len) {
    if (wc->samples.n >= MAX_SAMPLES || len == 0) return;
    size_t cut = 0;
    while (cut < len && cut < SAMPLE_MAX_BYTES) {
        size_t m = utf8_valid_len((const uint8_t *)line + cut, len - cut);
        if (!m || line[cut] == '\r' || line[cut] == 0) break;
        cut += m;
    }
    if (cut == 0) return;
    char buf[SAMPLE_MAX_BYTES + 8];
    memcpy(buf, line, cut);
    buf[cut] = 0;
    strlist_push(&wc->samples, buf);
}

/* Counts the lines of a block in parallel. */
static void count_block(ThreadCounts *tcs, int threads, const Normalizer *nz, const char *block, const size_t *starts,
                        size_t nlines) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 512)
    for (size_t i = 0; i < nlines; i++) {
        ThreadCounts *tc = &tcs[omp_get_thread_num()];
        if (tc->failed) continue;
        size_t b = starts[i], e = starts[i + 1] - 1; /* drop the '\n' */
        if (count_line(tc, nz, block + b, e - b) != 0) tc->failed = 1;
    }
}

typedef struct {
    ThreadCounts *tcs;
    int threads;
    const Normalizer *nz;
    int64_t max_lines;
    WordCounts *wc;
    Progress *prog;
} CountJob;

static int count_lines(void *ctx, char *block, const size_t *starts, size_t nlines) {
    CountJob *job = ctx;
    WordCounts *wc = job->wc;
    if (job->max_lines && (int64_t)nlines > job->max_lines - wc->lines) nlines = (size_t)(job->max_lines - wc->lines);
    for (size_t i = 0; i < nlines && wc->samples.n < MAX_SAMPLES; i++)
        keep_sample(wc, block + starts[i], starts[i + 1] - starts[i] - 1);
    count_block(job->tcs, job->threads, job->nz, block, starts, nlines);
    for (int t = 0; t < job->threads; t++)
        if (job->tcs[t].failed) return -1;
    wc->lines += (int64_t)nlines;
    wc->bytes += (int64_t)starts[nlines];
    progress_update(job->prog, (double)wc->bytes);
    return job->max_lines && wc->lines >= job->max_lines ? 1 : 0;
}

/* Folds the other threads' tables into the first one, freeing each as it goes, so the peak is
 * about one table more than the words themselves. */
static int merge_counts(WordCounts *wc, ThreadCounts *tcs, int threads) {
    StrMap *into = &tcs[0].words;
    for (int t = 1; t < threads; t++) {
        StrMap *m = &tcs[t].words;
        for (size_t i = 0; i < m->n; i++) {
            int64_t *v = strmap_upsert(into, strmap_key(m, &m->entries[i]), m->entries[i].key_len, 0, NULL);
            if (!v) return -1;
            *v += m->entries[i].value;
        }
        strmap_free(m);
    }
    wc->words = *into;
    memset(into, 0, sizeof *into);
    return 0;
}

int count_words(char *const *files, int nfiles, int64_t max_lines, int threads, const Normalizer *nz,
                WordCounts *out) {
    memset(out, 0, sizeof *out);
    if (threads < 1) threads = 1;
    ThreadCounts *tcs = calloc(threads, sizeof *tcs);
    int rc = tcs ? 0 : kr_error("out of memory");
    for (int t = 0; rc == 0 && t < threads; t++) rc = strmap_init(&tcs[t].words, 1 << 16);
    double total = 0;
    for (int f = 0; f < nfiles; f++) {
        struct stat sb;
        if (stat(files[f], &sb) == 0) total += (double)sb.st_size;
    }
    Progress prog;
    progress_begin(&prog, "counting words", max_lines ? 0 : total, "MB", 1 << 20);
    CountJob job = {tcs, threads, nz, max_lines, out, &prog};
    for (int f = 0; rc == 0 && f < nfiles && !(max_lines && out->lines >= max_lines); f++) {
        FILE *fp = fopen(files[f], "rb");
        if (!fp) {
            rc = kr_error("cannot open training text %s: %s", files[f], strerror(errno));
            break;
        }
        rc = read_line_blocks(fp, files[f], count_lines, &job);
        fclose(fp);
    }
    progress_end(&prog, (double)out->bytes);
    if (rc == 0) rc = merge_counts(out, tcs, threads);
    for (int t = 0; tcs && t < threads; t++) strmap_free(&tcs[t].words), free(tcs[t].norm);
    free(tcs);
    if (rc == 0 && out->words.n == 0) rc = kr_error("the training text is empty");
    if (rc != 0) word_counts_free(out);
    return rc;
}

void word_counts_free(WordCounts *wc) {
    strmap_free(&wc->words);
    strlist_free(&wc->samples);
}
