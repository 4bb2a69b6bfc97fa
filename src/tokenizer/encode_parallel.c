#include "tokenizer/encode_parallel.h"

#include <omp.h>

static int encode_share(const Tokenizer *t, EncodeShare *sh, const char *block, const size_t *starts, size_t lo,
                        size_t hi, EncodedLineFn on_line) {
    sh->scratch.use_word_cache = 1;
    for (size_t i = lo; i < hi; i++) {
        const char *line = block + starts[i];
        size_t len = starts[i + 1] - starts[i] - 1; /* without '\n' */
        if (tokenizer_encode_scratch(t, line, len, &sh->scratch) != 0 || on_line(sh->out, t, &sh->scratch) != 0)
            return -1;
    }
    return 0;
}

int encode_block_parallel(const Tokenizer *t, EncodeShare *shares, int threads, const char *block,
                          const size_t *starts, size_t nlines, EncodedLineFn on_line) {
    if (threads == 1) return encode_share(t, &shares[0], block, starts, 0, nlines, on_line);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int k = 0; k < threads; k++)
        shares[k].failed = encode_share(t, &shares[k], block, starts, share_begin(nlines, threads, k),
                                        share_begin(nlines, threads, k + 1), on_line);
    for (int k = 0; k < threads; k++)
        if (shares[k].failed) return -1;
    return 0;
}
