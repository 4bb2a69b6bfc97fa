/* Where does a training step's energy go?
 *
 * Under training load the card runs at its power limit, so a step lasts as long as its energy
 * takes: what a kernel costs the step is its energy, not its time alone. This program runs each
 * kind of kernel of a bf16 training step (B16 x T2048, the trainer's own kernels and cuBLASLt
 * products at the model's shapes, random data) back to back for SECONDS_PER_ITEM (default 1 s,
 * after half as long untimed), reads the GPU's energy counter (NVML) around it, and reports per
 * kind: the time and energy of one call, the mean power, the calls in one step and their joules,
 * and for the tensor-core work picojoules per FLOP. The sum is a step whose parts each ran at
 * their own back-to-back rate; compare it with a real step's `counter_J_step` from
 * bench/train_cuda_bench. Left out: the embedding's forward and backward and the loss sum
 * (together well under 1% of a step's traffic).
 *
 *   step_energy [medium|large|small]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "backend/cuda/gemm.cuh"
#include "backend/cuda/kernels.cuh"
#include "../../tests/cuda/bench_util.cuh"
#include "../../tests/cuda/nvml_energy.h"
extern "C" {
#include "common/util.h"
#include "model/config.h"
#include "model/params.h"
}

typedef struct {
    const char *name;
    double calls;   /* per training step */
    double flops;   /* per call (tensor-core work), 0 for memory passes */
    std::function<void()> run;
} Item;

typedef struct {
    double ms, watts, joules; /* per call, back to back */
} Measure;

/* Runs f back to back for about `seconds` (after half as long untimed) between two readings of the
 * energy counter. */
static Measure measure(const NvmlEnergy *e, const std::function<void()> &f, double seconds) {
    float one = time_ms(f, 3);
    long reps = std::max(20L, (long)(seconds * 1e3 / std::max(one, 1e-3f)));
    for (long i = 0; i < reps / 2; i++) f();
    CUDA_CK(cudaDeviceSynchronize());
    double t0 = kr_now(), e0 = nvml_energy_joules(e);
    for (long i = 0; i < reps; i++) f();
    CUDA_CK(cudaDeviceSynchronize());
    double t1 = kr_now(), e1 = nvml_energy_joules(e);
    Measure m = {(t1 - t0) * 1e3 / reps, (e1 - e0) / (t1 - t0), (e1 - e0) / reps};
    return m;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "medium";
    const char *secs_env = getenv("SECONDS_PER_ITEM");
    double seconds = secs_env ? atof(secs_env) : 1.0;
    if (argc > 2 || (strcmp(model, "small") && strcmp(model, "medium") && strcmp(model, "large")) || !(seconds > 0)) {
        fprintf(stderr, "usage: step_energy [small|medium|large]   (SECONDS_PER_ITEM > 0, default 1)\n");
        return 2;
    }
    char path[64];
    snprintf(path, sizeof path, "configs/model_%s.yaml", model);
    ModelConfig cfg;
    ParamLayout layout;
    if (model_config_load(path, &cfg) != 0 || param_layout_init(&layout, &cfg) != 0) {
        kr_print_error();
        return 2;
    }
    NvmlEnergy counter;
    if (nvml_energy_open(&counter, 0) != 0) {
        fprintf(stderr, "step_energy: no NVML energy counter for GPU 0 (libnvidia-ml.so.1 comes with the driver)\n");
        return 2;
    }
    const int B = 16, T = 2048, N = B * T, L = cfg.num_layers, d = cfg.hidden_size, F = cfg.intermediate_size;
    const int H = cfg.num_heads, KV = cfg.num_kv_heads, hd = model_head_dim(&cfg), V = cfg.vocab_size;
    const int hq = H * hd, qkv_w = (H + 2 * KV) * hd;
    const int chunk = (int)std::min<size_t>(N, LOGIT_CHUNK_BYTES / ((size_t)V * 2));
    const size_t P = layout.num_params;
    cudaDeviceProp prop;
    CUDA_CK(cudaGetDeviceProperties(&prop, 0));

    /* activations in [-2, 2), weights in [-0.04, 0.04) (the init's std is 0.02) */
    size_t wide = (size_t)N * std::max(2 * F, std::max(qkv_w, d));
    bf16 *act_a = dev_random<bf16>(wide, 2.f), *act_b = dev_random<bf16>(wide, 2.f), *gbuf = dev_random<bf16>((size_t)N * F, 2.f);
    size_t wmax = (size_t)d * std::max(2 * F, V);
    bf16 *W = dev_random<bf16>(wmax, 0.04f);
    float *dW = dev_random<float>(wmax, 1e-3f);
    bf16 *qkv = dev_random<bf16>((size_t)N * qkv_w, 2.f), *o = dev_random<bf16>((size_t)N * hq, 1.f);
    bf16 *dout = dev_random<bf16>((size_t)N * hq, 1e-3f), *dqkv = (bf16 *)dev_alloc((size_t)N * qkv_w * 2);
    float *lse = dev_random<float>((size_t)N * H, 1.f), *dsum = (float *)dev_alloc((size_t)N * H * 4);
    float2 *rope_cs = (float2 *)dev_random<float>((size_t)T * hd, 1.f);
    float *x_res = dev_random<float>((size_t)N * d, 1.f), *x_out = (float *)dev_alloc((size_t)N * d * 4);
    float *rstd = dev_random<float>(N, 1.f), *gain = dev_random<float>(d, 1.f), *dgain = (float *)dev_alloc(d * 4);
    float *partial = (float *)dev_alloc((size_t)std::max(rmsnorm_partial_floats(N, d), REDUCE_BLOCKS) * 4);
    float *loss = (float *)dev_alloc((size_t)N * 4), *scalar = (float *)dev_alloc(64);
    bf16 *logits = dev_random<bf16>((size_t)chunk * V, 2.f);
    int32_t *targets = (int32_t *)dev_alloc((size_t)chunk * 4);
    CUDA_CK(cudaMemset(targets, 0, (size_t)chunk * 4));
    float *p32 = dev_random<float>(P, 0.02f), *g32 = dev_random<float>(P, 1e-3f), *m32 = dev_random<float>(P, 1e-4f);
    float *v32 = dev_random<float>(P, 1e-6f);
    bf16 *wbf = (bf16 *)dev_alloc(P * 2);
    GemmCtx *g;
    CK(gemm_create(&g, 0));
    AttnShape a = {B, T, H, KV, hd};

    const double heads = (double)N / chunk, per_layer = L, norms = 2.0 * L + 1;
    const double attn_fwd = 4.0 * B * H * (double)T * T / 2 * hd;
    std::vector<Item> items;
    /* the four products of a layer and the head, each as forward, input and weight gradient */
    struct Linear {
        const char *name;
        int rows, in, out;
        double calls;
    } linears[] = {{"q|k|v", N, d, qkv_w, per_layer}, {"wo", N, hq, d, per_layer}, {"w1|w3", N, d, 2 * F, per_layer},
                   {"w2", N, F, d, per_layer},       {"head", chunk, d, V, heads}};
    static char names[3 * 5][48];
    int k = 0;
    for (const Linear &l : linears) {
        double fl = 2.0 * l.rows * l.in * l.out;
        snprintf(names[k], sizeof names[k], "%s forward", l.name);
        items.push_back({names[k++], l.calls, fl, [=] { CK(linear_fwd<bf16>(g, act_a, W, act_b, l.rows, l.in, l.out)); }});
        snprintf(names[k], sizeof names[k], "%s input gradient", l.name);
        items.push_back({names[k++], l.calls, fl, [=] { CK(linear_bwd_input<bf16>(g, act_a, W, act_b, l.rows, l.in, l.out)); }});
        snprintf(names[k], sizeof names[k], "%s weight gradient", l.name);
        items.push_back({names[k++], l.calls, fl, [=] { CK(linear_bwd_weight<bf16>(g, act_a, act_b, dW, l.rows, l.in, l.out)); }});
    }
    items.push_back({"attention forward", per_layer, attn_fwd, [=] { CK(k_attention_fwd<bf16>(qkv, o, lse, a, 0)); }});
    /* counted at 2.5x the forward's FLOPs, as the benchmarks do (it runs 3.5x: 7 tile products) */
    items.push_back({"attention backward", per_layer, 2.5 * attn_fwd,
                     [=] { CK(k_attention_bwd<bf16>(qkv, o, dout, lse, dsum, dqkv, a, 0)); }});
    items.push_back({"rope (forward and inverse)", 2 * per_layer, 0,
                     [=] { CK(k_rope<bf16>(qkv, rope_cs, N, T, H, KV, hd, 0, 0)); }});
    items.push_back({"rmsnorm + residual forward", norms, 0,
                     [=] { CK(k_rmsnorm_fwd<bf16>(x_res, act_a, x_out, gain, act_b, rstd, N, d, 1e-5f, 0)); }});
    items.push_back({"rmsnorm backward", norms, 0,
                     [=] { CK(k_rmsnorm_bwd<bf16>(act_a, x_res, rstd, gain, x_out, act_b, dgain, partial, N, d, 0)); }});
    items.push_back({"swiglu forward", per_layer, 0, [=] { CK(k_swiglu_fwd<bf16>(act_a, gbuf, N, F, 0)); }});
    items.push_back({"swiglu backward", per_layer, 0, [=] { CK(k_swiglu_bwd<bf16>(act_a, gbuf, act_b, N, F, 0)); }});
    items.push_back({"cross-entropy (chunk)", heads, 0,
                     [=] { CK(k_cross_entropy<bf16>(logits, targets, loss, chunk, V, 1.f / N, 1, 0)); }});
    items.push_back({"gradient norm", 1, 0, [=] { CK(k_sumsq(g32, P, scalar, partial, 0)); }});
    items.push_back({"adamw (+ bf16 copy)", 1, 0,
                     [=] { CK(k_adamw(p32, g32, m32, v32, wbf, P, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.65f, 0.40f, 1.f, 0)); }});
    /* last: it leaves the gradients zero */
    items.push_back({"clear gradients", 1, 0, [=] { CUDA_CK(cudaMemsetAsync(g32, 0, P * 4, 0)); }});

    printf("device: %s; model %s (%.1fM parameters), B%d x T%d, %.2f s per item\n", prop.name, model, P / 1e6, B, T,
           seconds);
    double e0 = nvml_energy_joules(&counter), t0 = kr_now();
    sleep(1);
    printf("idle: %.0f W\n\n", (nvml_energy_joules(&counter) - e0) / (kr_now() - t0));
    printf("%-30s %8s %9s %7s %9s %9s %7s %8s\n", "kernel", "calls", "ms/call", "W", "mJ/call", "J/step", "share",
           "pJ/FLOP");
    std::vector<Measure> ms;
    double total_j = 0, total_ms = 0;
    for (const Item &it : items) {
        ms.push_back(measure(&counter, it.run, seconds));
        total_j += ms.back().joules * it.calls;
        total_ms += ms.back().ms * it.calls;
    }
    for (size_t i = 0; i < items.size(); i++) {
        const Item &it = items[i];
        const Measure &m = ms[i];
        printf("%-30s %8.1f %9.3f %7.0f %9.1f %9.2f %6.1f%%", it.name, it.calls, m.ms, m.watts, m.joules * 1e3,
               m.joules * it.calls, 100 * m.joules * it.calls / total_j);
        if (it.flops > 0) printf(" %8.2f", m.joules / it.flops * 1e12);
        printf("\n");
    }
    printf("\nsum: %.1f J and %.1f ms per step (each part at its own back-to-back rate)\n", total_j, total_ms);
    return 0;
}
