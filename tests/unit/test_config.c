/* Model and training configs: the shipped sizes, strict parsing, errors naming file/line/key. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "model/config.h"
#include "test.h"
#include "train/train_config.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[512];
    const char *dir = getenv("KRLLM_TMP");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/tmp", name);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void check_size(const char *path, double target) {
    ModelConfig c;
    CHECK_MSG(model_config_load(path, &c) == 0, "%s", kr_last_error());
    double n = (double)model_num_params(&c);
    CHECK_MSG(fabs(n - target) / target <= 0.02, "%s: %.0f parameters, target %.0f", path, n, target);
}

static void check_error(const char *yaml, const char *needle) {
    ModelConfig c;
    const char *p = write_tmp("bad.yaml", yaml);
    CHECK(model_config_load(p, &c) != 0);
    CHECK_MSG(strstr(kr_last_error(), needle) != NULL, "error '%s' lacks '%s'", kr_last_error(), needle);
}

int main(void) {
    check_size("configs/model_small.yaml", 134e6);
    check_size("configs/model_medium.yaml", 468e6);
    check_size("configs/model_large.yaml", 1004e6);

    /* Exact count by hand for the medium model. */
    ModelConfig m;
    CHECK(model_config_load("configs/model_medium.yaml", &m) == 0);
    int64_t d = 1024, V = 32000, f = 4608, kv = 256;
    CHECK(model_num_params(&m) == 2 * V * d + d + 24 * (2 * d + 2 * d * d + 2 * d * kv + 3 * d * f));
    m.tie_word_embeddings = 1;
    CHECK(model_num_params(&m) == V * d + d + 24 * (2 * d + 2 * d * d + 2 * d * kv + 3 * d * f));

    check_error("hidden_size: 64\nbogus_key: 3\n", "bad.yaml:2: unknown key 'bogus_key'");
    check_error("hidden_size: 64\nnum_layers: two\n", "bad.yaml:2: 'num_layers' must be an integer");
    check_error("num_layers: 0\n", "bad.yaml:1: 'num_layers' = 0 is out of range");
    check_error("rope_theta: -5\n", "'rope_theta' = -5 is out of range");
    check_error("num_heads: 4\nnum_kv_heads: 3\n", "not a multiple of num_kv_heads");
    check_error("hidden_size: [1, 2\n", "invalid YAML");
    check_error("hidden_size: 64\nhidden_size: 64\n", "appears twice");

    TrainConfig t;
    CHECK_MSG(train_config_load("configs/training_m4max.yaml", &t) == 0, "%s", kr_last_error());
    CHECK(t.batch_size == 16 && t.gradient_accumulation_steps == 4 && t.seq_len == 2048);
    CHECK_NEAR(t.learning_rate, 3e-4, 1e-9);
    CHECK(t.warmup_steps == 2000 && t.max_steps == 200000);
    CHECK_NEAR(t.betas[0], 0.9, 1e-7);
    CHECK_NEAR(t.betas[1], 0.95, 1e-7);
    CHECK_NEAR(t.max_grad_norm, 1.0, 0);
    CHECK(train_config_load("configs/training_m4max_large.yaml", &t) == 0 && t.gradient_checkpointing == 1);
    CHECK(train_config_load("configs/training_tiny.yaml", &t) == 0);
    CHECK_MSG(train_config_load("configs/training_sanity.yaml", &t) == 0, "%s", kr_last_error());
    CHECK(t.batch_size == 128 && t.seq_len == 128 && t.max_steps == 1000 && t.gradient_accumulation_steps == 1);

    const char *bad = write_tmp("badtrain.yaml", "optimizer:\n  betas: [0.9]\n");
    CHECK(train_config_load(bad, &t) != 0);
    CHECK_MSG(strstr(kr_last_error(), "badtrain.yaml:2: 'optimizer.betas'") != NULL, "%s", kr_last_error());
    bad = write_tmp("badtrain.yaml", "training:\n  device: tpu\n");
    CHECK(train_config_load(bad, &t) != 0 && strstr(kr_last_error(), "training.device"));
    /* data parallel: several GPUs need the cuda device and a batch that splits evenly */
    CHECK(train_config_load("configs/training_tiny.yaml", &t) == 0 && t.num_gpus == 1);
    const char *dp = write_tmp("dp.yaml", "training:\n  device: cuda\n  num_gpus: 4\n  batch_size: 8\n");
    CHECK_MSG(train_config_load(dp, &t) == 0 && t.num_gpus == 4, "%s", kr_last_error());
    bad = write_tmp("badtrain.yaml", "training:\n  device: cuda\n  num_gpus: 3\n  batch_size: 8\n");
    CHECK(train_config_load(bad, &t) != 0);
    CHECK_MSG(strstr(kr_last_error(), "multiple of 'training.num_gpus' 3") != NULL, "%s", kr_last_error());
    bad = write_tmp("badtrain.yaml", "training:\n  num_gpus: 2\n");
    CHECK(train_config_load(bad, &t) != 0 && strstr(kr_last_error(), "needs 'training.device: cuda'"));
    bad = write_tmp("badtrain.yaml", "training:\n  device: cuda\n  num_gpus: 0\n");
    CHECK(train_config_load(bad, &t) != 0 && strstr(kr_last_error(), "num_gpus"));
    return test_summary("test_config");
}
