/* Response bodies in OpenAI's shapes: whole completions, streamed chunks (the JSON that follows
 * "data: " in each Server-Sent Event) and the model list. All results are malloc'd JSON. */
#ifndef KR_SERVE_OPENAI_FORMAT_H
#define KR_SERVE_OPENAI_FORMAT_H

#include <stddef.h>

#include "serve/request.h"

typedef struct {
    RequestKind kind;
    char id[48];       /* "cmpl-…" or "chatcmpl-…" */
    long long created; /* Unix seconds */
    const char *model;
} ResponseMeta;

void response_meta_init(ResponseMeta *m, RequestKind kind, const char *model, unsigned long long serial);
char *format_completion(const ResponseMeta *m, const char *text, size_t len, const char *finish_reason,
                        int prompt_tokens, int completion_tokens);
/* A streamed piece: `text` may be NULL (for the chat opening chunk, which carries the role, and
 * for the last chunk, which carries the finish reason). */
char *format_chunk(const ResponseMeta *m, const char *text, size_t len, const char *finish_reason);
/* The optional last chunk with token counts (stream_options.include_usage). */
char *format_usage_chunk(const ResponseMeta *m, int prompt_tokens, int completion_tokens);
/* The model list: one entry, or none when model is NULL (no model loaded). */
char *format_model_list(const char *model, long long created);

#endif
