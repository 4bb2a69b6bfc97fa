/* Byte sources for `krllm prepare`: a file read as a stream, decompressed on the fly when it is
 * bzip2 (detected by its magic bytes; multistream files included; on several threads, see
 * bz2_parallel.h), with the compressed and decompressed offsets kept so that every error can
 * name where it happened. */
#ifndef KR_TEXT_SOURCE_H
#define KR_TEXT_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "text/bz2_parallel.h"

#define SOURCE_CHUNK (1 << 20)

typedef struct {
    const char *path;
    FILE *fp;
    Bz2Decoder *bz2;      /* NULL for a plain file */
    char *pending;        /* bytes handed back with source_unread, served before new data */
    size_t pending_len, pending_pos;
    uint64_t file_offset; /* bytes of the file read so far */
    uint64_t out_offset;  /* decompressed bytes delivered so far */
} Source;

/* Opens `path`, decompressing bzip2 with `threads` threads (1: on the reading thread); -1 with a
 * message when it cannot be read. */
int source_open(Source *s, const char *path, int threads);
/* Reads up to `cap` decompressed bytes into buf: the count, 0 at the end, -1 on corrupt or
 * truncated data (message names the file and the compressed byte offset). */
long source_read(Source *s, char *buf, size_t cap);
/* Puts bytes back in front of the stream (used after peeking at the start for detection). */
int source_unread(Source *s, const char *buf, size_t n);
void source_close(Source *s);

/* Lines of a source, without their "\n" or "\r\n". */
typedef struct {
    Source *src;
    char *buf;
    size_t cap, len, pos;
    int eof;
    uint64_t line_no;
} LineReader;

void lines_init(LineReader *lr, Source *src);
/* 1 with the line and its length set (valid until the next call), 0 at the end, -1 on a read error. */
int lines_next(LineReader *lr, char **line, size_t *len);
void lines_free(LineReader *lr);

#endif
