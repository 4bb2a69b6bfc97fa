/* Portable causal grouped-query attention: one thread per query row (forward, dq) or per key
 * row (dk, dv), online softmax in fp32. Slow but simple; it serves the fp32 mode and any head
 * size, and is the reference the tensor-core kernels are checked against. */
#include "backend/cuda/kernels.cuh"

#define MAX_HD 256

template <typename T>
__global__ void attn_fwd_simple_kernel(const T *qkv, T *o, float *lse, AttnShape a, float scale) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= a.B * a.T * a.H) return;
    int h = idx % a.H, row = idx / a.H, t = row % a.T, b = row / a.T;
    int hd = a.hd, stride = (a.H + 2 * a.KV) * hd, kvh = h / (a.H / a.KV);
    float q[MAX_HD], acc[MAX_HD];
    const T *qr = qkv + (size_t)row * stride + h * hd;
    for (int i = 0; i < hd; i++) {
        q[i] = to_f(qr[i]) * scale;
        acc[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int j = 0; j <= t; j++) {
        const T *kr = qkv + (size_t)(b * a.T + j) * stride + (a.H + kvh) * hd;
        const T *vr = kr + a.KV * hd;
        float s = 0.f;
        for (int i = 0; i < hd; i++) s += q[i] * to_f(kr[i]);
        float mn = fmaxf(m, s), c = expf(m - mn), p = expf(s - mn);
        l = l * c + p;
        for (int i = 0; i < hd; i++) acc[i] = acc[i] * c + p * to_f(vr[i]);
        m = mn;
    }
    T *orow = o + (size_t)row * a.H * hd + h * hd;
    for (int i = 0; i < hd; i++) orow[i] = from_f<T>(acc[i] / l);
    lse[(size_t)row * a.H + h] = m + logf(l);
}

/* dsum[row, h] = dot(dout, o): the softmax backward's row correction. */
template <typename T> __global__ void attn_dsum_kernel(const T *o, const T *dout, float *dsum, int rows_heads, int hd) {
    int idx = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (idx >= rows_heads) return;
    const T *orow = o + (size_t)idx * hd, *drow = dout + (size_t)idx * hd;
    float acc = 0.f;
    for (int i = lane; i < hd; i += 32) acc += to_f(orow[i]) * to_f(drow[i]);
    acc = warp_sum(acc);
    if (lane == 0) dsum[idx] = acc;
}

template <typename T>
__global__ void attn_dq_simple_kernel(const T *qkv, const T *dout, const float *lse, const float *dsum, T *dqkv,
                                      AttnShape a, float scale) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= a.B * a.T * a.H) return;
    int h = idx % a.H, row = idx / a.H, t = row % a.T, b = row / a.T;
    int hd = a.hd, stride = (a.H + 2 * a.KV) * hd, kvh = h / (a.H / a.KV);
    float q[MAX_HD], g[MAX_HD], dq[MAX_HD];
    const T *qr = qkv + (size_t)row * stride + h * hd;
    const T *gr = dout + (size_t)row * a.H * hd + h * hd;
    for (int i = 0; i < hd; i++) {
        q[i] = to_f(qr[i]) * scale;
        g[i] = to_f(gr[i]);
        dq[i] = 0.f;
    }
    float L = lse[idx], D = dsum[idx];
    for (int j = 0; j <= t; j++) {
        const T *kr = qkv + (size_t)(b * a.T + j) * stride + (a.H + kvh) * hd;
        const T *vr = kr + a.KV * hd;
        float s = 0.f, dp = 0.f;
        for (int i = 0; i < hd; i++) {
            s += q[i] * to_f(kr[i]);
            dp += g[i] * to_f(vr[i]);
        }
        float ds = expf(s - L) * (dp - D);
        for (int i = 0; i < hd; i++) dq[i] += ds * to_f(kr[i]);
    }
    T *out = dqkv + (size_t)row * stride + h * hd;
    for (int i = 0; i < hd; i++) out[i] = from_f<T>(dq[i] * scale);
}

template <typename T>
__global__ void attn_dkv_simple_kernel(const T *qkv, const T *dout, const float *lse, const float *dsum, T *dqkv,
                                       AttnShape a, float scale) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= a.B * a.T * a.KV) return;
    int kvh = idx % a.KV, row = idx / a.KV, j = row % a.T, b = row / a.T;
    int hd = a.hd, stride = (a.H + 2 * a.KV) * hd, group = a.H / a.KV;
    float k[MAX_HD], v[MAX_HD], dk[MAX_HD], dv[MAX_HD];
    const T *kr = qkv + (size_t)row * stride + (a.H + kvh) * hd, *vr = kr + a.KV * hd;
    for (int i = 0; i < hd; i++) {
        k[i] = to_f(kr[i]);
        v[i] = to_f(vr[i]);
        dk[i] = dv[i] = 0.f;
    }
    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        for (int t = j; t < a.T; t++) {
            size_t qrow = (size_t)b * a.T + t;
            const T *qr = qkv + qrow * stride + h * hd;
            const T *gr = dout + qrow * a.H * hd + h * hd;
            float s = 0.f, dp = 0.f;
            for (int i = 0; i < hd; i++) {
                s += to_f(qr[i]) * k[i];
                dp += to_f(gr[i]) * v[i];
            }
            float p = expf(s * scale - lse[qrow * a.H + h]);
            float ds = p * (dp - dsum[qrow * a.H + h]);
            for (int i = 0; i < hd; i++) {
                dv[i] += p * to_f(gr[i]);
                dk[i] += ds * to_f(qr[i]);
            }
        }
    }
    T *dkr = dqkv + (size_t)row * stride + (a.H + kvh) * hd, *dvr = dkr + a.KV * hd;
    for (int i = 0; i < hd; i++) {
        dkr[i] = from_f<T>(dk[i] * scale);
        dvr[i] = from_f<T>(dv[i]);
    }
}

template <typename T> int k_attention_fwd_simple(const T *qkv, T *o, float *lse, AttnShape a, cudaStream_t s) {
    if (a.hd > MAX_HD) return kr_error("attention: head dimension %d exceeds %d", a.hd, MAX_HD);
    attn_fwd_simple_kernel<T><<<cdiv((size_t)a.B * a.T * a.H, 64), 64, 0, s>>>(qkv, o, lse, a, rsqrtf((float)a.hd));
    CU_LAUNCHED();
    return 0;
}

/* The same for bf16 rows of 8 * LANES elements (the flash kernels' case): LANES neighbouring
 * threads share a row, each with one 16-byte load of o and of dout, so the pass runs at memory
 * speed rather than at one 2-byte load per lane. */
template <int LANES>
__global__ void attn_dsum_bf16_kernel(const bf16 *o, const bf16 *dout, float *dsum, int rows_heads) {
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, row = t / LANES;
    float acc = 0.f;
    if (row < (size_t)rows_heads) {
        uint4 ov = *(const uint4 *)(o + t * 8), dv = *(const uint4 *)(dout + t * 8);
        const __nv_bfloat162 *op = (const __nv_bfloat162 *)&ov, *dp = (const __nv_bfloat162 *)&dv;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 of = __bfloat1622float2(op[i]), df = __bfloat1622float2(dp[i]);
            acc = fmaf(of.x, df.x, fmaf(of.y, df.y, acc));
        }
    }
#pragma unroll
    for (int off = LANES / 2; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (row < (size_t)rows_heads && t % LANES == 0) dsum[row] = acc;
}

template <typename T> int attention_dsum(const T *o, const T *dout, float *dsum, AttnShape a, cudaStream_t s) {
    int rows_heads = a.B * a.T * a.H;
    if (sizeof(T) == 2 && a.hd == 64) {
        attn_dsum_bf16_kernel<8><<<cdiv((size_t)rows_heads * 8, 256), 256, 0, s>>>((const bf16 *)o, (const bf16 *)dout,
                                                                                 dsum, rows_heads);
    } else {
        attn_dsum_kernel<T><<<cdiv(rows_heads, 8), 256, 0, s>>>(o, dout, dsum, rows_heads, a.hd);
    }
    CU_LAUNCHED();
    return 0;
}

template <typename T>
int k_attention_bwd_simple(const T *qkv, const T *o, const T *dout, const float *lse, float *dsum, T *dqkv,
                           AttnShape a, cudaStream_t s) {
    if (a.hd > MAX_HD) return kr_error("attention: head dimension %d exceeds %d", a.hd, MAX_HD);
    float scale = rsqrtf((float)a.hd);
    TRY(attention_dsum<T>(o, dout, dsum, a, s));
    attn_dq_simple_kernel<T><<<cdiv((size_t)a.B * a.T * a.H, 64), 64, 0, s>>>(qkv, dout, lse, dsum, dqkv, a, scale);
    CU_LAUNCHED();
    attn_dkv_simple_kernel<T><<<cdiv((size_t)a.B * a.T * a.KV, 64), 64, 0, s>>>(qkv, dout, lse, dsum, dqkv, a, scale);
    CU_LAUNCHED();
    return 0;
}

#define INSTANTIATE(T)                                                                                           \
    template int k_attention_fwd_simple<T>(const T *, T *, float *, AttnShape, cudaStream_t);                    \
    template int attention_dsum<T>(const T *, const T *, float *, AttnShape, cudaStream_t);                      \
    template int k_attention_bwd_simple<T>(const T *, const T *, const T *, const float *, float *, T *, AttnShape, \
                                           cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
