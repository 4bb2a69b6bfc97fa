/* The parameters of a model live in one flat fp32 buffer; this layout names every tensor in it.
 * One buffer means the optimizer, checkpoints, exports and (later) data-parallel gradient
 * reduction all work on plain contiguous arrays.
 *
 * Order: tok_embeddings.weight [V,d]; for each layer l:
 *   layers.l.attention_norm.weight [d], layers.l.attention.wq.weight [H*hd,d], .wk [KV*hd,d],
 *   .wv [KV*hd,d], .wo [d,H*hd], layers.l.ffn_norm.weight [d], layers.l.feed_forward.w1 [F,d],
 *   .w3 [F,d], .w2 [d,F];
 * then norm.weight [d] and output.weight [V,d] (absent when tied). Matrices are [out,in]
 * row-major: y = x W^T, as torch.nn.Linear stores them. */
#ifndef KR_PARAMS_H
#define KR_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

typedef enum { PARAM_EMBEDDING, PARAM_NORM, PARAM_MATRIX } ParamKind;

typedef struct {
    char name[64];
    ParamKind kind;
    int layer;      /* -1 for non-layer tensors */
    size_t offset;  /* in floats, into the flat buffer */
    int64_t rows, cols; /* vectors: rows = 1 */
} ParamTensor;

static inline size_t param_numel(const ParamTensor *t) { return (size_t)(t->rows * t->cols); }

typedef struct {
    ModelConfig cfg;
    int num_tensors;
    ParamTensor *tensors;
    size_t num_params;
} ParamLayout;

int param_layout_init(ParamLayout *l, const ModelConfig *cfg);
void param_layout_free(ParamLayout *l);
const ParamTensor *param_find(const ParamLayout *l, const char *name);

/* Pointers into a flat buffer laid out as above. */
typedef struct {
    float *attention_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w1, *w3, *w2;
} LayerWeights;

typedef struct {
    float *tok_embeddings;
    LayerWeights *layers; /* num_layers entries */
    float *norm;
    float *output; /* == tok_embeddings when tied */
} ModelWeights;

/* Fills `w` with views into `base`; w->layers is malloc'd (free with model_weights_free). */
int model_weights_map(ModelWeights *w, const ParamLayout *l, float *base);
void model_weights_free(ModelWeights *w);

/* Initialises parameters: matrices and embeddings ~ N(0, initializer_range), norm gains = 1. */
void params_init_random(const ParamLayout *l, float *base, uint64_t seed);

#endif
