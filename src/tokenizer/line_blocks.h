/* Reads a text file in large blocks of whole lines, for the parallel passes over text
 * (word counting, encoding, pretokenizing): each block is handed over with the start offset of
 * every line (lines end with '\n', which the last line of a file gets if it lacks one). */
#ifndef KR_LINE_BLOCKS_H
#define KR_LINE_BLOCKS_H

#include <stddef.h>
#include <stdio.h>

#define LINE_BLOCK_BYTES (8u << 20)

/* Called once per block: lines i = 0..nlines-1 are block[starts[i] .. starts[i+1]-1) without
 * the '\n'. Returns 0 to go on, 1 to stop reading, -1 on error (message recorded). */
typedef int (*LineBlockFn)(void *ctx, char *block, const size_t *starts, size_t nlines);

/* Reads fp's descriptor directly (nothing may have been read through fp before). `name` is used in messages. Returns 0, or -1 on a read error, a line longer than a block, or an
 * error from fn. */
int read_line_blocks(FILE *fp, const char *name, LineBlockFn fn, void *ctx);

#endif
