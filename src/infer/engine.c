#include "infer/engine.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "infer/gentext.h"

#define MAX_STOP_TOKENS 16

typedef enum { SLOT_FREE, SLOT_PREFILL, SLOT_DECODE, SLOT_DONE } SlotState;

typedef struct {
    SlotState state;
    int64_t id;
    int32_t *tokens; /* [context]: prompt then generated */
    int n_prompt, n_total, max_new;
    int32_t stop_tokens[MAX_STOP_TOKENS];
    int num_stop_tokens;
    int fresh; /* prefilled in the current step */
    Sampler sampler;
    GenText text;
} Slot;

struct Engine {
    InferModel *model;
    EngineOptions opt;
    int nslots, ctx, vocab;
    Slot *slots;
    int64_t next_id;
    EngineEvent *events;                    /* [nslots] */
    int32_t *row_tokens;                    /* [rows] */
    int *row_slot, *row_pos, *logit_rows;   /* [rows] */
    int rows;
    EngineStats stats;
};

const char *finish_reason_name(FinishReason r) {
    static const char *const names[] = {"running", "eos", "stop", "length", "context", "cancelled"};
    return r >= FINISH_NONE && r <= FINISH_CANCELLED ? names[r] : "unknown";
}

void engine_free(Engine *e) {
    if (!e) return;
    if (e->slots)
        for (int i = 0; i < e->nslots; i++) {
            free(e->slots[i].tokens);
            sampler_free(&e->slots[i].sampler);
            gentext_free(&e->slots[i].text);
        }
    free(e->slots);
    free(e->events);
    free(e->row_tokens);
    free(e->row_slot);
    free(e->row_pos);
    free(e->logit_rows);
    infer_model_free(e->model);
    free(e);
}

Engine *engine_create(const ModelConfig *cfg, const float *params, const EngineOptions *opts) {
    if (opts->max_batch < 1) {
        kr_error("max_batch must be at least 1");
        return NULL;
    }
    Engine *e = calloc(1, sizeof *e);
    if (!e) {
        kr_error("out of memory");
        return NULL;
    }
    e->opt = *opts;
    e->nslots = opts->max_batch;
    e->model = infer_model_create(cfg, params, opts->precision, opts->max_batch, opts->max_context);
    if (!e->model) {
        engine_free(e);
        return NULL;
    }
    e->ctx = infer_model_context(e->model);
    e->vocab = cfg->vocab_size;
    e->rows = e->nslots > INFER_MAX_PREFILL_ROWS ? e->nslots : INFER_MAX_PREFILL_ROWS;
    e->slots = calloc((size_t)e->nslots, sizeof *e->slots);
    e->events = calloc((size_t)e->nslots, sizeof *e->events);
    e->row_tokens = malloc((size_t)e->rows * sizeof *e->row_tokens);
    e->row_slot = malloc((size_t)e->rows * sizeof *e->row_slot);
    e->row_pos = malloc((size_t)e->rows * sizeof *e->row_pos);
    e->logit_rows = malloc((size_t)e->rows * sizeof *e->logit_rows);
    if (!e->slots || !e->events || !e->row_tokens || !e->row_slot || !e->row_pos || !e->logit_rows) {
        kr_error("out of memory");
        engine_free(e);
        return NULL;
    }
    for (int i = 0; i < e->nslots; i++) {
        Slot *s = &e->slots[i];
        if (!(s->tokens = malloc((size_t)e->ctx * sizeof *s->tokens)) || sampler_init(&s->sampler, e->vocab) != 0 ||
            gentext_init(&s->text, (size_t)e->ctx * 8) != 0) { /* ~8 bytes a token: no growth in the decode loop */
            kr_error("out of memory for %d sequences of %d tokens", e->nslots, e->ctx);
            engine_free(e);
            return NULL;
        }
    }
    return e;
}

static Slot *find_slot(const Engine *e, int64_t id) {
    for (int i = 0; i < e->nslots; i++)
        if (e->slots[i].state != SLOT_FREE && e->slots[i].id == id) return &e->slots[i];
    return NULL;
}

int64_t engine_add(Engine *e, const int32_t *prompt, int n, const GenRequest *req) {
    if (n < 1) return kr_error("the prompt is empty (it needs at least one token, e.g. BOS)");
    if (n >= e->ctx) return kr_error("the prompt has %d tokens; the context holds %d including the reply", n, e->ctx);
    if (req->max_new_tokens < 1) return kr_error("max_new_tokens must be at least 1");
    if (req->num_stop_tokens > MAX_STOP_TOKENS) return kr_error("at most %d stop tokens", MAX_STOP_TOKENS);
    if (sampler_config_validate(&req->sampler) != 0) return -1;
    for (int i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= e->vocab)
            return kr_error("prompt token %d is %d, outside the vocabulary of %d", i, (int)prompt[i], e->vocab);
    Slot *s = NULL;
    for (int i = 0; i < e->nslots && !s; i++)
        if (e->slots[i].state == SLOT_FREE || e->slots[i].state == SLOT_DONE) s = &e->slots[i];
    if (!s) return kr_error("all %d sequence slots are busy", e->nslots);
    if (gentext_begin(&s->text, req->stop, req->num_stop, 0) != 0) return -1;
    memcpy(s->tokens, prompt, (size_t)n * sizeof *prompt);
    s->n_prompt = s->n_total = n;
    s->max_new = req->max_new_tokens;
    s->num_stop_tokens = req->num_stop_tokens;
    if (req->num_stop_tokens) memcpy(s->stop_tokens, req->stop_tokens, (size_t)req->num_stop_tokens * sizeof(int32_t));
    sampler_reset(&s->sampler, &req->sampler);
    s->id = e->next_id++;
    s->state = SLOT_PREFILL;
    return s->id;
}

int engine_cancel(Engine *e, int64_t id) {
    Slot *s = find_slot(e, id);
    if (!s) return kr_error("no sequence with id %lld", (long long)id);
    s->state = SLOT_DONE;
    return 0;
}

int engine_active(const Engine *e) {
    int n = 0;
    for (int i = 0; i < e->nslots; i++) n += e->slots[i].state == SLOT_PREFILL || e->slots[i].state == SLOT_DECODE;
    return n;
}

int engine_free_slots(const Engine *e) {
    int n = 0;
    for (int i = 0; i < e->nslots; i++) n += e->slots[i].state == SLOT_FREE || e->slots[i].state == SLOT_DONE;
    return n;
}

static int is_stop_token(const Slot *s, int32_t t, int32_t eos) {
    if (t == eos) return 1;
    for (int i = 0; i < s->num_stop_tokens; i++)
        if (s->stop_tokens[i] == t) return 1;
    return 0;
}

/* Samples the next token of slot `s` from its logits and fills its event. */
static int take_token(Engine *e, Slot *s, float *logits, EngineEvent *ev) {
    int32_t t = sampler_sample(&s->sampler, logits, s->tokens, s->n_total);
    s->tokens[s->n_total++] = t;
    ev->id = s->id;
    ev->token = t;
    ev->finish = FINISH_NONE;
    const char *start = s->text.buf + s->text.released, *out;
    size_t n = 0;
    if (is_stop_token(s, t, e->opt.eos_id)) {
        ev->finish = FINISH_EOS;
    } else if (e->opt.token_bytes) {
        char piece[256];
        int k = e->opt.token_bytes(e->opt.token_ctx, t, piece, (int)sizeof piece);
        if (k < 0) return kr_error("cannot turn token %d into text", (int)t);
        int rc = gentext_push(&s->text, piece, (size_t)k, &out, &n);
        if (rc < 0) return -1;
        start = out;
        if (rc == 1) ev->finish = FINISH_STOP;
    }
    if (ev->finish == FINISH_NONE) {
        if (s->n_total - s->n_prompt >= s->max_new) ev->finish = FINISH_LENGTH;
        else if (s->n_total >= e->ctx) ev->finish = FINISH_CONTEXT;
    }
    if (ev->finish != FINISH_NONE && ev->finish != FINISH_STOP) {
        size_t more;
        gentext_finish(&s->text, &out, &more);
        if (n == 0) start = out;
        n += more;
    }
    ev->text = start;
    ev->text_len = n;
    if (ev->finish != FINISH_NONE) s->state = SLOT_DONE;
    return 0;
}

static int prefill(Engine *e, int si) {
    Slot *s = &e->slots[si];
    double t0 = kr_now();
    for (int start = 0; start < s->n_prompt; start += INFER_MAX_PREFILL_ROWS) {
        int n = s->n_prompt - start < INFER_MAX_PREFILL_ROWS ? s->n_prompt - start : INFER_MAX_PREFILL_ROWS;
        for (int r = 0; r < n; r++) {
            e->row_tokens[r] = s->tokens[start + r];
            e->row_slot[r] = si;
            e->row_pos[r] = start + r;
        }
        int last = n - 1, want = start + n == s->n_prompt;
        if (infer_model_forward(e->model, n, e->row_tokens, e->row_slot, e->row_pos, 1, want, &last) != 0) return -1;
    }
    e->stats.prefill_seconds += kr_now() - t0;
    e->stats.prefill_tokens += s->n_prompt;
    s->state = SLOT_DECODE;
    s->fresh = 1;
    return 0;
}

int engine_step(Engine *e, const EngineEvent **events) {
    int nev = 0;
    *events = e->events;
    for (int i = 0; i < e->nslots; i++) {
        if (e->slots[i].state == SLOT_DONE) e->slots[i].state = SLOT_FREE;
        e->slots[i].fresh = 0;
    }
    for (int i = 0; i < e->nslots; i++) {
        Slot *s = &e->slots[i];
        if (s->state != SLOT_PREFILL) continue;
        if (prefill(e, i) != 0 || take_token(e, s, infer_model_logits(e->model), &e->events[nev++]) != 0) {
            s->state = SLOT_DONE;
            return -1;
        }
    }
    int n = 0;
    for (int i = 0; i < e->nslots; i++) {
        Slot *s = &e->slots[i];
        if (s->state != SLOT_DECODE || s->fresh) continue;
        e->row_tokens[n] = s->tokens[s->n_total - 1];
        e->row_slot[n] = i;
        e->row_pos[n] = s->n_total - 1;
        e->logit_rows[n] = n;
        n++;
    }
    if (n > 0) {
        double t0 = kr_now();
        if (infer_model_forward(e->model, n, e->row_tokens, e->row_slot, e->row_pos, 0, n, e->logit_rows) != 0) return -1;
        float *logits = infer_model_logits(e->model);
        for (int r = 0; r < n; r++)
            if (take_token(e, &e->slots[e->row_slot[r]], logits + (size_t)r * e->vocab, &e->events[nev++]) != 0) return -1;
        e->stats.decode_seconds += kr_now() - t0;
        e->stats.decode_tokens += n;
    }
    e->stats.steps++;
    return nev;
}

const int32_t *engine_tokens(const Engine *e, int64_t id, int *n_prompt, int *n_total) {
    Slot *s = find_slot(e, id);
    if (!s) return NULL;
    if (n_prompt) *n_prompt = s->n_prompt;
    if (n_total) *n_total = s->n_total;
    return s->tokens;
}

const char *engine_text(const Engine *e, int64_t id, size_t *len) {
    Slot *s = find_slot(e, id);
    if (!s) return NULL;
    if (len) *len = s->text.released;
    return s->text.buf;
}

EngineStats engine_stats(const Engine *e) { return e->stats; }
void engine_reset_stats(Engine *e) { memset(&e->stats, 0, sizeof e->stats); }
InferModel *engine_model(Engine *e) { return e->model; }
