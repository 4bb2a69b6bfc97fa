/* fp32 -> IEEE half (f16) and bfloat16 with round-to-nearest-even; inf and nan are kept (nan stays
 * a quiet nan), values beyond the half range become inf, tiny values become subnormals or zero.
 * The bf16 pair is inline: the inference kernels convert in their inner loops. */
#ifndef KR_HALFPREC_H
#define KR_HALFPREC_H
#include <stdint.h>
#include <string.h>

uint16_t kr_f32_to_f16(float x);
float kr_f16_to_f32(uint16_t h);

static inline uint16_t kr_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet nan */
    /* round half to even on the dropped 16 bits; a carry out of the mantissa moves into the
       exponent, which is exactly the next bf16 value (the largest finite values round to inf) */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float kr_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

#endif
