/* Shared helpers of the CUDA backend: error checks that record a kr_error message, and
 * conversions between the activation type (float or bf16) and fp32 arithmetic. */
#ifndef KR_CUDA_COMMON_CUH
#define KR_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "common/error.h"
}

typedef __nv_bfloat16 bf16;

#define CU_TRY(call)                                                                               \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            return kr_error("cuda: %s failed: %s (%s:%d)", #call, cudaGetErrorString(err_), __FILE__, __LINE__); \
    } while (0)

/* After a kernel launch: reports bad launch configurations at once. */
#define CU_LAUNCHED() CU_TRY(cudaGetLastError())

#define TRY(expr)                     \
    do {                              \
        if ((expr) != 0) return -1;   \
    } while (0)

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16(x); }

__device__ __forceinline__ float warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

/* Sum or max over a block of up to 1024 threads (every thread gets the result); `scratch` holds
 * 32 floats. */
template <float (*WARP_REDUCE)(float)>
__device__ __forceinline__ float block_reduce(float x, float identity, float *scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    x = WARP_REDUCE(x);
    __syncthreads();
    if (lane == 0) scratch[warp] = x;
    __syncthreads();
    x = lane < nw ? scratch[lane] : identity;
    return WARP_REDUCE(x);
}
__device__ __forceinline__ float block_sum(float x, float *scratch) { return block_reduce<warp_sum>(x, 0.f, scratch); }
__device__ __forceinline__ float block_max(float x, float *scratch) { return block_reduce<warp_max>(x, -INFINITY, scratch); }

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

#endif
