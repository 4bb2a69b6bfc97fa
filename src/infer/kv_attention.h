/* Attention of a query group over one sequence's key/value cache (CPU inference).
 *
 * The cache holds floats, or bfloat16 (half the memory and the bytes each decoding step reads).
 * Values are cached a row per position ([ctx][hd]). Keys are cached in blocks of KV_KEY_BLOCK
 * positions, each block stored dimension by dimension ([hd][KV_KEY_BLOCK]): the scores of a
 * block's 16 positions are then 16-wide multiply-adds with no horizontal sums, and a block is
 * a few KB (4 KB in floats at head size 64), so positions never reached cost little memory. */
#ifndef KR_INFER_KV_ATTENTION_H
#define KR_INFER_KV_ATTENTION_H

#include <stddef.h>

#define KV_KEY_BLOCK 16

typedef enum { KV_F32, KV_BF16 } KvType;

static inline size_t kv_type_size(KvType t) { return t == KV_BF16 ? 2 : 4; }

/* A context length rounded up to whole key blocks: the length of a cached head and of a row of
 * scores. */
static inline int kv_padded_context(int ctx) { return (ctx + KV_KEY_BLOCK - 1) / KV_KEY_BLOCK * KV_KEY_BLOCK; }

/* Stores the key and the value of position `pos` (hd floats each) into a head's caches. */
void kv_store(void *keys, void *values, KvType type, int pos, const float *k, const float *v, int hd);

/* For each of the group's heads g (queries q + g * hd): out + g * hd = softmax(q_g K^T * scale) V
 * over positions 0 .. T-1. `scores` is scratch of group rows of kv_padded_context(T) floats or
 * more, `ld` apart. */
void kv_group_attention(const float *q, int group, const void *keys, const void *values, KvType type, int T, int hd,
                        float scale, float *scores, size_t ld, float *out);

#endif
