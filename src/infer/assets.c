#include "infer/assets.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"


int infer_assets_load(InferAssets *a, const char *checkpoint, const char *tokenizer_path, int need_tokenizer) {
    memset(a, 0, sizeof *a);
    if (checkpoint_load_model(checkpoint, &a->model) != 0) return -1;
    const char *tp = tokenizer_path && tokenizer_path[0] ? tokenizer_path : a->model.tokenizer_path;
    if (!tp[0]) {
        if (!need_tokenizer) return 0;
        infer_assets_free(a);
        return kr_error("checkpoint '%s' has no tokenizer.model: pass --tokenizer FILE", checkpoint);
    }
    if (tokenizer_load(tp, &a->tok) != 0) {
        infer_assets_free(a);
        return -1;
    }
    if (tokenizer_vocab_size(a->tok) > a->model.cfg.vocab_size) {
        int tv = tokenizer_vocab_size(a->tok);
        infer_assets_free(a);
        return kr_error("tokenizer '%s' has %d tokens but the model only %d: it belongs to another model", tp, tv,
                        a->model.cfg.vocab_size);
    }
    return 0;
}

void infer_assets_free(InferAssets *a) {
    if (a->tok) tokenizer_free(a->tok);
    if (a->model.params) checkpoint_free_model(&a->model);
    memset(a, 0, sizeof *a);
}

static int token_bytes(void *ctx, int32_t id, char *out, int cap) {
    return tokenizer_token_bytes((const Tokenizer *)ctx, (uint32_t)id, 0, out, (size_t)cap);
}

EngineOptions infer_engine_options(const InferAssets *a, InferPrecision prec, int max_batch, int max_context) {
    EngineOptions o = {prec, max_batch, max_context, -1, NULL, NULL};
    if (a->tok) {
        o.eos_id = tokenizer_eos_id(a->tok);
        o.token_bytes = token_bytes;
        o.token_ctx = a->tok;
    }
    return o;
}

int infer_encode(const Tokenizer *t, const char *text, int add_bos, int32_t **ids, int *n) {
    uint32_t *raw = NULL;
    size_t count = 0;
    if (tokenizer_encode(t, text, strlen(text), &raw, &count) != 0) return -1;
    int bos = add_bos ? tokenizer_bos_id(t) : -1;
    int32_t *out = malloc((count + 1) * sizeof *out);
    if (!out) {
        free(raw);
        return kr_error("out of memory");
    }
    int k = 0;
    if (bos >= 0) out[k++] = bos;
    for (size_t i = 0; i < count; i++) out[k++] = (int32_t)raw[i];
    free(raw);
    *ids = out;
    *n = k;
    return 0;
}

void infer_set_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
}
