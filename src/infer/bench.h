/* Inference measurements for `krllm bench`: prefill and decode speed, time to first token,
 * memory, and decode speed as a share of the machine's memory bandwidth (decoding one token
 * streams every weight once, so bandwidth / weight bytes is the speed limit at batch 1). */
#ifndef KR_INFER_BENCH_H
#define KR_INFER_BENCH_H

#include "data/shard.h"
#include "infer/engine.h"

typedef struct {
    int batch, prompt_len, new_tokens, reps;
    uint64_t seed;
} BenchSpec;

typedef struct {
    double prefill_tok_s, decode_tok_s, ttft_ms, peak_rss_mb, bandwidth_share;
    double weight_mb; /* bytes read per decode step */
} BenchResult;

/* Bytes per second of a large multi-threaded memcpy (read + write traffic), best of a few. */
double bench_memory_bandwidth(void);

/* Median over spec->reps runs (after one warm-up) of `batch` random prompts decoded greedily
 * together. The engine needs max_batch >= batch and context > prompt_len + new_tokens. */
int bench_run(Engine *e, const BenchSpec *spec, double bandwidth, BenchResult *out);

/* Perplexity of the model on the first n_tokens of a token shard, in windows of `window`
 * tokens (each window starts with an empty cache; its first token is context only). Uses cache
 * slot 0 of the engine, which must be idle. */
int bench_perplexity(Engine *e, const Shard *s, int64_t n_tokens, int window, double *ppl);

#endif
