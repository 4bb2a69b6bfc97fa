/* Input formats of `krllm prepare` and their streaming readers. Every reader pulls bytes from
 * a Source and hands each document to a sink as soon as it is complete, so memory does not
 * depend on the file size (only on the largest single document). */
#ifndef KR_TEXT_READERS_H
#define KR_TEXT_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "text/source.h"

typedef enum { FMT_AUTO, FMT_WIKI_XML, FMT_WIKI_DOC, FMT_TEXT, FMT_PARAGRAPHS, FMT_TSV, FMT_CSV } InputFormat;
/* DOC_WIKI_EXTRACTED: plain text extracted from wikitext by another tool (WikiExtractor), which
 * leaves empty parentheses where templates were. */
typedef enum { DOC_PLAIN, DOC_WIKITEXT, DOC_WIKI_EXTRACTED } DocKind;

/* Receives one raw document; returns 0, or -1 to stop reading (error recorded). */
typedef int (*DocSink)(void *ctx, const char *text, size_t len, DocKind kind);

typedef struct {
    uint64_t docs;              /* documents handed to the sink */
    uint64_t skipped_namespace; /* wiki pages outside the article namespace */
    uint64_t skipped_redirect;  /* wiki redirect pages */
    uint64_t bad_rows;          /* TSV/CSV rows without the selected column */
} ReaderCounts;

typedef struct {
    DocSink sink;
    void *ctx;
    ReaderCounts *counts;
    const char *column;  /* TSV/CSV: "NAME", "N" (1-based) or a comma-separated list; NULL = auto */
    int keep_headings;   /* wiki-doc: keep the title line */
    char columns_used[256]; /* TSV/CSV: the column names actually read, for stats */
} ReaderContext;

const char *format_name(InputFormat f);
/* Parses a --format value; -1 with a message for an unknown name. */
int format_parse(const char *name, InputFormat *out);

#define DETECT_HEAD_BYTES (64 * 1024)
/* Chooses a format from the first bytes of the (decompressed) content and the file name.
 * Returns -1 with a message when the content looks binary or is empty. */
int format_detect(const char *path, const char *head, size_t n, InputFormat *out);

/* Each reader consumes the whole source; -1 on the first error that stops the file (message
 * names the file and offset); documents already handed over stay valid. */
int read_wiki_xml(Source *src, ReaderContext *rc);
int read_lines(Source *src, InputFormat format, ReaderContext *rc); /* wiki-doc, text, paragraphs */
int read_table(Source *src, InputFormat format, ReaderContext *rc); /* tsv, csv (first row is the header) */

#endif
