/* The boundary between the HTTP server and a model: what the scheduler needs to run continuous
 * batching. One scheduler thread owns a Generator and is the only caller of add/step/remove;
 * `encode` is also called from connection threads and must be thread-safe. Implementations:
 * the real inference engine (engine_generator.c) and a deterministic stand-in for tests
 * (fake_generator.c). */
#ifndef KR_SERVE_GENERATOR_H
#define KR_SERVE_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float temperature;        /* 0 = greedy */
    float top_p;              /* 1 = off */
    int top_k;                /* 0 = off */
    float repetition_penalty; /* 1 = off */
    uint64_t seed;
} SamplingSettings;

typedef struct Generator Generator;
struct Generator {
    void *self;
    const char *model_id;
    int context_len; /* tokens: prompt + generated must fit */
    int max_batch;   /* sequences that can decode together (slots 0..max_batch-1) */

    /* Tokenises UTF-8 text into ids[0..cap); returns the token count (which may exceed cap: then
     * only cap ids were written) or -1 with kr_error. Thread-safe. */
    int (*encode)(void *self, const char *text, size_t len, int *ids, int cap);
    /* The model's chat format: the prompt for a conversation (system may be NULL; turns
     * alternate user / assistant and end with user), malloc'd. *stop_text is set to a string
     * that ends the reply when the format needs one (else NULL). Thread-safe. */
    char *(*chat_prompt)(void *self, const char *system, const char *const *turns, int n, const char **stop_text);
    /* Starts a sequence from a prompt; returns its slot, or -1 with kr_error. */
    int (*add)(void *self, const int *ids, int n, const SamplingSettings *s);
    /* Decodes one token for every active sequence: next_token[slot] for each active slot (-1:
     * none this step); ended[slot] = 1 when the model cannot continue that sequence (its context
     * is full). Returns 0, or -1 with kr_error. */
    int (*step)(void *self, int *next_token, unsigned char *ended);
    /* Ends a sequence and frees its slot. */
    void (*remove)(void *self, int slot);
    /* The bytes a token stands for (possibly part of a UTF-8 character) into out[0..cap);
     * is_first: the token starts a text (a word-leading space is dropped). Returns the count. */
    int (*token_bytes)(void *self, int token, int is_first, char *out, int cap);
    /* Whether a token ends generation (end of sequence, or the start of the next chat turn). */
    int (*is_end)(void *self, int token);
    void (*destroy)(void *self);
};

/* A deterministic stand-in model for tests and benchmarks of the HTTP layer: byte tokens, a
 * context of `context_len`, output a function of (prompt, settings) only, never of the batch.
 * `step_ms` slows each step down to make timing-dependent behaviour observable. */
Generator *fake_generator_create(int max_batch, int context_len, int step_ms);

/* The real model: a checkpoint (or run) directory as `krllm generate` loads it, with its own
 * tokenizer unless `tokenizer` (a .model path) is given; precision as infer_precision_parse takes
 * it (NULL = fp32); threads <= 0: the default. */
Generator *engine_generator_create(const char *checkpoint, const char *tokenizer, const char *precision,
                                   int max_batch, int threads);

static inline void generator_destroy(Generator *g) {
    if (g) g->destroy(g->self);
}

#endif
