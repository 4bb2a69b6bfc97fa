/* The CUDA backend on one GPU (the device current when it is created): a Llama decoder's
 * forward, backward and AdamW step. data_parallel.cu spreads micro-batches over several of these.
 * Parameters, gradients and AdamW moments are flat fp32 device buffers in the layout of
 * model/params.h (so data-parallel training averages the gradients as one plain array). A
 * replica of data-parallel training owns a slice of the optimizer (CudaOptShard): the moments of
 * its slice only, and the update of those parameters; its parameter and gradient buffers are
 * padded so that the slices line up for NCCL's in-place collectives. In mixed
 * precision a bf16 copy of the parameters feeds the matrix products and activations are bf16;
 * the residual stream, norms, softmax statistics and every reduction stay fp32. */
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/backend_cuda.h"
}
#include "backend/cuda/gemm.cuh"
#include "backend/cuda/kernels.cuh"

typedef struct {
    float *x_in;   /* [N,d] residual entering the layer (fp32) */
    float *x_mid;  /* [N,d] residual after attention */
    float *rstd1, *rstd2;
    void *h1, *qkv, *o, *h2, *ab; /* activation type; ab (w1|w3 output) becomes its own gradient in the backward */
    float *lse;    /* [N,H] */
} LayerActs;

typedef struct {
    int mp, recompute;
    int B, T, N, d, H, KV, hd, F, V, L, qkv_w;
    float eps;
    size_t nparams, act_size;
    CudaOptShard shard; /* the slice of the parameters whose moments this GPU holds and updates */
    const ParamLayout *layout;
    cudaStream_t stream;
    GemmCtx *gemm;
    float *params, *grads, *m, *v;
    bf16 *wbf;
    LayerActs *acts;  /* L entries (all alike in recompute mode, except x_in) */
    float **x_in;     /* L + 1 residuals; x_in[L] is the final one */
    float *rstd_f;
    void *hn;         /* final normed hidden [N,d] */
    float *dres;      /* residual gradient [N,d] */
    void *dact, *dout, *dqkv, *gbuf, *logits;
    float *row_loss, *dsum, *partial, *scalars;
    int chunk_rows, nseg;
    int32_t *ids, *tgts, *order, *seg_start, *seg_token;
    int32_t *h_count, *h_order, *h_seg_start, *h_seg_token;
    float2 *rope_cs;
    size_t bytes;
    int have_forward;
} CudaImpl;

extern "C" int cuda_device_available(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) return kr_error("no usable CUDA device: %s", cudaGetErrorString(e)), 0;
    if (n == 0) return kr_error("no CUDA device found"), 0;
    return 1;
}

extern "C" int cuda_device_count(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

extern "C" const char *cuda_device_name(void) {
    static char name[256];
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "";
    snprintf(name, sizeof name, "%s", p.name);
    return name;
}

static CudaImpl *impl_of(Backend *be) { return (CudaImpl *)be->impl; }

static int dev_alloc(CudaImpl *c, void **p, size_t bytes) {
    if (cudaMalloc(p, bytes ? bytes : 1) != cudaSuccess)
        return kr_error("cuda: out of device memory allocating %.1f MB (%.1f GB already in use); use a smaller "
                        "batch, gradient_checkpointing, or mixed precision",
                        bytes / 1e6, c->bytes / 1e9);
    c->bytes += bytes;
    return 0;
}
#define DALLOC(c, ptr, bytes) TRY(dev_alloc(c, (void **)&(ptr), (bytes)))

static size_t tensor_off(const CudaImpl *c, int layer, int k) { return c->layout->tensors[1 + 9 * layer + k].offset; }
enum { T_NORM1, T_WQ, T_WK, T_WV, T_WO, T_NORM2, T_W1, T_W3, T_W2 };
static size_t emb_off(const CudaImpl *c) { return c->layout->tensors[0].offset; }
static size_t final_norm_off(const CudaImpl *c) { return c->layout->tensors[1 + 9 * c->L].offset; }
static size_t head_off(const CudaImpl *c) {
    return c->layout->cfg.tie_word_embeddings ? emb_off(c) : c->layout->tensors[2 + 9 * c->L].offset;
}

static int alloc_layer(CudaImpl *c, LayerActs *a) {
    size_t N = c->N, s = c->act_size;
    DALLOC(c, a->x_mid, N * c->d * 4);
    DALLOC(c, a->rstd1, N * 4);
    DALLOC(c, a->rstd2, N * 4);
    DALLOC(c, a->h1, N * c->d * s);
    DALLOC(c, a->qkv, N * c->qkv_w * s);
    DALLOC(c, a->o, N * c->H * c->hd * s);
    DALLOC(c, a->h2, N * c->d * s);
    DALLOC(c, a->ab, N * 2 * c->F * s);
    DALLOC(c, a->lse, N * c->H * 4);
    return 0;
}

static void free_layer(LayerActs *a) {
    void *ps[] = {a->x_mid, a->rstd1, a->rstd2, a->h1, a->qkv, a->o, a->h2, a->ab, a->lse};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) cudaFree(ps[i]);
}

static void cuda_destroy(Backend *be) {
    CudaImpl *c = impl_of(be);
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    gemm_destroy(c->gemm);
    void *ps[] = {c->params, c->grads, c->m, c->v, c->wbf, c->rstd_f, c->hn, c->dres, c->dact, c->dout, c->dqkv,
                  c->gbuf, c->logits, c->row_loss, c->dsum, c->partial, c->scalars, c->ids, c->tgts,
                  c->order, c->seg_start, c->seg_token, c->rope_cs};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) cudaFree(ps[i]);
    if (c->acts) {
        for (int l = 0; l < (c->recompute ? 1 : c->L); l++) free_layer(&c->acts[l]);
    }
    if (c->x_in)
        for (int l = 0; l <= c->L; l++) cudaFree(c->x_in[l]);
    free(c->acts);
    free(c->x_in);
    free(c->h_count);
    free(c->h_order);
    free(c->h_seg_start);
    free(c->h_seg_token);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
    be->impl = NULL;
}

/* Every copy goes through the backend's stream and waits for it. The stream is non-blocking, so
 * plain cudaMemcpy/cudaMemset (legacy default stream) would not be ordered with its kernels: a
 * host-to-device copy from pageable memory may return before its data lands. */
static int copy_sync(CudaImpl *c, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    CU_TRY(cudaMemcpyAsync(dst, src, bytes, kind, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));
    return 0;
}

static int upload_rope_table(CudaImpl *c, const ModelConfig *cfg) {
    int half = c->hd / 2;
    float2 *h = (float2 *)malloc(sizeof(float2) * (size_t)c->T * half);
    if (!h) return kr_error("out of memory");
    for (int t = 0; t < c->T; t++)
        for (int i = 0; i < half; i++) {
            double ang = t * pow((double)cfg->rope_theta, -2.0 * i / c->hd);
            h[t * half + i] = make_float2((float)cos(ang), (float)sin(ang));
        }
    int rc = copy_sync(c, c->rope_cs, h, sizeof(float2) * (size_t)c->T * half, cudaMemcpyHostToDevice);
    free(h);
    return rc;
}

static size_t shard_len(const CudaImpl *c) { return c->shard.end - c->shard.begin; }

static int allocate(CudaImpl *c) {
    size_t P = c->nparams, padded = c->shard.padded, S = shard_len(c), N = c->N, s = c->act_size;
    DALLOC(c, c->params, padded * 4);
    DALLOC(c, c->grads, padded * 4);
    DALLOC(c, c->m, S * 4);
    DALLOC(c, c->v, S * 4);
    if (c->mp) DALLOC(c, c->wbf, P * 2);
    CU_TRY(cudaMemsetAsync(c->params, 0, padded * 4, c->stream)); /* the padding stays zero */
    CU_TRY(cudaMemsetAsync(c->grads, 0, padded * 4, c->stream));
    CU_TRY(cudaMemsetAsync(c->m, 0, S * 4, c->stream));
    CU_TRY(cudaMemsetAsync(c->v, 0, S * 4, c->stream));
    int nsets = c->recompute ? 1 : c->L;
    c->acts = (LayerActs *)calloc(c->L, sizeof *c->acts);
    c->x_in = (float **)calloc(c->L + 1, sizeof *c->x_in);
    if (!c->acts || !c->x_in) return kr_error("out of memory");
    for (int l = 0; l < nsets; l++) TRY(alloc_layer(c, &c->acts[l]));
    for (int l = nsets; l < c->L; l++) c->acts[l] = c->acts[0];
    for (int l = 0; l <= c->L; l++) DALLOC(c, c->x_in[l], N * c->d * 4);
    DALLOC(c, c->rstd_f, N * 4);
    DALLOC(c, c->hn, N * c->d * s);
    DALLOC(c, c->dres, N * c->d * 4);
    DALLOC(c, c->dact, N * c->d * s);
    DALLOC(c, c->dout, N * c->H * c->hd * s);
    DALLOC(c, c->dqkv, N * c->qkv_w * s);
    DALLOC(c, c->gbuf, N * c->F * s);
    size_t rows = LOGIT_CHUNK_BYTES / ((size_t)c->V * s);
    c->chunk_rows = (int)(rows < 1 ? 1 : rows > N ? N : rows);
    DALLOC(c, c->logits, (size_t)c->chunk_rows * c->V * s);
    DALLOC(c, c->row_loss, N * 4);
    DALLOC(c, c->dsum, N * c->H * 4);
    size_t np = (size_t)rmsnorm_partial_floats(c->N, c->d);
    DALLOC(c, c->partial, (np > REDUCE_BLOCKS ? np : REDUCE_BLOCKS) * 4);
    DALLOC(c, c->scalars, 16 * 4);
    DALLOC(c, c->ids, N * 4);
    DALLOC(c, c->tgts, N * 4);
    DALLOC(c, c->order, N * 4);
    DALLOC(c, c->seg_start, (N + 1) * 4);
    DALLOC(c, c->seg_token, N * 4);
    DALLOC(c, c->rope_cs, sizeof(float2) * (size_t)c->T * (c->hd / 2));
    c->h_count = (int32_t *)calloc((size_t)c->V + 1, 4);
    c->h_order = (int32_t *)malloc(N * 4);
    c->h_seg_start = (int32_t *)malloc((N + 1) * 4);
    c->h_seg_token = (int32_t *)malloc(N * 4);
    if (!c->h_count || !c->h_order || !c->h_seg_start || !c->h_seg_token) return kr_error("out of memory");
    return 0;
}

/* The kernels need Ampere or later (bf16 tensor cores, cp.async), and code in this build that
 * runs on the GPU; both are checked before anything is allocated, with what to do instead. */
static int check_device(void) {
    int dev = 0;
    cudaDeviceProp p;
    CU_TRY(cudaGetDevice(&dev));
    CU_TRY(cudaGetDeviceProperties(&p, dev));
    if (p.major < 8)
        return kr_error("cuda: GPU %d (%s) has compute capability %d.%d, and the CUDA backend needs 8.0 or newer "
                        "(Ampere, such as an A100 or an RTX 30xx, or later); use --device cpu",
                        dev, p.name, p.major, p.minor);
    cudaError_t e = k_code_status();
    if (e != cudaSuccess)
        return kr_error("cuda: this build has no code for GPU %d (%s, compute capability %d.%d): %s; rebuild with "
                        "`make clean; make CUDA_ARCHS=%d%d`, or keep the default CUDA_PTX=80",
                        dev, p.name, p.major, p.minor, cudaGetErrorString(e), p.major, p.minor);
    return 0;
}

extern "C" int cuda_gpu_create(Backend *be, const ModelConfig *cfg, const BackendOptions *opt,
                               const CudaOptShard *shard) {
    if (opt->batch_size < 1 || opt->seq_len < 1) return kr_error("cuda backend: batch_size and seq_len must be >= 1");
    if (opt->seq_len > cfg->max_seq_len)
        return kr_error("cuda backend: seq_len %d exceeds the model's max_seq_len %d", opt->seq_len, cfg->max_seq_len);
    TRY(check_device());
    CudaImpl *c = (CudaImpl *)calloc(1, sizeof *c);
    if (!c) return kr_error("out of memory");
    be->impl = c;
    c->mp = opt->mixed_precision != 0;
    c->recompute = opt->recompute != 0;
    c->B = opt->batch_size;
    c->T = opt->seq_len;
    c->N = c->B * c->T;
    c->d = cfg->hidden_size;
    c->H = cfg->num_heads;
    c->KV = cfg->num_kv_heads;
    c->hd = model_head_dim(cfg);
    c->F = cfg->intermediate_size;
    c->V = cfg->vocab_size;
    c->L = cfg->num_layers;
    c->qkv_w = (c->H + 2 * c->KV) * c->hd;
    c->eps = cfg->rms_norm_eps;
    c->nparams = be->layout.num_params;
    c->layout = &be->layout;
    CudaOptShard whole = {0, c->nparams, c->nparams};
    c->shard = shard ? *shard : whole;
    if (c->shard.begin > c->shard.end || c->shard.end > c->nparams || c->shard.padded < c->nparams) {
        cuda_destroy(be);
        return kr_error("cuda backend: bad optimizer slice [%zu, %zu) of %zu parameters", c->shard.begin,
                        c->shard.end, be->layout.num_params);
    }
    c->act_size = c->mp ? 2 : 4;
    if (cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking) != cudaSuccess ||
        gemm_create(&c->gemm, c->stream) != 0 || allocate(c) != 0 || upload_rope_table(c, cfg) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", kr_last_error());
        cuda_destroy(be);
        return kr_error("%s", msg);
    }
    return 0;
}

static int cuda_create(Backend *be, const ModelConfig *cfg, const BackendOptions *opt) {
    return cuda_gpu_create(be, cfg, opt, NULL);
}

/* ---- parameters and optimizer state ---- */

static int cuda_set_params(Backend *be, const float *params) {
    CudaImpl *c = impl_of(be);
    /* stream-ordered: the bf16 copy converts the parameters just uploaded; one wait for both */
    CU_TRY(cudaMemcpyAsync(c->params, params, c->nparams * 4, cudaMemcpyHostToDevice, c->stream));
    if (c->mp) TRY(k_convert<bf16>(c->params, c->wbf, c->nparams, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));
    return 0;
}

static int cuda_get_params(Backend *be, float *params) {
    CudaImpl *c = impl_of(be);
    TRY(copy_sync(c, params, c->params, c->nparams * 4, cudaMemcpyDeviceToHost));
    return 0;
}

/* The optimizer state and gradients cross the boundary for this GPU's slice only, at the slice's
 * place in the full host arrays (the whole of them when the GPU holds the whole optimizer). */
static int cuda_set_opt_state(Backend *be, const float *m, const float *v) {
    CudaImpl *c = impl_of(be);
    size_t b = c->shard.begin;
    TRY(copy_sync(c, c->m, m + b, shard_len(c) * 4, cudaMemcpyHostToDevice));
    TRY(copy_sync(c, c->v, v + b, shard_len(c) * 4, cudaMemcpyHostToDevice));
    return 0;
}

static int cuda_get_opt_state(Backend *be, float *m, float *v) {
    CudaImpl *c = impl_of(be);
    size_t b = c->shard.begin;
    TRY(copy_sync(c, m + b, c->m, shard_len(c) * 4, cudaMemcpyDeviceToHost));
    TRY(copy_sync(c, v + b, c->v, shard_len(c) * 4, cudaMemcpyDeviceToHost));
    return 0;
}

static int cuda_zero_grad(Backend *be) {
    CudaImpl *c = impl_of(be);
    CU_TRY(cudaMemsetAsync(c->grads, 0, c->shard.padded * 4, c->stream));
    return 0;
}

static int cuda_get_grads(Backend *be, float *grads) {
    CudaImpl *c = impl_of(be);
    size_t b = c->shard.begin;
    TRY(copy_sync(c, grads + b, c->grads + b, shard_len(c) * 4, cudaMemcpyDeviceToHost));
    return 0;
}

extern "C" int cuda_gpu_grad_sumsq(Backend *be, float *sumsq) {
    CudaImpl *c = impl_of(be);
    TRY(k_sumsq(c->grads + c->shard.begin, shard_len(c), c->scalars, c->partial, c->stream));
    CU_TRY(cudaMemcpyAsync(sumsq, c->scalars, 4, cudaMemcpyDeviceToHost, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));
    return 0;
}

static int cuda_grad_norm(Backend *be, float *norm) {
    float ss;
    TRY(cuda_gpu_grad_sumsq(be, &ss));
    *norm = sqrtf(ss);
    return 0;
}

/* AdamW over this GPU's slice: one launch per run of tensors that share the weight-decay
 * decision, cut to the slice. */
static int cuda_adamw_step(Backend *be, const AdamWStep *s) {
    CudaImpl *c = impl_of(be);
    const ParamLayout *lay = c->layout;
    double bc1 = 1.0 - pow((double)s->beta1, s->step), bc2 = 1.0 - pow((double)s->beta2, s->step);
    int i = 0;
    while (i < lay->num_tensors) {
        int decay = s->decay_all || lay->tensors[i].kind == PARAM_MATRIX;
        size_t start = lay->tensors[i].offset, end = start + param_numel(&lay->tensors[i]);
        int j = i + 1;
        while (j < lay->num_tensors && (s->decay_all || lay->tensors[j].kind == PARAM_MATRIX) == decay) {
            end = lay->tensors[j].offset + param_numel(&lay->tensors[j]);
            j++;
        }
        i = j;
        start = start > c->shard.begin ? start : c->shard.begin;
        end = end < c->shard.end ? end : c->shard.end;
        if (start >= end) continue;
        size_t ms = start - c->shard.begin; /* the moments hold the slice only */
        TRY(k_adamw(c->params + start, c->grads + start, c->m + ms, c->v + ms, c->wbf ? c->wbf + start : NULL,
                    end - start, s->lr, s->beta1, s->beta2, s->eps, decay ? s->weight_decay : 0.f, (float)bc1,
                    (float)bc2, s->grad_scale, c->stream));
    }
    return 0;
}

extern "C" int cuda_gpu_params_gathered(Backend *be) {
    CudaImpl *c = impl_of(be);
    if (c->mp) TRY(k_convert<bf16>(c->params, c->wbf, c->nparams, c->stream));
    return 0;
}

static int64_t cuda_memory_in_use(Backend *be) { return (int64_t)(impl_of(be)->bytes + gemm_workspace_bytes()); }

/* ---- forward and backward ---- */

/* Uploads ids and targets and groups the rows by token for the embedding backward (a counting
 * sort on the host: the gradient sum per token then runs in a fixed order). */
static int upload_batch(CudaImpl *c, const int32_t *inputs, const int32_t *targets, int for_backward) {
    for (int i = 0; i < c->N; i++) {
        if (inputs[i] < 0 || inputs[i] >= c->V)
            return kr_error("token id %d at position %d is outside the vocabulary (0..%d)", inputs[i], i, c->V - 1);
        if (targets[i] < 0 || targets[i] >= c->V)
            return kr_error("target id %d at position %d is outside the vocabulary (0..%d)", targets[i], i, c->V - 1);
    }
    CU_TRY(cudaMemcpyAsync(c->ids, inputs, (size_t)c->N * 4, cudaMemcpyHostToDevice, c->stream));
    CU_TRY(cudaMemcpyAsync(c->tgts, targets, (size_t)c->N * 4, cudaMemcpyHostToDevice, c->stream));
    if (for_backward) {
        memset(c->h_count, 0, sizeof(int32_t) * ((size_t)c->V + 1));
        for (int i = 0; i < c->N; i++) c->h_count[inputs[i] + 1]++;
        int nseg = 0;
        for (int t = 0; t < c->V; t++) {
            if (c->h_count[t + 1]) {
                c->h_seg_token[nseg] = t;
                c->h_seg_start[nseg++] = c->h_count[t];
            }
            c->h_count[t + 1] += c->h_count[t];
        }
        c->h_seg_start[nseg] = c->N;
        for (int i = 0; i < c->N; i++) c->h_order[c->h_count[inputs[i]]++] = i;
        CU_TRY(cudaMemcpyAsync(c->order, c->h_order, (size_t)c->N * 4, cudaMemcpyHostToDevice, c->stream));
        CU_TRY(cudaMemcpyAsync(c->seg_start, c->h_seg_start, (size_t)(nseg + 1) * 4, cudaMemcpyHostToDevice, c->stream));
        CU_TRY(cudaMemcpyAsync(c->seg_token, c->h_seg_token, (size_t)nseg * 4, cudaMemcpyHostToDevice, c->stream));
        /* the host arrays are reused by the next call: wait for the copies */
        CU_TRY(cudaStreamSynchronize(c->stream));
        c->nseg = nseg;
    } else {
        CU_TRY(cudaStreamSynchronize(c->stream));
    }
    return 0;
}

template <typename T> static T *weights(CudaImpl *c) { return c->mp ? (T *)c->wbf : (T *)c->params; }

static AttnShape attn_shape(const CudaImpl *c) {
    AttnShape a = {c->B, c->T, c->H, c->KV, c->hd};
    return a;
}

/* Layer l from its normed input up to h2 and ab (what the backward needs). */
template <typename T> static int layer_attention_ffn_in(CudaImpl *c, int l) {
    LayerActs *a = &c->acts[l];
    T *W = weights<T>(c);
    cudaStream_t s = c->stream;
    int N = c->N, d = c->d;
    TRY(linear_fwd<T>(c->gemm, (T *)a->h1, W + tensor_off(c, l, T_WQ), (T *)a->qkv, N, d, c->qkv_w));
    TRY(k_rope<T>((T *)a->qkv, c->rope_cs, N, c->T, c->H, c->KV, c->hd, 0, s));
    TRY(k_attention_fwd<T>((T *)a->qkv, (T *)a->o, a->lse, attn_shape(c), s));
    /* the projection goes through `dout`, free here also when the backward recomputes (dact is busy then) */
    TRY(linear_fwd<T>(c->gemm, (T *)a->o, W + tensor_off(c, l, T_WO), (T *)c->dout, N, c->H * c->hd, d));
    TRY(k_rmsnorm_fwd<T>(c->x_in[l], (T *)c->dout, a->x_mid, c->params + tensor_off(c, l, T_NORM2), (T *)a->h2,
                         a->rstd2, N, d, c->eps, s));
    TRY(linear_fwd<T>(c->gemm, (T *)a->h2, W + tensor_off(c, l, T_W1), (T *)a->ab, N, d, 2 * c->F));
    return 0;
}

template <typename T> static int forward_t(CudaImpl *c) {
    cudaStream_t s = c->stream;
    int N = c->N, d = c->d;
    T *W = weights<T>(c);
    TRY(k_embedding_fwd(c->ids, c->params + emb_off(c), c->x_in[0], N, d, s));
    TRY(k_rmsnorm_fwd<T>(c->x_in[0], (const T *)NULL, c->x_in[0], c->params + tensor_off(c, 0, T_NORM1),
                         (T *)c->acts[0].h1, c->acts[0].rstd1, N, d, c->eps, s));
    for (int l = 0; l < c->L; l++) {
        LayerActs *a = &c->acts[l];
        TRY(layer_attention_ffn_in<T>(c, l));
        TRY(k_swiglu_fwd<T>((T *)a->ab, (T *)c->gbuf, N, c->F, s));
        TRY(linear_fwd<T>(c->gemm, (T *)c->gbuf, W + tensor_off(c, l, T_W2), (T *)c->dact, N, c->F, d));
        /* residual add fused with the next norm (the next layer's, or the final one) */
        int last = l == c->L - 1;
        const float *g = c->params + (last ? final_norm_off(c) : tensor_off(c, l + 1, T_NORM1));
        T *out = last ? (T *)c->hn : (T *)c->acts[l + 1].h1;
        float *rstd = last ? c->rstd_f : c->acts[l + 1].rstd1;
        TRY(k_rmsnorm_fwd<T>(a->x_mid, (T *)c->dact, c->x_in[l + 1], g, out, rstd, N, d, c->eps, s));
    }
    c->have_forward = 1;
    return 0;
}

/* Head and cross-entropy over chunks of rows; with grads, writes d(hn) into dact and
 * accumulates the head's weight gradient. Leaves the per-row losses in row_loss. */
template <typename T> static int head_loss_t(CudaImpl *c, float loss_scale, int want_grad) {
    T *W = weights<T>(c) + head_off(c);
    float *dW = c->grads + head_off(c);
    for (int r0 = 0; r0 < c->N; r0 += c->chunk_rows) {
        int rows = c->N - r0 < c->chunk_rows ? c->N - r0 : c->chunk_rows;
        const T *h = (const T *)c->hn + (size_t)r0 * c->d;
        TRY(linear_fwd<T>(c->gemm, h, W, (T *)c->logits, rows, c->d, c->V));
        TRY(k_cross_entropy<T>((T *)c->logits, c->tgts + r0, c->row_loss + r0, rows, c->V, loss_scale / c->N,
                               want_grad, c->stream));
        if (!want_grad) continue;
        TRY(linear_bwd_input<T>(c->gemm, (T *)c->logits, W, (T *)c->dact + (size_t)r0 * c->d, rows, c->d, c->V));
        TRY(linear_bwd_weight<T>(c->gemm, (T *)c->logits, h, dW, rows, c->d, c->V));
    }
    return 0;
}

template <typename T> static int backward_t(CudaImpl *c) {
    cudaStream_t s = c->stream;
    int N = c->N, d = c->d, F = c->F, hq = c->H * c->hd;
    T *W = weights<T>(c);
    float *G = c->grads;
    T *dact = (T *)c->dact;
    CU_TRY(cudaMemsetAsync(c->dres, 0, (size_t)N * d * 4, s));
    TRY(k_rmsnorm_bwd<T>(dact, c->x_in[c->L], c->rstd_f, c->params + final_norm_off(c), c->dres, dact,
                         G + final_norm_off(c), c->partial, N, d, s));
    for (int l = c->L - 1; l >= 0; l--) {
        LayerActs *a = &c->acts[l];
        if (c->recompute) {
            TRY(k_rmsnorm_fwd<T>(c->x_in[l], (const T *)NULL, c->x_in[l], c->params + tensor_off(c, l, T_NORM1),
                                 (T *)a->h1, a->rstd1, N, d, c->eps, s));
            TRY(layer_attention_ffn_in<T>(c, l));
        }
        /* feed-forward: out = W2 (silu(W1 h2) * W3 h2) */
        TRY(linear_bwd_input<T>(c->gemm, dact, W + tensor_off(c, l, T_W2), (T *)c->gbuf, N, F, d));
        /* in place: ab becomes d(ab), gbuf goes from dg to g (for w2's weight gradient) */
        T *dab = (T *)a->ab;
        TRY(k_swiglu_bwd<T>((T *)a->ab, (T *)c->gbuf, dab, N, F, s));
        TRY(linear_bwd_weight<T>(c->gemm, dact, (T *)c->gbuf, G + tensor_off(c, l, T_W2), N, F, d));
        TRY(linear_bwd_weight<T>(c->gemm, dab, (T *)a->h2, G + tensor_off(c, l, T_W1), N, d, 2 * F));
        TRY(linear_bwd_input<T>(c->gemm, dab, W + tensor_off(c, l, T_W1), dact, N, d, 2 * F));
        TRY(k_rmsnorm_bwd<T>(dact, a->x_mid, a->rstd2, c->params + tensor_off(c, l, T_NORM2), c->dres, dact,
                             G + tensor_off(c, l, T_NORM2), c->partial, N, d, s));
        /* attention */
        TRY(linear_bwd_weight<T>(c->gemm, dact, (T *)a->o, G + tensor_off(c, l, T_WO), N, hq, d));
        TRY(linear_bwd_input<T>(c->gemm, dact, W + tensor_off(c, l, T_WO), (T *)c->dout, N, hq, d));
        TRY(k_attention_bwd<T>((T *)a->qkv, (T *)a->o, (T *)c->dout, a->lse, c->dsum, (T *)c->dqkv, attn_shape(c), s));
        TRY(k_rope<T>((T *)c->dqkv, c->rope_cs, N, c->T, c->H, c->KV, c->hd, 1, s));
        TRY(linear_bwd_weight<T>(c->gemm, (T *)c->dqkv, (T *)a->h1, G + tensor_off(c, l, T_WQ), N, d, c->qkv_w));
        TRY(linear_bwd_input<T>(c->gemm, (T *)c->dqkv, W + tensor_off(c, l, T_WQ), dact, N, d, c->qkv_w));
        TRY(k_rmsnorm_bwd<T>(dact, c->x_in[l], a->rstd1, c->params + tensor_off(c, l, T_NORM1), c->dres, dact,
                             G + tensor_off(c, l, T_NORM1), c->partial, N, d, s));
    }
    TRY(k_embedding_bwd(c->order, c->seg_start, c->seg_token, c->nseg, c->dres, G + emb_off(c), d, s));
    return 0;
}

static int mean_loss(CudaImpl *c, float *loss) {
    TRY(k_sum(c->row_loss, (size_t)c->N, c->scalars, c->partial, c->stream));
    float sum;
    CU_TRY(cudaMemcpyAsync(&sum, c->scalars, 4, cudaMemcpyDeviceToHost, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));
    *loss = sum / c->N;
    return 0;
}

static int cuda_forward_backward(Backend *be, const int32_t *inputs, const int32_t *targets, float loss_scale,
                                 float *loss) {
    CudaImpl *c = impl_of(be);
    TRY(upload_batch(c, inputs, targets, 1));
    if (c->mp) {
        TRY(forward_t<bf16>(c));
        TRY(head_loss_t<bf16>(c, loss_scale, 1));
        TRY(backward_t<bf16>(c));
    } else {
        TRY(forward_t<float>(c));
        TRY(head_loss_t<float>(c, loss_scale, 1));
        TRY(backward_t<float>(c));
    }
    return mean_loss(c, loss);
}

static int cuda_forward_loss(Backend *be, const int32_t *inputs, const int32_t *targets, float *loss) {
    CudaImpl *c = impl_of(be);
    TRY(upload_batch(c, inputs, targets, 0));
    if (c->mp) {
        TRY(forward_t<bf16>(c));
        TRY(head_loss_t<bf16>(c, 0.f, 0));
    } else {
        TRY(forward_t<float>(c));
        TRY(head_loss_t<float>(c, 0.f, 0));
    }
    return mean_loss(c, loss);
}

/* Recomputes the logits of the last forward from the final hidden states, chunk by chunk. */
template <typename T> static int logits_t(CudaImpl *c, float *out) {
    T *W = weights<T>(c) + head_off(c);
    float *tmp = c->dres; /* free between steps; holds chunk_rows x V floats only when large enough */
    size_t cap = (size_t)c->N * c->d;
    for (int r0 = 0; r0 < c->N; r0 += c->chunk_rows) {
        int rows = c->N - r0 < c->chunk_rows ? c->N - r0 : c->chunk_rows;
        TRY(linear_fwd<T>(c->gemm, (const T *)c->hn + (size_t)r0 * c->d, W, (T *)c->logits, rows, c->d, c->V));
        for (size_t done = 0; done < (size_t)rows * c->V; done += cap) {
            size_t n = (size_t)rows * c->V - done < cap ? (size_t)rows * c->V - done : cap;
            TRY(k_to_float<T>((T *)c->logits + done, tmp, n, c->stream));
            CU_TRY(cudaMemcpyAsync(out + (size_t)r0 * c->V + done, tmp, n * 4, cudaMemcpyDeviceToHost, c->stream));
            CU_TRY(cudaStreamSynchronize(c->stream));
        }
    }
    return 0;
}

static int cuda_get_logits(Backend *be, float *logits) {
    CudaImpl *c = impl_of(be);
    if (!c->have_forward) return kr_error("cuda backend: no forward pass has run yet, so there are no logits");
    return c->mp ? logits_t<bf16>(c, logits) : logits_t<float>(c, logits);
}

extern "C" void cuda_gpu_buffers(Backend *be, float **params, float **grads, cudaStream_t *stream) {
    CudaImpl *c = impl_of(be);
    *params = c->params;
    *grads = c->grads;
    *stream = c->stream;
}

extern "C" const BackendOps cuda_gpu_ops = {
    "cuda",
    cuda_create,
    cuda_destroy,
    cuda_set_params,
    cuda_get_params,
    cuda_set_opt_state,
    cuda_get_opt_state,
    cuda_zero_grad,
    cuda_forward_backward,
    cuda_forward_loss,
    cuda_get_logits,
    cuda_get_grads,
    cuda_grad_norm,
    cuda_adamw_step,
    cuda_memory_in_use,
};
