/* HTML-level cleanup shared by every input format: tags and character entities. */
#ifndef KR_TEXT_MARKUP_H
#define KR_TEXT_MARKUP_H

#include <stddef.h>

/* Removes tags such as <b>, </span>, <br/> (keeping the text between them); block-level tags
 * become a space so that words on either side stay apart. `out` needs n bytes; returns the
 * new length. A '<' that does not start a well-formed tag (e.g. "a < b", "<3") is kept. */
size_t markup_strip_tags(const char *in, size_t n, char *out);

/* Decodes &amp; &lt; &nbsp; &#44608; &#xAC00; and other common named entities; unknown or
 * malformed ones are kept as written. `out` needs n bytes; returns the new length. */
size_t markup_decode_entities(const char *in, size_t n, char *out);

/* Length of the tag starting at in[0] == '<' (up to and including '>'), 0 if it is not a tag.
 * *closing is set for "</name", and the lowercased name (truncated) is copied into name. */
size_t markup_tag_length(const char *in, size_t n, char *name, size_t name_cap, int *closing, int *self_closing);

#endif
