/* Helpers of the CUDA checks and kernel benchmarks (tests/cuda and the programs in dev/cuda). */
#ifndef KR_CUDA_BENCH_UTIL_CUH
#define KR_CUDA_BENCH_UTIL_CUH

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "common/error.h"

/* Exits (status 2: the program could not run, as distinct from a failed check) with the
 * recorded error when a backend call fails, or with CUDA's message when a runtime call does. */
#define CK(x)                                                                                     \
    do {                                                                                          \
        if ((x) != 0) {                                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #x, kr_last_error()); \
            exit(2);                                                                              \
        }                                                                                         \
    } while (0)
#define CUDA_CK(x)                                                                                  \
    do {                                                                                            \
        cudaError_t e_ = (x);                                                                       \
        if (e_ != cudaSuccess) {                                                                    \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));   \
            exit(2);                                                                                \
        }                                                                                           \
    } while (0)

/* `bytes` of device memory, or exit 2. */
static inline void *dev_alloc(size_t bytes) {
    void *p;
    CUDA_CK(cudaMalloc(&p, bytes));
    return p;
}

/* n device values of type T (float or bf16) uniform in [-amp, amp), from rand(). */
template <typename T> static T *dev_random(size_t n, float amp) {
    T *p = (T *)dev_alloc(n * sizeof(T));
    std::vector<T> h(std::min<size_t>(n, 1 << 20));
    for (size_t i = 0; i < h.size(); i++) h[i] = (T)(amp * (2.f * rand() / (float)RAND_MAX - 1.f));
    for (size_t i = 0; i < n; i += h.size())
        CUDA_CK(cudaMemcpy(p + i, h.data(), sizeof(T) * std::min(h.size(), n - i), cudaMemcpyHostToDevice));
    return p;
}

/* Median time of a GPU operation by CUDA events on the default stream: one untimed warm-up run,
 * then `reps` timed ones. */
template <typename F> static float time_ms(F f, int reps = 10) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    f();
    std::vector<float> ts;
    for (int i = 0; i < reps; i++) {
        cudaEventRecord(a);
        f();
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        ts.push_back(ms);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(ts.begin(), ts.end());
    return ts[ts.size() / 2];
}

/* Mean time of one run over `runs` back-to-back runs after as many untimed ones: the rate the card
 * sustains under its power limit, as in training, where single runs see the full clock. */
template <typename F> static float sustained_ms(F f, int runs = 200) {
    cudaEvent_t a, b;
    CUDA_CK(cudaEventCreate(&a));
    CUDA_CK(cudaEventCreate(&b));
    for (int i = 0; i < runs; i++) f();
    CUDA_CK(cudaEventRecord(a));
    for (int i = 0; i < runs; i++) f();
    CUDA_CK(cudaEventRecord(b));
    CUDA_CK(cudaEventSynchronize(b));
    float ms;
    CUDA_CK(cudaEventElapsedTime(&ms, a, b));
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return ms / runs;
}

#endif
