#include "text/dedup.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "text/normalize.h"

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Keys are stored non-zero (0 marks an empty slot). */
static uint64_t stored_key(const KeySet *s, uint64_t key) {
    if (!s->wide) key = (uint32_t)key;
    return key ? key : 1;
}

static uint64_t slot_get(const KeySet *s, size_t i) { return s->wide ? ((uint64_t *)s->slots)[i] : ((uint32_t *)s->slots)[i]; }

static void slot_set(KeySet *s, size_t i, uint64_t key) {
    if (s->wide) ((uint64_t *)s->slots)[i] = key;
    else ((uint32_t *)s->slots)[i] = (uint32_t)key;
}

static size_t elem_size(const KeySet *s) { return s->wide ? 8 : 4; }

int keyset_init(KeySet *s, int wide) {
    s->wide = wide;
    s->n = 0;
    s->cap = 1024;
    s->slots = calloc(s->cap, elem_size(s));
    return s->slots ? 0 : kr_error("out of memory (dedup index)");
}

/* Index of key's slot or of the empty slot where it would go (linear probing). */
static size_t probe(const KeySet *s, uint64_t key) {
    size_t mask = s->cap - 1, i = (size_t)mix64(key) & mask;
    for (;;) {
        uint64_t k = slot_get(s, i);
        if (k == 0 || k == key) return i;
        i = (i + 1) & mask;
    }
}

static int grow(KeySet *s) {
    KeySet big = {calloc(s->cap * 2, elem_size(s)), s->cap * 2, s->n, s->wide};
    if (!big.slots) return kr_error("out of memory (dedup index with %zu keys)", s->n);
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t k = slot_get(s, i);
        if (k) slot_set(&big, probe(&big, k), k);
    }
    free(s->slots);
    *s = big;
    return 0;
}

int keyset_insert(KeySet *s, uint64_t key) {
    key = stored_key(s, key);
    size_t i = probe(s, key);
    if (slot_get(s, i) == key) return 1;
    if ((s->n + 1) * 4 > s->cap * 3) {
        if (grow(s) != 0) return -1;
        i = probe(s, key);
    }
    slot_set(s, i, key);
    s->n++;
    return 0;
}

int keyset_contains(const KeySet *s, uint64_t key) {
    key = stored_key(s, key);
    return slot_get(s, probe(s, key)) == key;
}

size_t keyset_bytes(const KeySet *s) { return s->cap * elem_size(s); }

void keyset_free(KeySet *s) {
    free(s->slots);
    memset(s, 0, sizeof *s);
}

double lsh_collision_probability(const LshParams *p, double s) { return 1.0 - pow(1.0 - pow(s, p->rows), p->bands); }

LshParams lsh_params(double threshold) {
    LshParams best = {1, MINHASH_BINS, threshold};
    double best_err = INFINITY;
    const int steps = 200;
    for (int b = 1; b <= LSH_MAX_BANDS; b++)
        for (int r = 1; b * r <= MINHASH_BINS; r++) {
            LshParams p = {b, r, threshold};
            double fp = 0, fn = 0;
            for (int k = 0; k < steps; k++) {
                double s = (k + 0.5) / steps;
                double pr = lsh_collision_probability(&p, s);
                if (s < threshold) fp += pr / steps;
                else fn += (1 - pr) / steps;
            }
            if (fp + fn < best_err) {
                best_err = fp + fn;
                best = p;
            }
        }
    return best;
}

/* Multipliers and offsets of the MINHASH_BINS hash functions v = mix(a * h + b) over 32-bit
 * shingle hashes, derived once from a fixed seed. */
static uint32_t perm_a[MINHASH_BINS], perm_b[MINHASH_BINS];
static pthread_once_t perms_once = PTHREAD_ONCE_INIT;

static void init_perms(void) {
    for (int i = 0; i < MINHASH_BINS; i++) {
        perm_a[i] = (uint32_t)mix64(2 * (uint64_t)i + 1) | 1;
        perm_b[i] = (uint32_t)mix64(2 * (uint64_t)i + 2);
    }
}

/* Classic MinHash (one minimum per hash function) rather than one-permutation hashing: short
 * texts such as one-line reviews have fewer shingles than bins, and densified bins would be
 * copies of each other, making bands far too likely to collide. The inner loop vectorises. */
void minhash_band_keys(const char *text, size_t n, const LshParams *p, uint64_t seed, uint32_t keys[LSH_MAX_BANDS]) {
    pthread_once(&perms_once, init_perms);
    uint32_t mins[MINHASH_BINS];
    memset(mins, 0xFF, sizeof mins);
    uint32_t window[MINHASH_NGRAM] = {0};
    size_t count = 0;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        size_t len = 1;
        uint32_t cp = s[i] < 0x80 ? s[i] : text_utf8_decode(s + i, &len);
        i += len;
        memmove(window, window + 1, sizeof window - sizeof window[0]);
        window[MINHASH_NGRAM - 1] = cp;
        count++;
        /* Texts shorter than a shingle hash once, at their end. */
        if (count < MINHASH_NGRAM && i < n) continue;
        uint64_t a = window[0] | (uint64_t)window[1] << 21 | (uint64_t)window[2] << 42;
        uint64_t b = window[3] | (uint64_t)window[4] << 21;
        uint32_t h = (uint32_t)mix64(mix64(a ^ seed) + b);
        for (int k = 0; k < MINHASH_BINS; k++) {
            uint32_t v = perm_a[k] * h + perm_b[k];
            v ^= v >> 15;
            v *= 0x2c1b3c6dU;
            v ^= v >> 12;
            mins[k] = v < mins[k] ? v : mins[k];
        }
    }
    for (int band = 0; band < p->bands; band++) {
        uint64_t key = kr_hash64(mins + band * p->rows, sizeof mins[0] * (size_t)p->rows, seed + (uint64_t)band);
        keys[band] = (uint32_t)(key ^ key >> 32);
    }
    for (int band = p->bands; band < LSH_MAX_BANDS; band++) keys[band] = 0;
}

int lsh_init(LshIndex *ix, double threshold) {
    ix->params = lsh_params(threshold);
    return keyset_init(&ix->bands, 0);
}

/* Band keys share one table; the band number is mixed in so equal values of different bands
 * do not collide. */
static uint32_t band_key(int band, uint32_t key) { return (uint32_t)mix64(((uint64_t)band << 32) | key); }

int lsh_check_insert(LshIndex *ix, const uint32_t keys[LSH_MAX_BANDS]) {
    for (int b = 0; b < ix->params.bands; b++)
        if (keyset_contains(&ix->bands, band_key(b, keys[b]))) return 1;
    for (int b = 0; b < ix->params.bands; b++)
        if (keyset_insert(&ix->bands, band_key(b, keys[b])) < 0) return -1;
    return 0;
}

void lsh_free(LshIndex *ix) { keyset_free(&ix->bands); }
