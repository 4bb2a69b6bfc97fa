#define _GNU_SOURCE /* memmem */
#include "text/wikitext.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "text/markup.h"

/* Tags whose whole content is dropped (references, formulas, code, media). */
static const char *const dropped_tags[] = {
    "ref", "references", "math", "chem", "ce", "gallery", "imagemap", "timeline", "score", "graph",
    "syntaxhighlight", "source", "templatedata", "mapframe", "maplink", "hiero", "inputbox", "categorytree", NULL,
};
/* Namespace prefixes of links that render as media or as page metadata, not as text. */
static const char *const file_prefixes[] = {"파일", "그림", "이미지", "file", "image", "media", "미디어", "ファイル", "画像", NULL};
static const char *const category_prefixes[] = {"분류", "category", "カテゴリ", NULL};
static const char *const url_schemes[] = {"http://", "https://", "ftp://", "//", "mailto:", "news:", "irc://", NULL};

static int in_list(const char *const *list, const char *s, size_t n) {
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == n && strncasecmp(list[i], s, n) == 0) return 1;
    return 0;
}

static int starts_with_ci(const char *s, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(s, prefix, k) == 0;
}

/* Position just after "</name ...>" at or after in[from], or 0 when there is none. */
static size_t find_closing_tag(const char *in, size_t n, size_t from, const char *name) {
    size_t k = strlen(name);
    for (size_t i = from; i + 2 + k <= n; i++) {
        const char *lt = memchr(in + i, '<', n - i);
        if (!lt) return 0;
        i = (size_t)(lt - in);
        if (i + 2 + k <= n && in[i + 1] == '/' && strncasecmp(in + i + 2, name, k) == 0 &&
            (i + 2 + k == n || in[i + 2 + k] == '>' || isspace((unsigned char)in[i + 2 + k]))) {
            const char *gt = memchr(in + i, '>', n - i);
            return gt ? (size_t)(gt - in) + 1 : n;
        }
    }
    return 0;
}

/* An unclosed "{{" or "[[" stays as text. Each failed search for its end scans ahead, so after
 * this many failures in one page the rest of the page's openers are taken as text without
 * searching: hostile pages stay linear-time, ordinary pages with a stray "{{" are unaffected.
 * The same holds for dropped tags without their closing tag. */
#define MAX_FAILED_SCANS 64
/* External links longer than this ("[http://... text]") are taken as text. */
#define MAX_EXTERNAL_LINK 2048

/* Pass 1: comments and tags whose content is not text. */
static size_t strip_comments_and_tags(const char *in, size_t n, char *out) {
    size_t o = 0;
    int failed_scans = 0;
    for (size_t i = 0; i < n;) {
        const char *lt = memchr(in + i, '<', n - i);
        size_t upto = lt ? (size_t)(lt - in) : n;
        memcpy(out + o, in + i, upto - i);
        o += upto - i;
        i = upto;
        if (!lt) break;
        if (i + 4 <= n && memcmp(in + i, "<!--", 4) == 0) {
            const char *end = memmem(in + i + 4, n - i - 4, "-->", 3);
            i = end ? (size_t)(end - in) + 3 : n;
            continue;
        }
        char name[24];
        int closing, self;
        size_t len = markup_tag_length(in + i, n - i, name, sizeof name, &closing, &self);
        if (len > 0 && in_list(dropped_tags, name, strlen(name))) {
            size_t end = closing || self || failed_scans >= MAX_FAILED_SCANS ? 0 : find_closing_tag(in, n, i + len, name);
            failed_scans += !(closing || self) && end == 0;
            i += end ? end - i : len;
            continue;
        }
        out[o++] = in[i++];
    }
    return o;
}

static int at_line_start(const char *in, size_t i) {
    while (i > 0 && (in[i - 1] == ' ' || in[i - 1] == ':')) i--;
    return i == 0 || in[i - 1] == '\n';
}

/* End of the template starting at in[i] == "{{", counting every brace so that template
 * parameters ({{{1}}}) and tables inside templates balance; 0 when it never closes. */
static size_t template_end(const char *in, size_t n, size_t i) {
    long depth = 0;
    for (; i < n; i++) {
        if (in[i] == '{') depth++;
        else if (in[i] == '}' && --depth == 0) return i + 1;
    }
    return 0;
}

/* End of the table whose "{|" starts at in[i] (nested tables included): just after the
 * matching "|}", or n when the table is never closed. */
static size_t table_end(const char *in, size_t n, size_t i) {
    int depth = 0;
    for (size_t line = i; line < n;) {
        size_t s = line;
        while (s < n && (in[s] == ' ' || in[s] == '\t' || in[s] == ':')) s++;
        if (s + 1 < n && in[s] == '{' && in[s + 1] == '|') depth++;
        else if (s + 1 < n && in[s] == '|' && in[s + 1] == '}' && --depth == 0) return s + 2;
        const char *nl = memchr(in + line, '\n', n - line);
        line = nl ? (size_t)(nl - in) + 1 : n;
    }
    return n;
}

/* Pass 2: templates {{...}} and tables {|...|}. */
static size_t strip_templates_and_tables(const char *in, size_t n, char *out) {
    size_t o = 0;
    int failed_scans = 0;
    for (size_t i = 0; i < n;) {
        const char *br = memchr(in + i, '{', n - i);
        size_t upto = br ? (size_t)(br - in) : n;
        memcpy(out + o, in + i, upto - i);
        o += upto - i;
        i = upto;
        if (!br) break;
        if (i + 1 < n && in[i + 1] == '|' && at_line_start(in, i)) {
            i = table_end(in, n, i);
            continue;
        }
        if (failed_scans < MAX_FAILED_SCANS && i + 1 < n && in[i + 1] == '{') {
            size_t end = template_end(in, n, i);
            if (end) {
                i = end;
                continue;
            }
            failed_scans++;
        }
        out[o++] = in[i++];
    }
    return o;
}

/* End of the link starting at in[i] == "[[" (nested links balanced), 0 when unclosed. */
static size_t link_end(const char *in, size_t n, size_t i) {
    int depth = 0;
    for (; i + 1 < n; i++) {
        if (in[i] == '[' && in[i + 1] == '[') {
            depth++;
            i++;
        } else if (in[i] == ']' && in[i + 1] == ']') {
            i++;
            if (--depth == 0) return i + 1;
        }
    }
    return 0;
}

/* An interlanguage prefix: a lowercase language code such as "en", "ja", "zh-yue", "simple". */
static int is_language_code(const char *s, size_t n) {
    if (n == 6 && memcmp(s, "simple", 6) == 0) return 1;
    if (n < 2 || n > 12) return 0;
    size_t letters = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'a' && s[i] <= 'z') letters++;
        else if (s[i] != '-' || i < 2) return 0;
    }
    return letters >= 2 && (n <= 3 || s[2] == '-' || s[3] == '-');
}

static size_t convert_links(const char *in, size_t n, char *out, int depth);

/* Writes the visible text of the internal link whose inside (between [[ and ]]) is in[0..n). */
static size_t render_internal_link(const char *in, size_t n, char *out, int depth) {
    int leading_colon = n > 0 && in[0] == ':';
    const char *t = in + leading_colon;
    size_t tn = n - leading_colon;
    const char *pipe = memchr(t, '|', tn);
    size_t target_len = pipe ? (size_t)(pipe - t) : tn;
    const char *colon = memchr(t, ':', target_len);
    if (colon) {
        const char *p = t;
        size_t pn = (size_t)(colon - t);
        while (pn > 0 && p[0] == ' ') p++, pn--;
        while (pn > 0 && p[pn - 1] == ' ') pn--;
        if (in_list(file_prefixes, p, pn)) return 0;
        if (!leading_colon && (in_list(category_prefixes, p, pn) || is_language_code(p, pn))) return 0;
    }
    const char *vis = t;
    size_t vn = target_len;
    if (pipe && (size_t)(pipe - t) + 1 < tn) {
        vis = pipe + 1;
        vn = tn - (size_t)(pipe - t) - 1;
    }
    return convert_links(vis, vn, out, depth + 1);
}

/* Writes the visible text of "[url text]" starting at in[0] == '['; *consumed is its length.
 * Returns (size_t)-1 when in[0] does not start an external link. */
static size_t render_external_link(const char *in, size_t n, char *out, size_t *consumed) {
    int is_url = 0;
    for (int k = 0; url_schemes[k]; k++) is_url |= starts_with_ci(in + 1, n - 1, url_schemes[k]);
    if (!is_url) return (size_t)-1;
    size_t i = 1, limit = n < MAX_EXTERNAL_LINK ? n : MAX_EXTERNAL_LINK;
    while (i < limit && in[i] != ']' && in[i] != '\n') i++;
    if (i >= limit || in[i] != ']') return (size_t)-1;
    *consumed = i + 1;
    const char *sp = memchr(in, ' ', i);
    if (!sp) return 0;
    size_t len = i - (size_t)(sp + 1 - in);
    memmove(out, sp + 1, len);
    return len;
}

/* Pass 3: [[links]] and [external links]. */
static size_t convert_links(const char *in, size_t n, char *out, int depth) {
    size_t o = 0;
    int failed_scans = 0;
    for (size_t i = 0; i < n;) {
        const char *br = memchr(in + i, '[', n - i);
        size_t upto = br ? (size_t)(br - in) : n;
        memmove(out + o, in + i, upto - i);
        o += upto - i;
        i = upto;
        if (!br) break;
        if (failed_scans < MAX_FAILED_SCANS && depth < 8 && i + 1 < n && in[i + 1] == '[') {
            size_t end = link_end(in, n, i);
            if (end) {
                o += render_internal_link(in + i + 2, end - i - 4, out + o, depth);
                i = end;
                continue;
            }
            failed_scans++;
        }
        size_t consumed = 0, len = render_external_link(in + i, n - i, out + o, &consumed);
        if (len != (size_t)-1) {
            o += len;
            i += consumed;
            continue;
        }
        out[o++] = in[i++];
    }
    return o;
}

/* Copies a line without runs of two or more apostrophes (bold/italic) and __MAGIC__ words. */
static size_t copy_inline(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (in[i] == '\'' && i + 1 < n && in[i + 1] == '\'') {
            while (i < n && in[i] == '\'') i++;
            continue;
        }
        if (in[i] == '_' && i + 1 < n && in[i + 1] == '_') {
            size_t j = i + 2;
            while (j < n && isupper((unsigned char)in[j])) j++;
            if (j > i + 2 && j + 1 < n && in[j] == '_' && in[j + 1] == '_') {
                i = j + 2;
                continue;
            }
        }
        out[o++] = in[i++];
    }
    return o;
}

/* A heading line "== text ==": sets the text span and returns 1. */
static int heading_text(const char *s, size_t n, size_t *start, size_t *len) {
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    if (n < 3 || s[0] != '=' || s[n - 1] != '=') return 0;
    size_t a = 0, b = n;
    while (a < b && s[a] == '=') a++;
    while (b > a && s[b - 1] == '=') b--;
    while (a < b && s[a] == ' ') a++;
    while (b > a && s[b - 1] == ' ') b--;
    *start = a;
    *len = b - a;
    return 1;
}

/* Pass 4: per line — headings, list markers, horizontal rules, quotes, magic words. */
static size_t convert_lines(const char *in, size_t n, char *out, int keep_headings) {
    size_t o = 0;
    for (size_t line = 0; line < n;) {
        const char *nl = memchr(in + line, '\n', n - line);
        size_t end = nl ? (size_t)(nl - in) : n;
        const char *s = in + line;
        size_t len = end - line, hs, hl;
        if (heading_text(s, len, &hs, &hl)) {
            if (keep_headings && hl > 0) o += copy_inline(s + hs, hl, out + o);
        } else if (len >= 4 && memcmp(s, "----", 4) == 0) {
            /* horizontal rule: nothing */
        } else {
            size_t k = 0;
            while (k < len && strchr("*#:;", s[k])) k++;
            o += copy_inline(s + k, len - k, out + o);
        }
        if (nl) out[o++] = '\n';
        line = end + 1;
    }
    return o;
}

/* Length of the byte sequence at s that is filler left inside parentheses once templates are
 * gone (space, comma, semicolon, "、", "，"), 0 if s starts something else. */
static size_t filler_length(const char *s, size_t n) {
    if (n >= 1 && (s[0] == ' ' || s[0] == ',' || s[0] == ';')) return 1;
    if (n >= 3 && (memcmp(s, "\xE3\x80\x81", 3) == 0 || memcmp(s, "\xEF\xBC\x8C", 3) == 0)) return 3;
    return 0;
}

/* Pass 5 (also used on WikiExtractor text): parentheses emptied by template removal. */
size_t wikitext_tidy_parentheses(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t open = in[i] == '(' ? 1 : (i + 3 <= n && memcmp(in + i, "\xEF\xBC\x88", 3) == 0) ? 3 : 0;
        if (open) {
            size_t j = i + open, f;
            while (j < n && (f = filler_length(in + j, n - j)) > 0) j += f;
            size_t close = j < n && in[j] == ')' ? 1 : (j + 3 <= n && memcmp(in + j, "\xEF\xBC\x89", 3) == 0) ? 3 : 0;
            if (close) { /* nothing left inside: drop the pair */
                i = j + close;
                continue;
            }
            memmove(out + o, in + i, open); /* keep the bracket, drop the filler after it */
            o += open;
            i = j;
            continue;
        }
        out[o++] = in[i++];
    }
    return o;
}

/* Length of a "formula_N" / "codice_N" placeholder starting at in[i] (0 if none): the word must
 * not continue a longer identifier on either side. */
static size_t placeholder_length(const char *in, size_t n, size_t i) {
    static const char *const names[] = {"formula_", "codice_"};
    if (i > 0 && (isalnum((unsigned char)in[i - 1]) || in[i - 1] == '_')) return 0;
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(names[k]), j = i + len;
        if (j >= n || memcmp(in + i, names[k], len) != 0 || !isdigit((unsigned char)in[j])) continue;
        while (j < n && isdigit((unsigned char)in[j])) j++;
        if (j < n && (isalnum((unsigned char)in[j]) || in[j] == '_')) return 0;
        return j - i;
    }
    return 0;
}

size_t wikiextractor_drop_placeholders(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = (in[i] == 'f' || in[i] == 'c') ? placeholder_length(in, n, i) : 0;
        if (len) {
            i += len;
            /* "값 formula_3 이다" -> "값 이다", "함수 formula_1는" -> "함수는" (a particle follows) */
            unsigned char next = i < n ? (unsigned char)in[i] : ' ';
            if (o > 0 && out[o - 1] == ' ' && (next == ' ' || next == ',' || next == '.' || next >= 0x80)) o--;
            continue;
        }
        out[o++] = in[i++];
    }
    return o;
}

size_t wikitext_to_text(const char *in, size_t n, char *out, char *scratch, int keep_headings) {
    size_t m = strip_comments_and_tags(in, n, scratch);
    m = strip_templates_and_tables(scratch, m, out);
    m = convert_links(out, m, scratch, 0);
    m = convert_lines(scratch, m, out, keep_headings);
    m = markup_strip_tags(out, m, scratch);
    m = wikitext_tidy_parentheses(scratch, m, out);
    m = markup_decode_entities(out, m, out);
    out[m] = 0;
    return m;
}

int wikitext_is_redirect(const char *text, size_t n) {
    while (n > 0 && isspace((unsigned char)*text)) text++, n--;
    return starts_with_ci(text, n, "#redirect") || starts_with_ci(text, n, "#넘겨주기") || starts_with_ci(text, n, "#転送");
}
