#include "tokenizer/line_blocks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

int read_line_blocks(FILE *fp, const char *name, LineBlockFn fn, void *ctx) {
    char *block = malloc(LINE_BLOCK_BYTES + 1);
    size_t cap = 1 << 16, *starts = malloc(cap * sizeof *starts), have = 0, offset = 0;
    int rc = block && starts ? 0 : kr_error("out of memory");
    while (rc == 0) {
        /* read(2) returns what a pipe has so far, so lines typed into stdin are handled at once */
        ssize_t got = read(fileno(fp), block + have, LINE_BLOCK_BYTES - have);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = kr_error("reading %s: %s", name, strerror(errno));
            break;
        }
        have += (size_t)got;
        int eof = got == 0;
        if (have == 0) break;
        if (eof && block[have - 1] != '\n') block[have++] = '\n'; /* room: one spare byte */
        size_t nlines = 0, last = 0;
        starts[0] = 0;
        for (size_t i = 0; i < have && rc == 0; i++) {
            if (block[i] != '\n') continue;
            if (nlines + 2 > cap) {
                size_t *s = realloc(starts, 2 * cap * sizeof *s);
                if (!s) {
                    rc = kr_error("out of memory");
                    break;
                }
                starts = s, cap *= 2;
            }
            starts[++nlines] = last = i + 1;
        }
        if (rc == 0 && nlines == 0 && !eof && have < LINE_BLOCK_BYTES) continue; /* a partial line so far */
        if (rc == 0 && nlines == 0)
            rc = kr_error("%s: the line at byte %zu is longer than %u MB; the text must have one sentence, paragraph "
                          "or document per line", name, offset, LINE_BLOCK_BYTES >> 20);
        if (rc == 0) rc = fn(ctx, block, starts, nlines);
        if (rc != 0) break;
        offset += last;
        memmove(block, block + last, have - last);
        have -= last;
        if (eof && have == 0) break;
    }
    free(block), free(starts);
    return rc < 0 ? -1 : 0;
}
