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

/* The slice of the flat parameters [begin, end) whose AdamW moments a replica of data-parallel
 * training holds and whose update it computes; its parameter and gradient buffers are padded to
 * `padded` entries (the slices' common length times the GPU count) so that NCCL gathers and
 * scatters the slices in place. */
typedef struct {
    size_t begin, end, padded;
} CudaOptShard;

/* cuda_gpu_ops.create with a slice of the optimizer (NULL: all of it). Such a replica's
 * get/set_opt_state, get_grads, grad_norm and adamw_step cover its slice only: the host arrays
 * are full-size, and only the slice's part of them is read or written. */
int cuda_gpu_create(Backend *be, const ModelConfig *cfg, const BackendOptions *opt, const CudaOptShard *shard);
/* Sum of squares of the accumulated gradients in the replica's slice. */
int cuda_gpu_grad_sumsq(Backend *be, float *sumsq);
/* After the fp32 parameters were gathered from every slice: refreshes the bf16 copy. */
int cuda_gpu_params_gathered(Backend *be);

#ifdef __CUDA_RUNTIME_H__
/* A one-GPU backend's fp32 parameters and accumulated gradients (device memory, `padded`
 * entries) and the stream that orders every operation on them (for NCCL's collectives). */
void cuda_gpu_buffers(Backend *be, float **params, float **grads, cudaStream_t *stream);
#endif

#ifdef __cplusplus
}
#endif

#endif
