/* `krllm prepare`: raw corpora in, clean deduplicated train/val/test text out.
 * Output: train.txt, val.txt, test.txt with one document per line (paragraphs joined by a
 * space), and stats.json; all written atomically. See docs/prepare.md. */
#ifndef KR_TEXT_PREPARE_H
#define KR_TEXT_PREPARE_H

#include <stdint.h>

#include "text/normalize.h"
#include "text/readers.h"

typedef struct {
    char **inputs; /* files or directories (every file below, in name order) */
    int ninputs;
    const char *output_dir;
    int min_length, max_length; /* characters; longer documents are split at paragraph/space boundaries */
    InputFormat format;         /* FMT_AUTO: detected per file */
    const char *column;         /* TSV/CSV column(s); NULL = automatic */
    NormForm norm;
    int keep_headings;
    double near_dup_threshold;
    int near_dedup, line_dedup;
    double min_hangul_ratio; /* 0 = no Hangul filter */
    int num_threads;         /* 0 = all cores */
    uint64_t seed;
    int progress;            /* draw a progress display on stderr */
} PrepareOptions;

void prepare_default_options(PrepareOptions *o);

/* Runs the pipeline. Returns -1 on a fatal error (nothing written under the final names);
 * otherwise 0, with *problems set to the number of inputs (or parts of inputs) that were
 * skipped because of bad data — each was reported on stderr and is listed in stats.json. */
int prepare_run(const PrepareOptions *o, int *problems);

#endif
