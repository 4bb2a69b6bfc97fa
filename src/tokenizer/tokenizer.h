/* The public tokenizer API: load a SentencePiece-compatible BPE .model (one we wrote), encode UTF-8
 * text to ids exactly as SentencePiece would, decode ids back to text, stream token bytes. */
#ifndef KR_TOKENIZER_H
#define KR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

int tokenizer_load(const char *path, Tokenizer **out);          /* a .model (SentencePiece ModelProto) we wrote */
void tokenizer_free(Tokenizer *t);
int tokenizer_vocab_size(const Tokenizer *t);
int tokenizer_piece_id(const Tokenizer *t, const char *piece);  /* -1 if absent (e.g. "<s>", user-defined "<|user|>") */
const char *tokenizer_id_to_piece(const Tokenizer *t, int id);
int tokenizer_bos_id(const Tokenizer *t), tokenizer_eos_id(const Tokenizer *t), tokenizer_unk_id(const Tokenizer *t), tokenizer_pad_id(const Tokenizer *t);
/* Encodes UTF-8 text (no BOS/EOS added) into a malloc'd id array. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, uint32_t **ids, size_t *n);
/* Decodes ids into a malloc'd NUL-terminated string. */
int tokenizer_decode(const Tokenizer *t, const uint32_t *ids, size_t n, char **text, size_t *len);
/* Bytes of one token for streaming output (▁ → space, <0xNN> → that byte, control pieces → nothing;
   is_first: drop the dummy-prefix space at the start of a text). Returns the byte count (<= cap). */
int tokenizer_token_bytes(const Tokenizer *t, uint32_t id, int is_first, char *out, size_t cap);

#endif
