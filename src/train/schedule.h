/* Per-step optimizer settings derived from the TrainConfig: the learning-rate schedule,
 * gradient clipping and the AdamW parameters handed to the backend. Steps are 0-based here
 * (step s is the (s+1)-th optimizer update). */
#ifndef KR_SCHEDULE_H
#define KR_SCHEDULE_H

#include "backend/backend.h"
#include "train/train_config.h"

/* Linear warmup from learning_rate / warmup_steps to learning_rate over warmup_steps, then
 * cosine decay to min_lr at max_steps ("cosine") or learning_rate held ("constant"). */
float schedule_lr(const TrainConfig *c, int step);

/* Factor that brings the global gradient norm down to max_norm: min(1, max_norm / norm);
 * 1 when clipping is disabled (max_norm <= 0). */
float clip_grad_scale(float norm, float max_norm);

/* The AdamW update of optimizer step `step` (0-based) with the given gradient scale. */
AdamWStep schedule_adamw_step(const TrainConfig *c, int step, float grad_scale);

#endif
