/* NCCL, loaded when a run first asks for several GPUs: one-GPU training and machines without
 * NCCL never need the library, and a missing one becomes an error that says what to install. */
#ifndef KR_CUDA_NCCL_LIB_CUH
#define KR_CUDA_NCCL_LIB_CUH

#include <nccl.h>

#include "backend/cuda/cuda_common.cuh"

typedef struct {
    ncclResult_t (*comm_init_all)(ncclComm_t *comms, int ndev, const int *devlist);
    ncclResult_t (*comm_destroy)(ncclComm_t comm);
    ncclResult_t (*all_reduce)(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                               ncclComm_t comm, cudaStream_t stream);
    ncclResult_t (*group_start)(void);
    ncclResult_t (*group_end)(void);
    const char *(*error_string)(ncclResult_t result);
    ncclResult_t (*get_version)(int *version);
} NcclLib;

/* Fills *lib from libnccl.so.2, or the library that $KRLLM_NCCL_LIB names (loaded once per
 * process); -1 with a kr_error when it cannot. */
int nccl_lib_load(NcclLib *lib);

#endif
