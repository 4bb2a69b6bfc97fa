#include "serve/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_bounds[METRICS_NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                       0.5,   1,    2.5,   5,    10,  30};

void metrics_init(Metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void metrics_destroy(Metrics *m) { pthread_mutex_destroy(&m->mu); }

void metrics_request(Metrics *m, const char *route, int status) {
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->nseries && (m->requests[i].status != status || strcmp(m->requests[i].route, route))) i++;
    if (i == m->nseries && m->nseries < METRICS_MAX_SERIES) {
        snprintf(m->requests[i].route, sizeof m->requests[i].route, "%s", route);
        m->requests[i].status = status;
        m->nseries++;
    }
    if (i < m->nseries) m->requests[i].n++;
    pthread_mutex_unlock(&m->mu);
}

static void observe(Histogram *h, double v) {
    int b = 0;
    while (b < METRICS_NBUCKETS && v > bucket_bounds[b]) b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
}

void metrics_latency(Metrics *m, double seconds) {
    pthread_mutex_lock(&m->mu);
    observe(&m->latency, seconds);
    pthread_mutex_unlock(&m->mu);
}

void metrics_ttft(Metrics *m, double seconds) {
    pthread_mutex_lock(&m->mu);
    observe(&m->ttft, seconds);
    pthread_mutex_unlock(&m->mu);
}

void metrics_tokens(Metrics *m, int prompt, int generated) {
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (uint64_t)prompt;
    m->generated_tokens += (uint64_t)generated;
    pthread_mutex_unlock(&m->mu);
}

void metrics_cancelled(Metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->cancelled++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_gauges(Metrics *m, int queue_length, int active_sequences) {
    pthread_mutex_lock(&m->mu);
    m->queue_length = queue_length;
    m->active_sequences = active_sequences;
    pthread_mutex_unlock(&m->mu);
}

static void render_histogram(FILE *fp, const char *name, const char *help, const Histogram *h) {
    fprintf(fp, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < METRICS_NBUCKETS; b++) {
        cum += h->counts[b];
        fprintf(fp, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_bounds[b], (unsigned long long)cum);
    }
    fprintf(fp, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)h->n, name,
            h->sum, name, (unsigned long long)h->n);
}

char *metrics_render(Metrics *m) {
    char *text = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&text, &size);
    if (!fp) return NULL;
    pthread_mutex_lock(&m->mu);
    fputs("# HELP krllm_requests_total HTTP requests by route and status code.\n"
          "# TYPE krllm_requests_total counter\n", fp);
    for (int i = 0; i < m->nseries; i++)
        fprintf(fp, "krllm_requests_total{route=\"%s\",code=\"%d\"} %llu\n", m->requests[i].route,
                m->requests[i].status, (unsigned long long)m->requests[i].n);
    fprintf(fp,
            "# HELP krllm_prompt_tokens_total Prompt tokens of accepted generation requests.\n"
            "# TYPE krllm_prompt_tokens_total counter\nkrllm_prompt_tokens_total %llu\n"
            "# HELP krllm_generated_tokens_total Tokens generated.\n"
            "# TYPE krllm_generated_tokens_total counter\nkrllm_generated_tokens_total %llu\n"
            "# HELP krllm_cancelled_total Generations cancelled because the client went away.\n"
            "# TYPE krllm_cancelled_total counter\nkrllm_cancelled_total %llu\n"
            "# HELP krllm_queue_length Requests waiting for a batch slot.\n"
            "# TYPE krllm_queue_length gauge\nkrllm_queue_length %d\n"
            "# HELP krllm_active_sequences Sequences decoding in the batch.\n"
            "# TYPE krllm_active_sequences gauge\nkrllm_active_sequences %d\n",
            (unsigned long long)m->prompt_tokens, (unsigned long long)m->generated_tokens,
            (unsigned long long)m->cancelled, m->queue_length, m->active_sequences);
    render_histogram(fp, "krllm_request_duration_seconds", "Time from request to last token.", &m->latency);
    render_histogram(fp, "krllm_time_to_first_token_seconds", "Time from request to first token.", &m->ttft);
    pthread_mutex_unlock(&m->mu);
    fclose(fp);
    return text;
}
