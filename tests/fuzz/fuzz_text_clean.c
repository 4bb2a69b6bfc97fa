/* libFuzzer harness for prepare's cleaning of hostile text: wikitext to plain text, the
 * WikiExtractor and parenthesis tidying, HTML tags and entities, then UTF-8 repair and Unicode
 * normalisation. Checks what the functions promise: results never longer than the input where
 * documented, and valid UTF-8 out of the normaliser. Buffers are sized exactly as the headers
 * ask, so AddressSanitizer catches any write past them. Build and run: tests/fuzz/run_fuzz.sh text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/markup.h"
#include "text/normalize.h"
#include "text/wikitext.h"

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return 0;
        for (int k = 1; k < len; k++)
            if (((unsigned char)s[i + k] >> 6) != 2) return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *in = (const char *)data;
    char *out = malloc(size + 1), *scratch = malloc(size + 1);
    if (!out || !scratch) abort();
    size_t n = wikitext_to_text(in, size, out, scratch, size & 1);
    if (n > size) abort();
    n = wikitext_tidy_parentheses(out, n, out);
    n = wikiextractor_drop_placeholders(out, n, out);
    char *tags = malloc(size ? size : 1);
    size_t m = markup_strip_tags(in, size, tags);
    if (m > size) abort();
    m = markup_decode_entities(tags, m, tags);
    NormScratch ws = {0};
    CleanCounts counts = {0};
    const char *clean;
    size_t clean_len;
    for (int form = 0; form < 2; form++) {
        if (text_normalize(in, size, (NormForm)form, &ws, &clean, &clean_len, &counts) != 0) abort();
        if (!valid_utf8(clean, clean_len) || clean[clean_len] != 0) abort();
    }
    norm_scratch_free(&ws);
    free(tags);
    free(out);
    free(scratch);
    return 0;
}
