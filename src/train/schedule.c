#include "train/schedule.h"

#include <math.h>
#include <string.h>

float schedule_lr(const TrainConfig *c, int step) {
    if (step < c->warmup_steps) return c->learning_rate * (float)(step + 1) / (float)c->warmup_steps;
    if (strcmp(c->lr_scheduler, "constant") == 0) return c->learning_rate;
    int decay_steps = c->max_steps - c->warmup_steps;
    double progress = decay_steps > 0 ? (double)(step - c->warmup_steps) / decay_steps : 1.0;
    if (progress > 1.0) progress = 1.0;
    double cosine = 0.5 * (1.0 + cos(M_PI * progress));
    return (float)(c->min_lr + (c->learning_rate - c->min_lr) * cosine);
}

float clip_grad_scale(float norm, float max_norm) {
    if (max_norm <= 0 || norm <= max_norm) return 1.0f;
    return max_norm / norm;
}

AdamWStep schedule_adamw_step(const TrainConfig *c, int step, float grad_scale) {
    AdamWStep s = {
        .lr = schedule_lr(c, step),
        .beta1 = c->betas[0],
        .beta2 = c->betas[1],
        .eps = c->eps,
        .weight_decay = c->weight_decay,
        .step = step + 1,
        .grad_scale = grad_scale,
        .decay_all = c->decay_norms_and_embeddings,
    };
    return s;
}
