/* Flags shared by `krllm generate` and `krllm chat`: checkpoint, tokenizer, precision, threads
 * and the sampling settings. */
#ifndef KR_CLI_GEN_FLAGS_H
#define KR_CLI_GEN_FLAGS_H

#include <stdint.h>

#include "common/args.h"
#include "infer/engine.h"

typedef struct {
    const char *checkpoint, *tokenizer, *precision;
    int max_length, top_k, greedy, num_threads;
    double temperature, top_p, repetition_penalty;
    int64_t seed;
    StrList stop;
} GenFlags;

#define GEN_FLAGS_COUNT 12

/* Sets the defaults and writes the flag table into specs[GEN_FLAGS_COUNT]. */
void gen_flags_init(GenFlags *f, ArgSpec *specs);
/* After parsing: checks values and fills the request (stop strings point into f) and precision. */
int gen_flags_apply(const GenFlags *f, GenRequest *req, InferPrecision *prec);

#endif
