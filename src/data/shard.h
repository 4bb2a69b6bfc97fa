/* Token shards: the binary files `krllm tokenize` writes and `krllm train` reads.
 *
 * Layout (little-endian):
 *   offset 0   char[8]  magic "KRTOKENS"
 *   offset 8   uint32   version (1)
 *   offset 12  uint32   bytes per token: 2 (uint16 ids, vocab <= 65536) or 4 (uint32 ids)
 *   offset 16  uint32   vocabulary size
 *   offset 20  uint32   separator id written between documents (</s> by default)
 *   offset 24  uint64   token count
 *   offset 32  uint64   number of documents
 *   offset 40  uint32   CRC-32 of the token payload
 *   offset 44  uint32   CRC-32 of bytes 0..43 of this header
 *   offset 48  ...      zero padding to 64 bytes
 *   offset 64  tokens   count x bytes-per-token
 */
#ifndef KR_SHARD_H
#define KR_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/fileio.h"

#define SHARD_MAGIC "KRTOKENS"
#define SHARD_VERSION 1
#define SHARD_HEADER_SIZE 64

typedef struct {
    uint32_t version, token_bytes, vocab_size, separator_id;
    uint64_t num_tokens, num_docs;
    uint32_t payload_crc;
} ShardHeader;

/* Streaming writer: tokens are appended, the header is finalised on close (atomic rename). */
typedef struct {
    AtomicFile file;
    ShardHeader hdr;
    uint32_t crc;
} ShardWriter;

int shard_writer_open(ShardWriter *w, const char *path, uint32_t vocab_size, uint32_t separator_id);
int shard_writer_append(ShardWriter *w, const uint32_t *ids, size_t n);
/* Appends one document's ids followed by the separator. */
int shard_writer_append_doc(ShardWriter *w, const uint32_t *ids, size_t n);
int shard_writer_close(ShardWriter *w);
void shard_writer_abort(ShardWriter *w);

/* Read-only, memory-mapped shard. */
typedef struct {
    ShardHeader hdr;
    void *map;
    size_t map_size;
    const uint8_t *tokens;
} Shard;

/* Opens and validates a shard (magic, version, sizes, header CRC; payload CRC if verify). */
int shard_open(Shard *s, const char *path, int verify_payload);
static inline uint32_t shard_token(const Shard *s, uint64_t i) {
    if (s->hdr.token_bytes == 2) return ((const uint16_t *)s->tokens)[i];
    return ((const uint32_t *)s->tokens)[i];
}
void shard_close(Shard *s);

#endif
