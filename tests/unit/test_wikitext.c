/* Wikitext to plain text, one hand-written Korean case per construct; results compared after
 * the same normalisation the pipeline applies (whitespace collapsed, lines trimmed). */
#include <string.h>

#include "common/util.h"
#include "test.h"
#include "text/normalize.h"
#include "text/wikitext.h"

static NormScratch ns;

static void check_wiki_opt(const char *in, const char *want, int keep_headings, int line) {
    size_t n = strlen(in);
    char *out = malloc(n + 1), *scratch = malloc(n + 1);
    size_t m = wikitext_to_text(in, n, out, scratch, keep_headings);
    CleanCounts cc = {0};
    const char *clean;
    size_t clen;
    CHECK(text_normalize(out, m, NORM_NFC, &ns, &clean, &clen, &cc) == 0);
    CHECK_MSG(clen == strlen(want) && memcmp(clean, want, clen) == 0, "line %d: got [%.*s] want [%s]", line, (int)clen, clean, want);
    free(out);
    free(scratch);
}
#define check_wiki(in, want) check_wiki_opt(in, want, 0, __LINE__)

int main(void) {
    /* templates, nested, with parameters and a table inside */
    check_wiki("서울은 {{국가|{{깃발|대한민국}}}} 수도이다.", "서울은 수도이다.");
    check_wiki("{{정보상자 도시\n|이름 = 서울\n|인구 = {{{인구|1000}}}\n}}\n서울특별시는 대한민국의 수도이다.", "서울특별시는 대한민국의 수도이다.");
    check_wiki("{{정보|내용=\n{|\n| 칸\n|}\n}}본문", "본문");
    /* an unclosed template stays as text */
    check_wiki("가 {{미완성 나", "가 {{미완성 나");
    check_wiki("가 {{미완성 {{틀}} 나 [[고리 [[서울]] 다", "가 {{미완성 나 [[고리 서울 다");
    /* tables, nested */
    check_wiki("앞 문단\n{| class=\"wikitable\"\n|-\n! 이름 !! 값\n|-\n| 가 || 나\n|}\n뒤 문단", "앞 문단\n뒤 문단");
    check_wiki("앞\n{|\n| 바깥\n{|\n| 안쪽\n|}\n| 바깥 계속\n|}\n뒤", "앞\n뒤");
    /* references in both forms */
    check_wiki("한강은 길다.<ref>출처 {{웹 인용|url=http://a.b}}</ref> 그리고<ref name=\"b\" /> 넓다.<ref name=c>다른 출처</ref>",
               "한강은 길다. 그리고 넓다.");
    check_wiki("끝<REF Name=\"x\">대문자</REF>이다", "끝이다");
    /* comments */
    check_wiki("가<!-- 숨은 주석 -->나", "가나");
    check_wiki("가<!-- 닫히지 않은 주석", "가");
    /* math, gallery */
    check_wiki("이차식 <math>x^2 + y^2</math>의 값", "이차식 의 값");
    check_wiki("<gallery>\n파일:서울.jpg|야경\n파일:부산.jpg|항구\n</gallery>\n본문", "본문");
    /* file and image links, with nested links in the caption */
    check_wiki("[[파일:서울 야경.jpg|섬네일|서울의 [[야경]]]]서울의 밤", "서울의 밤");
    check_wiki("[[File:Seoul.png|thumb|caption]]가[[그림:지도.svg|200px]]나[[Image:x.gif]]다", "가나다");
    /* categories and interlanguage links */
    check_wiki("본문\n[[분류:대한민국의 도시]]\n[[Category:Cities]]", "본문");
    check_wiki("본문[[en:Seoul]][[ja:ソウル]][[zh-yue:首爾]]", "본문");
    check_wiki("[[:분류:도시|도시 분류]]를 보라", "도시 분류를 보라");
    /* internal links */
    check_wiki("[[대한민국|한국]]의 수도 [[서울]]과 [[부산광역시|부산]]", "한국의 수도 서울과 부산");
    check_wiki("[[고양이]]들은", "고양이들은");
    /* external links */
    check_wiki("[http://example.com 예제 사이트]를 참고하라. [https://ko.wikipedia.org]", "예제 사이트를 참고하라.");
    check_wiki("[1] 목록 [[a]", "[1] 목록 [[a]");
    /* bold and italic */
    check_wiki("'''굵은 글씨''' 그리고 ''기울임'' 그리고 '''''둘 다''''' 그리고 작은따옴표'", "굵은 글씨 그리고 기울임 그리고 둘 다 그리고 작은따옴표'");
    /* entities */
    check_wiki("A&amp;B &lt;태그&gt; &quot;인용&quot;&nbsp;공백 &#44032;&#xAC01; &unknown; &#xZZ;", "A&B <태그> \"인용\" 공백 가각 &unknown; &#xZZ;");
    /* lists and definition lists */
    check_wiki("* 첫째\n** 둘째\n# 번호\n: 들여쓰기\n; 용어 : 설명", "첫째\n둘째\n번호\n들여쓰기\n용어 : 설명");
    /* headings dropped by default, kept as lines on request */
    check_wiki("== 역사 ==\n내용이다.\n=== 근대 ===\n더 있다.", "내용이다.\n더 있다.");
    check_wiki_opt("== 역사 ==\n내용이다.\n=== 근대 ===\n더 있다.", "역사\n내용이다.\n근대\n더 있다.", 1, __LINE__);
    /* magic words, horizontal rules and inline HTML */
    check_wiki("__TOC__본문\n----\n<small>작은</small> 글<br/>다음 <span style=\"x\">줄</span>", "본문\n작은 글 다음 줄");
    /* not tags: comparisons and emoticons stay */
    check_wiki("3 < 5 이고 <3 좋아", "3 < 5 이고 <3 좋아");
    /* parentheses left empty by removed templates go, others stay */
    check_wiki("서울({{lang|en|Seoul}})은 수도다", "서울은 수도다");
    check_wiki("パリ（{{lang-fr|Paris}}、{{IPA|paʁi}}）は首都", "パリは首都");
    check_wiki("함수 f() 와 (, 1924년 )", "함수 f 와 (1924년 )");
    char tidy[128] = "제임스 얼 카터 주니어(, 1924년 10월 1일 ~ )는 알 키미야(, al-kimiya)와 서울()과 （、）";
    size_t tn = wikitext_tidy_parentheses(tidy, strlen(tidy), tidy);
    const char *tidy_want = "제임스 얼 카터 주니어(1924년 10월 1일 ~ )는 알 키미야(al-kimiya)와 서울과 ";
    CHECK_MSG(tn == strlen(tidy_want) && memcmp(tidy, tidy_want, tn) == 0, "got [%.*s]", (int)tn, tidy);

    /* WikiExtractor's formula/code placeholders go; identifiers that merely contain them stay. */
    char ph[160] = "함수 formula_16는 다음과 같다. 값은 formula_3, codice_12 이다. my_formula_1 formula_x formula_2b";
    size_t pn = wikiextractor_drop_placeholders(ph, strlen(ph), ph);
    const char *ph_want = "함수는 다음과 같다. 값은, 이다. my_formula_1 formula_x formula_2b";
    CHECK_MSG(pn == strlen(ph_want) && memcmp(ph, ph_want, pn) == 0, "got [%.*s]", (int)pn, ph);
    /* nowiki content is text */
    check_wiki("<nowiki>그대로</nowiki> 둔다", "그대로 둔다");

    CHECK(wikitext_is_redirect("#넘겨주기 [[서울특별시]]", strlen("#넘겨주기 [[서울특별시]]")));
    CHECK(wikitext_is_redirect("  #REDIRECT [[Seoul]]", 21));
    CHECK(wikitext_is_redirect("#redirect[[x]]", 14));
    CHECK(!wikitext_is_redirect("서울은 #REDIRECT 아님", strlen("서울은 #REDIRECT 아님")));

    /* Hostile input: deep nesting and unbalanced markers finish and stay within bounds. */
    size_t big = test_sanitized() ? 20000 : 200000;
    char *hostile = malloc(big + 1);
    for (size_t i = 0; i < big; i++) hostile[i] = "{[<|'&=}]*"[i % 10];
    hostile[big] = 0;
    char *o1 = malloc(big + 1), *o2 = malloc(big + 1);
    size_t m = wikitext_to_text(hostile, big, o1, o2, 1);
    CHECK(m <= big);
    for (size_t i = 0; i < big; i++) hostile[i] = i < big / 2 ? '{' : '[';
    m = wikitext_to_text(hostile, big, o1, o2, 0);
    CHECK(m <= big);
    /* unclosed <ref>, external links without ']' and "[[" / "{{" openers, all on one line: must
     * finish quickly (each is searched for a bounded number of times) */
    static const char *const openers[] = {"<ref>", "[http://x ", "[[", "{{"};
    for (int k = 0; k < 4; k++) {
        size_t len = strlen(openers[k]), fill = 0;
        while (fill + len <= big) memcpy(hostile + fill, openers[k], len), fill += len;
        double t0 = kr_now();
        m = wikitext_to_text(hostile, fill, o1, o2, 0);
        CHECK_MSG(kr_now() - t0 < 2.0, "opener %s took %.1f s", openers[k], kr_now() - t0);
    }
    free(hostile);
    free(o1);
    free(o2);
    norm_scratch_free(&ns);
    return test_summary("test_wikitext");
}
