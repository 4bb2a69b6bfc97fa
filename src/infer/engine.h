/* The generation engine: many sequences decoded together, each with its own sampler settings,
 * stop strings and length limit, joining and leaving at any step (continuous batching).
 *
 *   Engine *e = engine_create(&cfg, params, &opts);
 *   int64_t id = engine_add(e, prompt, n, &req);      // queued; prefilled at the next step
 *   while (engine_active(e) > 0) {
 *       const EngineEvent *ev; int k = engine_step(e, &ev);   // one token for every sequence
 *       for (i < k) { stream ev[i].text; if (ev[i].finish) ... }
 *   }
 *   engine_free(e);
 *
 * A step prefills the prompts of newly added sequences (matrix-matrix work, each sequence on
 * its own) and then decodes one token for every other running sequence in one batch. A row's
 * arithmetic does not depend on its batch companions, so results equal single-prompt runs.
 * Not thread-safe: one thread drives an engine. */
#ifndef KR_INFER_ENGINE_H
#define KR_INFER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "infer/infer_model.h"
#include "infer/sampler.h"
#include "model/config.h"

/* Writes the bytes of token `id` (as they continue a text) into out[0..cap); returns the byte
 * count, or -1 on error. */
typedef int (*EngineTokenBytes)(void *ctx, int32_t id, char *out, int cap);

typedef struct {
    InferPrecision precision;
    int max_batch;               /* sequences decoded together (KV cache slots) */
    int max_context;             /* positions per sequence; 0 = the model's max_seq_len */
    int32_t eos_id;              /* ends a sequence (not part of its text); -1: none */
    EngineTokenBytes token_bytes; /* NULL: events carry tokens only, stop strings never match */
    void *token_ctx;
} EngineOptions;

typedef struct {
    SamplerConfig sampler;
    int max_new_tokens;          /* > 0 */
    const char *const *stop;     /* stop strings (copied by engine_add) */
    int num_stop;
    const int32_t *stop_tokens;  /* further tokens that end the sequence like EOS (copied) */
    int num_stop_tokens;
} GenRequest;

typedef enum {
    FINISH_NONE = 0, /* still running */
    FINISH_EOS,      /* the model produced the end-of-sequence token or a stop token */
    FINISH_STOP,     /* a stop string appeared (it is not part of the text) */
    FINISH_LENGTH,   /* max_new_tokens reached */
    FINISH_CONTEXT,  /* the context window is full */
    FINISH_CANCELLED /* engine_cancel */
} FinishReason;

const char *finish_reason_name(FinishReason r);

typedef struct {
    int64_t id;
    int32_t token;     /* the token sampled in this step */
    const char *text;  /* newly released text (may be empty: held back or end) */
    size_t text_len;
    FinishReason finish;
} EngineEvent;

typedef struct {
    int64_t prefill_tokens, decode_tokens, steps;
    double prefill_seconds, decode_seconds;
} EngineStats;

typedef struct Engine Engine;

/* params: the flat fp32 parameters (e.g. LoadedModel.params); must outlive the engine. */
Engine *engine_create(const ModelConfig *cfg, const float *params, const EngineOptions *opts);
void engine_free(Engine *e);

/* Queues a sequence (it may take the slot of a finished one, whose tokens and text are then
 * gone); returns its id (>= 0), or -1 with an error when the batch is full, the
 * prompt is empty / too long for the context, or the request is invalid. */
int64_t engine_add(Engine *e, const int32_t *prompt, int n, const GenRequest *req);
/* Ends a sequence now (its slot is freed at the next step); 0, or -1 for an unknown id. */
int engine_cancel(Engine *e, int64_t id);
/* Sequences added and not yet finished. */
int engine_active(const Engine *e);
/* Slots free for engine_add. */
int engine_free_slots(const Engine *e);

/* Advances every running sequence by one token. *events points to an engine-owned array
 * (valid until the next call) of one event per sequence that produced a token or finished.
 * Returns the event count, or -1 on error. Sequences finished in a step release their slots at
 * the start of the next one. */
int engine_step(Engine *e, const EngineEvent **events);

/* The tokens of a sequence (prompt then generated) and its text so far; a finished sequence
 * stays readable until the next engine_step or engine_add. NULL for an unknown id. */
const int32_t *engine_tokens(const Engine *e, int64_t id, int *n_prompt, int *n_total);
const char *engine_text(const Engine *e, int64_t id, size_t *len);

EngineStats engine_stats(const Engine *e);
void engine_reset_stats(Engine *e);
InferModel *engine_model(Engine *e);

#endif
