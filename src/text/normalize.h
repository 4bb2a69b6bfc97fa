/* Text cleaning after markup removal: UTF-8 repair, control characters, Unicode
 * normalisation (utf8proc) and whitespace. */
#ifndef KR_TEXT_NORMALIZE_H
#define KR_TEXT_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { NORM_NFC, NORM_NFKC } NormForm;

typedef struct {
    uint64_t invalid_utf8;     /* invalid byte sequences, each replaced by U+FFFD */
    uint64_t control_removed;  /* control and invisible format characters removed */
    uint64_t normalized_docs;  /* texts that needed the (slower) utf8proc pass */
} CleanCounts;

/* Reusable buffers of one thread; grown on demand, freed by norm_scratch_free. */
typedef struct {
    char *a, *b;
    size_t a_cap, b_cap;
    int32_t *cps;
    size_t cps_cap;
} NormScratch;

/* Cleans in[0..n): invalid UTF-8 becomes U+FFFD; C0/C1 controls (except newline; tab becomes
 * a space, CR a newline), U+200B, U+FEFF and U+00AD are removed; NFC or NFKC is applied — NFKC
 * leaves Hangul compatibility jamo (U+3131..U+318E, as in ㅋㅋ and ㅠㅠ) as they are; runs of
 * spaces collapse to one, lines are trimmed, empty lines dropped. The result (lines separated
 * by '\n', NUL-terminated) lives in the scratch until its next use. Returns -1 only when out
 * of memory. */
int text_normalize(const char *in, size_t n, NormForm form, NormScratch *ws, const char **out, size_t *out_len, CleanCounts *counts);
void norm_scratch_free(NormScratch *ws);

/* Decodes one code point of valid UTF-8 at s (as produced by text_normalize); *len set. */
uint32_t text_utf8_decode(const unsigned char *s, size_t *len);
/* Hangul syllables, jamo and compatibility jamo. */
int text_is_hangul(uint32_t cp);

#endif
