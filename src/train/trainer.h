/* The training loop behind `krllm train`: batches from the data loader, forward/backward with
 * gradient accumulation through the Backend interface, global-norm clipping, AdamW with the
 * learning-rate schedule, periodic validation, checkpoints, train.log and loss.svg.
 * Resuming from checkpoint-<k> continues exactly as the uninterrupted run would have. */
#ifndef KR_TRAINER_H
#define KR_TRAINER_H

#include <stdint.h>

#include "model/config.h"
#include "train/train_config.h"

typedef struct {
    TrainConfig tc;          /* the YAML with command-line overrides applied */
    ModelConfig mc;
    int have_model_config;   /* 0: use the architecture stored in the resumed checkpoint */
    char resume_from[1024];  /* checkpoint or run directory; "" for a fresh run */
    int64_t data_size;       /* train on the first data_size bytes' worth of tokens (loader.h); 0 = all */
    int nan_at_step;         /* test hook: the loss of this optimizer step (1-based) reads as NaN; 0 = off */
} TrainerOptions;

typedef struct {
    int steps;            /* optimizer steps completed */
    float last_loss;      /* training loss of the last step */
    float last_val_loss;  /* NAN when there is no validation data */
} TrainerResult;

/* Runs training to tc.max_steps. Returns 0, or -1 with a message (nothing is saved after a
 * non-finite loss or gradient norm). */
int trainer_run(const TrainerOptions *o, TrainerResult *result);

#endif
