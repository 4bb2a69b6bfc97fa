/* MediaWiki XML dumps (pages-articles) through expat, one <page> at a time. */
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "text/readers.h"
#include "text/wikitext.h"

typedef enum { F_NONE, F_TITLE, F_NS, F_TEXT } Field;

/* The largest wiki page we hold in memory (real pages stay below a few MB). */
#define MAX_PAGE_BYTES ((size_t)256 << 20)

typedef struct {
    ReaderContext *rc;
    const char *path;
    XML_Parser parser;
    int in_page, redirect, failed;
    Field field;
    char title[256];
    size_t title_len;
    char ns[16];
    size_t ns_len;
    char *text;
    size_t text_len, text_cap;
} XmlState;

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    (void)attrs;
    XmlState *st = ud;
    if (strcmp(name, "page") == 0) {
        st->in_page = 1;
        st->redirect = 0;
        st->title_len = st->ns_len = st->text_len = 0;
    } else if (!st->in_page) {
        return;
    } else if (strcmp(name, "title") == 0) {
        st->field = F_TITLE;
        st->title_len = 0;
    } else if (strcmp(name, "ns") == 0) {
        st->field = F_NS;
        st->ns_len = 0;
    } else if (strcmp(name, "text") == 0) {
        st->field = F_TEXT;
        st->text_len = 0; /* a history dump has several revisions: the last one wins */
    } else if (strcmp(name, "redirect") == 0) {
        st->redirect = 1;
    }
}

static void append_bounded(char *buf, size_t *len, size_t cap, const char *s, int n) {
    size_t k = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
    memcpy(buf + *len, s, k);
    *len += k;
    buf[*len] = 0;
}

static void on_chars(void *ud, const XML_Char *s, int n) {
    XmlState *st = ud;
    switch (st->field) {
    case F_TITLE: append_bounded(st->title, &st->title_len, sizeof st->title, s, n); break;
    case F_NS: append_bounded(st->ns, &st->ns_len, sizeof st->ns, s, n); break;
    case F_TEXT:
        if (st->text_len + (size_t)n > MAX_PAGE_BYTES) {
            kr_error("%s: page '%s' is larger than %zu MB; the rest of this file is skipped", st->path, st->title, MAX_PAGE_BYTES >> 20);
            st->failed = 1;
            XML_StopParser(st->parser, XML_FALSE);
            return;
        }
        if (st->text_len + (size_t)n + 1 > st->text_cap) {
            size_t cap = st->text_cap ? st->text_cap : 1 << 16;
            while (cap < st->text_len + (size_t)n + 1) cap *= 2;
            char *p = realloc(st->text, cap);
            if (!p) {
                kr_error("out of memory reading page '%s' of %s", st->title, st->path);
                st->failed = 1;
                XML_StopParser(st->parser, XML_FALSE);
                return;
            }
            st->text = p;
            st->text_cap = cap;
        }
        memcpy(st->text + st->text_len, s, (size_t)n);
        st->text_len += (size_t)n;
        break;
    case F_NONE: break;
    }
}

static void on_end(void *ud, const XML_Char *name) {
    XmlState *st = ud;
    st->field = F_NONE;
    if (!st->in_page || strcmp(name, "page") != 0) return;
    st->in_page = 0;
    ReaderCounts *c = st->rc->counts;
    if (!(st->ns_len == 1 && st->ns[0] == '0')) {
        c->skipped_namespace++;
    } else if (st->redirect || wikitext_is_redirect(st->text, st->text_len)) {
        c->skipped_redirect++;
    } else {
        c->docs++;
        if (st->rc->sink(st->rc->ctx, st->text ? st->text : "", st->text_len, DOC_WIKITEXT) != 0) {
            st->failed = 1;
            XML_StopParser(st->parser, XML_FALSE);
        }
    }
}

static int report_xml_error(Source *src, XmlState *st, int final) {
    XML_Parser p = st->parser;
    unsigned long long line = XML_GetCurrentLineNumber(p), byte = (unsigned long long)XML_GetCurrentByteIndex(p);
    if (final && st->in_page)
        return kr_error("%s: XML ends inside page '%s' (line %llu, decompressed byte %llu): the dump is truncated; every complete page before it was kept",
                        src->path, st->title, line, byte);
    return kr_error("%s: XML error at line %llu, column %llu (decompressed byte %llu): %s; the rest of this file is skipped", src->path, line,
                    (unsigned long long)XML_GetCurrentColumnNumber(p), byte, XML_ErrorString(XML_GetErrorCode(p)));
}

int read_wiki_xml(Source *src, ReaderContext *rc) {
    XmlState st = {.rc = rc, .path = src->path};
    st.parser = XML_ParserCreate("UTF-8");
    char *buf = malloc(SOURCE_CHUNK);
    if (!st.parser || !buf) {
        if (st.parser) XML_ParserFree(st.parser);
        free(buf);
        return kr_error("out of memory reading %s", src->path);
    }
    XML_SetUserData(st.parser, &st);
    XML_SetElementHandler(st.parser, on_start, on_end);
    XML_SetCharacterDataHandler(st.parser, on_chars);
    int rc_out = 0;
    for (;;) {
        long n = source_read(src, buf, SOURCE_CHUNK);
        if (n < 0) {
            rc_out = -1;
            break;
        }
        if (XML_Parse(st.parser, buf, (int)n, n == 0) == XML_STATUS_ERROR) {
            rc_out = st.failed ? -1 : report_xml_error(src, &st, n == 0);
            break;
        }
        if (n == 0) break;
    }
    XML_ParserFree(st.parser);
    free(st.text);
    free(buf);
    return rc_out;
}
