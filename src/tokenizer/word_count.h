/* The trainer's first pass: read text files line by line (one sentence per line), normalise each
 * line as the encoder does and count its words (a word starts at each ▁; user-defined symbols are
 * cut out). Lines are counted in parallel, one table per thread, merged at the end, so memory is
 * bounded by the number of distinct words rather than by the corpus size. */
#ifndef KR_WORD_COUNT_H
#define KR_WORD_COUNT_H

#include <stdint.h>

#include "common/util.h"
#include "tokenizer/normalize.h"
#include "tokenizer/strmap.h"

typedef struct {
    StrMap words;    /* normalised word → frequency */
    int64_t lines;   /* lines read */
    int64_t bytes;   /* bytes read */
    StrList samples; /* a few short lines from the start, for the model's self-test */
} WordCounts;

/* max_lines 0 = all lines of all files. */
int count_words(char *const *files, int nfiles, int64_t max_lines, int threads, const Normalizer *nz,
                WordCounts *out);
void word_counts_free(WordCounts *wc);

#endif
