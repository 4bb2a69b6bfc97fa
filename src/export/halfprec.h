/* fp32 -> IEEE half (f16) and bfloat16 with round-to-nearest-even; inf and nan are kept (nan stays
 * a quiet nan), values beyond the half range become inf, tiny values become subnormals or zero. */
#ifndef KR_HALFPREC_H
#define KR_HALFPREC_H
#include <stdint.h>

uint16_t kr_f32_to_f16(float x);
uint16_t kr_f32_to_bf16(float x);
float kr_f16_to_f32(uint16_t h);
float kr_bf16_to_f32(uint16_t h);

#endif
