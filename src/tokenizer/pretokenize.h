/* Text → token shard: one document per input line (empty lines are skipped), each followed by the
 * separator (</s>). Lines are encoded in parallel, block by block, and written in input order, so
 * the output does not depend on the number of threads. */
#ifndef KR_PRETOKENIZE_H
#define KR_PRETOKENIZE_H

#include <stdint.h>

#include "tokenizer/tokenizer.h"

typedef struct {
    uint64_t docs, tokens, bytes;
} PretokenizeStats;

int pretokenize_file(const Tokenizer *t, const char *input, const char *output, int threads, PretokenizeStats *st);

#endif
