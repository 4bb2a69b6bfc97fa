/* Differential libFuzzer harness for the block-parallel bzip2 decoder (src/text/bz2_parallel):
 * every input is also decoded by libbz2's own streaming decoder, stream after stream. When that
 * reference succeeds, ours must give the same bytes; when it fails, ours must fail too, having
 * delivered only a prefix of what the reference produced before its error.
 * Build and run: tests/fuzz/run_fuzz.sh bz2 [seconds]. */
#include <bzlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/bz2_parallel.h"

#define OUT_CAP (8u << 20) /* inputs that expand past this are skipped */

/* libbz2 over the whole input, restarting at each stream end; 0 on success. */
static int reference(const uint8_t *data, size_t size, char *out, size_t *n) {
    bz_stream s;
    size_t pos = 0;
    *n = 0;
    while (pos < size) {
        memset(&s, 0, sizeof s);
        if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) return -1;
        s.next_in = (char *)data + pos;
        s.avail_in = (unsigned)(size - pos);
        int rc;
        do {
            s.next_out = out + *n;
            s.avail_out = (unsigned)(OUT_CAP - *n);
            rc = BZ2_bzDecompress(&s);
            *n = OUT_CAP - s.avail_out;
        } while (rc == BZ_OK && s.avail_in > 0 && s.avail_out > 0);
        pos = size - s.avail_in;
        BZ2_bzDecompressEnd(&s);
        if (rc != BZ_STREAM_END) return *n >= OUT_CAP ? 1 : -1;
    }
    return 0;
}

static int ours(const uint8_t *data, size_t size, int threads, char *out, size_t *n) {
    FILE *fp = fmemopen((void *)data, size, "rb");
    if (!fp) abort();
    Bz2Decoder *d = bz2_open(fp, "fuzz-input", threads);
    int rc = d ? 0 : -1;
    *n = 0;
    while (d && *n < OUT_CAP) {
        long got = bz2_read(d, out + *n, OUT_CAP - *n < 4096 ? OUT_CAP - *n : 4096);
        if (got < 0) rc = -1;
        if (got <= 0) break;
        *n += (size_t)got;
    }
    if (d) bz2_close(d);
    fclose(fp);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char *ref_out, *our_out;
    if (!ref_out && (!(ref_out = malloc(OUT_CAP)) || !(our_out = malloc(OUT_CAP)))) abort();
    if (size == 0) return 0;
    size_t rn, on;
    int rrc = reference(data, size, ref_out, &rn);
    if (rrc > 0) return 0; /* expands too far to compare */
    for (int threads = 1; threads <= 2; threads++) {
        int orc = ours(data, size, threads, our_out, &on);
        if (rrc == 0 && (orc != 0 || on != rn || memcmp(our_out, ref_out, rn) != 0)) abort();
        if (rrc != 0 && (orc == 0 || on > rn || memcmp(our_out, ref_out, on) != 0)) abort();
    }
    return 0;
}
