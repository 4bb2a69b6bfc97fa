/* Softmax cross-entropy fused with its gradient: one block per row reads the logits once for
 * an online max / sum-of-exponentials, then overwrites them with the gradient. The caller
 * feeds rows in chunks, so no full [N, V] probability matrix ever exists. */
#include "backend/cuda/kernels.cuh"

#define CE_THREADS 512

template <typename T>
__global__ void cross_entropy_kernel(T *logits, const int32_t *targets, float *loss, int V, float grad_scale,
                                     int want_grad) {
    __shared__ float scratch[32];
    __shared__ float s_max, s_sum;
    T *row = logits + (size_t)blockIdx.x * V;
    float m = -INFINITY, sum = 0.f;
    for (int j = threadIdx.x; j < V; j += CE_THREADS) {
        float x = to_f(row[j]);
        if (x > m) {
            sum = sum * __expf(m - x) + 1.f;
            m = x;
        } else {
            sum += __expf(x - m);
        }
    }
    float gm = block_max(m, scratch);
    float part = m == -INFINITY ? 0.f : sum * __expf(m - gm);
    float gs = block_sum(part, scratch);
    if (threadIdx.x == 0) {
        s_max = gm;
        s_sum = gs;
    }
    __syncthreads();
    gm = s_max;
    gs = s_sum;
    int tgt = targets[blockIdx.x];
    if (threadIdx.x == 0) loss[blockIdx.x] = logf(gs) + gm - to_f(row[tgt]);
    if (!want_grad) return;
    __syncthreads(); /* row[tgt] was read above before anyone overwrites it */
    float inv = 1.f / gs;
    for (int j = threadIdx.x; j < V; j += CE_THREADS) {
        float p = __expf(to_f(row[j]) - gm) * inv;
        row[j] = from_f<T>((p - (j == tgt ? 1.f : 0.f)) * grad_scale);
    }
}

template <typename T>
int k_cross_entropy(T *logits, const int32_t *targets, float *loss, int rows, int V, float grad_scale, int want_grad,
                    cudaStream_t s) {
    if (rows == 0) return 0;
    cross_entropy_kernel<T><<<rows, CE_THREADS, 0, s>>>(logits, targets, loss, V, grad_scale, want_grad);
    CU_LAUNCHED();
    return 0;
}

template int k_cross_entropy<float>(float *, const int32_t *, float *, int, int, float, int, cudaStream_t);
template int k_cross_entropy<bf16>(bf16 *, const int32_t *, float *, int, int, float, int, cudaStream_t);
