/* Tensor-core building blocks shared by the flash attention kernels and their checks:
 * cp.async copies, bf16 packing, and Hopper warpgroup MMA (wgmma.mma_async, sm_90a only).
 *
 * wgmma here: a warpgroup (4 consecutive warps, 128 threads) computes a 64 x 64 fp32 product
 * whose A operand sits in registers and whose B operand is a 64 x 64 bf16 tile in shared memory,
 * stored with the 128-byte swizzle: 16-byte chunk c of row r at r * 128 + ((c ^ (r % 8)) * 16),
 * tiles 1024-byte aligned. The same tile serves as B = tile^T ("K-major": tile rows are the
 * output columns, e.g. S = Q K^T) and as B = tile ("MN-major": tile rows run along the
 * reduction, e.g. O += P V). Accumulators have the mma.sync m16n8 layout per warp: acc[j][e] is
 * row 16 * warp + g + 8 * (e / 2), column 8 j + 2 c + e % 2 (g = lane / 4, c = lane % 4), which
 * is also the layout of the A fragments, so a product's result feeds the next product. */
#ifndef KR_CUDA_TENSOR_CORE_CUH
#define KR_CUDA_TENSOR_CORE_CUH

#include <stdint.h>

#include "backend/cuda/cuda_common.cuh"

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
/* d += a b */
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
/* 2^x on the special-function unit (flush-to-zero; inputs here are <= 0 or -inf). */
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(valid ? 16 : 0));
}
/* 4 bytes, through L1 (16 is the only size the .cg form takes); zero-fills when !valid. */
__device__ __forceinline__ void cp_async4(void *smem, const void *gmem, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* wgmma exists only in code built for sm_90a (Hopper). Kernels that use it compile to empty
 * bodies elsewhere (Ampere, Ada, the portable PTX): their bodies sit under #if KR_WGMMA_CODE,
 * and the dispatch asks flash_wgmma_available() before launching one. */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define KR_WGMMA_CODE 1
#else
#define KR_WGMMA_CODE 0
#endif

#define WG_THREADS 128
#define WG_ROWS 64
#define WG_TILE_BYTES (WG_ROWS * 128)

__device__ __forceinline__ uint32_t sw128_offset(int row, int chunk) { return row * 128 + ((chunk ^ (row & 7)) << 4); }

/* Rows row0 .. row0+63 of a [T, ld] bf16 matrix (zero past T) into a swizzled tile, by NTHREADS
 * threads. Thread t always copies 16-byte chunk t % 8 of rows t / 8 + k * NTHREADS / 8: with
 * NTHREADS a multiple of 64 its swizzle is the same for every k, so each copy costs an address
 * add (this runs once per tile in the attention loops, where instructions are the bottleneck). */
template <int NTHREADS>
__device__ __forceinline__ void load_tile_sw(unsigned char *tile, const bf16 *g, int ld, int row0, int T, int tid) {
    static_assert(NTHREADS % 64 == 0 && NTHREADS <= 512, "a thread's rows must share their swizzle");
    constexpr int STEP = NTHREADS / 8;
    int r = tid >> 3, ch = tid & 7;
    unsigned char *s = tile + sw128_offset(r, ch);
    const bf16 *p = g + (size_t)(row0 + r) * ld + ch * 8;
    size_t step = (size_t)STEP * ld;
#pragma unroll
    for (int k = 0; k < WG_ROWS / STEP; k++) {
        bool ok = row0 + r + k * STEP < T;
        cp_async16(s + k * STEP * 128, ok ? p + k * step : g, ok);
    }
}
/* Makes cp.async data visible to the tensor cores' (async proxy) reads, block-wide. */
template <int PENDING> __device__ __forceinline__ void tiles_ready() {
    cp_async_wait<PENDING>();
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
}

/* Shared-memory matrix descriptors (128-byte swizzle; offsets in 16-byte units). K-major: the
 * 16-wide reduction slice kk starts 32 bytes further along each row; MN-major: 16 rows further. */
__device__ __forceinline__ uint64_t wg_desc(const void *tile, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((smem_addr(tile) & 0x3FFFF) >> 4) | ((uint64_t)lbo << 16) | ((uint64_t)sbo << 32) | (1ull << 62);
}
#define WG_KMAJOR 0
#define WG_MNMAJOR 1

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
/* Waits until at most N of this warpgroup's committed product groups are still running (groups
 * complete in commit order). */
template <int N> __device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Keeps the compiler from moving reads of an accumulator above the wait that completes it. */
__device__ __forceinline__ void wg_settle(float (&d)[8][4]) {
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) asm volatile("" : "+f"(d[j][e])::"memory");
}

/* d[64 x 64] (+)= a[64 x 16] . b[16 x 64]: A from registers, B by descriptor. */
template <int MAJOR>
__device__ __forceinline__ void wgmma_m64n64k16(float (&d)[8][4], const uint32_t (&a)[4], uint64_t desc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %38, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
        "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, "
        "{%32,%33,%34,%35}, %36, p, 1, 1, %37;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]),
          "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]),
          "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]),
          "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
          "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "n"(MAJOR), "r"(accumulate));
}

/* Issues d (+)= A . B over a 64-long reduction (4 k-slices) as one commit group; the caller waits. */
template <int MAJOR>
__device__ __forceinline__ void wg_product(float (&d)[8][4], const uint32_t (&a)[4][4], const void *tile, int accumulate) {
    uint64_t desc = MAJOR == WG_KMAJOR ? wg_desc(tile, 1, 64) : wg_desc(tile, 64, 64);
#pragma unroll
    for (int kk = 0; kk < 4; kk++)
        wgmma_m64n64k16<MAJOR>(d, a[kk], desc + (MAJOR == WG_KMAJOR ? 2 * kk : 128 * kk), accumulate || kk > 0);
}

/* Zeroes an accumulator (a warp's 16 x 64 block). */
__device__ __forceinline__ void acc_zero(float (&d)[8][4]) {
#pragma unroll
    for (int j = 0; j < 8; j++) d[j][0] = d[j][1] = d[j][2] = d[j][3] = 0.f;
}

/* A fragments of rows row0 .. row0+15 (this warp's) of a [T, ld] bf16 matrix, zero past T. */
__device__ __forceinline__ void load_a_frags(uint32_t (&f)[4][4], const bf16 *g, int ld, int row0, int T) {
    int lane = threadIdx.x & 31, r0 = row0 + (lane >> 2), r1 = r0 + 8, c2 = 2 * (lane & 3);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        f[kk][0] = r0 < T ? *(const uint32_t *)(g + (size_t)r0 * ld + 16 * kk + c2) : 0u;
        f[kk][1] = r1 < T ? *(const uint32_t *)(g + (size_t)r1 * ld + 16 * kk + c2) : 0u;
        f[kk][2] = r0 < T ? *(const uint32_t *)(g + (size_t)r0 * ld + 16 * kk + 8 + c2) : 0u;
        f[kk][3] = r1 < T ? *(const uint32_t *)(g + (size_t)r1 * ld + 16 * kk + 8 + c2) : 0u;
    }
}
/* An accumulator (64 columns) as the A operand of the next product. */
__device__ __forceinline__ void acc_to_a_frags(uint32_t (&f)[4][4], const float (&p)[8][4]) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        f[kk][0] = pack_bf16(p[2 * kk][0], p[2 * kk][1]);
        f[kk][1] = pack_bf16(p[2 * kk][2], p[2 * kk][3]);
        f[kk][2] = pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]);
        f[kk][3] = pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3]);
    }
}
/* Writes a warp's 16 x 64 accumulator rows (times `scale`) as bf16 into a [T, ld] matrix. */
__device__ __forceinline__ void store_acc_rows(bf16 *g, int ld, int row0, int T, const float (&d)[8][4], float s0,
                                               float s1) {
    int lane = threadIdx.x & 31, r0 = row0 + (lane >> 2), r1 = r0 + 8, c2 = 2 * (lane & 3);
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (r0 < T) *(uint32_t *)(g + (size_t)r0 * ld + 8 * j + c2) = pack_bf16(d[j][0] * s0, d[j][1] * s0);
        if (r1 < T) *(uint32_t *)(g + (size_t)r1 * ld + 8 * j + c2) = pack_bf16(d[j][2] * s1, d[j][3] * s1);
    }
}
/* 1024-byte aligned start of the dynamic shared memory (launches ask for 1 KB extra). */
__device__ __forceinline__ unsigned char *smem_aligned_1k(unsigned char *raw) {
    uint32_t a = smem_addr(raw);
    return raw + (((a + 1023u) & ~1023u) - a);
}

#endif
