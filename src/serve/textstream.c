#include "serve/textstream.h"

#include <stdlib.h>
#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

int textstream_init(TextStream *t, char *const *stop, int nstop, size_t reserve) {
    memset(t, 0, sizeof *t);
    t->stop = stop;
    t->nstop = nstop;
    t->cap = reserve < 64 ? 64 : reserve;
    t->buf = malloc(t->cap);
    return t->buf ? 0 : -1;
}

void textstream_free(TextStream *t) {
    free(t->buf);
    t->buf = NULL;
}

static int append(TextStream *t, const void *p, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap * 2 > t->len + n + 1 ? t->cap * 2 : t->len + n + 1;
        char *b = realloc(t->buf, cap);
        if (!b) return -1;
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = 0;
    return 0;
}

/* Expected length of a character from its first byte; 0 for a byte that cannot start one. */
static int lead_length(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Whether the second byte is allowed after this lead byte (rules out overlongs, surrogates
 * and code points above U+10FFFF). */
static int second_ok(unsigned char lead, unsigned char c) {
    if ((c & 0xC0) != 0x80) return 0;
    if (lead == 0xE0) return c >= 0xA0;
    if (lead == 0xED) return c <= 0x9F;
    if (lead == 0xF0) return c >= 0x90;
    if (lead == 0xF4) return c <= 0x8F;
    return 1;
}

int utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int L = lead_length(u[i]);
        if (L == 0 || i + (size_t)L > n) return 0;
        if (L > 1 && !second_ok(u[i], u[i + 1])) return 0;
        for (int k = 2; k < L; k++)
            if ((u[i + k] & 0xC0) != 0x80) return 0;
        i += (size_t)L;
    }
    return 1;
}

static int push_byte(TextStream *t, unsigned char c) {
    if (t->npend > 0) {
        int ok = t->npend == 1 ? second_ok(t->pend[0], c) : (c & 0xC0) == 0x80;
        if (ok) {
            t->pend[t->npend++] = c;
            if (t->npend < t->need) return 0;
            t->npend = 0;
            return append(t, t->pend, (size_t)t->need);
        }
        /* The character broke off: replace it, then treat c as a fresh start. */
        t->npend = 0;
        if (append(t, replacement, 3)) return -1;
    }
    int L = lead_length(c);
    if (L == 1) return append(t, &c, 1);
    if (L == 0) return append(t, replacement, 3);
    t->pend[0] = c;
    t->npend = 1;
    t->need = L;
    return 0;
}

/* Length of the longest suffix of buf that is a proper prefix of some stop string. */
static size_t partial_stop(const TextStream *t) {
    size_t best = 0;
    for (int i = 0; i < t->nstop; i++) {
        size_t sl = strlen(t->stop[i]);
        for (size_t k = sl - 1; k > best; k--)
            if (k <= t->len && memcmp(t->buf + t->len - k, t->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

int textstream_push(TextStream *t, const char *bytes, size_t n) {
    if (t->stopped) return 1;
    size_t before = t->len;
    for (size_t i = 0; i < n; i++)
        if (push_byte(t, (unsigned char)bytes[i])) return -1;
    /* A stop string can only newly complete in the region that ends in the new bytes. */
    size_t cut = t->len + 1;
    for (int i = 0; i < t->nstop; i++) {
        size_t sl = strlen(t->stop[i]);
        size_t from = before >= sl ? before - sl + 1 : 0;
        for (size_t p = from; p + sl <= t->len && p < cut; p++)
            if (memcmp(t->buf + p, t->stop[i], sl) == 0) {
                cut = p;
                break;
            }
    }
    if (cut <= t->len) {
        t->len = cut;
        t->buf[cut] = 0;
        t->safe = cut;
        t->stopped = 1;
        t->npend = 0;
        return 1;
    }
    t->safe = t->len - partial_stop(t);
    return 0;
}

void textstream_finish(TextStream *t) {
    t->npend = 0; /* half a character at a length cut is dropped, not shown as garbage */
    t->safe = t->len;
}
