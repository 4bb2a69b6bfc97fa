/* Finite-difference checks of every layer's backward (src/model/layers.h): each layer's output is
 * reduced to a scalar f = sum(out * R) with random R, and the analytic gradient from backward
 * (given dout = R) must match central differences of f on sampled coordinates. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "model/layers.h"
#include "test.h"

static Rng rng;

static float *randn(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * rng_normal(&rng);
    return p;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* The scalar objective of one layer as a function of its current inputs. */
typedef double (*Objective)(void *ctx);

/* Compares grad (analytic, for the array x of n floats) with central differences of f on up to
 * 64 sampled coordinates; returns ||num - ana|| / ||num||. */
static double fd_check(Objective f, void *ctx, float *x, const float *grad, size_t n) {
    double num2 = 0, err2 = 0;
    size_t samples = n < 64 ? n : 64;
    for (size_t s = 0; s < samples; s++) {
        size_t i = n <= 64 ? s : rng_below(&rng, n);
        float x0 = x[i], h = 1e-2f * fmaxf(1.0f, fabsf(x0));
        x[i] = x0 + h;
        double fp = f(ctx);
        x[i] = x0 - h;
        double fm = f(ctx);
        x[i] = x0;
        double num = (fp - fm) / (2.0 * h);
        num2 += num * num;
        err2 += (num - grad[i]) * (num - grad[i]);
    }
    return sqrt(err2 / (num2 > 0 ? num2 : 1e-30));
}

#define TOL 2e-3 /* fp32 forward with h = 1e-2: correct gradients land around 1e-5..1e-4 */
#define EXPECT_GRAD(what, f, ctx, x, g, n)                                 \
    do {                                                                  \
        double e_ = fd_check(f, ctx, x, g, n);                            \
        printf("  %-28s rel err %.1e\n", what, e_);                       \
        CHECK_MSG(e_ <= TOL, "%s: finite-difference rel err %g", what, e_); \
    } while (0)

/* ---------------------------------------------------------------- rmsnorm */
typedef struct {
    int N, d;
    float *x, *w, *out, *rstd, *R;
} NormCtx;

static double f_rmsnorm(void *p) {
    NormCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->d, 1e-5f);
    return dot(c->out, c->R, (size_t)c->N * c->d);
}

static void test_rmsnorm(void) {
    NormCtx c = {.N = 3, .d = 70};
    size_t n = (size_t)c.N * c.d;
    c.x = randn(n, 1), c.w = randn(c.d, 1), c.out = randn(n, 0), c.rstd = randn(c.N, 0), c.R = randn(n, 1);
    float *dx = calloc(n, sizeof(float)), *dw = calloc(c.d, sizeof(float));
    f_rmsnorm(&c);
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.d);
    EXPECT_GRAD("rmsnorm dx", f_rmsnorm, &c, c.x, dx, n);
    EXPECT_GRAD("rmsnorm dw", f_rmsnorm, &c, c.w, dw, c.d);
    /* dx accumulates (residual stream) */
    float first = dx[5];
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.d);
    CHECK_NEAR(dx[5], 2 * first, 1e-5);
    free(c.x), free(c.w), free(c.out), free(c.rstd), free(c.R), free(dx), free(dw);
}

/* ---------------------------------------------------------------- matmul */
typedef struct {
    int N, in, out;
    float *x, *W, *y, *R;
} MatCtx;

static double f_matmul(void *p) {
    MatCtx *c = p;
    matmul_forward(c->y, c->x, c->W, c->N, c->in, c->out, 0);
    return dot(c->y, c->R, (size_t)c->N * c->out);
}

static void test_matmul(void) {
    MatCtx c = {.N = 5, .in = 7, .out = 3};
    c.x = randn(35, 1), c.W = randn(21, 1), c.y = randn(15, 0), c.R = randn(15, 1);
    float *dx = randn(35, 1), *dW = calloc(21, sizeof(float));
    matmul_backward(dx, dW, c.R, c.x, c.W, c.N, c.in, c.out);
    EXPECT_GRAD("matmul dx", f_matmul, &c, c.x, dx, 35);
    EXPECT_GRAD("matmul dW", f_matmul, &c, c.W, dW, 21);
    /* accumulate mode adds onto y */
    float *y2 = malloc(15 * sizeof(float));
    f_matmul(&c);
    for (int i = 0; i < 15; i++) y2[i] = 1.0f;
    matmul_forward(y2, c.x, c.W, c.N, c.in, c.out, 1);
    CHECK_NEAR(y2[4], c.y[4] + 1.0f, 1e-5);
    free(c.x), free(c.W), free(c.y), free(c.R), free(dx), free(dW), free(y2);
}

/* ---------------------------------------------------------------- rope */
typedef struct {
    int B, T, heads, hd, ld;
    float *x, *tmp, *cos_t, *sin_t, *R;
} RopeCtx;

static double f_rope(void *p) {
    RopeCtx *c = p;
    size_t n = (size_t)c->B * c->T * c->ld;
    memcpy(c->tmp, c->x, n * sizeof(float));
    rope_forward(c->tmp, c->ld, c->cos_t, c->sin_t, c->B, c->T, c->heads, c->hd);
    return dot(c->tmp, c->R, n);
}

static void test_rope(void) {
    /* 2 heads of width 6 inside rows of 15 (the rest stays untouched) */
    RopeCtx c = {.B = 2, .T = 5, .heads = 2, .hd = 6, .ld = 15};
    size_t n = (size_t)c.B * c.T * c.ld;
    c.x = randn(n, 1), c.tmp = randn(n, 0), c.R = randn(n, 1);
    c.cos_t = randn((size_t)c.T * c.hd / 2, 0), c.sin_t = randn((size_t)c.T * c.hd / 2, 0);
    rope_tables(c.cos_t, c.sin_t, c.T, c.hd, 10000.0f);
    /* position 1, pair 0 rotates by exactly 1 radian */
    CHECK_NEAR(c.cos_t[c.hd / 2], cos(1.0), 1e-6);
    float *g = malloc(n * sizeof(float));
    memcpy(g, c.R, n * sizeof(float));
    rope_backward(g, c.ld, c.cos_t, c.sin_t, c.B, c.T, c.heads, c.hd);
    EXPECT_GRAD("rope dx", f_rope, &c, c.x, g, n);
    free(c.x), free(c.tmp), free(c.R), free(c.cos_t), free(c.sin_t), free(g);
}

/* ---------------------------------------------------------------- attention */
typedef struct {
    int B, T, H, KV, hd, ld;
    float *qkv, *y, *probs, *R;
} AttCtx;

static double f_attention(void *p) {
    AttCtx *c = p;
    int qd = c->H * c->hd, kd = c->KV * c->hd;
    attention_forward(c->y, c->probs, c->qkv, c->qkv + qd, c->qkv + qd + kd, c->ld, c->B, c->T, c->H, c->KV, c->hd);
    return dot(c->y, c->R, (size_t)c->B * c->T * qd);
}

static void check_attention(int B, int T, int H, int KV, int hd) {
    AttCtx c = {.B = B, .T = T, .H = H, .KV = KV, .hd = hd, .ld = (H + 2 * KV) * hd};
    size_t N = (size_t)B * T, n = N * c.ld, ny = N * H * hd;
    c.qkv = randn(n, 1), c.y = randn(ny, 0), c.probs = randn((size_t)B * H * T * T, 0), c.R = randn(ny, 1);
    float *dqkv = randn(n, 1), *scratch = randn(2 * (size_t)T * T, 0);
    f_attention(&c);
    /* causality: row t of the softmax is zero after t and sums to one */
    double row = 0;
    for (int j = 0; j < T; j++) row += c.probs[(size_t)2 * T + j];
    CHECK_NEAR(row, 1.0, 1e-5);
    CHECK(c.probs[(size_t)T + 2] == 0.0f);
    int qd = H * hd, kd = KV * hd;
    attention_backward(dqkv, dqkv + qd, dqkv + qd + kd, c.R, c.probs, c.qkv, c.qkv + qd, c.qkv + qd + kd, c.ld, B, T,
                       H, KV, hd, scratch, 2);
    char what[64];
    snprintf(what, sizeof what, "attention T=%d H=%d KV=%d", T, H, KV);
    EXPECT_GRAD(what, f_attention, &c, c.qkv, dqkv, n);
    free(c.qkv), free(c.y), free(c.probs), free(c.R), free(dqkv), free(scratch);
}

static void test_attention(void) {
    check_attention(2, 5, 4, 2, 4);   /* grouped-query */
    check_attention(1, 70, 2, 1, 4);  /* more rows than one attention block */
    check_attention(2, 3, 3, 3, 2);   /* plain multi-head */
}

/* ---------------------------------------------------------------- swiglu */
typedef struct {
    int N, F;
    float *h13, *out, *R;
} SwiCtx;

static double f_swiglu(void *p) {
    SwiCtx *c = p;
    swiglu_forward(c->out, c->h13, c->N, c->F);
    return dot(c->out, c->R, (size_t)c->N * c->F);
}

static void test_swiglu(void) {
    SwiCtx c = {.N = 4, .F = 9};
    c.h13 = randn(72, 2), c.out = randn(36, 0), c.R = randn(36, 1);
    float *d = randn(72, 1);
    swiglu_backward(d, c.R, c.h13, c.N, c.F);
    EXPECT_GRAD("swiglu dh13", f_swiglu, &c, c.h13, d, 72);
    free(c.h13), free(c.out), free(c.R), free(d);
}

/* ---------------------------------------------------------------- cross-entropy */
typedef struct {
    int N, V;
    float *logits, *lse;
    int32_t *targets;
} CeCtx;

static double f_ce(void *p) {
    CeCtx *c = p;
    return 3.0 * crossentropy_forward(c->lse, c->logits, c->targets, c->N, c->V);
}

static void test_crossentropy(void) {
    CeCtx c = {.N = 6, .V = 11};
    c.logits = randn(66, 3), c.lse = randn(6, 0);
    int32_t targets[6] = {0, 10, 3, 3, 7, 1};
    c.targets = targets;
    double loss = f_ce(&c) / 3.0;
    /* the mean of -log softmax[target], computed directly */
    double ref = 0;
    for (int n = 0; n < c.N; n++) {
        double s = 0;
        for (int j = 0; j < c.V; j++) s += exp(c.logits[n * c.V + j]);
        ref += log(s) - c.logits[n * c.V + targets[n]];
    }
    CHECK_NEAR(loss, ref / c.N, 1e-5);
    float *g = malloc(66 * sizeof(float));
    memcpy(g, c.logits, 66 * sizeof(float));
    crossentropy_backward(g, c.lse, targets, c.N, c.V, 3.0f);
    EXPECT_GRAD("cross-entropy dlogits", f_ce, &c, c.logits, g, 66);
    free(c.logits), free(c.lse), free(g);
}

/* ---------------------------------------------------------------- embedding */
static void test_embedding(void) {
    float *table = randn(5 * 3, 1), *out = randn(4 * 3, 0), *dtable = calloc(15, sizeof(float)), *dout = randn(12, 1);
    int32_t tok[4] = {2, 0, 2, 4};
    embedding_forward(out, tok, table, 4, 3);
    CHECK(out[3 * 3 + 1] == table[4 * 3 + 1]);
    embedding_backward(dtable, dout, tok, 4, 3);
    CHECK_NEAR(dtable[2 * 3 + 1], dout[0 * 3 + 1] + dout[2 * 3 + 1], 1e-6); /* repeated token sums */
    CHECK(dtable[1 * 3] == 0.0f && dtable[3 * 3 + 2] == 0.0f);
    free(table), free(out), free(dtable), free(dout);
}

int main(void) {
    rng_seed(&rng, 7);
    test_embedding();
    test_rmsnorm();
    test_matmul();
    test_rope();
    test_attention();
    test_swiglu();
    test_crossentropy();
    return test_summary("test_layers");
}
