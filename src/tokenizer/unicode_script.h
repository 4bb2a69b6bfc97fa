/* A coarse Unicode script classifier for the trainer's rule that a piece never mixes scripts
 * (as SentencePiece's split_by_unicode_script): Hangul, Han (with kana, as SentencePiece groups
 * them), Latin, Greek, Cyrillic, a few others; combining marks inherit the script before them;
 * digits, punctuation, symbols and emoji are Common. */
#ifndef KR_UNICODE_SCRIPT_H
#define KR_UNICODE_SCRIPT_H

#include <stdint.h>

typedef enum {
    SCRIPT_INHERITED = -2,
    SCRIPT_COMMON = 0,
    SCRIPT_LATIN,
    SCRIPT_GREEK,
    SCRIPT_CYRILLIC,
    SCRIPT_ARMENIAN,
    SCRIPT_HEBREW,
    SCRIPT_ARABIC,
    SCRIPT_DEVANAGARI,
    SCRIPT_THAI,
    SCRIPT_HANGUL,
    SCRIPT_HAN,
    SCRIPT_OTHER_LETTERS, /* letters of scripts not listed above */
} UnicodeScript;

UnicodeScript unicode_script(uint32_t cp);

#endif
