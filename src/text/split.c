#include "text/split.h"

#include "common/fileio.h"

SplitPart split_of(const char *text, size_t n, uint64_t seed) {
    /* A seed distinct from the dedup hashes so that the split is independent of them. */
    uint64_t bucket = kr_hash64(text, n, seed ^ 0x53504c4954ULL) % 100;
    return bucket == 0 ? SPLIT_VAL : bucket == 1 ? SPLIT_TEST : SPLIT_TRAIN;
}

const char *split_name(SplitPart p) {
    static const char *const names[] = {"train", "val", "test"};
    return names[p];
}
