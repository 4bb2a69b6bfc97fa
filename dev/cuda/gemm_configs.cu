/* Which cuBLASLt configuration runs the trainer's products fastest back to back?
 *
 * The card trains at its power limit, so a product's time in training is its energy divided by
 * the power the card may draw, and the configuration that is fastest alone (the trainer's GEMM
 * tuning times single runs at full clock) need not be the cheapest back to back. For each of a
 * model's feed-forward products this program takes cuBLASLt's 16 top-ranked algorithms, each
 * also with every thread-block cluster shape the algorithm accepts (clusters share operand
 * tiles, so fewer bytes cross L2), and for each configuration reports:
 *   - whether its result is bit-identical to the top-ranked algorithm's (the trainer only takes
 *     those: resumes stay bit-exact whichever one a machine picks);
 *   - the median of 10 single runs (full clock) and the mean over about 0.3 s back to back
 *     (after as long untimed), the rate under the power limit.
 * Per product it then compares the configuration the trainer's tuning would pick (the fastest
 * alone among the heuristic's own bit-identical ones) with the fastest bit-identical one back
 * to back, and sums both over the products.
 *
 *   gemm_configs [medium|large] [product ...]   products: w13 w2 w2_dx w13_dx w2_dw w13_dw
 *   (SECONDS_PER_RUN sets the back-to-back time, default 0.3 s)
 */
#include <cublasLt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "backend/cuda/gemm.cuh"
#include "../../tests/cuda/bench_util.cuh"

#define LT_CK(x)                                                                             \
    do {                                                                                     \
        cublasStatus_t s_ = (x);                                                             \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                   \
            fprintf(stderr, "%s:%d: %s: cuBLASLt status %d\n", __FILE__, __LINE__, #x, (int)s_); \
            exit(2);                                                                         \
        }                                                                                    \
    } while (0)

#define WORKSPACE (64u << 20)
#define CANDIDATES 16

/* ---- the products, as the trainer calls them (row-major; gemm.cu turns them column-major) ---- */
typedef struct {
    const char *name;
    int transA, transB, M, N, K, lda, ldb, ldc;
    int weight_grad; /* fp32 output accumulated (beta 1), as the weight gradients are */
} Product;

static Product product(const char *name, int rows, int d, int F) {
    int F2 = 2 * F;
    /* linear_fwd: y = x W^T; linear_bwd_input: dx = dy W; linear_bwd_weight: dW += dy^T x */
    if (!strcmp(name, "w13")) return (Product){name, 0, 1, rows, F2, d, d, d, F2, 0};
    if (!strcmp(name, "w2")) return (Product){name, 0, 1, rows, d, F, F, F, d, 0};
    if (!strcmp(name, "w2_dx")) return (Product){name, 0, 0, rows, F, d, d, F, F, 0};
    if (!strcmp(name, "w13_dx")) return (Product){name, 0, 0, rows, d, F2, F2, d, d, 0};
    if (!strcmp(name, "w2_dw")) return (Product){name, 1, 0, d, F, rows, d, F, F, 1};
    if (!strcmp(name, "w13_dw")) return (Product){name, 1, 0, F2, d, rows, F2, d, d, 1};
    fprintf(stderr, "unknown product %s (w13 w2 w2_dx w13_dx w2_dw w13_dw)\n", name);
    exit(2);
}

typedef struct {
    cublasLtHandle_t lt;
    GemmLtDesc d;      /* as the trainer's gemm() describes the product */
    const void *a, *b; /* column-major operands: A' = B, B' = A */
    void *c;
    float beta;
    void *workspace;
} Problem;

static void setup(Problem *p, const Product *q, const void *A, const void *B, void *C) {
    cudaDataType ct = q->weight_grad ? CUDA_R_32F : CUDA_R_16BF;
    CK(gemm_describe(q->transA, q->transB, q->M, q->N, q->K, q->lda, CUDA_R_16BF, q->ldb, CUDA_R_16BF, q->ldc, ct, &p->d));
    p->a = B, p->b = A, p->c = C;
    p->beta = q->weight_grad ? 1.f : 0.f;
}

static cublasStatus_t run(const Problem *p, const cublasLtMatmulAlgo_t *algo) {
    float alpha = 1.f;
    return cublasLtMatmul(p->lt, p->d.desc, &alpha, p->a, p->d.a, p->b, p->d.b, &p->beta, p->c, p->d.c, p->c, p->d.c,
                          algo, p->workspace, WORKSPACE, 0);
}

/* The configuration fields that tell algorithms apart. */
typedef struct {
    int id;
    uint32_t tile, stages, swizzle, custom, reduction;
    int32_t splitk;
    uint16_t inner, cluster;
} Config;

template <typename V> static V config_get(const cublasLtMatmulAlgo_t *a, cublasLtMatmulAlgoConfigAttributes_t attr) {
    V v = 0;
    size_t w;
    cublasLtMatmulAlgoConfigGetAttribute(a, attr, &v, sizeof v, &w);
    return v;
}

static Config config_of(const cublasLtMatmulAlgo_t *a) {
    Config c;
    memset(&c, 0, sizeof c);
    c.id = config_get<int>(a, CUBLASLT_ALGO_CONFIG_ID);
    c.tile = config_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_TILE_ID);
    c.stages = config_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_STAGES_ID);
    c.swizzle = config_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING);
    c.custom = config_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION);
    c.reduction = config_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME);
    c.splitk = config_get<int32_t>(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM);
    c.inner = config_get<uint16_t>(a, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID);
    c.cluster = config_get<uint16_t>(a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID);
    return c;
}

static const char *cluster_name(uint16_t id) {
    switch (id) {
    case CUBLASLT_CLUSTER_SHAPE_AUTO: return "auto";
    case CUBLASLT_CLUSTER_SHAPE_1x1x1: return "1x1";
    case CUBLASLT_CLUSTER_SHAPE_2x1x1: return "2x1";
    case CUBLASLT_CLUSTER_SHAPE_1x2x1: return "1x2";
    case CUBLASLT_CLUSTER_SHAPE_2x2x1: return "2x2";
    case CUBLASLT_CLUSTER_SHAPE_4x1x1: return "4x1";
    case CUBLASLT_CLUSTER_SHAPE_1x4x1: return "1x4";
    default: return "other";
    }
}

__global__ void count_differing(const uint32_t *x, const uint32_t *y, size_t n, unsigned long long *count) {
    unsigned long long c = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        c += x[i] != y[i];
    atomicAdd(count, c);
}

typedef struct {
    cublasLtMatmulAlgo_t algo;
    Config cfg;
    int rank;  /* the heuristic's rank of the algorithm it came from */
    bool own;  /* the heuristic's own configuration (not one with another cluster shape) */
    unsigned long long differ;
    float alone_ms, back_ms;
} Candidate;

static bool same_config(const Config &x, const Config &y) { return !memcmp(&x, &y, sizeof x); }

/* The heuristic's algorithms, each also with every other cluster shape it accepts. */
static std::vector<Candidate> candidates(const Problem *p) {
    cublasLtMatmulPreference_t pref;
    LT_CK(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = WORKSPACE;
    LT_CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t res[CANDIDATES];
    int found = 0;
    LT_CK(cublasLtMatmulAlgoGetHeuristic(p->lt, p->d.desc, p->d.a, p->d.b, p->d.c, p->d.c, pref, CANDIDATES, res, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    const uint16_t shapes[] = {CUBLASLT_CLUSTER_SHAPE_1x1x1, CUBLASLT_CLUSTER_SHAPE_2x1x1, CUBLASLT_CLUSTER_SHAPE_1x2x1,
                               CUBLASLT_CLUSTER_SHAPE_2x2x1, CUBLASLT_CLUSTER_SHAPE_4x1x1, CUBLASLT_CLUSTER_SHAPE_1x4x1};
    std::vector<Candidate> out;
    auto add = [&](const cublasLtMatmulAlgo_t &algo, int rank, bool own) {
        Candidate c;
        memset(&c, 0, sizeof c);
        c.algo = algo, c.cfg = config_of(&algo), c.rank = rank, c.own = own;
        for (const Candidate &o : out)
            if (same_config(o.cfg, c.cfg)) return;
        cublasLtMatmulHeuristicResult_t check;
        if (cublasLtMatmulAlgoCheck(p->lt, p->d.desc, p->d.a, p->d.b, p->d.c, p->d.c, &algo, &check) != CUBLAS_STATUS_SUCCESS ||
            check.workspaceSize > WORKSPACE)
            return;
        out.push_back(c);
    };
    for (int i = 0; i < found; i++) add(res[i].algo, i, true);
    for (int i = 0; i < found; i++)
        for (uint16_t s : shapes) {
            cublasLtMatmulAlgo_t a = res[i].algo;
            if (cublasLtMatmulAlgoConfigSetAttribute(&a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &s, sizeof s) ==
                CUBLAS_STATUS_SUCCESS)
                add(a, i, false);
        }
    return out;
}

/* Back-to-back ms of the tuning's pick and of the best bit-identical configuration. */
typedef struct {
    float picked, best;
} Verdict;

static Verdict study(cublasLtHandle_t lt, void *workspace, const Product *q, double seconds) {
    size_t a_elems = (size_t)(q->transA ? q->K : q->M) * q->lda, b_elems = (size_t)(q->transB ? q->N : q->K) * q->ldb;
    size_t c_bytes = (size_t)q->M * q->ldc * (q->weight_grad ? 4 : 2);
    std::vector<bf16> ha(a_elems), hb(b_elems);
    srand(1);
    for (auto &x : ha) x = __float2bfloat16(rand() / (float)RAND_MAX - 0.5f);
    for (auto &x : hb) x = __float2bfloat16(rand() / (float)RAND_MAX - 0.5f);
    void *A, *B, *C, *ref;
    unsigned long long *count;
    CUDA_CK(cudaMalloc(&A, a_elems * 2));
    CUDA_CK(cudaMalloc(&B, b_elems * 2));
    CUDA_CK(cudaMalloc(&C, c_bytes));
    CUDA_CK(cudaMalloc(&ref, c_bytes));
    CUDA_CK(cudaMalloc(&count, sizeof *count));
    CUDA_CK(cudaMemcpy(A, ha.data(), a_elems * 2, cudaMemcpyHostToDevice));
    CUDA_CK(cudaMemcpy(B, hb.data(), b_elems * 2, cudaMemcpyHostToDevice));
    Problem p;
    memset(&p, 0, sizeof p);
    p.lt = lt, p.workspace = workspace;
    setup(&p, q, A, B, C);
    std::vector<Candidate> cands = candidates(&p);
    double flops = 2.0 * q->M * q->N * q->K;
    printf("\n%s: M %d N %d K %d%s, %zu configurations\n", q->name, q->M, q->N, q->K,
           q->weight_grad ? " (fp32 output, accumulated)" : "", cands.size());
    bool have_ref = false; /* the first configuration that runs is the reference */
    for (Candidate &c : cands) {
        /* one run from zeros (beta 1 adds to the output) for the bit comparison */
        CUDA_CK(cudaMemset(C, 0, c_bytes));
        if (run(&p, &c.algo) != CUBLAS_STATUS_SUCCESS) {
            c.alone_ms = -1;
            continue;
        }
        if (!have_ref) CUDA_CK(cudaMemcpy(ref, C, c_bytes, cudaMemcpyDeviceToDevice));
        have_ref = true;
        CUDA_CK(cudaMemset(count, 0, sizeof *count));
        count_differing<<<264, 256>>>((const uint32_t *)ref, (const uint32_t *)C, c_bytes / 4, count);
        CUDA_CK(cudaMemcpy(&c.differ, count, sizeof *count, cudaMemcpyDeviceToHost));
        auto f = [&] { run(&p, &c.algo); };
        c.alone_ms = time_ms(f);
        c.back_ms = sustained_ms(f, std::max(20, (int)(seconds * 1e3 / c.alone_ms)));
        CUDA_CK(cudaGetLastError());
    }
    std::sort(cands.begin(), cands.end(), [](const Candidate &x, const Candidate &y) {
        return (x.alone_ms < 0) != (y.alone_ms < 0) ? y.alone_ms < 0 : x.back_ms < y.back_ms;
    });
    Verdict v = {INFINITY, INFINITY};
    const Candidate *pick = NULL;
    for (const Candidate &c : cands) {
        if (c.alone_ms < 0 || c.differ) continue;
        if (c.own && (!pick || c.alone_ms < pick->alone_ms)) pick = &c;
        v.best = std::min(v.best, c.back_ms);
    }
    if (!pick) { /* the first configuration that runs is the reference, so only when none ran */
        fprintf(stderr, "%s: cuBLASLt ran none of its configurations\n", q->name);
        exit(2);
    }
    v.picked = pick->back_ms;
    printf("rank own algo tile stages cluster swz splitk custom | alone ms | back-to-back ms  TFLOP/s | words differing\n");
    for (const Candidate &c : cands) {
        if (c.alone_ms < 0) continue;
        printf("%4d %3s %4d %4u %6u %7s %3u %6d %6u | %8.3f | %15.3f %8.1f | %llu%s\n", c.rank, c.own ? "*" : "", c.cfg.id,
               c.cfg.tile, c.cfg.stages, cluster_name(c.cfg.cluster), c.cfg.swizzle, c.cfg.splitk, c.cfg.custom,
               c.alone_ms, c.back_ms, flops / c.back_ms / 1e9, c.differ, &c == pick ? "  <- the tuning's pick" : "");
    }
    printf("%s: the tuning's pick %.3f ms back to back, the best bit-identical %.3f ms (%.1f%% less)\n", q->name,
           v.picked, v.best, 100 * (1 - v.best / v.picked));
    gemm_describe_release(&p.d);
    cudaFree(A);
    cudaFree(B);
    cudaFree(C);
    cudaFree(ref);
    cudaFree(count);
    return v;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "medium";
    int d, F, rows = 16 * 2048;
    if (!strcmp(model, "medium")) d = 1024, F = 4608;
    else if (!strcmp(model, "large")) d = 1536, F = 6912;
    else return fprintf(stderr, "usage: gemm_configs [medium|large] [w13 w2 w2_dx w13_dx w2_dw w13_dw ...]\n"), 2;
    const char *all[] = {"w13", "w2", "w2_dx", "w13_dx", "w2_dw", "w13_dw"};
    std::vector<const char *> names(all, all + 6);
    if (argc > 2) names.assign(argv + 2, argv + argc);
    std::vector<Product> products; /* the arguments are checked before the GPU is touched */
    for (const char *name : names) products.push_back(product(name, rows, d, F));
    const char *sec = getenv("SECONDS_PER_RUN");
    char *end = NULL;
    double seconds = sec ? strtod(sec, &end) : 0.3;
    if (sec && (end == sec || *end || !(seconds > 0 && seconds <= 60)))
        return fprintf(stderr, "SECONDS_PER_RUN=%s: give the back-to-back time in seconds (0 to 60)\n", sec), 2;
    cudaDeviceProp prop;
    CUDA_CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %s products at %d rows\n", prop.name, model, rows);
    cublasLtHandle_t lt;
    LT_CK(cublasLtCreate(&lt));
    void *workspace;
    CUDA_CK(cudaMalloc(&workspace, WORKSPACE));
    float picked = 0, best = 0;
    for (const Product &q : products) {
        Verdict v = study(lt, workspace, &q, seconds);
        picked += v.picked, best += v.best;
    }
    printf("\nall: the tuning's picks %.3f ms back to back, the best bit-identical %.3f ms (%.1f%% less), per layer\n",
           picked, best, 100 * (1 - best / picked));
    cudaFree(workspace);
    cublasLtDestroy(lt);
    return 0;
}
