/* Weight matrices for inference in one of several storage precisions, and the kernels that
 * multiply them: matrix-vector work for decoding (weights streamed from memory once per step
 * for every row of the batch) and dequantisation for matrix-matrix prefill through BLAS.
 *
 * Formats: fp32 (may point into a memory-mapped checkpoint), bf16 (upper half of fp32, rounded
 * to nearest even), int8 with one fp32 scale per group of 64 columns (or per row): w = q * s,
 * s = max|w| / 127 over the group. int8 products quantise the input vectors the same way
 * where the CPU has int8 dot products (AVX-512 VNNI). */
#ifndef KR_INFER_QMATRIX_H
#define KR_INFER_QMATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "common/workpool.h"

typedef enum { PREC_FP32, PREC_BF16, PREC_INT8, PREC_INT8_ROW } InferPrecision;

#define QMATRIX_INT8_GROUP 64

/* "fp32", "bf16", "int8" (groups of 64), "int8_row" (one scale per row). */
int infer_precision_parse(const char *s, InferPrecision *out);
const char *infer_precision_name(InferPrecision p);

typedef struct {
    InferPrecision prec;
    int rows, cols;
    const float *f32;  /* PREC_FP32: borrowed, never freed */
    uint16_t *bf16;    /* PREC_BF16: rows x cols */
    int8_t *q;         /* PREC_INT8*: rows x cols (with VNNI, 256-column blocks interleaved: qmatrix.c) */
    float *scales;     /* PREC_INT8*: rows x groups_per_row */
    int group;         /* PREC_INT8*: columns per scale */
    int groups_per_row;
} QMatrix;

/* Builds `m` from fp32 weights [rows, cols]; fp32 borrows `w` (it must outlive `m`). */
int qmatrix_init(QMatrix *m, const float *w, int rows, int cols, InferPrecision prec);
void qmatrix_free(QMatrix *m);
/* Bytes of weight data read by one full pass (scales included). */
size_t qmatrix_bytes(const QMatrix *m);

/* y[b*rows + o] = sum_i W[o,i] * x[b*cols + i] for b < nx, split over output rows across the
 * pool (NULL: this thread). Each output is accumulated in the same order whatever nx is, so a
 * row of a batch gets exactly the value it gets alone. */
void qmatrix_matvec(WorkPool *pool, const QMatrix *m, const float *x, int nx, float *y);

/* Several matrices of one precision with the same input (e.g. wq, wk, wv) in one parallel pass:
 * ys[k] = x W_k^T. With AVX-512 VNNI, int8 matrices take the input quantised to int8 per 64 values
 * (as llama2.c's runq does). */
#define QMATRIX_MULTI_MAX 4
void qmatrix_matvec_multi(WorkPool *pool, const QMatrix *const *ms, float *const *ys, int count, const float *x, int nx);

/* Writes rows [r0, r0 + nrows) of W as fp32 [nrows, cols] into out (for BLAS products). */
void qmatrix_dequantize_rows(const QMatrix *m, int r0, int nrows, float *out);

#endif
