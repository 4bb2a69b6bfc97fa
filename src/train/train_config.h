/* Training hyper-parameters, loaded from configs/training_*.yaml. */
#ifndef KR_TRAIN_CONFIG_H
#define KR_TRAIN_CONFIG_H

#include <stdio.h>

typedef struct {
    /* training */
    int batch_size;                  /* sequences per micro-batch */
    int gradient_accumulation_steps; /* micro-batches per optimizer step */
    int seq_len;                     /* tokens per sequence */
    int max_steps;                   /* optimizer steps */
    int seed;
    char mixed_precision[16];        /* "no" | "bf16" | "fp16" (the CPU reference always runs fp32) */
    int gradient_checkpointing;      /* recompute activations in the backward pass */
    char device[16];                 /* "cpu" | "cuda" */
    int num_gpus;                    /* cuda: GPUs that share each micro-batch (data parallel) */
    int num_threads;                 /* 0: all cores */
    /* optimizer (AdamW, decoupled weight decay) */
    float learning_rate;
    float min_lr;
    float betas[2];
    float eps;
    float weight_decay;
    int decay_norms_and_embeddings; /* apply weight decay to norm gains and embeddings too */
    float max_grad_norm;            /* 0 disables clipping */
    /* scheduler */
    char lr_scheduler[16];          /* "cosine" | "constant" */
    int warmup_steps;
    /* data */
    char train_data[512];           /* token shard for training */
    char val_data[512];             /* token shard for validation (optional) */
    char tokenizer[512];            /* tokenizer .model copied into checkpoints (optional) */
    /* evaluation / checkpoints / logging */
    int eval_interval;
    int eval_steps;
    int save_interval;
    int save_total_limit;
    int log_interval;
    char output_dir[512];
} TrainConfig;

void train_config_defaults(TrainConfig *c);
int train_config_load(const char *path, TrainConfig *c);
void train_config_write_yaml(FILE *fp, const TrainConfig *c);

#endif
