/* Growing arrays by doubling, shared by the tokenizer's files. */
#ifndef KR_TOK_GROW_H
#define KR_TOK_GROW_H

#include <stddef.h>

/* Makes room for `need` elements of `elem` bytes in *p (capacity *cap, doubled from at least
 * `first`). Returns 0, or -1 with an out-of-memory message naming `what`. */
int tok_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first, const char *what);

#endif
