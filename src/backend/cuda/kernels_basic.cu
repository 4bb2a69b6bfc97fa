/* Elementwise and row-wise kernels: embedding, RMSNorm, RoPE, SwiGLU, conversions,
 * deterministic reductions and AdamW. */
#include "backend/cuda/kernels.cuh"

/* 16 bytes of T: one vector load or store. */
template <typename T> struct alignas(16) Vec16 {
    T v[16 / sizeof(T)];
};


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

/* The same with the row held in registers and 16-byte accesses (d % 4 == 0, d <= 32 * 4 * RN_MAXV). */
#define RN_MAXV 12
template <typename T> struct alignas(4 * sizeof(T)) Vec4 {
    T v[4];
};

template <typename T>
__global__ void rmsnorm_fwd_vec_kernel(const float *x, const T *y, float *xout, const float *g, T *out, float *rstd,
                                       int N, int d, float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31, nv = d / 4;
    if (row >= N) return;
    const float4 *xr = (const float4 *)(x + (size_t)row * d);
    const Vec4<T> *yr = (const Vec4<T> *)(y + (size_t)row * d);
    float4 *xo = (float4 *)(xout + (size_t)row * d);
    float4 xv[RN_MAXV];
    float ss = 0.f;
#pragma unroll
    for (int k = 0; k < RN_MAXV; k++) {
        int j = lane + 32 * k;
        if (j < nv) {
            float4 v = xr[j];
            if (y) {
                Vec4<T> a = yr[j];
                v.x += to_f(a.v[0]), v.y += to_f(a.v[1]), v.z += to_f(a.v[2]), v.w += to_f(a.v[3]);
            }
            xo[j] = v;
            xv[k] = v;
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    }
    ss = warp_sum(ss);
    float r = rsqrtf(ss / d + eps);
    if (lane == 0) rstd[row] = r;
    Vec4<T> *orow = (Vec4<T> *)(out + (size_t)row * d);
#pragma unroll
    for (int k = 0; k < RN_MAXV; k++) {
        int j = lane + 32 * k;
        if (j < nv) {
            float4 gv = ((const float4 *)g)[j];
            Vec4<T> o;
            o.v[0] = from_f<T>(xv[k].x * r * gv.x);
            o.v[1] = from_f<T>(xv[k].y * r * gv.y);
            o.v[2] = from_f<T>(xv[k].z * r * gv.z);
            o.v[3] = from_f<T>(xv[k].w * r * gv.w);
            orow[j] = o;
        }
    }
}

static bool rmsnorm_vec_ok(int d) { return d % 4 == 0 && d <= 32 * 4 * RN_MAXV; }

template <typename T>
int k_rmsnorm_fwd(const float *x, const T *y, float *xout, const float *g, T *out, float *rstd, int N, int d,
                  float eps, cudaStream_t s) {
    if (rmsnorm_vec_ok(d)) rmsnorm_fwd_vec_kernel<T><<<cdiv(N, 4), 128, 0, s>>>(x, y, xout, g, out, rstd, N, d, eps);
    else rmsnorm_fwd_kernel<T><<<cdiv(N, 8), 256, 0, s>>>(x, y, xout, g, out, rstd, N, d, eps);
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

template <typename T>
__global__ void rmsnorm_bwd_vec_kernel(const T *dout, const float *x, const float *rstd, const float *g, float *dx,
                                       T *dx_act, int N, int d) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31, nv = d / 4;
    if (row >= N) return;
    const Vec4<T> *dr = (const Vec4<T> *)(dout + (size_t)row * d);
    const float4 *xr = (const float4 *)(x + (size_t)row * d), *gr = (const float4 *)g;
    float4 u[RN_MAXV], xv[RN_MAXV]; /* u = dout * g */
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < RN_MAXV; k++) {
        int j = lane + 32 * k;
        if (j < nv) {
            Vec4<T> a = dr[j];
            float4 gv = gr[j], xx = xr[j];
            u[k] = make_float4(to_f(a.v[0]) * gv.x, to_f(a.v[1]) * gv.y, to_f(a.v[2]) * gv.z, to_f(a.v[3]) * gv.w);
            xv[k] = xx;
            dot += u[k].x * xx.x + u[k].y * xx.y + u[k].z * xx.z + u[k].w * xx.w;
        }
    }
    dot = warp_sum(dot);
    float r = rstd[row], c = r * r * r * dot / d;
    float4 *dxr = (float4 *)(dx + (size_t)row * d);
    Vec4<T> *dar = (Vec4<T> *)(dx_act + (size_t)row * d);
#pragma unroll
    for (int k = 0; k < RN_MAXV; k++) {
        int j = lane + 32 * k;
        if (j < nv) {
            float4 v = dxr[j];
            v.x += r * u[k].x - xv[k].x * c;
            v.y += r * u[k].y - xv[k].y * c;
            v.z += r * u[k].z - xv[k].z * c;
            v.w += r * u[k].w - xv[k].w * c;
            dxr[j] = v;
            if (dx_act) {
                Vec4<T> o;
                o.v[0] = from_f<T>(v.x), o.v[1] = from_f<T>(v.y), o.v[2] = from_f<T>(v.z), o.v[3] = from_f<T>(v.w);
                dar[j] = o;
            }
        }
    }
}

#define NORM_CHUNKS 256
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

/* The whole backward for d = 128 * NV in one pass over the rows: a block owns a chunk of rows
 * (a warp per row at a time) and each lane the same 4 * NV columns of every row, so the gain
 * gradient's column sums for the chunk build up in registers and leave as partial[chunk, :] after
 * one reduction over the block's warps (in a fixed order: results are reproducible). */
#define RN_BWD_WARPS 8
template <typename T, int NV>
__global__ void __launch_bounds__(32 * RN_BWD_WARPS, NV <= 8 ? 2 : 1) rmsnorm_bwd_chunk_kernel(const T *dout, const float *x,
                                                                             const float *rstd, const float *g,
                                                                             float *dx, T *dx_act, float *partial,
                                                                             int N, int rows_per_chunk) {
    constexpr int d = 128 * NV;
    __shared__ float4 red[RN_BWD_WARPS][32];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int r0 = blockIdx.x * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    const float4 *gr = (const float4 *)g;
    float4 gacc[NV];
#pragma unroll
    for (int k = 0; k < NV; k++) gacc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int row = r0 + warp; row < r1; row += RN_BWD_WARPS) {
        const Vec4<T> *dr = (const Vec4<T> *)(dout + (size_t)row * d);
        const float4 *xr = (const float4 *)(x + (size_t)row * d);
        float4 *dxr = (float4 *)(dx + (size_t)row * d);
        float r = rstd[row], dot = 0.f;
        /* the residual gradient is loaded with the rest, not after the row's reduction; x is
         * read again after it (from L1) rather than held, to keep two blocks per SM */
        Vec4<T> a[NV];
        float4 acc[NV];
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int j = lane + 32 * k;
            a[k] = dr[j];
            acc[k] = dxr[j];
            float4 xv = xr[j], gv = gr[j];
            float a0 = to_f(a[k].v[0]), a1 = to_f(a[k].v[1]), a2 = to_f(a[k].v[2]), a3 = to_f(a[k].v[3]);
            dot += a0 * gv.x * xv.x + a1 * gv.y * xv.y + a2 * gv.z * xv.z + a3 * gv.w * xv.w;
            gacc[k].x += a0 * xv.x * r;
            gacc[k].y += a1 * xv.y * r;
            gacc[k].z += a2 * xv.z * r;
            gacc[k].w += a3 * xv.w * r;
        }
        dot = warp_sum(dot);
        float c = r * r * r * dot / d;
        Vec4<T> *dar = (Vec4<T> *)(dx_act + (size_t)row * d);
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int j = lane + 32 * k;
            float4 v = acc[k], gv = gr[j], xv = xr[j];
            v.x += r * to_f(a[k].v[0]) * gv.x - xv.x * c;
            v.y += r * to_f(a[k].v[1]) * gv.y - xv.y * c;
            v.z += r * to_f(a[k].v[2]) * gv.z - xv.z * c;
            v.w += r * to_f(a[k].v[3]) * gv.w - xv.w * c;
            dxr[j] = v;
            if (dx_act) {
                Vec4<T> o;
                o.v[0] = from_f<T>(v.x), o.v[1] = from_f<T>(v.y), o.v[2] = from_f<T>(v.z), o.v[3] = from_f<T>(v.w);
                dar[j] = o;
            }
        }
    }
    float4 *out = (float4 *)(partial + (size_t)blockIdx.x * d);
#pragma unroll
    for (int k = 0; k < NV; k++) {
        red[warp][lane] = gacc[k];
        __syncthreads();
        if (warp == 0) {
            float4 t = red[0][lane];
            for (int w = 1; w < RN_BWD_WARPS; w++) {
                float4 u = red[w][lane];
                t.x += u.x, t.y += u.y, t.z += u.z, t.w += u.w;
            }
            out[lane + 32 * k] = t;
        }
        __syncthreads();
    }
}

/* dg[j] += the sum over chunks of partial[c, j]. A block takes 32 columns; each of its warps sums
 * every SUM_SPLIT-th chunk in order, then the first warp adds the warps' sums in order (so the
 * result is reproducible), keeping 8 loads per thread in flight instead of one chain of them. */
#define SUM_SPLIT 8
__global__ void __launch_bounds__(32 * SUM_SPLIT) sum_chunks_kernel(const float *partial, float *dg, int d, int nchunks) {
    __shared__ float part[SUM_SPLIT][32];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, j = blockIdx.x * 32 + lane;
    float acc = 0.f;
    if (j < d)
        for (int c = w; c < nchunks; c += SUM_SPLIT) acc += partial[(size_t)c * d + j];
    part[w][lane] = acc;
    __syncthreads();
    if (w == 0 && j < d) {
        float t = 0.f;
        for (int k = 0; k < SUM_SPLIT; k++) t += part[k][lane];
        dg[j] += t;
    }
}

template <typename T>
static int rmsnorm_bwd_chunked(const T *dout, const float *x, const float *rstd, const float *g, float *dx, T *dx_act,
                               float *partial, int N, int d, int rows_per_chunk, int nchunks, cudaStream_t s) {
#define RN_BWD_CASE(NV)                                                                                               \
    case NV:                                                                                                         \
        rmsnorm_bwd_chunk_kernel<T, NV><<<nchunks, 32 * RN_BWD_WARPS, 0, s>>>(dout, x, rstd, g, dx, dx_act, partial, \
                                                                              N, rows_per_chunk);                   \
        break;
    switch (d % 128 ? 0 : d / 128) {
        RN_BWD_CASE(1)
        RN_BWD_CASE(2)
        RN_BWD_CASE(4)
        RN_BWD_CASE(6)
        RN_BWD_CASE(8)
        RN_BWD_CASE(12)
        RN_BWD_CASE(16)
    default:
        return 1; /* no specialisation: the caller takes the general path */
    }
#undef RN_BWD_CASE
    return 0;
}

template <typename T>
int k_rmsnorm_bwd(const T *dout, const float *x, const float *rstd, const float *g, float *dx, T *dx_act, float *dg,
                  float *partial, int N, int d, cudaStream_t s) {
    int rows_per_chunk = (N + NORM_CHUNKS - 1) / NORM_CHUNKS;
    int nchunks = (N + rows_per_chunk - 1) / rows_per_chunk;
    if (rmsnorm_bwd_chunked<T>(dout, x, rstd, g, dx, dx_act, partial, N, d, rows_per_chunk, nchunks, s) == 0) {
        CU_LAUNCHED();
    } else {
        /* general d: gain partials over the row chunks first, since the backward may overwrite
         * dout (dx_act == dout) */
        dim3 grid(cdiv(d, 128), nchunks);
        rmsnorm_gain_partial_kernel<T><<<grid, 128, 0, s>>>(dout, x, rstd, partial, N, d, rows_per_chunk);
        CU_LAUNCHED();
        if (rmsnorm_vec_ok(d)) rmsnorm_bwd_vec_kernel<T><<<cdiv(N, 4), 128, 0, s>>>(dout, x, rstd, g, dx, dx_act, N, d);
        else rmsnorm_bwd_kernel<T><<<cdiv(N, 8), 256, 0, s>>>(dout, x, rstd, g, dx, dx_act, N, d);
        CU_LAUNCHED();
    }
    sum_chunks_kernel<<<cdiv(d, 32), 32 * SUM_SPLIT, 0, s>>>(partial, dg, d, nchunks);
    CU_LAUNCHED();
    return 0;
}

/* ---- RoPE on interleaved pairs ---- */

/* Each thread rotates P consecutive pairs (16 bytes when P = 8 / sizeof(T)). Index arithmetic is
 * 32-bit: the caller checks that the thread count fits, and 64-bit divisions would cost more
 * instructions than the 16 bytes each thread moves. */
template <typename T, int P>
__global__ void rope_kernel(T *qkv, const float2 *cs, int N, int seq, int heads, int stride, int hd, int inverse) {
    unsigned half = hd / 2, groups = half / P, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned)N * heads * groups) return;
    unsigned p0 = i % groups * P, rh = i / groups, h = rh % heads, row = rh / heads;
    const float2 *c = cs + (row % seq) * half + p0;
    T *x = qkv + (size_t)row * stride + h * hd + 2 * p0;
    T v[2 * P];
    if constexpr (2 * P * sizeof(T) == 16) *(Vec16<T> *)v = *(const Vec16<T> *)x;
    else
        for (int k = 0; k < 2 * P; k++) v[k] = x[k];
#pragma unroll
    for (int k = 0; k < P; k++) {
        float2 cc = c[k];
        float sn = inverse ? -cc.y : cc.y, x0 = to_f(v[2 * k]), x1 = to_f(v[2 * k + 1]);
        v[2 * k] = from_f<T>(x0 * cc.x - x1 * sn);
        v[2 * k + 1] = from_f<T>(x0 * sn + x1 * cc.x);
    }
    if constexpr (2 * P * sizeof(T) == 16) *(Vec16<T> *)x = *(Vec16<T> *)v;
    else
        for (int k = 0; k < 2 * P; k++) x[k] = v[k];
}

template <typename T>
int k_rope(T *qkv, const float2 *cs, int N, int seq, int H, int KV, int hd, int inverse, cudaStream_t s) {
    int heads = H + KV, stride = (H + 2 * KV) * hd; /* q heads then k heads are adjacent in each row */
    constexpr int P = 8 / sizeof(T);
    if ((size_t)N * heads * (hd / 2) >= (1ull << 32))
        return kr_error("rope: %d rows of %d heads exceed the kernel's 32-bit indexing; use a smaller batch", N, heads);
    if ((hd / 2) % P == 0)
        rope_kernel<T, P><<<cdiv((size_t)N * heads * (hd / 2) / P, 256), 256, 0, s>>>(qkv, cs, N, seq, heads, stride, hd, inverse);
    else
        rope_kernel<T, 1><<<cdiv((size_t)N * heads * (hd / 2), 256), 256, 0, s>>>(qkv, cs, N, seq, heads, stride, hd, inverse);
    CU_LAUNCHED();
    return 0;
}

/* ---- SwiGLU: 16-byte vectors when the width allows (every real config), scalars otherwise ---- */

__device__ __forceinline__ float silu_f(float a) { return a / (1.f + __expf(-a)); }

template <typename T, int W> __global__ void swiglu_fwd_kernel(const T *ab, T *g, int N, int F) {
    unsigned per_row = F / W, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned)N * per_row) return;
    unsigned r = i / per_row, j = (i % per_row) * W;
    const T *pa = ab + (size_t)r * 2 * F + j, *pb = pa + F;
    T out[W];
    if constexpr (W > 1) {
        Vec16<T> va = *(const Vec16<T> *)pa, vb = *(const Vec16<T> *)pb;
#pragma unroll
        for (int k = 0; k < W; k++) out[k] = from_f<T>(silu_f(to_f(va.v[k])) * to_f(vb.v[k]));
        *(Vec16<T> *)(g + (size_t)r * F + j) = *(Vec16<T> *)out;
    } else {
        g[(size_t)r * F + j] = from_f<T>(silu_f(to_f(pa[0])) * to_f(pb[0]));
    }
}

/* da, db of g = silu(a) * b for upstream gradient d; also returns g itself. */
template <typename T> __device__ __forceinline__ T swiglu_grad(float a, float b, float d, T *da, T *db) {
    float sig = 1.f / (1.f + __expf(-a)), silu = a * sig;
    *da = from_f<T>(d * b * sig * (1.f + a * (1.f - sig)));
    *db = from_f<T>(d * silu);
    return from_f<T>(silu * b);
}

/* dab from ab and dg; dg is then overwritten with g = silu(a) * b, which the weight gradient of
 * w2 needs (one pass over ab instead of a separate recompute). */
template <typename T, int W> __global__ void swiglu_bwd_kernel(const T *ab, T *dg, T *dab, int N, int F) {
    unsigned per_row = F / W, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned)N * per_row) return;
    unsigned r = i / per_row, j = (i % per_row) * W;
    const T *pa = ab + (size_t)r * 2 * F + j, *pb = pa + F;
    T *pd = dg + (size_t)r * F + j, *qa = dab + (size_t)r * 2 * F + j, *qb = qa + F;
    if constexpr (W > 1) {
        Vec16<T> va = *(const Vec16<T> *)pa, vb = *(const Vec16<T> *)pb, vd = *(const Vec16<T> *)pd, oa, ob, og;
#pragma unroll
        for (int k = 0; k < W; k++) og.v[k] = swiglu_grad<T>(to_f(va.v[k]), to_f(vb.v[k]), to_f(vd.v[k]), &oa.v[k], &ob.v[k]);
        *(Vec16<T> *)qa = oa;
        *(Vec16<T> *)qb = ob;
        *(Vec16<T> *)pd = og;
    } else {
        pd[0] = swiglu_grad<T>(to_f(pa[0]), to_f(pb[0]), to_f(pd[0]), qa, qb);
    }
}

template <typename T> int k_swiglu_fwd(const T *ab, T *g, int N, int F, cudaStream_t s) {
    constexpr int W = 16 / sizeof(T);
    if (F % W == 0) swiglu_fwd_kernel<T, W><<<cdiv((size_t)N * F / W, 256), 256, 0, s>>>(ab, g, N, F);
    else swiglu_fwd_kernel<T, 1><<<cdiv((size_t)N * F, 256), 256, 0, s>>>(ab, g, N, F);
    CU_LAUNCHED();
    return 0;
}
template <typename T> int k_swiglu_bwd(const T *ab, T *dg, T *dab, int N, int F, cudaStream_t s) {
    constexpr int W = 16 / sizeof(T);
    if (F % W == 0) swiglu_bwd_kernel<T, W><<<cdiv((size_t)N * F / W, 256), 256, 0, s>>>(ab, dg, dab, N, F);
    else swiglu_bwd_kernel<T, 1><<<cdiv((size_t)N * F, 256), 256, 0, s>>>(ab, dg, dab, N, F);
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

/* ---- whether this build has code for the current GPU ---- */

cudaError_t k_code_status(void) {
    cudaFuncAttributes fa;
    cudaError_t e = cudaFuncGetAttributes(&fa, partial_sum_kernel);
    cudaGetLastError(); /* not sticky, but leave nothing behind for the next check */
    return e;
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
    template int k_swiglu_bwd<T>(const T *, T *, T *, int, int, cudaStream_t);                                     \
    template int k_convert<T>(const float *, T *, size_t, cudaStream_t);                                           \
    template int k_to_float<T>(const T *, float *, size_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
