/* Training throughput of the CUDA backend: full steps (forward, backward, gradient norm,
 * clipped AdamW) on random tokens, like the PyTorch anchor. Prints one JSON line; its t_end (wall
 * clock, seconds since the epoch) closes the timed steps, so that bench/train_cuda can read the
 * GPU's power over them. Where the driver's NVML is there, counter_J_step is the energy per
 * timed step by the energy counters of all the GPUs used.
 * Usage: train_cuda_bench --model configs/model_medium.yaml [--batch 16] [--seq 2048]
 *        [--steps 10] [--warmup 3] [--recompute] [--fp32] [--gpus N]
 * With --gpus N the batch is split over N GPUs (data parallel); MFU and memory are per GPU. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cuda/backend_cuda.h"
#include "common/error.h"
#include "common/rng.h"
#include "common/util.h"
#include "../tests/cuda/nvml_energy.h"

static int step(Backend *be, const int32_t *in, const int32_t *tg, int t, float *loss) {
    float norm;
    if (be->ops->zero_grad(be) || be->ops->forward_backward(be, in, tg, 1.f, loss) || be->ops->grad_norm(be, &norm))
        return -1;
    AdamWStep s = {3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, t, norm > 1.f ? 1.f / norm : 1.f, 0};
    return be->ops->adamw_step(be, &s);
}

/* Joules used so far by GPUs 0 .. n - 1, or -1 if a counter is missing. */
static double gpus_joules(const NvmlEnergy *e, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double j = nvml_energy_joules(&e[i]);
        if (j < 0) return -1;
        sum += j;
    }
    return sum;
}

/* Waits for every GPU (the last step's update may still run on the others). */
static void sync_gpus(int n) {
    for (int i = 0; i < n; i++) {
        cudaSetDevice(i);
        cudaDeviceSynchronize();
    }
    cudaSetDevice(0);
}

int main(int argc, char **argv) {
    const char *model = "configs/model_medium.yaml";
    int B = 16, T = 2048, steps = 10, warmup = 3, recompute = 0, fp32 = 0, gpus = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc) T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--recompute")) recompute = 1;
        else if (!strcmp(argv[i], "--fp32")) fp32 = 1;
        else if (!strcmp(argv[i], "--gpus") && i + 1 < argc) gpus = atoi(argv[++i]);
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    ModelConfig cfg;
    if (model_config_load(model, &cfg) != 0) {
        kr_print_error();
        return 1;
    }
    Backend be;
    BackendOptions opt = {B, T, !fp32, recompute, 0, gpus};
    if (backend_create(&be, "cuda", &cfg, &opt) != 0) {
        printf("{\"model\":\"%s\",\"B\":%d,\"T\":%d,\"error\":\"%s\"}\n", cfg.name, B, T, kr_last_error());
        return 1;
    }
    size_t P = be.layout.num_params, N = (size_t)B * T;
    float *params = malloc(P * sizeof(float));
    int32_t *in = malloc(N * 4), *tg = malloc(N * 4);
    Rng r;
    rng_seed(&r, 1);
    params_init_random(&be.layout, params, 1);
    for (size_t i = 0; i < N; i++) in[i] = (int32_t)rng_below(&r, cfg.vocab_size), tg[i] = (int32_t)rng_below(&r, cfg.vocab_size);
    int rc = be.ops->set_params(&be, params);
    float loss = 0;
    for (int t = 1; rc == 0 && t <= warmup; t++) rc = step(&be, in, tg, t, &loss);
    NvmlEnergy counters[16];
    int have_energy = gpus <= 16;
    for (int i = 0; have_energy && i < gpus; i++) have_energy = nvml_energy_open(&counters[i], i) == 0;
    sync_gpus(gpus);
    double t0 = kr_now(), e0 = have_energy ? gpus_joules(counters, gpus) : -1;
    for (int t = 1; rc == 0 && t <= steps; t++) rc = step(&be, in, tg, warmup + t, &loss);
    sync_gpus(gpus);
    double dt = (kr_now() - t0) / steps, e1 = have_energy ? gpus_joules(counters, gpus) : -1;
    char energy[48] = "";
    if (e0 >= 0 && e1 >= 0) snprintf(energy, sizeof energy, "\"counter_J_step\":%.1f,", (e1 - e0) / steps);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    if (rc != 0) {
        printf("{\"model\":\"%s\",\"error\":\"%s\"}\n", cfg.name, kr_last_error());
        return 1;
    }
    size_t free_b, total_b;
    cudaMemGetInfo(&free_b, &total_b);
    double tps = N / dt, flops = model_flops_per_token(&cfg, T) * tps, peak = 989e12 * gpus;
    printf("{\"impl\":\"krllm\",\"model\":\"%s\",\"params_M\":%.1f,\"B\":%d,\"T\":%d,\"gpus\":%d,\"precision\":\"%s\",\"recompute\":%d,"
           "\"step_ms\":%.1f,\"tok_s\":%.0f,\"tflops\":%.1f,\"mfu_vs_989\":%.3f,\"mem_GB\":%.1f,\"device_used_GB\":%.1f,"
           "%s\"loss\":%.3f,\"device\":\"%s\",\"t_end\":%.3f}\n",
           cfg.name, P / 1e6, B, T, gpus, fp32 ? "fp32" : "bf16", recompute, dt * 1e3, tps, flops / 1e12, flops / peak,
           be.ops->memory_in_use(&be) / 1e9, (total_b - free_b) / 1e9, energy, loss, cuda_device_name(),
           wall.tv_sec + wall.tv_nsec * 1e-9);
    backend_destroy(&be);
    free(params);
    free(in);
    free(tg);
    return 0;
}
