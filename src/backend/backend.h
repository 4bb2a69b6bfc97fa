/* The backend boundary: the trainer (and tests) drive a model through these operations, and
 * each backend (cpu, cuda) owns its parameters, gradients and optimizer state in whatever
 * precision and memory it likes. Everything that crosses the boundary is fp32 on the host, in
 * the flat layout of model/params.h, so checkpoints are interchangeable between backends. */
#ifndef KR_BACKEND_H
#define KR_BACKEND_H

#include <stdint.h>

#include "model/config.h"
#include "model/params.h"

typedef struct {
    int batch_size, seq_len;  /* the micro-batch every forward/backward sees */
    int mixed_precision;      /* 0: fp32; 1: bf16 compute with fp32 master weights (cuda) */
    int recompute;            /* gradient checkpointing */
    int num_threads;          /* cpu: 0 = all cores */
    int num_gpus;             /* cuda: GPUs sharing each micro-batch (data parallel); 0 or 1 = one */
} BackendOptions;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int step;           /* 1-based, for bias correction */
    float grad_scale;   /* multiplies gradients before the update (clipping) */
    int decay_all;      /* 1: decay norms and embeddings too; 0: matrices only */
} AdamWStep;

typedef struct Backend Backend;

typedef struct {
    const char *name;
    int (*create)(Backend *be, const ModelConfig *cfg, const BackendOptions *opt);
    void (*destroy)(Backend *be);
    int (*set_params)(Backend *be, const float *params); /* fp32 master weights in */
    int (*get_params)(Backend *be, float *params);       /* fp32 master weights out */
    int (*set_opt_state)(Backend *be, const float *m, const float *v);
    int (*get_opt_state)(Backend *be, float *m, float *v);
    int (*zero_grad)(Backend *be);
    /* Forward and backward over one micro-batch (inputs/targets: batch_size x seq_len ids);
     * gradients of (mean loss x loss_scale) are added to the accumulated gradients. */
    int (*forward_backward)(Backend *be, const int32_t *inputs, const int32_t *targets, float loss_scale, float *loss);
    /* Forward only (validation): mean cross-entropy. */
    int (*forward_loss)(Backend *be, const int32_t *inputs, const int32_t *targets, float *loss);
    int (*get_logits)(Backend *be, float *logits);  /* of the last forward: B*T*V */
    int (*get_grads)(Backend *be, float *grads);    /* accumulated gradients, flat layout */
    int (*grad_norm)(Backend *be, float *norm);     /* global L2 norm of the accumulated gradients */
    int (*adamw_step)(Backend *be, const AdamWStep *s);
    int64_t (*memory_in_use)(Backend *be);          /* bytes (device memory for cuda) */
} BackendOps;

struct Backend {
    const BackendOps *ops;
    ModelConfig cfg;
    ParamLayout layout;
    BackendOptions opt;
    void *impl;
};

/* Creates the backend named by `device` ("cpu" or "cuda"); a clear error when the build lacks it. */
int backend_create(Backend *be, const char *device, const ModelConfig *cfg, const BackendOptions *opt);
void backend_destroy(Backend *be);

extern const BackendOps cpu_backend_ops;
#ifdef KR_CUDA
extern const BackendOps cuda_backend_ops;
#endif

#endif
