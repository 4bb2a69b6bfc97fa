/* Elementwise and row-wise kernels: embedding, RMSNorm, RoPE, SwiGLU, conversions,
 * deterministic reductions and AdamW. */
#include "backend/cuda/kernels.cuh"

/* ---- embedding ---- */

__global__ void embedding_fwd_kernel(const int32_t *ids, const float *table, float *out, int N, int d) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)N * d) return;
    size_t r = i / d, j = i % d;
    out[i] = table[(size_t)ids[r] * d + j];
}

int k_embedding_fwd(const int32_t *ids, const float *table, float *out, int N, int d, cudaStream_t s) {
    embedding_fwd_kernel<<<cdiv((size_t)N * d, 256), 256, 0, s>>>(ids, table, out, N, d);
    CU_LAUNCHED();
    return 0;
}

/* One block per distinct token: sums its rows in a fixed order (no atomics, reproducible). */
__global__ void embedding_bwd_kernel(const int32_t *order, const int32_t *seg_start, const int32_t *seg_token,
                                     const float *dx, float *grad, int d) {
    int seg = blockIdx.x;
    int a = seg_start[seg], b = seg_start[seg + 1];
    float *row = grad + (size_t)seg_token[seg] * d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float acc = 0.f;
        for (int k = a; k < b; k++) acc += dx[(size_t)order[k] * d + j];
        row[j] += acc;
    }
}

int k_embedding_bwd(const int32_t *order, const int32_t *seg_start, const int32_t *seg_token, int nseg,
                    const float *dx, float *grad, int d, cudaStream_t s) {
    if (nseg == 0) return 0;
    embedding_bwd_kernel<<<nseg, 256, 0, s>>>(order, seg_start, seg_token, dx, grad, d);
    CU_LAUNCHED();
    return 0;
}

/* ---- RMSNorm: one warp per row ---- */

template <typename T>
__global__ void rmsnorm_fwd_kernel(const float *x, const T *y, float *xout, const float *g, T *out, float *rstd,
                                   int N, int d, float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *xr = x + (size_t)row * d;
    float *xo = xout + (size_t)row * d;
    float ss = 0.f;
    for (int j = lane; j < d; j += 32) {
        float v = xr[j];
        if (y) v += to_f(y[(size_t)row * d + j]);
        xo[j] = v;
        ss += v * v;
    }
    ss = warp_sum(ss);
    float r = rsqrtf(ss / d + eps);
    if (lane == 0) rstd[row] = r;
    T *orow = out + (size_t)row * d;
    for (int j = lane; j < d; j += 32) orow[j] = from_f<T>(xo[j] * r * g[j]);
}

template <typename T>
int k_rmsnorm_fwd(const float *x, const T *y, float *xout, const float *g, T *out, float *rstd, int N, int d,
                  float eps, cudaStream_t s) {
    rmsnorm_fwd_kernel<T><<<cdiv(N, 8), 256, 0, s>>>(x, y, xout, g, out, rstd, N, d, eps);
    CU_LAUNCHED();
    return 0;
}

template <typename T>
__global__ void rmsnorm_bwd_kernel(const T *dout, const float *x, const float *rstd, const float *g, float *dx,
                                   T *dx_act, int N, int d) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const T *dr = dout + (size_t)row * d;
    const float *xr = x + (size_t)row * d;
    float dot = 0.f;
    for (int j = lane; j < d; j += 32) dot += to_f(dr[j]) * g[j] * xr[j];
    dot = warp_sum(dot);
    float r = rstd[row], c = r * r * r * dot / d;
    float *dxr = dx + (size_t)row * d;
    for (int j = lane; j < d; j += 32) {
        float v = dxr[j] + r * to_f(dr[j]) * g[j] - xr[j] * c;
        dxr[j] = v;
        if (dx_act) dx_act[(size_t)row * d + j] = from_f<T>(v);
    }
}

#define NORM_CHUNKS 64
int rmsnorm_partial_floats(int N, int d) {
    (void)N;
    return NORM_CHUNKS * d;
}

/* partial[c, j] = sum over the rows of chunk c of dout * x * rstd (column-wise, coalesced). */
template <typename T>
__global__ void rmsnorm_gain_partial_kernel(const T *dout, const float *x, const float *rstd, float *partial, int N,
                                            int d, int rows_per_chunk) {
    int j = blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;
    if (j >= d) return;
    int r0 = c * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    float acc = 0.f;
    for (int r = r0; r < r1; r++) acc += to_f(dout[(size_t)r * d + j]) * x[(size_t)r * d + j] * rstd[r];
    partial[(size_t)c * d + j] = acc;
}

__global__ void sum_chunks_kernel(const float *partial, float *dg, int d, int nchunks) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    float acc = 0.f;
    for (int c = 0; c < nchunks; c++) acc += partial[(size_t)c * d + j];
    dg[j] += acc;
}

template <typename T>
int k_rmsnorm_bwd(const T *dout, const float *x, const float *rstd, const float *g, float *dx, T *dx_act, float *dg,
                  float *partial, int N, int d, cudaStream_t s) {
    int rows_per_chunk = (N + NORM_CHUNKS - 1) / NORM_CHUNKS;
    int nchunks = (N + rows_per_chunk - 1) / rows_per_chunk;
    dim3 grid(cdiv(d, 128), nchunks);
    rmsnorm_gain_partial_kernel<T><<<grid, 128, 0, s>>>(dout, x, rstd, partial, N, d, rows_per_chunk);
    CU_LAUNCHED();
    sum_chunks_kernel<<<cdiv(d, 128), 128, 0, s>>>(partial, dg, d, nchunks);
    CU_LAUNCHED();
    rmsnorm_bwd_kernel<T><<<cdiv(N, 8), 256, 0, s>>>(dout, x, rstd, g, dx, dx_act, N, d);
    CU_LAUNCHED();
    return 0;
}

/* ---- RoPE on interleaved pairs ---- */

template <typename T>
__global__ void rope_kernel(T *qkv, const float2 *cs, int N, int seq, int heads, int stride, int hd, int inverse) {
    int half = hd / 2;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)N * heads * half) return;
    int p = i % half;
    size_t rh = i / half;
    int h = rh % heads;
    size_t row = rh / heads;
    float2 c = cs[(row % seq) * half + p];
    float sn = inverse ? -c.y : c.y;
    T *x = qkv + row * stride + (size_t)h * hd + 2 * p;
    float x0 = to_f(x[0]), x1 = to_f(x[1]);
    x[0] = from_f<T>(x0 * c.x - x1 * sn);
    x[1] = from_f<T>(x0 * sn + x1 * c.x);
}

template <typename T>
int k_rope(T *qkv, const float2 *cs, int N, int seq, int H, int KV, int hd, int inverse, cudaStream_t s) {
    int heads = H + KV; /* q heads then k heads are adjacent in each row */
    rope_kernel<T><<<cdiv((size_t)N * heads * (hd / 2), 256), 256, 0, s>>>(qkv, cs, N, seq, heads, (H + 2 * KV) * hd,
                                                                          hd, inverse);
    CU_LAUNCHED();
    return 0;
}

/* ---- SwiGLU ---- */

template <typename T> __global__ void swiglu_fwd_kernel(const T *ab, T *g, int N, int F) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)N * F) return;
    size_t r = i / F, j = i % F;
    float a = to_f(ab[r * 2 * F + j]), b = to_f(ab[r * 2 * F + F + j]);
    g[i] = from_f<T>(a / (1.f + expf(-a)) * b);
}

template <typename T> __global__ void swiglu_bwd_kernel(const T *ab, const T *dg, T *dab, int N, int F) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)N * F) return;
    size_t r = i / F, j = i % F;
    float a = to_f(ab[r * 2 * F + j]), b = to_f(ab[r * 2 * F + F + j]), d = to_f(dg[i]);
    float sig = 1.f / (1.f + expf(-a)), silu = a * sig;
    dab[r * 2 * F + j] = from_f<T>(d * b * sig * (1.f + a * (1.f - sig)));
    dab[r * 2 * F + F + j] = from_f<T>(d * silu);
}

template <typename T> int k_swiglu_fwd(const T *ab, T *g, int N, int F, cudaStream_t s) {
    swiglu_fwd_kernel<T><<<cdiv((size_t)N * F, 256), 256, 0, s>>>(ab, g, N, F);
    CU_LAUNCHED();
    return 0;
}
template <typename T> int k_swiglu_bwd(const T *ab, const T *dg, T *dab, int N, int F, cudaStream_t s) {
    swiglu_bwd_kernel<T><<<cdiv((size_t)N * F, 256), 256, 0, s>>>(ab, dg, dab, N, F);
    CU_LAUNCHED();
    return 0;
}

/* ---- conversions ---- */

template <typename T> __global__ void convert_kernel(const float *in, T *out, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = from_f<T>(in[i]);
}
template <typename T> __global__ void to_float_kernel(const T *in, float *out, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = to_f(in[i]);
}
template <typename T> int k_convert(const float *in, T *out, size_t n, cudaStream_t s) {
    if (n == 0) return 0;
    convert_kernel<T><<<min(cdiv(n, 256), 65535u), 256, 0, s>>>(in, out, n);
    CU_LAUNCHED();
    return 0;
}
template <typename T> int k_to_float(const T *in, float *out, size_t n, cudaStream_t s) {
    if (n == 0) return 0;
    to_float_kernel<T><<<min(cdiv(n, 256), 65535u), 256, 0, s>>>(in, out, n);
    CU_LAUNCHED();
    return 0;
}

/* ---- deterministic reductions: a fixed grid, fixed per-thread order, then a tree ---- */

__global__ void partial_sum_kernel(const float *x, size_t n, float *partial, int square) {
    __shared__ float scratch[32];
    float acc = 0.f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc += square ? x[i] * x[i] : x[i];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

static int reduce(const float *x, size_t n, float *out, float *partial, int square, cudaStream_t s) {
    partial_sum_kernel<<<REDUCE_BLOCKS, 256, 0, s>>>(x, n, partial, square);
    CU_LAUNCHED();
    partial_sum_kernel<<<1, 1024, 0, s>>>(partial, REDUCE_BLOCKS, out, 0);
    CU_LAUNCHED();
    return 0;
}
int k_sum(const float *x, size_t n, float *out, float *partial, cudaStream_t s) { return reduce(x, n, out, partial, 0, s); }
int k_sumsq(const float *x, size_t n, float *out, float *partial, cudaStream_t s) {
    return reduce(x, n, out, partial, 1, s);
}

/* ---- AdamW (decoupled weight decay, bias-corrected as torch.optim.AdamW) ---- */

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, bf16 *wbf, size_t n, float lr, float b1,
                             float b2, float eps, float wd, float step_size, float bc2_sqrt, float grad_scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gi = g[i] * grad_scale;
        float mi = b1 * m[i] + (1.f - b1) * gi;
        float vi = b2 * v[i] + (1.f - b2) * gi * gi;
        float pi = p[i] * (1.f - lr * wd);
        pi -= step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
        if (wbf) wbf[i] = __float2bfloat16(pi);
    }
}

int k_adamw(float *p, const float *g, float *m, float *v, bf16 *wbf, size_t n, float lr, float b1, float b2,
            float eps, float wd, float bc1, float bc2, float grad_scale, cudaStream_t s) {
    if (n == 0) return 0;
    adamw_kernel<<<min(cdiv(n, 256), 8192u), 256, 0, s>>>(p, g, m, v, wbf, n, lr, b1, b2, eps, wd, lr / bc1,
                                                          sqrtf(bc2), grad_scale);
    CU_LAUNCHED();
    return 0;
}

#define INSTANTIATE(T)                                                                                             \
    template int k_rmsnorm_fwd<T>(const float *, const T *, float *, const float *, T *, float *, int, int, float,  \
                                  cudaStream_t);                                                                   \
    template int k_rmsnorm_bwd<T>(const T *, const float *, const float *, const float *, float *, T *, float *,    \
                                  float *, int, int, cudaStream_t);                                                \
    template int k_rope<T>(T *, const float2 *, int, int, int, int, int, int, cudaStream_t);                       \
    template int k_swiglu_fwd<T>(const T *, T *, int, int, cudaStream_t);                                          \
    template int k_swiglu_bwd<T>(const T *, const T *, T *, int, int, cudaStream_t);                               \
    template int k_convert<T>(const float *, T *, size_t, cudaStream_t);                                           \
    template int k_to_float<T>(const T *, float *, size_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
