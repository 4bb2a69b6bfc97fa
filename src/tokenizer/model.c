#define _GNU_SOURCE /* memmem */
/* The piece table: loading and validating a .model, id/piece lookups, the self-test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/tok_internal.h"

/* "<0xNN>" → NN, else -1. */
static int byte_piece_value(const char *p) {
    unsigned v;
    char tail;
    if (strlen(p) != 6 || sscanf(p, "<0x%2X%c", &v, &tail) != 2 || tail != '>') return -1;
    return (int)v;
}

static int reserved_control_id(const Tokenizer *t, const char *piece) {
    const StrMapEntry *e = strmap_find(&t->reserved, piece, strlen(piece));
    return e && t->proto.pieces[e->value].type == SPM_CONTROL ? (int)e->value : -1;
}

static int check_normalizer(const SpmModel *m, const char *what) {
    const char *name = m->normalizer_name ? m->normalizer_name : "";
    if ((strcmp(name, "identity") != 0 && name[0]) || m->precompiled_charsmap_size || m->has_normalization_rules ||
        m->has_denormalizer)
        return kr_error("%s: uses the SentencePiece normalizer '%s' with character mapping rules, which krllm does "
                        "not implement; use a model written by 'krllm tokenizer train' (normalizer 'identity')",
                        what, name);
    if (m->model_type != SPM_MODEL_BPE)
        return kr_error("%s: model type %d is not BPE; krllm reads BPE models only", what, m->model_type);
    return 0;
}

static int index_pieces(Tokenizer *t, const char *what) {
    SpmModel *m = &t->proto;
    int n_user = 0;
    for (int i = 0; i < m->n_pieces; i++) {
        const SpmPiece *p = &m->pieces[i];
        size_t len = strlen(p->piece);
        t->piece_len[i] = len;
        if (p->type == SPM_UNUSED)
            return kr_error("%s: piece %d ('%s') has type UNUSED, which krllm does not support", what, i, p->piece);
        StrMap *map = p->type == SPM_NORMAL || p->type == SPM_USER_DEFINED ? &t->pieces : &t->reserved;
        StrMap *other = map == &t->pieces ? &t->reserved : &t->pieces;
        int added;
        int64_t *v = strmap_upsert(map, p->piece, len, i, &added);
        if (!v) return -1;
        if (!added || strmap_find(other, p->piece, len))
            return kr_error("%s: piece '%s' is defined twice (ids %lld and %d)", what, p->piece, (long long)*v, i);
        if (p->type == SPM_UNKNOWN) {
            if (t->unk_id >= 0) return kr_error("%s: more than one <unk> piece (ids %d and %d)", what, t->unk_id, i);
            t->unk_id = i;
        } else if (p->type == SPM_BYTE) {
            int b = byte_piece_value(p->piece);
            if (b < 0) return kr_error("%s: byte piece %d is '%s', expected <0xNN>", what, i, p->piece);
            if (!m->byte_fallback) return kr_error("%s: byte piece '%s' found although byte_fallback is off", what, p->piece);
            t->byte_id[b] = i;
        } else if (p->type == SPM_USER_DEFINED) {
            n_user++;
        }
        if (map == &t->pieces && len > 1 && memmem(p->piece + 1, len - 1, KR_SPACE_SYMBOL, KR_SPACE_SYMBOL_LEN))
            t->split_words = 0;
    }
    if (t->unk_id < 0) return kr_error("%s: the model has no <unk> piece", what);
    if (m->byte_fallback)
        for (int b = 0; b < 256; b++)
            if (t->byte_id[b] < 0) return kr_error("%s: byte fallback is on but piece <0x%02X> is missing", what, b);
    char **user = calloc(n_user ? n_user : 1, sizeof *user);
    if (!user) return kr_error("out of memory");
    for (int i = 0, k = 0; i < m->n_pieces; i++)
        if (m->pieces[i].type == SPM_USER_DEFINED) user[k++] = m->pieces[i].piece;
    int rc = prefix_matcher_init(&t->user, user, n_user);
    free(user);
    return rc;
}

static void merge_insert(Tokenizer *t, int32_t l, int32_t r, int32_t id) {
    uint64_t k = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 24) & t->merge_mask;
    while (t->merges[i].key != UINT64_MAX && t->merges[i].key != k) i = (i + 1) & t->merge_mask;
    t->merges[i].key = k, t->merges[i].id = id, t->merges[i].score = t->proto.pieces[id].score;
}

static int32_t normal_piece_id(const Tokenizer *t, const char *p, size_t len) {
    const StrMapEntry *e = strmap_find(&t->pieces, p, len);
    return e ? (int32_t)e->value : -1;
}

/* Visits every split of every normal or user-defined piece into two pieces: counts them, or
 * inserts them into the merge table. Refuses a normal piece holding a character that is not a
 * piece (the id-based encoder would then differ from SentencePiece's text lookups). */
static int scan_splits(Tokenizer *t, const char *what, int insert, size_t *count) {
    const SpmModel *m = &t->proto;
    *count = 0;
    for (int i = 0; i < m->n_pieces; i++) {
        if (m->pieces[i].type != SPM_NORMAL && m->pieces[i].type != SPM_USER_DEFINED) continue;
        const char *p = m->pieces[i].piece;
        size_t len = t->piece_len[i];
        for (size_t k = 0; k < len;) {
            size_t cl = utf8_valid_len((const uint8_t *)p + k, len - k);
            if (!cl) return kr_error("%s: piece %d is not valid UTF-8", what, i);
            /* user-defined pieces are matched whole before any merging, so only normal pieces
             * need their characters to be pieces */
            if (cl < len && m->pieces[i].type == SPM_NORMAL && normal_piece_id(t, p + k, cl) < 0)
                return kr_error("%s: piece %d ('%s') holds a character that is not a piece; not a krllm model", what, i, p);
            k += cl;
            if (k == len) break;
            int32_t l = normal_piece_id(t, p, k), r = normal_piece_id(t, p + k, len - k);
            if (l < 0 || r < 0) continue;
            (*count)++;
            if (insert) merge_insert(t, l, r, i);
        }
    }
    return 0;
}

/* Builds the one-character table and the merge table (load factor <= 2/3). A reserved piece of
 * one character is refused: the encoder looks characters up among normal pieces only. */
static int index_merges(Tokenizer *t, const char *what) {
    const SpmModel *m = &t->proto;
    t->bmp_id = malloc(0x10000 * sizeof *t->bmp_id);
    if (!t->bmp_id) return kr_error("out of memory");
    for (size_t c = 0; c < 0x10000; c++) t->bmp_id[c] = -1;
    for (int i = 0; i < m->n_pieces; i++) {
        const char *p = m->pieces[i].piece;
        size_t len = t->piece_len[i], first = utf8_valid_len((const uint8_t *)p, len);
        if (first != len || !first) continue;
        if (m->pieces[i].type != SPM_NORMAL && m->pieces[i].type != SPM_USER_DEFINED)
            return kr_error("%s: reserved piece %d ('%s') is a single character; not a krllm model", what, i, p);
        if (len <= 3) t->bmp_id[utf8_decode((const uint8_t *)p, len)] = i;
    }
    size_t splits, cap = 64;
    if (scan_splits(t, what, 0, &splits) != 0) return -1;
    while (cap * 2 < 3 * splits) cap *= 2;
    t->merges = malloc(cap * sizeof *t->merges);
    if (!t->merges) return kr_error("out of memory");
    memset(t->merges, 0xFF, cap * sizeof *t->merges);
    t->merge_mask = cap - 1;
    return scan_splits(t, what, 1, &splits);
}

static int run_self_test(const Tokenizer *t, const char *what) {
    for (int i = 0; i < t->proto.n_samples; i++) {
        const SpmSample *s = &t->proto.samples[i];
        char *got = tokenizer_encode_as_pieces_line(t, s->input, strlen(s->input));
        if (!got) return -1;
        int ok = strcmp(got, s->expected) == 0;
        if (!ok)
            kr_error("%s: self-test sample %d failed: '%s' encodes as '%s' but the model file says '%s' "
                     "(the file is damaged or was written by an incompatible encoder)",
                     what, i, s->input, got, s->expected);
        free(got);
        if (!ok) return -1;
    }
    return 0;
}

int tokenizer_from_proto(SpmModel *m, const char *what, Tokenizer **out) {
    *out = NULL;
    Tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        spm_model_free(m);
        return kr_error("out of memory");
    }
    t->proto = *m;
    memset(m, 0, sizeof *m);
    t->vocab = t->proto.n_pieces;
    t->unk_id = -1;
    t->split_words = 1;
    t->byte_fallback = t->proto.byte_fallback;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    t->piece_len = calloc(t->vocab, sizeof *t->piece_len);
    if (!t->piece_len || strmap_init(&t->pieces, t->vocab) != 0 || strmap_init(&t->reserved, 300) != 0 ||
        check_normalizer(&t->proto, what) != 0 || index_pieces(t, what) != 0 || index_merges(t, what) != 0) {
        if (!t->piece_len) kr_error("out of memory");
        tokenizer_free(t);
        return -1;
    }
    t->bos_id = reserved_control_id(t, t->proto.bos_piece);
    t->eos_id = reserved_control_id(t, t->proto.eos_piece);
    t->pad_id = reserved_control_id(t, t->proto.pad_piece);
    t->norm.add_dummy_prefix = t->proto.add_dummy_prefix;
    t->norm.remove_extra_whitespaces = t->proto.remove_extra_whitespaces;
    t->norm.escape_whitespaces = t->proto.escape_whitespaces;
    t->norm.user = &t->user;
    if (run_self_test(t, what) != 0) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tokenizer_load(const char *path, Tokenizer **out) {
    *out = NULL;
    size_t size;
    char *data = kr_read_file(path, &size);
    if (!data) return -1; /* the message names the file */
    SpmModel m;
    int rc = spm_model_decode((const uint8_t *)data, size, path, &m);
    free(data);
    if (rc != 0) return -1;
    return tokenizer_from_proto(&m, path, out);
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    spm_model_free(&t->proto);
    free(t->piece_len), free(t->merges), free(t->bmp_id);
    strmap_free(&t->pieces);
    strmap_free(&t->reserved);
    prefix_matcher_free(&t->user);
    free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->vocab; }

int tokenizer_piece_id(const Tokenizer *t, const char *piece) {
    size_t len = strlen(piece);
    const StrMapEntry *e = strmap_find(&t->pieces, piece, len);
    if (!e) e = strmap_find(&t->reserved, piece, len);
    return e ? (int)e->value : -1;
}

const char *tokenizer_id_to_piece(const Tokenizer *t, int id) {
    return id >= 0 && id < t->vocab ? t->proto.pieces[id].piece : NULL;
}

int tokenizer_bos_id(const Tokenizer *t) { return t->bos_id; }
int tokenizer_eos_id(const Tokenizer *t) { return t->eos_id; }
int tokenizer_unk_id(const Tokenizer *t) { return t->unk_id; }
int tokenizer_pad_id(const Tokenizer *t) { return t->pad_id; }

char *tokenizer_encode_as_pieces_line(const Tokenizer *t, const char *text, size_t len) {
    EncodeScratch s = {0};
    if (tokenizer_encode_scratch(t, text, len, &s) != 0) {
        encode_scratch_free(&s);
        return NULL;
    }
    size_t total = 1, plen, unk = 0;
    for (size_t i = 0; i < s.n; i++) total += (encoded_piece_text(t, &s, i, &unk, &plen), plen) + 1;
    char *line = malloc(total), *o = line;
    if (line) {
        unk = 0;
        for (size_t i = 0; i < s.n; i++) {
            if (i) *o++ = ' ';
            const char *p = encoded_piece_text(t, &s, i, &unk, &plen);
            memcpy(o, p, plen);
            o += plen;
        }
        *o = 0;
    } else {
        kr_error("out of memory");
    }
    encode_scratch_free(&s);
    return line;
}
