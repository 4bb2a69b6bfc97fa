#include "serve/openai_format.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void response_meta_init(ResponseMeta *m, RequestKind kind, const char *model, unsigned long long serial) {
    m->kind = kind;
    m->created = (long long)time(NULL);
    m->model = model;
    snprintf(m->id, sizeof m->id, "%s-%llx%06llx", kind == REQ_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)m->created, serial);
}

static cJSON *add_text(cJSON *obj, const char *key, const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, text, len);
    copy[len] = 0;
    cJSON *s = cJSON_AddStringToObject(obj, key, copy);
    free(copy);
    return s;
}

static cJSON *envelope(const ResponseMeta *m, int chunk, cJSON **choice) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", m->id);
    const char *object = m->kind == REQ_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)m->created);
    cJSON_AddStringToObject(root, "model", m->model);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    if (choice) {
        *choice = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, *choice);
        cJSON_AddNumberToObject(*choice, "index", 0);
    }
    return root;
}

static void add_finish(cJSON *choice, const char *finish_reason) {
    if (finish_reason) cJSON_AddStringToObject(choice, "finish_reason", finish_reason);
    else cJSON_AddNullToObject(choice, "finish_reason");
}

static void add_usage(cJSON *root, int prompt_tokens, int completion_tokens) {
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", prompt_tokens + completion_tokens);
}

static char *print_and_free(cJSON *root) {
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

char *format_completion(const ResponseMeta *m, const char *text, size_t len, const char *finish_reason,
                        int prompt_tokens, int completion_tokens) {
    cJSON *choice, *root = envelope(m, 0, &choice);
    if (m->kind == REQ_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        add_text(msg, "content", text, len);
    } else {
        add_text(choice, "text", text, len);
        cJSON_AddNullToObject(choice, "logprobs");
    }
    add_finish(choice, finish_reason);
    add_usage(root, prompt_tokens, completion_tokens);
    return print_and_free(root);
}

char *format_chunk(const ResponseMeta *m, const char *text, size_t len, const char *finish_reason) {
    cJSON *choice, *root = envelope(m, 1, &choice);
    if (m->kind == REQ_CHAT) {
        cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
        if (text) add_text(delta, "content", text, len);
        else if (!finish_reason) cJSON_AddStringToObject(delta, "role", "assistant");
    } else {
        add_text(choice, "text", text ? text : "", text ? len : 0);
        cJSON_AddNullToObject(choice, "logprobs");
    }
    add_finish(choice, finish_reason);
    return print_and_free(root);
}

char *format_usage_chunk(const ResponseMeta *m, int prompt_tokens, int completion_tokens) {
    cJSON *root = envelope(m, 1, NULL);
    add_usage(root, prompt_tokens, completion_tokens);
    return print_and_free(root);
}

char *format_model_list(const char *model, long long created) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    if (!model) return print_and_free(root);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToArray(data, m);
    cJSON_AddStringToObject(m, "id", model);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "krllm");
    return print_and_free(root);
}
