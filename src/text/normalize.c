#include "text/normalize.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/error.h"
#include "common/util.h"

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    return kr_grow(buf, cap, need, elem, 4096, "normalising text");
}

int text_is_hangul(uint32_t cp) {
    return (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3131 && cp <= 0x318E) ||
           (cp >= 0xA960 && cp <= 0xA97F) || (cp >= 0xD7B0 && cp <= 0xD7FF);
}

static int is_compat_jamo(uint32_t cp) { return cp >= 0x3131 && cp <= 0x318E; }

/* Code points that the chosen form leaves unchanged whatever surrounds them: text made only of
 * these skips utf8proc (most Korean text: ASCII, Hangul syllables, common punctuation). */
static int is_stable(uint32_t cp, NormForm form) {
    if ((cp >= 0xAC00 && cp <= 0xD7A3) || is_compat_jamo(cp) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
        (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30A1 && cp <= 0x30FA) || (cp >= 0x2010 && cp <= 0x2023 && cp != 0x2011 && cp != 0x2017))
        return 1;
    if (form == NORM_NFC)
        return cp < 0x300 || (cp >= 0x2002 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205E) || (cp >= 0x2190 && cp <= 0x22FF) ||
               (cp >= 0x2460 && cp <= 0x27BF) || (cp >= 0x3000 && cp <= 0x3029) || (cp >= 0x3030 && cp <= 0x303F) || (cp >= 0xFF01 && cp <= 0xFFDC);
    return (cp >= 0x20 && cp < 0x7F) || cp == '\n' || cp == 0xB7 || cp == 0x3001 || cp == 0x3002 || (cp >= 0x3008 && cp <= 0x3011) ||
           (cp >= 0x2190 && cp <= 0x21FF) || (cp >= 0x2500 && cp <= 0x25FF);
}

uint32_t text_utf8_decode(const unsigned char *s, size_t *len) {
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] < 0xE0) {
        *len = 2;
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (s[0] < 0xF0) {
        *len = 3;
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/* Strict decode of possibly invalid UTF-8: the code point and its length, or -1 (length 1). */
static int32_t utf8_decode_checked(const unsigned char *s, size_t n, size_t *len) {
    unsigned char c = s[0];
    *len = 1;
    if (c < 0x80) return c;
    size_t need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) need = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) need = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) need = 4, cp = c & 0x07, min = 0x10000;
    else return -1;
    if (need > n) return -1;
    for (size_t k = 1; k < need; k++) {
        if ((s[k] & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    *len = need;
    return (int32_t)cp;
}

static int is_removed_control(uint32_t cp) {
    return (cp < 0x20 && cp != '\n' && cp != '\t' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F) || cp == 0x200B || cp == 0xFEFF || cp == 0xAD;
}

/* Step 1: repair UTF-8 and drop controls into ws->a. Returns the length; *needs_norm is set
 * when some code point is not trivially stable under `form`. */
static long sanitize(const char *in, size_t n, NormForm form, NormScratch *ws, int *needs_norm, CleanCounts *c) {
    if (grow((void **)&ws->a, &ws->a_cap, 3 * n + 1, 1) != 0) return -1;
    const unsigned char *s = (const unsigned char *)in;
    char *o = ws->a;
    size_t i = 0;
    *needs_norm = 0;
    while (i < n) {
        /* ASCII run fast path */
        while (i < n && s[i] >= 0x20 && s[i] < 0x7F) *o++ = (char)s[i++];
        if (i >= n) break;
        size_t len;
        int32_t cp = utf8_decode_checked(s + i, n - i, &len);
        if (cp < 0) {
            c->invalid_utf8++;
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += 1;
            while (i < n && (s[i] & 0xC0) == 0x80 && utf8_decode_checked(s + i, n - i, &len) < 0) i++; /* one mark per broken sequence */
            continue;
        }
        if (cp == '\t') *o++ = ' ';
        else if (cp == '\r') *o++ = '\n';
        else if (is_removed_control((uint32_t)cp)) c->control_removed++;
        else {
            memcpy(o, s + i, len);
            o += len;
            if (!is_stable((uint32_t)cp, form)) *needs_norm = 1;
        }
        i += len;
    }
    *o = 0;
    return o - ws->a;
}

/* Step 2: utf8proc normalisation of ws->a into ws->b. Compatibility jamo are copied past the
 * decomposition so that NFKC leaves them alone (they are starters that compose with nothing). */
static long unicode_normalize(size_t n, NormForm form, NormScratch *ws) {
    utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (form == NORM_NFKC ? UTF8PROC_COMPAT : 0);
    if (grow((void **)&ws->cps, &ws->cps_cap, n + 16, sizeof(int32_t)) != 0) return -1;
    size_t ncp = 0, seg = 0, i = 0;
    const unsigned char *s = (const unsigned char *)ws->a;
    while (seg < n) {
        size_t len = 0;
        uint32_t cp = 0;
        i = seg;
        while (i < n) {
            cp = text_utf8_decode(s + i, &len);
            if (form == NORM_NFKC && is_compat_jamo(cp)) break;
            i += len;
        }
        if (i > seg) {
            for (;;) {
                utf8proc_ssize_t got = utf8proc_decompose(s + seg, (utf8proc_ssize_t)(i - seg), ws->cps + ncp,
                                                          (utf8proc_ssize_t)(ws->cps_cap - ncp), opts);
                if (got < 0) return kr_error("unicode normalisation failed: %s", utf8proc_errmsg(got));
                if ((size_t)got <= ws->cps_cap - ncp) {
                    ncp += (size_t)got;
                    break;
                }
                if (grow((void **)&ws->cps, &ws->cps_cap, ncp + (size_t)got + 16, sizeof(int32_t)) != 0) return -1;
            }
        }
        if (i < n) { /* a compatibility jamo, kept as is */
            if (grow((void **)&ws->cps, &ws->cps_cap, ncp + 2, sizeof(int32_t)) != 0) return -1;
            ws->cps[ncp++] = (int32_t)cp;
            i += len;
        }
        seg = i;
    }
    utf8proc_ssize_t bytes = utf8proc_reencode(ws->cps, (utf8proc_ssize_t)ncp, opts);
    if (bytes < 0) return kr_error("unicode normalisation failed: %s", utf8proc_errmsg(bytes));
    if (grow((void **)&ws->b, &ws->b_cap, (size_t)bytes + 1, 1) != 0) return -1;
    memcpy(ws->b, ws->cps, (size_t)bytes);
    return bytes;
}

static int is_space_cp(uint32_t cp) {
    return cp == ' ' || cp == 0xA0 || cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F || cp == 0x1680;
}

/* Step 3: collapse spaces, trim lines, drop empty lines; src -> dst (never longer). */
static size_t collapse_whitespace(const char *src, size_t n, char *dst) {
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    int pending_space = 0, pending_newline = 0;
    while (i < n) {
        size_t len = 1;
        uint32_t cp = s[i] < 0x80 ? s[i] : text_utf8_decode(s + i, &len);
        if (cp == '\n') {
            pending_space = 0;
            pending_newline = o > 0;
        } else if (is_space_cp(cp)) {
            pending_space = o > 0 && !pending_newline;
        } else {
            if (pending_newline) dst[o++] = '\n';
            else if (pending_space) dst[o++] = ' ';
            pending_space = pending_newline = 0;
            memcpy(dst + o, s + i, len);
            o += len;
        }
        i += len;
    }
    dst[o] = 0;
    return o;
}

int text_normalize(const char *in, size_t n, NormForm form, NormScratch *ws, const char **out, size_t *out_len, CleanCounts *c) {
    int needs_norm;
    long m = sanitize(in, n, form, ws, &needs_norm, c);
    if (m < 0) return -1;
    if (needs_norm) {
        c->normalized_docs++;
        long k = unicode_normalize((size_t)m, form, ws);
        if (k < 0 || grow((void **)&ws->a, &ws->a_cap, (size_t)k + 1, 1) != 0) return -1;
        *out_len = collapse_whitespace(ws->b, (size_t)k, ws->a);
        *out = ws->a;
        return 0;
    }
    if (grow((void **)&ws->b, &ws->b_cap, (size_t)m + 1, 1) != 0) return -1;
    *out_len = collapse_whitespace(ws->a, (size_t)m, ws->b);
    *out = ws->b;
    return 0;
}

void norm_scratch_free(NormScratch *ws) {
    free(ws->a);
    free(ws->b);
    free(ws->cps);
    memset(ws, 0, sizeof *ws);
}
