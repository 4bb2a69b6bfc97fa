#include "cli/gen_flags.h"

#include <string.h>

#include "common/error.h"
#include "infer/assets.h"

void gen_flags_init(GenFlags *f, ArgSpec *specs) {
    memset(f, 0, sizeof *f);
    f->precision = "fp32";
    f->max_length = 256;
    f->temperature = 0.8;
    f->top_k = 40;
    f->top_p = 0.95;
    f->repetition_penalty = 1.0;
    f->seed = 42;
    ArgSpec s[GEN_FLAGS_COUNT] = {
        {"checkpoint", ARG_STR, &f->checkpoint, "checkpoint directory (or a training run directory)", 1},
        {"tokenizer", ARG_STR, &f->tokenizer, "tokenizer .model (default: the checkpoint's)", 0},
        {"precision", ARG_STR, &f->precision, "weights: fp32 | bf16 | int8 (groups of 64) | int8_row (default fp32)", 0},
        {"max_length", ARG_INT, &f->max_length, "new tokens at most (default 256)", 0},
        {"temperature", ARG_DOUBLE, &f->temperature, "sampling temperature (default 0.8; 0 = greedy)", 0},
        {"top_k", ARG_INT, &f->top_k, "sample among the k most likely tokens (default 40; 0 = off)", 0},
        {"top_p", ARG_DOUBLE, &f->top_p, "nucleus sampling mass (default 0.95; 1 = off)", 0},
        {"repetition_penalty", ARG_DOUBLE, &f->repetition_penalty, "penalty for tokens already present (default 1 = off)", 0},
        {"stop", ARG_LIST, &f->stop, "stop when one of these strings appears (not printed)", 0},
        {"seed", ARG_I64, &f->seed, "random seed (default 42)", 0},
        {"greedy", ARG_FLAG, &f->greedy, "always take the most likely token", 0},
        {"num_threads", ARG_INT, &f->num_threads, "CPU threads (default: all cores)", 0},
    };
    memcpy(specs, s, sizeof s);
}

int gen_flags_apply(const GenFlags *f, GenRequest *req, InferPrecision *prec) {
    if (infer_precision_parse(f->precision, prec) != 0) return -1;
    if (f->max_length < 1) return kr_error("--max_length must be at least 1");
    if (f->num_threads < 0) return kr_error("--num_threads must be >= 0");
    memset(req, 0, sizeof *req);
    req->max_new_tokens = f->max_length;
    req->sampler = sampler_config_default();
    req->sampler.greedy = f->greedy || f->temperature == 0;
    req->sampler.temperature = (float)f->temperature;
    req->sampler.top_k = f->top_k;
    req->sampler.top_p = (float)f->top_p;
    req->sampler.repetition_penalty = (float)f->repetition_penalty;
    req->sampler.seed = (uint64_t)f->seed;
    req->stop = (const char *const *)f->stop.items;
    req->num_stop = f->stop.n;
    if (sampler_config_validate(&req->sampler) != 0) return -1;
    infer_set_threads(f->num_threads);
    return 0;
}
