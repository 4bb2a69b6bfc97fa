#include "infer/infer_model.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#ifdef KR_ACCELERATE
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

#include "common/error.h"
#include "infer/kv_attention.h"
#include "model/params.h"

/* Below this many rows a prefill is cheaper as matrix-vector work than through BLAS. */
#define GEMM_MIN_ROWS 8
/* Prefill products are split into blocks of this many weight rows: one single-threaded BLAS
 * call per block, blocks spread over the pool (non-fp32 blocks are expanded to fp32 first). */
#define GEMM_BLOCK_ROWS 128

typedef struct {
    const float *attn_norm, *ffn_norm;
    QMatrix wq, wk, wv, wo, w1, w3, w2;
} InferLayer;

struct InferModel {
    ModelConfig cfg;
    InferPrecision prec;
    int slots, ctx, max_rows, nthreads;
    int ctx_pad;                 /* ctx rounded up to whole key blocks (kv_attention.h) */
    int max_cols;                /* widest layer matrix (for the prefill dequantisation blocks) */
    int hd, qd, kvd;
    const float *tok_emb, *final_norm;
    InferLayer *layers;
    QMatrix head;
    KvType kv_type;              /* floats at fp32 precision, else bfloat16 */
    void *kcache, *vcache;       /* [layer][slot][kv head] heads of ctx_pad positions (kv_attention.h) */
    float *rope_cos, *rope_sin;  /* [ctx][hd/2] */
    float *x, *xb, *q, *k, *v, *att, *h1, *h3; /* activations, max_rows rows each */
    float *scores;               /* [thread][group][ctx_pad] attention weights */
    float *dequant;              /* [thread][GEMM_BLOCK_ROWS][max_cols]: non-fp32 weights for BLAS */
    float *xl, *logits;          /* rows that need logits: [max_rows][d], [max_rows][V] */
    size_t weight_bytes;
    WorkPool *pool;              /* threads of the matrix-vector products and attention */
};

static QMatrix *layer_matrices(InferLayer *L, int i) {
    QMatrix *all[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w3, &L->w2};
    return all[i];
}

void infer_model_free(InferModel *m) {
    if (!m) return;
    if (m->layers)
        for (int l = 0; l < m->cfg.num_layers; l++)
            for (int i = 0; i < 7; i++) qmatrix_free(layer_matrices(&m->layers[l], i));
    qmatrix_free(&m->head);
    workpool_free(m->pool);
    free(m->layers);
    free(m->kcache);
    free(m->vcache);
    float *bufs[] = {m->rope_cos, m->rope_sin, m->x, m->xb, m->q, m->k, m->v,
                     m->att, m->h1, m->h3, m->scores, m->dequant, m->xl, m->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(m);
}

static int load_weights(InferModel *m, const float *params) {
    const ModelConfig *c = &m->cfg;
    ParamLayout lay;
    ModelWeights w;
    if (param_layout_init(&lay, c) != 0) return -1;
    if (model_weights_map(&w, &lay, (float *)params) != 0) {
        param_layout_free(&lay);
        return -1;
    }
    int d = c->hidden_size, F = c->intermediate_size;
    int rc = 0;
    m->tok_emb = w.tok_embeddings;
    m->final_norm = w.norm;
    for (int l = 0; l < c->num_layers && rc == 0; l++) {
        InferLayer *L = &m->layers[l];
        const LayerWeights *lw = &w.layers[l];
        L->attn_norm = lw->attention_norm;
        L->ffn_norm = lw->ffn_norm;
        const float *src[7] = {lw->wq, lw->wk, lw->wv, lw->wo, lw->w1, lw->w3, lw->w2};
        int rows[7] = {m->qd, m->kvd, m->kvd, d, F, F, d}, cols[7] = {d, d, d, m->qd, d, d, F};
        for (int i = 0; i < 7 && rc == 0; i++) {
            rc = qmatrix_init(layer_matrices(L, i), src[i], rows[i], cols[i], m->prec);
            if (cols[i] > m->max_cols) m->max_cols = cols[i];
        }
    }
    if (rc == 0) rc = qmatrix_init(&m->head, w.output, c->vocab_size, d, m->prec);
    model_weights_free(&w);
    param_layout_free(&lay);
    if (rc != 0) return -1;
    if (m->prec != PREC_FP32 && !(m->dequant = malloc((size_t)m->nthreads * GEMM_BLOCK_ROWS * m->max_cols * sizeof(float))))
        return kr_error("out of memory for the prefill buffer");
    m->weight_bytes = qmatrix_bytes(&m->head) + (size_t)d * sizeof(float);
    for (int l = 0; l < c->num_layers; l++)
        for (int i = 0; i < 7; i++) m->weight_bytes += qmatrix_bytes(layer_matrices(&m->layers[l], i));
    return 0;
}

static void init_rope(InferModel *m) {
    int half = m->hd / 2;
    for (int p = 0; p < m->ctx; p++)
        for (int i = 0; i < half; i++) {
            double freq = pow((double)m->cfg.rope_theta, -2.0 * i / m->hd), a = p * freq;
            m->rope_cos[(size_t)p * half + i] = (float)cos(a);
            m->rope_sin[(size_t)p * half + i] = (float)sin(a);
        }
}

InferModel *infer_model_create(const ModelConfig *cfg, const float *params, InferPrecision prec, int max_slots, int max_context) {
    if (model_config_validate(cfg) != 0) return NULL;
    if (max_slots < 1) {
        kr_error("the inference model needs at least one sequence slot");
        return NULL;
    }
    if (max_context <= 0 || max_context > cfg->max_seq_len) max_context = cfg->max_seq_len;
    InferModel *m = calloc(1, sizeof *m);
    if (!m) {
        kr_error("out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    m->prec = prec;
    m->slots = max_slots;
    m->ctx = max_context;
    m->ctx_pad = kv_padded_context(max_context);
    m->max_rows = max_slots > INFER_MAX_PREFILL_ROWS ? max_slots : INFER_MAX_PREFILL_ROWS;
    m->nthreads = omp_get_max_threads();
    m->pool = workpool_create(m->nthreads);
#ifndef KR_ACCELERATE
    openblas_set_num_threads(1); /* BLAS calls run inside pool threads, one block each */
#endif
    m->hd = model_head_dim(cfg);
    m->qd = cfg->num_heads * m->hd;
    m->kvd = model_kv_dim(cfg);
    int d = cfg->hidden_size, F = cfg->intermediate_size, R = m->max_rows;
    size_t cache = (size_t)cfg->num_layers * max_slots * m->kvd * m->ctx_pad;
    m->layers = calloc(cfg->num_layers, sizeof *m->layers);
    m->kv_type = prec == PREC_FP32 ? KV_F32 : KV_BF16;
    m->kcache = calloc(cache, kv_type_size(m->kv_type)); /* calloc: untouched pages cost no memory */
    m->vcache = calloc(cache, kv_type_size(m->kv_type));
    m->rope_cos = malloc((size_t)m->ctx * (m->hd / 2) * sizeof(float));
    m->rope_sin = malloc((size_t)m->ctx * (m->hd / 2) * sizeof(float));
    m->x = malloc((size_t)R * d * sizeof(float));
    m->xb = malloc((size_t)R * d * sizeof(float));
    m->q = malloc((size_t)R * m->qd * sizeof(float));
    m->att = malloc((size_t)R * m->qd * sizeof(float));
    m->k = malloc((size_t)R * m->kvd * sizeof(float));
    m->v = malloc((size_t)R * m->kvd * sizeof(float));
    m->h1 = malloc((size_t)R * F * sizeof(float));
    m->h3 = malloc((size_t)R * F * sizeof(float));
    /* one [group][ctx] block per pool thread */
    m->scores = malloc((size_t)m->nthreads * (m->cfg.num_heads / m->cfg.num_kv_heads) * m->ctx_pad * sizeof(float));
    m->xl = malloc((size_t)R * d * sizeof(float));
    m->logits = malloc((size_t)R * cfg->vocab_size * sizeof(float)); /* pages untouched unless used */
    if (!m->pool || !m->layers || !m->kcache || !m->vcache || !m->rope_cos || !m->rope_sin || !m->x || !m->xb || !m->q || !m->att ||
        !m->k || !m->v || !m->h1 || !m->h3 || !m->scores || !m->xl || !m->logits) {
        kr_error("out of memory for the inference buffers (KV cache: %.0f MB; try a smaller --max_batch or context)",
                 2.0 * cache * kv_type_size(m->kv_type) / 1048576.0);
        infer_model_free(m);
        return NULL;
    }
    if (load_weights(m, params) != 0) {
        infer_model_free(m);
        return NULL;
    }
    init_rope(m);
    return m;
}

const ModelConfig *infer_model_config(const InferModel *m) { return &m->cfg; }
int infer_model_context(const InferModel *m) { return m->ctx; }
int infer_model_slots(const InferModel *m) { return m->slots; }
InferPrecision infer_model_precision(const InferModel *m) { return m->prec; }
size_t infer_model_weight_bytes(const InferModel *m) { return m->weight_bytes; }
float *infer_model_logits(InferModel *m) { return m->logits; }

static void rmsnorm_rows(float *out, const float *x, const float *w, int n, int d, float eps) {
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * d;
        float *o = out + (size_t)r * d;
        float ss = 0;
        for (int i = 0; i < d; i++) ss += xr[i] * xr[i];
        float s = 1.0f / sqrtf(ss / d + eps);
        for (int i = 0; i < d; i++) o[i] = xr[i] * s * w[i];
    }
}


typedef struct {
    InferModel *m;
    const QMatrix *w;
    const float *x;
    int n;
    float *y;
} GemmJob;

static void gemm_block(void *ctx, int block, int thread) {
    const GemmJob *j = ctx;
    const QMatrix *w = j->w;
    int r0 = block * GEMM_BLOCK_ROWS, nr = w->rows - r0 < GEMM_BLOCK_ROWS ? w->rows - r0 : GEMM_BLOCK_ROWS;
    const float *wf = w->f32 + (size_t)r0 * w->cols;
    if (w->prec != PREC_FP32) {
        float *buf = j->m->dequant + (size_t)thread * GEMM_BLOCK_ROWS * j->m->max_cols;
        qmatrix_dequantize_rows(w, r0, nr, buf);
        wf = buf;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, nr, w->cols, 1.0f, j->x, w->cols, wf, w->cols, 0.0f, j->y + r0,
                w->rows);
}

/* ys[k] = x W_k^T for `count` matrices sharing the input x [n rows]. */
static void linear(InferModel *m, const QMatrix *const *ws, float *const *ys, int count, const float *x, int n, int gemm) {
    if (!gemm) {
        qmatrix_matvec_multi(m->pool, ws, ys, count, x, n);
        return;
    }
    for (int k = 0; k < count; k++) {
        GemmJob j = {m, ws[k], x, n, ys[k]};
        workpool_run(m->pool, gemm_block, &j, (ws[k]->rows + GEMM_BLOCK_ROWS - 1) / GEMM_BLOCK_ROWS);
    }
}

/* Rotates interleaved pairs (x[2i], x[2i+1]) of each head by the angle of `pos`. */
static void rope(const InferModel *m, float *vec, int nheads, int pos) {
    int half = m->hd / 2;
    const float *cs = m->rope_cos + (size_t)pos * half, *sn = m->rope_sin + (size_t)pos * half;
    for (int h = 0; h < nheads; h++) {
        float *x = vec + h * m->hd;
        for (int i = 0; i < half; i++) {
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * cs[i] - b * sn[i];
            x[2 * i + 1] = a * sn[i] + b * cs[i];
        }
    }
}

/* Byte offset of a head (layer, slot, kv head) in the key and value caches. */
static size_t cache_offset(const InferModel *m, int layer, int slot, int kvh) {
    return (((size_t)layer * m->slots + slot) * m->cfg.num_kv_heads + kvh) * m->ctx_pad * m->hd * kv_type_size(m->kv_type);
}

typedef struct {
    InferModel *m;
    int layer;
    const int *slots, *pos;
} AttentionJob;

/* One (row, kv head) pair: softmax(q K^T / sqrt(hd)) V for each query head of the kv head's
 * group over the slot's positions 0..pos, the group together so that each cached key and value
 * is read once, not once per query head. */
static void attention_group(void *ctx, int chunk, int thread) {
    const AttentionJob *j = ctx;
    InferModel *m = j->m;
    int KV = m->cfg.num_kv_heads, hd = m->hd, group = m->cfg.num_heads / KV;
    int r = chunk / KV, kvh = chunk % KV;
    size_t off = cache_offset(m, j->layer, j->slots[r], kvh), q_off = (size_t)r * m->qd + (size_t)kvh * group * hd;
    kv_group_attention(m->q + q_off, group, (char *)m->kcache + off, (char *)m->vcache + off, m->kv_type, j->pos[r] + 1, hd,
                       1.0f / sqrtf((float)hd), m->scores + (size_t)thread * group * m->ctx_pad, (size_t)m->ctx_pad,
                       m->att + q_off);
}

/* Causal attention of every row's query heads over its slot's cached keys 0..pos. */
static void attention(InferModel *m, int layer, int n, const int *slots, const int *pos) {
    AttentionJob j = {m, layer, slots, pos};
    size_t work = 0; /* cached values read: short contexts stay on this thread */
    for (int r = 0; r < n; r++) work += (size_t)(pos[r] + 1) * m->cfg.num_heads * m->hd;
    workpool_run(work >= 1u << 15 ? m->pool : NULL, attention_group, &j, n * m->cfg.num_kv_heads);
}

typedef struct {
    float *h1;
    const float *h3;
    size_t n;
} SwigluJob;

#define SWIGLU_CHUNK 8192

static void swiglu_chunk(void *ctx, int c, int thread) {
    (void)thread;
    const SwigluJob *j = ctx;
    size_t i0 = (size_t)c * SWIGLU_CHUNK, i1 = i0 + SWIGLU_CHUNK < j->n ? i0 + SWIGLU_CHUNK : j->n;
    for (size_t i = i0; i < i1; i++) j->h1[i] = j->h1[i] / (1.0f + expf(-j->h1[i])) * j->h3[i];
}

/* h1 = silu(h1) * h3 */
static void swiglu(InferModel *m, float *h1, const float *h3, size_t n) {
    SwigluJob j = {h1, h3, n};
    workpool_run(m->pool, swiglu_chunk, &j, (int)((n + SWIGLU_CHUNK - 1) / SWIGLU_CHUNK));
}

static void add_rows(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static int check_rows(const InferModel *m, int n, const int32_t *tokens, const int *slots, const int *pos, int prefill, int n_logits,
                      const int *logit_rows) {
    if (n < 1 || n > m->max_rows || (!prefill && n > m->slots))
        return kr_error("forward pass of %d rows exceeds the preallocated %d", n, prefill ? m->max_rows : m->slots);
    if (n_logits < 0 || n_logits > n) return kr_error("%d rows of logits requested from %d rows", n_logits, n);
    for (int r = 0; r < n; r++) {
        if (tokens[r] < 0 || tokens[r] >= m->cfg.vocab_size)
            return kr_error("token id %d is outside the vocabulary (size %d)", (int)tokens[r], m->cfg.vocab_size);
        if (slots[r] < 0 || slots[r] >= m->slots) return kr_error("cache slot %d does not exist", slots[r]);
        if (pos[r] < 0 || pos[r] >= m->ctx) return kr_error("position %d is beyond the context of %d tokens", pos[r], m->ctx);
    }
    for (int i = 0; i < n_logits; i++)
        if (logit_rows[i] < 0 || logit_rows[i] >= n) return kr_error("logit row %d is not among the %d rows", logit_rows[i], n);
    return 0;
}

int infer_model_forward(InferModel *m, int n, const int32_t *tokens, const int *slots, const int *pos, int prefill, int n_logits,
                        const int *logit_rows) {
    if (check_rows(m, n, tokens, slots, pos, prefill, n_logits, logit_rows) != 0) return -1;
    const ModelConfig *c = &m->cfg;
    int d = c->hidden_size, F = c->intermediate_size, hd = m->hd, gemm = prefill && n >= GEMM_MIN_ROWS;
    float eps = c->rms_norm_eps;
    for (int r = 0; r < n; r++) memcpy(m->x + (size_t)r * d, m->tok_emb + (size_t)tokens[r] * d, (size_t)d * sizeof(float));
    for (int l = 0; l < c->num_layers; l++) {
        InferLayer *L = &m->layers[l];
        rmsnorm_rows(m->xb, m->x, L->attn_norm, n, d, eps);
        const QMatrix *qkv[3] = {&L->wq, &L->wk, &L->wv}, *up[2] = {&L->w1, &L->w3};
        float *qkv_out[3] = {m->q, m->k, m->v}, *up_out[2] = {m->h1, m->h3};
        linear(m, qkv, qkv_out, 3, m->xb, n, gemm);
        for (int r = 0; r < n; r++) {
            rope(m, m->q + (size_t)r * m->qd, c->num_heads, pos[r]);
            rope(m, m->k + (size_t)r * m->kvd, c->num_kv_heads, pos[r]);
            for (int kh = 0; kh < c->num_kv_heads; kh++) {
                size_t head = cache_offset(m, l, slots[r], kh), src = (size_t)r * m->kvd + kh * hd;
                kv_store((char *)m->kcache + head, (char *)m->vcache + head, m->kv_type, pos[r], m->k + src, m->v + src, hd);
            }
        }
        attention(m, l, n, slots, pos);
        const QMatrix *wo = &L->wo, *w2 = &L->w2;
        linear(m, &wo, &m->xb, 1, m->att, n, gemm);
        add_rows(m->x, m->xb, (size_t)n * d);
        rmsnorm_rows(m->xb, m->x, L->ffn_norm, n, d, eps);
        linear(m, up, up_out, 2, m->xb, n, gemm);
        swiglu(m, m->h1, m->h3, (size_t)n * F);
        linear(m, &w2, &m->xb, 1, m->h1, n, gemm);
        add_rows(m->x, m->xb, (size_t)n * d);
    }
    if (n_logits == 0) return 0;
    for (int i = 0; i < n_logits; i++) memcpy(m->xl + (size_t)i * d, m->x + (size_t)logit_rows[i] * d, (size_t)d * sizeof(float));
    rmsnorm_rows(m->xl, m->xl, m->final_norm, n_logits, d, eps);
    qmatrix_matvec(m->pool, &m->head, m->xl, n_logits, m->logits);
    return 0;
}
