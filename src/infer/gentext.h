/* The text of one generation as it streams out: bytes are released only when they cannot be
 * the start of a stop string and do not end inside a UTF-8 character; a stop string ends the
 * text just before it. Optionally invalid UTF-8 becomes U+FFFD, so that every released byte is
 * valid UTF-8 (JSON output needs that). Buffers grow geometrically and are kept between
 * generations. */
#ifndef KR_INFER_GENTEXT_H
#define KR_INFER_GENTEXT_H

#include <stddef.h>

typedef struct {
    char *buf;          /* the text so far (stop string included), NUL-terminated;
                         * buf[0, released) is the whole released text and never changes */
    size_t len, cap;
    size_t released;    /* bytes handed out so far */
    char **stops;
    int num_stops;
    int stopped;        /* a stop string was found: the text ends at `released` */
    int replace_invalid; /* invalid bytes become U+FFFD; an unfinished character waits in pend */
    unsigned char pend[4];
    int npend, need;    /* bytes of an unfinished character, and how many it needs */
} GenText;

/* cap: initial byte capacity (the buffer grows if a generation needs more). */
int gentext_init(GenText *ts, size_t cap);
void gentext_free(GenText *ts);
/* Starts a new text with these stop strings (copied; empty strings are ignored). With
 * replace_invalid, invalid UTF-8 becomes U+FFFD and half a character left at the end is
 * dropped; without it the bytes are kept as they come. */
int gentext_begin(GenText *ts, const char *const *stops, int num_stops, int replace_invalid);
/* Appends the bytes of one token. Sets *out / *out_len to the newly released text. Returns 1
 * when a stop string completed (the text is final), 0 otherwise, -1 when out of memory. */
int gentext_push(GenText *ts, const char *bytes, size_t n, const char **out, size_t *out_len);
/* At the end of a generation: releases whatever was held back (unless a stop string ended it). */
void gentext_finish(GenText *ts, const char **out, size_t *out_len);

/* Whether s[0..n) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int utf8_valid(const char *s, size_t n);

#endif
