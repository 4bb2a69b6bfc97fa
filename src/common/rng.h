/* A small, fast, serialisable random number generator (xoshiro256**), so that training,
 * sampling and data order are reproducible and can be checkpointed. */
#ifndef KR_RNG_H
#define KR_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1). */
float rng_float(Rng *r);
double rng_double(Rng *r);
/* Uniform integer in [0, n). */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (Box–Muller). */
float rng_normal(Rng *r);

#endif
