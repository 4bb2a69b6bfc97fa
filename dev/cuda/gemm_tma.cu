/* Matrix products of our own for Hopper, under development beside cuBLASLt (not yet used by the
 * trainer): C = A B^T with A [M, K] and B [N, K] bf16 row-major (the layout of linear_fwd:
 * x W^T), fp32 accumulation, C bf16. The point is room for epilogues cuBLASLt lacks: here the
 * SwiGLU of the w1|w3 product, which would save the separate SwiGLU pass over its output.
 *
 * Both kernels are persistent (one block per multiprocessor walks the output tiles, grouped by
 * GROUP_M row blocks so that the tiles in flight share their operands in L2) and warp-specialised:
 * the first thread of a producer warpgroup loads A and B tiles by TMA into a ring of shared-memory
 * stages (mbarriers: `full` once a stage has landed, `empty` once its consumers are done), and two
 * consumer warpgroups multiply straight from shared memory with wgmma (both operands K-major,
 * 128-byte swizzle). Outputs leave through a swizzled shared tile and TMA stores, so the products
 * of the next tile start while the stores drain.
 * - gemm_coop_kernel: 128 x 256 tiles, each consumer computing 64 x 256 (wgmma m64n256k16);
 *   3 stages, leaving room for the staged output.
 * - gemm_pingpong_kernel: 128 x 128 tiles, each consumer owning whole tiles (two m64n128k16 per
 *   k-slice), the two taking turns at the products, so that one's epilogue runs while the other
 *   multiplies. With SWIGLU, each tile's B slice is 64 rows of W1 and the same 64 rows of W3 (two
 *   TMA boxes from the usual [W1; W3] weight), so a thread holds a and b of the same column: it
 *   writes a|b to their usual places and g = silu(a) * b, computed from a and b rounded to bf16
 *   exactly as the separate SwiGLU kernel does. Also in clusters of two blocks along M, which
 *   share each B tile: each block fetches half of it for both (TMA multicast), so B crosses L2
 *   once per two tiles.
 *
 * This program checks each against cuBLASLt (and the SwiGLU kernel) and times them, alone and
 * back to back (the power-limited rate of training):
 *   gemm_tma [M N K]     (default: the medium model's w1|w3 product, 32768 9216 1024; M a
 *                         multiple of 256, N of 256, K of 64) */
#include <cuda.h>
#include <cudaTypedefs.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "backend/cuda/gemm.cuh"
#include "backend/cuda/kernels.cuh"
#include "backend/cuda/tensor_core.cuh"
#include "../../tests/cuda/bench_util.cuh"

#define BK 64
#define GROUP_M 16
#define CO_BM 128
#define CO_BN 256
#define CO_STAGES 3
#define CO_STAGE_BYTES ((CO_BM + CO_BN) * BK * 2)
#define CO_OUT_BYTES (CO_BM * CO_BN * 2) /* both warpgroups' output tiles, 4 chunks of 64 columns each */
#define CO_SMEM (CO_STAGES * CO_STAGE_BYTES + CO_OUT_BYTES + 2 * CO_STAGES * 8 + 1024)
#define PP_BM 128
#define PP_BN 128
#define PP_STAGES 5
#define PP_STAGE_BYTES ((PP_BM + PP_BN) * BK * 2)
#define PP_CHUNKS 2                     /* staged output pieces per consumer warpgroup */
#define PP_CHUNK_BYTES (PP_BM * 64 * 2) /* one piece: 128 rows x 64 columns */
#define PP_SMEM (PP_STAGES * PP_STAGE_BYTES + 2 * PP_CHUNKS * PP_CHUNK_BYTES + (2 * PP_STAGES + 2) * 8 + 1024)

/* 1 in the code built for sm_90a: whether the kernels below have bodies on this GPU. */
__device__ const int gemm_code_loaded = KR_WGMMA_CODE;

__device__ __forceinline__ void mbar_init(uint64_t *b, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(b)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t *b, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t *b) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(b)) : "memory");
}
/* Waits until the barrier's phase of the given parity has completed (a fresh barrier counts the
 * phase before its first, parity 1, as completed). */
__device__ __forceinline__ void mbar_wait(uint64_t *b, int parity) {
    uint32_t done = 0;
    while (!done)
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(smem_addr(b)), "r"(parity)
                     : "memory");
}
__device__ __forceinline__ void barriers_init(uint64_t *b, int n, int count) {
    for (int i = 0; i < n; i++) mbar_init(&b[i], count);
}
__device__ __forceinline__ void tma_load_2d(void *dst, const CUtensorMap *map, uint64_t *bar, int c0, int c1) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
                     smem_addr(dst)),
                 "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(smem_addr(bar))
                 : "memory");
}
__device__ __forceinline__ void tma_store_2d(const CUtensorMap *map, const void *src, int c0, int c1) {
    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"((uint64_t)map), "r"(c0),
                 "r"(c1), "r"(smem_addr(src))
                 : "memory");
}
/* The same box into the same place of every block of the cluster in `mask`, each block's barrier
 * at that place counting the bytes. */
__device__ __forceinline__ void tma_load_2d_multicast(void *dst, const CUtensorMap *map, uint64_t *bar, int c0, int c1,
                                                      uint16_t mask) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(
                     smem_addr(dst)),
                 "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(smem_addr(bar)), "h"(mask)
                 : "memory");
}
__device__ __forceinline__ uint32_t cluster_rank() {
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}
/* Every thread of every block of the cluster. */
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
/* Arrives on the barrier at the same place in block `rank` of the cluster. With the default
 * (block-scope) release: what it orders is this block's finished wgmma reads of a stage before
 * the other block's next TMA write into it, as for the local arrive. A cluster-scope release (and
 * acquire in the producer's wait) put a GPU-wide memory barrier into every k-step and made the
 * kernel 1.9x slower. */
__device__ __forceinline__ void mbar_arrive_remote(uint64_t *b, uint32_t rank) {
    asm volatile("{\n.reg .b32 remote;\nmapa.shared::cluster.u32 remote, %0, %1;\n"
                 "mbarrier.arrive.shared::cluster.b64 _, [remote];\n}\n" ::"r"(smem_addr(b)),
                 "r"(rank)
                 : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
/* Waits until all but the newest N committed store groups have read their shared-memory source. */
template <int N> __device__ __forceinline__ void bulk_wait_read() {
    asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void bulk_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
/* Makes the warpgroup's shared-memory writes visible to TMA, then lines the warpgroup up. */
__device__ __forceinline__ void wg_bar(int id) { asm volatile("bar.sync %0, 128;\n" ::"r"(id) : "memory"); }
__device__ __forceinline__ void staged_for_tma(int id) {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    wg_bar(id);
}
/* The word of a staged chunk (64 columns, 128-byte swizzle as TMA expects) holding columns col, col + 1 of a row. */
__device__ __forceinline__ uint32_t *staged_word(unsigned char *chunk, int row, int col) {
    return (uint32_t *)(chunk + sw128_offset(row, col >> 3) + (col & 7) * 2);
}

__device__ __forceinline__ float silu_ref(float a) { return a / (1.f + __expf(-a)); }
__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16(x)); }

/* Output tile t's corner: tiles walk GROUP_M row blocks down, then one column block across. */
__device__ __forceinline__ void tile_corner(int t, int tiles_m, int tiles_n, int bm, int bn, int *m0, int *n0) {
    int group = GROUP_M * tiles_n, first = t / group * GROUP_M, rows = min(tiles_m - first, GROUP_M), r = t % group;
    *m0 = (first + r % rows) * bm;
    *n0 = (r / rows) * bn;
}

/* d[64 x 256] (+)= A[64 x 16] . B[16 x 256], both operands in shared memory (K-major tiles, 128-byte
 * swizzle), by descriptor. */
__device__ __forceinline__ void wgmma_m64n256k16_ss(float (&d)[128], uint64_t desc_a, uint64_t desc_b, int accumulate) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
                 : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

/* d[64 x 128] (+)= A[64 x 16] . B[16 x 128], both from shared memory by descriptor. */
__device__ __forceinline__ void wgmma_m64n128k16_ss(float *d, uint64_t desc_a, uint64_t desc_b, int accumulate) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

/* Output tile t of a block that is `rank` of a cluster of CL blocks along M: the cluster walks
 * tiles of CL * BM rows, each block taking its BM of them, so that the blocks share B's tile. */
template <int BM_, int BN_, int CL>
__device__ __forceinline__ void cluster_tile_corner(int t, int tiles_m, int tiles_n, int rank, int *m0, int *n0) {
    tile_corner(t, tiles_m / CL, tiles_n, CL * BM_, BN_, m0, n0);
    *m0 += rank * BM_;
}

/* The producer: tile after tile (the cluster's i-th tile is cid + i * nclusters), the A and B
 * slices of each k-block into the next stage of the ring, once its consumers have released it.
 * With SPLIT_B, B comes as two boxes of BN_ / 2 rows: rows n0 and n0 + BN_ / 2 or, for the SwiGLU
 * layout (swiglu_half = N / 2, B = [W1; W3]), W1's rows n0 / 2 and W3's rows N / 2 + n0 / 2.
 * In a cluster of two (SPLIT_B), each block fetches one of the boxes for both blocks (multicast),
 * and a stage is free again once the consumers of both blocks have released it. */
template <int BM_, int BN_, int STAGES_, bool SPLIT_B, int CL>
__device__ __forceinline__ void produce(const CUtensorMap *tm_a, const CUtensorMap *tm_b, unsigned char *ring,
                                        uint64_t *full, uint64_t *empty, int tiles_m, int tiles_n, int kblocks,
                                        int swiglu_half, int rank, int cid, int nclusters) {
    static_assert(CL == 1 || SPLIT_B, "a cluster shares B as two boxes");
    constexpr int a_bytes = BM_ * BK * 2;
    for (int i = 0, t = cid; t < tiles_m / CL * tiles_n; i++, t += nclusters) {
        int m0, n0;
        cluster_tile_corner<BM_, BN_, CL>(t, tiles_m, tiles_n, rank, &m0, &n0);
        int b0 = swiglu_half ? n0 / 2 : n0, b1 = swiglu_half ? swiglu_half + n0 / 2 : n0 + BN_ / 2;
        for (int kb = 0; kb < kblocks; kb++) {
            int it = i * kblocks + kb, s = it % STAGES_;
            unsigned char *stage = ring + s * (BM_ + BN_) * BK * 2, *stage_b = stage + a_bytes;
            mbar_wait(&empty[s], ((it / STAGES_) & 1) ^ 1);
            mbar_expect_tx(&full[s], (BM_ + BN_) * BK * 2);
            tma_load_2d(stage, tm_a, &full[s], kb * BK, m0);
            if (CL > 1) {
                tma_load_2d_multicast(stage_b + rank * (BN_ / 2) * BK * 2, tm_b, &full[s], kb * BK, rank ? b1 : b0, 0x3);
            } else if (SPLIT_B) {
                tma_load_2d(stage_b, tm_b, &full[s], kb * BK, b0);
                tma_load_2d(stage_b + BN_ / 2 * BK * 2, tm_b, &full[s], kb * BK, b1);
            } else {
                tma_load_2d(stage_b, tm_b, &full[s], kb * BK, n0);
            }
        }
    }
}

/* C [M, N] through tm_c (boxes of 64 columns x 64 rows). */
__global__ void __launch_bounds__(384, 1) gemm_coop_kernel(const __grid_constant__ CUtensorMap tm_a,
                                                           const __grid_constant__ CUtensorMap tm_b,
                                                           const __grid_constant__ CUtensorMap tm_c, int M, int N, int K) {
#if KR_WGMMA_CODE
    extern __shared__ unsigned char smem_raw[];
    unsigned char *ring = smem_aligned_1k(smem_raw), *staged = ring + CO_STAGES * CO_STAGE_BYTES;
    uint64_t *full = (uint64_t *)(staged + CO_OUT_BYTES), *empty = full + CO_STAGES;
    int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    int tiles_m = M / CO_BM, tiles_n = N / CO_BN, kblocks = K / BK;
    if (threadIdx.x == 0) {
        barriers_init(full, CO_STAGES, 1);
        barriers_init(empty, CO_STAGES, 2);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (wg == 0) {
        if (tid == 0) produce<CO_BM, CO_BN, CO_STAGES, false, 1>(&tm_a, &tm_b, ring, full, empty, tiles_m, tiles_n, kblocks, 0, 0,
                                                     blockIdx.x, gridDim.x);
        return;
    }
    int cw = wg - 1, row = (tid / 32) * 16 + (tid % 32) / 4, c = tid % 4;
    unsigned char *out = staged + cw * (CO_OUT_BYTES / 2);
    float acc[128];
    for (int i = 0, t = blockIdx.x; t < tiles_m * tiles_n; i++, t += gridDim.x) {
        int m0, n0;
        tile_corner(t, tiles_m, tiles_n, CO_BM, CO_BN, &m0, &n0);
        int prev = -1;
        for (int kb = 0; kb < kblocks; kb++) {
            int it = i * kblocks + kb, s = it % CO_STAGES;
            mbar_wait(&full[s], (it / CO_STAGES) & 1);
            unsigned char *stage = ring + s * CO_STAGE_BYTES;
            uint64_t da = wg_desc(stage + cw * 64 * 128, 1, 64), db = wg_desc(stage + CO_BM * BK * 2, 1, 64);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) wgmma_m64n256k16_ss(acc, da + 2 * kk, db + 2 * kk, kb > 0 || kk > 0);
            wg_commit();
            wg_wait<1>(); /* the previous k-block's products are done: its stage goes back */
            if (prev >= 0 && tid == 0) mbar_arrive(&empty[prev]);
            prev = s;
        }
        wg_wait<0>();
        if (tid == 0) mbar_arrive(&empty[prev]);
#pragma unroll
        for (int e = 0; e < 128; e++) asm volatile("" : "+f"(acc[e])::"memory");
        if (tid == 0) bulk_wait_read<0>(); /* the previous tile's stores have left the staging area */
        wg_bar(1 + cw);
#pragma unroll
        for (int j = 0; j < 32; j++) {
            unsigned char *chunk = out + (j / 8) * 8192;
            *staged_word(chunk, row, 8 * (j % 8) + 2 * c) = pack_bf16(acc[4 * j], acc[4 * j + 1]);
            *staged_word(chunk, row + 8, 8 * (j % 8) + 2 * c) = pack_bf16(acc[4 * j + 2], acc[4 * j + 3]);
        }
        staged_for_tma(1 + cw);
        if (tid == 0) {
            for (int q = 0; q < 4; q++) tma_store_2d(&tm_c, out + q * 8192, n0 + 64 * q, m0 + cw * 64);
            bulk_commit();
        }
    }
    if (tid == 0) bulk_wait_all();
#endif
}

/* Without SWIGLU: C [M, N] through tm_c (boxes of 64 columns x 128 rows). With SWIGLU: B = [W1; W3]
 * ([N, K], W1 the first N / 2 rows), a|b through tm_c ([M, N], a in columns [0, N/2), b in
 * [N/2, N)) and g through tm_g ([M, N/2]); a tile's columns [0, 64) are a's n0 / 2 + [0, 64),
 * [64, 128) b's same columns.
 * A tile leaves as 2 output pieces of 128 x 64 (3 with g), each staged in the warpgroup's next
 * chunk once that chunk's previous store has read it. The producer warpgroup gives registers to
 * the consumers (40 against 232 a thread; with 168 each, the SwiGLU epilogue spilled).
 * CL = 2: launched in clusters of two blocks along M that share each B tile (produce). */
template <bool SWIGLU, int CL>
__global__ void __launch_bounds__(384, 1) gemm_pingpong_kernel(const __grid_constant__ CUtensorMap tm_a,
                                                               const __grid_constant__ CUtensorMap tm_b,
                                                               const __grid_constant__ CUtensorMap tm_c,
                                                               const __grid_constant__ CUtensorMap tm_g, int M, int N, int K) {
#if KR_WGMMA_CODE
    extern __shared__ unsigned char smem_raw[];
    unsigned char *ring = smem_aligned_1k(smem_raw), *staged = ring + PP_STAGES * PP_STAGE_BYTES;
    uint64_t *full = (uint64_t *)(staged + 2 * PP_CHUNKS * PP_CHUNK_BYTES), *empty = full + PP_STAGES, *order = empty + PP_STAGES;
    int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    int tiles_m = M / PP_BM, tiles_n = N / PP_BN, kblocks = K / BK, ntiles = tiles_m / CL * tiles_n;
    int rank = CL > 1 ? (int)cluster_rank() : 0, cid = blockIdx.x / CL, nclusters = gridDim.x / CL;
    if (threadIdx.x == 0) {
        barriers_init(full, PP_STAGES, 1);
        barriers_init(empty, PP_STAGES, CL);
        barriers_init(order, 2, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    if (CL > 1) cluster_sync(); /* the other block's barriers are ready before anything reaches them */
    else __syncthreads();
    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid == 0)
            produce<PP_BM, PP_BN, PP_STAGES, true, CL>(&tm_a, &tm_b, ring, full, empty, tiles_m, tiles_n, kblocks,
                                                       SWIGLU ? N / 2 : 0, rank, cid, nclusters);
        __syncwarp();
        if (CL > 1) cluster_sync(); /* no block leaves while the other may still write to it */
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    /* a stage goes back to the producers of every block that filled part of it */
    auto release = [&](int s) {
        mbar_arrive(&empty[s]);
        if (CL > 1) mbar_arrive_remote(&empty[s], rank ^ 1);
    };
    int cw = wg - 1, row = (tid / 32) * 16 + (tid % 32) / 4, c = tid % 4;
    unsigned char *out = staged + cw * PP_CHUNKS * PP_CHUNK_BYTES;
    float acc[2][64]; /* rows 0-63 and 64-127 of the tile */
    int piece = 0;    /* output pieces this warpgroup has staged so far: piece q goes through chunk q % PP_CHUNKS */
    /* The warpgroups take turns at the products (order[cw] opens warpgroup cw's next turn), so a
     * consumer never waits on a stage's barrier more than one phase ahead of it. */
    for (int i = cw, n = 0, t = cid + cw * nclusters; t < ntiles; i += 2, n++, t += 2 * nclusters) {
        int m0, n0;
        cluster_tile_corner<PP_BM, PP_BN, CL>(t, tiles_m, tiles_n, rank, &m0, &n0);
        if (cw == 1) mbar_wait(&order[1], n & 1);
        else if (n > 0) mbar_wait(&order[0], (n - 1) & 1);
        int prev = -1;
        for (int kb = 0; kb < kblocks; kb++) {
            int it = i * kblocks + kb, s = it % PP_STAGES;
            mbar_wait(&full[s], (it / PP_STAGES) & 1);
            unsigned char *stage = ring + s * PP_STAGE_BYTES;
            uint64_t da = wg_desc(stage, 1, 64), db = wg_desc(stage + PP_BM * BK * 2, 1, 64);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) {
                wgmma_m64n128k16_ss(acc[0], da + 2 * kk, db + 2 * kk, kb > 0 || kk > 0);
                wgmma_m64n128k16_ss(acc[1], da + 64 * 128 / 16 + 2 * kk, db + 2 * kk, kb > 0 || kk > 0);
            }
            wg_commit();
            wg_wait<1>();
            if (prev >= 0 && tid == 0) release(prev);
            prev = s;
        }
        if (tid == 0) mbar_arrive(&order[cw ^ 1]); /* every stage of this tile is in: the other's turn */
        wg_wait<0>();
        if (tid == 0) release(prev);
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
            for (int e = 0; e < 64; e++) asm volatile("" : "+f"(acc[h][e])::"memory");
#pragma unroll
        for (int p = 0; p < (SWIGLU ? 3 : 2); p++, piece++) {
            unsigned char *chunk = out + (piece % PP_CHUNKS) * PP_CHUNK_BYTES;
            if (tid == 0) bulk_wait_read<PP_CHUNKS - 1>(); /* the chunk's previous store has read it */
            wg_bar(1 + cw);
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int r = 64 * h + row;
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    float v[4];
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        v[e] = p < 2 ? acc[h][4 * (j + 8 * p) + e]
                                     : silu_ref(round_bf16(acc[h][4 * j + e])) * round_bf16(acc[h][4 * (j + 8) + e]);
                    *staged_word(chunk, r, 8 * j + 2 * c) = pack_bf16(v[0], v[1]);
                    *staged_word(chunk, r + 8, 8 * j + 2 * c) = pack_bf16(v[2], v[3]);
                }
            }
            staged_for_tma(1 + cw);
            if (tid == 0) {
                if (!SWIGLU) tma_store_2d(&tm_c, chunk, n0 + 64 * p, m0);
                else if (p < 2) tma_store_2d(&tm_c, chunk, p * (N / 2) + n0 / 2, m0);
                else tma_store_2d(&tm_g, chunk, n0 / 2, m0);
                bulk_commit();
            }
        }
    }
    if (tid == 0) bulk_wait_all();
    __syncwarp();
    if (CL > 1) cluster_sync();
#endif
}

static PFN_cuTensorMapEncodeTiled_v12000 encode_tiled;

/* [rows, cols] bf16 row-major, moved in boxes of box_cols x box_rows with the 128-byte swizzle. */
static CUtensorMap tensor_map(const bf16 *p, int rows, int cols, int box_rows, int box_cols) {
    CUtensorMap m;
    cuuint64_t dims[2] = {(cuuint64_t)cols, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)cols * 2};
    cuuint32_t box[2] = {(cuuint32_t)box_cols, (cuuint32_t)box_rows}, elem[2] = {1, 1};
    CUresult r = encode_tiled(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, (void *)p, dims, strides, box, elem,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                              CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        fprintf(stderr, "cuTensorMapEncodeTiled failed: %d\n", (int)r);
        exit(1);
    }
    return m;
}

/* Relative L2 difference and the count of elements that differ at all. */
static double compare(const bf16 *d_ref, const bf16 *d_got, size_t n, size_t *differ) {
    std::vector<bf16> r(n), x(n);
    CUDA_CK(cudaMemcpy(r.data(), d_ref, n * 2, cudaMemcpyDeviceToHost));
    CUDA_CK(cudaMemcpy(x.data(), d_got, n * 2, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    *differ = 0;
    for (size_t i = 0; i < n; i++) {
        double a = __bfloat162float(r[i]), b = __bfloat162float(x[i]);
        num += (a - b) * (a - b), den += a * a;
        *differ += memcmp(&r[i], &x[i], 2) != 0;
    }
    return sqrt(num / den);
}

static std::vector<bf16> random_bf16(size_t n) {
    std::vector<bf16> v(n);
    for (auto &x : v) x = __float2bfloat16(rand() / (float)RAND_MAX - 0.5f);
    return v;
}

static bf16 *upload(const std::vector<bf16> &h) {
    bf16 *d;
    CUDA_CK(cudaMalloc(&d, h.size() * 2));
    CUDA_CK(cudaMemcpy(d, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
    return d;
}

typedef void (*PingPongKernel)(CUtensorMap, CUtensorMap, CUtensorMap, CUtensorMap, int, int, int);

int main(int argc, char **argv) {
    int M = argc > 3 ? atoi(argv[1]) : 32768, N = argc > 3 ? atoi(argv[2]) : 9216, K = argc > 3 ? atoi(argv[3]) : 1024;
    if (M % (2 * PP_BM) || N % CO_BN || K % BK) {
        fprintf(stderr, "M, N, K must be multiples of %d, %d, %d\n", 2 * PP_BM, CO_BN, BK);
        return 2;
    }
    int loaded = 0;
    if (cudaMemcpyFromSymbol(&loaded, gemm_code_loaded, sizeof loaded) != cudaSuccess || !loaded) {
        printf("SKIP gemm_tma: needs a Hopper GPU and code built for sm_90a\n");
        return 0;
    }
    cudaDeviceProp prop;
    CUDA_CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, M %d N %d K %d\n", prop.name, M, N, K);
    cudaDriverEntryPointQueryResult q;
    CUDA_CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", (void **)&encode_tiled, 12000, cudaEnableDefault, &q));
    if (q != cudaDriverEntryPointSuccess) return fprintf(stderr, "no cuTensorMapEncodeTiled\n"), 1;
    int F = N / 2;
    srand(1);
    std::vector<bf16> ha = random_bf16((size_t)M * K), hb = random_bf16((size_t)N * K);
    bf16 *a = upload(ha), *b = upload(hb);
    bf16 *c_ref, *g_ref, *c, *g;
    CUDA_CK(cudaMalloc(&c_ref, (size_t)M * N * 2));
    CUDA_CK(cudaMalloc(&g_ref, (size_t)M * F * 2));
    CUDA_CK(cudaMalloc(&c, (size_t)M * N * 2));
    CUDA_CK(cudaMalloc(&g, (size_t)M * F * 2));
    GemmCtx *gc;
    CK(gemm_create(&gc, 0));
    CK(linear_fwd<bf16>(gc, a, b, c_ref, M, K, N));
    CK(k_swiglu_fwd<bf16>(c_ref, g_ref, M, F, 0));
    CUtensorMap co_a = tensor_map(a, M, K, CO_BM, BK), co_b = tensor_map(b, N, K, CO_BN, BK), co_c = tensor_map(c, M, N, 64, 64);
    CUtensorMap pp_a = tensor_map(a, M, K, PP_BM, BK), pp_b = tensor_map(b, N, K, PP_BN / 2, BK);
    CUtensorMap pp_c = tensor_map(c, M, N, PP_BM, 64), pp_g = tensor_map(g, M, F, PP_BM, 64);
    CUDA_CK(cudaFuncSetAttribute(gemm_coop_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, CO_SMEM));
    struct Variant {
        const char *name;
        PingPongKernel kernel; /* NULL: the cooperative kernel */
        int smem;
        bool swiglu;
        int cluster; /* blocks per cluster */
    } variants[] = {
        {"cooperative 128x256", NULL, CO_SMEM, false, 1},
        {"ping-pong 128x128", gemm_pingpong_kernel<false, 1>, PP_SMEM, false, 1},
        {"ping-pong, clusters", gemm_pingpong_kernel<false, 2>, PP_SMEM, false, 2},
        {"ping-pong + SwiGLU", gemm_pingpong_kernel<true, 1>, PP_SMEM, true, 1},
        {"pp + SwiGLU, clusters", gemm_pingpong_kernel<true, 2>, PP_SMEM, true, 2},
    };
    int sms = prop.multiProcessorCount, failed = 0;
    int co_grid = std::min(sms, (M / CO_BM) * (N / CO_BN));
    double flops = 2.0 * M * N * K;
    auto ref = [&] { CK(linear_fwd<bf16>(gc, a, b, c_ref, M, K, N)); };
    auto ref_swiglu = [&] {
        ref();
        CK(k_swiglu_fwd<bf16>(c_ref, g_ref, M, F, 0));
    };
    float t_ref = time_ms(ref), t_ref_swiglu = time_ms(ref_swiglu);
    float s_ref = sustained_ms(ref), s_ref_swiglu = sustained_ms(ref_swiglu);
    printf("times: median of 10 single runs | mean of 200 back to back (sustained)\n");
    printf("     %-21s %.3f | %.3f ms %6.1f TFLOP/s\n", "cuBLASLt (tuned)", t_ref, s_ref, flops / s_ref / 1e9);
    printf("     %-21s %.3f | %.3f ms\n", "cuBLASLt + SwiGLU", t_ref_swiglu, s_ref_swiglu);
    for (const Variant &v : variants) {
        if (v.kernel) CUDA_CK(cudaFuncSetAttribute(v.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, v.smem));
        CUDA_CK(cudaMemset(c, 0, (size_t)M * N * 2));
        CUDA_CK(cudaMemset(g, 0, (size_t)M * F * 2));
        /* as many whole clusters as can run at once (a cluster's blocks share a GPC, so clusters of
         * two may leave multiprocessors idle), each walking output tiles */
        cudaLaunchAttribute cluster_dim;
        cluster_dim.id = cudaLaunchAttributeClusterDimension;
        cluster_dim.val.clusterDim.x = v.cluster, cluster_dim.val.clusterDim.y = 1, cluster_dim.val.clusterDim.z = 1;
        cudaLaunchConfig_t cfg = {dim3(sms / v.cluster * v.cluster), dim3(384), (size_t)v.smem, 0, &cluster_dim, 1};
        int clusters = sms / v.cluster;
        if (v.kernel && v.cluster > 1) CUDA_CK(cudaOccupancyMaxActiveClusters(&clusters, v.kernel, &cfg));
        clusters = std::min(clusters, (M / PP_BM / v.cluster) * (N / PP_BN));
        cfg.gridDim = dim3(clusters * v.cluster);
        auto run = [&] {
            if (!v.kernel) gemm_coop_kernel<<<co_grid, 384, CO_SMEM>>>(co_a, co_b, co_c, M, N, K);
            else if (v.cluster == 1) v.kernel<<<clusters, 384, v.smem>>>(pp_a, pp_b, pp_c, pp_g, M, N, K);
            else CUDA_CK(cudaLaunchKernelEx(&cfg, v.kernel, pp_a, pp_b, pp_c, pp_g, M, N, K));
        };
        run();
        CUDA_CK(cudaGetLastError());
        CUDA_CK(cudaDeviceSynchronize());
        size_t dc = 0, dg = 0;
        double ec = compare(c_ref, c, (size_t)M * N, &dc), eg = v.swiglu ? compare(g_ref, g, (size_t)M * F, &dg) : 0;
        bool ok = ec < 1e-2 && eg < 1e-2;
        failed |= !ok;
        float t = time_ms(run), st = sustained_ms(run);
        CUDA_CK(cudaGetLastError());
        printf("%s %-21s %.3f | %.3f ms %6.1f TFLOP/s  (%d blocks; against cuBLASLt: relative %.1e, %zu elements differ",
               ok ? "PASS" : "FAIL", v.name, t, st, flops / st / 1e9, clusters * v.cluster, ec, dc);
        if (v.swiglu) printf("; g against the SwiGLU kernel: relative %.1e, %zu differ", eg, dg);
        printf(")\n");
    }
    return failed;
}
