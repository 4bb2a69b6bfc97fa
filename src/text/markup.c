#include "text/markup.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

/* Longest tag we accept; anything longer is more likely text that happens to contain '<'. */
#define MAX_TAG_BYTES 1024

size_t markup_tag_length(const char *in, size_t n, char *name, size_t name_cap, int *closing, int *self_closing) {
    size_t i = 1;
    *closing = 0;
    *self_closing = 0;
    if (i < n && in[i] == '/') {
        *closing = 1;
        i++;
    }
    if (i >= n || !isalpha((unsigned char)in[i])) return 0;
    size_t k = 0;
    while (i < n && (isalnum((unsigned char)in[i]) || in[i] == '-' || in[i] == ':')) {
        if (k + 1 < name_cap) name[k++] = (char)tolower((unsigned char)in[i]);
        i++;
    }
    if (name_cap) name[k] = 0;
    if (i < n && !(in[i] == '>' || in[i] == '/' || isspace((unsigned char)in[i]))) return 0;
    char quote = 0;
    for (; i < n && i < MAX_TAG_BYTES; i++) {
        char c = in[i];
        if (quote) {
            if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'') quote = c;
        else if (c == '<' || c == '\n') return 0;
        else if (c == '>') {
            *self_closing = in[i - 1] == '/';
            return i + 1;
        }
    }
    return 0;
}

static int is_block_tag(const char *name) {
    static const char *const block[] = {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "blockquote", "hr", "dd", "dt", "center", NULL};
    for (int i = 0; block[i]; i++)
        if (strcmp(name, block[i]) == 0) return 1;
    return 0;
}

size_t markup_strip_tags(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const char *lt = memchr(in + i, '<', n - i);
        size_t upto = lt ? (size_t)(lt - in) : n;
        memmove(out + o, in + i, upto - i);
        o += upto - i;
        i = upto;
        if (!lt) break;
        char name[16];
        int closing, self;
        size_t len = markup_tag_length(in + i, n - i, name, sizeof name, &closing, &self);
        if (len == 0) {
            out[o++] = in[i++];
            continue;
        }
        if (is_block_tag(name) && o > 0 && out[o - 1] != ' ') out[o++] = ' ';
        i += len;
    }
    return o;
}

typedef struct {
    const char *name;
    uint32_t cp;
} Entity;

static const Entity entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"ndash", 0x2013}, {"mdash", 0x2014}, {"hellip", 0x2026}, {"middot", 0xB7}, {"laquo", 0xAB},
    {"raquo", 0xBB}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D},
    {"times", 0xD7}, {"divide", 0xF7}, {"minus", 0x2212}, {"plusmn", 0xB1}, {"deg", 0xB0},
    {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"bull", 0x2022}, {"larr", 0x2190},
    {"rarr", 0x2192}, {"uarr", 0x2191}, {"darr", 0x2193}, {"harr", 0x2194}, {"thinsp", 0x2009},
    {"ensp", 0x2002}, {"emsp", 0x2003}, {"zwj", 0x200D}, {"zwnj", 0x200C}, {"shy", 0xAD},
    {"sect", 0xA7}, {"para", 0xB6}, {"frac12", 0xBD}, {"frac14", 0xBC}, {"frac34", 0xBE},
    {"sup2", 0xB2}, {"sup3", 0xB3}, {"micro", 0xB5}, {"euro", 0x20AC}, {"pound", 0xA3},
    {"yen", 0xA5}, {"cent", 0xA2}, {"prime", 0x2032}, {"Prime", 0x2033}, {"infin", 0x221E},
    {"le", 0x2264}, {"ge", 0x2265}, {"ne", 0x2260}, {"asymp", 0x2248}, {"alpha", 0x3B1},
    {"beta", 0x3B2}, {"gamma", 0x3B3}, {"delta", 0x3B4}, {"pi", 0x3C0}, {"sigma", 0x3C3},
    {"mu", 0x3BC}, {"lambda", 0x3BB}, {"omega", 0x3C9}, {"theta", 0x3B8}, {NULL, 0},
};

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Code point of the entity at in[0] == '&' and its length, or 0 when it is not one we decode. */
static size_t parse_entity(const char *in, size_t n, uint32_t *cp) {
    size_t i = 1;
    if (i < n && in[i] == '#') {
        int hex = i + 1 < n && (in[i + 1] == 'x' || in[i + 1] == 'X');
        i += hex ? 2 : 1;
        uint32_t v = 0;
        size_t digits = 0;
        for (; i < n && digits < 8; i++, digits++) {
            int c = (unsigned char)in[i];
            int d = isdigit(c) ? c - '0' : hex && isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
            if (d < 0) break;
            v = v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (digits == 0 || i >= n || in[i] != ';') return 0;
        if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
        *cp = v;
        return i + 1;
    }
    size_t start = i;
    while (i < n && i - start < 10 && isalnum((unsigned char)in[i])) i++;
    if (i >= n || in[i] != ';' || i == start) return 0;
    for (int k = 0; entities[k].name; k++)
        if (strlen(entities[k].name) == i - start && memcmp(entities[k].name, in + start, i - start) == 0) {
            *cp = entities[k].cp;
            return i + 1;
        }
    return 0;
}

size_t markup_decode_entities(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const char *amp = memchr(in + i, '&', n - i);
        size_t upto = amp ? (size_t)(amp - in) : n;
        memmove(out + o, in + i, upto - i);
        o += upto - i;
        i = upto;
        if (!amp) break;
        uint32_t cp;
        size_t len = parse_entity(in + i, n - i, &cp);
        if (len == 0) {
            out[o++] = in[i++];
            continue;
        }
        /* The encoded form is never shorter than the entity ("&#x10000;" is 9 bytes, 4 out). */
        o += put_utf8(out + o, cp);
        i += len;
    }
    return o;
}
