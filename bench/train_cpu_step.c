/* Times full training steps of the CPU backend (forward, loss, backward, AdamW, zero_grad) for the
 * three configs of /work/shared/anchors/cpu_torch_llama.py, on random tokens, exactly as that
 * anchor does; prints one JSON line. Driven by bench/train_cpu.
 * usage: train_cpu_step --config a|b|c [--threads 2] [--warmup 2] [--steps 8] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/error.h"
#include "common/rng.h"
#include "common/util.h"

typedef struct {
    const char *name;
    int d, L, H, KV, ffn, B, T;
} BenchConfig;

static const BenchConfig configs[] = {
    {"a", 288, 6, 6, 6, 768, 8, 256},
    {"b", 512, 8, 8, 4, 1408, 4, 256},
    {"c", 768, 12, 12, 4, 2304, 2, 256},
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *name = "a";
    int threads = 2, warmup = 2, steps = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--config")) name = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s --config a|b|c [--threads N] [--warmup N] [--steps N]\n", argv[0]);
            return 2;
        }
    }
    const BenchConfig *bc = NULL;
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++)
        if (!strcmp(configs[i].name, name)) bc = &configs[i];
    if (!bc || steps < 1) {
        fprintf(stderr, "unknown config '%s' (use a, b or c) or no steps\n", name);
        return 2;
    }
    ModelConfig cfg;
    model_config_defaults(&cfg);
    cfg.vocab_size = 32000, cfg.hidden_size = bc->d, cfg.num_layers = bc->L, cfg.num_heads = bc->H;
    cfg.num_kv_heads = bc->KV, cfg.intermediate_size = bc->ffn, cfg.max_seq_len = bc->T;
    BackendOptions opt = {.batch_size = bc->B, .seq_len = bc->T, .num_threads = threads};
    Backend be;
    if (backend_create(&be, "cpu", &cfg, &opt) != 0) {
        kr_print_error();
        return 1;
    }
    size_t np = be.layout.num_params, ntok = (size_t)bc->B * bc->T;
    float *params = malloc(np * sizeof(float));
    int32_t *tokens = malloc((ntok + bc->B) * sizeof(int32_t)), *inputs = malloc(ntok * sizeof(int32_t)),
            *targets = malloc(ntok * sizeof(int32_t));
    params_init_random(&be.layout, params, 0);
    be.ops->set_params(&be, params);
    Rng rng;
    rng_seed(&rng, 1);
    double *times = malloc((size_t)steps * sizeof(double));
    float loss = 0, first_loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        /* a fresh random batch per step: rows of T+1 tokens, shifted by one for the targets */
        for (size_t i = 0; i < ntok + bc->B; i++) tokens[i] = (int32_t)rng_below(&rng, 32000);
        for (int b = 0; b < bc->B; b++) {
            memcpy(inputs + (size_t)b * bc->T, tokens + (size_t)b * (bc->T + 1), bc->T * sizeof(int32_t));
            memcpy(targets + (size_t)b * bc->T, tokens + (size_t)b * (bc->T + 1) + 1, bc->T * sizeof(int32_t));
        }
        double t0 = kr_now();
        AdamWStep st = {.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                        .step = s + 1, .grad_scale = 1.0f};
        if (be.ops->forward_backward(&be, inputs, targets, 1.0f, &loss) != 0 || be.ops->adamw_step(&be, &st) != 0 ||
            be.ops->zero_grad(&be) != 0) {
            kr_print_error();
            return 1;
        }
        if (s >= warmup) times[s - warmup] = kr_now() - t0;
        if (s == warmup) first_loss = loss;
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    double med = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    double flops = model_flops_per_token(&cfg, bc->T) * (double)ntok;
    printf("{\"config\": \"%s\", \"threads\": %d, \"params\": %zu, \"B\": %d, \"T\": %d, \"steps\": %d, "
           "\"median_step_s\": %.4f, \"tok_s\": %.1f, \"gflops\": %.1f, \"loss_first_last\": [%.4f, %.4f], "
           "\"memory_mb\": %.1f}\n",
           bc->name, threads, np, bc->B, bc->T, steps, med, ntok / med, flops / med / 1e9, first_loss, loss,
           be.ops->memory_in_use(&be) / 1e6);
    free(times);
    free(params);
    free(tokens);
    free(inputs);
    free(targets);
    backend_destroy(&be);
    return 0;
}
