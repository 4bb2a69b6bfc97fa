/* Matrix-vector kernels of every precision on a shape with whole int8 blocks, a full tail group
 * and a partial group: each row of a batch (also one split into slices) gets exactly the bits
 * it gets alone, dequantised int8 weights are within half a step of the originals, and int8
 * products stay within the error bound of quantising the input per 64 values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "infer/qmatrix.h"
#include "test.h"

enum { ROWS = 37, COLS = 3 * 256 + 64 + 40, NX = 300, NX_SMALL = 7 };

static void check_batch_rows_match_single(WorkPool *pool, const QMatrix *m, const float *x, const float *y, const char *name) {
    float one[ROWS];
    const int rows_checked[] = {0, 1, 2, 3, 4, 5, 6, 291, 292, 293, NX - 1};
    for (size_t i = 0; i < sizeof rows_checked / sizeof *rows_checked; i++) {
        int b = rows_checked[i];
        qmatrix_matvec(pool, m, x + (size_t)b * COLS, 1, one);
        CHECK_MSG(!memcmp(one, y + (size_t)b * ROWS, sizeof one), "%s: batch row %d differs from the row alone", name, b);
    }
}

/* |y - W x| <= sum_c |W[o,c]| * (max |x| over c's group of 64) / 254, the most that rounding the
 * input to int8 per group can move an output (plus float rounding). */
static void check_int8_error(const QMatrix *m, const float *w, const float *x, const float *y, int nx) {
    float *deq = malloc((size_t)ROWS * COLS * sizeof *deq);
    CHECK(deq != NULL);
    if (!deq) return;
    qmatrix_dequantize_rows(m, 0, ROWS, deq);
    double worst_w = 0;
    for (int o = 0; o < ROWS; o++) {
        double amax = 0, err = 0;
        for (int c = 0; c < COLS; c++) amax = fmax(amax, fabs(w[(size_t)o * COLS + c]));
        for (int c = 0; c < COLS; c++) err = fmax(err, fabs(deq[(size_t)o * COLS + c] - w[(size_t)o * COLS + c]));
        worst_w = fmax(worst_w, err / (amax / 254.0));
    }
    CHECK_MSG(worst_w <= 1.001, "%s: dequantised weight off by %g half steps", infer_precision_name(m->prec), worst_w);
    double worst = 0;
    for (int b = 0; b < nx; b++) {
        const float *xb = x + (size_t)b * COLS;
        for (int o = 0; o < ROWS; o++) {
            const float *wo = deq + (size_t)o * COLS;
            double ref = 0, bound = 1e-4;
            for (int g0 = 0; g0 < COLS; g0 += 64) {
                double xmax = 0, wsum = 0;
                for (int c = g0; c < g0 + 64 && c < COLS; c++) {
                    ref += (double)wo[c] * xb[c];
                    xmax = fmax(xmax, fabs(xb[c]));
                    wsum += fabs(wo[c]);
                }
                bound += wsum * xmax / 254.0 * 1.001;
            }
            worst = fmax(worst, fabs(y[(size_t)b * ROWS + o] - ref) / bound);
        }
    }
    CHECK_MSG(worst <= 1, "%s: product error %g times its bound", infer_precision_name(m->prec), worst);
    free(deq);
}

int main(void) {
    Rng r;
    rng_seed(&r, 5);
    float *w = malloc((size_t)ROWS * COLS * sizeof *w), *x = malloc((size_t)NX * COLS * sizeof *x);
    float *y = malloc((size_t)NX * ROWS * sizeof *y), *ys = malloc((size_t)NX_SMALL * ROWS * sizeof *ys);
    WorkPool *pool = workpool_create(2);
    CHECK(w && x && y && ys && pool);
    if (!w || !x || !y || !ys || !pool) return test_summary("test_infer_qmatrix");
    /* groups of very different magnitudes, so a scale applied to the wrong group shows */
    for (int o = 0; o < ROWS; o++)
        for (int c = 0; c < COLS; c++) w[(size_t)o * COLS + c] = rng_normal(&r) * (float)(1 + (c / 64 + o) % 5 * 3);
    for (int b = 0; b < NX; b++)
        for (int c = 0; c < COLS; c++) x[(size_t)b * COLS + c] = rng_normal(&r) * (float)(1 + (c / 64 + 2 * b) % 7);
    const InferPrecision precs[4] = {PREC_FP32, PREC_BF16, PREC_INT8, PREC_INT8_ROW};
    for (int i = 0; i < 4; i++) {
        QMatrix m;
        CHECK_MSG(qmatrix_init(&m, w, ROWS, COLS, precs[i]) == 0, "%s", kr_last_error());
        const char *name = infer_precision_name(precs[i]);
        qmatrix_matvec(pool, &m, x, NX, y);
        check_batch_rows_match_single(pool, &m, x, y, name);
        qmatrix_matvec(NULL, &m, x, NX_SMALL, ys);
        CHECK_MSG(!memcmp(ys, y, (size_t)NX_SMALL * ROWS * sizeof *ys), "%s: batch of %d differs from batch of %d", name, NX_SMALL, NX);
        if (precs[i] >= PREC_INT8) check_int8_error(&m, w, x, y, NX);
        qmatrix_free(&m);
    }
    workpool_free(pool);
    free(w);
    free(x);
    free(y);
    free(ys);
    return test_summary("test_infer_qmatrix");
}
