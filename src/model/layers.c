/* Forward and backward of every layer, top to bottom in the order the model uses them.
 * Matrix products go through BLAS (big GEMMs over all B*T rows); elementwise loops are
 * OpenMP-parallel over rows and written so the compiler vectorizes them. */
#include "model/layers.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef KR_ACCELERATE
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif
#include <omp.h>

/* exp(x) to ~1 ulp without a libm call, so that loops over logits vectorize
 * (Cody-Waite range reduction, then the Cephes minimax polynomial on [-ln2/2, ln2/2]). */
static inline float fast_expf(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x; /* (fminf/fmaxf would not vectorize) */
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23};
    return p * scale.f;
}

/* ---------------------------------------------------------------- embedding */

void embedding_forward(float *out, const int32_t *tokens, const float *table, int N, int d) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * d, table + (size_t)tokens[n] * d, (size_t)d * sizeof(float));
}

void embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int N, int d) {
    /* serial: repeated tokens would race, and N*d additions are negligible */
    for (int n = 0; n < N; n++) {
        float *row = dtable + (size_t)tokens[n] * d;
        const float *g = dout + (size_t)n * d;
        for (int j = 0; j < d; j++) row[j] += g[j];
    }
}

/* ---------------------------------------------------------------- rmsnorm */

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int d, float eps) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * d;
        float *o = out + (size_t)n * d;
        float ss = 0.0f;
        for (int j = 0; j < d; j++) ss += xr[j] * xr[j];
        float r = 1.0f / sqrtf(ss / d + eps);
        rstd[n] = r;
        for (int j = 0; j < d; j++) o[j] = xr[j] * r * w[j];
    }
}

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd, int N,
                      int d) {
    /* dx = rstd * (g - xhat * mean(g * xhat)) with g = dout * w and xhat = x * rstd */
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * d, *go = dout + (size_t)n * d;
        float *dxr = dx + (size_t)n * d;
        float r = rstd[n], dot = 0.0f;
        for (int j = 0; j < d; j++) dot += go[j] * w[j] * xr[j];
        float c = dot * r * r / d;
        for (int j = 0; j < d; j++) dxr[j] += r * (go[j] * w[j] - xr[j] * c);
    }
    /* dw sums over rows: threads own column slices so nothing races */
    enum { COLS = 64 };
    int nblocks = (d + COLS - 1) / COLS;
#pragma omp parallel for
    for (int b = 0; b < nblocks; b++) {
        int j0 = b * COLS, j1 = j0 + COLS < d ? j0 + COLS : d;
        float acc[COLS] = {0};
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * d, *go = dout + (size_t)n * d;
            for (int j = j0; j < j1; j++) acc[j - j0] += go[j] * xr[j] * rstd[n];
        }
        for (int j = j0; j < j1; j++) dw[j] += acc[j - j0];
    }
}

/* ---------------------------------------------------------------- matmul */

void matmul_forward(float *y, const float *x, const float *W, int N, int in, int out, int accumulate) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W, in, accumulate ? 1.0f : 0.0f, y,
                out);
}

void matmul_backward(float *dx, float *dW, const float *dy, const float *x, const float *W, int N, int in, int out) {
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
}

/* ---------------------------------------------------------------- rope */

void rope_tables(float *cos_t, float *sin_t, int T, int hd, float theta) {
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double angle = t * pow((double)theta, -2.0 * i / hd);
            cos_t[t * half + i] = (float)cos(angle);
            sin_t[t * half + i] = (float)sin(angle);
        }
}

/* sign = +1 rotates by +angle (forward), -1 by -angle (backward: the transpose). */
static void rope_rotate(float *x, int ld, const float *cos_t, const float *sin_t, int B, int T, int heads, int hd,
                        float sign) {
    int half = hd / 2;
#pragma omp parallel for
    for (int n = 0; n < B * T; n++) {
        const float *c = cos_t + (size_t)(n % T) * half, *s = sin_t + (size_t)(n % T) * half;
        for (int h = 0; h < heads; h++) {
            float *p = x + (size_t)n * ld + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                float a = p[2 * i], b = p[2 * i + 1], si = sign * s[i];
                p[2 * i] = a * c[i] - b * si;
                p[2 * i + 1] = a * si + b * c[i];
            }
        }
    }
}

void rope_forward(float *x, int ld, const float *cos_t, const float *sin_t, int B, int T, int heads, int hd) {
    rope_rotate(x, ld, cos_t, sin_t, B, T, heads, hd, 1.0f);
}

void rope_backward(float *dx, int ld, const float *cos_t, const float *sin_t, int B, int T, int heads, int hd) {
    rope_rotate(dx, ld, cos_t, sin_t, B, T, heads, hd, -1.0f);
}

/* ---------------------------------------------------------------- attention */

/* Rows are processed in blocks so that the GEMMs skip most of the masked upper triangle:
 * block [r0, r0+rows) only needs keys [0, r0+rows). */
enum { ATT_BLOCK = 64 };

/* Causal softmax of row i of scores (in place), columns [0, ncols): zeros after the diagonal. */
static void causal_softmax_row(float *s, int i, int ncols) {
    float m = -INFINITY, sum = 0.0f;
    for (int j = 0; j <= i; j++) m = s[j] > m ? s[j] : m;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= i; j++) {
        s[j] = fast_expf(s[j] - m);
        sum += s[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j <= i; j++) s[j] *= inv;
    for (int j = i + 1; j < ncols; j++) s[j] = 0.0f;
}

void attention_forward(float *y, float *probs, const float *q, const float *k, const float *v, int ld, int B, int T,
                       int H, int KV, int hd) {
    float scale = 1.0f / sqrtf((float)hd);
    int rep = H / KV, ldy = H * hd;
#pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H, g = h / rep;
        const float *qb = q + (size_t)b * T * ld + (size_t)h * hd;
        const float *kb = k + (size_t)b * T * ld + (size_t)g * hd;
        const float *vb = v + (size_t)b * T * ld + (size_t)g * hd;
        float *P = probs + (size_t)bh * T * T;
        float *yb = y + (size_t)b * T * ldy + (size_t)h * hd;
        for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
            int rows = T - r0 < ATT_BLOCK ? T - r0 : ATT_BLOCK, cols = r0 + rows;
            float *Pb = P + (size_t)r0 * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, hd, scale, qb + (size_t)r0 * ld, ld, kb,
                        ld, 0.0f, Pb, T);
            for (int i = 0; i < rows; i++) {
                causal_softmax_row(Pb + (size_t)i * T, r0 + i, T);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, cols, 1.0f, Pb, T, vb, ld, 0.0f,
                        yb + (size_t)r0 * ldy, ldy);
        }
    }
}

void attention_backward(float *dq, float *dk, float *dv, const float *dy, const float *probs, const float *q,
                        const float *k, const float *v, int ld, int B, int T, int H, int KV, int hd, float *scratch,
                        int nscratch) {
    float scale = 1.0f / sqrtf((float)hd);
    int rep = H / KV, ldy = H * hd;
    /* one task per (batch, kv head): the query heads sharing a kv head accumulate into the same dk/dv */
#pragma omp parallel for schedule(dynamic) num_threads(nscratch)
    for (int bg = 0; bg < B * KV; bg++) {
        int b = bg / KV, g = bg % KV;
        float *dS = scratch + (size_t)omp_get_thread_num() * T * T;
        const float *kb = k + (size_t)b * T * ld + (size_t)g * hd;
        const float *vb = v + (size_t)b * T * ld + (size_t)g * hd;
        float *dkb = dk + (size_t)b * T * ld + (size_t)g * hd;
        float *dvb = dv + (size_t)b * T * ld + (size_t)g * hd;
        for (int t = 0; t < T; t++) {
            memset(dkb + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
            memset(dvb + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
        }
        for (int h = g * rep; h < (g + 1) * rep; h++) {
            const float *qb = q + (size_t)b * T * ld + (size_t)h * hd;
            float *dqb = dq + (size_t)b * T * ld + (size_t)h * hd;
            const float *dyb = dy + (size_t)b * T * ldy + (size_t)h * hd;
            const float *P = probs + ((size_t)b * H + h) * T * T;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int rows = T - r0 < ATT_BLOCK ? T - r0 : ATT_BLOCK, cols = r0 + rows;
                const float *Pb = P + (size_t)r0 * T;
                float *dSb = dS + (size_t)r0 * T;
                /* dv += P^T dy ; dP = dy v^T */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols, hd, rows, 1.0f, Pb, T,
                            dyb + (size_t)r0 * ldy, ldy, 1.0f, dvb, ld);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, hd, 1.0f, dyb + (size_t)r0 * ldy, ldy,
                            vb, ld, 0.0f, dSb, T);
                /* softmax backward: dS = P * (dP - sum_j P dP) */
                for (int i = 0; i < rows; i++) {
                    const float *p = Pb + (size_t)i * T;
                    float *d = dSb + (size_t)i * T, dot = 0.0f;
                    int n = r0 + i + 1;
                    for (int j = 0; j < n; j++) dot += p[j] * d[j];
                    for (int j = 0; j < n; j++) d[j] = p[j] * (d[j] - dot);
                    for (int j = n; j < cols; j++) d[j] = 0.0f;
                }
                /* dq = scale dS k ; dk += scale dS^T q */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, cols, scale, dSb, T, kb, ld, 0.0f,
                            dqb + (size_t)r0 * ld, ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols, hd, rows, scale, dSb, T,
                            qb + (size_t)r0 * ld, ld, 1.0f, dkb, ld);
            }
        }
    }
}

/* ---------------------------------------------------------------- swiglu */

void swiglu_forward(float *out, const float *h13, int N, int F) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *h1 = h13 + (size_t)n * 2 * F, *h3 = h1 + F;
        float *o = out + (size_t)n * F;
#pragma omp simd
        for (int j = 0; j < F; j++) o[j] = h1[j] / (1.0f + fast_expf(-h1[j])) * h3[j];
    }
}

void swiglu_backward(float *dh13, const float *dout, const float *h13, int N, int F) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *h1 = h13 + (size_t)n * 2 * F, *h3 = h1 + F, *g = dout + (size_t)n * F;
        float *d1 = dh13 + (size_t)n * 2 * F, *d3 = d1 + F;
#pragma omp simd
        for (int j = 0; j < F; j++) {
            float s = 1.0f / (1.0f + fast_expf(-h1[j])), silu = h1[j] * s;
            d1[j] = g[j] * h3[j] * s * (1.0f + h1[j] * (1.0f - s));
            d3[j] = g[j] * silu;
        }
    }
}

/* ---------------------------------------------------------------- cross-entropy */

float crossentropy_forward(float *lse, const float *logits, const int32_t *targets, int N, int V) {
    double total = 0.0;
#pragma omp parallel for reduction(+ : total)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float m = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : m)
        for (int j = 0; j < V; j++) m = x[j] > m ? x[j] : m;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < V; j++) sum += fast_expf(x[j] - m);
        lse[n] = m + logf(sum);
        total += lse[n] - x[targets[n]];
    }
    return (float)(total / N);
}

void crossentropy_backward(float *logits, const float *lse, const int32_t *targets, int N, int V, float scale) {
    float c = scale / N;
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        float *x = logits + (size_t)n * V, l = lse[n];
#pragma omp simd
        for (int j = 0; j < V; j++) x[j] = c * fast_expf(x[j] - l);
        x[targets[n]] -= c;
    }
}
