#include "tokenizer/spm_proto.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* Field numbers from sentencepiece_model.proto. */
enum { MP_PIECES = 1, MP_TRAINER = 2, MP_NORMALIZER = 3, MP_SELF_TEST = 4, MP_DENORMALIZER = 5 };
enum { SP_PIECE = 1, SP_SCORE = 2, SP_TYPE = 3 };
enum {
    TS_INPUT = 1, TS_MODEL_PREFIX = 2, TS_MODEL_TYPE = 3, TS_VOCAB_SIZE = 4, TS_CHARACTER_COVERAGE = 10,
    TS_INPUT_SENTENCE_SIZE = 11, TS_NUM_THREADS = 16, TS_MAX_PIECE_LENGTH = 20, TS_SPLIT_BY_SCRIPT = 21,
    TS_SPLIT_BY_WHITESPACE = 22, TS_SPLIT_BY_NUMBER = 23, TS_USER_DEFINED = 31, TS_BYTE_FALLBACK = 35,
    TS_UNK_ID = 40, TS_BOS_ID = 41, TS_EOS_ID = 42, TS_PAD_ID = 43, TS_UNK_SURFACE = 44, TS_UNK_PIECE = 45,
    TS_BOS_PIECE = 46, TS_EOS_PIECE = 47, TS_PAD_PIECE = 48,
};
enum { NS_NAME = 1, NS_CHARSMAP = 2, NS_ADD_DUMMY_PREFIX = 3, NS_REMOVE_EXTRA_WS = 4, NS_ESCAPE_WS = 5, NS_RULES = 6 };
enum { ST_SAMPLES = 1, SS_INPUT = 1, SS_EXPECTED = 2 };
enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Replaces *slot with a copy of s. */
static int set_str(char **slot, const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return kr_error("out of memory");
    memcpy(d, s, n);
    d[n] = 0;
    free(*slot);
    *slot = d;
    return 0;
}

void spm_model_init(SpmModel *m) {
    memset(m, 0, sizeof *m);
    m->model_type = SPM_MODEL_UNIGRAM;
    m->vocab_size = 8000;
    m->num_threads = 16;
    m->max_sentencepiece_length = 16;
    m->character_coverage = 0.9995f;
    m->split_by_unicode_script = m->split_by_number = m->split_by_whitespace = 1;
    m->unk_id = 0, m->bos_id = 1, m->eos_id = 2, m->pad_id = -1;
    m->unk_piece = dup_str("<unk>");
    m->bos_piece = dup_str("<s>");
    m->eos_piece = dup_str("</s>");
    m->pad_piece = dup_str("<pad>");
    m->unk_surface = dup_str(" \xE2\x81\x87 ");
    m->add_dummy_prefix = m->remove_extra_whitespaces = m->escape_whitespaces = 1;
}

void spm_model_free(SpmModel *m) {
    for (int i = 0; i < m->n_pieces; i++) free(m->pieces[i].piece);
    free(m->pieces);
    for (int i = 0; i < m->n_samples; i++) free(m->samples[i].input), free(m->samples[i].expected);
    free(m->samples);
    strlist_free(&m->inputs);
    strlist_free(&m->user_defined_symbols);
    free(m->model_prefix);
    free(m->unk_piece), free(m->bos_piece), free(m->eos_piece), free(m->pad_piece), free(m->unk_surface);
    free(m->normalizer_name);
    memset(m, 0, sizeof *m);
}

static int add_piece_n(SpmModel *m, const char *piece, size_t n, float score, int type) {
    if ((m->n_pieces & (m->n_pieces - 1)) == 0) { /* grow at powers of two */
        SpmPiece *p = realloc(m->pieces, sizeof *p * (m->n_pieces ? 2 * (size_t)m->n_pieces : 1));
        if (!p) return kr_error("out of memory");
        m->pieces = p;
    }
    SpmPiece *p = &m->pieces[m->n_pieces];
    p->piece = NULL;
    if (set_str(&p->piece, piece, n) != 0) return -1;
    p->score = score;
    p->type = type;
    m->n_pieces++;
    return 0;
}

int spm_model_add_piece(SpmModel *m, const char *piece, float score, int type) {
    return add_piece_n(m, piece, strlen(piece), score, type);
}

int spm_model_add_sample(SpmModel *m, const char *input, const char *expected) {
    SpmSample *s = realloc(m->samples, sizeof *s * (m->n_samples + 1));
    if (!s) return kr_error("out of memory");
    m->samples = s;
    s[m->n_samples].input = dup_str(input);
    s[m->n_samples].expected = dup_str(expected);
    if (!s[m->n_samples].input || !s[m->n_samples].expected) {
        free(s[m->n_samples].input), free(s[m->n_samples].expected);
        return kr_error("out of memory");
    }
    m->n_samples++;
    return 0;
}

/* ---- writing ---- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const void *p, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_varint(Buf *b, uint64_t v) {
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    buf_put(b, tmp, n);
}

static void put_tag(Buf *b, int field, int wt) { put_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }
/* int32 fields are sign-extended to 64 bits on the wire (so -1 takes ten bytes). */
static void put_int(Buf *b, int field, int64_t v) { put_tag(b, field, WT_VARINT), put_varint(b, (uint64_t)v); }
static void put_bytes(Buf *b, int field, const void *p, size_t n) {
    put_tag(b, field, WT_LEN), put_varint(b, n), buf_put(b, p, n);
}
static void put_str(Buf *b, int field, const char *s) { put_bytes(b, field, s, strlen(s)); }
static void put_float(Buf *b, int field, float f) {
    uint8_t le[4];
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++) le[i] = (uint8_t)(u >> (8 * i));
    put_tag(b, field, WT_FIXED32), buf_put(b, le, 4);
}
/* Appends `sub` as a length-delimited submessage and empties it. */
static void put_msg(Buf *b, int field, Buf *sub) {
    if (sub->oom) b->oom = 1;
    put_bytes(b, field, sub->data, sub->len);
    sub->len = 0;
}

static void write_trainer_spec(Buf *b, const SpmModel *m) {
    for (int i = 0; i < m->inputs.n; i++) put_str(b, TS_INPUT, m->inputs.items[i]);
    if (m->model_prefix) put_str(b, TS_MODEL_PREFIX, m->model_prefix);
    put_int(b, TS_MODEL_TYPE, m->model_type);
    put_int(b, TS_VOCAB_SIZE, m->vocab_size);
    put_float(b, TS_CHARACTER_COVERAGE, m->character_coverage);
    put_int(b, TS_INPUT_SENTENCE_SIZE, (int64_t)m->input_sentence_size);
    put_int(b, TS_NUM_THREADS, m->num_threads);
    put_int(b, TS_MAX_PIECE_LENGTH, m->max_sentencepiece_length);
    put_int(b, TS_SPLIT_BY_SCRIPT, m->split_by_unicode_script);
    put_int(b, TS_SPLIT_BY_WHITESPACE, m->split_by_whitespace);
    put_int(b, TS_SPLIT_BY_NUMBER, m->split_by_number);
    for (int i = 0; i < m->user_defined_symbols.n; i++) put_str(b, TS_USER_DEFINED, m->user_defined_symbols.items[i]);
    put_int(b, TS_BYTE_FALLBACK, m->byte_fallback);
    put_int(b, TS_UNK_ID, m->unk_id);
    put_int(b, TS_BOS_ID, m->bos_id);
    put_int(b, TS_EOS_ID, m->eos_id);
    put_int(b, TS_PAD_ID, m->pad_id);
    put_str(b, TS_UNK_SURFACE, m->unk_surface);
    put_str(b, TS_UNK_PIECE, m->unk_piece);
    put_str(b, TS_BOS_PIECE, m->bos_piece);
    put_str(b, TS_EOS_PIECE, m->eos_piece);
    put_str(b, TS_PAD_PIECE, m->pad_piece);
}

static void write_normalizer_spec(Buf *b, const SpmModel *m) {
    put_str(b, NS_NAME, m->normalizer_name ? m->normalizer_name : "identity");
    put_int(b, NS_ADD_DUMMY_PREFIX, m->add_dummy_prefix);
    put_int(b, NS_REMOVE_EXTRA_WS, m->remove_extra_whitespaces);
    put_int(b, NS_ESCAPE_WS, m->escape_whitespaces);
}

int spm_model_encode(const SpmModel *m, uint8_t **out, size_t *size) {
    Buf b = {0}, sub = {0}, sub2 = {0};
    for (int i = 0; i < m->n_pieces; i++) {
        put_str(&sub, SP_PIECE, m->pieces[i].piece);
        put_float(&sub, SP_SCORE, m->pieces[i].score);
        put_int(&sub, SP_TYPE, m->pieces[i].type);
        put_msg(&b, MP_PIECES, &sub);
    }
    write_trainer_spec(&sub, m);
    put_msg(&b, MP_TRAINER, &sub);
    write_normalizer_spec(&sub, m);
    put_msg(&b, MP_NORMALIZER, &sub);
    if (m->n_samples) {
        for (int i = 0; i < m->n_samples; i++) {
            put_str(&sub2, SS_INPUT, m->samples[i].input);
            put_str(&sub2, SS_EXPECTED, m->samples[i].expected);
            put_msg(&sub, ST_SAMPLES, &sub2);
        }
        put_msg(&b, MP_SELF_TEST, &sub);
    }
    int oom = b.oom || sub.oom || sub2.oom;
    free(sub.data), free(sub2.data);
    if (oom) {
        free(b.data);
        return kr_error("out of memory while encoding the tokenizer model");
    }
    *out = b.data;
    *size = b.len;
    return 0;
}

/* ---- reading ---- */

typedef struct {
    const uint8_t *p, *end, *base;
    const char *what;
} Reader;

typedef struct {
    int field, wt;
    uint64_t u;          /* varint / fixed values */
    const uint8_t *data; /* WT_LEN payload */
    size_t len;
} Field;

static int corrupt(const Reader *r, const char *why) {
    return kr_error("%s: not a valid SentencePiece model (%s at byte %zu); re-create it with 'krllm tokenizer train'",
                    r->what, why, (size_t)(r->p - r->base));
}

static int get_varint(Reader *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return corrupt(r, "truncated varint");
        uint8_t c = *r->p++;
        x |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return corrupt(r, "varint longer than 10 bytes");
}

/* Reads the next field; returns 1 on a field, 0 at the end, -1 on error. */
static int next_field(Reader *r, Field *f) {
    if (r->p >= r->end) return 0;
    uint64_t tag = 0;
    if (get_varint(r, &tag) != 0) return -1;
    f->field = (int)(tag >> 3);
    f->wt = (int)(tag & 7);
    if (f->field == 0) return corrupt(r, "field number 0");
    switch (f->wt) {
    case WT_VARINT: return get_varint(r, &f->u) == 0 ? 1 : -1;
    case WT_FIXED64:
    case WT_FIXED32: {
        size_t n = f->wt == WT_FIXED64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) return corrupt(r, "truncated fixed-size field");
        f->u = 0;
        for (size_t i = 0; i < n; i++) f->u |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 1;
    }
    case WT_LEN:
        if (get_varint(r, &f->u) != 0) return -1;
        if (f->u > (uint64_t)(r->end - r->p)) return corrupt(r, "length past the end of the data");
        f->data = r->p, f->len = (size_t)f->u;
        r->p += f->len;
        return 1;
    default: return corrupt(r, "unsupported wire type");
    }
}

static int expect(const Reader *r, const Field *f, int wt) { return f->wt == wt ? 0 : corrupt(r, "unexpected wire type"); }

static Reader sub_reader(const Reader *r, const Field *f) {
    Reader s = {f->data, f->data + f->len, r->base, r->what};
    return s;
}

static int get_str(const Reader *r, const Field *f, char **slot) {
    if (expect(r, f, WT_LEN) != 0) return -1;
    if (memchr(f->data, 0, f->len)) return corrupt(r, "NUL byte inside a string");
    return set_str(slot, (const char *)f->data, f->len);
}

static int get_int(const Reader *r, const Field *f, int *v) {
    if (expect(r, f, WT_VARINT) != 0) return -1;
    *v = (int)(int32_t)(uint32_t)f->u;
    return 0;
}

static int get_bool(const Reader *r, const Field *f, int *v) {
    if (expect(r, f, WT_VARINT) != 0) return -1;
    *v = f->u != 0;
    return 0;
}

static int read_piece(Reader *r, SpmModel *m) {
    Field f;
    int rc, type = SPM_NORMAL;
    const uint8_t *piece = NULL;
    size_t piece_len = 0;
    float score = 0;
    while ((rc = next_field(r, &f)) > 0) {
        if (f.field == SP_PIECE) {
            if (expect(r, &f, WT_LEN) != 0) return -1;
            if (memchr(f.data, 0, f.len)) return corrupt(r, "NUL byte inside a piece");
            piece = f.data, piece_len = f.len;
        } else if (f.field == SP_SCORE) {
            if (expect(r, &f, WT_FIXED32) != 0) return -1;
            uint32_t u = (uint32_t)f.u;
            memcpy(&score, &u, 4);
        } else if (f.field == SP_TYPE) {
            if (get_int(r, &f, &type) != 0) return -1;
            if (type < SPM_NORMAL || type > SPM_BYTE) return corrupt(r, "unknown piece type");
        }
    }
    if (rc < 0) return -1;
    if (!piece || piece_len == 0) return corrupt(r, "a piece without text");
    return add_piece_n(m, (const char *)piece, piece_len, score, type);
}

static int read_trainer_spec(Reader *r, SpmModel *m) {
    Field f;
    int rc;
    while ((rc = next_field(r, &f)) > 0) {
        int err = 0;
        switch (f.field) {
        case TS_INPUT:
        case TS_USER_DEFINED: {
            char *s = NULL;
            err = get_str(r, &f, &s);
            if (!err) err = strlist_push(f.field == TS_INPUT ? &m->inputs : &m->user_defined_symbols, s);
            free(s);
            break;
        }
        case TS_MODEL_PREFIX: err = get_str(r, &f, &m->model_prefix); break;
        case TS_MODEL_TYPE: err = get_int(r, &f, &m->model_type); break;
        case TS_VOCAB_SIZE: err = get_int(r, &f, &m->vocab_size); break;
        case TS_NUM_THREADS: err = get_int(r, &f, &m->num_threads); break;
        case TS_MAX_PIECE_LENGTH: err = get_int(r, &f, &m->max_sentencepiece_length); break;
        case TS_SPLIT_BY_SCRIPT: err = get_int(r, &f, &m->split_by_unicode_script); break;
        case TS_SPLIT_BY_WHITESPACE: err = get_int(r, &f, &m->split_by_whitespace); break;
        case TS_SPLIT_BY_NUMBER: err = get_int(r, &f, &m->split_by_number); break;
        case TS_BYTE_FALLBACK: err = get_bool(r, &f, &m->byte_fallback); break;
        case TS_UNK_ID: err = get_int(r, &f, &m->unk_id); break;
        case TS_BOS_ID: err = get_int(r, &f, &m->bos_id); break;
        case TS_EOS_ID: err = get_int(r, &f, &m->eos_id); break;
        case TS_PAD_ID: err = get_int(r, &f, &m->pad_id); break;
        case TS_UNK_SURFACE: err = get_str(r, &f, &m->unk_surface); break;
        case TS_UNK_PIECE: err = get_str(r, &f, &m->unk_piece); break;
        case TS_BOS_PIECE: err = get_str(r, &f, &m->bos_piece); break;
        case TS_EOS_PIECE: err = get_str(r, &f, &m->eos_piece); break;
        case TS_PAD_PIECE: err = get_str(r, &f, &m->pad_piece); break;
        case TS_CHARACTER_COVERAGE:
            if (!(err = expect(r, &f, WT_FIXED32))) {
                uint32_t u = (uint32_t)f.u;
                memcpy(&m->character_coverage, &u, 4);
            }
            break;
        case TS_INPUT_SENTENCE_SIZE:
            if (!(err = expect(r, &f, WT_VARINT))) m->input_sentence_size = f.u;
            break;
        default: break; /* other training options do not affect encoding */
        }
        if (err) return -1;
    }
    return rc;
}

static int read_normalizer_spec(Reader *r, SpmModel *m) {
    Field f;
    int rc;
    while ((rc = next_field(r, &f)) > 0) {
        int err = 0;
        switch (f.field) {
        case NS_NAME: err = get_str(r, &f, &m->normalizer_name); break;
        case NS_CHARSMAP:
            if (!(err = expect(r, &f, WT_LEN))) m->precompiled_charsmap_size = f.len;
            break;
        case NS_ADD_DUMMY_PREFIX: err = get_bool(r, &f, &m->add_dummy_prefix); break;
        case NS_REMOVE_EXTRA_WS: err = get_bool(r, &f, &m->remove_extra_whitespaces); break;
        case NS_ESCAPE_WS: err = get_bool(r, &f, &m->escape_whitespaces); break;
        case NS_RULES: m->has_normalization_rules = f.wt == WT_LEN && f.len > 0; break;
        default: break;
        }
        if (err) return -1;
    }
    return rc;
}

static int read_sample(Reader *r, SpmModel *m) {
    Field f;
    int rc;
    char *input = NULL, *expected = NULL;
    while ((rc = next_field(r, &f)) > 0) {
        if (f.field == SS_INPUT) rc = get_str(r, &f, &input);
        else if (f.field == SS_EXPECTED) rc = get_str(r, &f, &expected);
        if (rc < 0) break;
    }
    if (rc == 0) rc = spm_model_add_sample(m, input ? input : "", expected ? expected : "");
    free(input), free(expected);
    return rc;
}

static int read_self_test(Reader *r, SpmModel *m) {
    Field f;
    int rc;
    while ((rc = next_field(r, &f)) > 0) {
        if (f.field != ST_SAMPLES) continue;
        if (expect(r, &f, WT_LEN) != 0) return -1;
        Reader s = sub_reader(r, &f);
        if (read_sample(&s, m) != 0) return -1;
    }
    return rc;
}

int spm_model_decode(const uint8_t *data, size_t size, const char *what, SpmModel *m) {
    spm_model_init(m);
    Reader r = {data, data + size, data, what};
    Field f;
    int rc;
    while ((rc = next_field(&r, &f)) > 0) {
        int (*read_sub)(Reader *, SpmModel *) = NULL;
        switch (f.field) {
        case MP_PIECES: read_sub = read_piece; break;
        case MP_TRAINER: read_sub = read_trainer_spec; break;
        case MP_NORMALIZER: read_sub = read_normalizer_spec; break;
        case MP_SELF_TEST: read_sub = read_self_test; break;
        case MP_DENORMALIZER: m->has_denormalizer = 1; break;
        default: break;
        }
        if (!read_sub) continue;
        if (expect(&r, &f, WT_LEN) != 0) break;
        Reader s = sub_reader(&r, &f);
        if (read_sub(&s, m) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && m->n_pieces == 0) rc = corrupt(&r, "no pieces");
    if (rc < 0) {
        spm_model_free(m);
        return -1;
    }
    return 0;
}
