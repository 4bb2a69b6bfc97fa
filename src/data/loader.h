/* Training batches from a token shard (data/shard.h), memory-mapped.
 *
 * Training: every sequence is a window of seq_len + 1 consecutive tokens starting at a uniformly
 * random offset (documents run into each other through their separators); inputs are the first
 * seq_len tokens and targets the last seq_len, so target[t] = input[t + 1]. The windows depend only
 * on the seed and on how many sequences were drawn before, and that state (LoaderState) is small,
 * so it goes into checkpoints and a resumed run sees exactly the batches it would have seen.
 *
 * --data_size limits training to the start of the shard: N bytes of text are taken to be N / 4
 * tokens (KR_DATA_BYTES_PER_TOKEN; a Korean BPE token covers about 3-4 bytes of UTF-8 text).
 *
 * Validation: non-overlapping windows of seq_len + 1 tokens walked from the start of the val
 * shard in order, wrapping around, so every evaluation sees the same tokens. */
#ifndef KR_LOADER_H
#define KR_LOADER_H

#include <stdint.h>

#include "common/rng.h"
#include "data/shard.h"

#define KR_DATA_BYTES_PER_TOKEN 4

/* Everything needed to continue the stream of training windows. */
typedef struct {
    Rng rng;
    uint64_t sequences_drawn;
} LoaderState;

typedef struct {
    Shard shard;
    uint64_t num_tokens; /* usable tokens: the whole shard or the --data_size prefix */
    int batch_size, seq_len;
    LoaderState state;
} DataLoader;

/* Opens `path` (payload CRC verified) for batches of batch_size x seq_len. data_size_bytes > 0
 * restricts training to the first data_size_bytes / KR_DATA_BYTES_PER_TOKEN tokens. Fails with a
 * clear message when the shard (or the prefix) is shorter than one window, or when its
 * vocabulary is larger than model_vocab. */
int loader_open(DataLoader *l, const char *path, int batch_size, int seq_len, int64_t data_size_bytes,
                uint32_t model_vocab, uint64_t seed);
/* Fills inputs and targets (batch_size x seq_len each). */
void loader_next(DataLoader *l, int32_t *inputs, int32_t *targets);
void loader_close(DataLoader *l);

/* Validation windows in fixed order. */
typedef struct {
    Shard shard;
    uint64_t num_windows; /* complete windows of seq_len + 1 tokens (sharing their end tokens) */
    uint64_t next;
    int batch_size, seq_len;
} ValIterator;

int val_open(ValIterator *v, const char *path, int batch_size, int seq_len, uint32_t model_vocab);
/* Back to the first window, so every evaluation covers the same tokens. */
void val_reset(ValIterator *v);
void val_next(ValIterator *v, int32_t *inputs, int32_t *targets);
void val_close(ValIterator *v);

#endif
