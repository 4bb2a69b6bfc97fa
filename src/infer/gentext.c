#include "infer/gentext.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

int gentext_init(GenText *ts, size_t cap) {
    memset(ts, 0, sizeof *ts);
    ts->cap = cap > 0 ? cap : 1;
    ts->buf = malloc(ts->cap);
    if (!ts->buf) return kr_error("out of memory");
    ts->buf[0] = 0;
    return 0;
}

static void free_stops(GenText *ts) {
    for (int i = 0; i < ts->num_stops; i++) free(ts->stops[i]);
    free(ts->stops);
    ts->stops = NULL;
    ts->num_stops = 0;
}

void gentext_free(GenText *ts) {
    free_stops(ts);
    free(ts->buf);
    memset(ts, 0, sizeof *ts);
}

int gentext_begin(GenText *ts, const char *const *stops, int num_stops, int replace_invalid) {
    free_stops(ts);
    ts->len = ts->released = 0;
    ts->stopped = 0;
    ts->replace_invalid = replace_invalid;
    ts->npend = 0;
    ts->buf[0] = 0;
    if (num_stops <= 0) return 0;
    ts->stops = calloc((size_t)num_stops, sizeof *ts->stops);
    if (!ts->stops) return kr_error("out of memory");
    for (int i = 0; i < num_stops; i++) {
        if (!stops[i] || !stops[i][0]) continue;
        if (!(ts->stops[ts->num_stops] = strdup(stops[i]))) return kr_error("out of memory");
        ts->num_stops++;
    }
    return 0;
}

static int append(GenText *ts, const void *p, size_t n) {
    if (kr_grow((void **)&ts->buf, &ts->cap, ts->len + n + 1, 1, 64, "generated text") != 0) return -1;
    memcpy(ts->buf + ts->len, p, n);
    ts->len += n;
    ts->buf[ts->len] = 0;
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

/* Replacing mode: appends complete valid characters only; an unfinished one waits in pend. */
static int append_checked(GenText *ts, unsigned char c) {
    if (ts->npend > 0) {
        int ok = ts->npend == 1 ? second_ok(ts->pend[0], c) : (c & 0xC0) == 0x80;
        if (ok) {
            ts->pend[ts->npend++] = c;
            if (ts->npend < ts->need) return 0;
            ts->npend = 0;
            return append(ts, ts->pend, (size_t)ts->need);
        }
        /* The character broke off: replace it, then treat c as a fresh start. */
        ts->npend = 0;
        if (append(ts, replacement, 3)) return -1;
    }
    int L = lead_length(c);
    if (L == 1) return append(ts, &c, 1);
    if (L == 0) return append(ts, replacement, 3);
    ts->pend[0] = c;
    ts->npend = 1;
    ts->need = L;
    return 0;
}

/* Start of the earliest complete stop string, or len. Earlier releases never included a
 * possible stop-string start, so a match begins at or after `released`. */
static size_t first_stop(const GenText *ts) {
    size_t first = ts->len;
    for (int i = 0; i < ts->num_stops; i++) {
        size_t sl = strlen(ts->stops[i]);
        for (size_t p = ts->released; p + sl <= ts->len && p < first; p++)
            if (!memcmp(ts->buf + p, ts->stops[i], sl)) {
                first = p;
                break;
            }
    }
    return first;
}

/* Bytes at the end that may still become (the start of) a stop string. */
static size_t stop_prefix_hold(const GenText *ts) {
    size_t best = 0, avail = ts->len - ts->released;
    for (int i = 0; i < ts->num_stops; i++) {
        size_t sl = strlen(ts->stops[i]);
        for (size_t k = sl - 1 < avail ? sl - 1 : avail; k > best; k--)
            if (!memcmp(ts->buf + ts->len - k, ts->stops[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

/* Bytes at the end that form an incomplete UTF-8 character. */
static size_t utf8_partial_tail(const GenText *ts) {
    size_t avail = ts->len - ts->released;
    for (size_t k = 1; k <= 3 && k <= avail; k++) {
        unsigned char b = (unsigned char)ts->buf[ts->len - k];
        if ((b & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

int gentext_push(GenText *ts, const char *bytes, size_t n, const char **out, size_t *out_len) {
    *out = ts->buf + ts->released;
    *out_len = 0;
    if (ts->stopped) return 1;
    if (ts->replace_invalid) {
        for (size_t i = 0; i < n; i++)
            if (append_checked(ts, (unsigned char)bytes[i])) return -1;
    } else if (append(ts, bytes, n)) {
        return -1;
    }
    *out = ts->buf + ts->released;
    size_t first = first_stop(ts);
    if (first < ts->len) {
        *out_len = first - ts->released;
        ts->released = first;
        ts->stopped = 1;
        ts->npend = 0;
        return 1;
    }
    size_t hold = stop_prefix_hold(ts), partial = utf8_partial_tail(ts);
    if (partial > hold) hold = partial;
    *out_len = ts->len - hold - ts->released;
    ts->released = ts->len - hold;
    return 0;
}

void gentext_finish(GenText *ts, const char **out, size_t *out_len) {
    ts->npend = 0; /* half a character at a length cut is dropped, not shown as garbage */
    *out = ts->buf + ts->released;
    *out_len = ts->stopped ? 0 : ts->len - ts->released;
    if (!ts->stopped) ts->released = ts->len;
}
