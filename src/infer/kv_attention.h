/* Attention of a query group over one sequence's key/value cache (CPU inference).
 *
 * Values are cached a row per position ([ctx][hd]). Keys are cached in blocks of KV_KEY_BLOCK
 * positions, each block stored dimension by dimension ([hd][KV_KEY_BLOCK]): the scores of a
 * block's 16 positions are then 16-wide multiply-adds with no horizontal sums, and a block
 * (4 KB at head size 64) fills whole pages, so positions never reached cost no memory. */
#ifndef KR_INFER_KV_ATTENTION_H
#define KR_INFER_KV_ATTENTION_H

#include <stddef.h>

#define KV_KEY_BLOCK 16

/* A context length rounded up to whole key blocks: the length of a cached head and of a row of
 * scores. */
static inline int kv_padded_context(int ctx) { return (ctx + KV_KEY_BLOCK - 1) / KV_KEY_BLOCK * KV_KEY_BLOCK; }

/* Stores the key of position `pos` (hd floats) into a head's key cache. */
void kv_store_key(float *keys, int pos, const float *k, int hd);

/* For each of the group's heads g (queries q + g * hd): out + g * hd = softmax(q_g K^T * scale) V
 * over positions 0 .. T-1. `scores` is scratch of group rows of kv_padded_context(T) floats or
 * more, `ld` apart. */
void kv_group_attention(const float *q, int group, const float *keys, const float *values, int T, int hd, float scale,
                        float *scores, size_t ld, float *out);

#endif
