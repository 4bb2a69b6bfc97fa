/* Parsing and validating the bodies of POST /v1/completions and /v1/chat/completions.
 * Anything unexpected — malformed JSON, a wrong type, an unknown field, a value out of range —
 * gives an ApiError that the server sends as an OpenAI-style error object. */
#ifndef KR_SERVE_REQUEST_H
#define KR_SERVE_REQUEST_H

#include <stddef.h>

#include "serve/generator.h"

#define REQ_MAX_STOP 4
#define REQ_MAX_STOP_BYTES 128

typedef enum { REQ_COMPLETION, REQ_CHAT } RequestKind;

typedef struct {
    int status;          /* HTTP status */
    const char *type;    /* "invalid_request_error", ... */
    char param[64];      /* the offending field, or "" */
    const char *code;    /* machine-readable reason, or NULL */
    char message[256];
} ApiError;

typedef struct {
    int max_tokens_cap;     /* largest max_tokens a request may ask for */
    int default_max_tokens; /* when the request gives none */
} RequestLimits;

typedef struct {
    RequestKind kind;
    char *prompt;           /* completions: the text to continue */
    char *system;           /* chat: the system messages, joined by newlines (or NULL) */
    char **turns;           /* chat: user, assistant, user, ..., user */
    int nturns;
    int stream;
    int include_usage;      /* stream_options.include_usage */
    int max_tokens;
    int has_seed;           /* otherwise the server picks a seed */
    SamplingSettings sampling;
    char *stop[REQ_MAX_STOP + 1]; /* + the chat format's own end-of-reply text */
    int nstop;
} ServeRequest;

/* Parses body[0..len). Returns 0, or -1 with *err filled (out then holds nothing to free). */
int serve_parse_request(const char *body, size_t len, RequestKind kind, const RequestLimits *lim,
                        ServeRequest *out, ApiError *err);
void serve_request_free(ServeRequest *r);

/* Fills *err and returns -1, so validators can `return api_error(...)`. */
int api_error(ApiError *err, int status, const char *type, const char *param, const char *code,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The error as OpenAI's JSON object: {"error":{"message","type","param","code"}} (malloc'd). */
char *api_error_json(const ApiError *err);

#endif
