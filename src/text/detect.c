#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "text/readers.h"

static const char *const names[] = {"auto", "wiki-xml", "wiki-doc", "text", "paragraphs", "tsv", "csv"};

const char *format_name(InputFormat f) { return names[f]; }

int format_parse(const char *name, InputFormat *out) {
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (InputFormat)i;
            return 0;
        }
    return kr_error("unknown --format '%s' (choose auto, wiki-xml, wiki-doc, text, paragraphs, tsv or csv)", name);
}

/* Whether the file name (ignoring a trailing .bz2) ends with ext. */
static int has_extension(const char *path, const char *ext) {
    size_t n = strlen(path), k = strlen(ext);
    if (n > 4 && strcmp(path + n - 4, ".bz2") == 0) n -= 4;
    return n > k && strncasecmp(path + n - k, ext, k) == 0;
}

/* Most of the first lines have the same, non-zero number of tabs. */
static int looks_tabular(const char *head, size_t n) {
    int lines = 0, agree = 0, first_tabs = -1;
    for (size_t i = 0; i < n && lines < 50;) {
        const char *nl = memchr(head + i, '\n', n - i);
        if (!nl) break;
        int tabs = 0;
        for (const char *p = head + i; p < nl; p++) tabs += *p == '\t';
        if (first_tabs < 0) first_tabs = tabs;
        agree += tabs == first_tabs;
        lines++;
        i = (size_t)(nl - head) + 1;
    }
    return first_tabs > 0 && lines >= 2 && agree * 10 >= lines * 9;
}

/* Blank lines separate blocks of several lines (novels, articles): paragraphs. */
static int looks_like_paragraphs(const char *head, size_t n) {
    int blank = 0, full = 0, prev_blank = 1;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(head + i, '\n', n - i);
        if (!nl) break;
        size_t len = (size_t)(nl - head) - i;
        if (len > 0 && head[i + len - 1] == '\r') len--;
        int is_blank = len == 0;
        if (is_blank && !prev_blank) blank++;
        if (!is_blank) full++;
        prev_blank = is_blank;
        i = (size_t)(nl - head) + 1;
    }
    return blank >= 2 && full >= 3 * blank;
}

int format_detect(const char *path, const char *head, size_t n, InputFormat *out) {
    if (n == 0) return kr_error("%s is empty", path);
    if (memchr(head, 0, n)) return kr_error("%s looks binary (NUL byte at offset %zu); skipped", path, (size_t)((const char *)memchr(head, 0, n) - head));
    size_t i = 0;
    if (n >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0) i = 3;
    while (i < n && isspace((unsigned char)head[i])) i++;
    const char *s = head + i;
    size_t left = n - i;
    if ((left >= 10 && memcmp(s, "<mediawiki", 10) == 0) || (left >= 5 && memcmp(s, "<?xml", 5) == 0)) *out = FMT_WIKI_XML;
    else if (left >= 5 && memcmp(s, "<doc ", 5) == 0) *out = FMT_WIKI_DOC;
    else if (has_extension(path, ".tsv")) *out = FMT_TSV;
    else if (has_extension(path, ".csv")) *out = FMT_CSV;
    else if (looks_tabular(head, n)) *out = FMT_TSV;
    else if (looks_like_paragraphs(head, n)) *out = FMT_PARAGRAPHS;
    else *out = FMT_TEXT;
    return 0;
}
