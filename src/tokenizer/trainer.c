#include "tokenizer/trainer.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "tokenizer/normalize.h"
#include "tokenizer/unicode_script.h"
#include "tokenizer/word_count.h"

#define SCRIPT_ANY (-1) /* ▁ and leading combining marks: joins with any script */

static const char *const kMetaPieces[] = {"<unk>", "<s>", "</s>", "<pad>"};
#define N_META 4

typedef struct {
    uint32_t *w;
    uint32_t n, cap;
} WordList;

typedef struct {
    uint32_t a, b;
    int64_t count;
    int dead; /* the merged text is reserved (a user-defined or special piece): never merge */
    uint32_t touched_at;
    WordList words; /* words that contained the pair when it was counted (may be stale) */
} Pair;

typedef struct {
    int64_t count;
    uint32_t a, b, pair;
} HeapItem;

typedef struct {
    /* symbols: characters first (ids in coverage order), then merged pieces */
    StrMap strings; /* symbol text → id; reserved texts → -1 */
    uint32_t *sym_entry;
    uint8_t *sym_chars, *sym_ws;
    int8_t *sym_script;
    uint32_t n_syms, cap_syms;
    /* words as symbol sequences in one pool */
    uint32_t *pool;
    size_t *word_off;
    uint32_t *word_len, *word_stamp;
    int64_t *word_freq;
    uint32_t n_words;
    /* pairs: (a,b) → index through an open-addressing table */
    uint64_t *pm_keys;
    uint32_t *pm_vals;
    size_t pm_mask, pm_n;
    Pair *pairs;
    uint32_t n_pairs, cap_pairs;
    HeapItem *heap;
    size_t n_heap, cap_heap;
    uint32_t *touched;
    size_t n_touched, cap_touched;
    uint32_t iter;
    int max_len;
    char *concat;
} Bpe;

/* ---- symbols ---- */

static const char *sym_text(const Bpe *b, uint32_t s, size_t *len) {
    const StrMapEntry *e = &b->strings.entries[b->sym_entry[s]];
    *len = e->key_len;
    return strmap_key(&b->strings, e);
}

static int add_symbol(Bpe *b, const char *text, size_t len, int chars, int script, int ws, uint32_t *id) {
    size_t cap = b->cap_syms;
    if (b->n_syms + 1 > cap) {
        size_t c1 = cap, c2 = cap, c3 = cap, c4 = cap;
        if (kr_grow((void **)&b->sym_entry, &c1, b->n_syms + 1, sizeof *b->sym_entry, 64, "BPE trainer") ||
            kr_grow((void **)&b->sym_chars, &c2, b->n_syms + 1, 1, 64, "BPE trainer") || kr_grow((void **)&b->sym_ws, &c3, b->n_syms + 1, 1, 64, "BPE trainer") ||
            kr_grow((void **)&b->sym_script, &c4, b->n_syms + 1, 1, 64, "BPE trainer"))
            return -1;
        b->cap_syms = (uint32_t)c1;
    }
    int added;
    int64_t *v = strmap_upsert(&b->strings, text, len, b->n_syms, &added);
    if (!v) return -1;
    b->sym_entry[b->n_syms] = (uint32_t)(b->strings.n - 1);
    b->sym_chars[b->n_syms] = (uint8_t)chars;
    b->sym_ws[b->n_syms] = (uint8_t)ws;
    b->sym_script[b->n_syms] = (int8_t)script;
    *id = b->n_syms++;
    return 0;
}

/* SentencePiece's IsValidSentencePiece for a concatenation of two valid pieces. */
static inline int pair_valid(const Bpe *b, uint32_t x, uint32_t y) {
    int sx = b->sym_script[x], sy = b->sym_script[y];
    return b->sym_chars[x] + b->sym_chars[y] <= b->max_len && !b->sym_ws[y] &&
           (sx == SCRIPT_ANY || sy == SCRIPT_ANY || sx == sy);
}

/* ---- pairs ---- */

static inline uint64_t pair_key(uint32_t a, uint32_t b) { return (uint64_t)a << 32 | b; }
static inline size_t pair_slot(uint64_t k) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20); }

static int pm_rehash(Bpe *b, size_t cap) {
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys), free(vals);
        return kr_error("out of memory in the BPE trainer (pair table of %zu)", cap);
    }
    memset(keys, 0xFF, cap * sizeof *keys);
    for (size_t i = 0; b->pm_keys && i <= b->pm_mask; i++) {
        if (b->pm_keys[i] == UINT64_MAX) continue;
        size_t j = pair_slot(b->pm_keys[i]) & (cap - 1);
        while (keys[j] != UINT64_MAX) j = (j + 1) & (cap - 1);
        keys[j] = b->pm_keys[i], vals[j] = b->pm_vals[i];
    }
    free(b->pm_keys), free(b->pm_vals);
    b->pm_keys = keys, b->pm_vals = vals, b->pm_mask = cap - 1;
    return 0;
}

/* Index of pair (x,y), creating it; UINT32_MAX when out of memory. */
static uint32_t pair_get(Bpe *b, uint32_t x, uint32_t y) {
    uint64_t k = pair_key(x, y);
    size_t i = pair_slot(k) & b->pm_mask;
    for (; b->pm_keys[i] != UINT64_MAX; i = (i + 1) & b->pm_mask)
        if (b->pm_keys[i] == k) return b->pm_vals[i];
    size_t cap = b->cap_pairs;
    if (kr_grow((void **)&b->pairs, &cap, b->n_pairs + 1, sizeof *b->pairs, 64, "BPE trainer") != 0) return UINT32_MAX;
    b->cap_pairs = (uint32_t)cap;
    uint32_t idx = b->n_pairs++;
    memset(&b->pairs[idx], 0, sizeof b->pairs[idx]);
    b->pairs[idx].a = x, b->pairs[idx].b = y;
    b->pm_keys[i] = k, b->pm_vals[i] = idx;
    if (++b->pm_n * 2 > b->pm_mask + 1 && pm_rehash(b, (b->pm_mask + 1) * 2) != 0) return UINT32_MAX;
    return idx;
}

static inline Pair *pair_find(Bpe *b, uint32_t x, uint32_t y) {
    uint64_t k = pair_key(x, y);
    for (size_t i = pair_slot(k) & b->pm_mask; b->pm_keys[i] != UINT64_MAX; i = (i + 1) & b->pm_mask)
        if (b->pm_keys[i] == k) return &b->pairs[b->pm_vals[i]];
    return NULL;
}

static int pair_inc(Bpe *b, uint32_t x, uint32_t y, uint32_t word, int64_t freq) {
    if (!pair_valid(b, x, y)) return 0;
    uint32_t idx = pair_get(b, x, y);
    if (idx == UINT32_MAX) return -1;
    Pair *p = &b->pairs[idx];
    if (p->dead) return 0;
    p->count += freq;
    if (p->words.n == 0 || p->words.w[p->words.n - 1] != word) {
        if (p->words.n == p->words.cap) { /* most pairs occur in few words: start small */
            uint32_t cap = p->words.cap ? p->words.cap * 2 : 2;
            uint32_t *w = realloc(p->words.w, cap * sizeof *w);
            if (!w) return kr_error("out of memory in the BPE trainer (word lists)");
            p->words.w = w, p->words.cap = cap;
        }
        p->words.w[p->words.n++] = word;
    }
    if (p->touched_at != b->iter) {
        p->touched_at = b->iter;
        if (kr_grow((void **)&b->touched, &b->cap_touched, b->n_touched + 1, sizeof *b->touched, 64, "BPE trainer") != 0) return -1;
        b->touched[b->n_touched++] = idx;
    }
    return 0;
}

static inline void pair_dec(Bpe *b, uint32_t x, uint32_t y, int64_t freq) {
    if (!pair_valid(b, x, y)) return;
    Pair *p = pair_find(b, x, y);
    if (p) p->count -= freq;
}

/* ---- the heap: most frequent pair first; ties by the smaller symbol ids (deterministic) ---- */

static inline int heap_before(const HeapItem *x, const HeapItem *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static void sift_down(HeapItem *h, size_t n, size_t i) {
    HeapItem item = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&h[c + 1], &h[c])) c++;
        if (!heap_before(&h[c], &item)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = item;
}

static int heap_push(Bpe *b, uint32_t idx) {
    if (kr_grow((void **)&b->heap, &b->cap_heap, b->n_heap + 1, sizeof *b->heap, 64, "BPE trainer") != 0) return -1;
    const Pair *p = &b->pairs[idx];
    HeapItem item = {p->count, p->a, p->b, idx};
    size_t i = b->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_before(&item, &b->heap[parent])) break;
        b->heap[i] = b->heap[parent];
        i = parent;
    }
    b->heap[i] = item;
    return 0;
}

static HeapItem heap_pop(Bpe *b) {
    HeapItem top = b->heap[0];
    b->heap[0] = b->heap[--b->n_heap];
    if (b->n_heap) sift_down(b->heap, b->n_heap, 0);
    return top;
}

/* ---- characters and words ---- */

typedef struct {
    uint32_t cp;
    int64_t count;
    uint32_t entry; /* in the char table */
} CharCount;

static int cmp_char_count(const void *x, const void *y) {
    const CharCount *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

static int symbol_script(uint32_t cp) {
    if (cp == 0x2581) return SCRIPT_ANY;
    int s = unicode_script(cp);
    return s == SCRIPT_INHERITED ? SCRIPT_ANY : s;
}

/* Counts characters over the word table, keeps the most frequent ones covering `coverage` of all
 * characters and makes them the first symbols. chars->value becomes the symbol id or -1. */
static int choose_characters(Bpe *b, const StrMap *words, double coverage, StrMap *chars, uint32_t *n_chars) {
    if (strmap_init(chars, 4096) != 0) return -1;
    int64_t total = 0;
    for (size_t i = 0; i < words->n; i++) {
        const StrMapEntry *e = &words->entries[i];
        const char *w = strmap_key(words, e);
        for (size_t p = 0; p < e->key_len;) {
            size_t cl = utf8_valid_len((const uint8_t *)w + p, e->key_len - p);
            int64_t *v = strmap_upsert(chars, w + p, cl, 0, NULL);
            if (!v) return -1;
            *v += e->value;
            total += e->value;
            p += cl;
        }
    }
    CharCount *cc = malloc(sizeof *cc * (chars->n ? chars->n : 1));
    if (!cc) return kr_error("out of memory");
    for (size_t i = 0; i < chars->n; i++) {
        const StrMapEntry *e = &chars->entries[i];
        cc[i].cp = utf8_decode((const uint8_t *)strmap_key(chars, e), e->key_len);
        cc[i].count = e->value;
        cc[i].entry = (uint32_t)i;
        chars->entries[i].value = -1;
    }
    qsort(cc, chars->n, sizeof *cc, cmp_char_count);
    int64_t covered = 0;
    int rc = 0;
    *n_chars = 0;
    for (size_t i = 0; i < chars->n && rc == 0; i++) {
        if ((double)covered / (double)total >= coverage) break;
        covered += cc[i].count;
        StrMapEntry *e = &chars->entries[cc[i].entry];
        const StrMapEntry *r = strmap_find(&b->strings, strmap_key(chars, e), e->key_len);
        if (r || cc[i].cp == 0) continue; /* a user-defined symbol of one character; NUL stays a byte */
        uint32_t id;
        rc = add_symbol(b, strmap_key(chars, e), e->key_len, 1, symbol_script(cc[i].cp), cc[i].cp == 0x2581, &id);
        e->value = id;
        (*n_chars)++;
    }
    free(cc);
    return rc;
}

/* Turns every word into symbol ids, cut at characters outside the vocabulary (they become bytes,
 * so no piece spans them); pieces of one symbol are dropped, they have no pairs. */
static int build_words(Bpe *b, const StrMap *words, const StrMap *chars) {
    size_t total = 0, cap_words = 0, cap_pool = 0;
    for (size_t i = 0; i < words->n; i++) total += words->entries[i].key_len;
    if (kr_grow((void **)&b->pool, &cap_pool, total / 2 + 1, sizeof *b->pool, 64, "BPE trainer") != 0) return -1;
    size_t used = 0;
    size_t c1 = 0, c2 = 0, c3 = 0;
    for (size_t i = 0; i < words->n; i++) {
        const StrMapEntry *e = &words->entries[i];
        const char *w = strmap_key(words, e);
        size_t seg = used;
        for (size_t p = 0; p <= e->key_len;) {
            int64_t id = -1;
            size_t cl = 0;
            if (p < e->key_len) {
                cl = utf8_valid_len((const uint8_t *)w + p, e->key_len - p);
                id = strmap_find(chars, w + p, cl)->value;
            }
            if (id < 0) { /* end of a segment */
                if (used - seg >= 2) {
                    if (kr_grow((void **)&b->word_off, &cap_words, b->n_words + 1, sizeof *b->word_off, 64, "BPE trainer") ||
                        kr_grow((void **)&b->word_len, &c1, b->n_words + 1, sizeof *b->word_len, 64, "BPE trainer") ||
                        kr_grow((void **)&b->word_freq, &c2, b->n_words + 1, sizeof *b->word_freq, 64, "BPE trainer") ||
                        kr_grow((void **)&b->word_stamp, &c3, b->n_words + 1, sizeof *b->word_stamp, 64, "BPE trainer"))
                        return -1;
                    b->word_off[b->n_words] = seg;
                    b->word_len[b->n_words] = (uint32_t)(used - seg);
                    b->word_freq[b->n_words] = e->value;
                    b->word_stamp[b->n_words] = UINT32_MAX;
                    b->n_words++;
                } else {
                    used = seg;
                }
                seg = used;
                if (p == e->key_len) break;
            } else {
                if (kr_grow((void **)&b->pool, &cap_pool, used + 1, sizeof *b->pool, 64, "BPE trainer") != 0) return -1;
                b->pool[used++] = (uint32_t)id;
            }
            p += cl;
        }
    }
    return 0;
}

static int count_initial_pairs(Bpe *b) {
    if (pm_rehash(b, 1 << 16) != 0) return -1;
    b->iter = UINT32_MAX - 1;
    for (uint32_t w = 0; w < b->n_words; w++) {
        const uint32_t *s = b->pool + b->word_off[w];
        for (uint32_t i = 0; i + 1 < b->word_len[w]; i++)
            if (pair_inc(b, s[i], s[i + 1], w, b->word_freq[w]) != 0) return -1;
    }
    b->n_touched = 0;
    if (kr_grow((void **)&b->heap, &b->cap_heap, b->n_pairs + 1, sizeof *b->heap, 64, "BPE trainer") != 0) return -1;
    for (uint32_t i = 0; i < b->n_pairs; i++) {
        const Pair *p = &b->pairs[i];
        b->heap[b->n_heap++] = (HeapItem){p->count, p->a, p->b, i};
    }
    for (size_t i = b->n_heap / 2; i-- > 0;) sift_down(b->heap, b->n_heap, i);
    return 0;
}

/* Replaces every (x,y) by z in the words listed for pair `pi`, updating neighbouring pair counts. */
static int apply_merge(Bpe *b, uint32_t pi, uint32_t z) {
    uint32_t x = b->pairs[pi].a, y = b->pairs[pi].b;
    WordList list = b->pairs[pi].words;
    b->pairs[pi].words = (WordList){0};
    int rc = 0;
    for (uint32_t k = 0; k < list.n && rc == 0; k++) {
        uint32_t w = list.w[k];
        if (b->word_stamp[w] == b->iter) continue;
        b->word_stamp[w] = b->iter;
        uint32_t *s = b->pool + b->word_off[w], n = b->word_len[w], j = 0;
        int64_t f = b->word_freq[w];
        for (uint32_t i = 0; i < n;) {
            if (i + 1 < n && s[i] == x && s[i + 1] == y) {
                if (j > 0) {
                    pair_dec(b, s[j - 1], x, f);
                    rc |= pair_inc(b, s[j - 1], z, w, f);
                }
                if (i + 2 < n) {
                    pair_dec(b, y, s[i + 2], f);
                    rc |= pair_inc(b, z, s[i + 2], w, f);
                }
                s[j++] = z;
                i += 2;
            } else {
                s[j++] = s[i++];
            }
        }
        b->word_len[w] = j;
    }
    free(list.w);
    b->pairs[pi].count = 0;
    return rc ? -1 : 0;
}

static void bpe_free(Bpe *b) {
    strmap_free(&b->strings);
    free(b->sym_entry), free(b->sym_chars), free(b->sym_ws), free(b->sym_script);
    free(b->pool), free(b->word_off), free(b->word_len), free(b->word_stamp), free(b->word_freq);
    free(b->pm_keys), free(b->pm_vals);
    for (uint32_t i = 0; i < b->n_pairs; i++) free(b->pairs[i].words.w);
    free(b->pairs), free(b->heap), free(b->touched), free(b->concat);
}

/* The merge loop: returns the new symbols (the merged pieces, in order) in *out. */
static int run_merges(Bpe *b, int target, uint32_t **out, int *n_out) {
    *out = malloc(sizeof **out * (target > 0 ? target : 1));
    b->concat = malloc(4 * (size_t)b->max_len + 8);
    if (!*out || !b->concat) return kr_error("out of memory");
    *n_out = 0;
    Progress prog;
    progress_begin(&prog, "merging", target, "pieces", 1);
    b->iter = 0;
    while (*n_out < target && b->n_heap) {
        HeapItem top = heap_pop(b);
        Pair *p = &b->pairs[top.pair];
        if (p->dead || p->count <= 0) continue;
        if (p->count != top.count) {
            if (top.count > p->count && heap_push(b, top.pair) != 0) return -1;
            continue;
        }
        size_t la, lb;
        const char *ta = sym_text(b, p->a, &la), *tb = sym_text(b, p->b, &lb);
        memcpy(b->concat, ta, la);
        memcpy(b->concat + la, tb, lb);
        const StrMapEntry *e = strmap_find(&b->strings, b->concat, la + lb);
        uint32_t z;
        if (e && e->value < 0) {
            p->dead = 1;
            continue;
        }
        if (e) {
            z = (uint32_t)e->value; /* the same text was already made from other parts */
        } else {
            int script = b->sym_script[p->a] != SCRIPT_ANY ? b->sym_script[p->a] : b->sym_script[p->b];
            if (add_symbol(b, b->concat, la + lb, b->sym_chars[p->a] + b->sym_chars[p->b], script, b->sym_ws[p->a], &z) != 0)
                return -1;
            (*out)[(*n_out)++] = z;
        }
        b->iter++;
        b->n_touched = 0;
        if (apply_merge(b, top.pair, z) != 0) return -1;
        for (size_t i = 0; i < b->n_touched; i++)
            if (b->pairs[b->touched[i]].count > 0 && heap_push(b, b->touched[i]) != 0) return -1;
        if ((*n_out & 255) == 0) progress_update(&prog, *n_out);
    }
    progress_end(&prog, *n_out);
    return 0;
}

void bpe_train_options_default(BpeTrainOptions *o) {
    memset(o, 0, sizeof *o);
    o->vocab_size = 32000;
    o->character_coverage = 0.9995;
    o->byte_fallback = 1;
    o->num_threads = 2;
    o->max_piece_length = 16;
}

static int fill_model(const BpeTrainOptions *o, const Bpe *b, uint32_t n_chars, const uint32_t *merged, int n_merged,
                      SpmModel *m) {
    spm_model_init(m);
    int rc = 0;
    for (int i = 0; i < N_META && rc == 0; i++) rc = spm_model_add_piece(m, kMetaPieces[i], 0, i == 0 ? SPM_UNKNOWN : SPM_CONTROL);
    for (int i = 0; o->byte_fallback && i < 256 && rc == 0; i++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", i);
        rc = spm_model_add_piece(m, piece, 0, SPM_BYTE);
    }
    for (int i = 0; i < o->user_defined.n && rc == 0; i++) rc = spm_model_add_piece(m, o->user_defined.items[i], 0, SPM_USER_DEFINED);
    float score = 0;
    char *buf = malloc(4 * (size_t)b->max_len + 1);
    if (!buf) rc = kr_error("out of memory");
    for (int i = 0; i < n_merged + (int)n_chars && rc == 0; i++) {
        uint32_t s = i < n_merged ? merged[i] : (uint32_t)(i - n_merged);
        size_t len;
        const char *t = sym_text(b, s, &len);
        memcpy(buf, t, len);
        buf[len] = 0;
        rc = spm_model_add_piece(m, buf, score, SPM_NORMAL);
        score -= 1;
    }
    free(buf);
    for (int i = 0; i < o->inputs.n && rc == 0; i++) rc = strlist_push(&m->inputs, o->inputs.items[i]);
    for (int i = 0; i < o->user_defined.n && rc == 0; i++) rc = strlist_push(&m->user_defined_symbols, o->user_defined.items[i]);
    m->model_type = SPM_MODEL_BPE;
    m->vocab_size = m->n_pieces;
    m->character_coverage = (float)o->character_coverage;
    m->input_sentence_size = (uint64_t)o->input_sentence_size;
    m->num_threads = o->num_threads;
    m->max_sentencepiece_length = o->max_piece_length;
    m->byte_fallback = o->byte_fallback;
    m->unk_id = 0, m->bos_id = 1, m->eos_id = 2, m->pad_id = 3;
    free(m->normalizer_name);
    m->normalizer_name = strdup("identity");
    return rc;
}

int bpe_train(const BpeTrainOptions *o, SpmModel *m) {
    if (o->inputs.n == 0) return kr_error("no training text given (--input FILE...)");
    if (!(o->character_coverage > 0 && o->character_coverage <= 1))
        return kr_error("--character_coverage must be in (0, 1], got %g", o->character_coverage);
    if (o->max_piece_length < 1 || o->max_piece_length > 64) return kr_error("max piece length must be 1..64");
    Bpe b = {.max_len = o->max_piece_length};
    PrefixMatcher user = {0};
    WordCounts wc = {0};
    StrMap chars = {0};
    uint32_t *merged = NULL;
    int n_merged = 0, rc = strmap_init(&b.strings, 1 << 16);
    /* Reserved texts: a merge must never produce one of them. */
    for (int i = 0; i < N_META && rc == 0; i++) {
        int64_t *v = strmap_upsert(&b.strings, kMetaPieces[i], strlen(kMetaPieces[i]), -1, NULL);
        rc = v ? 0 : -1;
    }
    for (int i = 0; i < o->user_defined.n && rc == 0; i++) {
        const char *u = o->user_defined.items[i];
        if (!u[0] || utf8_valid_len((const uint8_t *)u, strlen(u)) == 0 || strstr(u, " ")) {
            rc = kr_error("user-defined symbol '%s' must be non-empty UTF-8 without spaces", u);
            break;
        }
        int added;
        int64_t *v = strmap_upsert(&b.strings, u, strlen(u), -1, &added);
        if (!v) rc = -1;
        else if (!added) rc = kr_error("user-defined symbol '%s' is given twice or is a reserved piece", u);
    }
    if (rc == 0) rc = prefix_matcher_init(&user, o->user_defined.items, o->user_defined.n);
    Normalizer nz = {1, 1, 1, &user};
    if (rc == 0) rc = count_words(o->inputs.items, o->inputs.n, o->input_sentence_size, o->num_threads, &nz, &wc);
    uint32_t n_chars = 0;
    if (rc == 0) rc = choose_characters(&b, &wc.words, o->character_coverage, &chars, &n_chars);
    int target = 0;
    if (rc == 0) {
        int fixed = N_META + (o->byte_fallback ? 256 : 0) + o->user_defined.n + (int)n_chars;
        target = o->vocab_size - fixed;
        if (target < 0)
            rc = kr_error("--vocab_size %d is too small: the special, byte, user-defined and %u character pieces "
                          "alone need %d; raise it or lower --character_coverage",
                          o->vocab_size, n_chars, fixed);
    }
    if (rc == 0) rc = build_words(&b, &wc.words, &chars);
    if (rc == 0) {
        strmap_free(&wc.words); /* the words now live in the pool */
        strmap_free(&chars);
        rc = count_initial_pairs(&b);
    }
    if (rc == 0) rc = run_merges(&b, target, &merged, &n_merged);
    if (rc == 0 && n_merged < target)
        kr_warn("the text only supports %d merged pieces; the vocabulary has %d pieces instead of %d", n_merged,
                o->vocab_size - target + n_merged, o->vocab_size);
    if (rc == 0) rc = fill_model(o, &b, n_chars, merged, n_merged, m);
    if (rc == 0)
        for (int i = 0; i < wc.samples.n && rc == 0; i++) rc = spm_model_add_sample(m, wc.samples.items[i], "");
    free(merged);
    bpe_free(&b);
    prefix_matcher_free(&user);
    word_counts_free(&wc);
    strmap_free(&chars);
    return rc;
}
