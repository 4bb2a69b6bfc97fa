/* A stand-in model: tokens are bytes (0..255) plus an end token (256). It "writes" Korean and
 * English words chosen by hashing (prompt, seed, position), so its answers depend only on the
 * request, never on which other sequences share the batch — which is exactly what the server
 * must preserve. Multi-byte characters span several tokens, exercising UTF-8 hold-back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/fileio.h"
#include "serve/generator.h"

#define FAKE_END 256

static const char *const fake_words[] = {
    "안녕하세요", " 한국어", " 모델", "입니다", ". ", " 서울", "은", " 오늘", " 날씨가", " 좋습니다",
    " hello", " world", ",", " 작은", " 언어", "\n",
};
#define NWORDS (int)(sizeof fake_words / sizeof fake_words[0])

typedef struct {
    int active;
    uint64_t key;  /* hash of prompt and settings */
    int pos;       /* generated tokens so far */
    int word, off; /* current word and byte offset in it */
} FakeSeq;

typedef struct {
    Generator g;
    int step_ms;
    FakeSeq *seq;
} FakeGen;

static int fake_encode(void *self, const char *text, size_t len, int *ids, int cap) {
    (void)self;
    for (size_t i = 0; i < len && (int)i < cap; i++) ids[i] = (unsigned char)text[i];
    return (int)len;
}

/* <|system|>S<|user|>U<|assistant|>A…<|user|>U<|assistant|> */
static char *fake_chat_prompt(void *self, const char *system, const char *const *turns, int n, const char **stop_text) {
    (void)self;
    *stop_text = NULL;
    size_t total = (system ? strlen(system) : 0) + 64;
    for (int i = 0; i < n; i++) total += strlen(turns[i]) + 16;
    char *s = malloc(total), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "%s%s", system ? "<|system|>" : "", system ? system : "");
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i % 2 ? "<|assistant|>" : "<|user|>", turns[i]);
    strcpy(p, "<|assistant|>");
    return s;
}

static int fake_add(void *self, const int *ids, int n, const SamplingSettings *s) {
    FakeGen *f = self;
    for (int slot = 0; slot < f->g.max_batch; slot++) {
        FakeSeq *q = &f->seq[slot];
        if (q->active) continue;
        uint64_t k = kr_hash64(ids, (size_t)n * sizeof *ids, 0x5eed);
        /* Greedy decoding ignores the seed, like a real sampler. */
        uint64_t knobs[5] = {s->temperature > 0 ? s->seed : 0, (uint64_t)(s->temperature * 1000),
                             (uint64_t)s->top_k, (uint64_t)(s->top_p * 1000),
                             (uint64_t)(s->repetition_penalty * 1000)};
        q->key = kr_hash64(knobs, sizeof knobs, k);
        q->pos = 0;
        q->word = -1;
        q->off = 0;
        q->active = 1;
        return slot;
    }
    return kr_error("fake generator: all %d slots are busy", f->g.max_batch);
}

static int next_token(FakeSeq *q) {
    if (q->word < 0 || fake_words[q->word][q->off] == 0) {
        uint64_t h = kr_hash64(&q->pos, sizeof q->pos, q->key);
        if (q->pos > 0 && h % 23 == 0) return FAKE_END;
        q->word = (int)((h >> 8) % NWORDS);
        q->off = 0;
    }
    return (unsigned char)fake_words[q->word][q->off++];
}

static int fake_step(void *self, int *next, unsigned char *ended) {
    FakeGen *f = self;
    if (f->step_ms > 0) {
        struct timespec ts = {f->step_ms / 1000, (long)(f->step_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int slot = 0; slot < f->g.max_batch; slot++) {
        FakeSeq *q = &f->seq[slot];
        if (!q->active) continue;
        next[slot] = next_token(q);
        ended[slot] = 0;
        q->pos++;
    }
    return 0;
}

static void fake_remove(void *self, int slot) {
    FakeGen *f = self;
    f->seq[slot].active = 0;
}

static int fake_token_bytes(void *self, int token, int is_first, char *out, int cap) {
    (void)self;
    if (token < 0 || token >= 256 || cap < 1 || (is_first && token == ' ')) return 0;
    out[0] = (char)token;
    return 1;
}

static int fake_is_end(void *self, int token) {
    (void)self;
    return token == FAKE_END;
}

static void fake_destroy(void *self) {
    FakeGen *f = self;
    free(f->seq);
    free(f);
}

Generator *fake_generator_create(int max_batch, int context_len, int step_ms) {
    FakeGen *f = calloc(1, sizeof *f);
    if (f) f->seq = calloc((size_t)max_batch, sizeof *f->seq);
    if (!f || !f->seq) {
        free(f);
        kr_error("out of memory creating the fake generator");
        return NULL;
    }
    f->step_ms = step_ms;
    f->g = (Generator){
        .self = f,
        .model_id = "krllm-fake",
        .context_len = context_len,
        .max_batch = max_batch,
        .encode = fake_encode,
        .chat_prompt = fake_chat_prompt,
        .add = fake_add,
        .step = fake_step,
        .remove = fake_remove,
        .token_bytes = fake_token_bytes,
        .is_end = fake_is_end,
        .destroy = fake_destroy,
    };
    return &f->g;
}
