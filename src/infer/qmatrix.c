#include "infer/qmatrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

static const char *const precision_names[] = {"fp32", "bf16", "int8", "int8_row"};

int infer_precision_parse(const char *s, InferPrecision *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, precision_names[i])) {
            *out = (InferPrecision)i;
            return 0;
        }
    return kr_error("unknown precision '%s' (use fp32, bf16, int8 or int8_row)", s);
}

const char *infer_precision_name(InferPrecision p) { return precision_names[p]; }

uint16_t bf16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void quantize_int8_row(const float *w, int cols, int group, int8_t *q, float *scales) {
    for (int g0 = 0, gi = 0; g0 < cols; g0 += group, gi++) {
        int g1 = g0 + group < cols ? g0 + group : cols;
        float amax = 0;
        for (int c = g0; c < g1; c++) amax = fmaxf(amax, fabsf(w[c]));
        float s = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0;
        scales[gi] = s;
        for (int c = g0; c < g1; c++) q[c] = (int8_t)lrintf(w[c] * inv);
    }
}

int qmatrix_init(QMatrix *m, const float *w, int rows, int cols, InferPrecision prec) {
    memset(m, 0, sizeof *m);
    m->prec = prec;
    m->rows = rows;
    m->cols = cols;
    m->group = cols;
    m->groups_per_row = 1;
    size_t n = (size_t)rows * cols;
    switch (prec) {
    case PREC_FP32:
        m->f32 = w;
        return 0;
    case PREC_BF16:
        m->bf16 = malloc(n * sizeof *m->bf16);
        if (!m->bf16) return kr_error("out of memory for a %dx%d bf16 matrix", rows, cols);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) m->bf16[i] = bf16_from_float(w[i]);
        return 0;
    case PREC_INT8:
    case PREC_INT8_ROW:
        if (prec == PREC_INT8) m->group = QMATRIX_INT8_GROUP < cols ? QMATRIX_INT8_GROUP : cols;
        m->groups_per_row = (cols + m->group - 1) / m->group;
        m->q = malloc(n);
        m->scales = malloc((size_t)rows * m->groups_per_row * sizeof *m->scales);
        if (!m->q || !m->scales) {
            qmatrix_free(m);
            return kr_error("out of memory for a %dx%d int8 matrix", rows, cols);
        }
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++)
            quantize_int8_row(w + (size_t)r * cols, cols, m->group, m->q + (size_t)r * cols, m->scales + (size_t)r * m->groups_per_row);
        return 0;
    }
    return kr_error("invalid precision %d", (int)prec);
}

void qmatrix_free(QMatrix *m) {
    free(m->bf16);
    free(m->q);
    free(m->scales);
    memset(m, 0, sizeof *m);
}

size_t qmatrix_bytes(const QMatrix *m) {
    size_t n = (size_t)m->rows * m->cols;
    switch (m->prec) {
    case PREC_FP32: return n * 4;
    case PREC_BF16: return n * 2;
    default: return n + (size_t)m->rows * m->groups_per_row * 4;
    }
}

void qmatrix_dequantize(const QMatrix *m, float *out) {
    int cols = m->cols;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < m->rows; r++) {
        float *o = out + (size_t)r * cols;
        size_t base = (size_t)r * cols;
        if (m->prec == PREC_FP32) {
            memcpy(o, m->f32 + base, (size_t)cols * sizeof *o);
        } else if (m->prec == PREC_BF16) {
            for (int c = 0; c < cols; c++) o[c] = bf16_to_float(m->bf16[base + c]);
        } else {
            const float *s = m->scales + (size_t)r * m->groups_per_row;
            for (int g0 = 0, gi = 0; g0 < cols; g0 += m->group, gi++) {
                int g1 = g0 + m->group < cols ? g0 + m->group : cols;
                for (int c = g0; c < g1; c++) o[c] = (float)m->q[base + c] * s[gi];
            }
        }
    }
}

/* Below this many multiply-adds a matrix product runs on one thread: waking a team costs more. */
#define PARALLEL_MIN_WORK (1u << 16)

#ifdef __AVX512F__
/* One tile: NR consecutive output rows against NB input vectors, one 16-wide accumulator per
 * pair. `prec` and the tile sizes are compile-time constants after inlining, so every
 * combination becomes its own register-resident loop. */
static inline __attribute__((always_inline)) __m512 load_weights(int prec, const QMatrix *m, size_t off, __mmask16 k, __m512 scale) {
    if (prec == PREC_FP32) return _mm512_maskz_loadu_ps(k, m->f32 + off);
    if (prec == PREC_BF16) {
        __m256i h = _mm256_maskz_loadu_epi16(k, m->bf16 + off);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    __m128i b = _mm_maskz_loadu_epi8(k, m->q + off);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), scale);
}

static inline __attribute__((always_inline)) void matvec_tile(int prec, const QMatrix *m, int o, const float *x, int b0, float *y,
                                                              const int NR, const int NB) {
    const int cols = m->cols, G = m->group, int8 = prec == PREC_INT8;
    __m512 acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int b = 0; b < NB; b++) acc[r][b] = _mm512_setzero_ps();
    for (int g0 = 0, gi = 0; g0 < cols; g0 += G, gi++) {
        int g1 = g0 + G < cols ? g0 + G : cols;
        __m512 sc[4];
        for (int r = 0; r < NR; r++)
            sc[r] = int8 ? _mm512_set1_ps(m->scales[(size_t)(o + r) * m->groups_per_row + gi]) : _mm512_setzero_ps();
        for (int c = g0; c < g1; c += 16) {
            __mmask16 k = g1 - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (g1 - c)) - 1);
            __m512 xv[4];
            for (int b = 0; b < NB; b++) xv[b] = _mm512_maskz_loadu_ps(k, x + (size_t)(b0 + b) * cols + c);
            for (int r = 0; r < NR; r++) {
                __m512 w = load_weights(prec, m, (size_t)(o + r) * cols + c, k, sc[r]);
                for (int b = 0; b < NB; b++) acc[r][b] = _mm512_fmadd_ps(w, xv[b], acc[r][b]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int b = 0; b < NB; b++) y[(size_t)(b0 + b) * m->rows + o + r] = _mm512_reduce_add_ps(acc[r][b]);
}

#define TILE_NB(P, NR)                                                       \
    switch (nb) {                                                            \
    case 1: matvec_tile(P, m, o, x, b0, y, NR, 1); break;                    \
    case 2: matvec_tile(P, m, o, x, b0, y, NR, 2); break;                    \
    case 3: matvec_tile(P, m, o, x, b0, y, NR, 3); break;                    \
    default: matvec_tile(P, m, o, x, b0, y, NR, 4); break;                   \
    }

static inline __attribute__((always_inline)) void tiles_prec(int prec, const QMatrix *m, int t0, int t1, const float *x, int nx,
                                                             float *y) {
    for (int t = t0; t < t1; t++) {
        int o = t * 4, nr = m->rows - o < 4 ? m->rows - o : 4;
        for (int b0 = 0; b0 < nx; b0 += 4) {
            int nb = nx - b0 < 4 ? nx - b0 : 4;
            switch (nr) {
            case 1: TILE_NB(prec, 1); break;
            case 2: TILE_NB(prec, 2); break;
            case 3: TILE_NB(prec, 3); break;
            default: TILE_NB(prec, 4); break;
            }
        }
    }
}

/* Output rows [4 t0, 4 t1) of one matrix, on the calling thread. */
static void matvec_tiles(const QMatrix *m, int t0, int t1, const float *x, int nx, float *y) {
    switch (m->prec) {
    case PREC_FP32: tiles_prec(PREC_FP32, m, t0, t1, x, nx, y); break;
    case PREC_BF16: tiles_prec(PREC_BF16, m, t0, t1, x, nx, y); break;
    default: tiles_prec(PREC_INT8, m, t0, t1, x, nx, y); break;
    }
}
#else
/* Portable version: one dot product per (row, vector), vectorised by the compiler. */
static float row_dot(const QMatrix *m, int r, const float *x) {
    size_t base = (size_t)r * m->cols;
    float s = 0;
    if (m->prec == PREC_FP32) {
        const float *w = m->f32 + base;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < m->cols; c++) s += w[c] * x[c];
    } else if (m->prec == PREC_BF16) {
        const uint16_t *w = m->bf16 + base;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < m->cols; c++) s += bf16_to_float(w[c]) * x[c];
    } else {
        const int8_t *w = m->q + base;
        const float *sc = m->scales + (size_t)r * m->groups_per_row;
        for (int g0 = 0, gi = 0; g0 < m->cols; g0 += m->group, gi++) {
            int g1 = g0 + m->group < m->cols ? g0 + m->group : m->cols;
            float gs = 0;
#pragma omp simd reduction(+ : gs)
            for (int c = g0; c < g1; c++) gs += (float)w[c] * x[c];
            s += gs * sc[gi];
        }
    }
    return s;
}

static void matvec_tiles(const QMatrix *m, int t0, int t1, const float *x, int nx, float *y) {
    int r1 = 4 * t1 < m->rows ? 4 * t1 : m->rows;
    for (int r = 4 * t0; r < r1; r++)
        for (int b = 0; b < nx; b++) y[(size_t)b * m->rows + r] = row_dot(m, r, x + (size_t)b * m->cols);
}
#endif

/* Work is split into chunks of this many 4-row tiles, handed out dynamically: on a busy machine
 * a thread that loses its core leaves little undone. */
#define CHUNK_TILES 8

void qmatrix_matvec_multi(const QMatrix *const *ms, float *const *ys, int count, const float *x, int nx) {
    int first[QMATRIX_MULTI_MAX + 1];
    size_t work = 0;
    first[0] = 0;
    for (int k = 0; k < count; k++) {
        int tiles = (ms[k]->rows + 3) / 4;
        first[k + 1] = first[k] + (tiles + CHUNK_TILES - 1) / CHUNK_TILES;
        work += (size_t)ms[k]->rows * ms[k]->cols * nx;
    }
#pragma omp parallel for schedule(dynamic, 1) if (work >= PARALLEL_MIN_WORK)
    for (int c = 0; c < first[count]; c++) {
        int k = 0;
        while (c >= first[k + 1]) k++;
        int tiles = (ms[k]->rows + 3) / 4, t0 = (c - first[k]) * CHUNK_TILES;
        matvec_tiles(ms[k], t0, t0 + CHUNK_TILES < tiles ? t0 + CHUNK_TILES : tiles, x, nx, ys[k]);
    }
}

void qmatrix_matvec(const QMatrix *m, const float *x, int nx, float *y) { qmatrix_matvec_multi(&m, &y, 1, x, nx); }

