/* Flash attention (forward and backward) for causal grouped-query attention in bf16 on tensor
 * cores (fp32 accumulation), head size 64: Hopper warpgroup kernels (wgmma, dispatched on
 * Hopper) and warp-level mma.sync m16n8k16 kernels (dispatched on Ampere and Ada, and checked
 * and timed beside the wgmma ones on Hopper). Never materialises the T x T
 * scores: the forward keeps a running max and sum per row and saves the log-sum-exp; the
 * backward recomputes the probabilities tile by tile. The backward runs as two kernels — dq
 * over query tiles, dk/dv over key tiles (summing the query heads of a group) — so that no
 * atomics are needed and results are reproducible bit for bit.
 *
 * The mma.sync kernels: blocks have 4 warps; a warp owns 32 query rows in the forward and 16
 * rows in the backward kernels; key/value tiles are 64 rows, double-buffered through cp.async.
 * Fragment layouts follow the PTX ISA for m16n8k16: thread (g = lane/4, c = lane%4) holds
 * accumulator elements at rows g and g+8, columns 2c and 2c+1 of each 8-column tile. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <type_traits>

#include "backend/cuda/kernels.cuh"
#include "backend/cuda/tensor_core.cuh"

#define FA_ROWS 64
#define FA_THREADS 128
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* Copies rows row0 .. row0+63 (zero-filling rows >= T) of a [T, ld] matrix into a padded tile. */
template <int HD> __device__ __forceinline__ void load_tile(bf16 *s, const bf16 *g, int ld, int row0, int T) {
    constexpr int LD = HD + 8, CH = HD / 8;
    for (int i = threadIdx.x; i < FA_ROWS * CH; i += FA_THREADS) {
        int r = i / CH, col = (i % CH) * 8;
        bool ok = row0 + r < T;
        cp_async16(s + r * LD + col, ok ? g + (size_t)(row0 + r) * ld + col : g, ok);
    }
}

/* Double buffering over key tiles: starts copying K/V tile kb+1 into the other half of sK/sV,
 * then waits until tile kb (in half kb & 1) has landed; the last tile only waits. */
template <int HD>
__device__ __forceinline__ void kv_tiles_advance(bf16 *sK, bf16 *sV, const bf16 *gk, const bf16 *gv, int stride, int kb,
                                                 int last_kb, int T) {
    constexpr int LD = HD + 8;
    if (kb < last_kb) {
        int next = (kb & 1) ^ 1;
        load_tile<HD>(sK + next * FA_ROWS * LD, gk, stride, (kb + 1) * FA_ROWS, T);
        load_tile<HD>(sV + next * FA_ROWS * LD, gv, stride, (kb + 1) * FA_ROWS, T);
        cp_async_commit();
        cp_async_wait<1>();
    } else {
        cp_async_wait<0>();
    }
    __syncthreads();
}

/* ---- softmax steps shared by the mma.sync and wgmma kernels ----
 * Each works on one thread's part of a 16-row accumulator tile: rows row0 and row0 + 8, columns
 * 8 j + 2 c + (e & 1) of s[j][e] (c = lane % 4). */

/* The forward's step for one key tile: masks keys past the row on the diagonal tile, folds the
 * tile into the running max m and sum l (base 2), leaves the unnormalised probabilities in s and
 * the factors by which the output accumulator's two rows must be rescaled in corr.
 *
 * The max is lazy: m, the reference the exponentials subtract, moves only when a row's tile max
 * passes it by more than RESCALE_SLACK (base-2 units), so probabilities stay below 2^8 (far inside
 * the range of fp32 and bf16) and most tiles leave corr at 1 and skip the rescale (returns whether any
 * row of the warp moved). The final O = acc / l and lse = m + log2 l hold for any such m. */
#define RESCALE_SLACK 8.f
__device__ __forceinline__ bool online_softmax_tile(float (&s)[8][4], float (&m)[2], float (&l)[2], float (&corr)[2],
                                                    int key0, int row0, bool diag, float scale_log2) {
    int c = threadIdx.x & 3, row1 = row0 + 8;
    if (diag) {
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                if (key0 + 8 * j + 2 * c + (e & 1) > (e < 2 ? row0 : row1)) s[j][e] = -INFINITY;
    }
    /* max over raw scores (the scale is positive), scaled once per row */
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
        mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
    }
    mx0 *= scale_log2;
    mx1 *= scale_log2;
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    /* every row sees key 0 in the first tile (m = -inf before it), so m is finite from then on */
    bool up0 = mx0 > m[0] + RESCALE_SLACK, up1 = mx1 > m[1] + RESCALE_SLACK;
    /* selects, not branches: a branch here would make ptxas wait for the products in flight */
    float c0 = fast_exp2(m[0] - mx0), c1 = fast_exp2(m[1] - mx1);
    corr[0] = up0 ? c0 : 1.f;
    corr[1] = up1 ? c1 : 1.f;
    m[0] = up0 ? mx0 : m[0];
    m[1] = up1 ? mx1 : m[1];
    float n0 = m[0], n1 = m[1], sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        s[j][0] = fast_exp2(fmaf(s[j][0], scale_log2, -n0));
        s[j][1] = fast_exp2(fmaf(s[j][1], scale_log2, -n0));
        s[j][2] = fast_exp2(fmaf(s[j][2], scale_log2, -n1));
        s[j][3] = fast_exp2(fmaf(s[j][3], scale_log2, -n1));
        sum0 += s[j][0] + s[j][1];
        sum1 += s[j][2] + s[j][3];
    }
    l[0] = l[0] * corr[0] + sum0;
    l[1] = l[1] * corr[1] + sum1;
    return __any_sync(0xffffffffu, up0 || up1);
}

template <int NJ> __device__ __forceinline__ void scale_acc_rows(float (&acc)[NJ][4], const float (&corr)[2]) {
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        acc[j][0] *= corr[0];
        acc[j][1] *= corr[0];
        acc[j][2] *= corr[1];
        acc[j][3] *= corr[1];
    }
}

/* The dq kernel's step: s (scores) becomes dS = P (dP - D) for query rows row0 / row0 + 8 with
 * log-sum-exps L (base 2) and row terms D; keys past the row are zero on the diagonal tile. */
__device__ __forceinline__ void dq_scores_to_ds(float (&s)[8][4], const float (&dp)[8][4], int key0, int row0, bool diag,
                                                float L0, float L1, float D0, float D1, float scale_log2) {
    int c = threadIdx.x & 3, row1 = row0 + 8;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int key = key0 + 8 * j + 2 * c + (e & 1), row = e < 2 ? row0 : row1;
            float p = fast_exp2(fmaf(s[j][e], scale_log2, -(e < 2 ? L0 : L1)));
            p = (diag && key > row) ? 0.f : p; /* a select: see wg_pipeline on branches */
            s[j][e] = p * (dp[j][e] - (e < 2 ? D0 : D1));
        }
}

/* The dk/dv kernel's step on transposed tiles (rows are keys key0 / key0 + 8, columns queries
 * from q0 with log-sum-exps l_t as the forward wrote them, natural log, and row terms d_t): s
 * becomes P^T and dp becomes dS^T. */
__device__ __forceinline__ void dkv_probs_and_ds(float (&s)[8][4], float (&dp)[8][4], int q0, int key0, bool diag,
                                                 const float *l_t, const float *d_t, float scale_log2) {
    int c = threadIdx.x & 3, key1 = key0 + 8;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int col = 8 * j + 2 * c + (e & 1), key = e < 2 ? key0 : key1;
            float p = fast_exp2(fmaf(s[j][e], scale_log2, -l_t[col] * LOG2E));
            p = (diag && key > q0 + col) ? 0.f : p;
            s[j][e] = p;
            dp[j][e] = p * (dp[j][e] - d_t[col]);
        }
}

/* acc[16 x 64] = A[16 x HD] . tile[64 x HD]^T (tile rows are the output columns), with this
 * warp's 16 rows of A read from a shared tile at each use (fewer live registers, so more warps
 * fit on a multiprocessor). */
template <int HD>
__device__ __forceinline__ void mma_abt_s(float (&acc)[8][4], const bf16 *a_tile, int warp, const bf16 *tile) {
    constexpr int LD = HD + 8;
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int j = 0; j < 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        uint32_t a[4];
        ldsm_x4(a, a_tile + (warp * 16 + (lane % 16)) * LD + kk * 16 + (lane / 16) * 8);
#pragma unroll
        for (int jp = 0; jp < 4; jp++) {
            uint32_t b[4];
            ldsm_x4(b, tile + (16 * jp + (lane % 8) + (lane / 16) * 8) * LD + kk * 16 + ((lane / 8) % 2) * 8);
            mma16816(acc[2 * jp], a, b[0], b[1]);
            mma16816(acc[2 * jp + 1], a, b[2], b[3]);
        }
    }
}

/* out[16 x HD] += P[16 x 64] . tile[64 x HD], P given as accumulator-layout fp32 values. */
template <int HD>
__device__ __forceinline__ void mma_pv(float (&out)[HD / 8][4], const float (&p)[8][4], const bf16 *tile) {
    constexpr int LD = HD + 8;
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t a[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]), pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                         pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]), pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
        for (int jp = 0; jp < HD / 16; jp++) {
            uint32_t b[4];
            ldsm_x4_trans(b, tile + (16 * kk + (lane % 8) + ((lane / 8) % 2) * 8) * LD + 16 * jp + (lane / 16) * 8);
            mma16816(out[2 * jp], a, b[0], b[1]);
            mma16816(out[2 * jp + 1], a, b[2], b[3]);
        }
    }
}


/* The MT-tile versions (a warp owning 16*MT rows): each B fragment read from shared memory
 * feeds MT products, halving shared-memory traffic per product for MT = 2. */
template <int HD, int MT>
__device__ __forceinline__ void mma_abt_mt(float (&acc)[MT][8][4], const uint32_t (&a)[MT][HD / 16][4], const bf16 *tile) {
    constexpr int LD = HD + 8;
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[m][j][0] = acc[m][j][1] = acc[m][j][2] = acc[m][j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++)
#pragma unroll
        for (int jp = 0; jp < 4; jp++) {
            uint32_t b[4];
            ldsm_x4(b, tile + (16 * jp + (lane % 8) + (lane / 16) * 8) * LD + kk * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
            for (int m = 0; m < MT; m++) {
                mma16816(acc[m][2 * jp], a[m][kk], b[0], b[1]);
                mma16816(acc[m][2 * jp + 1], a[m][kk], b[2], b[3]);
            }
        }
}

template <int HD, int MT>
__device__ __forceinline__ void mma_pv_mt(float (&out)[MT][HD / 8][4], const float (&p)[MT][8][4], const bf16 *tile) {
    constexpr int LD = HD + 8;
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int m = 0; m < MT; m++) {
            a[m][0] = pack_bf16(p[m][2 * kk][0], p[m][2 * kk][1]);
            a[m][1] = pack_bf16(p[m][2 * kk][2], p[m][2 * kk][3]);
            a[m][2] = pack_bf16(p[m][2 * kk + 1][0], p[m][2 * kk + 1][1]);
            a[m][3] = pack_bf16(p[m][2 * kk + 1][2], p[m][2 * kk + 1][3]);
        }
#pragma unroll
        for (int jp = 0; jp < HD / 16; jp++) {
            uint32_t b[4];
            ldsm_x4_trans(b, tile + (16 * kk + (lane % 8) + ((lane / 8) % 2) * 8) * LD + 16 * jp + (lane / 16) * 8);
#pragma unroll
            for (int m = 0; m < MT; m++) {
                mma16816(out[m][2 * jp], a[m], b[0], b[1]);
                mma16816(out[m][2 * jp + 1], a[m], b[2], b[3]);
            }
        }
    }
}

/* Forward: a block owns 128 query rows (each warp 32, as two 16-row tiles) and walks the
 * 64-key tiles up to the diagonal, K and V double-buffered through cp.async. */
#define FWD_MT 2
#define FWD_ROWS (FA_ROWS * FWD_MT)
template <int HD>
__global__ void __launch_bounds__(FA_THREADS) flash_fwd_kernel(const bf16 *qkv, bf16 *o, float *lse, AttnShape a,
                                                               float scale_log2) {
    constexpr int LD = HD + 8, MT = FWD_MT;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *sQ = (bf16 *)smem_raw, *sK = sQ + FWD_ROWS * LD, *sV = sK + 2 * FA_ROWS * LD;
    int qb = gridDim.x - 1 - blockIdx.x; /* longest rows first */
    int h = blockIdx.y % a.H, b = blockIdx.y / a.H, kvh = h / (a.H / a.KV);
    int stride = (a.H + 2 * a.KV) * HD, T = a.T;
    const bf16 *base = qkv + (size_t)b * T * stride;
    const bf16 *gq = base + h * HD, *gk = base + (a.H + kvh) * HD, *gv = base + (a.H + a.KV + kvh) * HD;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int q0 = qb * FWD_ROWS, warp_row0 = q0 + warp * 16 * MT;

    for (int m = 0; m < MT; m++) load_tile<HD>(sQ + m * FA_ROWS * LD, gq, stride, q0 + m * FA_ROWS, T);
    load_tile<HD>(sK, gk, stride, 0, T);
    load_tile<HD>(sV, gv, stride, 0, T);
    cp_async_commit();

    uint32_t qf[MT][HD / 16][4];
    float acc[MT][HD / 8][4], mrow[MT][2], lrow[MT][2];
#pragma unroll
    for (int m = 0; m < MT; m++) {
#pragma unroll
        for (int j = 0; j < HD / 8; j++) acc[m][j][0] = acc[m][j][1] = acc[m][j][2] = acc[m][j][3] = 0.f;
        mrow[m][0] = mrow[m][1] = -INFINITY;
        lrow[m][0] = lrow[m][1] = 0.f;
    }
    int last_kb = min(T - 1, q0 + FWD_ROWS - 1) / FA_ROWS;

    for (int kb = 0; kb <= last_kb; kb++) {
        int buf = kb & 1;
        kv_tiles_advance<HD>(sK, sV, gk, gv, stride, kb, last_kb, T);
        if (kb == 0) {
            int lane16 = lane % 16;
#pragma unroll
            for (int m = 0; m < MT; m++)
#pragma unroll
                for (int kk = 0; kk < HD / 16; kk++)
                    ldsm_x4(qf[m][kk], sQ + (warp * 16 * MT + m * 16 + lane16) * LD + kk * 16 + (lane / 16) * 8);
        }
        /* a warp whose rows all precede this key tile has nothing to do in it */
        if (kb * FA_ROWS <= warp_row0 + 16 * MT - 1) {
            float s[MT][8][4];
            mma_abt_mt<HD, MT>(s, qf, sK + buf * FA_ROWS * LD);
            bool diag = (kb + 1) * FA_ROWS - 1 > warp_row0;
#pragma unroll
            for (int m = 0; m < MT; m++) {
                float corr[2];
                if (online_softmax_tile(s[m], mrow[m], lrow[m], corr, kb * FA_ROWS, warp_row0 + m * 16 + g, diag,
                                        scale_log2))
                    scale_acc_rows<HD / 8>(acc[m], corr);
            }
            mma_pv_mt<HD, MT>(acc, s, sV + buf * FA_ROWS * LD);
        }
        __syncthreads(); /* the next iteration's prefetch overwrites this buffer */
    }
    int ostride = a.H * HD;
    bf16 *go = o + (size_t)b * T * ostride + h * HD;
#pragma unroll
    for (int m = 0; m < MT; m++) {
        float l0 = lrow[m][0], l1 = lrow[m][1];
        l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
        l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
        float i0 = 1.f / l0, i1 = 1.f / l1;
        int row0 = warp_row0 + m * 16 + g, row1 = row0 + 8;
#pragma unroll
        for (int j = 0; j < HD / 8; j++) {
            if (row0 < T)
                *(uint32_t *)(go + (size_t)row0 * ostride + 8 * j + 2 * c) = pack_bf16(acc[m][j][0] * i0, acc[m][j][1] * i0);
            if (row1 < T)
                *(uint32_t *)(go + (size_t)row1 * ostride + 8 * j + 2 * c) = pack_bf16(acc[m][j][2] * i1, acc[m][j][3] * i1);
        }
        if (c == 0) {
            if (row0 < T) lse[((size_t)b * T + row0) * a.H + h] = (mrow[m][0] + log2f(l0)) * LN2;
            if (row1 < T) lse[((size_t)b * T + row1) * a.H + h] = (mrow[m][1] + log2f(l1)) * LN2;
        }
    }
}

/* dq for one 64-row query tile: recomputes P and dP per key tile, dS = P (dP - D), dq += dS K. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS, 4) flash_dq_kernel(const bf16 *qkv, const bf16 *dout, const float *lse,
                                                              const float *dsum, bf16 *dqkv, AttnShape a, float scale) {
    constexpr int LD = HD + 8;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *sQ = (bf16 *)smem_raw, *sO = sQ + FA_ROWS * LD, *sK = sO + FA_ROWS * LD, *sV = sK + 2 * FA_ROWS * LD;
    int qb = gridDim.x - 1 - blockIdx.x;
    int h = blockIdx.y % a.H, b = blockIdx.y / a.H, kvh = h / (a.H / a.KV);
    int stride = (a.H + 2 * a.KV) * HD, ostride = a.H * HD, T = a.T;
    const bf16 *base = qkv + (size_t)b * T * stride;
    const bf16 *gk = base + (a.H + kvh) * HD, *gv = base + (a.H + a.KV + kvh) * HD;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    float scale_log2 = scale * LOG2E;

    load_tile<HD>(sQ, base + h * HD, stride, qb * FA_ROWS, T);
    load_tile<HD>(sO, dout + (size_t)b * T * ostride + h * HD, ostride, qb * FA_ROWS, T);
    load_tile<HD>(sK, gk, stride, 0, T);
    load_tile<HD>(sV, gv, stride, 0, T);
    cp_async_commit();

    int row0 = qb * FA_ROWS + warp * 16 + g, row1 = row0 + 8;
    size_t li0 = ((size_t)b * T + row0) * a.H + h, li1 = ((size_t)b * T + row1) * a.H + h;
    float L0 = row0 < T ? lse[li0] * LOG2E : 0.f, L1 = row1 < T ? lse[li1] * LOG2E : 0.f;
    float D0 = row0 < T ? dsum[li0] : 0.f, D1 = row1 < T ? dsum[li1] : 0.f;
    float acc[HD / 8][4];
#pragma unroll
    for (int j = 0; j < HD / 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

    for (int kb = 0; kb <= qb; kb++) {
        int buf = kb & 1;
        kv_tiles_advance<HD>(sK, sV, gk, gv, stride, kb, qb, T);
        float s[8][4], dp[8][4];
        mma_abt_s<HD>(s, sQ, warp, sK + buf * FA_ROWS * LD);
        mma_abt_s<HD>(dp, sO, warp, sV + buf * FA_ROWS * LD);
        dq_scores_to_ds(s, dp, kb * FA_ROWS, row0, kb == qb, L0, L1, D0, D1, scale_log2);
        mma_pv<HD>(acc, s, sK + buf * FA_ROWS * LD);
        __syncthreads();
    }
    bf16 *gdq = dqkv + (size_t)b * T * stride + h * HD;
#pragma unroll
    for (int j = 0; j < HD / 8; j++) {
        if (row0 < T) *(uint32_t *)(gdq + (size_t)row0 * stride + 8 * j + 2 * c) = pack_bf16(acc[j][0] * scale, acc[j][1] * scale);
        if (row1 < T) *(uint32_t *)(gdq + (size_t)row1 * stride + 8 * j + 2 * c) = pack_bf16(acc[j][2] * scale, acc[j][3] * scale);
    }
}

/* dk and dv for one 64-row key tile of one kv head, over every query head of its group and
 * every query tile at or after it: P^T = exp(K Q^T - lse), dV += P^T dO, dS^T = P^T (V dO^T - D), dK += dS^T Q. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS, 3) flash_dkv_kernel(const bf16 *qkv, const bf16 *dout, const float *lse,
                                                               const float *dsum, bf16 *dqkv, AttnShape a, float scale) {
    constexpr int LD = HD + 8, TILE = FA_ROWS * LD;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    /* two stages of {Q tile, dO tile, lse row, D row}: the next (head, query tile) loads while this one computes */
    bf16 *sK = (bf16 *)smem_raw, *sV = sK + TILE, *sQ = sV + TILE, *sO = sQ + 2 * TILE;
    float *sL = (float *)(sO + 2 * TILE), *sD = sL + 2 * FA_ROWS;
    int kb = blockIdx.x; /* the first key tiles see the most queries: they start first */
    int kvh = blockIdx.y % a.KV, b = blockIdx.y / a.KV, group = a.H / a.KV;
    int stride = (a.H + 2 * a.KV) * HD, ostride = a.H * HD, T = a.T;
    const bf16 *base = qkv + (size_t)b * T * stride;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    float scale_log2 = scale * LOG2E;
    int nq = (T + FA_ROWS - 1) / FA_ROWS, per_head = nq - kb, total = group * per_head;

    /* K and V of this tile stay in shared memory for the whole block */
    load_tile<HD>(sK, base + (a.H + kvh) * HD, stride, kb * FA_ROWS, T);
    load_tile<HD>(sV, base + (a.H + a.KV + kvh) * HD, stride, kb * FA_ROWS, T);
    cp_async_commit();

    auto issue = [&](int it, int st) {
        int h = kvh * group + it / per_head, qb = kb + it % per_head;
        load_tile<HD>(sQ + st * TILE, base + h * HD, stride, qb * FA_ROWS, T);
        load_tile<HD>(sO + st * TILE, dout + (size_t)b * T * ostride + h * HD, ostride, qb * FA_ROWS, T);
        cp_async_commit();
        for (int r = threadIdx.x; r < FA_ROWS; r += FA_THREADS) {
            int q = qb * FA_ROWS + r;
            size_t li = ((size_t)b * T + q) * a.H + h;
            sL[st * FA_ROWS + r] = q < T ? lse[li] : INFINITY;
            sD[st * FA_ROWS + r] = q < T ? dsum[li] : 0.f;
        }
    };

    float dk[HD / 8][4], dv[HD / 8][4];
#pragma unroll
    for (int j = 0; j < HD / 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[j][e] = dv[j][e] = 0.f;
    int key0 = kb * FA_ROWS + warp * 16 + g, key1 = key0 + 8;

    issue(0, 0);
    for (int it = 0; it < total; it++) {
        int st = it & 1, qb = kb + it % per_head;
        if (it + 1 < total) {
            issue(it + 1, st ^ 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const bf16 *q_t = sQ + st * TILE, *o_t = sO + st * TILE;
        const float *l_t = sL + st * FA_ROWS, *d_t = sD + st * FA_ROWS;
        float s[8][4], dp[8][4];
        mma_abt_s<HD>(s, sK, warp, q_t);
        mma_abt_s<HD>(dp, sV, warp, o_t);
        dkv_probs_and_ds(s, dp, qb * FA_ROWS, key0, qb == kb, l_t, d_t, scale_log2);
        mma_pv<HD>(dv, s, o_t);
        mma_pv<HD>(dk, dp, q_t);
        __syncthreads(); /* the next prefetch overwrites this stage */
    }
    bf16 *gdk = dqkv + (size_t)b * T * stride + (a.H + kvh) * HD, *gdv = gdk + a.KV * HD;
#pragma unroll
    for (int j = 0; j < HD / 8; j++) {
        if (key0 < T) {
            *(uint32_t *)(gdk + (size_t)key0 * stride + 8 * j + 2 * c) = pack_bf16(dk[j][0] * scale, dk[j][1] * scale);
            *(uint32_t *)(gdv + (size_t)key0 * stride + 8 * j + 2 * c) = pack_bf16(dv[j][0], dv[j][1]);
        }
        if (key1 < T) {
            *(uint32_t *)(gdk + (size_t)key1 * stride + 8 * j + 2 * c) = pack_bf16(dk[j][2] * scale, dk[j][3] * scale);
            *(uint32_t *)(gdv + (size_t)key1 * stride + 8 * j + 2 * c) = pack_bf16(dv[j][2], dv[j][3]);
        }
    }
}

template <int HD> static int flash_fwd(const bf16 *qkv, bf16 *o, float *lse, AttnShape a, cudaStream_t s) {
    size_t smem = (FWD_ROWS + 4 * FA_ROWS) * (HD + 8) * sizeof(bf16);
    CU_TRY(cudaFuncSetAttribute(flash_fwd_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid(cdiv(a.T, FWD_ROWS), a.B * a.H);
    flash_fwd_kernel<HD><<<grid, FA_THREADS, smem, s>>>(qkv, o, lse, a, rsqrtf((float)HD) * LOG2E);
    CU_LAUNCHED();
    return 0;
}

template <int HD>
static int flash_bwd(const bf16 *qkv, const bf16 *o, const bf16 *dout, const float *lse, float *dsum, bf16 *dqkv,
                     AttnShape a, cudaStream_t s) {
    TRY(attention_dsum<bf16>(o, dout, dsum, a, s));
    float scale = rsqrtf((float)HD);
    size_t smem_dq = 6 * FA_ROWS * (HD + 8) * sizeof(bf16);
    CU_TRY(cudaFuncSetAttribute(flash_dq_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_dq));
    flash_dq_kernel<HD><<<dim3(cdiv(a.T, FA_ROWS), a.B * a.H), FA_THREADS, smem_dq, s>>>(qkv, dout, lse, dsum, dqkv, a, scale);
    CU_LAUNCHED();
    size_t smem_kv = 6 * FA_ROWS * (HD + 8) * sizeof(bf16) + 4 * FA_ROWS * sizeof(float);
    CU_TRY(cudaFuncSetAttribute(flash_dkv_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_kv));
    flash_dkv_kernel<HD><<<dim3(cdiv(a.T, FA_ROWS), a.B * a.KV), FA_THREADS, smem_kv, s>>>(qkv, dout, lse, dsum, dqkv, a, scale);
    CU_LAUNCHED();
    return 0;
}

/* ---- Hopper kernels: warpgroup MMA (wgmma.mma_async, sm_90a) ----
 *
 * A warpgroup (4 consecutive warps, 128 threads) owns 64 rows. Every product has its A operand
 * in registers (Q, dO, K or V rows loaded once, or probabilities converted from an accumulator)
 * and its B operand as a 64 x 64 bf16 tile in shared memory, stored with the 128-byte swizzle:
 * 16-byte chunk c of row r sits at r * 128 + ((c ^ (r % 8)) * 16), tiles 1024-byte aligned. The
 * same tile serves as B = tile^T ("K-major": tile rows are the output columns, e.g. S = Q K^T)
 * and as B = tile ("MN-major": tile rows run along the reduction, e.g. O += P V). Accumulators
 * have the mma.sync layout per warp (acc[j][e]: row 16 * warp + g + 8 * (e / 2), column
 * 8 j + 2 c + e % 2), so the softmax code is the same as above.
 *
 * Software pipeline: step j issues the score products of tile j and the accumulating products
 * of tile j - 1 together, then runs the softmax of tile j on the CUDA cores while the tensor
 * cores still accumulate tile j - 1. Tiles stream through a ring of WG_STAGES = 4 shared-memory
 * stages: step j fetches tile j + 2 into the stage of tile j - 2, whose last products every
 * warpgroup finished before the barrier that opens step j, so one barrier per step suffices and
 * a fetch has two steps to land. Each step commits one cp.async group (possibly empty), so "all
 * but the newest group" is always "tile j + 1 and older". The first step only scores and the
 * last only accumulates; the loops between them issue the same products every step, with no
 * branch around a wgmma (ptxas serialises warpgroup products that sit on paths it cannot prove
 * uniform) and none inside the softmax: the steps that need the causal mask run in a loop of
 * their own, compiled with the mask, so the others carry no test and the softmax can overlap
 * the products in flight (ptxas waits for all of them before any branch between the two waits
 * of a step). wg_pipeline below is that schedule; each kernel supplies its products,
 * softmax steps and tile fetches. */
#define WG_STAGES 4
#define WG_STAGE_BYTES (2 * WG_TILE_BYTES) /* a stage holds two tiles: K and V, or Q and dO */

__device__ __forceinline__ unsigned char *ring_stage(unsigned char *ring, int tile) {
    return ring + (tile % WG_STAGES) * WG_STAGE_BYTES;
}
/* Rows tile * 64 .. + 63 of two [T, ld] matrices into the ring's stage for that tile. */
template <int NTHREADS>
__device__ __forceinline__ void ring_load(unsigned char *ring, int tile, const bf16 *g0, int ld0, const bf16 *g1,
                                          int ld1, int T, int tid) {
    unsigned char *st = ring_stage(ring, tile);
    load_tile_sw<NTHREADS>(st, g0, ld0, tile * FA_ROWS, T, tid);
    load_tile_sw<NTHREADS>(st + WG_TILE_BYTES, g1, ld1, tile * FA_ROWS, T, tid);
}

/* fetch(j) for the kernels that stream key tiles (forward, dq): K and V rows of tile j into its
 * stage, nothing past the last tile n - 1; one commit group either way. */
template <int NTHREADS>
__device__ __forceinline__ auto kv_tile_fetch(unsigned char *ring, int n, const bf16 *gk, const bf16 *gv, int stride,
                                              int T, int tid) {
    return [=](int j) {
        if (j < n) ring_load<NTHREADS>(ring, j, gk, stride, gv, stride, T, tid);
        cp_async_commit();
    };
}

/* The pipeline over n steps, the same in the three kernels; steps mask_begin .. mask_end - 1
 * need the causal mask. The callbacks: fetch(j) copies step j's tiles into its stage (nothing
 * when j >= n) and commits one cp.async group; the caller has fetched steps 0 and 1.
 * scores(j) issues step j's score products and accumulate(j) its accumulating ones (each one
 * commit group); on_scores(j, masked) runs once step j's scores are in (the softmax step;
 * `masked` is std::true_type or std::false_type); on_accumulated() once the accumulators are
 * free again (settle them, turn step j's probabilities into A fragments for the next
 * accumulation). */
template <class Fetch, class Scores, class Accumulate, class OnScores, class OnAccumulated>
__device__ __forceinline__ void wg_pipeline(int n, int mask_begin, int mask_end, Fetch fetch, Scores scores,
                                            Accumulate accumulate, OnScores on_scores, OnAccumulated on_accumulated) {
    tiles_ready<1>();
    fetch(2);
    wg_fence();
    scores(0);
    wg_wait<0>();
    if (mask_begin == 0) on_scores(0, std::true_type());
    else on_scores(0, std::false_type());
    on_accumulated();
    auto step = [&](int j, auto masked) {
        tiles_ready<1>();
        fetch(j + 2); /* before the products: its branches would otherwise make ptxas wait for them */
        wg_fence();
        scores(j);
        accumulate(j - 1);
        wg_wait<1>();
        on_scores(j, masked);
        wg_wait<0>();
        on_accumulated();
    };
    int j = 1, plain_end = min(n, max(mask_begin, 1)), masked_end = min(n, mask_end);
    for (; j < plain_end; j++) step(j, std::false_type());
    for (; j < masked_end; j++) step(j, std::true_type());
    for (; j < n; j++) step(j, std::false_type());
    wg_fence();
    accumulate(n - 1);
    wg_wait<0>();
}

/* Forward: a block of WGF_WGS warpgroups owns 64 * WGF_WGS query rows and walks the key tiles
 * up to the diagonal; step j computes S_j = Q K_j^T and O += P_{j-1} V_{j-1}. Two warpgroups
 * per block are faster than one on an H200 (0.816 against 0.834 of the mma.sync kernel's time,
 * the latter with four blocks per multiprocessor). */
#define WGF_WGS 2
__global__ void __launch_bounds__(WG_THREADS *WGF_WGS) flash_fwd_wgmma_kernel(const bf16 *qkv, bf16 *o, float *lse,
                                                                             AttnShape a, float scale_log2) {
#if KR_WGMMA_CODE
    extern __shared__ unsigned char smem_raw_wg[];
    unsigned char *ring = smem_aligned_1k(smem_raw_wg);
    constexpr int HD = 64, nthreads = WG_THREADS * WGF_WGS;
    int qb = gridDim.x - 1 - blockIdx.x; /* longest rows first */
    int h = blockIdx.y % a.H, b = blockIdx.y / a.H, kvh = h / (a.H / a.KV);
    int stride = (a.H + 2 * a.KV) * HD, T = a.T;
    const bf16 *base = qkv + (size_t)b * T * stride;
    const bf16 *gq = base + h * HD, *gk = base + (a.H + kvh) * HD, *gv = base + (a.H + a.KV + kvh) * HD;
    int tid = threadIdx.x, wg = tid / WG_THREADS, warp = (tid / 32) % 4, lane = tid & 31, g = lane >> 2, c = lane & 3;
    int q0 = qb * FA_ROWS * WGF_WGS, wg_row0 = q0 + wg * FA_ROWS, warp_row0 = wg_row0 + warp * 16;
    /* every warpgroup walks the block's tiles; the lower one's last tile is fully masked, which
     * costs one tile but keeps the products on a path that is the same for all warps */
    int last_kb = min(T - 1, q0 + FA_ROWS * WGF_WGS - 1) / FA_ROWS;

    int n = last_kb + 1;
    auto fetch = kv_tile_fetch<nthreads>(ring, n, gk, gv, stride, T, tid);
    fetch(0);
    fetch(1);
    uint32_t qf[4][4], pf[4][4];
    load_a_frags(qf, gq, stride, warp_row0, T);
    float acc[8][4], s[8][4], mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f}, corr[2];
    bool rescale = false;
    acc_zero(acc);
    acc_zero(s);

    auto issue_scores = [&](int j) {
        wg_product<WG_KMAJOR>(s, qf, ring_stage(ring, j), 0);
        wg_commit();
    };
    auto issue_pv = [&](int j) {
        wg_product<WG_MNMAJOR>(acc, pf, ring_stage(ring, j) + WG_TILE_BYTES, 1);
        wg_commit();
    };
    auto softmax = [&](int j, auto masked) {
        wg_settle(s);
        rescale = online_softmax_tile(s, mrow, lrow, corr, j * FA_ROWS, warp_row0 + g, decltype(masked)::value, scale_log2);
    };
    auto rescale_and_convert = [&]() {
        wg_settle(acc);
        if (rescale) scale_acc_rows<8>(acc, corr);
        acc_to_a_frags(pf, s);
    };
    /* the key tiles from the block's first row on need the mask (the lower warpgroup's last one is all masked) */
    wg_pipeline(n, q0 / FA_ROWS, n, fetch, issue_scores, issue_pv, softmax, rescale_and_convert);
    wg_settle(acc);
    float l0 = lrow[0], l1 = lrow[1];
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    int ostride = a.H * HD, row0 = warp_row0 + g, row1 = row0 + 8;
    store_acc_rows(o + (size_t)b * T * ostride + h * HD, ostride, warp_row0, T, acc, 1.f / l0, 1.f / l1);
    if (c == 0) {
        if (row0 < T) lse[((size_t)b * T + row0) * a.H + h] = (mrow[0] + log2f(l0)) * LN2;
        if (row1 < T) lse[((size_t)b * T + row1) * a.H + h] = (mrow[1] + log2f(l1)) * LN2;
    }
#endif
}

/* The score-side products of a backward step, on one stage: s = As . tile0^T and dp = Adp .
 * tile1^T (S and dP in the dq kernel, their transposes in the dk/dv kernel), one commit group. */
__device__ __forceinline__ void issue_score_pair(float (&s)[8][4], const uint32_t (&as)[4][4], float (&dp)[8][4],
                                                 const uint32_t (&adp)[4][4], unsigned char *stage) {
    wg_product<WG_KMAJOR>(s, as, stage, 0);
    wg_product<WG_KMAJOR>(dp, adp, stage + WG_TILE_BYTES, 0);
    wg_commit();
}

/* Warpgroups per block in the backward kernels (neighbouring 64-row tiles sharing every streamed
 * tile). One is faster on an H200: at two, the dq and dk/dv kernels took 18% and 20% longer
 * (the warpgroups wait for each other at every step, and half as many blocks fill the triangle). */
#define WGB_WGS 1

/* The softmax backward's row terms D = rowsum(dO * O) of a warp's rows r0 = row0 + lane / 4 and
 * r1 = r0 + 8, from dO fragments and O rows loaded the same way (zero past T). */
__device__ __forceinline__ void row_dots(const uint32_t (&dof)[4][4], const bf16 *o, int ld, int row0, int T, float &d0,
                                         float &d1) {
    uint32_t of[4][4];
    load_a_frags(of, o, ld, row0, T);
    d0 = d1 = 0.f;
#pragma unroll
    for (int kk = 0; kk < 4; kk++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float2 x = __bfloat1622float2(*(const __nv_bfloat162 *)&dof[kk][e]);
            float2 y = __bfloat1622float2(*(const __nv_bfloat162 *)&of[kk][e]);
            float p = x.x * y.x + x.y * y.y;
            if (e % 2 == 0) d0 += p;
            else d1 += p;
        }
    d0 += __shfl_xor_sync(0xffffffffu, d0, 1);
    d0 += __shfl_xor_sync(0xffffffffu, d0, 2);
    d1 += __shfl_xor_sync(0xffffffffu, d1, 1);
    d1 += __shfl_xor_sync(0xffffffffu, d1, 2);
}

/* dq for WGB_WGS neighbouring 64-row query tiles (a warpgroup each): step j computes
 * S_j = Q K_j^T and dP_j = dO V_j^T, and dq += dS_{j-1} K_{j-1}; dS = P (dP - D). D is computed
 * here from dO and O and written to dsum for the dk/dv kernel, which runs after. */
__global__ void __launch_bounds__(WG_THREADS *WGB_WGS) flash_dq_wgmma_kernel(const bf16 *qkv, const bf16 *o,
                                                                            const bf16 *dout, const float *lse,
                                                                            float *dsum, bf16 *dqkv, AttnShape a,
                                                                            float scale) {
#if KR_WGMMA_CODE
    extern __shared__ unsigned char smem_raw_wg[];
    unsigned char *ring = smem_aligned_1k(smem_raw_wg);
    constexpr int HD = 64, nthreads = WG_THREADS * WGB_WGS;
    int qb = gridDim.x - 1 - blockIdx.x; /* longest rows first */
    int h = blockIdx.y % a.H, b = blockIdx.y / a.H, kvh = h / (a.H / a.KV);
    int stride = (a.H + 2 * a.KV) * HD, ostride = a.H * HD, T = a.T;
    const bf16 *base = qkv + (size_t)b * T * stride;
    const bf16 *gk = base + (a.H + kvh) * HD, *gv = base + (a.H + a.KV + kvh) * HD;
    int tid = threadIdx.x, wg = tid / WG_THREADS, warp = (tid / 32) % 4, lane = tid & 31, g = lane >> 2;
    float scale_log2 = scale * LOG2E;
    int q0 = qb * FA_ROWS * WGB_WGS, warp_row0 = q0 + wg * FA_ROWS + warp * 16, row0 = warp_row0 + g, row1 = row0 + 8;
    /* as in the forward, every warpgroup walks all the block's key tiles (masked past its rows) */
    int last_kb = min(T - 1, q0 + FA_ROWS * WGB_WGS - 1) / FA_ROWS;

    int n = last_kb + 1;
    auto fetch = kv_tile_fetch<nthreads>(ring, n, gk, gv, stride, T, tid);
    fetch(0);
    fetch(1);
    uint32_t qf[4][4], of[4][4], dsf[4][4];
    load_a_frags(qf, base + h * HD, stride, warp_row0, T);
    load_a_frags(of, dout + (size_t)b * T * ostride + h * HD, ostride, warp_row0, T);
    size_t li0 = ((size_t)b * T + row0) * a.H + h, li1 = ((size_t)b * T + row1) * a.H + h;
    float L0 = row0 < T ? lse[li0] * LOG2E : 0.f, L1 = row1 < T ? lse[li1] * LOG2E : 0.f;
    float D0, D1;
    row_dots(of, o + (size_t)b * T * ostride + h * HD, ostride, warp_row0, T, D0, D1);
    if ((lane & 3) == 0) {
        if (row0 < T) dsum[li0] = D0;
        if (row1 < T) dsum[li1] = D1;
    }
    float acc[8][4], s[8][4], dp[8][4];
    acc_zero(acc);
    acc_zero(s);
    acc_zero(dp);

    auto issue_scores = [&](int j) { issue_score_pair(s, qf, dp, of, ring_stage(ring, j)); };
    auto issue_dq = [&](int j) {
        wg_product<WG_MNMAJOR>(acc, dsf, ring_stage(ring, j), 1);
        wg_commit();
    };
    auto to_ds = [&](int j, auto masked) {
        wg_settle(s);
        wg_settle(dp);
        dq_scores_to_ds(s, dp, j * FA_ROWS, row0, decltype(masked)::value, L0, L1, D0, D1, scale_log2);
    };
    auto convert = [&]() {
        wg_settle(acc);
        acc_to_a_frags(dsf, s);
    };
    wg_pipeline(n, q0 / FA_ROWS, n, fetch, issue_scores, issue_dq, to_ds, convert);
    wg_settle(acc);
    store_acc_rows(dqkv + (size_t)b * T * stride + h * HD, stride, warp_row0, T, acc, scale, scale);
#endif
}

/* dk and dv for WGB_WGS neighbouring 64-row key tiles of one kv head (a warpgroup each), over
 * every query head of its group and every query tile from the block's first key on (the steps
 * i): S^T = K Q^T, P^T = exp(S^T - lse), dP^T = V dO^T, dS^T = P^T (dP^T - D), then at step
 * i + 1 dV += P^T dO and dK += dS^T Q. */
__global__ void __launch_bounds__(WG_THREADS *WGB_WGS, 2 / WGB_WGS) flash_dkv_wgmma_kernel(const bf16 *qkv, const bf16 *dout,
                                                                             const float *lse, const float *dsum,
                                                                             bf16 *dqkv, AttnShape a, float scale) {
#if KR_WGMMA_CODE
    extern __shared__ unsigned char smem_raw_wg[];
    unsigned char *ring = smem_aligned_1k(smem_raw_wg);
    float *sL = (float *)(ring + WG_STAGES * WG_STAGE_BYTES), *sD = sL + WG_STAGES * FA_ROWS;
    constexpr int HD = 64, nthreads = WG_THREADS * WGB_WGS;
    int kvh = blockIdx.y % a.KV, b = blockIdx.y / a.KV, group = a.H / a.KV;
    int stride = (a.H + 2 * a.KV) * HD, ostride = a.H * HD, T = a.T;
    const bf16 *base = qkv + (size_t)b * T * stride;
    int tid = threadIdx.x, wg = tid / WG_THREADS, warp = (tid / 32) % 4, lane = tid & 31, g = lane >> 2;
    float scale_log2 = scale * LOG2E;
    /* the first key tiles see the most queries: they start first */
    int k0 = blockIdx.x * FA_ROWS * WGB_WGS, q_first = k0 / FA_ROWS;
    int nq = (T + FA_ROWS - 1) / FA_ROWS, per_head = nq - q_first, total = group * per_head;
    int warp_key0 = k0 + wg * FA_ROWS + warp * 16, key0 = warp_key0 + g;

    /* Step order: first the diagonal query tile of each head of the group (the steps that need
     * the mask), then each head's later tiles. fetch(i) loads step i's Q and dO rows,
     * log-sum-exps and D terms into its stage (zero past T, where the zero Q and dO rows make
     * every contribution zero); steps are fetched in order, so head and tile advance as a counter. */
    int h0 = kvh * group, next_h = h0, next_qb = q_first;
    auto fetch = [&](int i) {
        if (i < total) {
            int st = i % WG_STAGES;
            unsigned char *stage = ring + st * WG_STAGE_BYTES;
            load_tile_sw<nthreads>(stage, base + next_h * HD, stride, next_qb * FA_ROWS, T, tid);
            load_tile_sw<nthreads>(stage + WG_TILE_BYTES, dout + (size_t)b * T * ostride + next_h * HD, ostride,
                                   next_qb * FA_ROWS, T, tid);
            if (tid < FA_ROWS) {
                int q = next_qb * FA_ROWS + tid;
                size_t li = q < T ? ((size_t)b * T + q) * a.H + next_h : 0;
                cp_async4(sL + st * FA_ROWS + tid, lse + li, q < T);
                cp_async4(sD + st * FA_ROWS + tid, dsum + li, q < T);
            }
            if (next_qb == q_first) {
                if (++next_h == h0 + group) {
                    next_h = h0;
                    next_qb = q_first + 1;
                }
            } else if (++next_qb == nq) {
                next_qb = q_first + 1;
                next_h++;
            }
        }
        cp_async_commit();
    };
    fetch(0);
    fetch(1);
    uint32_t kf[4][4], vf[4][4], pf[4][4], dsf[4][4];
    load_a_frags(kf, base + (a.H + kvh) * HD, stride, warp_key0, T);
    load_a_frags(vf, base + (a.H + a.KV + kvh) * HD, stride, warp_key0, T);
    float dk[8][4], dv[8][4], s[8][4], dp[8][4];
    acc_zero(dk);
    acc_zero(dv);
    acc_zero(s);
    acc_zero(dp);

    auto issue_scores = [&](int i) { issue_score_pair(s, kf, dp, vf, ring_stage(ring, i)); };
    auto issue_dkv = [&](int i) {
        unsigned char *st = ring_stage(ring, i);
        wg_product<WG_MNMAJOR>(dv, pf, st + WG_TILE_BYTES, 1);
        wg_product<WG_MNMAJOR>(dk, dsf, st, 1);
        wg_commit();
    };
    auto probs = [&](int i, auto masked) {
        wg_settle(s);
        wg_settle(dp);
        int st = i % WG_STAGES;
        dkv_probs_and_ds(s, dp, q_first * FA_ROWS, key0, decltype(masked)::value, sL + st * FA_ROWS, sD + st * FA_ROWS,
                         scale_log2);
    };
    auto convert = [&]() {
        wg_settle(dk);
        wg_settle(dv);
        acc_to_a_frags(pf, s);
        acc_to_a_frags(dsf, dp);
    };
    wg_pipeline(total, 0, group, fetch, issue_scores, issue_dkv, probs, convert);
    wg_settle(dk);
    wg_settle(dv);
    bf16 *gdk = dqkv + (size_t)b * T * stride + (a.H + kvh) * HD, *gdv = gdk + a.KV * HD;
    store_acc_rows(gdk, stride, warp_key0, T, dk, scale, scale);
    store_acc_rows(gdv, stride, warp_key0, T, dv, 1.f, 1.f);
#endif
}

static int flash_fwd_wgmma(const bf16 *qkv, bf16 *o, float *lse, AttnShape a, cudaStream_t s) {
    size_t smem = WG_STAGES * WG_STAGE_BYTES + 1024;
    CU_TRY(cudaFuncSetAttribute(flash_fwd_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid(cdiv(a.T, FA_ROWS * WGF_WGS), a.B * a.H);
    flash_fwd_wgmma_kernel<<<grid, WG_THREADS * WGF_WGS, smem, s>>>(qkv, o, lse, a, rsqrtf(64.f) * LOG2E);
    CU_LAUNCHED();
    return 0;
}

static int flash_bwd_wgmma(const bf16 *qkv, const bf16 *o, const bf16 *dout, const float *lse, float *dsum, bf16 *dqkv,
                           AttnShape a, cudaStream_t s) {
    float scale = rsqrtf(64.f);
    int rows = FA_ROWS * WGB_WGS, threads = WG_THREADS * WGB_WGS;
    size_t smem_dq = WG_STAGES * WG_STAGE_BYTES + 1024;
    CU_TRY(cudaFuncSetAttribute(flash_dq_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_dq));
    flash_dq_wgmma_kernel<<<dim3(cdiv(a.T, rows), a.B * a.H), threads, smem_dq, s>>>(qkv, o, dout, lse, dsum, dqkv,
                                                                                     a, scale);
    CU_LAUNCHED();
    size_t smem_kv = WG_STAGES * (WG_STAGE_BYTES + 2 * FA_ROWS * sizeof(float)) + 1024;
    CU_TRY(cudaFuncSetAttribute(flash_dkv_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_kv));
    flash_dkv_wgmma_kernel<<<dim3(cdiv(a.T, rows), a.B * a.KV), threads, smem_kv, s>>>(qkv, dout, lse, dsum, dqkv, a,
                                                                                       scale);
    CU_LAUNCHED();
    return 0;
}

/* ---- dispatch ---- */

int k_flash_fwd_mma(const bf16 *qkv, bf16 *o, float *lse, AttnShape a, cudaStream_t s) {
    return flash_fwd<64>(qkv, o, lse, a, s);
}
int k_flash_bwd_mma(const bf16 *qkv, const bf16 *o, const bf16 *dout, const float *lse, float *dsum, bf16 *dqkv,
                    AttnShape a, cudaStream_t s) {
    return flash_bwd<64>(qkv, o, dout, lse, dsum, dqkv, a, s);
}

/* 1 in the code built for sm_90a, 0 in the rest: read back from the module loaded for a device,
 * it tells whether that device runs the wgmma kernels or their empty stand-ins. */
__device__ const int wgmma_code_loaded = KR_WGMMA_CODE;

#define FLASH_MAX_DEVICES 64

int flash_wgmma_available(bool *yes) {
    /* per device, read once (threads driving different GPUs may ask at the same time; a repeated
     * read is harmless): 0 unknown, 1 no, 2 yes */
    static std::atomic<int> known[FLASH_MAX_DEVICES];
    int dev = 0;
    CU_TRY(cudaGetDevice(&dev));
    int k = dev < FLASH_MAX_DEVICES ? known[dev].load() : 0;
    if (k == 0) {
        int flag = 0;
        CU_TRY(cudaMemcpyFromSymbol(&flag, wgmma_code_loaded, sizeof flag));
        k = flag ? 2 : 1;
        if (dev < FLASH_MAX_DEVICES) known[dev].store(k);
    }
    *yes = k == 2;
    return 0;
}

/* Which flash kernels the dispatch uses: the wgmma ones where the code loaded for the GPU has
 * them (Hopper), else the mma.sync ones. KRLLM_FLASH_KERNELS=mma or wgmma picks one (read once per
 * process); any other value, or wgmma where there are none, is an error rather than a fallback. */
enum { FLASH_AUTO, FLASH_WGMMA, FLASH_MMA, FLASH_BAD };
static int flash_choice(void) {
    /* read once, thread-safely (one thread per GPU when training on several) */
    static const int asked = [] {
        const char *e = getenv("KRLLM_FLASH_KERNELS");
        return !e ? FLASH_AUTO : !strcmp(e, "wgmma") ? FLASH_WGMMA : !strcmp(e, "mma") ? FLASH_MMA : FLASH_BAD;
    }();
    if (asked == FLASH_BAD)
        return kr_error("KRLLM_FLASH_KERNELS=%s: use wgmma or mma, or leave it unset", getenv("KRLLM_FLASH_KERNELS")),
               FLASH_BAD;
    if (asked == FLASH_MMA) return FLASH_MMA;
    bool wgmma = false;
    if (flash_wgmma_available(&wgmma) != 0) return FLASH_BAD;
    if (wgmma) return FLASH_WGMMA;
    if (asked == FLASH_WGMMA)
        return kr_error("KRLLM_FLASH_KERNELS=wgmma, but the code loaded for this GPU has no wgmma kernels: they "
                        "need a Hopper GPU (H100, H200) and a build whose CUDA_ARCHS include 90a; use mma or "
                        "leave it unset"),
               FLASH_BAD;
    return FLASH_MMA;
}

template <> int k_attention_fwd<bf16>(const bf16 *qkv, bf16 *o, float *lse, AttnShape a, cudaStream_t s) {
    if (a.hd != 64) return k_attention_fwd_simple<bf16>(qkv, o, lse, a, s);
    switch (flash_choice()) {
    case FLASH_WGMMA: return flash_fwd_wgmma(qkv, o, lse, a, s);
    case FLASH_MMA: return flash_fwd<64>(qkv, o, lse, a, s);
    default: return -1;
    }
}
template <>
int k_attention_bwd<bf16>(const bf16 *qkv, const bf16 *o, const bf16 *dout, const float *lse, float *dsum, bf16 *dqkv,
                          AttnShape a, cudaStream_t s) {
    if (a.hd != 64) return k_attention_bwd_simple<bf16>(qkv, o, dout, lse, dsum, dqkv, a, s);
    switch (flash_choice()) {
    case FLASH_WGMMA: return flash_bwd_wgmma(qkv, o, dout, lse, dsum, dqkv, a, s);
    case FLASH_MMA: return flash_bwd<64>(qkv, o, dout, lse, dsum, dqkv, a, s);
    default: return -1;
    }
}
template <> int k_attention_fwd<float>(const float *qkv, float *o, float *lse, AttnShape a, cudaStream_t s) {
    return k_attention_fwd_simple<float>(qkv, o, lse, a, s);
}
template <>
int k_attention_bwd<float>(const float *qkv, const float *o, const float *dout, const float *lse, float *dsum,
                           float *dqkv, AttnShape a, cudaStream_t s) {
    return k_attention_bwd_simple<float>(qkv, o, dout, lse, dsum, dqkv, a, s);
}
