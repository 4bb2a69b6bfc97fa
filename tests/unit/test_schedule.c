/* Learning-rate schedule (warmup, cosine, constant), clipping factor, AdamW step parameters. */
#include <string.h>

#include "test.h"
#include "train/schedule.h"

int main(void) {
    TrainConfig c;
    train_config_defaults(&c);
    c.learning_rate = 1e-3f;
    c.min_lr = 1e-4f;
    c.warmup_steps = 10;
    c.max_steps = 110;
    strcpy(c.lr_scheduler, "cosine");

    CHECK_NEAR(schedule_lr(&c, 0), 1e-4, 1e-9);   /* first warmup step: lr / warmup */
    CHECK_NEAR(schedule_lr(&c, 4), 5e-4, 1e-9);
    CHECK_NEAR(schedule_lr(&c, 9), 1e-3, 1e-9);   /* warmup reaches the peak */
    CHECK_NEAR(schedule_lr(&c, 10), 1e-3, 1e-9);  /* cosine starts at the peak */
    CHECK_NEAR(schedule_lr(&c, 60), 5.5e-4, 1e-8); /* halfway: midpoint of lr and min_lr */
    CHECK_NEAR(schedule_lr(&c, 35), 1e-4 + 9e-4 * 0.5 * (1 + cos(M_PI * 0.25)), 1e-8);
    CHECK_NEAR(schedule_lr(&c, 110), 1e-4, 1e-9); /* the end, and beyond it, stay at min_lr */
    CHECK_NEAR(schedule_lr(&c, 500), 1e-4, 1e-9);
    for (int s = 11; s < 110; s++) CHECK(schedule_lr(&c, s) <= schedule_lr(&c, s - 1));

    strcpy(c.lr_scheduler, "constant");
    CHECK_NEAR(schedule_lr(&c, 4), 5e-4, 1e-9);
    CHECK_NEAR(schedule_lr(&c, 60), 1e-3, 1e-9);
    CHECK_NEAR(schedule_lr(&c, 109), 1e-3, 1e-9);
    c.warmup_steps = 0;
    CHECK_NEAR(schedule_lr(&c, 0), 1e-3, 1e-9);
    strcpy(c.lr_scheduler, "cosine");
    CHECK_NEAR(schedule_lr(&c, 0), 1e-3, 1e-9);

    CHECK_NEAR(clip_grad_scale(0.5f, 1.0f), 1.0, 0);
    CHECK_NEAR(clip_grad_scale(4.0f, 1.0f), 0.25, 1e-7);
    CHECK_NEAR(clip_grad_scale(4.0f, 0.0f), 1.0, 0);

    c.betas[0] = 0.8f;
    c.betas[1] = 0.99f;
    c.eps = 1e-6f;
    c.weight_decay = 0.05f;
    c.decay_norms_and_embeddings = 1;
    AdamWStep s = schedule_adamw_step(&c, 59, 0.5f);
    CHECK(s.step == 60);
    CHECK_NEAR(s.lr, schedule_lr(&c, 59), 0);
    CHECK_NEAR(s.beta1, 0.8, 1e-7);
    CHECK_NEAR(s.beta2, 0.99, 1e-7);
    CHECK_NEAR(s.eps, 1e-6, 1e-12);
    CHECK_NEAR(s.weight_decay, 0.05, 1e-8);
    CHECK_NEAR(s.grad_scale, 0.5, 0);
    CHECK(s.decay_all == 1);
    return test_summary("test_schedule");
}
