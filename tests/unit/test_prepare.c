/* The prepare pipeline end to end on small generated inputs: exact and near dedup, length
 * filter and splitting of long documents, line dedup, stable split under reordering of the
 * inputs and across thread counts, stats.json, no temporary files left behind. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/rng.h"
#include "test.h"
#include "text/prepare.h"

static char tmp[512];

/* A path under the test's temporary directory; kept until exit (a few dozen bytes each). */
static char *tmp_path(const char *name) {
    static char *paths[64];
    static int k;
    char buf[768];
    snprintf(buf, sizeof buf, "%s/%s", tmp, name);
    free(paths[k % 64]);
    paths[k % 64] = strdup(buf);
    return paths[k++ % 64];
}

static void write_text(const char *name, const char *text) {
    CHECK(kr_write_file_atomic(tmp_path(name), text, strlen(text)) == 0);
}

static int run(char **inputs, int n, const char *out, int threads, void (*tweak)(PrepareOptions *)) {
    PrepareOptions o;
    prepare_default_options(&o);
    o.inputs = inputs;
    o.ninputs = n;
    o.output_dir = out;
    o.num_threads = threads;
    o.progress = 0;
    if (tweak) tweak(&o);
    int problems = -1;
    int rc = prepare_run(&o, &problems);
    CHECK(rc == 0);
    return problems;
}

/* Concatenation of train, val and test, each prefixed by its name, for comparisons. */
static char *read_outputs(const char *dir) {
    static const char *const names[] = {"train", "val", "test"};
    size_t total = 0;
    char *all = calloc(1, 1);
    for (int k = 0; k < 3; k++) {
        char path[768];
        snprintf(path, sizeof path, "%s/%s.txt", dir, names[k]);
        size_t n = 0;
        char *s = kr_read_file(path, &n);
        CHECK(s != NULL);
        if (!s) continue;
        all = realloc(all, total + n + 16);
        total += (size_t)sprintf(all + total, "[%s]\n", names[k]);
        memcpy(all + total, s, n);
        total += n;
        all[total] = 0;
        free(s);
    }
    return all;
}

static int count_lines(const char *s, const char *needle) {
    int c = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++) c++;
    return c;
}

static void no_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) CHECK_MSG(strstr(e->d_name, ".tmp") == NULL, "left behind: %s", e->d_name);
    if (d) closedir(d);
}

static void short_max(PrepareOptions *o) { o->max_length = 40; }
static void line_dedup(PrepareOptions *o) { o->line_dedup = 1; }
static void csv_second_column(PrepareOptions *o) {
    o->column = "2";
    o->min_hangul_ratio = 0.5;
}

int main(void) {
    const char *t = getenv("KRLLM_TMP");
    snprintf(tmp, sizeof tmp, "%s", t ? t : "/tmp");

    /* 300 distinct documents (random syllables) over two files, plus an exact copy, a copy
     * with one syllable changed (near duplicate) and a short line */
    size_t cap = 1 << 20, na = 0, nb = 0;
    char *a = malloc(cap), *b = malloc(cap), doc5[512] = "";
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < 300; i++) {
        char *dst = i % 2 ? b : a;
        size_t *n = i % 2 ? &nb : &na, start = *n;
        *n += (size_t)snprintf(dst + *n, cap - *n, "%d번 문서", i);
        for (int k = 0; k < 40; k++) *n += (size_t)snprintf(dst + *n, cap - *n, k % 5 ? "%s" : " %s", (char[]){(char)0xEA, (char)(0xB0 + rng_below(&r, 16)), (char)(0x80 + rng_below(&r, 64)), 0});
        if (i == 5) snprintf(doc5, sizeof doc5, "%.*s", (int)(*n - start), dst + start);
        dst[(*n)++] = '\n';
    }
    na += (size_t)snprintf(a + na, cap - na, "%s\n짧다\n", doc5);
    doc5[strlen(doc5) - 1] ^= 1; /* last byte of the last syllable: a different syllable */
    na += (size_t)snprintf(a + na, cap - na, "%s\n", doc5);
    write_text("a.txt", a);
    write_text("b.txt", b);
    char *ab[] = {tmp_path("a.txt"), tmp_path("b.txt")};
    char *ba[] = {tmp_path("b.txt"), tmp_path("a.txt")};
    CHECK(run(ab, 2, tmp_path("out1"), 1, NULL) == 0);
    CHECK(run(ba, 2, tmp_path("out2"), 2, NULL) == 0);
    char *o1 = read_outputs(tmp_path("out1")), *o2 = read_outputs(tmp_path("out2"));
    /* the same inputs in the same order give the same bytes on any number of cleaning threads */
    CHECK(run(ab, 2, tmp_path("out9"), 3, NULL) == 0);
    char *o9 = read_outputs(tmp_path("out9"));
    CHECK(o9 && !strcmp(o1, o9));
    free(o9);
    CHECK_MSG(count_lines(o1, "\n") == 300 + 3, "%d lines", count_lines(o1, "\n"));
    CHECK(count_lines(o1, "짧다") == 0);
    /* every document lands in the same split whatever the input order */
    for (int i = 0; i < 300; i++) {
        char key[64];
        snprintf(key, sizeof key, "\n%d번 문서 ", i);
        const char *p1 = strstr(o1, key), *p2 = strstr(o2, key);
        CHECK(p1 && p2);
        if (!p1 || !p2) continue;
        int s1 = count_lines(o1, "[") - count_lines(p1, "["), s2 = count_lines(o2, "[") - count_lines(p2, "[");
        CHECK_MSG(s1 == s2, "document %d in split %d then %d", i, s1, s2);
    }
    char *stats = kr_read_file(tmp_path("out1/stats.json"), NULL);
    CHECK(stats && strstr(stats, "\"exact_duplicate\":\t1") && strstr(stats, "\"near_duplicate\":\t1") && strstr(stats, "\"too_short\":\t1") && strstr(stats, "\"kept\":\t300"));
    free(stats);
    no_tmp_files(tmp_path("out1"));
    free(o1);
    free(o2);

    /* long documents are split at paragraph or space boundaries into pieces <= max_length */
    write_text("long.txt", "첫 번째 문단은 여기에서 시작해서 조금 더 길게 이어진다\n두 번째 문단\n\n"
                           "띄어쓰기없이아주길게이어지는한국어문장은글자수로잘라야한다띄어쓰기없이아주길게이어지는한국어문장\n\n");
    char *lng[] = {tmp_path("long.txt")};
    CHECK(run(lng, 1, tmp_path("out3"), 1, short_max) == 0);
    o1 = read_outputs(tmp_path("out3"));
    CHECK(strstr(o1, "첫 번째 문단은 여기에서 시작해서 조금 더 길게 이어진다\n") != NULL);
    CHECK(strstr(o1, "두 번째 문단") == NULL); /* 6 characters: too short on its own */
    CHECK(strstr(o1, "띄어쓰기없이아주길게이어지는한국어문장은글자수로잘라야한다띄어쓰기없이아주길게이\n") != NULL);
    CHECK(strstr(o1, "어지는한국어문장\n") == NULL); /* the 8-character tail is too short */
    free(o1);

    /* line dedup removes repeated paragraphs inside and across documents */
    write_text("lines.txt", "공통으로 반복되는 문장입니다\n첫 문서의 고유한 문장입니다\n\n공통으로 반복되는 문장입니다\n둘째 문서의 고유한 문장입니다\n\n");
    char *ln[] = {tmp_path("lines.txt")};
    CHECK(run(ln, 1, tmp_path("out4"), 1, line_dedup) == 0);
    o1 = read_outputs(tmp_path("out4"));
    CHECK(count_lines(o1, "공통으로") == 1);
    CHECK(strstr(o1, "둘째 문서의 고유한 문장입니다\n") != NULL);
    free(o1);

    /* CSV: quoted fields with commas, doubled quotes and line breaks; column by number; the
     * Hangul-share filter drops the English row */
    write_text("rows.csv", "id,text,label\r\n1,\"쉼표, 그리고 \"\"따옴표\"\"가 있는 한국어 문장\",0\r\n"
                           "2,\"줄바꿈이\nCSV 안에 들어 있는 한국어 문장\",1\r\n3,This row is written only in English,1\r\n");
    char *csv[] = {tmp_path("rows.csv")};
    CHECK(run(csv, 1, tmp_path("out6"), 1, csv_second_column) == 0);
    o1 = read_outputs(tmp_path("out6"));
    CHECK(strstr(o1, "쉼표, 그리고 \"따옴표\"가 있는 한국어 문장\n") != NULL);
    CHECK(strstr(o1, "줄바꿈이 CSV 안에 들어 있는 한국어 문장\n") != NULL);
    CHECK(strstr(o1, "English") == NULL);
    free(o1);
    stats = kr_read_file(tmp_path("out6/stats.json"), NULL);
    CHECK(stats && strstr(stats, "\"low_hangul\":\t1") && strstr(stats, "\"columns\":\t\"text\""));
    free(stats);

    /* MediaWiki XML: article kept (markup stripped, entities of the XML layer decoded), other
     * namespaces and redirects skipped, malformed XML reported with the rest of the file skipped */
    write_text("dump.xml",
               "<mediawiki xml:lang=\"ko\">\n"
               "<page><title>서울</title><ns>0</ns><revision><text>'''서울'''은 [[대한민국]]의 수도이다.&lt;ref&gt;출처&lt;/ref&gt; "
               "{{인구|1000}}인구가 많다.\n[[분류:도시]]</text></revision></page>\n"
               "<page><title>위키백과:정책</title><ns>4</ns><revision><text>정책 문서는 건너뛰어야 하는 긴 문장이다.</text></revision></page>\n"
               "<page><title>수도</title><ns>0</ns><redirect title=\"서울\" /><revision><text>#넘겨주기 [[서울]]</text></revision></page>\n"
               "<page><title>깨진</title><ns>0</ns><revision><text>이 문서는 닫히지 않는 태그 때문에 빠진다.</txt></revision></page>\n"
               "<page><title>뒤</title><ns>0</ns><revision><text>뒤의 문서도 읽히지 않는다.</text></revision></page>\n</mediawiki>\n");
    char *xml[] = {tmp_path("dump.xml")};
    CHECK(run(xml, 1, tmp_path("out7"), 1, NULL) == 1);
    o1 = read_outputs(tmp_path("out7"));
    CHECK_MSG(strstr(o1, "서울은 대한민국의 수도이다. 인구가 많다.\n") != NULL, "%s", o1);
    CHECK(strstr(o1, "정책") == NULL && strstr(o1, "넘겨주기") == NULL && strstr(o1, "빠진다") == NULL && strstr(o1, "뒤의") == NULL);
    free(o1);
    stats = kr_read_file(tmp_path("out7/stats.json"), NULL);
    CHECK_MSG(stats && strstr(stats, "XML error at line 6, column 75") && strstr(stats, "mismatched tag") && strstr(stats, "\"skipped_redirect\":\t1") &&
                  strstr(stats, "\"skipped_namespace\":\t1"),
              "%s", stats ? stats : "");
    free(stats);

    /* invalid UTF-8 inside an otherwise good file: repaired, counted, the file is not a problem */
    write_text("broken.txt", "깨진 바이트가 \xFF 들어 있는 문장입니다\n두 번째 줄에도 \xE0\x80 깨진 곳이 있습니다\n");
    char *broken[] = {tmp_path("broken.txt")};
    CHECK(run(broken, 1, tmp_path("out8"), 1, NULL) == 0);
    o1 = read_outputs(tmp_path("out8"));
    CHECK(strstr(o1, "깨진 바이트가 \xEF\xBF\xBD 들어 있는 문장입니다\n") != NULL);
    free(o1);
    stats = kr_read_file(tmp_path("out8/stats.json"), NULL);
    CHECK(stats && strstr(stats, "\"invalid_utf8_replaced\":\t2"));
    free(stats);

    /* a missing input is a problem, the rest is still written */
    char *miss[] = {tmp_path("a.txt"), tmp_path("missing.txt")};
    CHECK(run(miss, 2, tmp_path("out5"), 1, NULL) == 1);
    struct stat st;
    CHECK(stat(tmp_path("out5/train.txt"), &st) == 0 && st.st_size > 0);
    free(a);
    free(b);
    return test_summary("test_prepare");
}
