/* The generation engine: a seed reproduces a generation, batched results equal single-prompt
 * results (prompts of different lengths finishing at different times), stop strings and stop
 * tokens end a sequence and are cut from the text, text is released on UTF-8 boundaries,
 * cancellation and context limits. */
#include <string.h>

#include "common/error.h"
#include "infer/engine.h"
#include "infer/gentext.h"
#include "infer_testutil.h"
#include "test.h"

/* A stand-in detokenizer: token t is the letter 'a' + t % 26; token 26 is "é" (2 bytes). */
static int letters(void *ctx, int32_t id, char *out, int cap) {
    (void)ctx;
    (void)cap;
    if (id % 32 == 26) {
        out[0] = (char)0xC3;
        out[1] = (char)0xA9;
        return 2;
    }
    out[0] = (char)('a' + id % 26);
    return 1;
}

typedef struct {
    int32_t tokens[128];
    int n;
    char text[256];
    size_t text_len;
    FinishReason finish;
} Result;

static Engine *make_engine(const ModelConfig *c, const float *p, int batch, int ctx) {
    EngineOptions o = {PREC_FP32, batch, ctx, -1, letters, NULL};
    Engine *e = engine_create(c, p, &o);
    CHECK_MSG(e != NULL, "%s", kr_last_error());
    return e;
}

/* Runs prompts[i] (lengths lens[i]) with requests req[i] together; streams into res[i]. */
static void run_batch(Engine *e, int n, int32_t (*prompts)[16], const int *lens, const GenRequest *req, Result *res) {
    int64_t ids[8];
    memset(res, 0, (size_t)n * sizeof *res);
    for (int i = 0; i < n; i++) {
        ids[i] = engine_add(e, prompts[i], lens[i], &req[i]);
        CHECK_MSG(ids[i] >= 0, "%s", kr_last_error());
    }
    const EngineEvent *ev;
    int k, guard = 0;
    while (engine_active(e) > 0 && (k = engine_step(e, &ev)) >= 0 && guard++ < 1000)
        for (int j = 0; j < k; j++)
            for (int i = 0; i < n; i++) {
                if (ev[j].id != ids[i]) continue;
                Result *r = &res[i];
                r->tokens[r->n++] = ev[j].token;
                memcpy(r->text + r->text_len, ev[j].text, ev[j].text_len);
                r->text_len += ev[j].text_len;
                r->finish = ev[j].finish;
            }
}

static GenRequest sampled(uint64_t seed, int max_new) {
    GenRequest r = {sampler_config_default(), max_new, NULL, 0, NULL, 0};
    r.sampler.temperature = 0.9f;
    r.sampler.top_k = 20;
    r.sampler.top_p = 0.9f;
    r.sampler.repetition_penalty = 1.1f;
    r.sampler.seed = seed;
    return r;
}

static int same(const Result *a, const Result *b) {
    return a->n == b->n && !memcmp(a->tokens, b->tokens, (size_t)a->n * sizeof(int32_t)) && a->text_len == b->text_len &&
           !memcmp(a->text, b->text, a->text_len) && a->finish == b->finish;
}

static void test_batch_and_determinism(const ModelConfig *c, const float *p) {
    int32_t prompts[5][16] = {{1, 2, 3}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12}, {40}, {5, 5, 5, 5, 5}, {33, 21, 60, 2, 2, 9, 14, 3, 1}};
    int lens[5] = {3, 12, 1, 5, 9};
    GenRequest req[5];
    for (int i = 0; i < 5; i++) req[i] = sampled(100 + i, 6 + 5 * i); /* finish at different steps */
    req[2].sampler.greedy = 1;
    Result single[5], batch[5], again[5];
    Engine *e1 = make_engine(c, p, 1, 64);
    for (int i = 0; i < 5; i++) run_batch(e1, 1, &prompts[i], &lens[i], &req[i], &single[i]);
    engine_free(e1);
    Engine *e5 = make_engine(c, p, 5, 64);
    run_batch(e5, 5, prompts, lens, req, batch);
    run_batch(e5, 5, prompts, lens, req, again); /* slots reused */
    for (int i = 0; i < 5; i++) {
        CHECK_MSG(same(&single[i], &batch[i]), "prompt %d: batched result differs from the single-prompt result", i);
        CHECK_MSG(same(&batch[i], &again[i]), "prompt %d: same seed, different result", i);
        CHECK(batch[i].n == req[i].max_new_tokens && batch[i].finish == FINISH_LENGTH);
        CHECK(batch[i].text_len >= (size_t)batch[i].n); /* one or two bytes per token */
    }
    /* another seed gives another generation */
    GenRequest other = sampled(999, 16);
    Result r;
    run_batch(e5, 1, &prompts[4], &lens[4], &other, &r);
    CHECK(!same(&r, &batch[4]));
    /* a sequence joining while another runs (continuous batching) still matches */
    int64_t ids[2] = {-1, -1};
    ids[0] = engine_add(e5, prompts[1], lens[1], &req[1]);
    const EngineEvent *ev;
    Result joined[2];
    memset(joined, 0, sizeof joined);
    for (int step = 0; engine_active(e5) > 0 || step < 3; step++) {
        if (step == 2) ids[1] = engine_add(e5, prompts[3], lens[3], &req[3]);
        int k = engine_step(e5, &ev);
        CHECK(k >= 0);
        for (int j = 0; j < k; j++)
            for (int i = 0; i < 2; i++)
                if (ev[j].id == ids[i]) joined[i].tokens[joined[i].n++] = ev[j].token;
    }
    CHECK(joined[0].n == single[1].n && !memcmp(joined[0].tokens, single[1].tokens, (size_t)single[1].n * sizeof(int32_t)));
    CHECK(joined[1].n == single[3].n && !memcmp(joined[1].tokens, single[3].tokens, (size_t)single[3].n * sizeof(int32_t)));
    engine_free(e5);
}

static void test_stops(const ModelConfig *c, const float *p) {
    Engine *e = make_engine(c, p, 2, 64);
    int32_t prompt[16] = {3, 1, 4, 1, 5};
    int len = 5;
    GenRequest req = sampled(1, 40);
    Result full;
    run_batch(e, 1, &prompt, &len, &req, &full);
    CHECK(full.n == 40 && full.text_len >= 40);
    /* stop at a string that appears in the middle of the unrestricted text (spanning tokens) */
    char stop[3] = {full.text[20], full.text[21], 0};
    size_t at = (size_t)(strstr(full.text, stop) - full.text);
    const char *stops[2] = {"never-appears", stop};
    req.stop = stops;
    req.num_stop = 2;
    Result cut;
    run_batch(e, 1, &prompt, &len, &req, &cut);
    CHECK(cut.finish == FINISH_STOP);
    CHECK_MSG(cut.text_len == at && !memcmp(cut.text, full.text, at), "stopped text has %zu bytes, expected %zu", cut.text_len, at);
    CHECK(cut.n < full.n && !memcmp(cut.tokens, full.tokens, (size_t)cut.n * sizeof(int32_t)));
    /* a stop token ends it too (like EOS), and contributes no text */
    req.num_stop = 0;
    int32_t st = full.tokens[10];
    int first = 0;
    while (full.tokens[first] != st) first++;
    req.stop_tokens = &st;
    req.num_stop_tokens = 1;
    run_batch(e, 1, &prompt, &len, &req, &cut);
    CHECK(cut.finish == FINISH_EOS && cut.n == first + 1);
    /* the context window ends a sequence */
    req.num_stop_tokens = 0;
    req.max_new_tokens = 1000;
    Engine *small = make_engine(c, p, 1, 16);
    run_batch(small, 1, &prompt, &len, &req, &cut);
    CHECK(cut.finish == FINISH_CONTEXT && cut.n == 16 - len);
    /* cancel, errors */
    int64_t id = engine_add(small, prompt, len, &req);
    CHECK(engine_cancel(small, id) == 0 && engine_active(small) == 0);
    CHECK(engine_cancel(small, 12345) != 0);
    const EngineEvent *ev;
    CHECK(engine_step(small, &ev) == 0 && engine_free_slots(small) == 1);
    CHECK(engine_add(small, prompt, 0, &req) < 0);
    int32_t longp[16] = {0};
    CHECK(engine_add(small, longp, 16, &req) < 0 && strstr(kr_last_error(), "context"));
    int32_t badp[1] = {100000};
    CHECK(engine_add(small, badp, 1, &req) < 0 && strstr(kr_last_error(), "vocabulary"));
    CHECK(engine_add(small, prompt, len, &req) >= 0 && engine_add(small, prompt, len, &req) < 0); /* full */
    engine_free(small);
    engine_free(e);
}

static void test_gentext(void) {
    GenText t;
    CHECK(gentext_init(&t, 4) == 0); /* tiny: growth is exercised */
    const char *stops[1] = {"END"};
    CHECK(gentext_begin(&t, stops, 1, 0) == 0);
    const char *out;
    size_t n;
    CHECK(gentext_push(&t, "ab\xEA", 3, &out, &n) == 0 && n == 2); /* partial UTF-8 held */
    CHECK(gentext_push(&t, "\xB0\x80" "E", 3, &out, &n) == 0 && n == 3 && !memcmp(out, "\xEA\xB0\x80", 3)); /* "E" held */
    CHECK(gentext_push(&t, "N", 1, &out, &n) == 0 && n == 0); /* "EN" held */
    CHECK(gentext_push(&t, "Nx", 2, &out, &n) == 0 && n == 4 && !memcmp(out, "ENNx", 4)); /* no longer a prefix */
    CHECK(gentext_push(&t, "E", 1, &out, &n) == 0 && n == 0);
    gentext_finish(&t, &out, &n);
    CHECK(n == 1 && out[0] == 'E');
    CHECK(gentext_begin(&t, stops, 1, 0) == 0);
    CHECK(gentext_push(&t, "xxEN", 4, &out, &n) == 0 && n == 2);
    CHECK(gentext_push(&t, "Dyy", 3, &out, &n) == 1 && n == 0 && t.released == 2);
    gentext_finish(&t, &out, &n);
    CHECK(n == 0);
    gentext_free(&t);
}

/* Replacing mode, as the server uses it: invalid bytes become U+FFFD. */
static void test_gentext_replacing(void) {
    GenText t;
    const char *out;
    size_t n;
    const char *stops[] = {"끝.", "STOP"};
    CHECK(gentext_init(&t, 4) == 0 && gentext_begin(&t, stops, 2, 1) == 0);
    const char *hangul = "가"; /* EA B0 80 */
    CHECK(gentext_push(&t, hangul, 1, &out, &n) == 0 && t.released == 0);
    CHECK(gentext_push(&t, hangul + 1, 1, &out, &n) == 0 && t.released == 0);
    CHECK(gentext_push(&t, hangul + 2, 1, &out, &n) == 0 && t.released == 3);
    CHECK(gentext_push(&t, "ST", 2, &out, &n) == 0 && t.released == 3); /* may become STOP */
    CHECK(gentext_push(&t, "x", 1, &out, &n) == 0 && t.released == 6);
    CHECK(gentext_push(&t, "\xff", 1, &out, &n) == 0 && t.released == 9 && !memcmp(t.buf + 6, "\xEF\xBF\xBD", 3));
    /* "끝." split across tokens, the first half of 끝 in one token. */
    CHECK(gentext_push(&t, "\xEB\x81", 2, &out, &n) == 0 && t.released == 9);
    CHECK(gentext_push(&t, "\x9D", 1, &out, &n) == 0 && t.released == 9);
    CHECK(gentext_push(&t, ". more", 6, &out, &n) == 1 && t.stopped && t.released == 9);
    CHECK(gentext_push(&t, "z", 1, &out, &n) == 1 && t.released == 9);
    gentext_free(&t);

    /* A broken character: its lead byte becomes U+FFFD and the next byte starts afresh. */
    CHECK(gentext_init(&t, 1) == 0 && gentext_begin(&t, NULL, 0, 1) == 0);
    CHECK(gentext_push(&t, "\xEA" "A", 2, &out, &n) == 0 && t.len == 4 && !memcmp(t.buf, "\xEF\xBF\xBD" "A", 4));
    CHECK(gentext_push(&t, "\xEA\xB0", 2, &out, &n) == 0 && t.released == 4);
    gentext_finish(&t, &out, &n);
    CHECK(t.released == 4 && t.len == 4); /* half a character at the end is dropped */
    gentext_free(&t);

    CHECK(utf8_valid("한국어 ok", strlen("한국어 ok")));
    CHECK(!utf8_valid("\xC0\x80", 2));         /* overlong */
    CHECK(!utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    CHECK(!utf8_valid("\xF4\x90\x80\x80", 4)); /* past U+10FFFF */
    CHECK(!utf8_valid("\xEA\xB0", 2));         /* truncated */
}

int main(void) {
    ModelConfig c = tiny_config(64, 48, 2, 4, 2, 96, 64, 0.3f);
    float *p = random_params(&c, 5, NULL);
    test_batch_and_determinism(&c, p);
    test_stops(&c, p);
    test_gentext();
    test_gentext_replacing();
    free(p);
    return test_summary("test_engine");
}
