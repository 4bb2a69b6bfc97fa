/* Text cleaning: NFC / NFKC (Hangul compatibility jamo kept), invalid UTF-8 replaced and
 * counted, control characters, whitespace; HTML tags and entities of plain inputs. */
#include <string.h>

#include "test.h"
#include "text/markup.h"
#include "text/normalize.h"

#include <utf8proc.h>

static NormScratch ns;

static CleanCounts check_norm_at(const char *in, size_t n, NormForm f, const char *want, int line) {
    CleanCounts cc = {0};
    const char *out;
    size_t len;
    CHECK(text_normalize(in, n, f, &ns, &out, &len, &cc) == 0);
    CHECK_MSG(len == strlen(want) && memcmp(out, want, len) == 0, "line %d: got [%.*s] want [%s]", line, (int)len, out, want);
    return cc;
}
#define check_norm(in, f, want) check_norm_at(in, strlen(in), f, want, __LINE__)

static void check_tags(const char *in, const char *want) {
    char out[256];
    size_t n = markup_strip_tags(in, strlen(in), out);
    n = markup_decode_entities(out, n, out);
    CHECK_MSG(n == strlen(want) && memcmp(out, want, n) == 0, "got [%.*s] want [%s]", (int)n, out, want);
}

/* Every single code point comes out exactly as utf8proc's own NFC / NFKC would give it (the fast
 * path that skips utf8proc must only skip characters that normalisation leaves alone), except the
 * compatibility jamo that NFKC keeps, spaces and removed control characters. */
static void check_all_code_points(NormForm form) {
    uint32_t last = test_sanitized() ? 0xFFFF : 0x10FFFF;
    int bad = 0;
    for (uint32_t cp = 0x21; cp <= last && bad < 5; cp++) {
        if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD || cp == 0x200B || cp == 0xFEFF) continue;
        utf8proc_uint8_t in[8];
        utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, in);
        in[n] = 0;
        utf8proc_uint8_t *want = form == NORM_NFKC && !(cp >= 0x3131 && cp <= 0x318E) ? utf8proc_NFKC(in) : utf8proc_NFC(in);
        CleanCounts cc = {0};
        const char *out;
        size_t len;
        int ok = text_normalize((const char *)in, (size_t)n, form, &ns, &out, &len, &cc) == 0;
        /* results that are spaces or contain them are trimmed/collapsed: compare only the others */
        if (want && !strchr((const char *)want, ' ') && !(cp >= 0x2000 && cp <= 0x200A) && cp != 0x3000 && cp != 0x202F && cp != 0x205F &&
            cp != 0x1680 && (!ok || len != strlen((const char *)want) || memcmp(out, want, len) != 0)) {
            bad++;
            fprintf(stderr, "U+%04X (%s): got [%.*s] want [%s]\n", cp, form == NORM_NFKC ? "NFKC" : "NFC", (int)len, out, want);
        }
        free(want);
    }
    CHECK(bad == 0);
}

int main(void) {
    check_all_code_points(NORM_NFC);
    check_all_code_points(NORM_NFKC);
    /* NFC composes conjoining jamo and combining accents */
    check_norm("\xE1\x84\x80\xE1\x85\xA1 e\xCC\x81", NORM_NFC, "가 é");
    /* NFC keeps compatibility characters, NFKC folds them... */
    check_norm("ｈｅｌｌｏ ① ㎏", NORM_NFC, "ｈｅｌｌｏ ① ㎏");
    check_norm("ｈｅｌｌｏ ① ㎏", NORM_NFKC, "hello 1 kg");
    /* ...but never the Hangul compatibility jamo of ㅋㅋ / ㅠㅠ, even next to folded text */
    check_norm("ㅋㅋㅋ 진짜 웃기다 ㅠㅠ", NORM_NFKC, "ㅋㅋㅋ 진짜 웃기다 ㅠㅠ");
    check_norm("Ａㅋ①ㅎㅏ", NORM_NFKC, "Aㅋ1ㅎㅏ");
    /* decomposed syllables are composed under NFKC too */
    check_norm("\xE1\x84\x80\xE1\x85\xA1ㅋ", NORM_NFKC, "가ㅋ");
    /* invalid UTF-8: each broken sequence becomes one U+FFFD and is counted */
    CleanCounts cc = check_norm("가\xFF나\xE0\x80다\xED\xA0\x80라\xEA\xB0", NORM_NFC, "가\xEF\xBF\xBD나\xEF\xBF\xBD다\xEF\xBF\xBD라\xEF\xBF\xBD");
    CHECK_MSG(cc.invalid_utf8 == 4, "invalid count %llu", (unsigned long long)cc.invalid_utf8);
    cc = check_norm("정상 텍스트", NORM_NFC, "정상 텍스트");
    CHECK(cc.invalid_utf8 == 0);
    /* control characters: tab -> space, CR -> line break, others removed and counted */
    cc = check_norm("a\x01" "b\tc\r\nd\x7f\xC2\x85" "e", NORM_NFC, "ab c\nde");
    CHECK_MSG(cc.control_removed == 3, "control count %llu", (unsigned long long)cc.control_removed);
    /* zero-width space, BOM and soft hyphen are dropped */
    check_norm("\xEF\xBB\xBF" "가\xE2\x80\x8B나\xC2\xAD다", NORM_NFC, "가나다");
    /* whitespace: runs collapse, lines trimmed, blank lines dropped, NBSP and ideographic space are spaces */
    check_norm("  가   나  \n\n\n  다\xC2\xA0\xC2\xA0라\xE3\x80\x80마 ", NORM_NFC, "가 나\n다 라 마");
    check_norm(" \n\t \n", NORM_NFC, "");

    check_tags("<b>굵게</b> 쓴 <a href=\"x\">링크</a>와<br>줄바꿈", "굵게 쓴 링크와 줄바꿈");
    check_tags("3<5 그리고 <3 그리고 a < b", "3<5 그리고 <3 그리고 a < b");
    check_tags("&lt;b&gt; &amp;amp; &#65; &#x1F600; &#xD800; &#0;", "<b> &amp; A \xF0\x9F\x98\x80 &#xD800; &#0;");
    norm_scratch_free(&ns);
    return test_summary("test_text_normalize");
}
