#include "infer/kv_attention.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "common/halfprec.h"

/* Where dimension i of position t's key is stored in a head's key cache. */
static size_t key_index(int t, int i, int hd) {
    return ((size_t)(t / KV_KEY_BLOCK) * hd + i) * KV_KEY_BLOCK + t % KV_KEY_BLOCK;
}

static void put(void *cache, KvType type, size_t i, float x) {
    if (type == KV_BF16) ((uint16_t *)cache)[i] = kr_f32_to_bf16(x);
    else ((float *)cache)[i] = x;
}

void kv_store(void *keys, void *values, KvType type, int pos, const float *k, const float *v, int hd) {
    for (int i = 0; i < hd; i++) {
        put(keys, type, key_index(pos, i, hd), k[i]);
        put(values, type, (size_t)pos * hd + i, v[i]);
    }
}

static float get(const void *cache, KvType type, size_t i) {
    return type == KV_BF16 ? kr_bf16_to_f32(((const uint16_t *)cache)[i]) : ((const float *)cache)[i];
}

/* The plain loops, for machines without AVX-512 (and the values' also for head sizes other than 64). */
#ifndef __AVX512F__
static void group_scores(const float *q, int group, const void *keys, KvType type, int T, int hd, float scale,
                         float *sc, size_t ld) {
    for (int g = 0; g < group; g++)
        for (int t = 0; t < T; t++) {
            float s = 0;
            for (int i = 0; i < hd; i++) s += q[(size_t)g * hd + i] * get(keys, type, key_index(t, i, hd));
            sc[g * ld + t] = s * scale;
        }
}

static float softmax_unnormalised(float *s, int T) {
    float mx = -INFINITY, sum = 0;
    for (int t = 0; t < T; t++) mx = s[t] > mx ? s[t] : mx;
    for (int t = 0; t < T; t++) sum += (s[t] = expf(s[t] - mx));
    return sum;
}
#define group_values values_plain
#endif

static void values_plain(const float *p, size_t ld, int group, const void *values, KvType type, int T, int hd,
                         float *out) {
    memset(out, 0, (size_t)group * hd * sizeof(float));
    for (int g = 0; g < group; g++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < hd; i++) out[(size_t)g * hd + i] += p[g * ld + t] * get(values, type, (size_t)t * hd + i);
}

#ifdef __AVX512F__
#define AVX_INLINE static inline __attribute__((always_inline))

/* 16 cached numbers from element i on, as floats (BF: the cache holds bfloat16). */
AVX_INLINE __m512 load16(const void *cache, size_t i, const int BF) {
    if (!BF) return _mm512_loadu_ps((const float *)cache + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)cache + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Scores of NG heads over the key block starting at element b: for each head two chains of
 * multiply-adds over alternate dimensions, so that up to eight run at once. A block past the last
 * position gives scores of whatever the cache holds there; the score rows have room for them and
 * the softmax leaves them out. */
AVX_INLINE void block_scores(const float *q, int hd, const void *keys, size_t b, float scale, float *sc, size_t ld,
                             const int NG, const int BF) {
    __m512 acc[4][2];
    for (int g = 0; g < NG; g++) acc[g][0] = acc[g][1] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 1 < hd; i += 2) {
        __m512 k0 = load16(keys, b + (size_t)i * KV_KEY_BLOCK, BF);
        __m512 k1 = load16(keys, b + (size_t)(i + 1) * KV_KEY_BLOCK, BF);
        for (int g = 0; g < NG; g++) {
            acc[g][0] = _mm512_fmadd_ps(_mm512_set1_ps(q[(size_t)g * hd + i]), k0, acc[g][0]);
            acc[g][1] = _mm512_fmadd_ps(_mm512_set1_ps(q[(size_t)g * hd + i + 1]), k1, acc[g][1]);
        }
    }
    if (i < hd) {
        __m512 k0 = load16(keys, b + (size_t)i * KV_KEY_BLOCK, BF);
        for (int g = 0; g < NG; g++) acc[g][0] = _mm512_fmadd_ps(_mm512_set1_ps(q[(size_t)g * hd + i]), k0, acc[g][0]);
    }
    for (int g = 0; g < NG; g++)
        _mm512_storeu_ps(sc + g * ld, _mm512_mul_ps(_mm512_add_ps(acc[g][0], acc[g][1]), _mm512_set1_ps(scale)));
}

AVX_INLINE void scores_typed(const float *q, int group, const void *keys, int T, int hd, float scale, float *sc,
                             size_t ld, const int BF) {
    for (int t0 = 0; t0 < T; t0 += KV_KEY_BLOCK) {
        size_t b = key_index(t0, 0, hd);
        for (int g0 = 0; g0 < group; g0 += 4) {
            const float *qg = q + (size_t)g0 * hd;
            float *sg = sc + g0 * ld + t0;
            switch (group - g0) {
            case 1: block_scores(qg, hd, keys, b, scale, sg, ld, 1, BF); break;
            case 2: block_scores(qg, hd, keys, b, scale, sg, ld, 2, BF); break;
            case 3: block_scores(qg, hd, keys, b, scale, sg, ld, 3, BF); break;
            default: block_scores(qg, hd, keys, b, scale, sg, ld, 4, BF); break;
            }
        }
    }
}

static void group_scores(const float *q, int group, const void *keys, KvType type, int T, int hd, float scale,
                         float *sc, size_t ld) {
    if (type == KV_BF16) scores_typed(q, group, keys, T, hd, scale, sc, ld, 1);
    else scores_typed(q, group, keys, T, hd, scale, sc, ld, 0);
}

/* e^x for x <= 0 (a score minus the row's maximum): e^x = 2^n e^r with r = x - n ln 2 in
 * [-ln2/2, ln2/2] (ln 2 in two parts, so r is exact to float precision) and e^r by its Taylor
 * series to r^7 (truncation error below 1e-8): within a few units of a float's last place.
 * Below -104, e^x is 0 in floats; a NaN stays NaN. */
AVX_INLINE __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-104.f), x); /* max returns its second operand, x, when x is NaN */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
    __m512 p = _mm512_set1_ps(1.f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(p, n);
}

/* s[t] = e^(s[t] - max s) for t < T; returns their sum. */
static float softmax_unnormalised(float *s, int T) {
    __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
    for (int t = 0; t < T; t += 16) {
        __mmask16 k = T - t >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (T - t)) - 1);
        mx = _mm512_mask_max_ps(mx, k, mx, _mm512_maskz_loadu_ps(k, s + t));
    }
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int t = 0; t < T; t += 16) {
        __mmask16 k = T - t >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (T - t)) - 1);
        __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + t), m));
        _mm512_mask_storeu_ps(s + t, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/* out_g = sum_t p_g[t] v_t for NG heads at head size 64: each value row is read once for all of
 * them (four vectors, sixteen accumulators at NG = 4). */
#define VALUES_HD 64
AVX_INLINE void block_values(const float *p, size_t ld, const void *values, int T, float *out, const int NG,
                             const int BF) {
    __m512 acc[4][4];
    for (int g = 0; g < NG; g++)
        for (int j = 0; j < 4; j++) acc[g][j] = _mm512_setzero_ps();
    for (int t = 0; t < T; t++) {
        __m512 v[4];
        for (int j = 0; j < 4; j++) v[j] = load16(values, (size_t)t * VALUES_HD + 16 * j, BF);
        for (int g = 0; g < NG; g++) {
            __m512 pt = _mm512_set1_ps(p[g * ld + t]);
            for (int j = 0; j < 4; j++) acc[g][j] = _mm512_fmadd_ps(pt, v[j], acc[g][j]);
        }
    }
    for (int g = 0; g < NG; g++)
        for (int j = 0; j < 4; j++) _mm512_storeu_ps(out + (size_t)g * VALUES_HD + 16 * j, acc[g][j]);
}

AVX_INLINE void values_typed(const float *p, size_t ld, int group, const void *values, int T, float *out, const int BF) {
    for (int g0 = 0; g0 < group; g0 += 4) {
        const float *pg = p + g0 * ld;
        float *og = out + (size_t)g0 * VALUES_HD;
        switch (group - g0) {
        case 1: block_values(pg, ld, values, T, og, 1, BF); break;
        case 2: block_values(pg, ld, values, T, og, 2, BF); break;
        case 3: block_values(pg, ld, values, T, og, 3, BF); break;
        default: block_values(pg, ld, values, T, og, 4, BF); break;
        }
    }
}

static void group_values(const float *p, size_t ld, int group, const void *values, KvType type, int T, int hd,
                         float *out) {
    if (hd != VALUES_HD) values_plain(p, ld, group, values, type, T, hd, out);
    else if (type == KV_BF16) values_typed(p, ld, group, values, T, out, 1);
    else values_typed(p, ld, group, values, T, out, 0);
}
#endif

void kv_group_attention(const float *q, int group, const void *keys, const void *values, KvType type, int T, int hd,
                        float scale, float *scores, size_t ld, float *out) {
    float sums[group];
    group_scores(q, group, keys, type, T, hd, scale, scores, ld);
    for (int g = 0; g < group; g++) sums[g] = softmax_unnormalised(scores + g * ld, T);
    group_values(scores, ld, group, values, type, T, hd, out);
    /* 1/sum applied once to each output rather than to every weight */
    for (int g = 0; g < group; g++) {
        float inv = 1.0f / sums[g];
        for (int i = 0; i < hd; i++) out[(size_t)g * hd + i] *= inv;
    }
}
