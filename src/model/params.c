#include "model/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"

static void add_tensor(ParamLayout *l, const char *name, ParamKind kind, int layer, int64_t rows, int64_t cols) {
    ParamTensor *t = &l->tensors[l->num_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->layer = layer;
    t->offset = l->num_params;
    t->rows = rows;
    t->cols = cols;
    l->num_params += (size_t)(rows * cols);
}

int param_layout_init(ParamLayout *l, const ModelConfig *c) {
    memset(l, 0, sizeof *l);
    if (model_config_validate(c) != 0) return -1;
    l->cfg = *c;
    int64_t d = c->hidden_size, V = c->vocab_size, F = c->intermediate_size;
    int64_t q = (int64_t)c->num_heads * model_head_dim(c), kv = model_kv_dim(c);
    l->tensors = calloc(9 * (size_t)c->num_layers + 3, sizeof *l->tensors);
    if (!l->tensors) return kr_error("out of memory");
    add_tensor(l, "tok_embeddings.weight", PARAM_EMBEDDING, -1, V, d);
    char name[64];
    for (int i = 0; i < c->num_layers; i++) {
#define T(suffix, kind, r, cc)                                   \
    snprintf(name, sizeof name, "layers.%d.%s", i, suffix); \
    add_tensor(l, name, kind, i, r, cc)
        T("attention_norm.weight", PARAM_NORM, 1, d);
        T("attention.wq.weight", PARAM_MATRIX, q, d);
        T("attention.wk.weight", PARAM_MATRIX, kv, d);
        T("attention.wv.weight", PARAM_MATRIX, kv, d);
        T("attention.wo.weight", PARAM_MATRIX, d, q);
        T("ffn_norm.weight", PARAM_NORM, 1, d);
        T("feed_forward.w1.weight", PARAM_MATRIX, F, d);
        T("feed_forward.w3.weight", PARAM_MATRIX, F, d);
        T("feed_forward.w2.weight", PARAM_MATRIX, d, F);
#undef T
    }
    add_tensor(l, "norm.weight", PARAM_NORM, -1, 1, d);
    if (!c->tie_word_embeddings) add_tensor(l, "output.weight", PARAM_MATRIX, -1, V, d);
    return 0;
}

void param_layout_free(ParamLayout *l) {
    free(l->tensors);
    memset(l, 0, sizeof *l);
}

const ParamTensor *param_find(const ParamLayout *l, const char *name) {
    for (int i = 0; i < l->num_tensors; i++)
        if (!strcmp(l->tensors[i].name, name)) return &l->tensors[i];
    return NULL;
}

int model_weights_map(ModelWeights *w, const ParamLayout *l, float *base) {
    int L = l->cfg.num_layers;
    w->layers = calloc(L, sizeof *w->layers);
    if (!w->layers) return kr_error("out of memory");
    const ParamTensor *t = l->tensors;
    w->tok_embeddings = base + t[0].offset;
    for (int i = 0; i < L; i++) {
        const ParamTensor *lt = &t[1 + 9 * i];
        LayerWeights *lw = &w->layers[i];
        float **slots[9] = {&lw->attention_norm, &lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->ffn_norm, &lw->w1, &lw->w3, &lw->w2};
        for (int k = 0; k < 9; k++) *slots[k] = base + lt[k].offset;
    }
    w->norm = base + t[1 + 9 * L].offset;
    w->output = l->cfg.tie_word_embeddings ? w->tok_embeddings : base + t[2 + 9 * L].offset;
    return 0;
}

void model_weights_free(ModelWeights *w) {
    free(w->layers);
    w->layers = NULL;
}

void params_init_random(const ParamLayout *l, float *base, uint64_t seed) {
    float std = l->cfg.initializer_range;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < l->num_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        float *p = base + t->offset;
        size_t n = param_numel(t);
        if (t->kind == PARAM_NORM) {
            for (size_t j = 0; j < n; j++) p[j] = 1.0f;
            continue;
        }
        Rng r; /* one stream per tensor: the result does not depend on the thread count */
        rng_seed(&r, seed * 1000003ULL + (uint64_t)i);
        for (size_t j = 0; j < n; j++) p[j] = std * rng_normal(&r);
    }
}
