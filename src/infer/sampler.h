/* Next-token sampling: repetition penalty, then greedy or temperature sampling restricted by
 * top-k (partial selection) and top-p (only the surviving candidates are sorted), drawn from a
 * seeded generator so a seed reproduces a generation. All buffers are allocated once. */
#ifndef KR_INFER_SAMPLER_H
#define KR_INFER_SAMPLER_H

#include <stdint.h>

#include "common/rng.h"

typedef struct {
    int greedy;               /* 1: argmax (after the repetition penalty) */
    float temperature;        /* > 0; <= 0 also means greedy */
    int top_k;                /* 0 (or >= vocab): off */
    float top_p;              /* >= 1: off */
    float repetition_penalty; /* 1: off; divides positive / multiplies negative logits of seen tokens */
    uint64_t seed;
} SamplerConfig;

/* temperature 1, no top-k / top-p / penalty, seed 42. */
SamplerConfig sampler_config_default(void);
int sampler_config_validate(const SamplerConfig *c);

typedef struct {
    float p;
    int32_t id;
} SamplerCandidate;

typedef struct {
    SamplerConfig cfg;
    int vocab;
    Rng rng;
    SamplerCandidate *cand; /* [vocab] */
    uint32_t *seen;         /* [vocab] stamp of the last penalty pass that touched the token */
    uint32_t stamp;
} Sampler;

int sampler_init(Sampler *s, int vocab);
void sampler_free(Sampler *s);
/* Sets the configuration and reseeds (no allocation). */
void sampler_reset(Sampler *s, const SamplerConfig *c);
/* Picks the next token from logits [vocab] (modified in place); history = the tokens so far,
 * used by the repetition penalty (each distinct token is penalised once). */
int32_t sampler_sample(Sampler *s, float *logits, const int32_t *history, int n_history);

#endif
