/* The Tokenizer's insides, shared by the files of src/tokenizer (not part of the public API). */
#ifndef KR_TOK_INTERNAL_H
#define KR_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/normalize.h"
#include "tokenizer/spm_proto.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

/* One way to build a piece from two pieces: (left id, right id) → the piece and its score. */
typedef struct {
    uint64_t key; /* UINT64_MAX = empty */
    int32_t id;
    float score;
} MergeEntry;

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
    /* Every split of every piece into two pieces, so the encoder merges by ids instead of
     * hashing text. Exact because every character of a piece is itself a piece (checked on load). */
    MergeEntry *merges;
    size_t merge_mask;
    int32_t *bmp_id; /* code point < 0x10000 → id of the one-character piece, -1 if none */
    /* 1 when no piece holds ▁ after its first byte: merges then never cross a ▁, so each
     * ▁-started word can be encoded on its own (and cached). */
    int split_words;
};

/* A memo of recently encoded words (direct-mapped; encoding a word is a pure function of the
 * model, so the cache never changes results). */
#define WORD_CACHE_SLOTS 65536
#define WORD_CACHE_TEXT 30
#define WORD_CACHE_IDS 6
typedef struct { /* one 64-byte cache line */
    uint64_t hash;
    uint8_t len, n_ids; /* len 0 = empty slot */
    char text[WORD_CACHE_TEXT];
    uint32_t ids[WORD_CACHE_IDS];
} WordCacheSlot;

static inline int32_t merge_lookup(const Tokenizer *t, int32_t l, int32_t r, float *score) {
    if (l < 0 || r < 0) return -1;
    uint64_t k = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    for (size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 24) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const MergeEntry *e = &t->merges[i];
        if (e->key == k) {
            *score = e->score;
            return e->id;
        }
        if (e->key == UINT64_MAX) return -1;
    }
}

/* Reusable buffers for encoding, one per thread. */
typedef struct {
    uint32_t *ids;
    size_t n, ids_cap;
    char *norm;
    size_t norm_cap;
    void *syms, *heap;
    size_t syms_cap, heap_cap;
    uint32_t *unk_off, *unk_len; /* where each <unk> came from in `norm` (no byte fallback) */
    size_t n_unk, unk_cap;
    int use_word_cache;           /* set by bulk encoders: a 4 MB cache that pays off over many lines */
    WordCacheSlot *cache;
    const Tokenizer *cache_owner; /* the cache is cleared when the tokenizer changes */
} EncodeScratch;

/* Encodes into s->ids / s->n (no allocation once the buffers are large enough). */
int tokenizer_encode_scratch(const Tokenizer *t, const char *text, size_t len, EncodeScratch *s);
void encode_scratch_free(EncodeScratch *s);
/* The text SentencePiece shows for token i of the last encoding: the piece, or for <unk> the
 * characters it stands for (*next_unk starts at 0 and advances over the <unk>s). */
const char *encoded_piece_text(const Tokenizer *t, const EncodeScratch *s, size_t i, size_t *next_unk, size_t *len);
/* Encodes and renders the pieces joined by single spaces (SentencePiece's self-test format);
 * malloc'd result. */
char *tokenizer_encode_as_pieces_line(const Tokenizer *t, const char *text, size_t len);
/* Builds a Tokenizer from an in-memory model (takes ownership of *m on success and failure);
 * `what` names the source in messages. Runs the self-test samples. */
int tokenizer_from_proto(SpmModel *m, const char *what, Tokenizer **out);

#endif
