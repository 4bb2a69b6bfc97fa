/* Text normalisation exactly as SentencePiece applies it with an "identity" normalizer_spec
 * (no character mapping, so Hangul compatibility jamo and everything else stay themselves):
 *  - invalid UTF-8: each byte that does not start a valid, shortest-form UTF-8 character (no
 *    surrogates, <= U+10FFFF) becomes U+FFFD, and decoding resumes at the next byte;
 *  - remove_extra_whitespaces: leading and trailing ASCII spaces are dropped and runs of spaces
 *    collapse to one (only U+0020 counts as a space; tabs and other spaces are ordinary characters);
 *  - add_dummy_prefix: a space is put in front of non-empty text;
 *  - escape_whitespaces: each space becomes U+2581 (▁);
 *  - user-defined symbols are copied through untouched wherever they occur. */
#ifndef KR_NORMALIZE_H
#define KR_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KR_SPACE_SYMBOL "\xE2\x96\x81" /* U+2581 */
#define KR_SPACE_SYMBOL_LEN 3

/* Length (1..4) of the valid UTF-8 character at s, or 0 if the bytes there are not one
 * (SentencePiece's rules: shortest form only, no surrogates, nothing above U+10FFFF). */
static inline size_t utf8_valid_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
#define TRAIL(i) ((s[i] & 0xC0) == 0x80)
    if ((c & 0xE0) == 0xC0) {
        if (n < 2 || !TRAIL(1)) return 0;
        uint32_t cp = (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
        return cp >= 0x80 ? 2 : 0;
    }
    if ((c & 0xF0) == 0xE0) {
        if (n < 3 || !TRAIL(1) || !TRAIL(2)) return 0;
        uint32_t cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
    }
    if ((c & 0xF8) == 0xF0) {
        if (n < 4 || !TRAIL(1) || !TRAIL(2) || !TRAIL(3)) return 0;
        uint32_t cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        return cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
    }
#undef TRAIL
    return 0;
}

/* Decodes the (valid) UTF-8 character at s of length len. */
static inline uint32_t utf8_decode(const uint8_t *s, size_t len) {
    switch (len) {
    case 1: return s[0];
    case 2: return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3: return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    default: return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    }
}

/* Longest-match lookup of the user-defined symbols. */
typedef struct {
    char **syms;
    size_t *lens;
    int n;
    uint8_t first_byte[256]; /* 1 where some symbol starts with that byte */
} PrefixMatcher;

int prefix_matcher_init(PrefixMatcher *pm, char *const *syms, int n);
void prefix_matcher_free(PrefixMatcher *pm);
/* Length of the longest symbol that starts `s`, or 0. */
static inline size_t prefix_match(const PrefixMatcher *pm, const char *s, size_t n) {
    if (!pm || !pm->first_byte[(uint8_t)s[0]]) return 0;
    size_t best = 0;
    for (int i = 0; i < pm->n; i++)
        if (pm->lens[i] > best && pm->lens[i] <= n && memcmp(pm->syms[i], s, pm->lens[i]) == 0) best = pm->lens[i];
    return best;
}

/* Length of the character starting with byte `lead` (SentencePiece's table: any byte >= 0xF0
 * starts 4, stray continuation bytes count as 1). */
static inline size_t utf8_lead_len(uint8_t lead) { return (size_t)"\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[lead >> 4]; }

/* A piece of normalised text: a user-defined symbol, or a run of characters up to the next
 * user-defined symbol (or, with split_at_space, up to the next ▁ after its first character). */
typedef struct {
    size_t start, len;
    int user;
} TextSpan;

/* Advances *pos over the next span of t[0..n); returns 0 at the end. The trainer counts these
 * spans as words and the encoder encodes them one by one. */
static inline int next_span(const PrefixMatcher *pm, const char *t, size_t n, size_t *pos, int split_at_space,
                            TextSpan *span) {
    size_t p = *pos;
    if (p >= n) return 0;
    size_t u = prefix_match(pm, t + p, n - p);
    if (u) {
        span->start = p, span->len = u, span->user = 1;
        *pos = p + u;
        return 1;
    }
    size_t q = p + utf8_lead_len((uint8_t)t[p]);
    while (q < n && !prefix_match(pm, t + q, n - q) &&
           !(split_at_space && (uint8_t)t[q] == 0xE2 && n - q >= 3 && memcmp(t + q, KR_SPACE_SYMBOL, 3) == 0))
        q += utf8_lead_len((uint8_t)t[q]);
    if (q > n) q = n;
    span->start = p, span->len = q - p, span->user = 0;
    *pos = q;
    return 1;
}

typedef struct {
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    const PrefixMatcher *user; /* may be NULL */
} Normalizer;

/* Worst-case output size for `len` input bytes. */
#define NORMALIZE_BOUND(len) (3 * (size_t)(len) + 3)
/* Normalises in[0..len) into out (room for NORMALIZE_BOUND(len) bytes); returns the output length. */
size_t normalize_text(const Normalizer *nz, const char *in, size_t len, char *out);

#endif
