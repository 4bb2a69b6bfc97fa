/* The reference CPU (fp32) forward and backward of the whole Llama-style model.
 * All activation memory for a fixed micro-batch B x T is planned and allocated once at create
 * time; forward/backward allocate nothing. Weights and gradients must be ModelWeights views made
 * by model_weights_map (model/params.h): the fused projections rely on wq|wk|wv and w1|w3 being
 * adjacent in the flat layout. */
#ifndef KR_LLAMA_CPU_H
#define KR_LLAMA_CPU_H

#include <stdint.h>

#include "model/config.h"
#include "model/params.h"

typedef struct LlamaCpu LlamaCpu;

/* NULL + kr_error on failure. The OpenMP thread count in effect now bounds the threads used later. */
LlamaCpu *llama_cpu_create(const ModelConfig *cfg, int B, int T);
void llama_cpu_free(LlamaCpu *m);
/* Bytes of activation memory held by the model. */
int64_t llama_cpu_memory(const LlamaCpu *m);

/* inputs/targets: B*T token ids in [0, vocab) (not checked here). Returns the mean cross-entropy
 * when targets != NULL, else 0 (logits only). */
float llama_cpu_forward(LlamaCpu *m, const ModelWeights *w, const int32_t *inputs, const int32_t *targets);
/* [B*T*V] logits of the last forward. Backward turns them into logit gradients in place, so they
 * are only valid between a forward and the next backward. */
const float *llama_cpu_logits(const LlamaCpu *m);
/* Adds d(mean loss * loss_scale)/dparam into grads (views of a flat gradient buffer laid out like
 * params). Needs a forward with targets just before; otherwise it records an error and leaves
 * grads untouched. */
void llama_cpu_backward(LlamaCpu *m, const ModelWeights *w, ModelWeights *grads, float loss_scale);

#endif
