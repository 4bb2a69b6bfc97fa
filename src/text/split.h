/* Train/validation/test assignment decided by a hash of each document's text, so a document
 * lands in the same split whatever the order or number of the other inputs. */
#ifndef KR_TEXT_SPLIT_H
#define KR_TEXT_SPLIT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, SPLIT_COUNT } SplitPart;

/* 98% train, 1% val, 1% test. */
SplitPart split_of(const char *text, size_t n, uint64_t seed);
const char *split_name(SplitPart p);

#endif
