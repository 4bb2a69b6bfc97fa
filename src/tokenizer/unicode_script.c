#include "tokenizer/unicode_script.h"

#include <utf8proc.h>

typedef struct {
    uint32_t lo, hi;
    int8_t script;
} ScriptRange;

/* Sorted, non-overlapping ranges; anything else is classified by its general category. */
static const ScriptRange ranges[] = {
    {0x0041, 0x005A, SCRIPT_LATIN},      {0x0061, 0x007A, SCRIPT_LATIN},     {0x00AA, 0x00AA, SCRIPT_LATIN},
    {0x00BA, 0x00BA, SCRIPT_LATIN},      {0x00C0, 0x00D6, SCRIPT_LATIN},     {0x00D8, 0x00F6, SCRIPT_LATIN},
    {0x00F8, 0x024F, SCRIPT_LATIN},      {0x0250, 0x02AF, SCRIPT_LATIN},     {0x0300, 0x036F, SCRIPT_INHERITED},
    {0x0370, 0x03FF, SCRIPT_GREEK},      {0x0400, 0x052F, SCRIPT_CYRILLIC},  {0x0531, 0x058F, SCRIPT_ARMENIAN},
    {0x0591, 0x05FF, SCRIPT_HEBREW},     {0x0600, 0x06FF, SCRIPT_ARABIC},    {0x0900, 0x097F, SCRIPT_DEVANAGARI},
    {0x0E00, 0x0E7F, SCRIPT_THAI},       {0x1100, 0x11FF, SCRIPT_HANGUL},    {0x1AB0, 0x1AFF, SCRIPT_INHERITED},
    {0x1DC0, 0x1DFF, SCRIPT_INHERITED},  {0x1E00, 0x1EFF, SCRIPT_LATIN},     {0x1F00, 0x1FFF, SCRIPT_GREEK},
    {0x200C, 0x200D, SCRIPT_INHERITED},  {0x20D0, 0x20FF, SCRIPT_INHERITED}, {0x2C60, 0x2C7F, SCRIPT_LATIN},
    {0x2E80, 0x2FDF, SCRIPT_HAN},        {0x3005, 0x3005, SCRIPT_HAN},       {0x3007, 0x3007, SCRIPT_HAN},
    {0x3021, 0x3029, SCRIPT_HAN},        {0x302A, 0x302D, SCRIPT_INHERITED}, {0x302E, 0x302F, SCRIPT_HANGUL},
    {0x3038, 0x303B, SCRIPT_HAN},        {0x3041, 0x3096, SCRIPT_HAN},       {0x3099, 0x309A, SCRIPT_INHERITED},
    {0x309D, 0x309F, SCRIPT_HAN},        {0x30A1, 0x30FF, SCRIPT_HAN},       {0x3131, 0x318E, SCRIPT_HANGUL},
    {0x31F0, 0x31FF, SCRIPT_HAN},        {0x3200, 0x321E, SCRIPT_HANGUL},    {0x3260, 0x327E, SCRIPT_HANGUL},
    {0x3400, 0x4DBF, SCRIPT_HAN},        {0x4E00, 0x9FFF, SCRIPT_HAN},       {0xA720, 0xA7FF, SCRIPT_LATIN},
    {0xA960, 0xA97F, SCRIPT_HANGUL},      {0xAC00, 0xD7A3, SCRIPT_HANGUL},    {0xD7B0, 0xD7FF, SCRIPT_HANGUL},
    {0xF900, 0xFAFF, SCRIPT_HAN},        {0xFB00, 0xFB06, SCRIPT_LATIN},     {0xFE00, 0xFE0F, SCRIPT_INHERITED},
    {0xFE20, 0xFE2F, SCRIPT_INHERITED},  {0xFF21, 0xFF3A, SCRIPT_LATIN},     {0xFF41, 0xFF5A, SCRIPT_LATIN},
    {0xFF66, 0xFF9D, SCRIPT_HAN},        {0xFFA0, 0xFFDC, SCRIPT_HANGUL},    {0x20000, 0x3134F, SCRIPT_HAN},
    {0xE0100, 0xE01EF, SCRIPT_INHERITED},
};

UnicodeScript unicode_script(uint32_t cp) {
    int lo = 0, hi = (int)(sizeof ranges / sizeof ranges[0]) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < ranges[mid].lo) hi = mid - 1;
        else if (cp > ranges[mid].hi) lo = mid + 1;
        else return (UnicodeScript)ranges[mid].script;
    }
    if (cp < 0x80) return SCRIPT_COMMON;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return SCRIPT_OTHER_LETTERS;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME: return SCRIPT_INHERITED;
    default: return SCRIPT_COMMON;
    }
}
