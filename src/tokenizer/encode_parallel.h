/* Encoding the lines of a block on several threads: thread k takes the k-th contiguous share of
 * the lines and hands each encoded line to a callback that appends it to that share's output;
 * the caller then writes the shares in order, so results do not depend on the thread count. */
#ifndef KR_ENCODE_PARALLEL_H
#define KR_ENCODE_PARALLEL_H

#include <stddef.h>

#include "tokenizer/tok_internal.h"

typedef struct {
    EncodeScratch scratch;
    void *out; /* the caller's per-share output */
    int failed;
} EncodeShare;

/* Appends one encoded line (in s->ids) to `out`; returns 0 or -1. */
typedef int (*EncodedLineFn)(void *out, const Tokenizer *t, const EncodeScratch *s);

static inline size_t share_begin(size_t nlines, int threads, int k) { return nlines * (size_t)k / (size_t)threads; }

int encode_block_parallel(const Tokenizer *t, EncodeShare *shares, int threads, const char *block,
                          const size_t *starts, size_t nlines, EncodedLineFn on_line);

#endif
