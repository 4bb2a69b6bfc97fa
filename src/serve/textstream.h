/* A sequence's output as text that is safe to send: the token bytes are checked as UTF-8
 * (invalid bytes become U+FFFD), half a character is never released, nor the beginning of a
 * stop string that may still complete; a completed stop string cuts the text before it. */
#ifndef KR_SERVE_TEXTSTREAM_H
#define KR_SERVE_TEXTSTREAM_H

#include <stddef.h>

typedef struct {
    char *buf;        /* valid UTF-8 so far */
    size_t len, cap;
    size_t safe;      /* buf[0, safe) can be sent now */
    unsigned char pend[4];
    int npend, need;  /* bytes of an unfinished character, and how many it needs */
    char *const *stop;
    int nstop;
    int stopped;      /* a stop string was found; buf ends before it */
} TextStream;

/* `stop` (not copied) must outlive the stream; `reserve` sizes the first buffer. */
int textstream_init(TextStream *t, char *const *stop, int nstop, size_t reserve);
/* Appends token bytes. Returns 1 when a stop string completed (the text is then final),
 * 0 otherwise, -1 when out of memory. */
int textstream_push(TextStream *t, const char *bytes, size_t n);
/* The sequence ended: an unfinished character is dropped and everything is safe. */
void textstream_finish(TextStream *t);
void textstream_free(TextStream *t);

/* Whether s[0..n) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int utf8_valid(const char *s, size_t n);

#endif
