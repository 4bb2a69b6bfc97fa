#include "serve/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/gentext.h"

int api_error(ApiError *err, int status, const char *type, const char *param, const char *code,
              const char *fmt, ...) {
    err->status = status;
    err->type = type;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int invalid(ApiError *err, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int invalid(ApiError *err, const char *param, const char *fmt, ...) {
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return api_error(err, 400, "invalid_request_error", param, NULL, "%s", msg);
}

char *api_error_json(const ApiError *err) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", err->message);
    cJSON_AddStringToObject(e, "type", err->type);
    if (err->param[0]) cJSON_AddStringToObject(e, "param", err->param);
    else cJSON_AddNullToObject(e, "param");
    if (err->code) cJSON_AddStringToObject(e, "code", err->code);
    else cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* Typed field readers: a JSON null means "use the default" (OpenAI clients send nulls). */
static int get_number(const cJSON *v, const char *name, double lo, double hi, double *out, ApiError *err) {
    if (cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) return invalid(err, name, "'%s' must be a number", name);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return invalid(err, name, "'%s' must be between %g and %g", name, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int get_integer(const cJSON *v, const char *name, double lo, double hi, double *out, ApiError *err) {
    if (cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return invalid(err, name, "'%s' must be an integer", name);
    return get_number(v, name, lo, hi, out, err);
}

static int get_bool(const cJSON *v, const char *name, int *out, ApiError *err) {
    if (cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return invalid(err, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int check_text(const cJSON *v, const char *name, ApiError *err) {
    if (!cJSON_IsString(v)) return invalid(err, name, "'%s' must be a string", name);
    if (!utf8_valid(v->valuestring, strlen(v->valuestring)))
        return invalid(err, name, "'%s' is not valid UTF-8", name);
    return 0;
}

static int add_stop(ServeRequest *r, const cJSON *v, ApiError *err) {
    if (check_text(v, "stop", err)) return -1;
    size_t n = strlen(v->valuestring);
    if (n == 0 || n > REQ_MAX_STOP_BYTES)
        return invalid(err, "stop", "each stop string must have 1 to %d bytes", REQ_MAX_STOP_BYTES);
    if (r->nstop == REQ_MAX_STOP) return invalid(err, "stop", "at most %d stop strings", REQ_MAX_STOP);
    r->stop[r->nstop] = strdup(v->valuestring);
    if (!r->stop[r->nstop]) return api_error(err, 500, "server_error", NULL, NULL, "out of memory");
    r->nstop++;
    return 0;
}

static int get_stop(ServeRequest *r, const cJSON *v, ApiError *err) {
    if (cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) return add_stop(r, v, err);
    if (!cJSON_IsArray(v)) return invalid(err, "stop", "'stop' must be a string or a list of strings");
    for (const cJSON *s = v->child; s; s = s->next)
        if (add_stop(r, s, err)) return -1;
    return 0;
}

static int get_stream_options(ServeRequest *r, const cJSON *v, ApiError *err) {
    if (cJSON_IsNull(v)) return 0;
    if (!cJSON_IsObject(v)) return invalid(err, "stream_options", "'stream_options' must be an object");
    for (const cJSON *f = v->child; f; f = f->next) {
        if (strcmp(f->string, "include_usage") != 0)
            return invalid(err, "stream_options", "unknown field 'stream_options.%.64s'", f->string);
        if (get_bool(f, "stream_options.include_usage", &r->include_usage, err)) return -1;
    }
    return 0;
}

static const char *const chat_roles[] = {"system", "user", "assistant"};

/* Reads messages[i] into its role and content (pointers into the JSON). */
static int read_message(const cJSON *m, int i, const char **role, const char **content, ApiError *err) {
    *role = *content = NULL;
    if (!cJSON_IsObject(m)) return invalid(err, "messages", "messages[%d] must be an object", i);
    for (const cJSON *f = m->child; f; f = f->next) {
        if (!strcmp(f->string, "role") && !*role) {
            for (int k = 0; k < 3 && cJSON_IsString(f); k++)
                if (!strcmp(f->valuestring, chat_roles[k])) *role = chat_roles[k];
            if (!*role) return invalid(err, "messages", "messages[%d].role must be system, user or assistant", i);
        } else if (!strcmp(f->string, "content") && !*content) {
            if (check_text(f, "messages.content", err)) return -1;
            *content = f->valuestring;
        } else {
            return invalid(err, "messages", "messages[%d]: unexpected field '%.64s' (only role and content, strings)", i,
                           f->string);
        }
    }
    if (!*role || !*content) return invalid(err, "messages", "messages[%d] needs both 'role' and 'content'", i);
    return 0;
}

/* System messages first (joined), then turns alternating user / assistant, ending with user. */
static int get_messages(ServeRequest *r, const cJSON *v, ApiError *err) {
    if (!cJSON_IsArray(v) || !v->child)
        return invalid(err, "messages", "'messages' must be a non-empty list of {role, content}");
    int n = cJSON_GetArraySize(v), i = 0;
    size_t system_len = 0;
    r->turns = calloc((size_t)n, sizeof *r->turns);
    if (!r->turns) return api_error(err, 500, "server_error", NULL, NULL, "out of memory");
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        const char *role, *content;
        if (read_message(m, i, &role, &content, err)) return -1;
        if (!strcmp(role, "system")) {
            if (r->nturns > 0)
                return invalid(err, "messages", "messages[%d]: system messages must come before the conversation", i);
            size_t add = strlen(content);
            char *joined = realloc(r->system, system_len + add + 2);
            if (!joined) return api_error(err, 500, "server_error", NULL, NULL, "out of memory");
            if (system_len) joined[system_len++] = '\n';
            memcpy(joined + system_len, content, add + 1);
            system_len += add;
            r->system = joined;
            continue;
        }
        const char *want = r->nturns % 2 ? "assistant" : "user";
        if (strcmp(role, want))
            return invalid(err, "messages", "messages[%d] should be a %s message: the conversation alternates user "
                           "and assistant, starting with user", i, want);
        if (!(r->turns[r->nturns++] = strdup(content)))
            return api_error(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    if (r->nturns % 2 == 0) return invalid(err, "messages", "the last message must be from the user");
    return 0;
}

/* One top-level field. Returns 0, or -1 with *err. */
static int read_field(ServeRequest *r, const cJSON *f, const RequestLimits *lim, ApiError *err) {
    const char *k = f->string;
    double x = 0;
    SamplingSettings *s = &r->sampling;
    if (!strcmp(k, "prompt") && r->kind == REQ_COMPLETION) {
        if (check_text(f, "prompt", err)) return -1;
        r->prompt = strdup(f->valuestring);
        return r->prompt ? 0 : api_error(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    if (!strcmp(k, "messages") && r->kind == REQ_CHAT) return get_messages(r, f, err);
    if (!strcmp(k, "model") || !strcmp(k, "user"))
        return cJSON_IsString(f) || cJSON_IsNull(f) ? 0 : invalid(err, k, "'%s' must be a string", k);
    if (!strcmp(k, "stream")) return get_bool(f, "stream", &r->stream, err);
    if (!strcmp(k, "stream_options")) return get_stream_options(r, f, err);
    if (!strcmp(k, "stop")) return get_stop(r, f, err);
    if (!strcmp(k, "n")) {
        x = 1;
        if (get_integer(f, "n", 1, 1, &x, err)) return -1;
        return 0;
    }
    if (!strcmp(k, "max_tokens") || !strcmp(k, "max_completion_tokens")) {
        x = r->max_tokens;
        if (get_integer(f, k, 1, lim->max_tokens_cap, &x, err)) return -1;
        r->max_tokens = (int)x;
        return 0;
    }
    if (!strcmp(k, "temperature")) {
        x = s->temperature;
        if (get_number(f, k, 0, 2, &x, err)) return -1;
        s->temperature = (float)x;
        return 0;
    }
    if (!strcmp(k, "top_p")) {
        x = s->top_p;
        if (get_number(f, k, 0, 1, &x, err)) return -1;
        if (x <= 0) return invalid(err, k, "'top_p' must be above 0");
        s->top_p = (float)x;
        return 0;
    }
    if (!strcmp(k, "top_k")) {
        x = s->top_k;
        if (get_integer(f, k, 0, 1 << 20, &x, err)) return -1;
        s->top_k = (int)x;
        return 0;
    }
    if (!strcmp(k, "repetition_penalty")) {
        x = s->repetition_penalty;
        if (get_number(f, k, 0.01, 10, &x, err)) return -1;
        s->repetition_penalty = (float)x;
        return 0;
    }
    if (!strcmp(k, "seed")) {
        x = -1;
        if (get_integer(f, k, 0, 9007199254740991.0, &x, err)) return -1;
        if (x >= 0) {
            s->seed = (uint64_t)x;
            r->has_seed = 1;
        }
        return 0;
    }
    return invalid(err, k, "unknown field '%.64s'", k);
}

static int find_duplicate(const cJSON *root, ApiError *err) {
    for (const cJSON *a = root->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string)) return invalid(err, a->string, "field '%.64s' appears twice", a->string);
    return 0;
}

int serve_parse_request(const char *body, size_t len, RequestKind kind, const RequestLimits *lim,
                        ServeRequest *out, ApiError *err) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->max_tokens = lim->default_max_tokens < lim->max_tokens_cap ? lim->default_max_tokens : lim->max_tokens_cap;
    out->sampling = (SamplingSettings){.temperature = 1.0f, .top_p = 1.0f, .top_k = 0, .repetition_penalty = 1.0f};
    if (len == 0) return invalid(err, NULL, "the request body is empty; send a JSON object");
    if (memchr(body, 0, len)) return invalid(err, NULL, "the request body contains a NUL byte");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return invalid(err, NULL, "malformed JSON near byte %zu", at);
    }
    int rc = 0;
    size_t tail = end && end >= body ? (size_t)(end - body) : len;
    while (tail < len && strchr(" \t\r\n", body[tail])) tail++;
    if (tail < len) rc = invalid(err, NULL, "unexpected data after the JSON value at byte %zu", tail);
    else if (!cJSON_IsObject(root)) rc = invalid(err, NULL, "the request body must be a JSON object");
    else rc = find_duplicate(root, err);
    for (const cJSON *f = root->child; f && rc == 0 && cJSON_IsObject(root); f = f->next)
        rc = read_field(out, f, lim, err);
    if (rc == 0 && !out->prompt && !out->nturns)
        rc = invalid(err, kind == REQ_CHAT ? "messages" : "prompt", "'%s' is required",
                     kind == REQ_CHAT ? "messages" : "prompt");
    cJSON_Delete(root);
    if (rc) serve_request_free(out);
    return rc;
}

void serve_request_free(ServeRequest *r) {
    free(r->prompt);
    free(r->system);
    for (int i = 0; i < r->nturns; i++) free(r->turns[i]);
    free(r->turns);
    for (int i = 0; i < r->nstop; i++) free(r->stop[i]);
    r->prompt = r->system = NULL;
    r->turns = NULL;
    r->nstop = r->nturns = 0;
}
