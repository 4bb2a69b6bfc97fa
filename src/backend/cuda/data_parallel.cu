/* The CUDA backend as the trainer sees it: one GPU, or data parallelism over several GPUs of
 * one host (BackendOptions.num_gpus). Each GPU holds a replica of the model (cuda_gpu_ops) and
 * takes an equal share of every micro-batch's sequences. The optimizer is sharded: GPU i holds
 * the AdamW moments of the i-th slice of the flat parameters only. Once per optimizer step, when
 * the norm, the gradients or the update first need them, the gradients are averaged and
 * scattered through NCCL (each GPU receives the average of its slice), so accumulation steps
 * cost no communication; each GPU updates its slice, and the updated slices are gathered back
 * into every replica. That moves as many bytes as averaging every gradient everywhere, while
 * each GPU keeps and updates 1/N of the moments. A run on N GPUs trains the same model as on
 * one: the same batch, hyper-parameters and checkpoints. (Averaging each layer's gradients on a
 * second stream while the backward runs was measured slower: the collective kernels take
 * multiprocessors and power from the backward's.) */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/backend_cuda.h"
}
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/nccl_lib.cuh"

#define MAX_GPUS 64

typedef struct {
    int n;              /* GPUs */
    Backend *gpus;      /* n one-GPU backends; gpus[i] lives on device i */
    size_t rows_tokens; /* tokens of one GPU's share of a micro-batch */
    size_t slice;       /* parameters per optimizer slice: GPU i owns [i * slice, (i + 1) * slice) */
    NcclLib nccl;
    NcclComm *comms;
    int grads_pending;  /* gradients accumulated since they were last averaged */
} DataParallel;

static DataParallel *dp_of(Backend *be) { return (DataParallel *)be->impl; }

/* ---- running one job on every GPU ----
 * CUDA keeps the current device per host thread, so each GPU gets a thread of its own for the
 * length of a call; with one GPU the job runs in the caller's thread, on device 0. */

typedef int (*GpuJob)(Backend *gpu, int i, void *arg);

typedef struct {
    Backend *gpu = NULL;
    int i;
    GpuJob job;
    void *arg;
    int rc;
    char error[1024];
} Worker;

static void *worker_main(void *p) {
    Worker *w = (Worker *)p;
    cudaError_t e = cudaSetDevice(w->i);
    w->rc = e != cudaSuccess ? kr_error("cuda: cannot select device %d: %s", w->i, cudaGetErrorString(e))
                             : w->job(w->gpu, w->i, w->arg);
    if (w->rc != 0) snprintf(w->error, sizeof w->error, "%s", kr_last_error());
    return NULL;
}

/* GPU 0's replica, with its device made current in the caller's thread: the one that gives
 * out the parameters, alike on every GPU. */
static int first_gpu(DataParallel *dp, Backend **gpu) {
    CU_TRY(cudaSetDevice(0));
    *gpu = &dp->gpus[0];
    return 0;
}

static int on_each_gpu(DataParallel *dp, GpuJob job, void *arg) {
    if (dp->n == 1) {
        Backend *gpu = NULL;
        TRY(first_gpu(dp, &gpu));
        return job(gpu, 0, arg);
    }
    Worker w[MAX_GPUS];
    pthread_t th[MAX_GPUS];
    int started = 0;
    for (; started < dp->n; started++) {
        w[started].gpu = &dp->gpus[started];
        w[started].i = started;
        w[started].job = job;
        w[started].arg = arg;
        if (pthread_create(&th[started], NULL, worker_main, &w[started]) != 0) break;
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    int rc = started < dp->n ? kr_error("cannot start a thread for GPU %d", started) : 0;
    for (int i = 0; i < started && rc == 0; i++)
        if (w[i].rc != 0) rc = kr_error("GPU %d: %s", i, w[i].error);
    return rc;
}

#define NCCL_TRY(dp, call)                                                                             \
    do {                                                                                               \
        NcclResult r_ = (call);                                                                      \
        if (r_ != NCCL_OK) return kr_error("nccl: %s failed: %s", #call, (dp)->nccl.error_string(r_)); \
    } while (0)

/* One collective over every GPU, issued as a group, each part on its GPU's own stream (so
 * whatever runs next on that stream sees the result). SCATTER: the average of the gradients of
 * GPU i's slice lands in that slice of its gradient buffer. GATHER: every GPU's slice of the
 * parameters is copied into every replica. */
enum { SCATTER_GRADS, GATHER_PARAMS };

static int collective(DataParallel *dp, int what) {
    NCCL_TRY(dp, dp->nccl.group_start());
    for (int i = 0; i < dp->n; i++) {
        float *params, *grads;
        cudaStream_t s;
        cuda_gpu_buffers(&dp->gpus[i], &params, &grads, &s);
        NcclResult r = what == SCATTER_GRADS
                           ? dp->nccl.reduce_scatter(grads, grads + i * dp->slice, dp->slice, NCCL_FLOAT32, NCCL_AVG,
                                                     dp->comms[i], s)
                           : dp->nccl.all_gather(params + i * dp->slice, params, dp->slice, NCCL_FLOAT32, dp->comms[i], s);
        if (r != NCCL_OK) {
            dp->nccl.group_end();
            return kr_error("nccl: %s on GPU %d failed: %s",
                            what == SCATTER_GRADS ? "averaging the gradients" : "gathering the parameters", i,
                            dp->nccl.error_string(r));
        }
    }
    NCCL_TRY(dp, dp->nccl.group_end());
    return 0;
}

static int average_grads(DataParallel *dp) {
    if (dp->n == 1 || !dp->grads_pending) return 0;
    TRY(collective(dp, SCATTER_GRADS));
    dp->grads_pending = 0;
    return 0;
}

/* ---- creation ---- */

typedef struct {
    const ModelConfig *cfg;
    BackendOptions opt;
    const ParamLayout *layout;
    size_t slice;
    int n;
} CreateArgs;

static int create_job(Backend *gpu, int i, void *arg) {
    CreateArgs *a = (CreateArgs *)arg;
    gpu->cfg = *a->cfg;
    gpu->opt = a->opt;
    gpu->layout = *a->layout; /* shared with the front; only the front frees it */
    gpu->ops = &cuda_gpu_ops;
    size_t P = a->layout->num_params, begin = i * a->slice, end = begin + a->slice;
    CudaOptShard shard = {begin < P ? begin : P, end < P ? end : P, a->slice * a->n};
    return cuda_gpu_create(gpu, a->cfg, &a->opt, &shard);
}

static int destroy_job(Backend *gpu, int i, void *arg) {
    (void)i;
    (void)arg;
    if (gpu->impl) cuda_gpu_ops.destroy(gpu);
    return 0;
}

static void dp_destroy(Backend *be) {
    DataParallel *dp = dp_of(be);
    if (!dp) return;
    if (dp->comms) {
        for (int i = 0; i < dp->n; i++)
            if (dp->comms[i]) dp->nccl.comm_destroy(dp->comms[i]);
        free(dp->comms);
    }
    if (dp->gpus) on_each_gpu(dp, destroy_job, NULL);
    free(dp->gpus);
    free(dp);
    be->impl = NULL;
}

static int open_comms(DataParallel *dp) {
    TRY(nccl_lib_load(&dp->nccl));
    dp->comms = (NcclComm *)calloc(dp->n, sizeof *dp->comms);
    if (!dp->comms) return kr_error("out of memory");
    NCCL_TRY(dp, dp->nccl.comm_init_all(dp->comms, dp->n, NULL));
    return 0;
}

static int dp_create(Backend *be, const ModelConfig *cfg, const BackendOptions *opt) {
    int n = opt->num_gpus > 1 ? opt->num_gpus : 1;
    if (!cuda_device_available()) {
        char why[256]; /* kr_error must not format its own buffer */
        snprintf(why, sizeof why, "%s", kr_last_error());
        return kr_error("--device cuda: %s; use --device cpu on a machine without an NVIDIA GPU", why);
    }
    int have = cuda_device_count();
    if (n > MAX_GPUS) return kr_error("num_gpus %d: at most %d GPUs are supported", n, MAX_GPUS);
    if (n > have)
        return kr_error("num_gpus %d, but this machine has %d CUDA device%s; lower num_gpus (or check "
                        "CUDA_VISIBLE_DEVICES)", n, have, have == 1 ? "" : "s");
    if (opt->batch_size % n != 0)
        return kr_error("batch_size %d does not split evenly over %d GPUs; use a multiple of num_gpus", opt->batch_size, n);
    DataParallel *dp = (DataParallel *)calloc(1, sizeof *dp);
    if (!dp) return kr_error("out of memory");
    be->impl = dp;
    dp->n = n;
    dp->gpus = (Backend *)calloc(n, sizeof *dp->gpus);
    dp->slice = (be->layout.num_params + n - 1) / n;
    CreateArgs args = {cfg, *opt, &be->layout, dp->slice, n};
    args.opt.batch_size = opt->batch_size / n;
    args.opt.num_gpus = 1;
    dp->rows_tokens = (size_t)args.opt.batch_size * opt->seq_len;
    /* NCCL first: without it, nothing is allocated on the GPUs */
    int rc = dp->gpus ? (n > 1 ? open_comms(dp) : 0) : kr_error("out of memory");
    if (rc == 0) rc = on_each_gpu(dp, create_job, &args);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kr_last_error());
        dp_destroy(be);
        return kr_error("%s", msg);
    }
    return 0;
}

/* ---- parameters and optimizer state: every replica takes in the parameters and GPU 0 gives
 * them out; each GPU takes in and gives out its slice of the optimizer state and gradients ---- */

typedef struct {
    const float *a, *b;
} HostIn;
typedef struct {
    float *a, *b;
} HostOut;

static int set_params_job(Backend *gpu, int i, void *arg) {
    (void)i;
    return cuda_gpu_ops.set_params(gpu, ((HostIn *)arg)->a);
}
static int set_opt_job(Backend *gpu, int i, void *arg) {
    (void)i;
    HostIn *h = (HostIn *)arg;
    return cuda_gpu_ops.set_opt_state(gpu, h->a, h->b);
}
static int zero_grad_job(Backend *gpu, int i, void *arg) {
    (void)i;
    (void)arg;
    return cuda_gpu_ops.zero_grad(gpu);
}

static int dp_set_params(Backend *be, const float *params) {
    HostIn h = {params, NULL};
    return on_each_gpu(dp_of(be), set_params_job, &h);
}
static int dp_get_params(Backend *be, float *params) {
    Backend *gpu = NULL;
    TRY(first_gpu(dp_of(be), &gpu));
    return cuda_gpu_ops.get_params(gpu, params);
}
static int dp_set_opt_state(Backend *be, const float *m, const float *v) {
    HostIn h = {m, v};
    return on_each_gpu(dp_of(be), set_opt_job, &h);
}
static int get_opt_job(Backend *gpu, int i, void *arg) {
    (void)i;
    HostOut *h = (HostOut *)arg;
    return cuda_gpu_ops.get_opt_state(gpu, h->a, h->b);
}
static int dp_get_opt_state(Backend *be, float *m, float *v) {
    HostOut h = {m, v};
    return on_each_gpu(dp_of(be), get_opt_job, &h);
}
static int dp_zero_grad(Backend *be) {
    DataParallel *dp = dp_of(be);
    TRY(on_each_gpu(dp, zero_grad_job, NULL));
    dp->grads_pending = 0;
    return 0;
}
static int get_grads_job(Backend *gpu, int i, void *arg) {
    (void)i;
    return cuda_gpu_ops.get_grads(gpu, ((HostOut *)arg)->a);
}
static int dp_get_grads(Backend *be, float *grads) {
    DataParallel *dp = dp_of(be);
    TRY(average_grads(dp));
    HostOut h = {grads, NULL};
    return on_each_gpu(dp, get_grads_job, &h);
}

/* ---- passes over a micro-batch: GPU i takes sequences [i * B/n, (i + 1) * B/n) ---- */

typedef struct {
    const DataParallel *dp;
    const int32_t *inputs, *targets;
    float loss_scale;
    float *losses; /* one per GPU */
    float *logits;
    size_t vocab;
} PassArgs;

static int fwd_bwd_job(Backend *gpu, int i, void *arg) {
    PassArgs *p = (PassArgs *)arg;
    size_t at = i * p->dp->rows_tokens;
    return cuda_gpu_ops.forward_backward(gpu, p->inputs + at, p->targets + at, p->loss_scale, &p->losses[i]);
}
static int fwd_loss_job(Backend *gpu, int i, void *arg) {
    PassArgs *p = (PassArgs *)arg;
    size_t at = i * p->dp->rows_tokens;
    return cuda_gpu_ops.forward_loss(gpu, p->inputs + at, p->targets + at, &p->losses[i]);
}
static int logits_job(Backend *gpu, int i, void *arg) {
    PassArgs *p = (PassArgs *)arg;
    return cuda_gpu_ops.get_logits(gpu, p->logits + i * p->dp->rows_tokens * p->vocab);
}

/* Every GPU's share has as many tokens, so the mean loss is the mean of theirs. */
static float mean_of(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return (float)(s / n);
}

static int dp_forward_backward(Backend *be, const int32_t *inputs, const int32_t *targets, float loss_scale,
                               float *loss) {
    DataParallel *dp = dp_of(be);
    float losses[MAX_GPUS];
    PassArgs p = {dp, inputs, targets, loss_scale, losses, NULL, 0};
    TRY(on_each_gpu(dp, fwd_bwd_job, &p));
    dp->grads_pending = 1;
    *loss = mean_of(losses, dp->n);
    return 0;
}

static int dp_forward_loss(Backend *be, const int32_t *inputs, const int32_t *targets, float *loss) {
    DataParallel *dp = dp_of(be);
    float losses[MAX_GPUS];
    PassArgs p = {dp, inputs, targets, 0.f, losses, NULL, 0};
    TRY(on_each_gpu(dp, fwd_loss_job, &p));
    *loss = mean_of(losses, dp->n);
    return 0;
}

static int dp_get_logits(Backend *be, float *logits) {
    DataParallel *dp = dp_of(be);
    PassArgs p = {dp, NULL, NULL, 0.f, NULL, logits, (size_t)be->cfg.vocab_size};
    return on_each_gpu(dp, logits_job, &p);
}

/* ---- the optimizer step ---- */

static int adamw_job(Backend *gpu, int i, void *arg) {
    (void)i;
    return cuda_gpu_ops.adamw_step(gpu, (const AdamWStep *)arg);
}
static int gathered_job(Backend *gpu, int i, void *arg) {
    (void)i;
    (void)arg;
    return cuda_gpu_params_gathered(gpu);
}
static int sumsq_job(Backend *gpu, int i, void *arg) {
    return cuda_gpu_grad_sumsq(gpu, &((float *)arg)[i]);
}

static int dp_grad_norm(Backend *be, float *norm) {
    DataParallel *dp = dp_of(be);
    TRY(average_grads(dp));
    float sumsq[MAX_GPUS];
    TRY(on_each_gpu(dp, sumsq_job, sumsq));
    double total = 0; /* in GPU order: the same norm every time */
    for (int i = 0; i < dp->n; i++) total += sumsq[i];
    *norm = (float)sqrt(total);
    return 0;
}

static int dp_adamw_step(Backend *be, const AdamWStep *s) {
    DataParallel *dp = dp_of(be);
    TRY(average_grads(dp));
    TRY(on_each_gpu(dp, adamw_job, (void *)s));
    if (dp->n == 1) return 0;
    TRY(collective(dp, GATHER_PARAMS));
    return on_each_gpu(dp, gathered_job, NULL);
}

/* Device memory of GPU 0 (the others hold as much, give or take one slice's moments). */
static int64_t dp_memory_in_use(Backend *be) {
    DataParallel *dp = dp_of(be);
    return cuda_gpu_ops.memory_in_use(&dp->gpus[0]);
}

extern "C" const BackendOps cuda_backend_ops = {
    "cuda",
    dp_create,
    dp_destroy,
    dp_set_params,
    dp_get_params,
    dp_set_opt_state,
    dp_get_opt_state,
    dp_zero_grad,
    dp_forward_backward,
    dp_forward_loss,
    dp_get_logits,
    dp_get_grads,
    dp_grad_norm,
    dp_adamw_step,
    dp_memory_in_use,
};
