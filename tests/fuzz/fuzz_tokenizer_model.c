/* libFuzzer harness for what a damaged or hostile tokenizer .model file controls: the protobuf
 * parser, the model checks (pieces, merges, normalizer, the embedded self-test) and, when a file
 * is accepted, encoding and decoding with it. Build and run: tests/fuzz/run_fuzz.sh tokenizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/spm_proto.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SpmModel m;
    if (spm_model_decode(data, size, "fuzz.model", &m) != 0) return 0;
    Tokenizer *t;
    if (tokenizer_from_proto(&m, "fuzz.model", &t) != 0) return 0;
    static const char text[] = "안녕하세요 Hello, 세계! ㅋㅋ 123 \xF0\x9F\x98\x80 \xE2\x96\x81x";
    uint32_t *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(t, text, sizeof text - 1, &ids, &n) == 0) {
        char *back = NULL;
        size_t blen = 0;
        if (tokenizer_decode(t, ids, n, &back, &blen) == 0) free(back);
        free(ids);
    }
    tokenizer_free(t);
    return 0;
}
