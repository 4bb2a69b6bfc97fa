/* The server's pieces without HTTP: streamed text (UTF-8 hold-back, stop strings), request
 * validation, the fuzz corpus replayed, train.log reading, metrics text, and the continuous-
 * batching scheduler with the stand-in model (answers independent of their batch companions). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "infer/gentext.h"
#include "serve/generator.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/scheduler.h"
#include "serve/trainlog.h"
#include "test.h"

static int parse(const char *body, RequestKind kind, ServeRequest *r, ApiError *e) {
    RequestLimits lim = {.max_tokens_cap = 100, .default_max_tokens = 16};
    return serve_parse_request(body, strlen(body), kind, &lim, r, e);
}

static void expect_reject(const char *body, RequestKind kind, const char *param, const char *needle) {
    ServeRequest r;
    ApiError e;
    int rc = parse(body, kind, &r, &e);
    CHECK_MSG(rc == -1, "accepted: %s", body);
    if (rc == 0) {
        serve_request_free(&r);
        return;
    }
    CHECK_MSG(e.status == 400 && !strcmp(e.param, param), "%s: status %d param '%s'", body, e.status, e.param);
    CHECK_MSG(strstr(e.message, needle) != NULL, "%s: message '%s' lacks '%s'", body, e.message, needle);
    char *json = api_error_json(&e);
    CHECK(json && strstr(json, "\"invalid_request_error\""));
    free(json);
}

static void test_request(void) {
    ServeRequest r;
    ApiError e;
    CHECK(parse("{\"prompt\":\"안녕\",\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":3,\"seed\":12,"
                "\"stop\":[\"a\",\"bb\"],\"stream\":true,\"repetition_penalty\":1.3,\"model\":\"x\",\"user\":null}",
                REQ_COMPLETION, &r, &e) == 0);
    CHECK(!strcmp(r.prompt, "안녕") && r.max_tokens == 7 && r.stream && r.has_seed && r.sampling.seed == 12);
    CHECK_NEAR(r.sampling.temperature, 0.5, 1e-6);
    CHECK_NEAR(r.sampling.top_p, 0.9, 1e-6);
    CHECK_NEAR(r.sampling.repetition_penalty, 1.3, 1e-6);
    CHECK(r.sampling.top_k == 3 && r.nstop == 2 && !strcmp(r.stop[1], "bb"));
    serve_request_free(&r);

    CHECK(parse("{\"prompt\":\"x\",\"stop\":\"end\",\"temperature\":null}", REQ_COMPLETION, &r, &e) == 0);
    CHECK(r.max_tokens == 16 && r.nstop == 1 && !r.has_seed && r.sampling.temperature == 1.0f);
    serve_request_free(&r);

    CHECK(parse("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"안녕\"}],"
                "\"stream_options\":{\"include_usage\":true}}",
                REQ_CHAT, &r, &e) == 0);
    CHECK(!strcmp(r.system, "S") && r.nturns == 1 && !strcmp(r.turns[0], "안녕") && !r.prompt);
    CHECK(r.include_usage);
    serve_request_free(&r);
    CHECK(parse("{\"messages\":[{\"role\":\"system\",\"content\":\"a\"},{\"role\":\"system\",\"content\":\"b\"},"
                "{\"role\":\"user\",\"content\":\"u1\"},{\"role\":\"assistant\",\"content\":\"a1\"},"
                "{\"role\":\"user\",\"content\":\"u2\"}]}",
                REQ_CHAT, &r, &e) == 0);
    CHECK(!strcmp(r.system, "a\nb") && r.nturns == 3 && !strcmp(r.turns[1], "a1") && !strcmp(r.turns[2], "u2"));
    serve_request_free(&r);
    expect_reject("{\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"user\",\"content\":\"v\"}]}",
                  REQ_CHAT, "messages", "alternates");
    expect_reject("{\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\",\"content\":\"a\"}]}",
                  REQ_CHAT, "messages", "last message");
    expect_reject("{\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"system\",\"content\":\"s\"}]}",
                  REQ_CHAT, "messages", "before the conversation");

    expect_reject("{\"prompt\":\"x\"", REQ_COMPLETION, "", "malformed JSON");
    expect_reject("{\"prompt\":\"x\"} {}", REQ_COMPLETION, "", "after the JSON");
    expect_reject("[1]", REQ_COMPLETION, "", "JSON object");
    expect_reject("{\"prompt\":\"x\",\"temprature\":1}", REQ_COMPLETION, "temprature", "unknown field");
    expect_reject("{\"prompt\":\"x\",\"max_tokens\":101}", REQ_COMPLETION, "max_tokens", "between");
    expect_reject("{\"prompt\":\"x\",\"max_tokens\":2.5}", REQ_COMPLETION, "max_tokens", "integer");
    expect_reject("{\"prompt\":\"x\",\"top_k\":\"5\"}", REQ_COMPLETION, "top_k", "integer");
    expect_reject("{\"prompt\":\"x\",\"stop\":[1]}", REQ_COMPLETION, "stop", "string");
    expect_reject("{\"prompt\":\"x\",\"prompt\":\"y\"}", REQ_COMPLETION, "prompt", "twice");
    expect_reject("{\"messages\":[]}", REQ_COMPLETION, "messages", "unknown field");
    expect_reject("{\"prompt\":\"x\"}", REQ_CHAT, "prompt", "unknown field");
    expect_reject("{\"messages\":[{\"role\":\"user\",\"content\":[]}]}", REQ_CHAT, "messages.content", "string");
    expect_reject("{\"messages\":[\"hi\"]}", REQ_CHAT, "messages", "object");
    expect_reject("{\"stream\":true}", REQ_COMPLETION, "prompt", "required");
    expect_reject("{\"prompt\":\"x\",\"stream_options\":{\"x\":1}}", REQ_COMPLETION, "stream_options", "unknown");
    ServeRequest r2;
    CHECK(serve_parse_request("{\"prompt\":\"a\0\"}", 15, REQ_COMPLETION,
                              &(RequestLimits){.max_tokens_cap = 1, .default_max_tokens = 1}, &r2, &e) == -1);
    CHECK(strstr(e.message, "NUL") != NULL);
}

/* Every committed fuzz input goes through the parser (crashes show up under ASan). */
static void test_fuzz_corpus(void) {
    const char *dir = "tests/fuzz/corpus_request";
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s (run from the repository root)", dir);
    if (!d) return;
    int n = 0;
    RequestLimits lim = {.max_tokens_cap = 64, .default_max_tokens = 16};
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len;
        char *body = kr_read_file(path, &len);
        CHECK_MSG(body != NULL, "%s", path);
        if (!body) continue;
        for (int kind = 0; kind < 2; kind++) {
            ServeRequest r;
            ApiError e;
            if (serve_parse_request(body, len, (RequestKind)kind, &lim, &r, &e) == 0) serve_request_free(&r);
            else CHECK_MSG(e.status >= 400 && e.status < 600 && e.message[0], "%s", path);
        }
        free(body);
        n++;
    }
    closedir(d);
    CHECK_MSG(n >= 10, "only %d corpus files", n);
}

static void test_trainlog(const char *tmp) {
    char path[512];
    snprintf(path, sizeof path, "%s/train.log", tmp);
    const char *lines = "{\"step\":1,\"loss\":5.5,\"lr\":0.001,\"note\":\"x\"}\nnot json\n{\"step\":2,\"loss\":5.1}\n{\"step\":3,";
    CHECK(kr_write_file_atomic(path, lines, strlen(lines)) == 0);
    char *j = trainlog_read_json(path, 0, 1 << 20);
    long complete = (long)(strrchr(lines, '\n') - lines) + 1;
    char want[64];
    snprintf(want, sizeof want, "\"offset\":%ld,", complete);
    CHECK_MSG(j && strstr(j, want) && strstr(j, "\"skipped\":1") && strstr(j, "{\"step\":2,\"loss\":5.1}"), "%s", j);
    CHECK(j && strstr(j, "\"lr\":0.001") && !strstr(j, "note") && !strstr(j, "\"step\":3"));
    free(j);
    j = trainlog_read_json(path, complete, 1 << 20);
    CHECK_MSG(j && strstr(j, "\"records\":[]") && strstr(j, want), "%s", j);
    free(j);
    /* A new run wrote a shorter file: the reader starts over. */
    CHECK(kr_write_file_atomic(path, "{\"step\":1}\n", 11) == 0);
    j = trainlog_read_json(path, complete, 1 << 20);
    CHECK_MSG(j && strstr(j, "\"reset\":true") && strstr(j, "\"offset\":11"), "%s", j);
    free(j);
    j = trainlog_read_json("/nonexistent/train.log", 0, 1 << 20);
    CHECK(j && strstr(j, "\"records\":[]"));
    free(j);
}

static void test_metrics(void) {
    Metrics m;
    metrics_init(&m);
    metrics_request(&m, "/v1/completions", 200);
    metrics_request(&m, "/v1/completions", 200);
    metrics_request(&m, "/health", 404);
    metrics_latency(&m, 0.03);
    metrics_latency(&m, 100);
    metrics_tokens(&m, 5, 7);
    char *t = metrics_render(&m);
    CHECK(t && strstr(t, "krllm_requests_total{route=\"/v1/completions\",code=\"200\"} 2\n"));
    CHECK(t && strstr(t, "krllm_requests_total{route=\"/health\",code=\"404\"} 1\n"));
    CHECK(t && strstr(t, "krllm_request_duration_seconds_bucket{le=\"0.05\"} 1\n"));
    CHECK(t && strstr(t, "krllm_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    CHECK(t && strstr(t, "krllm_generated_tokens_total 7\n") && strstr(t, "krllm_prompt_tokens_total 5\n"));
    free(t);
    metrics_destroy(&m);
}

/* Runs prompts[i] through the scheduler, all queued at once, and collects the texts. */
static void run_jobs(Scheduler *s, Generator *g, int n, char **texts) {
    Job *jobs[8];
    for (int i = 0; i < n; i++) {
        char prompt[64];
        int ids[64];
        snprintf(prompt, sizeof prompt, "질문 %d", i);
        int k = g->encode(g->self, prompt, strlen(prompt), ids, 64);
        JobSpec spec = {.max_tokens = 20 + i, .sampling = {.temperature = 1, .top_p = 1, .repetition_penalty = 1, .seed = (uint64_t)i}};
        jobs[i] = scheduler_submit(s, ids, k, &spec);
    }
    for (int i = 0; i < n; i++) {
        JobStatus st;
        char buf[1024];
        size_t len = 0;
        do len += job_read(jobs[i], len, buf + len, sizeof buf - 1 - len, 1.0, &st);
        while (st.state == JOB_QUEUED || st.state == JOB_RUNNING);
        buf[len] = 0;
        CHECK(st.state == JOB_DONE && st.completion_tokens <= 20 + i);
        CHECK(!strcmp(st.finish_reason, "stop") || st.completion_tokens == 20 + i);
        texts[i] = strdup(buf);
        job_release(jobs[i]);
    }
}

static void test_scheduler(void) {
    Metrics m;
    metrics_init(&m);
    Generator *g = fake_generator_create(3, 128, 0);
    Scheduler *s = scheduler_start(g, &m);
    char *alone[6], *together[6];
    for (int i = 0; i < 6; i++) {
        char prompt[64];
        int ids[64];
        snprintf(prompt, sizeof prompt, "질문 %d", i);
        int k = g->encode(g->self, prompt, strlen(prompt), ids, 64);
        JobSpec spec = {.max_tokens = 20 + i, .sampling = {.temperature = 1, .top_p = 1, .repetition_penalty = 1, .seed = (uint64_t)i}};
        Job *j = scheduler_submit(s, ids, k, &spec);
        JobStatus st;
        char buf[1024];
        size_t len = 0;
        do len += job_read(j, len, buf + len, sizeof buf - 1 - len, 1.0, &st);
        while (st.state == JOB_QUEUED || st.state == JOB_RUNNING);
        buf[len] = 0;
        alone[i] = strdup(buf);
        job_release(j);
    }
    run_jobs(s, g, 6, together); /* 6 jobs, 3 slots: they queue, join and leave */
    char alone_2[1024];
    snprintf(alone_2, sizeof alone_2, "%s", alone[2]);
    for (int i = 0; i < 6; i++) {
        CHECK_MSG(!strcmp(alone[i], together[i]), "job %d: '%s' vs '%s'", i, alone[i], together[i]);
        CHECK(utf8_valid(together[i], strlen(together[i])));
        free(alone[i]);
        free(together[i]);
    }
    CHECK(m.generated_tokens > 0 && m.latency.n == 12);
    /* Read in 4-byte pieces: each piece is whole characters, together the whole text. */
    {
        int ids[8];
        int k = g->encode(g->self, "질문 2", strlen("질문 2"), ids, 8);
        JobSpec spec = {.max_tokens = 22, .sampling = {.temperature = 1, .top_p = 1, .repetition_penalty = 1, .seed = 2}};
        Job *j = scheduler_submit(s, ids, k, &spec);
        char whole[1024] = "", piece[4];
        size_t len = 0;
        JobStatus st;
        do {
            size_t n = job_read(j, len, piece, sizeof piece, 1.0, &st);
            CHECK(utf8_valid(piece, n));
            memcpy(whole + len, piece, n);
            len += n;
        } while (st.state == JOB_QUEUED || st.state == JOB_RUNNING || len < st.text_len);
        CHECK_MSG(!strcmp(whole, alone_2), "'%s' vs '%s'", whole, alone_2);
        job_release(j);
    }
    /* A released job is cancelled; the scheduler drops it. */
    int ids[4] = {1, 2, 3, 4};
    JobSpec spec = {.max_tokens = 100000, .sampling = {.temperature = 0, .top_p = 1, .repetition_penalty = 1}};
    Job *j = scheduler_submit(s, ids, 4, &spec);
    job_release(j);
    scheduler_stop(s);
    generator_destroy(g);
    metrics_destroy(&m);
}

int main(void) {
    const char *tmp = getenv("KRLLM_TMP");
    test_request();
    test_fuzz_corpus();
    test_trainlog(tmp ? tmp : "/tmp");
    test_metrics();
    test_scheduler();
    return test_summary("test_serve");
}
