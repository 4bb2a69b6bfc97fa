/* Launchers of the CUDA backend's kernels. T is the activation type: float (fp32 mode) or
 * bf16 (mixed precision). Rows are tokens (N = batch x seq); every matrix is row-major.
 * The residual stream, its gradient, norm statistics and all reductions stay in fp32.
 * Every reduction runs in a fixed order, so two runs over the same inputs agree bit for bit. */
#ifndef KR_CUDA_KERNELS_CUH
#define KR_CUDA_KERNELS_CUH

#include "backend/cuda/cuda_common.cuh"

/* out[r,:] = table[ids[r],:] */
int k_embedding_fwd(const int32_t *ids, const float *table, float *out, int N, int d, cudaStream_t s);
/* grad[tok,:] += sum of dx over the rows holding tok; rows come grouped by token:
 * rows order[seg_start[i] .. seg_start[i+1]) hold token seg_token[i]. */
int k_embedding_bwd(const int32_t *order, const int32_t *seg_start, const int32_t *seg_token, int nseg,
                    const float *dx, float *grad, int d, cudaStream_t s);

/* xout = x + y (y may be NULL: xout = x, and xout may alias x); out = xout * rstd * g. */
template <typename T>
int k_rmsnorm_fwd(const float *x, const T *y, float *xout, const float *g, T *out, float *rstd, int N, int d,
                  float eps, cudaStream_t s);
/* dx += rmsnorm'(dout) (the residual gradient), dx_act = dx as T (may be NULL);
 * dg += sum over rows of dout * x * rstd (via `partial`, nchunks x d floats). */
template <typename T>
int k_rmsnorm_bwd(const T *dout, const float *x, const float *rstd, const float *g, float *dx, T *dx_act, float *dg,
                  float *partial, int N, int d, cudaStream_t s);
int rmsnorm_partial_floats(int N, int d);

/* Rotates interleaved pairs of the q and k heads in the fused [N, (H+2KV)*hd] buffer in place;
 * inverse = 1 rotates back (the backward pass). cs: [seq, hd/2] cos and sin pairs. */
template <typename T>
int k_rope(T *qkv, const float2 *cs, int N, int seq, int H, int KV, int hd, int inverse, cudaStream_t s);

/* g = silu(a) * b with ab rows [a | b] of width 2F. The backward writes dab from ab and dg,
 * then replaces dg by g (the backward needs g again and this pass reads ab anyway). */
template <typename T> int k_swiglu_fwd(const T *ab, T *g, int N, int F, cudaStream_t s);
template <typename T> int k_swiglu_bwd(const T *ab, T *dg, T *dab, int N, int F, cudaStream_t s);

/* Logit rows the trainer's head + cross-entropy handle at once (bounds that buffer's size). */
#define LOGIT_CHUNK_BYTES (256u << 20)
/* Cross-entropy of `rows` rows of logits against targets; loss[r] per row. With want_grad the
 * logits are replaced by grad_scale * (softmax - onehot). */
template <typename T>
int k_cross_entropy(T *logits, const int32_t *targets, float *loss, int rows, int V, float grad_scale, int want_grad,
                    cudaStream_t s);

template <typename T> int k_convert(const float *in, T *out, size_t n, cudaStream_t s);
template <typename T> int k_to_float(const T *in, float *out, size_t n, cudaStream_t s);

/* cudaSuccess when this build has code that runs on the current GPU (else, typically,
 * cudaErrorNoKernelImageForDevice). */
cudaError_t k_code_status(void);

/* out[0] = sum of x[0..n) (deterministic). */
int k_sum(const float *x, size_t n, float *out, float *partial, cudaStream_t s);
/* out[0] = sum of x^2 (deterministic); partial holds REDUCE_BLOCKS floats. */
int k_sumsq(const float *x, size_t n, float *out, float *partial, cudaStream_t s);
#define REDUCE_BLOCKS 1024

/* One AdamW step over params[0..n); writes the bf16 copy when wbf is non-NULL. */
int k_adamw(float *p, const float *g, float *m, float *v, bf16 *wbf, size_t n, float lr, float b1, float b2,
            float eps, float wd, float bc1, float bc2, float grad_scale, cudaStream_t s);

/* Causal grouped-query attention over the fused qkv rows (stride (H+2KV)*hd):
 * o [N, H*hd], lse [N, H]. Backward writes dq, dk, dv into dqkv (same layout as qkv);
 * dsum [N, H] is scratch. */
typedef struct {
    int B, T, H, KV, hd;
} AttnShape;
template <typename T> int k_attention_fwd(const T *qkv, T *o, float *lse, AttnShape a, cudaStream_t s);
template <typename T>
int k_attention_bwd(const T *qkv, const T *o, const T *dout, const float *lse, float *dsum, T *dqkv, AttnShape a,
                    cudaStream_t s);
/* Head-size-64 flash attention on the warp-level mma.sync tensor-core instructions (sm_80 and
 * later): the dispatch uses them on GPUs without wgmma code, the Hopper wgmma kernels are checked
 * and timed against them, and KRLLM_FLASH_KERNELS=mma makes the dispatch use them everywhere. */
int k_flash_fwd_mma(const bf16 *qkv, bf16 *o, float *lse, AttnShape a, cudaStream_t s);
int k_flash_bwd_mma(const bf16 *qkv, const bf16 *o, const bf16 *dout, const float *lse, float *dsum, bf16 *dqkv,
                    AttnShape a, cudaStream_t s);
/* Whether the code loaded for the current GPU has the Hopper wgmma flash kernels (built for
 * sm_90a and running on one), which the dispatch then uses. */
int flash_wgmma_available(bool *yes);
/* The portable kernels (any head size up to 256, fp32 arithmetic); the checks compare the fast path with them. */
template <typename T> int k_attention_fwd_simple(const T *qkv, T *o, float *lse, AttnShape a, cudaStream_t s);
/* dsum[row, h] = dot(dout, o) over the head: the softmax backward's row term. */
template <typename T> int attention_dsum(const T *o, const T *dout, float *dsum, AttnShape a, cudaStream_t s);
template <typename T>
int k_attention_bwd_simple(const T *qkv, const T *o, const T *dout, const float *lse, float *dsum, T *dqkv,
                           AttnShape a, cudaStream_t s);

#endif
