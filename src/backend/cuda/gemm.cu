/* cuBLASLt wrapper: row-major products expressed as column-major ones (C^T = op(B)^T op(A)^T). */
#include "backend/cuda/gemm.cuh"

#include <cublasLt.h>
#include <stdlib.h>
#include <string.h>

#define GEMM_WORKSPACE (64u << 20)
#define GEMM_PLANS 128

typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc, beta_nonzero;
    cudaDataType at, bt, ct;
} PlanKey;

typedef struct {
    PlanKey key;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} Plan;

struct GemmCtx {
    cublasLtHandle_t lt;
    cudaStream_t stream;
    void *workspace;
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

int gemm_create(GemmCtx **out, cudaStream_t s) {
    GemmCtx *g = (GemmCtx *)calloc(1, sizeof *g);
    if (!g) return kr_error("out of memory");
    g->stream = s;
    if (cublasLtCreate(&g->lt) != CUBLAS_STATUS_SUCCESS) {
        free(g);
        return kr_error("cublasLt: could not create a handle (is the CUDA driver working?)");
    }
    if (cudaMalloc(&g->workspace, GEMM_WORKSPACE) != cudaSuccess) {
        cublasLtDestroy(g->lt);
        free(g);
        return kr_error("cuda: out of device memory for the GEMM workspace");
    }
    *out = g;
    return 0;
}

void gemm_destroy(GemmCtx *g) {
    if (!g) return;
    for (int i = 0; i < g->nplans; i++) {
        cublasLtMatrixLayoutDestroy(g->plans[i].la);
        cublasLtMatrixLayoutDestroy(g->plans[i].lb);
        cublasLtMatrixLayoutDestroy(g->plans[i].lc);
        cublasLtMatmulDescDestroy(g->plans[i].desc);
    }
    cudaFree(g->workspace);
    cublasLtDestroy(g->lt);
    free(g);
}

/* Column-major plan for D(m x n) = op(A) op(B) + beta C. */
static int make_plan(GemmCtx *g, const PlanKey *k, Plan *p) {
    memset(p, 0, sizeof *p);
    p->key = *k;
    LT_TRY(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->la, k->at, k->ta ? k->k : k->m, k->ta ? k->m : k->k, k->lda));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->lb, k->bt, k->tb ? k->n : k->k, k->tb ? k->k : k->n, k->ldb));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->lc, k->ct, k->m, k->n, k->ldc));
    cublasLtMatmulPreference_t pref;
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = GEMM_WORKSPACE;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g->lt, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0)
        return kr_error("cublasLt: no algorithm for a %dx%dx%d product (types %d,%d,%d)", k->m, k->n, k->k, (int)k->at,
                        (int)k->bt, (int)k->ct);
    p->algo = res.algo;
    return 0;
}

static Plan *find_plan(GemmCtx *g, const PlanKey *k) {
    for (int i = 0; i < g->nplans; i++)
        if (!memcmp(&g->plans[i].key, k, sizeof *k)) return &g->plans[i];
    if (g->nplans == GEMM_PLANS) {
        kr_error("cublasLt: too many distinct matrix shapes");
        return NULL;
    }
    Plan *p = &g->plans[g->nplans];
    if (make_plan(g, k, p) != 0) return NULL;
    g->nplans++;
    return p;
}

int gemm(GemmCtx *g, int transA, int transB, int M, int N, int K, const void *A, int lda, cudaDataType at,
         const void *B, int ldb, cudaDataType bt, void *C, int ldc, cudaDataType ct, float beta) {
    if (M == 0 || N == 0) return 0;
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
    Plan *p = find_plan(g, &key);
    if (!p) return -1;
    float alpha = 1.f;
    LT_TRY(cublasLtMatmul(g->lt, p->desc, &alpha, B, p->la, A, p->lb, &beta, C, p->lc, C, p->lc, &p->algo,
                          g->workspace, GEMM_WORKSPACE, g->stream));
    return 0;
}
