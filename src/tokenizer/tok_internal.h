/* The Tokenizer's insides, shared by the files of src/tokenizer (not part of the public API). */
#ifndef KR_TOK_INTERNAL_H
#define KR_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/normalize.h"
#include "tokenizer/spm_proto.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

struct Tokenizer {
    SpmModel proto;    /* owns the piece strings */
    int vocab;
    size_t *piece_len;
    StrMap pieces;     /* NORMAL and USER_DEFINED pieces → id: what BPE merges may produce */
    StrMap reserved;   /* CONTROL, UNKNOWN and BYTE pieces → id */
    int unk_id, bos_id, eos_id, pad_id;
    int byte_id[256];  /* id of <0xNN>, -1 without byte fallback */
    int byte_fallback;
    PrefixMatcher user;
    Normalizer norm;
    /* 1 when no piece holds ▁ after its first byte: merges then never cross a ▁, so each
     * ▁-started word can be encoded on its own (and cached). */
    int split_words;
};

/* Reusable buffers for encoding, one per thread. */
typedef struct {
    uint32_t *ids;
    size_t n, ids_cap;
    char *norm;
    size_t norm_cap;
    void *syms, *heap;
    size_t syms_cap, heap_cap;
} EncodeScratch;

/* Encodes into s->ids / s->n (no allocation once the buffers are large enough). */
int tokenizer_encode_scratch(const Tokenizer *t, const char *text, size_t len, EncodeScratch *s);
void encode_scratch_free(EncodeScratch *s);
/* Encodes and renders the pieces joined by single spaces (SentencePiece's self-test format);
 * malloc'd result. */
char *tokenizer_encode_as_pieces_line(const Tokenizer *t, const char *text, size_t len);
/* Builds a Tokenizer from an in-memory model (takes ownership of *m on success and failure);
 * `what` names the source in messages. Runs the self-test samples. */
int tokenizer_from_proto(SpmModel *m, const char *what, Tokenizer **out);

#endif
