/* C-callable helpers of the CUDA backend (the backend itself is cuda_backend_ops in backend.h). */
#ifndef KR_BACKEND_CUDA_H
#define KR_BACKEND_CUDA_H

#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when a CUDA device can be used; 0 otherwise, with the reason left in kr_last_error(). */
int cuda_device_available(void);
/* Name of device 0 ("" when none), for logs and benchmark tables. */
const char *cuda_device_name(void);
/* Number of CUDA devices this process can use (0 when none). */
int cuda_device_count(void);

/* The backend on one GPU: the device current when `create` runs, which must stay current
 * for every later call. cuda_backend_ops (data_parallel.cu) drives one or several of these. */
extern const BackendOps cuda_gpu_ops;

#ifdef __CUDA_RUNTIME_H__
/* A one-GPU backend's accumulated gradients (device memory), their count, and the stream
 * that orders every operation on them (for averaging them across GPUs). */
void cuda_gpu_grads(Backend *be, float **grads, size_t *count, cudaStream_t *stream);
#endif

#ifdef __cplusplus
}
#endif

#endif
