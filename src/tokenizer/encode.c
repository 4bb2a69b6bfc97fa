/* Encoding, exactly as SentencePiece's BPE model does it: the normalised text is split into
 * characters (user-defined symbols stay whole and never merge); then, repeatedly, the adjacent
 * pair whose concatenation is the highest-scoring piece is merged (ties: leftmost first), using a
 * priority queue over a linked list of symbols; symbols that are not pieces fall back to bytes.
 * Pairs are looked up by piece ids in the model's merge table (see tok_internal.h).
 * Because no piece of ours has ▁ after its start, merges never cross the start of a word, so each
 * word is encoded on its own with small buffers. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "tokenizer/tok_internal.h"

typedef struct {
    uint32_t start, len; /* bytes of the normalised text; len 0 = merged away */
    int32_t id;          /* piece id, -1 for a character that is not a piece */
    int prev, next;
} Sym;

typedef struct {
    float score;
    int left, right;
    uint32_t len; /* byte length of the merged piece when pushed (stale entries differ) */
    int32_t id;   /* the merged piece */
} Cand;

/* Priority: higher score first; equal scores: the leftmost pair first. */
static inline int cand_before(const Cand *a, const Cand *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(Cand *h, size_t *n, Cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static Cand heap_pop(Cand *h, size_t *n) {
    Cand top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_before(&h[c + 1], &h[c])) c++;
        if (!cand_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static inline int push_id(EncodeScratch *s, uint32_t id) {
    if (s->n == s->ids_cap && kr_grow((void **)&s->ids, &s->ids_cap, s->n + 1, sizeof *s->ids, 64, "encoding") != 0) return -1;
    s->ids[s->n++] = id;
    return 0;
}

/* A symbol that is not a piece: its bytes with byte fallback, else <unk> (one for a run). */
static int emit_unknown(const Tokenizer *t, EncodeScratch *s, const char *p, size_t len) {
    if (!t->byte_fallback) {
        if (s->n && s->ids[s->n - 1] == (uint32_t)t->unk_id) { /* SentencePiece joins runs of <unk> */
            s->unk_len[s->n_unk - 1] += (uint32_t)len;
            return 0;
        }
        if (s->n_unk == s->unk_cap) {
            size_t cap = s->unk_cap;
            if (kr_grow((void **)&s->unk_off, &cap, s->n_unk + 1, sizeof *s->unk_off, 64, "encoding") != 0 ||
                kr_grow((void **)&s->unk_len, &s->unk_cap, s->n_unk + 1, sizeof *s->unk_len, 64, "encoding") != 0)
                return -1;
        }
        s->unk_off[s->n_unk] = (uint32_t)(p - s->norm), s->unk_len[s->n_unk++] = (uint32_t)len;
        return push_id(s, (uint32_t)t->unk_id);
    }
    for (size_t i = 0; i < len; i++)
        if (push_id(s, (uint32_t)t->byte_id[(uint8_t)p[i]]) != 0) return -1;
    return 0;
}

static inline int32_t char_id(const Tokenizer *t, const char *p, size_t len) {
    if (len <= 3) return t->bmp_id[utf8_decode((const uint8_t *)p, len)];
    const StrMapEntry *e = strmap_find(&t->pieces, p, len);
    return e ? (int32_t)e->value : -1;
}

static inline void maybe_add_pair(const Tokenizer *t, const Sym *sym, int l, int r, Cand *heap, size_t *nheap) {
    if (l < 0 || r < 0) return;
    float score;
    int32_t id = merge_lookup(t, sym[l].id, sym[r].id, &score);
    if (id < 0) return;
    Cand c = {score, l, r, sym[l].len + sym[r].len, id};
    heap_push(heap, nheap, c);
}

/* BPE over one word text[start, start+len) that holds no user-defined symbol. */
static int encode_word(const Tokenizer *t, EncodeScratch *s, const char *text, size_t start, size_t len) {
    if (len <= 4 && utf8_lead_len((uint8_t)text[start]) >= len) {
        int32_t id = char_id(t, text + start, len);
        return id >= 0 ? push_id(s, (uint32_t)id) : emit_unknown(t, s, text + start, len);
    }
    if (kr_grow(&s->syms, &s->syms_cap, len, sizeof(Sym), 64, "encoding") != 0 || kr_grow(&s->heap, &s->heap_cap, 3 * len + 2, sizeof(Cand), 64, "encoding") != 0)
        return -1;
    Sym *sym = s->syms;
    Cand *heap = s->heap;
    int n = 0;
    for (size_t p = start, end = start + len; p < end; n++) {
        size_t cl = utf8_lead_len((uint8_t)text[p]);
        if (cl > end - p) cl = end - p;
        sym[n].start = (uint32_t)p, sym[n].len = (uint32_t)cl, sym[n].prev = n - 1, sym[n].next = n + 1;
        sym[n].id = char_id(t, text + p, cl);
        p += cl;
    }
    sym[n - 1].next = -1;
    size_t nheap = 0;
    for (int i = 1; i < n; i++) maybe_add_pair(t, sym, i - 1, i, heap, &nheap);
    while (nheap) {
        Cand c = heap_pop(heap, &nheap);
        Sym *l = &sym[c.left], *r = &sym[c.right];
        if (!l->len || !r->len || l->len + r->len != c.len) continue; /* stale */
        l->len += r->len;
        l->id = c.id;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = c.left;
        r->len = 0;
        maybe_add_pair(t, sym, l->prev, c.left, heap, &nheap);
        maybe_add_pair(t, sym, c.left, l->next, heap, &nheap);
    }
    for (int i = 0; i >= 0; i = sym[i].next) {
        int rc = sym[i].id >= 0 ? push_id(s, (uint32_t)sym[i].id) : emit_unknown(t, s, text + sym[i].start, sym[i].len);
        if (rc != 0) return -1;
    }
    return 0;
}

/* encode_word through the cache: words up to WORD_CACHE_TEXT bytes with up to WORD_CACHE_IDS ids. */
static int encode_word_cached(const Tokenizer *t, EncodeScratch *s, const char *text, size_t start, size_t len) {
    if (len > WORD_CACHE_TEXT || len <= 4) return encode_word(t, s, text, start, len);
    uint64_t h = strmap_hash(text + start, len);
    WordCacheSlot *slot = &s->cache[h & (WORD_CACHE_SLOTS - 1)];
    if (slot->hash == h && slot->len == len && memcmp(slot->text, text + start, len) == 0) {
        if (s->n + slot->n_ids > s->ids_cap &&
            kr_grow((void **)&s->ids, &s->ids_cap, s->n + slot->n_ids, sizeof *s->ids, 64, "encoding") != 0)
            return -1;
        memcpy(s->ids + s->n, slot->ids, slot->n_ids * sizeof *s->ids);
        s->n += slot->n_ids;
        return 0;
    }
    size_t before = s->n;
    if (encode_word(t, s, text, start, len) != 0) return -1;
    if (s->n - before <= WORD_CACHE_IDS) {
        slot->hash = h, slot->len = (uint8_t)len, slot->n_ids = (uint8_t)(s->n - before);
        memcpy(slot->text, text + start, len);
        memcpy(slot->ids, s->ids + before, slot->n_ids * sizeof *s->ids);
    }
    return 0;
}

int tokenizer_encode_scratch(const Tokenizer *t, const char *text, size_t len, EncodeScratch *s) {
    s->n = s->n_unk = 0;
    int use_cache = s->use_word_cache && t->split_words && t->byte_fallback; /* it keeps ids, not <unk> sources */
    if (use_cache && s->cache_owner != t) {
        if (!s->cache && !(s->cache = aligned_alloc(64, WORD_CACHE_SLOTS * sizeof *s->cache)))
            return kr_error("out of memory while encoding");
        memset(s->cache, 0, WORD_CACHE_SLOTS * sizeof *s->cache);
        s->cache_owner = t;
    }
    if (kr_grow((void **)&s->norm, &s->norm_cap, NORMALIZE_BOUND(len), 1, 4096, "encoding") != 0) return -1;
    size_t nlen = normalize_text(&t->norm, text, len, s->norm);
    size_t pos = 0;
    TextSpan sp;
    while (next_span(&t->user, s->norm, nlen, &pos, t->split_words, &sp)) {
        int rc;
        if (sp.user) {
            const StrMapEntry *e = strmap_find(&t->pieces, s->norm + sp.start, sp.len);
            rc = e ? push_id(s, (uint32_t)e->value) : emit_unknown(t, s, s->norm + sp.start, sp.len);
        } else {
            rc = use_cache ? encode_word_cached(t, s, s->norm, sp.start, sp.len) : encode_word(t, s, s->norm, sp.start, sp.len);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

void encode_scratch_free(EncodeScratch *s) {
    free(s->ids), free(s->norm), free(s->syms), free(s->heap), free(s->cache), free(s->unk_off), free(s->unk_len);
    memset(s, 0, sizeof *s);
}

const char *encoded_piece_text(const Tokenizer *t, const EncodeScratch *s, size_t i, size_t *next_unk, size_t *len) {
    uint32_t id = s->ids[i];
    if ((int)id == t->unk_id && *next_unk < s->n_unk) {
        size_t k = (*next_unk)++;
        *len = s->unk_len[k];
        return s->norm + s->unk_off[k];
    }
    *len = t->piece_len[id];
    return t->proto.pieces[id].piece;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, uint32_t **ids, size_t *n) {
    EncodeScratch s = {0};
    *ids = NULL, *n = 0;
    if (tokenizer_encode_scratch(t, text, len, &s) != 0) {
        encode_scratch_free(&s);
        return -1;
    }
    *ids = s.ids ? s.ids : malloc(sizeof **ids);
    *n = s.n;
    s.ids = NULL;
    encode_scratch_free(&s);
    return *ids ? 0 : kr_error("out of memory");
}
