/* The layers of the Llama-style model as plain forward/backward functions on fp32 arrays.
 *
 * Conventions: activations are row-major [N, width] with N = B*T tokens (token n = b*T + t).
 * Matrices are [out, in] row-major (torch.nn.Linear): y = x W^T. Every backward ADDS into
 * parameter gradients (so micro-batches accumulate and tied weights sum) and OVERWRITES
 * activation gradients unless its comment says otherwise. No function allocates memory. */
#ifndef KR_LAYERS_H
#define KR_LAYERS_H

#include <stdint.h>

/* out[n,:] = table[tokens[n],:] */
void embedding_forward(float *out, const int32_t *tokens, const float *table, int N, int d);
/* dtable[tokens[n],:] += dout[n,:] */
void embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int N, int d);

/* out = x / sqrt(mean(x^2) + eps) * w per row; rstd[n] (the reciprocal RMS) is kept for backward. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int d, float eps);
/* dx += d out/dx (accumulates: dx is the residual stream gradient); dw += ... */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd, int N,
                      int d);

/* y[N,out] = x[N,in] W[out,in]^T, or y += ... when accumulate (residual connections). */
void matmul_forward(float *y, const float *x, const float *W, int N, int in, int out, int accumulate);
/* dx = dy W (skipped when dx is NULL); dW += dy^T x. */
void matmul_backward(float *dx, float *dW, const float *dy, const float *x, const float *W, int N, int in, int out);

/* cos/sin tables [T, hd/2] for positions 0..T-1: angle = t * theta^(-2i/hd). */
void rope_tables(float *cos_t, float *sin_t, int T, int hd, float theta);
/* Rotates interleaved pairs (x[2i], x[2i+1]) of every head in place. x holds N = B*T rows of
 * `heads` heads of width hd, rows `ld` floats apart (so q and k can live inside a fused qkv row). */
void rope_forward(float *x, int ld, const float *cos_t, const float *sin_t, int B, int T, int heads, int hd);
/* The transpose rotation, in place on the gradient. */
void rope_backward(float *dx, int ld, const float *cos_t, const float *sin_t, int B, int T, int heads, int hd);

/* Causal grouped-query attention. q: H heads, k/v: KV heads, all rows `ld` floats apart (views into
 * a fused [N, (H+2KV)*hd] buffer); query head h reads kv head h / (H/KV). y: [N, H*hd].
 * probs [B, H, T, T] keeps the softmax (zeros above the diagonal) for backward. */
void attention_forward(float *y, float *probs, const float *q, const float *k, const float *v, int ld, int B, int T,
                       int H, int KV, int hd);
/* Writes dq, dk, dv (rows `ld` apart, like q/k/v). scratch: nscratch * T * T floats; at most
 * nscratch threads run. */
void attention_backward(float *dq, float *dk, float *dv, const float *dy, const float *probs, const float *q,
                        const float *k, const float *v, int ld, int B, int T, int H, int KV, int hd, float *scratch,
                        int nscratch);

/* h13 rows are [w1 x | w3 x] (F each); out[n,j] = silu(h1[n,j]) * h3[n,j]. */
void swiglu_forward(float *out, const float *h13, int N, int F);
/* dh13 = [d/dh1 | d/dh3] of the above. */
void swiglu_backward(float *dh13, const float *dout, const float *h13, int N, int F);

/* Mean cross-entropy over N rows of logits [N, V]; lse[n] (log-sum-exp) is kept for backward.
 * Logits are not modified. Returns the mean loss. */
float crossentropy_forward(float *lse, const float *logits, const int32_t *targets, int N, int V);
/* Turns logits into d(mean loss * scale)/dlogits IN PLACE (softmax without extra memory). */
void crossentropy_backward(float *logits, const float *lse, const int32_t *targets, int N, int V, float scale);

#endif
