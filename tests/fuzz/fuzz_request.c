/* libFuzzer harness for what a hostile client controls: request bodies (both endpoints) and
 * the text stream that a model's bytes and the request's stop strings drive.
 * Build and run: tests/fuzz/run_fuzz.sh serve [seconds]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/request.h"
#include "infer/gentext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    RequestLimits lim = {.max_tokens_cap = 512, .default_max_tokens = 16};
    for (int kind = 0; kind < 2; kind++) {
        ServeRequest r;
        ApiError e;
        if (serve_parse_request((const char *)data, size, (RequestKind)kind, &lim, &r, &e) == 0) {
            /* Feed the body back as model output through the request's stop strings. */
            GenText t;
            if (gentext_init(&t, 16) == 0) {
                const char *out;
                size_t n;
                if (gentext_begin(&t, (const char *const *)r.stop, r.nstop, 1) == 0) {
                    for (size_t i = 0; i < size; i += 3)
                        if (gentext_push(&t, (const char *)data + i, size - i < 3 ? size - i : 3, &out, &n)) break;
                    gentext_finish(&t, &out, &n);
                    if (!utf8_valid(t.buf, t.released)) abort();
                }
                gentext_free(&t);
            }
            serve_request_free(&r);
        } else {
            char *json = api_error_json(&e);
            if (!json) abort();
            free(json);
        }
    }
    return 0;
}
