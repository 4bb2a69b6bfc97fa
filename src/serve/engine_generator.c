/* The real model behind the server: the inference engine (src/infer) and the checkpoint's
 * tokenizer, adapted to generator.h. Text (UTF-8 hold-back, stop strings) is the scheduler's
 * job, so the engine runs without its own text layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "infer/assets.h"
#include "infer/chat_template.h"
#include "infer/engine.h"
#include "serve/generator.h"

typedef struct {
    Generator g;
    InferAssets assets;
    Engine *engine;
    int64_t *seq_id;   /* engine id per slot, -1 when free */
    int32_t *prompt;   /* [context] */
    ChatTemplate chat; /* its special pieces also end a reply */
    int eos, bos;
    int threads, threads_set; /* applied on the scheduler thread, where the engine runs */
    char model_id[128];
} EngineGen;

static int eg_encode(void *self, const char *text, size_t len, int *ids, int cap) {
    EngineGen *e = self;
    uint32_t *raw = NULL;
    size_t n = 0;
    if (tokenizer_encode(e->assets.tok, text, len, &raw, &n) != 0) return -1;
    int k = 0;
    if (e->bos >= 0 && k < cap) ids[k] = e->bos;
    k += e->bos >= 0;
    for (size_t i = 0; i < n; i++, k++)
        if (k < cap) ids[k] = (int)raw[i];
    free(raw);
    return k;
}

static char *eg_chat_prompt(void *self, const char *system, const char *const *turns, int n, const char **stop_text) {
    EngineGen *e = self;
    *stop_text = e->chat.stop_text;
    return chat_template_render(&e->chat, system, turns, n);
}

static int eg_add(void *self, const int *ids, int n, const SamplingSettings *s) {
    EngineGen *e = self;
    int slot = 0;
    while (slot < e->g.max_batch && e->seq_id[slot] >= 0) slot++;
    if (slot == e->g.max_batch) return kr_error("all %d sequence slots are busy", e->g.max_batch);
    if (n > e->g.context_len) return kr_error("the prompt has %d tokens; the context holds %d", n, e->g.context_len);
    for (int i = 0; i < n; i++) e->prompt[i] = ids[i];
    GenRequest req = {
        .sampler = {.greedy = s->temperature <= 0, .temperature = s->temperature > 0 ? s->temperature : 1.0f,
                    .top_k = s->top_k, .top_p = s->top_p, .repetition_penalty = s->repetition_penalty,
                    .seed = s->seed},
        .max_new_tokens = e->g.context_len, /* the scheduler enforces max_tokens */
        .stop_tokens = e->chat.stop_tokens,
        .num_stop_tokens = e->chat.num_stop_tokens,
    };
    int64_t id = engine_add(e->engine, e->prompt, n, &req);
    if (id < 0) return -1;
    e->seq_id[slot] = id;
    return slot;
}

static int eg_step(void *self, int *next_token, unsigned char *ended) {
    EngineGen *e = self;
    /* OpenMP's thread count is per calling thread: set it where the engine actually runs. */
    if (!e->threads_set) {
        infer_set_threads(e->threads);
        e->threads_set = 1;
    }
    const EngineEvent *ev;
    int k = engine_step(e->engine, &ev);
    if (k < 0) return -1;
    for (int i = 0; i < k; i++)
        for (int slot = 0; slot < e->g.max_batch; slot++)
            if (e->seq_id[slot] == ev[i].id) {
                next_token[slot] = ev[i].token;
                ended[slot] = ev[i].finish == FINISH_CONTEXT || ev[i].finish == FINISH_LENGTH;
                break;
            }
    return 0;
}

static void eg_remove(void *self, int slot) {
    EngineGen *e = self;
    /* The engine may have ended the sequence itself already; then there is nothing to cancel. */
    engine_cancel(e->engine, e->seq_id[slot]);
    e->seq_id[slot] = -1;
}

static int eg_token_bytes(void *self, int token, int is_first, char *out, int cap) {
    EngineGen *e = self;
    int n = tokenizer_token_bytes(e->assets.tok, (uint32_t)token, is_first, out, (size_t)cap);
    return n < 0 ? 0 : n;
}

static int eg_is_end(void *self, int token) {
    EngineGen *e = self;
    if (token == e->eos) return 1;
    for (int i = 0; i < e->chat.num_stop_tokens; i++)
        if (token == e->chat.stop_tokens[i]) return 1;
    return 0;
}

static void eg_destroy(void *self) {
    EngineGen *e = self;
    engine_free(e->engine);
    infer_assets_free(&e->assets);
    free(e->seq_id);
    free(e->prompt);
    free(e);
}

Generator *engine_generator_create(const char *checkpoint, const char *tokenizer, const char *precision,
                                   int max_batch, int threads) {
    InferPrecision prec = PREC_FP32;
    if (precision && infer_precision_parse(precision, &prec) != 0) return NULL;
    EngineGen *e = calloc(1, sizeof *e);
    if (!e) {
        kr_error("out of memory");
        return NULL;
    }
    if (infer_assets_load(&e->assets, checkpoint, tokenizer, 1) != 0) {
        free(e);
        return NULL;
    }
    /* The engine sizes its per-thread buffers from the count at creation. */
    infer_set_threads(threads);
    EngineOptions opt = infer_engine_options(&e->assets, prec, max_batch, 0);
    opt.token_bytes = NULL; /* text is handled by the scheduler */
    e->engine = engine_create(&e->assets.model.cfg, e->assets.model.params, &opt);
    int ctx = e->assets.model.cfg.max_seq_len;
    e->seq_id = malloc((size_t)max_batch * sizeof *e->seq_id);
    e->prompt = malloc((size_t)ctx * sizeof *e->prompt);
    if (!e->engine || !e->seq_id || !e->prompt) {
        if (!e->engine && !kr_last_error()[0]) kr_error("cannot create the inference engine");
        eg_destroy(e);
        return NULL;
    }
    for (int i = 0; i < max_batch; i++) e->seq_id[i] = -1;
    e->threads = threads;
    e->eos = tokenizer_eos_id(e->assets.tok);
    e->bos = tokenizer_bos_id(e->assets.tok);
    chat_template_init(&e->chat, e->assets.tok);
    /* The model's name: the checkpoint's last two path parts, e.g. "medium/final". */
    const char *dir = e->assets.model.dir, *name = dir + strlen(dir);
    for (int parts = 0; name > dir && parts < 2;)
        if (*--name == '/' && name[1]) parts++;
    if (*name == '/') name++;
    snprintf(e->model_id, sizeof e->model_id, "%.127s", name);
    e->g = (Generator){
        .self = e,
        .model_id = e->model_id,
        .context_len = ctx,
        .max_batch = max_batch,
        .encode = eg_encode,
        .chat_prompt = eg_chat_prompt,
        .add = eg_add,
        .step = eg_step,
        .remove = eg_remove,
        .token_bytes = eg_token_bytes,
        .is_end = eg_is_end,
        .destroy = eg_destroy,
    };
    return &e->g;
}
