#include "infer/gentext.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

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

int gentext_begin(GenText *ts, const char *const *stops, int num_stops) {
    free_stops(ts);
    ts->len = ts->released = 0;
    ts->stopped = 0;
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
    if (ts->len + n + 1 > ts->cap) {
        size_t cap = ts->cap;
        while (ts->len + n + 1 > cap) cap *= 2;
        char *nb = realloc(ts->buf, cap);
        if (!nb) return kr_error("out of memory");
        ts->buf = nb;
        ts->cap = cap;
        *out = ts->buf + ts->released;
    }
    memcpy(ts->buf + ts->len, bytes, n);
    ts->len += n;
    ts->buf[ts->len] = 0;
    /* Earlier releases never included a possible stop-string start, so a match begins at or
     * after `released`. */
    size_t first = ts->len;
    for (int i = 0; i < ts->num_stops; i++) {
        const char *hit = strstr(ts->buf + ts->released, ts->stops[i]);
        if (hit && (size_t)(hit - ts->buf) < first) first = (size_t)(hit - ts->buf);
    }
    if (first < ts->len) {
        *out_len = first - ts->released;
        ts->released = first;
        ts->stopped = 1;
        return 1;
    }
    size_t hold = stop_prefix_hold(ts), partial = utf8_partial_tail(ts);
    if (partial > hold) hold = partial;
    *out_len = ts->len - hold - ts->released;
    ts->released = ts->len - hold;
    return 0;
}

void gentext_finish(GenText *ts, const char **out, size_t *out_len) {
    *out = ts->buf + ts->released;
    *out_len = ts->stopped ? 0 : ts->len - ts->released;
    if (!ts->stopped) ts->released = ts->len;
}
