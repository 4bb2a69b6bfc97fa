/* Matrix products through cuBLASLt on row-major operands, fp32 accumulation:
 * C[M,N] = op(A)[M,K] op(B)[K,N] + beta C, op = transpose when the flag is set.
 * Plans (descriptors and the chosen algorithm) are cached per shape. */
#ifndef KR_CUDA_GEMM_CUH
#define KR_CUDA_GEMM_CUH

#include <cublasLt.h>
#include <library_types.h>

#include "backend/cuda/cuda_common.cuh"

typedef struct GemmCtx GemmCtx;

int gemm_create(GemmCtx **g, cudaStream_t s);
void gemm_destroy(GemmCtx *g);
size_t gemm_workspace_bytes(void);

int gemm(GemmCtx *g, int transA, int transB, int M, int N, int K, const void *A, int lda, cudaDataType at,
         const void *B, int ldb, cudaDataType bt, void *C, int ldc, cudaDataType ct, float beta);

/* The cuBLASLt descriptors gemm() runs a product of these arguments with (for programs that try
 * other algorithms on it). They are column-major, so the operands swap: cublasLtMatmul takes B
 * with layout `a`, then A with layout `b`, and C (and D) with layout `c`. */
typedef struct {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
} GemmLtDesc;
int gemm_describe(int transA, int transB, int M, int N, int K, int lda, cudaDataType at, int ldb, cudaDataType bt,
                  int ldc, cudaDataType ct, GemmLtDesc *d);
void gemm_describe_release(GemmLtDesc *d);

template <typename T> static inline cudaDataType cuda_type();
template <> inline cudaDataType cuda_type<float>() { return CUDA_R_32F; }
template <> inline cudaDataType cuda_type<bf16>() { return CUDA_R_16BF; }

/* The three products of a linear layer y = x W^T with W [out, in]:
 * forward y = x W^T; input gradient dx = dy W; weight gradient dW += dy^T x (fp32). */
template <typename T>
static inline int linear_fwd(GemmCtx *g, const T *x, const T *W, T *y, int rows, int in, int out) {
    return gemm(g, 0, 1, rows, out, in, x, in, cuda_type<T>(), W, in, cuda_type<T>(), y, out, cuda_type<T>(), 0.f);
}
template <typename T>
static inline int linear_bwd_input(GemmCtx *g, const T *dy, const T *W, T *dx, int rows, int in, int out) {
    return gemm(g, 0, 0, rows, in, out, dy, out, cuda_type<T>(), W, in, cuda_type<T>(), dx, in, cuda_type<T>(), 0.f);
}
template <typename T>
static inline int linear_bwd_weight(GemmCtx *g, const T *dy, const T *x, float *dW, int rows, int in, int out) {
    return gemm(g, 1, 0, out, in, rows, dy, out, cuda_type<T>(), x, in, cuda_type<T>(), dW, in, CUDA_R_32F, 1.f);
}

#endif
