/* NCCL, loaded when a run first asks for several GPUs: one-GPU training and machines without
 * NCCL never need the library, and a missing one becomes an error that says what to install.
 * The few types and constants used are declared here (NCCL 2.x's C interface, unchanged since
 * 2.10), so that building the CUDA backend needs no NCCL headers either. */
#ifndef KR_CUDA_NCCL_LIB_CUH
#define KR_CUDA_NCCL_LIB_CUH

#include "backend/cuda/cuda_common.cuh"

typedef struct ncclComm *NcclComm;
typedef int NcclResult; /* NCCL's enums are int-sized */
enum { NCCL_OK = 0 };   /* ncclSuccess */
enum { NCCL_FLOAT32 = 7 };
enum { NCCL_AVG = 4 };  /* the averaging reduction, since NCCL 2.10 */

typedef struct {
    NcclResult (*comm_init_all)(NcclComm *comms, int ndev, const int *devlist);
    NcclResult (*comm_destroy)(NcclComm comm);
    NcclResult (*reduce_scatter)(const void *send, void *recv, size_t recv_count, int type, int op, NcclComm comm,
                                 cudaStream_t stream);
    NcclResult (*all_gather)(const void *send, void *recv, size_t send_count, int type, NcclComm comm,
                             cudaStream_t stream);
    NcclResult (*group_start)(void);
    NcclResult (*group_end)(void);
    const char *(*error_string)(NcclResult result);
    NcclResult (*get_version)(int *version);
} NcclLib;

/* Fills *lib from libnccl.so.2, or the library that $KRLLM_NCCL_LIB names (loaded once per
 * process); -1 with a kr_error when it cannot. */
int nccl_lib_load(NcclLib *lib);

#endif
