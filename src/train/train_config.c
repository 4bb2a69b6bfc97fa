#include "train/train_config.h"

#include <stddef.h>
#include <string.h>

#include "common/error.h"
#include "common/yamlcfg.h"

#define F(key, type, member, lo, hi) {key, type, offsetof(TrainConfig, member), lo, hi, 0}
#define S(key, member) {key, CFG_STR, offsetof(TrainConfig, member), 0, 0, sizeof(((TrainConfig *)0)->member)}
static const CfgField train_schema[] = {
    F("training.batch_size", CFG_INT, batch_size, 1, 1 << 20),
    F("training.gradient_accumulation_steps", CFG_INT, gradient_accumulation_steps, 1, 1 << 20),
    F("training.seq_len", CFG_INT, seq_len, 1, 1 << 20),
    F("training.max_steps", CFG_INT, max_steps, 0, 2e9),
    F("training.seed", CFG_INT, seed, 0, 2e9),
    S("training.mixed_precision", mixed_precision),
    F("training.gradient_checkpointing", CFG_BOOL, gradient_checkpointing, 0, 1),
    S("training.device", device),
    F("training.num_gpus", CFG_INT, num_gpus, 1, 64),
    F("training.num_threads", CFG_INT, num_threads, 0, 4096),
    F("optimizer.learning_rate", CFG_FLOAT, learning_rate, 0, 10),
    F("optimizer.min_lr", CFG_FLOAT, min_lr, 0, 10),
    F("optimizer.betas", CFG_FLOAT_PAIR, betas, 0, 0.999999),
    F("optimizer.eps", CFG_FLOAT, eps, 0, 1),
    F("optimizer.weight_decay", CFG_FLOAT, weight_decay, 0, 10),
    F("optimizer.decay_norms_and_embeddings", CFG_BOOL, decay_norms_and_embeddings, 0, 1),
    F("optimizer.max_grad_norm", CFG_FLOAT, max_grad_norm, 0, 1e6),
    S("scheduler.lr_scheduler", lr_scheduler),
    F("scheduler.warmup_steps", CFG_INT, warmup_steps, 0, 2e9),
    S("data.train_data", train_data),
    S("data.val_data", val_data),
    S("data.tokenizer", tokenizer),
    F("checkpoint.eval_interval", CFG_INT, eval_interval, 0, 2e9),
    F("checkpoint.eval_steps", CFG_INT, eval_steps, 0, 2e9),
    F("checkpoint.save_interval", CFG_INT, save_interval, 0, 2e9),
    F("checkpoint.save_total_limit", CFG_INT, save_total_limit, 0, 1e6),
    F("checkpoint.log_interval", CFG_INT, log_interval, 1, 2e9),
    S("checkpoint.output_dir", output_dir),
};
#undef F
#undef S
#define NFIELDS (int)(sizeof train_schema / sizeof train_schema[0])

void train_config_defaults(TrainConfig *c) {
    memset(c, 0, sizeof *c);
    c->batch_size = 16;
    c->gradient_accumulation_steps = 4;
    c->seq_len = 2048;
    c->max_steps = 200000;
    c->seed = 42;
    strcpy(c->mixed_precision, "bf16");
    strcpy(c->device, "cpu");
    c->num_gpus = 1;
    c->learning_rate = 3e-4f;
    c->min_lr = 3e-5f;
    c->betas[0] = 0.9f;
    c->betas[1] = 0.95f;
    c->eps = 1e-8f;
    c->weight_decay = 0.1f;
    c->max_grad_norm = 1.0f;
    strcpy(c->lr_scheduler, "cosine");
    c->warmup_steps = 2000;
    c->eval_interval = 1000;
    c->eval_steps = 50;
    c->save_interval = 5000;
    c->save_total_limit = 3;
    c->log_interval = 10;
    strcpy(c->output_dir, "checkpoints/run");
}

static int one_of(const char *v, const char *a, const char *b, const char *c3) {
    return !strcmp(v, a) || !strcmp(v, b) || (c3 && !strcmp(v, c3));
}

int train_config_load(const char *path, TrainConfig *c) {
    train_config_defaults(c);
    if (yamlcfg_load(path, c, train_schema, NFIELDS) != 0) return -1;
    if (!one_of(c->mixed_precision, "no", "bf16", "fp16"))
        return kr_error("%s: 'training.mixed_precision' must be no, bf16 or fp16, got '%s'", path, c->mixed_precision);
    if (!one_of(c->device, "cpu", "cuda", NULL))
        return kr_error("%s: 'training.device' must be cpu or cuda, got '%s'", path, c->device);
    if (c->num_gpus > 1 && strcmp(c->device, "cuda") != 0)
        return kr_error("%s: 'training.num_gpus' %d needs 'training.device: cuda'", path, c->num_gpus);
    if (c->batch_size % c->num_gpus != 0)
        return kr_error("%s: 'training.batch_size' %d must be a multiple of 'training.num_gpus' %d (each GPU takes an "
                        "equal share)", path, c->batch_size, c->num_gpus);
    if (!one_of(c->lr_scheduler, "cosine", "constant", NULL))
        return kr_error("%s: 'scheduler.lr_scheduler' must be cosine or constant, got '%s'", path, c->lr_scheduler);
    if (c->min_lr > c->learning_rate)
        return kr_error("%s: 'optimizer.min_lr' %g exceeds 'optimizer.learning_rate' %g", path, c->min_lr, c->learning_rate);
    return 0;
}

void train_config_write_yaml(FILE *fp, const TrainConfig *c) { yamlcfg_write(fp, c, train_schema, NFIELDS); }
