/* Attention over the key/value cache (kv_attention.c) against a double-precision reference, with
 * float and bfloat16 caches (the reference takes the keys and values as the cache holds them):
 * head sizes 64 (the vectorised path) and others, groups of 1 to 6 heads, lengths on and off the
 * 16-position key blocks, scores large enough to test the softmax's range; positions past the
 * length hold NaN, which must not reach the result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/halfprec.h"
#include "common/rng.h"
#include "infer/kv_attention.h"
#include "test.h"

#define MAX_T 100

static float uniform(Rng *r) { return (float)(2.0 * rng_double(r) - 1.0); }

/* x as a cache of this type holds it */
static double as_cached(float x, KvType type) { return type == KV_BF16 ? kr_bf16_to_f32(kr_f32_to_bf16(x)) : x; }

/* Worst relative error of kv_group_attention over one case (relative to each head's largest
 * output magnitude). */
static double run_case(Rng *r, KvType type, int hd, int group, int T, float qscale) {
    int ctx = kv_padded_context(MAX_T);
    void *keys = malloc(kv_type_size(type) * ctx * hd), *values = malloc(kv_type_size(type) * ctx * hd);
    float *q = malloc(sizeof(float) * group * hd), *out = malloc(sizeof(float) * group * hd);
    float *scores = malloc(sizeof(float) * group * ctx), *k = malloc(sizeof(float) * hd), *v = malloc(sizeof(float) * hd);
    double *ref = malloc(sizeof(double) * group * hd), *kd = malloc(sizeof(double) * MAX_T * hd);
    double *vd = malloc(sizeof(double) * MAX_T * hd), *s = malloc(sizeof(double) * MAX_T);
    for (int t = 0; t < ctx; t++) {
        for (int i = 0; i < hd; i++) {
            k[i] = t < T ? uniform(r) : NAN; /* stale positions: must stay out of the result */
            v[i] = t < T ? uniform(r) : NAN;
            if (t < T) kd[(size_t)t * hd + i] = as_cached(k[i], type), vd[(size_t)t * hd + i] = as_cached(v[i], type);
        }
        kv_store(keys, values, type, t, k, v, hd);
    }
    for (int i = 0; i < group * hd; i++) q[i] = qscale * uniform(r);
    float scale = 1.0f / sqrtf((float)hd);
    kv_group_attention(q, group, keys, values, type, T, hd, scale, scores, (size_t)ctx, out);

    double worst = 0;
    for (int g = 0; g < group; g++) {
        double mx = -INFINITY, sum = 0, big = 0;
        for (int t = 0; t < T; t++) {
            double d = 0;
            for (int i = 0; i < hd; i++) d += (double)q[g * hd + i] * kd[(size_t)t * hd + i];
            s[t] = d * scale;
            mx = s[t] > mx ? s[t] : mx;
        }
        for (int t = 0; t < T; t++) sum += (s[t] = exp(s[t] - mx));
        for (int i = 0; i < hd; i++) {
            double o = 0;
            for (int t = 0; t < T; t++) o += s[t] / sum * vd[(size_t)t * hd + i];
            ref[g * hd + i] = o;
            big = fabs(o) > big ? fabs(o) : big;
        }
        for (int i = 0; i < hd; i++) {
            double e = fabs(out[g * hd + i] - ref[g * hd + i]) / (big > 0 ? big : 1);
            worst = isnan(out[g * hd + i]) ? INFINITY : (e > worst ? e : worst);
        }
    }
    free(keys), free(values), free(q), free(out), free(scores), free(k), free(v), free(ref), free(kd), free(vd), free(s);
    return worst;
}

int main(void) {
    Rng r;
    rng_seed(&r, 7);
    const int hds[] = {64, 48, 32}, lengths[] = {1, 7, 16, 17, 33, MAX_T};
    for (int type = KV_F32; type <= KV_BF16; type++)
        for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++)
            for (int group = 1; group <= 6; group++)
                for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
                    /* query scales 1 and 20: scores up to about 100, where e^x spans the float
                     * range. A float score is off by a few units in its last place, which e^x turns
                     * into that relative error of the weight: 1e-5 at scores near 100. */
                    for (int big = 0; big < 2; big++) {
                        double e = run_case(&r, (KvType)type, hds[h], group, lengths[l], big ? 20.f : 1.f);
                        CHECK_MSG(e < (big ? 2e-5 : 2e-6), "%s cache, hd %d, group %d, T %d, query scale %d: error %g",
                                  type == KV_BF16 ? "bf16" : "fp32", hds[h], group, lengths[l], big ? 20 : 1, e);
                    }
    return test_summary("kv_attention");
}
