/* cuBLASLt wrapper: row-major products expressed as column-major ones (C^T = op(B)^T op(A)^T).
 *
 * The first product of each shape chooses its algorithm by timing: cuBLASLt's heuristic ranks
 * up to 16 algorithms (GEMM_CANDIDATES), each runs on the real operands, and the fastest whose
 * result is bit-identical to the top-ranked one's wins. Requiring identical bits keeps runs
 * reproducible (and resumes bit-exact) whichever algorithm a machine's timings pick.
 * KRLLM_GEMM_TUNE=0 keeps the top-ranked algorithm; KRLLM_GEMM_TUNE=verbose reports choices. */
#include "backend/cuda/gemm.cuh"

#include <cublasLt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEMM_WORKSPACE (64u << 20)
#define GEMM_PLANS 128
#define GEMM_CANDIDATES 16
#define GEMM_TUNE_RUNS 5

enum { TUNE_OFF, TUNE_ON, TUNE_VERBOSE };

typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc, beta_nonzero;
    cudaDataType at, bt, ct;
} PlanKey;

typedef struct {
    PlanKey key;
    GemmLtDesc lt;
    cublasLtMatmulAlgo_t algo;
} Plan;

struct GemmCtx {
    cublasLtHandle_t lt;
    cudaStream_t stream;
    void *workspace;
    unsigned long long *hash; /* device word for tuning's result fingerprints */
    int tune;
    int nplans;
    Plan plans[GEMM_PLANS];
};

#define LT_TRY(call)                                                                             \
    do {                                                                                         \
        cublasStatus_t st_ = (call);                                                             \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                        \
            return kr_error("cublasLt: %s failed with status %d (%s:%d)", #call, (int)st_, __FILE__, __LINE__); \
    } while (0)

size_t gemm_workspace_bytes(void) { return GEMM_WORKSPACE; }

static int tune_mode(int *mode) {
    const char *e = getenv("KRLLM_GEMM_TUNE");
    if (!e || !*e || !strcmp(e, "1")) *mode = TUNE_ON;
    else if (!strcmp(e, "0")) *mode = TUNE_OFF;
    else if (!strcmp(e, "verbose")) *mode = TUNE_VERBOSE;
    else return kr_error("KRLLM_GEMM_TUNE=%s: use 0, 1 or verbose, or leave it unset", e);
    return 0;
}

int gemm_create(GemmCtx **out, cudaStream_t s) {
    int mode = TUNE_ON;
    if (tune_mode(&mode) != 0) return -1;
    GemmCtx *g = (GemmCtx *)calloc(1, sizeof *g);
    if (!g) return kr_error("out of memory");
    g->stream = s;
    g->tune = mode;
    if (cublasLtCreate(&g->lt) != CUBLAS_STATUS_SUCCESS) {
        free(g);
        return kr_error("cublasLt: could not create a handle (is the CUDA driver working?)");
    }
    if (cudaMalloc(&g->workspace, GEMM_WORKSPACE) != cudaSuccess || cudaMalloc(&g->hash, sizeof *g->hash) != cudaSuccess) {
        cudaFree(g->workspace);
        cublasLtDestroy(g->lt);
        free(g);
        return kr_error("cuda: out of device memory for the GEMM workspace");
    }
    *out = g;
    return 0;
}

void gemm_describe_release(GemmLtDesc *d) {
    if (d->a) cublasLtMatrixLayoutDestroy(d->a);
    if (d->b) cublasLtMatrixLayoutDestroy(d->b);
    if (d->c) cublasLtMatrixLayoutDestroy(d->c);
    if (d->desc) cublasLtMatmulDescDestroy(d->desc);
    memset(d, 0, sizeof *d);
}

static void plan_release(Plan *p) { gemm_describe_release(&p->lt); }

void gemm_destroy(GemmCtx *g) {
    if (!g) return;
    for (int i = 0; i < g->nplans; i++) plan_release(&g->plans[i]);
    cudaFree(g->workspace);
    cudaFree(g->hash);
    cublasLtDestroy(g->lt);
    free(g);
}

/* One product's device operands, in cuBLASLt's (column-major) order. */
typedef struct {
    const void *a, *b;
    void *c;
    float beta;
} GemmCall;

static cublasStatus_t run_algo(GemmCtx *g, const Plan *p, const cublasLtMatmulAlgo_t *algo, const GemmCall *call) {
    float alpha = 1.f;
    return cublasLtMatmul(g->lt, p->lt.desc, &alpha, call->a, p->lt.a, call->b, p->lt.b, &call->beta, call->c, p->lt.c,
                          call->c, p->lt.c, algo, g->workspace, GEMM_WORKSPACE, g->stream);
}

/* Order-independent fingerprint of n words (integer sums commute, so it is exact and repeatable). */
__global__ void fingerprint_kernel(const uint32_t *w, size_t n, unsigned long long *out) {
    unsigned long long h = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned long long x = ((unsigned long long)w[i] + 1) * (0x9E3779B97F4A7C15ull ^ (i * 0xBF58476D1CE4E5B9ull));
        h += x ^ (x >> 29);
    }
    atomicAdd(out, h);
}

static int fingerprint(GemmCtx *g, const void *data, size_t bytes, unsigned long long *h) {
    CU_TRY(cudaMemsetAsync(g->hash, 0, sizeof *g->hash, g->stream));
    fingerprint_kernel<<<264, 256, 0, g->stream>>>((const uint32_t *)data, bytes / 4, g->hash);
    CU_LAUNCHED();
    CU_TRY(cudaMemcpyAsync(h, g->hash, sizeof *h, cudaMemcpyDeviceToHost, g->stream));
    CU_TRY(cudaStreamSynchronize(g->stream));
    return 0;
}

static size_t output_bytes(const PlanKey *k) { return (size_t)k->ldc * k->n * (k->ct == CUDA_R_32F ? 4 : 2); }

/* Times each candidate on the call's operands and keeps the fastest whose output matches the
 * first candidate's bit for bit. With beta != 0 the output is an input too: it is saved first
 * and restored before every run and at the end. */
static int tune_plan(GemmCtx *g, Plan *p, const cublasLtMatmulHeuristicResult_t *cand, int ncand, const GemmCall *call) {
    size_t bytes = output_bytes(&p->key);
    void *saved = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    int rc = -1, best = 0, identical = 0;
    float best_ms = INFINITY, first_ms = 0;
    unsigned long long ref = 0;
    if (call->beta != 0.f && cudaMalloc(&saved, bytes) != cudaSuccess) {
        /* no room for the copy: the top-ranked algorithm it is (the failed allocation leaves no error behind) */
        cudaGetLastError();
        return 0;
    }
    if (cudaEventCreate(&t0) != cudaSuccess || cudaEventCreate(&t1) != cudaSuccess) goto cuda_failed;
    if (saved && cudaMemcpyAsync(saved, call->c, bytes, cudaMemcpyDeviceToDevice, g->stream) != cudaSuccess) goto cuda_failed;
    for (int i = 0; i < ncand; i++) {
        unsigned long long h;
        if (saved && cudaMemcpyAsync(call->c, saved, bytes, cudaMemcpyDeviceToDevice, g->stream) != cudaSuccess)
            goto cuda_failed;
        if (run_algo(g, p, &cand[i].algo, call) != CUBLAS_STATUS_SUCCESS) {
            if (i == 0) {
                kr_error("cublasLt: the top-ranked algorithm failed for a %dx%dx%d product", p->key.m, p->key.n, p->key.k);
                goto done;
            }
            continue;
        }
        if (fingerprint(g, call->c, bytes, &h) != 0) goto done;
        if (i == 0) ref = h;
        else if (h != ref) continue;
        identical++;
        if (cudaEventRecord(t0, g->stream) != cudaSuccess) goto cuda_failed;
        for (int r = 0; r < GEMM_TUNE_RUNS; r++) run_algo(g, p, &cand[i].algo, call);
        float ms;
        if (cudaEventRecord(t1, g->stream) != cudaSuccess || cudaEventSynchronize(t1) != cudaSuccess ||
            cudaEventElapsedTime(&ms, t0, t1) != cudaSuccess)
            goto cuda_failed;
        if (i == 0) first_ms = ms;
        if (ms < best_ms) best_ms = ms, best = i;
    }
    if (saved && cudaMemcpyAsync(call->c, saved, bytes, cudaMemcpyDeviceToDevice, g->stream) != cudaSuccess) goto cuda_failed;
    p->algo = cand[best].algo;
    if (g->tune == TUNE_VERBOSE)
        fprintf(stderr, "gemm %dx%dx%d: candidate %d of %d (%d bit-identical), %.3f ms against %.3f ms for the first\n",
                p->key.m, p->key.n, p->key.k, best, ncand, identical, best_ms / GEMM_TUNE_RUNS, first_ms / GEMM_TUNE_RUNS);
    rc = 0;
    goto done;
cuda_failed:
    kr_error("cuda: GEMM tuning failed: %s", cudaGetErrorString(cudaGetLastError()));
done:
    cudaFree(saved);
    if (t0) cudaEventDestroy(t0);
    if (t1) cudaEventDestroy(t1);
    return rc;
}

/* The column-major key of the row-major product C[M,N] = op(A) op(B) + beta C: C^T = op(B)^T
 * op(A)^T, so the operands and their transposes swap. */
static PlanKey row_major_key(int transA, int transB, int M, int N, int K, int lda, cudaDataType at, int ldb,
                             cudaDataType bt, int ldc, cudaDataType ct, float beta) {
    PlanKey key;
    memset(&key, 0, sizeof key); /* padding takes part in memcmp */
    key.ta = transB;
    key.tb = transA;
    key.m = N;
    key.n = M;
    key.k = K;
    key.lda = ldb;
    key.ldb = lda;
    key.ldc = ldc;
    key.beta_nonzero = beta != 0.f;
    key.at = bt;
    key.bt = at;
    key.ct = ct;
    return key;
}

/* cuBLASLt's descriptors of D(m x n) = op(A) op(B) + beta C, column-major. */
static int describe(const PlanKey *k, GemmLtDesc *d) {
    memset(d, 0, sizeof *d);
    LT_TRY(cublasLtMatmulDescCreate(&d->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    LT_TRY(cublasLtMatmulDescSetAttribute(d->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT_TRY(cublasLtMatmulDescSetAttribute(d->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    LT_TRY(cublasLtMatrixLayoutCreate(&d->a, k->at, k->ta ? k->k : k->m, k->ta ? k->m : k->k, k->lda));
    LT_TRY(cublasLtMatrixLayoutCreate(&d->b, k->bt, k->tb ? k->n : k->k, k->tb ? k->k : k->n, k->ldb));
    LT_TRY(cublasLtMatrixLayoutCreate(&d->c, k->ct, k->m, k->n, k->ldc));
    return 0;
}

int gemm_describe(int transA, int transB, int M, int N, int K, int lda, cudaDataType at, int ldb, cudaDataType bt,
                  int ldc, cudaDataType ct, GemmLtDesc *d) {
    PlanKey k = row_major_key(transA, transB, M, N, K, lda, at, ldb, bt, ldc, ct, 0.f);
    if (describe(&k, d) != 0) {
        gemm_describe_release(d);
        return -1;
    }
    return 0;
}

/* Column-major plan for D(m x n) = op(A) op(B) + beta C, its algorithm chosen on `call`. */
static int make_plan(GemmCtx *g, const PlanKey *k, Plan *p, const GemmCall *call) {
    memset(p, 0, sizeof *p);
    p->key = *k;
    TRY(describe(k, &p->lt));
    cublasLtMatmulPreference_t pref;
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = GEMM_WORKSPACE;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    cublasLtMatmulHeuristicResult_t res[GEMM_CANDIDATES];
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g->lt, p->lt.desc, p->lt.a, p->lt.b, p->lt.c, p->lt.c, pref,
                                                       g->tune == TUNE_OFF ? 1 : GEMM_CANDIDATES, res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0)
        return kr_error("cublasLt: no algorithm for a %dx%dx%d product (types %d,%d,%d)", k->m, k->n, k->k, (int)k->at,
                        (int)k->bt, (int)k->ct);
    p->algo = res[0].algo;
    if (found > 1 && output_bytes(k) % 4 == 0) return tune_plan(g, p, res, found, call);
    return 0;
}

static Plan *find_plan(GemmCtx *g, const PlanKey *k, const GemmCall *call) {
    for (int i = 0; i < g->nplans; i++)
        if (!memcmp(&g->plans[i].key, k, sizeof *k)) return &g->plans[i];
    if (g->nplans == GEMM_PLANS) {
        kr_error("cublasLt: too many distinct matrix shapes");
        return NULL;
    }
    Plan *p = &g->plans[g->nplans];
    if (make_plan(g, k, p, call) != 0) {
        plan_release(p);
        return NULL;
    }
    g->nplans++;
    return p;
}

int gemm(GemmCtx *g, int transA, int transB, int M, int N, int K, const void *A, int lda, cudaDataType at,
         const void *B, int ldb, cudaDataType bt, void *C, int ldc, cudaDataType ct, float beta) {
    if (M == 0 || N == 0) return 0;
    PlanKey key = row_major_key(transA, transB, M, N, K, lda, at, ldb, bt, ldc, ct, beta);
    GemmCall call = {B, A, C, beta};
    Plan *p = find_plan(g, &key, &call);
    if (!p) return -1;
    LT_TRY(run_algo(g, p, &p->algo, &call));
    return 0;
}
