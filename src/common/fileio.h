/* File helpers: atomic writes (temp file, fsync, rename), whole-file reads, checksums. */
#ifndef KR_FILEIO_H
#define KR_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A file being written under a temporary name next to its final path. Nothing appears under
 * the final name until kr_atomic_commit succeeds; kr_atomic_abort removes the temporary. */
typedef struct {
    FILE *fp;
    char *final_path;
    char *tmp_path;
} AtomicFile;

int kr_atomic_open(AtomicFile *af, const char *path);
int kr_atomic_commit(AtomicFile *af); /* flush, fsync, close, rename, fsync directory */
void kr_atomic_abort(AtomicFile *af);
/* Writes a whole buffer atomically. */
int kr_write_file_atomic(const char *path, const void *data, size_t size);

/* fwrite that records an error naming `what` on a short write. */
int kr_fwrite(const void *data, size_t size, FILE *fp, const char *what);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
char *kr_read_file(const char *path, size_t *size_out);

int kr_mkdir_p(const char *path);
int kr_file_exists(const char *path);
/* Copies src to dst atomically. */
int kr_copy_file(const char *src, const char *dst);

uint32_t kr_crc32(uint32_t crc, const void *data, size_t n);
/* 64-bit hash of a byte string (FNV-1a variant with a final avalanche); seedable. */
uint64_t kr_hash64(const void *data, size_t n, uint64_t seed);

#endif
