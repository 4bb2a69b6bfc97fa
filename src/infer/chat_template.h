/* The chat prompt format. With a tokenizer that has the special pieces <|user|> and
 * <|assistant|> (and optionally <|system|>):
 *
 *   <s><|system|>\n{system}\n<|user|>\n{message}\n<|assistant|>\n{reply}\n<|user|>\n...<|assistant|>\n
 *
 * and a reply ends at EOS or any special piece. Without them, a plain-text format:
 *
 *   <s>{system}\n\n사용자: {message}\n어시스턴트: {reply}\n사용자: ...\n어시스턴트:
 *
 * where a reply ends at EOS or at the text "\n사용자:". */
#ifndef KR_INFER_CHAT_TEMPLATE_H
#define KR_INFER_CHAT_TEMPLATE_H

#include <stdint.h>

#include "tokenizer/tokenizer.h"

typedef struct {
    int special;             /* 1: the special-piece format */
    int has_system_piece;
    int32_t stop_tokens[3];  /* special pieces that end a reply */
    int num_stop_tokens;
    const char *stop_text;   /* plain format: the string that ends a reply; NULL otherwise */
} ChatTemplate;

void chat_template_init(ChatTemplate *ct, const Tokenizer *t);

/* The text of a conversation: system (may be NULL/""), then turns[0..n) alternating user,
 * assistant, ..., ending with a user message; the assistant turn is left open. malloc'd. */
char *chat_template_render(const ChatTemplate *ct, const char *system, const char *const *turns, int n);

#endif
