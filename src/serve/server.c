#define _GNU_SOURCE /* POLLRDHUP */
#include "serve/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/util.h"
#include "serve/metrics.h"
#include "serve/openai_format.h"
#include "serve/request.h"
#include "serve/scheduler.h"
#include "serve/trainlog.h"
#include "serve/web_assets.h"

#define WAIT_SLICE_S 0.05            /* how often a waiting connection checks its client */
#define TRAINLOG_WINDOW (4 << 20)    /* bytes of train.log sent per poll */

struct Server {
    ServerOptions opt;
    Generator *g;
    Scheduler *sched;
    Metrics metrics;
    struct MHD_Daemon *daemon;
    atomic_int stopping;
    atomic_ullong serial;
    long long started;
    char *trainlog_path;
};

/* Per-connection request state: the body as it arrives. */
typedef struct {
    char *body;
    size_t len, cap;
    int too_big;
} Conn;

static const char *const routes[] = {"/", "/train", "/train/log", "/health", "/metrics", "/v1/models",
                                     "/v1/completions", "/v1/chat/completions"};
#define NROUTES (int)(sizeof routes / sizeof routes[0])

static const char *route_label(const char *url) {
    for (int i = 0; i < NROUTES; i++)
        if (!strcmp(url, routes[i])) return routes[i];
    return "other";
}

/* ---- responses ---- */

static enum MHD_Result send_body(Server *s, struct MHD_Connection *c, const char *route, int status,
                                 const char *type, void *body, size_t len, int owned) {
    struct MHD_Response *r = owned ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
                                   : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    metrics_request(&s->metrics, route, status);
    return ok;
}

static enum MHD_Result send_json(Server *s, struct MHD_Connection *c, const char *route, int status, char *json) {
    if (!json) return MHD_NO;
    return send_body(s, c, route, status, "application/json", json, strlen(json), 1);
}

static enum MHD_Result send_error(Server *s, struct MHD_Connection *c, const char *route, const ApiError *e) {
    return send_json(s, c, route, e->status, api_error_json(e));
}

static enum MHD_Result fail(Server *s, struct MHD_Connection *c, const char *route, int status, const char *type,
                            const char *code, const char *msg) {
    ApiError e;
    api_error(&e, status, type, NULL, code, "%s", msg);
    return send_error(s, c, route, &e);
}

/* ---- client liveness ---- */

static int connection_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* Whether the client closed its side (a waiting client sends nothing, so readable = gone,
 * unless what is readable is a pipelined next request). */
static int client_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return 1;
    char byte;
    ssize_t r = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Waits for new text or the end of the job; returns 0, or -1 when the client left or the
 * server is stopping (the caller then cancels). */
static int wait_job(Server *s, Job *j, size_t offset, char *buf, size_t cap, size_t *got, JobStatus *st, int fd) {
    for (;;) {
        if (atomic_load(&s->stopping)) return -1;
        *got = job_read(j, offset, buf, cap, WAIT_SLICE_S, st);
        if (*got > 0 || st->state == JOB_DONE || st->state == JOB_FAILED) return 0;
        if (client_gone(fd)) return -1;
    }
}

/* ---- generation ---- */

typedef struct {
    Server *s;
    Job *job;
    ResponseMeta meta;
    int include_usage, fd;
    enum { SSE_ROLE, SSE_TEXT, SSE_USAGE, SSE_DONE, SSE_END } phase;
    size_t offset;     /* text bytes already sent */
    char *out;         /* the event being sent */
    size_t out_len, out_off;
    char text[4096];
} Stream;

static int stream_event(Stream *st, char *json) {
    if (!json) return -1;
    free(st->out);
    size_t n = strlen(json);
    st->out = malloc(n + 9);
    if (!st->out) {
        free(json);
        return -1;
    }
    st->out_len = (size_t)sprintf(st->out, "data: %s\n\n", json);
    st->out_off = 0;
    free(json);
    return 0;
}

/* Produces the next Server-Sent Event; -1 when the stream must be cut. */
static int stream_next(Stream *st) {
    JobStatus js;
    size_t got;
    switch (st->phase) {
    case SSE_ROLE:
        st->phase = SSE_TEXT;
        if (st->meta.kind == REQ_CHAT) return stream_event(st, format_chunk(&st->meta, NULL, 0, NULL));
        /* fall through */
    case SSE_TEXT:
        if (wait_job(st->s, st->job, st->offset, st->text, sizeof st->text, &got, &js, st->fd)) return -1;
        if (got > 0) {
            st->offset += got;
            return stream_event(st, format_chunk(&st->meta, st->text, got, NULL));
        }
        st->phase = SSE_USAGE;
        if (js.state == JOB_FAILED) {
            ApiError e;
            api_error(&e, 500, "server_error", NULL, NULL, "generation failed: %s", js.error);
            return stream_event(st, api_error_json(&e));
        }
        return stream_event(st, format_chunk(&st->meta, NULL, 0, js.finish_reason));
    case SSE_USAGE:
        st->phase = SSE_DONE;
        if (st->include_usage) {
            job_read(st->job, st->offset, st->text, 0, 0, &js);
            return stream_event(st, format_usage_chunk(&st->meta, js.prompt_tokens, js.completion_tokens));
        }
        /* fall through */
    case SSE_DONE:
        st->phase = SSE_END;
        free(st->out);
        st->out = strdup("data: [DONE]\n\n");
        st->out_len = st->out ? strlen(st->out) : 0;
        st->out_off = 0;
        return st->out ? 0 : -1;
    case SSE_END: break;
    }
    return -1;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    Stream *st = cls;
    if (st->out_off == st->out_len) {
        if (st->phase == SSE_END) return MHD_CONTENT_READER_END_OF_STREAM;
        if (stream_next(st)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out_len - st->out_off < max ? st->out_len - st->out_off : max;
    memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    Stream *st = cls;
    job_release(st->job); /* cancels the generation if the client left early */
    free(st->out);
    free(st);
}

static enum MHD_Result start_stream(Server *s, struct MHD_Connection *c, const char *route, Job *job,
                                    const ServeRequest *rq, const ResponseMeta *meta) {
    Stream *st = calloc(1, sizeof *st);
    if (!st) {
        job_release(job);
        return fail(s, c, route, 500, "server_error", NULL, "out of memory");
    }
    *st = (Stream){.s = s, .job = job, .meta = *meta, .include_usage = rq->include_usage, .fd = connection_fd(c)};
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    metrics_request(&s->metrics, route, 200);
    return ok;
}

static enum MHD_Result finish_whole(Server *s, struct MHD_Connection *c, const char *route, Job *job,
                                    const ResponseMeta *meta) {
    JobStatus js;
    size_t got;
    char none[1];
    if (wait_job(s, job, (size_t)-1 >> 1, none, 0, &got, &js, connection_fd(c))) {
        job_release(job);
        return MHD_NO; /* the client is gone: nothing to answer */
    }
    if (js.state == JOB_FAILED) {
        char msg[300];
        snprintf(msg, sizeof msg, "generation failed: %s", js.error);
        job_release(job);
        return fail(s, c, route, 500, "server_error", NULL, msg);
    }
    char *text = malloc(js.text_len + 1);
    size_t n = text ? job_read(job, 0, text, js.text_len, 0, &js) : 0;
    job_release(job);
    char *json = text ? format_completion(meta, text, n, js.finish_reason, js.prompt_tokens, js.completion_tokens) : NULL;
    free(text);
    return json ? send_json(s, c, route, 200, json) : fail(s, c, route, 500, "server_error", NULL, "out of memory");
}

static enum MHD_Result generate(Server *s, struct MHD_Connection *c, const char *route, const Conn *cx, RequestKind kind) {
    if (!s->g)
        return fail(s, c, route, 503, "server_error", "model_not_loaded",
                    "no model is loaded: start the server with --checkpoint DIR");
    RequestLimits lim = {.max_tokens_cap = s->opt.max_tokens_cap, .default_max_tokens = s->opt.default_max_tokens};
    ServeRequest rq;
    ApiError e;
    if (serve_parse_request(cx->body ? cx->body : "", cx->len, kind, &lim, &rq, &e)) return send_error(s, c, route, &e);
    if (kind == REQ_CHAT) {
        const char *stop_text = NULL;
        rq.prompt = s->g->chat_prompt(s->g->self, rq.system, (const char *const *)rq.turns, rq.nturns, &stop_text);
        if (!rq.prompt) {
            serve_request_free(&rq);
            return fail(s, c, route, 500, "server_error", NULL, "out of memory");
        }
        if (stop_text && (rq.stop[rq.nstop] = strdup(stop_text))) rq.nstop++;
    }
    int ctx = s->g->context_len;
    int *ids = malloc((size_t)ctx * sizeof *ids);
    int n = ids ? s->g->encode(s->g->self, rq.prompt, strlen(rq.prompt), ids, ctx) : -1;
    Job *job = NULL;
    if (n < 0) api_error(&e, 400, "invalid_request_error", kind == REQ_CHAT ? "messages" : "prompt", NULL,
                         "cannot tokenise the prompt: %s", ids ? kr_last_error() : "out of memory");
    else if (n == 0)
        api_error(&e, 400, "invalid_request_error", "prompt", NULL, "the prompt is empty: give at least one character");
    else if (n >= ctx)
        api_error(&e, 400, "invalid_request_error", kind == REQ_CHAT ? "messages" : "prompt", "context_length_exceeded",
                  "the prompt has %d tokens but the model's context holds %d (including at least one generated token)",
                  n, ctx);
    else {
        unsigned long long serial = atomic_fetch_add(&s->serial, 1);
        if (!rq.has_seed) rq.sampling.seed = kr_hash64(&serial, sizeof serial, (uint64_t)time(NULL));
        JobSpec spec = {.max_tokens = rq.max_tokens, .sampling = rq.sampling, .stop = rq.stop, .nstop = rq.nstop,
                        .reply = kind == REQ_CHAT};
        job = scheduler_submit(s->sched, ids, n, &spec);
        if (!job) api_error(&e, 500, "server_error", NULL, NULL, "out of memory");
    }
    free(ids);
    if (!job) {
        serve_request_free(&rq);
        return send_error(s, c, route, &e);
    }
    ResponseMeta meta;
    response_meta_init(&meta, kind, s->g->model_id, atomic_load(&s->serial));
    enum MHD_Result r = rq.stream ? start_stream(s, c, route, job, &rq, &meta) : finish_whole(s, c, route, job, &meta);
    serve_request_free(&rq);
    return r;
}

/* ---- other routes ---- */

static enum MHD_Result send_asset(Server *s, struct MHD_Connection *c, const char *route, const char *name) {
    const WebAsset *a = web_asset(name);
    if (!a) return fail(s, c, route, 404, "invalid_request_error", "not_found", "no such page");
    const char *dot = strrchr(name, '.');
    const char *type = dot && !strcmp(dot, ".js") ? "text/javascript; charset=utf-8" : "text/html; charset=utf-8";
    return send_body(s, c, route, 200, type, (void *)a->data, a->size, 0);
}

static enum MHD_Result send_trainlog(Server *s, struct MHD_Connection *c, const char *route) {
    if (!s->trainlog_path)
        return fail(s, c, route, 404, "invalid_request_error", "no_logdir",
                    "no training log: start the server with --logdir DIR");
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    char *end = NULL;
    long long offset = from ? strtoll(from, &end, 10) : 0;
    if (from && (*from == 0 || *end || offset < 0))
        return fail(s, c, route, 400, "invalid_request_error", NULL, "'from' must be a byte offset (a whole number)");
    return send_json(s, c, route, 200, trainlog_read_json(s->trainlog_path, offset, TRAINLOG_WINDOW));
}

static enum MHD_Result send_health(Server *s, struct MHD_Connection *c, const char *route) {
    char buf[512];
    snprintf(buf, sizeof buf, "{\"status\":\"ok\",\"model\":%s%s%s,\"training_log\":%s,\"uptime_s\":%lld}",
             s->g ? "\"" : "", s->g ? s->g->model_id : "null", s->g ? "\"" : "", s->trainlog_path ? "true" : "false",
             (long long)time(NULL) - s->started);
    return send_json(s, c, route, 200, strdup(buf));
}

static int authorised(const Server *s, struct MHD_Connection *c) {
    if (!s->opt.api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    /* Compare every byte whatever the first difference, so timing does not reveal the key. */
    size_t n = strlen(h), k = strlen(s->opt.api_key);
    unsigned diff = n != k;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)h[i] ^ (unsigned char)s->opt.api_key[i % (k ? k : 1)];
    return diff == 0;
}

static enum MHD_Result dispatch(Server *s, struct MHD_Connection *c, const char *url, const char *method, const Conn *cx) {
    const char *route = route_label(url);
    int post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int is_api = !strncmp(url, "/v1/", 4);
    if (!strcmp(route, "other")) {
        char msg[200];
        snprintf(msg, sizeof msg, "unknown path '%.120s'", url);
        return fail(s, c, route, 404, "invalid_request_error", "unknown_url", msg);
    }
    int wants_post = !strcmp(route, "/v1/completions") || !strcmp(route, "/v1/chat/completions");
    if (wants_post ? !post : !get) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s expects %s, not %.16s", route, wants_post ? "POST" : "GET", method);
        return fail(s, c, route, 405, "invalid_request_error", "method_not_allowed", msg);
    }
    if (is_api && !authorised(s, c))
        return fail(s, c, route, 401, "invalid_request_error", "invalid_api_key",
                    "missing or wrong API key: send 'Authorization: Bearer <key>'");
    if (cx->too_big) {
        char msg[200];
        snprintf(msg, sizeof msg, "the request body is larger than the server's limit of %lld bytes",
                 (long long)s->opt.max_body_bytes);
        return fail(s, c, route, 413, "invalid_request_error", "request_too_large", msg);
    }
    if (!strcmp(route, "/v1/completions")) return generate(s, c, route, cx, REQ_COMPLETION);
    if (!strcmp(route, "/v1/chat/completions")) return generate(s, c, route, cx, REQ_CHAT);
    if (!strcmp(route, "/")) return send_asset(s, c, route, "index.html");
    if (!strcmp(route, "/train")) return send_asset(s, c, route, "train.html");
    if (!strcmp(route, "/train/log")) return send_trainlog(s, c, route);
    if (!strcmp(route, "/health")) return send_health(s, c, route);
    if (!strcmp(route, "/metrics")) {
        char *text = metrics_render(&s->metrics);
        if (!text) return MHD_NO;
        return send_body(s, c, route, 200, "text/plain; version=0.0.4", text, strlen(text), 1);
    }
    return send_json(s, c, route, 200, format_model_list(s->g ? s->g->model_id : NULL, s->started));
}

static int append_body(Server *s, Conn *cx, const char *data, size_t n) {
    if (cx->too_big || cx->len + n > (size_t)s->opt.max_body_bytes) {
        cx->too_big = 1;
        return 0;
    }
    if (kr_grow((void **)&cx->body, &cx->cap, cx->len + n + 1, 1, 4096, "request body") != 0) return -1;
    memcpy(cx->body + cx->len, data, n);
    cx->len += n;
    cx->body[cx->len] = 0;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    Server *s = cls;
    Conn *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx) return MHD_NO;
        *con_cls = cx;
        /* Refuse an announced oversize body before reading any of it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->opt.max_body_bytes) {
            cx->too_big = 1;
            return dispatch(s, c, url, method, cx);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (append_body(s, cx, upload, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, url, method, cx);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    Conn *cx = *con_cls;
    if (cx) free(cx->body);
    free(cx);
    *con_cls = NULL;
}

/* ---- lifetime ---- */

static int make_address(const char *host, int port, struct sockaddr_storage *ss, unsigned *flags) {
    memset(ss, 0, sizeof *ss);
    if (!strcmp(host, "localhost")) host = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return kr_error("--host '%s' is not a numeric IPv4/IPv6 address (use 127.0.0.1, 0.0.0.0 or ::1)", host);
}

Server *server_start(const ServerOptions *opt, Generator *g) {
    if (opt->port < 0 || opt->port > 65535) {
        kr_error("--port %d is out of range (0..65535; 0 picks a free port)", opt->port);
        return NULL;
    }
    /* ITC: a pipe that wakes the listening thread, so that stopping is immediate. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    struct sockaddr_storage addr;
    if (make_address(opt->host, opt->port, &addr, &flags)) return NULL;
    Server *s = calloc(1, sizeof *s);
    if (!s) {
        kr_error("out of memory");
        return NULL;
    }
    s->opt = *opt;
    s->g = g;
    s->started = (long long)time(NULL);
    metrics_init(&s->metrics);
    if (opt->logdir) {
        size_t n = strlen(opt->logdir) + sizeof "/train.log";
        s->trainlog_path = malloc(n);
        if (s->trainlog_path) snprintf(s->trainlog_path, n, "%s/train.log", opt->logdir);
    }
    if (g && !(s->sched = scheduler_start(g, &s->metrics))) {
        server_stop(s);
        return NULL;
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)opt->port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)512,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        kr_error("cannot listen on %s:%d (%s): is the port in use? try another --port", opt->host, opt->port,
                 strerror(errno));
        server_stop(s);
        return NULL;
    }
    return s;
}

int server_port(const Server *s) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : s->opt.port;
}

void server_stop(Server *s) {
    if (!s) return;
    atomic_store(&s->stopping, 1);
    if (s->daemon) MHD_stop_daemon(s->daemon); /* joins every connection thread */
    scheduler_stop(s->sched);
    metrics_destroy(&s->metrics);
    free(s->trainlog_path);
    free(s);
}
