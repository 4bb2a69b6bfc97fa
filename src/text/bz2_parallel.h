/* bzip2 decoding on several threads. A bzip2 file is a sequence of streams ("BZh1".."BZh9"),
 * each a sequence of blocks that start with a 48-bit magic at any bit position. The calling
 * thread scans the bits for block and end-of-stream magics, wraps each block as a one-block
 * stream that libbz2 accepts, and worker threads decode the blocks; the bytes come out strictly
 * in file order. A magic can also occur by chance inside compressed data: a block that fails to
 * decode is merged with the next one before the data is declared corrupt. Memory is bounded by
 * 2 x threads blocks of input and output in flight. */
#ifndef KR_TEXT_BZ2_PARALLEL_H
#define KR_TEXT_BZ2_PARALLEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct Bz2Decoder Bz2Decoder;

/* Decodes the bzip2 file `fp` (read from its current position, the start of a stream) with
 * `threads` decoding threads; 1 decodes on the calling thread. `path` names the file in
 * messages and must outlive the decoder. NULL with a message on failure. */
Bz2Decoder *bz2_open(FILE *fp, const char *path, int threads);
/* Up to `cap` decompressed bytes: the count, 0 at the end, -1 on corrupt or truncated data
 * (the message names the file, the compressed and the decompressed byte offsets). Every byte
 * before the damaged block is delivered first. */
long bz2_read(Bz2Decoder *d, char *buf, size_t cap);
/* Bytes of the file read so far (for progress displays). */
uint64_t bz2_compressed_offset(const Bz2Decoder *d);
void bz2_close(Bz2Decoder *d);

/* Tests: makes the scanner also see a block magic at each of these file bit offsets (sorted),
 * as if one occurred there by chance. Call before the first read; `bits` must outlive `d`. */
void bz2_inject_false_boundaries(Bz2Decoder *d, const uint64_t *bits, int n);

#endif
