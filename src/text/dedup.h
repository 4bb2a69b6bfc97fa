/* Deduplication for `krllm prepare`: exact (64-bit hash of the normalised text) and near
 * duplicates (MinHash over character 5-grams with LSH banding).
 *
 * Memory bound: every kept document stores one 8-byte exact key and `bands` 4-byte band keys
 * (at most 8 bands: 40 bytes of keys). The open-addressing tables double at 3/4 load, so they
 * are between 3/8 and 3/4 full: at most 40 * 8/3 ≈ 107 bytes per kept document (about 70 on
 * average), plus a transient 50% while a table is being doubled. Nothing else grows with the
 * corpus. Dropped documents cost nothing. */
#ifndef KR_TEXT_DEDUP_H
#define KR_TEXT_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#define MINHASH_BINS 96   /* MinHash values (hash functions) per document */
#define MINHASH_NGRAM 5   /* shingle length in characters */
#define LSH_MAX_BANDS 8

/* A set of 32-bit (wide = 0) or 64-bit (wide = 1) non-zero keys. */
typedef struct {
    void *slots;
    size_t cap, n;
    int wide;
} KeySet;

int keyset_init(KeySet *s, int wide);
/* Inserts key; returns 1 when it was already present, 0 when added, -1 when out of memory. */
int keyset_insert(KeySet *s, uint64_t key);
int keyset_contains(const KeySet *s, uint64_t key);
size_t keyset_bytes(const KeySet *s);
void keyset_free(KeySet *s);

/* Banding chosen for a Jaccard threshold: `bands` bands of `rows` bins each. */
typedef struct {
    int bands, rows;
    double threshold;
} LshParams;

/* Picks bands x rows (bands <= LSH_MAX_BANDS, bands * rows <= MINHASH_BINS) minimising the
 * probability mass of false positives below and false negatives above the threshold. */
LshParams lsh_params(double threshold);
/* Probability that two documents of Jaccard similarity s share at least one band. */
double lsh_collision_probability(const LshParams *p, double s);

/* MinHash signature of UTF-8 text (MINHASH_BINS hash functions over character n-grams)
 * reduced to one 32-bit key per band. */
void minhash_band_keys(const char *text, size_t n, const LshParams *p, uint64_t seed, uint32_t keys[LSH_MAX_BANDS]);

/* Near-duplicate index: a document is a near duplicate when any of its band keys was seen. */
typedef struct {
    KeySet bands;
    LshParams params;
} LshIndex;

int lsh_init(LshIndex *ix, double threshold);
/* 1 when a previous document shares a band (nothing inserted), 0 when the keys were added. */
int lsh_check_insert(LshIndex *ix, const uint32_t keys[LSH_MAX_BANDS]);
void lsh_free(LshIndex *ix);

#endif
