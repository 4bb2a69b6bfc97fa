/* What a generation command needs from disk: a checkpoint (weights memory-mapped), its
 * tokenizer, and the glue that lets the engine turn tokens into text. Shared by generate,
 * chat, bench and the HTTP server. */
#ifndef KR_INFER_ASSETS_H
#define KR_INFER_ASSETS_H

#include <stdint.h>

#include "infer/engine.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"

typedef struct {
    LoadedModel model;
    Tokenizer *tok; /* NULL when not loaded */
} InferAssets;

/* Loads a checkpoint (directory or run directory) and a tokenizer: `tokenizer_path` if given,
 * else the checkpoint's own. need_tokenizer=1 makes a missing tokenizer an error. */
int infer_assets_load(InferAssets *a, const char *checkpoint, const char *tokenizer_path, int need_tokenizer);
void infer_assets_free(InferAssets *a);

/* Engine options for these assets: EOS and text from the tokenizer. */
EngineOptions infer_engine_options(const InferAssets *a, InferPrecision prec, int max_batch, int max_context);

/* Encodes text to engine tokens, with BOS first when the tokenizer has one (malloc'd). */
int infer_encode(const Tokenizer *t, const char *text, int add_bos, int32_t **ids, int *n);

/* Sets the threads the inference model will use (n <= 0: all cores). */
void infer_set_threads(int n);

#endif
