#include "infer/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

SamplerConfig sampler_config_default(void) {
    SamplerConfig c = {0, 1.0f, 0, 1.0f, 1.0f, 42};
    return c;
}

int sampler_config_validate(const SamplerConfig *c) {
    if (!(c->temperature >= 0) || c->temperature > 100) return kr_error("temperature %g must be in [0, 100]", c->temperature);
    if (c->top_k < 0) return kr_error("top_k %d must be >= 0 (0 = off)", c->top_k);
    if (!(c->top_p > 0) || c->top_p > 1) return kr_error("top_p %g must be in (0, 1]", c->top_p);
    if (!(c->repetition_penalty > 0) || c->repetition_penalty > 100)
        return kr_error("repetition_penalty %g must be in (0, 100] (1 = off)", c->repetition_penalty);
    return 0;
}

int sampler_init(Sampler *s, int vocab) {
    memset(s, 0, sizeof *s);
    s->vocab = vocab;
    s->cand = malloc((size_t)vocab * sizeof *s->cand);
    s->seen = calloc((size_t)vocab, sizeof *s->seen);
    if (!s->cand || !s->seen) {
        sampler_free(s);
        return kr_error("out of memory for a sampler over %d tokens", vocab);
    }
    SamplerConfig d = sampler_config_default();
    sampler_reset(s, &d);
    return 0;
}

void sampler_free(Sampler *s) {
    free(s->cand);
    free(s->seen);
    memset(s, 0, sizeof *s);
}

void sampler_reset(Sampler *s, const SamplerConfig *c) {
    s->cfg = *c;
    rng_seed(&s->rng, c->seed);
}

static void apply_penalty(Sampler *s, float *logits, const int32_t *hist, int n) {
    float pen = s->cfg.repetition_penalty;
    if (pen == 1.0f || n == 0) return;
    if (++s->stamp == 0) { /* wrapped: clear the stamps once */
        memset(s->seen, 0, (size_t)s->vocab * sizeof *s->seen);
        s->stamp = 1;
    }
    for (int i = 0; i < n; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= s->vocab || s->seen[t] == s->stamp) continue;
        s->seen[t] = s->stamp;
        logits[t] = logits[t] > 0 ? logits[t] / pen : logits[t] * pen;
    }
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Strict order: higher value first, lower id on ties, so selections are exact and repeatable. */
static inline int before(const SamplerCandidate *a, const SamplerCandidate *b) {
    return a->p > b->p || (a->p == b->p && a->id < b->id);
}

static int cmp_candidates(const void *x, const void *y) {
    const SamplerCandidate *a = x, *b = y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap(SamplerCandidate *a, SamplerCandidate *b) {
    SamplerCandidate t = *a;
    *a = *b;
    *b = t;
}

/* Quickselect: rearranges c[0..n) so that its first k entries are the k first in order. */
static void select_top(SamplerCandidate *c, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        /* median of three as pivot, moved to hi */
        if (before(&c[mid], &c[lo])) swap(&c[mid], &c[lo]);
        if (before(&c[hi], &c[lo])) swap(&c[hi], &c[lo]);
        if (before(&c[mid], &c[hi])) swap(&c[mid], &c[hi]);
        SamplerCandidate pivot = c[hi];
        int store = lo;
        for (int i = lo; i < hi; i++)
            if (before(&c[i], &pivot)) swap(&c[i], &c[store++]);
        swap(&c[store], &c[hi]);
        if (store == k - 1 || store == k) return;
        if (store < k) lo = store + 1;
        else hi = store - 1;
    }
}

int32_t sampler_sample(Sampler *s, float *logits, const int32_t *history, int n_history) {
    const SamplerConfig *c = &s->cfg;
    int V = s->vocab;
    apply_penalty(s, logits, history, n_history);
    if (c->greedy || c->temperature <= 0) return argmax(logits, V);

    SamplerCandidate *cand = s->cand;
    for (int i = 0; i < V; i++) cand[i] = (SamplerCandidate){logits[i], i};
    int n = V;
    if (c->top_k > 0 && c->top_k < V) {
        select_top(cand, V, c->top_k);
        n = c->top_k;
    }
    /* softmax with temperature over the candidates */
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = fmaxf(mx, cand[i].p);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (cand[i].p = expf((cand[i].p - mx) / c->temperature));
    for (int i = 0; i < n; i++) cand[i].p = (float)(cand[i].p / sum);

    double mass = 1.0;
    if (c->top_p < 1.0f && n > 1) {
        /* A token below (1 - top_p) / (n - 1) cannot be in the nucleus: all such tokens together
         * hold less than 1 - top_p. Only the others are sorted. */
        float cutoff = (1.0f - c->top_p) / (float)(n - 1);
        int m = 0;
        for (int i = 0; i < n; i++)
            if (cand[i].p >= cutoff) cand[m++] = cand[i];
        qsort(cand, (size_t)m, sizeof *cand, cmp_candidates);
        double cum = 0;
        int keep = m;
        for (int i = 0; i < m; i++) {
            cum += cand[i].p;
            if (cum >= c->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        mass = 0;
        for (int i = 0; i < n; i++) mass += cand[i].p;
    }
    double r = rng_double(&s->rng) * mass, cum = 0;
    for (int i = 0; i < n; i++) {
        cum += cand[i].p;
        if (r < cum) return cand[i].id;
    }
    return cand[n - 1].id; /* rounding */
}
