#include "common/halfprec.h"

#include <string.h>

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Drops the low `shift` bits of v, rounding to nearest with ties to even. */
static uint32_t shift_round_even(uint32_t v, int shift) {
    if (shift >= 32) return 0;
    uint32_t kept = v >> shift, rest = v & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1))) kept++;
    return kept;
}

uint16_t kr_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00u;  /* nan */
    if (abs >= 0x47800000u) {                       /* >= 65536: inf (65520..65536 rounds up below) */
        return sign | 0x7c00u;
    }
    int exp = (int)(abs >> 23) - 127;
    uint32_t mant = abs & 0x7fffffu;
    if (exp >= -14) {
        /* normal half: rebias the exponent, round the 23-bit mantissa to 10 bits; a carry rolls into
           the exponent (up to 0x7c00 = inf for values >= 65520). */
        uint32_t v = ((uint32_t)(exp + 15) << 23) | mant;
        return sign | (uint16_t)shift_round_even(v, 13);
    }
    if (abs == 0) return sign;
    /* subnormal half: value = m * 2^-24 with the implicit bit made explicit. */
    uint32_t full = mant | 0x800000u;
    int shift = 13 + (-14 - exp);
    return sign | (uint16_t)shift_round_even(full, shift);
}

float kr_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        float v = (float)mant * (1.0f / 16777216.0f); /* mant * 2^-24 */
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}
