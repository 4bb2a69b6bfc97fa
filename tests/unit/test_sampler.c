/* Sampler: empirical frequencies match softmax(logits / T); top-k and top-p keep exactly the
 * right support; repetition penalty; greedy; a seed reproduces the draws. */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "infer/sampler.h"
#include "test.h"

#define V 12

static const float base_logits[V] = {2.0f, 1.5f, -1.0f, 0.3f, 3.0f, 0.0f, -2.0f, 1.0f, 0.7f, -0.5f, 2.5f, 0.1f};

/* Frequencies of n draws with config c. */
static void draw(const SamplerConfig *c, int n, double *freq) {
    Sampler s;
    CHECK(sampler_init(&s, V) == 0);
    sampler_reset(&s, c);
    memset(freq, 0, V * sizeof *freq);
    float logits[V];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        memcpy(logits, base_logits, sizeof logits);
        int32_t t = sampler_sample(&s, logits, NULL, 0);
        if (t >= 0 && t < V) freq[t] += 1.0 / n;
        else bad++;
    }
    CHECK(bad == 0);
    sampler_free(&s);
}

static void softmax(const float *x, const int *keep, float T, double *p) {
    double mx = -1e30, sum = 0;
    for (int i = 0; i < V; i++)
        if (keep[i] && x[i] > mx) mx = x[i];
    for (int i = 0; i < V; i++) sum += (p[i] = keep[i] ? exp((x[i] - mx) / T) : 0);
    for (int i = 0; i < V; i++) p[i] /= sum;
}

/* Frequencies agree with p within 5 standard errors, and the support is exactly {p > 0}. */
static void check_distribution(const double *freq, const double *p, int n, const char *what) {
    for (int i = 0; i < V; i++) {
        double se = sqrt(p[i] * (1 - p[i]) / n) + 1e-9;
        CHECK_MSG(fabs(freq[i] - p[i]) <= 5 * se + 1e-4, "%s: token %d frequency %.4f, expected %.4f", what, i, freq[i], p[i]);
        CHECK_MSG((freq[i] > 0) == (p[i] > 0), "%s: token %d support (frequency %.4f, expected %.4f)", what, i, freq[i], p[i]);
    }
}

int main(void) {
    int n = test_sanitized() ? 20000 : 200000;
    double freq[V], p[V];
    int all[V];
    for (int i = 0; i < V; i++) all[i] = 1;

    for (int ti = 0; ti < 2; ti++) {
        float T = ti ? 0.6f : 1.3f;
        SamplerConfig c = sampler_config_default();
        c.temperature = T;
        draw(&c, n, freq);
        softmax(base_logits, all, T, p);
        check_distribution(freq, p, n, "temperature");
    }

    /* top-k = 4: exactly tokens 4, 10, 0, 1 (logits 3, 2.5, 2, 1.5), renormalised */
    SamplerConfig c = sampler_config_default();
    c.temperature = 0.8f;
    c.top_k = 4;
    int keep_k[V] = {0};
    keep_k[4] = keep_k[10] = keep_k[0] = keep_k[1] = 1;
    draw(&c, n, freq);
    softmax(base_logits, keep_k, 0.8f, p);
    check_distribution(freq, p, n, "top-k");

    /* top-p: the smallest prefix of the sorted distribution whose mass reaches top_p */
    c = sampler_config_default();
    c.top_p = 0.7f;
    softmax(base_logits, all, 1.0f, p);
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (p[order[j]] > p[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    int keep_p[V] = {0}, kept = 0;
    double cum = 0;
    for (int i = 0; i < V && cum < 0.7; i++) cum += p[order[i]], keep_p[order[i]] = 1, kept++;
    CHECK(kept >= 2 && kept < V);
    draw(&c, n, freq);
    softmax(base_logits, keep_p, 1.0f, p);
    check_distribution(freq, p, n, "top-p");

    /* top-k and top-p together: nucleus within the top 6 */
    c.top_k = 6;
    c.top_p = 0.5f;
    draw(&c, n / 4, freq);
    int in_support = 0;
    for (int i = 0; i < V; i++) in_support += freq[i] > 0;
    CHECK(in_support == 2); /* of the top-6 mass, token 4 holds 0.41 (< 0.5), tokens 4 and 10 0.66 */

    /* greedy, and the repetition penalty turning the argmax over */
    Sampler s;
    CHECK(sampler_init(&s, V) == 0);
    c = sampler_config_default();
    c.greedy = 1;
    sampler_reset(&s, &c);
    float logits[V];
    memcpy(logits, base_logits, sizeof logits);
    CHECK(sampler_sample(&s, logits, NULL, 0) == 4);
    c.repetition_penalty = 1.5f; /* 3.0 / 1.5 = 2.0 < 2.5 */
    sampler_reset(&s, &c);
    int32_t hist[3] = {4, 4, 2};
    memcpy(logits, base_logits, sizeof logits);
    CHECK(sampler_sample(&s, logits, hist, 3) == 10);
    CHECK_NEAR(logits[4], 2.0f, 1e-6);   /* penalised once despite appearing twice */
    CHECK_NEAR(logits[2], -1.5f, 1e-6);  /* negative logits are multiplied */

    /* a seed reproduces the sequence of draws; another seed differs */
    int32_t a[64], b[64], d[64];
    c = sampler_config_default();
    for (int run = 0; run < 3; run++) {
        c.seed = run == 2 ? 7 : 5;
        sampler_reset(&s, &c);
        for (int i = 0; i < 64; i++) {
            memcpy(logits, base_logits, sizeof logits);
            (run == 0 ? a : run == 1 ? b : d)[i] = sampler_sample(&s, logits, NULL, 0);
        }
    }
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(memcmp(a, d, sizeof a) != 0);

    c.top_p = 1.5f;
    CHECK(sampler_config_validate(&c) != 0);
    sampler_free(&s);
    return test_summary("test_sampler");
}
