#include "infer/qmatrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/halfprec.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#if defined(__AVX512F__) && defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define Q8_DOT 1
#define Q8_GROUP 64
/* With int8 dot products, int8 rows are stored in blocks of 4 groups (256 columns) whose 4-byte
 * chunks are interleaved: 64-byte vector j of a block holds in lane l chunk 4j + l/4 of group
 * l%4. One dot-product instruction then serves four groups, so a block's int32 sums need one
 * conversion and one scaled add per output instead of four. Columns after the last whole block
 * keep their order. Input vectors are rearranged the same way. */
#define Q8_BLOCK_GROUPS 4
#define Q8_BLOCK (Q8_BLOCK_GROUPS * Q8_GROUP)

/* Stored position of column i of a block. */
static int q8_block_pos(int i) {
    int k = i / 4, group = k / 16, chunk = k % 16;
    return ((chunk / 4) * 16 + (chunk % 4) * 4 + group) * 4 + i % 4;
}

static void q8_interleave_row(int8_t *row, int cols) {
    int8_t tmp[Q8_BLOCK];
    for (int b0 = 0; b0 + Q8_BLOCK <= cols; b0 += Q8_BLOCK) {
        memcpy(tmp, row + b0, Q8_BLOCK);
        for (int i = 0; i < Q8_BLOCK; i++) row[b0 + q8_block_pos(i)] = tmp[i];
    }
}

/* Back to column order: output dword 16 g + i (chunk i of group g) is stored at dword
 * 16 (i / 4) + 4 (i % 4) + g; the four stored vectors are paired so one index serves both. */
static void q8_deinterleave_block(const int8_t *src, int8_t *dst) {
    __m512i v0 = _mm512_loadu_si512(src), v1 = _mm512_loadu_si512(src + 64), v2 = _mm512_loadu_si512(src + 128),
            v3 = _mm512_loadu_si512(src + 192);
    for (int g = 0; g < Q8_BLOCK_GROUPS; g++) {
        int idx[16];
        for (int i = 0; i < 16; i++) idx[i] = (i / 4) % 2 * 16 + (i % 4) * 4 + g;
        __m512i ix = _mm512_loadu_si512(idx);
        __m512i lo = _mm512_permutex2var_epi32(v0, ix, v1), hi = _mm512_permutex2var_epi32(v2, ix, v3);
        _mm512_storeu_si512(dst + g * Q8_GROUP, _mm512_mask_blend_epi32(0xFF00, lo, hi));
    }
}
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

static void quantize_int8_row(const float *w, int cols, int group, int8_t *q, float *scales) {
    for (int g0 = 0, gi = 0; g0 < cols; g0 += group, gi++) {
        int g1 = g0 + group < cols ? g0 + group : cols;
        float amax = 0;
        for (int c = g0; c < g1; c++) amax = fmaxf(amax, fabsf(w[c]));
        float s = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0;
        scales[gi] = s;
        for (int c = g0; c < g1; c++) q[c] = (int8_t)lrintf(w[c] * inv);
    }
#ifdef Q8_DOT
    q8_interleave_row(q, cols);
#endif
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
        for (size_t i = 0; i < n; i++) m->bf16[i] = kr_f32_to_bf16(w[i]);
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

/* Spans of 256 columns: one block of the interleaved int8 layout. */
#define DEQUANT_SPAN 256

static void dequantize_int8_row(const QMatrix *m, int r, float *o) {
    const int cols = m->cols;
    const int8_t *q = m->q + (size_t)r * cols;
    const float *s = m->scales + (size_t)r * m->groups_per_row;
#ifdef Q8_DOT
    int8_t block[Q8_BLOCK];
#endif
    for (int c0 = 0; c0 < cols; c0 += DEQUANT_SPAN) {
        int n = cols - c0 < DEQUANT_SPAN ? cols - c0 : DEQUANT_SPAN;
        const int8_t *src = q + c0;
#ifdef Q8_DOT
        if (n == Q8_BLOCK) {
            q8_deinterleave_block(src, block);
            src = block;
        }
#endif
        for (int c = 0; c < n;) {
            int gi = (c0 + c) / m->group, end = (gi + 1) * m->group - c0 < n ? (gi + 1) * m->group - c0 : n;
            float sc = s[gi];
            for (; c < end; c++) o[c0 + c] = (float)src[c] * sc;
        }
    }
}

void qmatrix_dequantize_rows(const QMatrix *m, int r0, int nrows, float *out) {
    int cols = m->cols;
    for (int r = r0; r < r0 + nrows; r++) {
        float *o = out + (size_t)(r - r0) * cols;
        size_t base = (size_t)r * cols;
        if (m->prec == PREC_FP32) {
            memcpy(o, m->f32 + base, (size_t)cols * sizeof *o);
        } else if (m->prec == PREC_BF16) {
            for (int c = 0; c < cols; c++) o[c] = kr_bf16_to_f32(m->bf16[base + c]);
        } else {
            dequantize_int8_row(m, r, o);
        }
    }
}

/* Below this many multiply-adds a matrix product runs on one thread: waking a team costs more. */
#define PARALLEL_MIN_WORK (1u << 16)

#ifdef __AVX512F__
/* Rows ahead to prefetch (the next tile): software prefetch of the rows that come next more than
 * doubles the bandwidth one core pulls through these kernels. */
#define PREFETCH_ROWS 4

static inline __attribute__((always_inline)) void prefetch_row(int prec, const QMatrix *m, size_t off) {
    const char *p = prec == PREC_FP32 ? (const char *)(m->f32 + off) : prec == PREC_BF16 ? (const char *)(m->bf16 + off) : (const char *)(m->q + off);
    _mm_prefetch(p, _MM_HINT_T0);
}

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
                prefetch_row(prec, m, (size_t)(o + r + PREFETCH_ROWS) * cols + c);
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

/* bf16 weights without widening shuffles. With AVX512_BF16 the input is rounded to bf16 once per
 * product and each 32 weights take one dot-product instruction (vdpbf16ps: 2 products per lane),
 * twice the multiply rate of fp32 (which sets the speed of batched decoding). Without it, a
 * 64-byte load of 32 weights is split in registers: shifting each 32-bit lane left by 16 gives
 * the even weights as fp32, masking off the low half the odd ones, and the input is rearranged
 * once per product to match (per 32 values: the 16 even, then the 16 odd). */
#define BF16_PAIR 1
#ifdef __AVX512BF16__
typedef uint16_t BfInput;

static void pair_input(const float *x, int nx, int cols, int padded, BfInput *out) {
    for (int b = 0; b < nx; b++)
        for (int c = 0; c < padded; c++) out[(size_t)b * padded + c] = c < cols ? kr_f32_to_bf16(x[(size_t)b * cols + c]) : 0;
}
#else
typedef float BfInput;

static void pair_input(const float *x, int nx, int cols, int padded, BfInput *out) {
    for (int b = 0; b < nx; b++)
        for (int c0 = 0; c0 < padded; c0 += 32)
            for (int i = 0; i < 16; i++) {
                int e = c0 + 2 * i, o = e + 1;
                out[(size_t)b * padded + c0 + i] = e < cols ? x[(size_t)b * cols + e] : 0;
                out[(size_t)b * padded + c0 + 16 + i] = o < cols ? x[(size_t)b * cols + o] : 0;
            }
}
#endif

static inline __attribute__((always_inline)) void bf16_tile(const QMatrix *m, int o, const BfInput *xp, int padded, int b0, float *y,
                                                            const int NR, const int NB) {
    const int cols = m->cols;
    __m512 acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int b = 0; b < NB; b++) acc[r][b] = _mm512_setzero_ps();
    for (int c = 0; c < cols; c += 32) {
        __mmask32 k = cols - c >= 32 ? 0xFFFFFFFFu : (1u << (cols - c)) - 1;
#ifdef __AVX512BF16__
        __m512bh xv[4];
        for (int b = 0; b < NB; b++) xv[b] = (__m512bh)_mm512_loadu_si512(xp + (size_t)(b0 + b) * padded + c);
        for (int r = 0; r < NR; r++) {
            _mm_prefetch((const char *)(m->bf16 + (size_t)(o + r + PREFETCH_ROWS) * cols + c), _MM_HINT_T0);
            __m512bh w = (__m512bh)_mm512_maskz_loadu_epi16(k, m->bf16 + (size_t)(o + r) * cols + c);
            for (int b = 0; b < NB; b++) acc[r][b] = _mm512_dpbf16_ps(acc[r][b], w, xv[b]);
        }
#else
        const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
        __m512 xe[4], xo[4];
        for (int b = 0; b < NB; b++) {
            xe[b] = _mm512_loadu_ps(xp + (size_t)(b0 + b) * padded + c);
            xo[b] = _mm512_loadu_ps(xp + (size_t)(b0 + b) * padded + c + 16);
        }
        for (int r = 0; r < NR; r++) {
            _mm_prefetch((const char *)(m->bf16 + (size_t)(o + r + PREFETCH_ROWS) * cols + c), _MM_HINT_T0);
            __m512i w = _mm512_maskz_loadu_epi16(k, m->bf16 + (size_t)(o + r) * cols + c);
            __m512 we = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)), wo = _mm512_castsi512_ps(_mm512_and_si512(w, high));
            for (int b = 0; b < NB; b++) acc[r][b] = _mm512_fmadd_ps(wo, xo[b], _mm512_fmadd_ps(we, xe[b], acc[r][b]));
        }
#endif
    }
    for (int r = 0; r < NR; r++)
        for (int b = 0; b < NB; b++) y[(size_t)(b0 + b) * m->rows + o + r] = _mm512_reduce_add_ps(acc[r][b]);
}

#define BF16_TILE_NB(NR)                                              \
    switch (nb) {                                                     \
    case 1: bf16_tile(m, o, xp, padded, b0, y, NR, 1); break;         \
    case 2: bf16_tile(m, o, xp, padded, b0, y, NR, 2); break;         \
    case 3: bf16_tile(m, o, xp, padded, b0, y, NR, 3); break;         \
    default: bf16_tile(m, o, xp, padded, b0, y, NR, 4); break;        \
    }

static void bf16_tiles(const QMatrix *m, int t0, int t1, const BfInput *xp, int padded, int nx, float *y) {
    for (int t = t0; t < t1; t++) {
        int o = t * 4, nr = m->rows - o < 4 ? m->rows - o : 4;
        for (int b0 = 0; b0 < nx; b0 += 4) {
            int nb = nx - b0 < 4 ? nx - b0 : 4;
            switch (nr) {
            case 1: BF16_TILE_NB(1); break;
            case 2: BF16_TILE_NB(2); break;
            case 3: BF16_TILE_NB(3); break;
            default: BF16_TILE_NB(4); break;
            }
        }
    }
}

#ifdef Q8_DOT
/* int8 weights x int8 activations: the input vectors are quantised like the weights (one scale
 * per 64 values), so each 64 products are one VNNI instruction. VNNI multiplies unsigned by
 * signed bytes; the weights are made unsigned by adding 128 (w ^ 0x80), and each group's int32
 * sum starts from minus the excess, 128 * sum(x), so it comes out exact. */

typedef struct {
    const int8_t *q;      /* per block (or group after the whole blocks): [nx][its 64-byte vectors],
                           * so a tile finds all its vectors at fixed offsets; zero padded */
    const float *scale;   /* [nx][groups] */
    const int32_t *start; /* [nx][groups]: -128 * sum(q), the start of each group's int32 sum */
    int groups, nx;
} QuantInput;

/* Offset of input vector b's bytes of group g (whole blocks: of the block starting at g). */
static size_t q8_input_offset(int g, int b, int nx, int whole_groups) {
    int span = g < whole_groups ? Q8_BLOCK_GROUPS : 1;
    return ((size_t)g * nx + (size_t)b * span) * Q8_GROUP;
}

/* One group of up to 64 input values to int8 (vpmovdb: the values are within [-127, 127]);
 * returns the sum of the quantised values. */
static int quantize_group(const float *xs, int n, int8_t *qs, float *scale) {
    __m512 v[4], amax = _mm512_setzero_ps();
    for (int i = 0; i < 4; i++) {
        int left = n - 16 * i;
        __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        v[i] = _mm512_maskz_loadu_ps(k, xs + 16 * i);
        amax = _mm512_max_ps(amax, _mm512_abs_ps(v[i]));
    }
    float m = _mm512_reduce_max_ps(amax);
    __m512 inv = _mm512_set1_ps(m > 0 ? 127.0f / m : 0);
    __m512i sum = _mm512_setzero_si512();
    for (int i = 0; i < 4; i++) {
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(v[i], inv)); /* nearest, ties to even, as lrintf */
        sum = _mm512_add_epi32(sum, q);
        _mm_storeu_si128((__m128i *)(qs + 16 * i), _mm512_cvtepi32_epi8(q));
    }
    *scale = m / 127.0f;
    return _mm512_reduce_add_epi32(sum);
}

static void quantize_input(const float *x, int nx, int cols, int groups, int8_t *q, float *scale, int32_t *start) {
    int8_t row[groups * Q8_GROUP];
    const int whole_groups = cols / Q8_BLOCK * Q8_BLOCK_GROUPS;
    for (int b = 0; b < nx; b++) {
        for (int g = 0; g < groups; g++) {
            int n = cols - g * Q8_GROUP < Q8_GROUP ? cols - g * Q8_GROUP : Q8_GROUP;
            float *s = scale + (size_t)b * groups + g;
            int sum = quantize_group(x + (size_t)b * cols + g * Q8_GROUP, n, row + g * Q8_GROUP, s);
            start[(size_t)b * groups + g] = -128 * sum;
        }
        q8_interleave_row(row, cols);
        for (int g = 0; g < groups; g += g < whole_groups ? Q8_BLOCK_GROUPS : 1)
            memcpy(q + q8_input_offset(g, b, nx, whole_groups), row + g * Q8_GROUP, (g < whole_groups ? Q8_BLOCK : Q8_GROUP));
    }
}

/* Weight scale x input scale for the 4 groups of a block, lane l holding group l % 4. */
static inline __attribute__((always_inline)) __m512 q8_block_scales(const float *s4) {
    return _mm512_broadcast_f32x4(_mm_loadu_ps(s4));
}

/* Input vectors per int8 tile (of 4 rows). A block of each is held in registers across the
 * tile's rows, so that every VNNI instruction reads only a weight vector from memory: at 2
 * vectors that is 8 registers beside 8 accumulators; at 4 they would not fit (measured: batch 8
 * decodes 7-12% faster than with 4 vectors read from memory each time, int8_row 21%). */
#define Q8_TILE_VECTORS 2

static inline __attribute__((always_inline)) void q8_tile(const QMatrix *m, int o, const QuantInput *in, int b0, float *y, const int NR,
                                                          const int NB) {
    const int cols = m->cols, G = in->groups, per_group = m->groups_per_row > 1, blocks = cols / Q8_BLOCK;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[4][Q8_TILE_VECTORS];
    for (int r = 0; r < NR; r++)
        for (int b = 0; b < NB; b++) acc[r][b] = _mm512_setzero_ps();
    /* whole blocks: each weight vector is loaded once and applied to every input vector; int32
     * sums per block, then one conversion and one fused multiply-add per output */
    for (int blk = 0; blk < blocks; blk++) {
        int c = blk * Q8_BLOCK, g = blk * Q8_BLOCK_GROUPS;
        __m512 sx[Q8_TILE_VECTORS];
        const int8_t *xblk = in->q + q8_input_offset(g, b0, in->nx, blocks * Q8_BLOCK_GROUPS);
        for (int b = 0; b < NB; b++) sx[b] = q8_block_scales(in->scale + (size_t)(b0 + b) * G + g);
        __m512i xin[Q8_TILE_VECTORS][Q8_BLOCK_GROUPS];
        for (int b = 0; b < NB; b++)
            for (int v = 0; v < Q8_BLOCK_GROUPS; v++) xin[b][v] = _mm512_load_si512(xblk + (b * Q8_BLOCK_GROUPS + v) * Q8_GROUP);
        for (int r = 0; r < NR; r++) {
            const int8_t *wr = m->q + (size_t)(o + r) * cols + c;
            const float *swr = m->scales + (size_t)(o + r) * m->groups_per_row;
            __m512 sw = per_group ? q8_block_scales(swr + g) : _mm512_set1_ps(swr[0]);
            __m512i d[Q8_TILE_VECTORS];
            for (int b = 0; b < NB; b++) d[b] = _mm512_maskz_loadu_epi32(0xF, in->start + (size_t)(b0 + b) * G + g);
            for (int v = 0; v < Q8_BLOCK_GROUPS; v++) {
                _mm_prefetch((const char *)(wr + (size_t)PREFETCH_ROWS * cols + v * 64), _MM_HINT_T0);
                __m512i w = _mm512_xor_si512(_mm512_loadu_si512(wr + v * 64), flip);
                for (int b = 0; b < NB; b++) d[b] = _mm512_dpbusd_epi32(d[b], w, xin[b][v]);
            }
            for (int b = 0; b < NB; b++) acc[r][b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[b]), _mm512_mul_ps(sw, sx[b]), acc[r][b]);
        }
    }
    /* groups after the last whole block, in column order (the last may be partial) */
    for (int g = blocks * Q8_BLOCK_GROUPS; g < G; g++) {
        int c = g * Q8_GROUP, left = cols - c;
        __mmask64 k = left >= 64 ? ~0ULL : (1ULL << left) - 1;
        __m512 sx[Q8_TILE_VECTORS];
        const int8_t *xg = in->q + q8_input_offset(g, b0, in->nx, blocks * Q8_BLOCK_GROUPS);
        for (int b = 0; b < NB; b++) sx[b] = _mm512_set1_ps(in->scale[(b0 + b) * G + g]);
        for (int r = 0; r < NR; r++) {
            _mm_prefetch((const char *)(m->q + (size_t)(o + r + PREFETCH_ROWS) * cols + c), _MM_HINT_T0);
            __m512i w = _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, m->q + (size_t)(o + r) * cols + c), flip);
            __m512 sw = _mm512_set1_ps(m->scales[(size_t)(o + r) * m->groups_per_row + (per_group ? g : 0)]);
            for (int b = 0; b < NB; b++) {
                __m512i d0 = _mm512_maskz_loadu_epi32(0x1, in->start + (size_t)(b0 + b) * G + g);
                __m512i d = _mm512_dpbusd_epi32(d0, w, _mm512_load_si512(xg + b * Q8_GROUP));
                acc[r][b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(sw, sx[b]), acc[r][b]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int b = 0; b < NB; b++) y[(size_t)(b0 + b) * m->rows + o + r] = _mm512_reduce_add_ps(acc[r][b]);
}

/* A tile is 1 or Q8_TILE_VECTORS vectors wide: a wider tile would need the widths between. */
_Static_assert(Q8_TILE_VECTORS == 2, "Q8_TILE_NB has a case for every tile width");
#define Q8_TILE_NB(NR)                                          \
    switch (nb) {                                               \
    case 1: q8_tile(m, o, in, b0, y, NR, 1); break;             \
    default: q8_tile(m, o, in, b0, y, NR, 2); break;            \
    }

static void q8_tiles(const QMatrix *m, int t0, int t1, const QuantInput *in, int nx, float *y) {
    for (int t = t0; t < t1; t++) {
        int o = t * 4, nr = m->rows - o < 4 ? m->rows - o : 4;
        for (int b0 = 0; b0 < nx; b0 += Q8_TILE_VECTORS) {
            int nb = nx - b0 < Q8_TILE_VECTORS ? nx - b0 : Q8_TILE_VECTORS;
            switch (nr) {
            case 1: Q8_TILE_NB(1); break;
            case 2: Q8_TILE_NB(2); break;
            case 3: Q8_TILE_NB(3); break;
            default: Q8_TILE_NB(4); break;
            }
        }
    }
}
#endif
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
        for (int c = 0; c < m->cols; c++) s += kr_bf16_to_f32(w[c]) * x[c];
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

/* Work is split into chunks of this many 4-row tiles, handed out dynamically. */
#define CHUNK_TILES 8

typedef struct {
    const QMatrix *const *ms;
    float *const *ys;
    const float *x;
    int nx, count;
    int first[QMATRIX_MULTI_MAX + 1]; /* first chunk of each matrix */
#ifdef Q8_DOT
    const QuantInput *qin; /* int8 matrices: the quantised input */
#endif
#ifdef BF16_PAIR
    const BfInput *xpair; /* bf16 matrices: the input prepared by pair_input */
    int padded;
#endif
} MatvecJob;

static void matvec_chunk(void *ctx, int c, int thread) {
    (void)thread;
    const MatvecJob *j = ctx;
    int k = 0;
    while (c >= j->first[k + 1]) k++;
    const QMatrix *m = j->ms[k];
    int tiles = (m->rows + 3) / 4, t0 = (c - j->first[k]) * CHUNK_TILES, t1 = t0 + CHUNK_TILES < tiles ? t0 + CHUNK_TILES : tiles;
#ifdef Q8_DOT
    if (j->qin) {
        q8_tiles(m, t0, t1, j->qin, j->nx, j->ys[k]);
        return;
    }
#endif
#ifdef BF16_PAIR
    if (j->xpair) {
        bf16_tiles(m, t0, t1, j->xpair, j->padded, j->nx, j->ys[k]);
        return;
    }
#endif
    matvec_tiles(m, t0, t1, j->x, j->nx, j->ys[k]);
}

/* Largest rearranged input kept on the stack (bytes); bigger batches go in slices, so that every
 * row goes through the same kernel whatever the batch size (and int8 weights stored in blocks are
 * read by the block kernel only). */
#define INPUT_STACK_MAX (1 << 18)

/* Bytes of rearranged input per input vector (0: the kernel reads the input as it is). */
static size_t prepared_input_bytes(const QMatrix *m) {
#ifdef Q8_DOT
    if (m->prec >= PREC_INT8) return (size_t)(m->cols + Q8_GROUP - 1) / Q8_GROUP * Q8_GROUP;
#endif
#ifdef BF16_PAIR
    if (m->prec == PREC_BF16) return (size_t)(m->cols + 31) / 32 * 32 * sizeof(BfInput);
#endif
    (void)m;
    return 0;
}

void qmatrix_matvec_multi(WorkPool *pool, const QMatrix *const *ms, float *const *ys, int count, const float *x, int nx) {
    size_t row_bytes = prepared_input_bytes(ms[0]);
    int slice = row_bytes ? (int)(INPUT_STACK_MAX / row_bytes) : nx;
    if (slice < 1) slice = 1;
    if (nx > slice) {
        float *ys_slice[QMATRIX_MULTI_MAX];
        for (int b0 = 0; b0 < nx; b0 += slice) {
            for (int k = 0; k < count; k++) ys_slice[k] = ys[k] + (size_t)b0 * ms[k]->rows;
            qmatrix_matvec_multi(pool, ms, ys_slice, count, x + (size_t)b0 * ms[0]->cols, nx - b0 < slice ? nx - b0 : slice);
        }
        return;
    }
    MatvecJob j = {.ms = ms, .ys = ys, .x = x, .nx = nx, .count = count};
    size_t work = 0;
    for (int k = 0; k < count; k++) {
        int tiles = (ms[k]->rows + 3) / 4;
        j.first[k + 1] = j.first[k] + (tiles + CHUNK_TILES - 1) / CHUNK_TILES;
        work += (size_t)ms[k]->rows * ms[k]->cols * nx;
    }
#ifdef Q8_DOT
    int q8 = ms[0]->prec >= PREC_INT8, groups = (ms[0]->cols + Q8_GROUP - 1) / Q8_GROUP;
    int8_t xq[q8 ? nx * groups * Q8_GROUP : 1] __attribute__((aligned(64)));
    float xs[q8 ? nx * groups : 1];
    int32_t xe[q8 ? nx * groups : 1];
    QuantInput qin = {xq, xs, xe, groups, nx};
    if (q8) {
        quantize_input(x, nx, ms[0]->cols, groups, xq, xs, xe);
        j.qin = &qin;
    }
#endif
#ifdef BF16_PAIR
    int padded = (ms[0]->cols + 31) / 32 * 32;
    int pair = ms[0]->prec == PREC_BF16;
    BfInput xp[pair ? nx * padded : 1] __attribute__((aligned(64)));
    if (pair) {
        pair_input(x, nx, ms[0]->cols, padded, xp);
        j.xpair = xp;
        j.padded = padded;
    }
#endif
    workpool_run(work >= PARALLEL_MIN_WORK ? pool : NULL, matvec_chunk, &j, j.first[count]);
}

void qmatrix_matvec(WorkPool *pool, const QMatrix *m, const float *x, int nx, float *y) {
    qmatrix_matvec_multi(pool, &m, &y, 1, x, nx);
}


