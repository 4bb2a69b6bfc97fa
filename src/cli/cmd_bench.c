/* krllm bench: inference speed of a checkpoint or of a randomly initialised config, per
 * precision and batch size, plus the machine's memory bandwidth for reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "infer/assets.h"
#include "infer/bench.h"
#include "model/params.h"

typedef struct {
    ModelConfig cfg;
    float *params; /* owned when random */
    InferAssets assets;
} BenchModel;

static int load_bench_model(BenchModel *m, const char *checkpoint, const char *model_config, int64_t seed) {
    memset(m, 0, sizeof *m);
    if (checkpoint) {
        if (infer_assets_load(&m->assets, checkpoint, NULL, 0) != 0) return -1;
        m->cfg = m->assets.model.cfg;
        return 0;
    }
    if (model_config_load(model_config, &m->cfg) != 0) return -1;
    ParamLayout l;
    if (param_layout_init(&l, &m->cfg) != 0) return -1;
    m->params = malloc(l.num_params * sizeof(float));
    if (!m->params) {
        param_layout_free(&l);
        return kr_error("out of memory for %zu random parameters", l.num_params);
    }
    params_init_random(&l, m->params, (uint64_t)seed);
    param_layout_free(&l);
    return 0;
}

static int parse_int_list(const StrList *l, const char *def, int *out, int cap, int *n) {
    const char *items[16];
    int count = l->n;
    char buf[64];
    if (count == 0) {
        snprintf(buf, sizeof buf, "%s", def);
        count = 0;
        for (char *t = strtok(buf, " "); t && count < 16; t = strtok(NULL, " ")) items[count++] = t;
    } else {
        for (int i = 0; i < count && i < 16; i++) items[i] = l->items[i];
    }
    if (count > cap) return kr_error("at most %d batch sizes", cap);
    for (int i = 0; i < count; i++) {
        char *end;
        long v = strtol(items[i], &end, 10);
        if (*end || v < 1 || v > 256) return kr_error("batch size '%s' must be an integer in [1, 256]", items[i]);
        out[i] = (int)v;
    }
    *n = count;
    return 0;
}

/* ppl < 0: not measured */
static void report(const char *model, const BenchSpec *s, InferPrecision p, const BenchResult *r, double bw, double ppl, int json) {
    if (json) {
        printf("{\"model\":\"%s\",\"batch\":%d,\"precision\":\"%s\",\"prompt_tokens\":%d,\"new_tokens\":%d,"
               "\"prefill_tokens_per_sec\":%.1f,\"decode_tokens_per_sec\":%.2f,\"ttft_ms\":%.2f,\"peak_rss_mb\":%.1f,"
               "\"weights_mb\":%.1f,\"bandwidth_gb_s\":%.2f,\"bandwidth_share\":%.3f",
               model, s->batch, infer_precision_name(p), s->prompt_len, s->new_tokens, r->prefill_tok_s, r->decode_tok_s,
               r->ttft_ms, r->peak_rss_mb, r->weight_mb, bw / 1e9, r->bandwidth_share);
        if (ppl >= 0) printf(",\"perplexity\":%.5f", ppl);
        printf("}\n");
    } else {
        printf("%-9s batch %-3d prefill %8.0f tok/s  decode %8.2f tok/s  ttft %8.2f ms  peak %7.0f MB  weights %6.0f MB  "
               "bandwidth share %.2f",
               infer_precision_name(p), s->batch, r->prefill_tok_s, r->decode_tok_s, r->ttft_ms, r->peak_rss_mb, r->weight_mb,
               r->bandwidth_share);
        if (ppl >= 0) printf("  perplexity %.4f", ppl);
        printf("\n");
    }
    fflush(stdout);
}

int cmd_bench(int argc, char **argv) {
    const char *checkpoint = NULL, *model_config = NULL, *eval_data = NULL;
    int64_t eval_tokens = 8192;
    int eval_window = 512;
    StrList precisions = {0}, batches = {0};
    int prompt_len = 32, new_tokens = 128, reps = 3, num_threads = 0, json = 0;
    int64_t seed = 1;
    ArgSpec specs[] = {
        {"checkpoint", ARG_STR, &checkpoint, "checkpoint directory to measure", 0},
        {"model_config", ARG_STR, &model_config, "or a model YAML, with random weights", 0},
        {"precision", ARG_LIST, &precisions, "precisions to measure (default: fp32 bf16 int8)", 0},
        {"batch", ARG_LIST, &batches, "batch sizes (default: 1 8)", 0},
        {"prompt_len", ARG_INT, &prompt_len, "prompt tokens (default 32)", 0},
        {"new_tokens", ARG_INT, &new_tokens, "tokens generated per sequence (default 128)", 0},
        {"reps", ARG_INT, &reps, "timed runs per measurement, after a warm-up; medians reported (default 3)", 0},
        {"num_threads", ARG_INT, &num_threads, "CPU threads (default: all cores)", 0},
        {"seed", ARG_I64, &seed, "seed of the random weights and prompts (default 1)", 0},
        {"eval_data", ARG_STR, &eval_data, "token shard (e.g. val.bin): also report each precision's perplexity on it", 0},
        {"eval_tokens", ARG_I64, &eval_tokens, "tokens of --eval_data to score (default 8192)", 0},
        {"eval_window", ARG_INT, &eval_window, "tokens per scoring window (default 512, at most the context)", 0},
        {"json", ARG_FLAG, &json, "one JSON object per measurement", 0},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]);
    int rc = kr_parse_args(argc, argv, specs, nspecs, "krllm bench (--checkpoint DIR | --model_config FILE) [--precision P...] [--batch B...] [--json]");
    if (rc != 0) {
        strlist_free(&precisions);
        strlist_free(&batches);
        return kr_args_exit_status(rc);
    }
    int batch[8], nb = 0, maxb = 1;
    InferPrecision prec[8];
    int np = 0;
    if ((!checkpoint) == (!model_config)) rc = kr_error("give one of --checkpoint DIR or --model_config FILE");
    else if (parse_int_list(&batches, "1 8", batch, 8, &nb) != 0) rc = -1;
    else if (precisions.n > 8) rc = kr_error("at most 8 precisions");
    for (int i = 0; rc == 0 && i < (precisions.n ? precisions.n : 3); i++, np++) {
        static const char *const def[3] = {"fp32", "bf16", "int8"};
        rc = infer_precision_parse(precisions.n ? precisions.items[i] : def[i], &prec[i]);
    }
    for (int i = 0; i < nb; i++) maxb = batch[i] > maxb ? batch[i] : maxb;
    BenchModel m;
    Shard shard = {0};
    int have_shard = 0;
    if (rc == 0 && eval_data) rc = shard_open(&shard, eval_data, 1) == 0 ? (have_shard = 1, 0) : -1;
    if (rc == 0 && eval_data && (eval_tokens < 2 || eval_window < 2)) rc = kr_error("--eval_tokens and --eval_window must be at least 2");
    if (rc == 0) {
        infer_set_threads(num_threads);
        rc = load_bench_model(&m, checkpoint, model_config, seed);
    }
    if (rc != 0) {
        kr_print_error();
        if (have_shard) shard_close(&shard);
        strlist_free(&precisions);
        strlist_free(&batches);
        return 2;
    }
    double bw = bench_memory_bandwidth();
    const char *name = m.cfg.name[0] ? m.cfg.name : "model";
    if (!json)
        printf("model %s (%lld parameters), prompt %d tokens, %d new tokens, memcpy bandwidth %.1f GB/s\n", name,
               (long long)model_num_params(&m.cfg), prompt_len, new_tokens, bw / 1e9);
    const float *params = m.params ? m.params : m.assets.model.params;
    for (int p = 0; p < np && rc == 0; p++) {
        EngineOptions o = {prec[p], maxb, prompt_len + new_tokens + 1, -1, NULL, NULL};
        if (have_shard && eval_window > o.max_context) o.max_context = eval_window;
        if (o.max_context > m.cfg.max_seq_len) o.max_context = m.cfg.max_seq_len;
        Engine *e = engine_create(&m.cfg, params, &o);
        double ppl = -1;
        if (!e) rc = -1;
        else if (have_shard) rc = bench_perplexity(e, &shard, eval_tokens, eval_window, &ppl);
        for (int b = 0; b < nb && rc == 0; b++) {
            BenchSpec s = {batch[b], prompt_len, new_tokens, reps, (uint64_t)seed};
            BenchResult r;
            rc = bench_run(e, &s, bw, &r);
            if (rc == 0) report(name, &s, prec[p], &r, bw, ppl, json);
        }
        engine_free(e);
    }
    if (rc != 0) kr_print_error();
    free(m.params);
    infer_assets_free(&m.assets);
    if (have_shard) shard_close(&shard);
    strlist_free(&precisions);
    strlist_free(&batches);
    return rc == 0 ? 0 : 1;
}
