#include "tokenizer/grow.h"

#include <stdlib.h>

#include "common/error.h"

int tok_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first, const char *what) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : first;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return kr_error("out of memory (%s: %zu items of %zu bytes)", what, need, elem);
    *p = q, *cap = c;
    return 0;
}
