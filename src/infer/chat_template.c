#include "infer/chat_template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void chat_template_init(ChatTemplate *ct, const Tokenizer *t) {
    memset(ct, 0, sizeof *ct);
    int user = tokenizer_piece_id(t, "<|user|>"), assistant = tokenizer_piece_id(t, "<|assistant|>");
    int system = tokenizer_piece_id(t, "<|system|>");
    if (user < 0 || assistant < 0) {
        ct->stop_text = "\n사용자:";
        return;
    }
    ct->special = 1;
    ct->has_system_piece = system >= 0;
    ct->stop_tokens[ct->num_stop_tokens++] = user;
    ct->stop_tokens[ct->num_stop_tokens++] = assistant;
    if (system >= 0) ct->stop_tokens[ct->num_stop_tokens++] = system;
}

/* A growing string. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} Buf;

static void put(Buf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

char *chat_template_render(const ChatTemplate *ct, const char *system, const char *const *turns, int n) {
    Buf b = {malloc(256), 0, 256, 0};
    if (!b.s) {
        kr_error("out of memory");
        return NULL;
    }
    b.s[0] = 0;
    int has_system = system && system[0];
    if (ct->special) {
        if (has_system) put(&b, ct->has_system_piece ? "<|system|>\n%s\n" : "%s\n", system);
        for (int i = 0; i < n; i++) put(&b, i % 2 ? "%s\n" : "<|user|>\n%s\n<|assistant|>\n", turns[i]);
    } else {
        if (has_system) put(&b, "%s\n\n", system);
        for (int i = 0; i < n; i++) put(&b, i % 2 ? " %s\n" : "사용자: %s\n어시스턴트:", turns[i]);
    }
    if (b.failed) {
        free(b.s);
        kr_error("out of memory");
        return NULL;
    }
    return b.s;
}
