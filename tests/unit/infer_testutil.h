/* Helpers shared by the inference tests: tiny random models and a reference forward. */
#ifndef KR_INFER_TESTUTIL_H
#define KR_INFER_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "model/llama_cpu.h"
#include "model/params.h"
#include "model_testutil.h"

static inline float *random_params(const ModelConfig *c, uint64_t seed, size_t *n_out) {
    ParamLayout l;
    if (param_layout_init(&l, c) != 0) return NULL;
    float *p = malloc(l.num_params * sizeof *p);
    params_init_random(&l, p, seed);
    if (n_out) *n_out = l.num_params;
    param_layout_free(&l);
    return p;
}

/* Reference logits [T, V] of one sequence through llama_cpu_forward (malloc'd). */
static inline float *reference_logits(const ModelConfig *c, float *params, const int32_t *tokens, int T) {
    ParamLayout l;
    ModelWeights w;
    param_layout_init(&l, c);
    model_weights_map(&w, &l, params);
    LlamaCpu *m = llama_cpu_create(c, 1, T);
    float *out = NULL;
    if (m) {
        llama_cpu_forward(m, &w, tokens, NULL);
        out = malloc((size_t)T * c->vocab_size * sizeof *out);
        memcpy(out, llama_cpu_logits(m), (size_t)T * c->vocab_size * sizeof *out);
        llama_cpu_free(m);
    }
    model_weights_free(&w);
    param_layout_free(&l);
    return out;
}

static inline int argmax_row(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

#endif
