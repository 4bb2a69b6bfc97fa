/* MediaWiki markup to plain text: what a reader of the rendered article would see, minus
 * tables, infoboxes (templates), references, math, galleries, files and categories. */
#ifndef KR_TEXT_WIKITEXT_H
#define KR_TEXT_WIKITEXT_H

#include <stddef.h>

/* Converts wikitext in[0..n) to plain text in `out`, paragraphs separated by '\n'.
 * `out` and `scratch` each need n + 1 bytes (the result is never longer than the input).
 * Headings become lines of their own when keep_headings is set, otherwise they are dropped.
 * Returns the length of the result. */
size_t wikitext_to_text(const char *in, size_t n, char *out, char *scratch, int keep_headings);

/* Removes what template removal leaves inside parentheses: "서울()" -> "서울",
 * "(, 1924년)" -> "(1924년)", "（、）" -> "". Safe in place (out == in); returns the new length. */
size_t wikitext_tidy_parentheses(const char *in, size_t n, char *out);

/* Removes WikiExtractor's placeholders for formulas and code ("formula_7", "codice_2"), which
 * stand where <math> and <code> were and carry no text. Safe in place; returns the new length. */
size_t wikiextractor_drop_placeholders(const char *in, size_t n, char *out);

/* Whether the page text is a redirect ("#REDIRECT [[...]]", "#넘겨주기", "#転送"). */
int wikitext_is_redirect(const char *text, size_t n);

#endif
