/* Times the CUDA backend's kernels at the medium model's shapes (B16 x T2048, d1024, GQA 16/4,
 * head 64, ffn 4608, vocab 32000): medians of CUDA-event timings, with achieved TFLOP/s or GB/s. */
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "backend/cuda/gemm.cuh"
#include "backend/cuda/kernels.cuh"
#include "bench_util.cuh"

static void report(const char *what, float ms, double flops, double bytes) {
    printf("%-44s %8.3f ms", what, ms);
    if (flops > 0) printf("  %7.1f TFLOP/s", flops / ms / 1e9);
    if (bytes > 0) printf("  %7.1f GB/s", bytes / ms / 1e6);
    printf("\n");
}

int main() {
    int B = 16, T = 2048, H = 16, KV = 4, hd = 64, d = 1024, F = 4608, V = 32000, N = B * T, w = (H + 2 * KV) * hd;
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    printf("device: %s\n", p.name);
    bf16 *qkv = dev_random<bf16>((size_t)N * w, 0.5f), *o = dev_random<bf16>((size_t)N * d, 0.5f);
    bf16 *dout = dev_random<bf16>((size_t)N * d, 0.5f), *dqkv = dev_random<bf16>((size_t)N * w, 0.5f);
    float *lse, *dsum;
    cudaMalloc(&lse, (size_t)N * H * 4);
    cudaMalloc(&dsum, (size_t)N * H * 4);
    AttnShape a = {B, T, H, KV, hd};
    double attn_fwd_flops = 4.0 * B * H * (double)T * T / 2 * hd;
    report("attention forward (flash, wgmma)", time_ms([&] { CK(k_attention_fwd<bf16>(qkv, o, lse, a, 0)); }), attn_fwd_flops, 0);
    report("attention backward (wgmma, 2.5x fwd flops)",
           time_ms([&] { CK(k_attention_bwd<bf16>(qkv, o, dout, lse, dsum, dqkv, a, 0)); }), 2.5 * attn_fwd_flops, 0);
    report("attention D pass (row sums of dO * O)", time_ms([&] { CK(attention_dsum<bf16>(o, dout, dsum, a, 0)); }), 0,
           (double)N * d * 2 * 2 + (double)N * H * 4);
    report("attention forward (flash, mma.sync)", time_ms([&] { CK(k_flash_fwd_mma(qkv, o, lse, a, 0)); }), attn_fwd_flops, 0);
    report("attention backward (mma.sync, 2.5x fwd flops)",
           time_ms([&] { CK(k_flash_bwd_mma(qkv, o, dout, lse, dsum, dqkv, a, 0)); }), 2.5 * attn_fwd_flops, 0);

    GemmCtx *g;
    CK(gemm_create(&g, 0));
    bf16 *x = dev_random<bf16>((size_t)N * d, 0.5f), *W = dev_random<bf16>((size_t)2 * F * d, 0.5f);
    bf16 *y = dev_random<bf16>((size_t)N * 2 * F, 0.5f);
    float *dW;
    cudaMalloc(&dW, (size_t)2 * F * d * 4);
    double gf = 2.0 * N * d * 2 * F;
    report("gemm x W13^T  [32768x1024] x [9216x1024]^T", time_ms([&] { CK(linear_fwd<bf16>(g, x, W, y, N, d, 2 * F)); }), gf, 0);
    report("gemm dy W13   (input grad)", time_ms([&] { CK(linear_bwd_input<bf16>(g, y, W, x, N, d, 2 * F)); }), gf, 0);
    report("gemm dy^T x   (weight grad, fp32 accumulate)", time_ms([&] { CK(linear_bwd_weight<bf16>(g, y, x, dW, N, d, 2 * F)); }), gf, 0);
    double gq = 2.0 * N * d * w;
    report("gemm x Wqkv^T [32768x1024] x [1536x1024]^T", time_ms([&] { CK(linear_fwd<bf16>(g, x, W, y, N, d, w)); }), gq, 0);
    report("gemm x Wo^T   [32768x1024] x [1024x1024]^T", time_ms([&] { CK(linear_fwd<bf16>(g, x, W, y, N, d, d)); }), 2.0 * N * d * d, 0);

    bf16 *gb = dev_random<bf16>((size_t)N * F, 0.5f);
    /* the roofline for the memory-bound kernels below: a plain device-to-device copy */
    report("device copy of 302 MB (reference)", time_ms([&] { cudaMemcpyAsync(gb, y, (size_t)N * F * 2, cudaMemcpyDeviceToDevice, 0); }),
           0, (double)N * F * 2 * 2);
    report("swiglu forward", time_ms([&] { CK(k_swiglu_fwd<bf16>(y, gb, N, F, 0)); }), 0, (double)N * F * 6);
    report("swiglu backward (+ forward output)", time_ms([&] { CK(k_swiglu_bwd<bf16>(y, gb, y, N, F, 0)); }), 0, (double)N * F * 12);
    float *xf, *xo, *rstd, *gain, *part;
    cudaMalloc(&xf, (size_t)N * d * 4);
    cudaMalloc(&xo, (size_t)N * d * 4);
    cudaMalloc(&rstd, (size_t)N * 4);
    cudaMalloc(&gain, (size_t)d * 4);
    cudaMalloc(&part, (size_t)rmsnorm_partial_floats(N, d) * 4);
    cudaMemset(xf, 0, (size_t)N * d * 4);
    cudaMemset(gain, 0, (size_t)d * 4);
    report("rmsnorm + residual forward", time_ms([&] { CK(k_rmsnorm_fwd<bf16>(xf, x, xo, gain, o, rstd, N, d, 1e-5f, 0)); }), 0,
           (double)N * d * (4 + 2 + 4 + 2));
    report("rmsnorm backward", time_ms([&] { CK(k_rmsnorm_bwd<bf16>(o, xo, rstd, gain, xf, o, gain, part, N, d, 0)); }), 0,
           (double)N * d * (2 + 4 + 4 + 4 + 2)); /* dout, x, dx in and out, dx_act: each byte once */
    report("rope (q and k)", time_ms([&] { CK(k_rope<bf16>(qkv, (const float2 *)xf, N, T, H, KV, hd, 0, 0)); }), 0,
           (double)N * (H + KV) * hd * 4);
    int rows = 4096;
    bf16 *logits = dev_random<bf16>((size_t)rows * V, 0.5f);
    int32_t *tg;
    cudaMalloc(&tg, rows * 4);
    cudaMemset(tg, 0, rows * 4);
    report("cross-entropy 4096 x 32000 (fwd+grad)", time_ms([&] { CK(k_cross_entropy<bf16>(logits, tg, rstd, rows, V, 0.f, 0, 0)); }), 0,
           (double)rows * V * 4);
    return 0;
}
