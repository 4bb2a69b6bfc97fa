#include "infer/bench.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "common/util.h"

#define BANDWIDTH_BYTES ((size_t)256 << 20)

double bench_memory_bandwidth(void) {
    char *src = malloc(BANDWIDTH_BYTES), *dst = malloc(BANDWIDTH_BYTES);
    if (!src || !dst) {
        free(src);
        free(dst);
        return 0;
    }
    memset(src, 1, BANDWIDTH_BYTES);
    memset(dst, 0, BANDWIDTH_BYTES);
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = kr_now();
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t chunk = BANDWIDTH_BYTES / (size_t)nt, off = chunk * (size_t)id;
            if (id == nt - 1) chunk = BANDWIDTH_BYTES - off;
            memcpy(dst + off, src + off, chunk);
        }
        double dt = kr_now() - t0;
        if (dt < best) best = dt;
    }
    volatile char sink = dst[BANDWIDTH_BYTES - 1];
    (void)sink;
    free(src);
    free(dst);
    return 2.0 * BANDWIDTH_BYTES / best;
}

/* Resets the kernel's peak-RSS counter so each measurement reports its own peak (Linux). */
static void reset_peak_rss(void) {
    FILE *fp = fopen("/proc/self/clear_refs", "w");
    if (!fp) return;
    fputs("5", fp);
    fclose(fp);
}

typedef struct {
    double prefill_tok_s, decode_tok_s, ttft_ms;
} RunFigures;

static int run_once(Engine *e, const BenchSpec *s, Rng *rng, int32_t *prompt, RunFigures *f) {
    const ModelConfig *c = infer_model_config(engine_model(e));
    GenRequest req = {sampler_config_default(), s->new_tokens, NULL, 0, NULL, 0};
    req.sampler.greedy = 1;
    engine_reset_stats(e);
    for (int b = 0; b < s->batch; b++) {
        for (int i = 0; i < s->prompt_len; i++) prompt[i] = (int32_t)rng_below(rng, (uint64_t)c->vocab_size);
        if (engine_add(e, prompt, s->prompt_len, &req) < 0) return -1;
    }
    const EngineEvent *ev;
    double t0 = kr_now();
    if (engine_step(e, &ev) < 0) return -1;
    f->ttft_ms = (kr_now() - t0) * 1e3;
    while (engine_active(e) > 0)
        if (engine_step(e, &ev) < 0) return -1;
    EngineStats st = engine_stats(e);
    f->prefill_tok_s = st.prefill_tokens / st.prefill_seconds;
    f->decode_tok_s = st.decode_tokens / st.decode_seconds;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int bench_run(Engine *e, const BenchSpec *s, double bandwidth, BenchResult *out) {
    if (s->batch < 1 || s->batch > infer_model_slots(engine_model(e)))
        return kr_error("batch %d exceeds the engine's %d slots", s->batch, infer_model_slots(engine_model(e)));
    if (s->prompt_len < 1 || s->new_tokens < 2 || s->prompt_len + s->new_tokens > infer_model_context(engine_model(e)))
        return kr_error("prompt %d + %d new tokens do not fit the context of %d", s->prompt_len, s->new_tokens,
                        infer_model_context(engine_model(e)));
    int reps = s->reps < 1 ? 1 : s->reps;
    int32_t *prompt = malloc((size_t)s->prompt_len * sizeof *prompt);
    double *pre = malloc((size_t)reps * sizeof(double)), *dec = malloc((size_t)reps * sizeof(double)),
           *ttft = malloc((size_t)reps * sizeof(double));
    int rc = prompt && pre && dec && ttft ? 0 : kr_error("out of memory");
    Rng rng;
    rng_seed(&rng, s->seed);
    reset_peak_rss();
    RunFigures f;
    if (rc == 0) rc = run_once(e, s, &rng, prompt, &f); /* warm-up: page in the weights */
    for (int r = 0; r < reps && rc == 0; r++) {
        rc = run_once(e, s, &rng, prompt, &f);
        pre[r] = f.prefill_tok_s;
        dec[r] = f.decode_tok_s;
        ttft[r] = f.ttft_ms;
    }
    if (rc == 0) {
        out->prefill_tok_s = median(pre, reps);
        out->decode_tok_s = median(dec, reps);
        out->ttft_ms = median(ttft, reps);
        out->peak_rss_mb = kr_peak_rss_mb();
        double bytes = (double)infer_model_weight_bytes(engine_model(e));
        out->weight_mb = bytes / 1048576.0;
        out->bandwidth_share = bandwidth > 0 ? out->decode_tok_s / s->batch * bytes / bandwidth : 0;
    }
    free(prompt);
    free(pre);
    free(dec);
    free(ttft);
    return rc;
}

int bench_perplexity(Engine *e, const Shard *s, int64_t n_tokens, int window, double *ppl) {
    InferModel *m = engine_model(e);
    int V = infer_model_config(m)->vocab_size;
    if (window > infer_model_context(m)) window = infer_model_context(m);
    if (n_tokens > (int64_t)s->hdr.num_tokens) n_tokens = (int64_t)s->hdr.num_tokens;
    if (window < 2 || n_tokens < 2) return kr_error("perplexity needs at least 2 tokens and a window of 2");
    if (s->hdr.vocab_size > (uint32_t)V) return kr_error("the shard's vocabulary (%u) is larger than the model's (%d)", s->hdr.vocab_size, V);
    int rows = INFER_MAX_PREFILL_ROWS;
    int32_t tok[INFER_MAX_PREFILL_ROWS + 1];
    int slot[INFER_MAX_PREFILL_ROWS], pos[INFER_MAX_PREFILL_ROWS], want[INFER_MAX_PREFILL_ROWS];
    double nll = 0;
    int64_t counted = 0;
    for (int64_t w0 = 0; w0 + 1 < n_tokens; w0 += window) {
        int wlen = n_tokens - w0 < window ? (int)(n_tokens - w0) : window;
        for (int c0 = 0; c0 + 1 < wlen; c0 += rows) {
            int n = wlen - 1 - c0 < rows ? wlen - 1 - c0 : rows; /* rows predicting c0+1 .. c0+n */
            for (int r = 0; r <= n; r++) tok[r] = (int32_t)shard_token(s, (uint64_t)(w0 + c0 + r));
            for (int r = 0; r < n; r++) slot[r] = 0, pos[r] = c0 + r, want[r] = r;
            if (infer_model_forward(m, n, tok, slot, pos, 1, n, want) != 0) return -1;
            const float *lg = infer_model_logits(m);
            for (int r = 0; r < n; r++) {
                const float *row = lg + (size_t)r * V;
                double mx = row[0], sum = 0;
                for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
                for (int v = 0; v < V; v++) sum += exp(row[v] - mx);
                nll += mx + log(sum) - row[tok[r + 1]];
            }
            counted += n;
        }
    }
    *ppl = exp(nll / (double)counted);
    return 0;
}
