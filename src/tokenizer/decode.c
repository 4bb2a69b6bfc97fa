/* Decoding ids to text as SentencePiece does: ▁ becomes a space, the dummy-prefix space at the
 * start of the text is dropped (▁ pieces stay "at the start" until some text has come out), control pieces vanish, <unk> shows as " ⁇ ", and runs of byte
 * pieces are reassembled into UTF-8 (a byte that does not form a valid character shows as U+FFFD). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"

typedef struct {
    char *data;
    size_t len, cap;
} Out;

static int out_put(Out *o, const void *p, size_t n) {
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        while (cap < o->len + n + 1) cap *= 2;
        char *d = realloc(o->data, cap);
        if (!d) return kr_error("out of memory while decoding");
        o->data = d, o->cap = cap;
    }
    memcpy(o->data + o->len, p, n);
    o->len += n;
    o->data[o->len] = 0;
    return 0;
}

/* Writes a piece's surface (at most cap bytes): ▁ → space, dropping a leading ▁ when it starts
 * the text. The surface is never longer than the piece. */
static size_t piece_surface(const char *p, size_t len, int drop_leading_space, char *out, size_t cap) {
    size_t o = 0, i = 0;
    if (drop_leading_space && len >= 3 && memcmp(p, KR_SPACE_SYMBOL, 3) == 0) i = 3;
    while (i < len && o < cap) {
        if (len - i >= 3 && memcmp(p + i, KR_SPACE_SYMBOL, 3) == 0) out[o++] = ' ', i += 3;
        else out[o++] = p[i++];
    }
    return o;
}

static int drops_leading_space(const Tokenizer *t) {
    return t->proto.add_dummy_prefix || t->proto.remove_extra_whitespaces;
}

/* Flushes a run of raw bytes from byte pieces: valid characters as they are, other bytes as U+FFFD. */
static int flush_bytes(Out *o, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t m = utf8_valid_len(b + i, n - i);
        int rc = m ? out_put(o, b + i, m) : out_put(o, "\xEF\xBF\xBD", 3);
        if (rc != 0) return -1;
        i += m ? m : 1;
    }
    return 0;
}

int tokenizer_decode(const Tokenizer *t, const uint32_t *ids, size_t n, char **text, size_t *len) {
    Out o = {0};
    uint8_t *bytes = malloc(n ? n : 1);
    char *surface = NULL;
    size_t surface_cap = 0, nbytes = 0;
    int at_start = 1, rc = bytes ? out_put(&o, "", 0) : kr_error("out of memory");
    for (size_t i = 0; rc == 0 && i <= n; i++) {
        int type = i < n && ids[i] < (uint32_t)t->vocab ? t->proto.pieces[ids[i]].type : 0;
        if (i < n && ids[i] >= (uint32_t)t->vocab) {
            rc = kr_error("token id %u is outside the vocabulary (%d pieces)", ids[i], t->vocab);
            break;
        }
        if (type == SPM_BYTE) {
            bytes[nbytes++] = (uint8_t)strtol(t->proto.pieces[ids[i]].piece + 3, NULL, 16);
            continue;
        }
        if (nbytes) {
            rc = flush_bytes(&o, bytes, nbytes);
            nbytes = 0;
            at_start = 0;
        }
        if (i == n || rc != 0 || type == SPM_CONTROL) continue;
        if (type == SPM_UNKNOWN) {
            rc = out_put(&o, t->proto.unk_surface, strlen(t->proto.unk_surface));
        } else {
            size_t plen = t->piece_len[ids[i]];
            if (plen > surface_cap) {
                free(surface);
                surface_cap = plen * 2;
                surface = malloc(surface_cap);
                if (!surface) {
                    rc = kr_error("out of memory");
                    break;
                }
            }
            size_t m = piece_surface(t->proto.pieces[ids[i]].piece, plen, at_start && drops_leading_space(t), surface, plen);
            rc = out_put(&o, surface, m);
            if (m == 0) continue; /* the text has not started yet: a following ▁ is still the first */
        }
        at_start = 0;
    }
    free(bytes);
    free(surface);
    if (rc != 0) {
        free(o.data);
        *text = NULL, *len = 0;
        return -1;
    }
    *text = o.data;
    *len = o.len;
    return 0;
}

int tokenizer_token_bytes(const Tokenizer *t, uint32_t id, int is_first, char *out, size_t cap) {
    if (id >= (uint32_t)t->vocab) return 0;
    const SpmPiece *p = &t->proto.pieces[id];
    size_t n = 0;
    switch (p->type) {
    case SPM_CONTROL: return 0;
    case SPM_BYTE:
        if (cap < 1) return 0;
        out[0] = (char)strtol(p->piece + 3, NULL, 16);
        return 1;
    case SPM_UNKNOWN:
        n = strlen(t->proto.unk_surface);
        if (n > cap) n = cap;
        memcpy(out, t->proto.unk_surface, n);
        return (int)n;
    default: return (int)piece_surface(p->piece, t->piece_len[id], is_first && drops_leading_space(t), out, cap);
    }
}
