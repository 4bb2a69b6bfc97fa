/* The real model behind the server: adapts the inference engine (src/infer) to generator.h. */
#include "common/error.h"
#include "serve/generator.h"

Generator *engine_generator_create(const char *checkpoint, int max_batch) {
    (void)max_batch;
    kr_error("cannot serve '%s': this build has no inference engine yet", checkpoint);
    return NULL;
}
