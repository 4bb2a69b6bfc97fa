#include "tokenizer/normalize.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int prefix_matcher_init(PrefixMatcher *pm, char *const *syms, int n) {
    memset(pm, 0, sizeof *pm);
    pm->syms = calloc(n ? n : 1, sizeof *pm->syms);
    pm->lens = calloc(n ? n : 1, sizeof *pm->lens);
    if (!pm->syms || !pm->lens) {
        prefix_matcher_free(pm);
        return kr_error("out of memory");
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(syms[i]);
        if (len == 0) continue;
        pm->syms[pm->n] = syms[i];
        pm->lens[pm->n++] = len;
        pm->first_byte[(uint8_t)syms[i][0]] = 1;
    }
    return 0;
}

void prefix_matcher_free(PrefixMatcher *pm) {
    free(pm->syms), free(pm->lens);
    memset(pm, 0, sizeof *pm);
}

static const char kReplacementChar[] = "\xEF\xBF\xBD";

/* One unit of input: a user-defined symbol, a valid character, or one invalid byte (→ U+FFFD). */
static const char *next_unit(const Normalizer *nz, const char *in, size_t len, size_t *consumed, size_t *out_len) {
    size_t m = prefix_match(nz->user, in, len);
    if (m) {
        *consumed = *out_len = m;
        return in;
    }
    m = utf8_valid_len((const uint8_t *)in, len);
    if (!m) {
        *consumed = 1, *out_len = 3;
        return kReplacementChar;
    }
    *consumed = *out_len = m;
    return in;
}

size_t normalize_text(const Normalizer *nz, const char *in, size_t len, char *out) {
    size_t pos = 0, o = 0;
    if (nz->remove_extra_whitespaces)
        while (pos < len && in[pos] == ' ' && !prefix_match(nz->user, in + pos, len - pos)) pos++;
    if (pos == len) return 0;
    if (nz->add_dummy_prefix) {
        if (nz->escape_whitespaces) memcpy(out, KR_SPACE_SYMBOL, 3), o = 3;
        else out[o++] = ' ';
    }
    int prev_space = nz->remove_extra_whitespaces;
    while (pos < len) {
        size_t consumed, n;
        const char *u = next_unit(nz, in + pos, len - pos, &consumed, &n);
        if (prev_space)
            while (n && *u == ' ') u++, n--;
        if (n) {
            for (size_t k = 0; k < n; k++) {
                if (u[k] == ' ' && nz->escape_whitespaces) memcpy(out + o, KR_SPACE_SYMBOL, 3), o += 3;
                else out[o++] = u[k];
            }
            prev_space = u[n - 1] == ' ';
        }
        pos += consumed;
        if (!nz->remove_extra_whitespaces) prev_space = 0;
    }
    if (nz->remove_extra_whitespaces) {
        if (nz->escape_whitespaces)
            while (o >= 3 && memcmp(out + o - 3, KR_SPACE_SYMBOL, 3) == 0) o -= 3;
        else
            while (o && out[o - 1] == ' ') o--;
    }
    return o;
}
