/* Whole-model forward/backward on the CPU, composed from model/layers.h.
 *
 * The flat parameter layout keeps wq|wk|wv and w1|w3 adjacent, so each pair of projections
 * runs as ONE GEMM over all B*T rows: qkv = x [wq;wk;wv]^T and h13 = x [w1;w3]^T. */
#include "model/llama_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "common/error.h"
#include "model/layers.h"

/* Activations a layer keeps from forward for backward. */
typedef struct {
    float *xn1, *rstd1; /* attention_norm output and reciprocal RMS */
    float *qkv;         /* [N, qkv_dim]: q (after RoPE) | k (after RoPE) | v */
    float *probs;       /* [B, H, T, T] attention softmax */
    float *y;           /* [N, q_dim] attention output before wo */
    float *xn2, *rstd2; /* ffn_norm output and reciprocal RMS */
    float *h13;         /* [N, 2F]: w1 x | w3 x */
    float *g;           /* [N, F]: silu(w1 x) * w3 x */
} LayerActs;

struct LlamaCpu {
    ModelConfig cfg;
    int B, T, N, d, hd, q_dim, kv_dim, qkv_dim, F, V;
    int nthreads;      /* attention scratch slices */
    float *arena;      /* every float buffer below lives in here */
    size_t arena_floats;
    float **res;       /* 2L+1 residual streams [N, d]: res[2l] enters layer l, res[2l+1] after attention */
    LayerActs *acts;
    float *xnf, *rstdf, *logits, *lse;
    float *rope_cos, *rope_sin;
    /* backward scratch, shared by all layers */
    float *dres, *dxn, *dy, *dqkv, *dg, *dh13, *att_scratch;
    int32_t *inputs, *targets; /* copies of the last forward's batch */
    int has_targets;
};

/* Hands out 64-byte aligned slices of the arena (a first pass with arena == NULL only counts). */
static float *take(LlamaCpu *m, size_t *cursor, size_t n) {
    float *p = m->arena ? m->arena + *cursor : NULL;
    *cursor += (n + 15) & ~(size_t)15;
    return p;
}

static void plan(LlamaCpu *m, size_t *cursor) {
    size_t N = m->N, d = m->d, L = m->cfg.num_layers, F = m->F;
    *cursor = 0;
    for (size_t i = 0; i < 2 * L + 1; i++) m->res[i] = take(m, cursor, N * d);
    for (size_t l = 0; l < L; l++) {
        LayerActs *a = &m->acts[l];
        a->xn1 = take(m, cursor, N * d);
        a->rstd1 = take(m, cursor, N);
        a->qkv = take(m, cursor, N * m->qkv_dim);
        a->probs = take(m, cursor, (size_t)m->B * m->cfg.num_heads * m->T * m->T);
        a->y = take(m, cursor, N * m->q_dim);
        a->xn2 = take(m, cursor, N * d);
        a->rstd2 = take(m, cursor, N);
        a->h13 = take(m, cursor, N * 2 * F);
        a->g = take(m, cursor, N * F);
    }
    m->xnf = take(m, cursor, N * d);
    m->rstdf = take(m, cursor, N);
    m->logits = take(m, cursor, N * m->V);
    m->lse = take(m, cursor, N);
    m->rope_cos = take(m, cursor, (size_t)m->T * m->hd / 2);
    m->rope_sin = take(m, cursor, (size_t)m->T * m->hd / 2);
    m->dres = take(m, cursor, N * d);
    m->dxn = take(m, cursor, N * d);
    m->dy = take(m, cursor, N * m->q_dim);
    m->dqkv = take(m, cursor, N * m->qkv_dim);
    m->dg = take(m, cursor, N * F);
    m->dh13 = take(m, cursor, N * 2 * F);
    m->att_scratch = take(m, cursor, (size_t)m->nthreads * m->T * m->T);
}

LlamaCpu *llama_cpu_create(const ModelConfig *cfg, int B, int T) {
    if (model_config_validate(cfg) != 0) return NULL;
    if (B <= 0 || T <= 0) {
        kr_error("batch size and sequence length must be positive (got %d x %d)", B, T);
        return NULL;
    }
    LlamaCpu *m = calloc(1, sizeof *m);
    if (!m) {
        kr_error("out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    m->B = B;
    m->T = T;
    m->N = B * T;
    m->d = cfg->hidden_size;
    m->hd = model_head_dim(cfg);
    m->q_dim = cfg->num_heads * m->hd;
    m->kv_dim = model_kv_dim(cfg);
    m->qkv_dim = m->q_dim + 2 * m->kv_dim;
    m->F = cfg->intermediate_size;
    m->V = cfg->vocab_size;
    m->nthreads = omp_get_max_threads();
    int L = cfg->num_layers;
    m->res = calloc(2 * (size_t)L + 1, sizeof *m->res);
    m->acts = calloc((size_t)L, sizeof *m->acts);
    m->inputs = malloc((size_t)m->N * sizeof *m->inputs);
    m->targets = malloc((size_t)m->N * sizeof *m->targets);
    if (!m->res || !m->acts || !m->inputs || !m->targets) goto oom;
    size_t n = 0;
    plan(m, &n);
    m->arena_floats = n;
    if (posix_memalign((void **)&m->arena, 64, n * sizeof(float)) != 0) {
        m->arena = NULL;
        goto oom;
    }
    memset(m->arena, 0, n * sizeof(float)); /* touch the pages now rather than in the first step */
    plan(m, &n);
    rope_tables(m->rope_cos, m->rope_sin, T, m->hd, cfg->rope_theta);
    return m;
oom:
    kr_error("out of memory for the activations of B=%d x T=%d (%.1f MB needed); lower batch_size or seq_len", B, T,
             m->arena_floats * 4.0 / 1e6);
    llama_cpu_free(m);
    return NULL;
}

void llama_cpu_free(LlamaCpu *m) {
    if (!m) return;
    free(m->arena);
    free(m->res);
    free(m->acts);
    free(m->inputs);
    free(m->targets);
    free(m);
}

int64_t llama_cpu_memory(const LlamaCpu *m) {
    return (int64_t)(m->arena_floats * sizeof(float) + (size_t)m->N * 2 * sizeof(int32_t));
}

const float *llama_cpu_logits(const LlamaCpu *m) { return m->logits; }

float llama_cpu_forward(LlamaCpu *m, const ModelWeights *w, const int32_t *inputs, const int32_t *targets) {
    const ModelConfig *c = &m->cfg;
    int B = m->B, T = m->T, N = m->N, d = m->d, F = m->F, H = c->num_heads, KV = c->num_kv_heads, hd = m->hd;
    int qkv = m->qkv_dim;
    memcpy(m->inputs, inputs, (size_t)N * sizeof *inputs);
    embedding_forward(m->res[0], inputs, w->tok_embeddings, N, d);
    for (int l = 0; l < c->num_layers; l++) {
        const LayerWeights *lw = &w->layers[l];
        LayerActs *a = &m->acts[l];
        float *x = m->res[2 * l], *xa = m->res[2 * l + 1], *xb = m->res[2 * l + 2];
        /* attention block: xa = x + wo(attn(rope(wq xn1), rope(wk xn1), wv xn1)) */
        rmsnorm_forward(a->xn1, a->rstd1, x, lw->attention_norm, N, d, c->rms_norm_eps);
        matmul_forward(a->qkv, a->xn1, lw->wq, N, d, qkv, 0);
        rope_forward(a->qkv, qkv, m->rope_cos, m->rope_sin, B, T, H + KV, hd); /* k heads follow the q heads */
        attention_forward(a->y, a->probs, a->qkv, a->qkv + m->q_dim, a->qkv + m->q_dim + m->kv_dim, qkv, B, T, H, KV,
                          hd);
        memcpy(xa, x, (size_t)N * d * sizeof(float));
        matmul_forward(xa, a->y, lw->wo, N, m->q_dim, d, 1);
        /* feed-forward block: xb = xa + w2(silu(w1 xn2) * w3 xn2) */
        rmsnorm_forward(a->xn2, a->rstd2, xa, lw->ffn_norm, N, d, c->rms_norm_eps);
        matmul_forward(a->h13, a->xn2, lw->w1, N, d, 2 * F, 0);
        swiglu_forward(a->g, a->h13, N, F);
        memcpy(xb, xa, (size_t)N * d * sizeof(float));
        matmul_forward(xb, a->g, lw->w2, N, F, d, 1);
    }
    rmsnorm_forward(m->xnf, m->rstdf, m->res[2 * c->num_layers], w->norm, N, d, c->rms_norm_eps);
    matmul_forward(m->logits, m->xnf, w->output, N, d, m->V, 0);
    m->has_targets = targets != NULL;
    if (!targets) return 0.0f;
    memcpy(m->targets, targets, (size_t)N * sizeof *targets);
    return crossentropy_forward(m->lse, m->logits, targets, N, m->V);
}

void llama_cpu_backward(LlamaCpu *m, const ModelWeights *w, ModelWeights *grads, float loss_scale) {
    const ModelConfig *c = &m->cfg;
    int B = m->B, T = m->T, N = m->N, d = m->d, F = m->F, H = c->num_heads, KV = c->num_kv_heads, hd = m->hd;
    int qkv = m->qkv_dim, L = c->num_layers;
    if (!m->has_targets) {
        kr_error("llama_cpu_backward needs a forward with targets first");
        return;
    }
    m->has_targets = 0; /* the logits are consumed below */
    /* head and final norm; the logits become their gradient in place */
    crossentropy_backward(m->logits, m->lse, m->targets, N, m->V, loss_scale);
    matmul_backward(m->dxn, grads->output, m->logits, m->xnf, w->output, N, d, m->V);
    memset(m->dres, 0, (size_t)N * d * sizeof(float));
    rmsnorm_backward(m->dres, grads->norm, m->dxn, m->res[2 * L], w->norm, m->rstdf, N, d);
    for (int l = L - 1; l >= 0; l--) {
        const LayerWeights *lw = &w->layers[l];
        LayerWeights *gl = &grads->layers[l];
        LayerActs *a = &m->acts[l];
        /* feed-forward block (dres flows through the residual unchanged and gains the branch) */
        matmul_backward(m->dg, gl->w2, m->dres, a->g, lw->w2, N, F, d);
        swiglu_backward(m->dh13, m->dg, a->h13, N, F);
        matmul_backward(m->dxn, gl->w1, m->dh13, a->xn2, lw->w1, N, d, 2 * F);
        rmsnorm_backward(m->dres, gl->ffn_norm, m->dxn, m->res[2 * l + 1], lw->ffn_norm, a->rstd2, N, d);
        /* attention block */
        matmul_backward(m->dy, gl->wo, m->dres, a->y, lw->wo, N, m->q_dim, d);
        float *dq = m->dqkv, *dk = dq + m->q_dim, *dv = dk + m->kv_dim;
        attention_backward(dq, dk, dv, m->dy, a->probs, a->qkv, a->qkv + m->q_dim, a->qkv + m->q_dim + m->kv_dim, qkv,
                           B, T, H, KV, hd, m->att_scratch, m->nthreads);
        rope_backward(dq, qkv, m->rope_cos, m->rope_sin, B, T, H + KV, hd); /* dq and dk heads */
        matmul_backward(m->dxn, gl->wq, m->dqkv, a->xn1, lw->wq, N, d, qkv);
        rmsnorm_backward(m->dres, gl->attention_norm, m->dxn, m->res[2 * l], lw->attention_norm, a->rstd1, N, d);
    }
    embedding_backward(grads->tok_embeddings, m->dres, m->inputs, N, d);
}
