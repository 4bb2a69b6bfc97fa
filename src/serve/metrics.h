/* Server counters in Prometheus' text format: requests by route and status, prompt and
 * generated tokens, request latency and time-to-first-token histograms, queue length. */
#ifndef KR_SERVE_METRICS_H
#define KR_SERVE_METRICS_H

#include <pthread.h>
#include <stdint.h>

#define METRICS_MAX_SERIES 64
#define METRICS_NBUCKETS 12

typedef struct {
    uint64_t counts[METRICS_NBUCKETS + 1]; /* last one is +Inf */
    double sum;
    uint64_t n;
} Histogram;

typedef struct {
    pthread_mutex_t mu;
    struct {
        char route[32];
        int status;
        uint64_t n;
    } requests[METRICS_MAX_SERIES];
    int nseries;
    uint64_t prompt_tokens, generated_tokens, cancelled;
    Histogram latency, ttft;
    int queue_length, active_sequences; /* gauges, set by the scheduler */
} Metrics;

void metrics_init(Metrics *m);
void metrics_destroy(Metrics *m);
void metrics_request(Metrics *m, const char *route, int status);
void metrics_latency(Metrics *m, double seconds);
void metrics_ttft(Metrics *m, double seconds);
void metrics_tokens(Metrics *m, int prompt, int generated);
void metrics_cancelled(Metrics *m);
void metrics_gauges(Metrics *m, int queue_length, int active_sequences);
/* The exposition text (malloc'd). */
char *metrics_render(Metrics *m);

#endif
