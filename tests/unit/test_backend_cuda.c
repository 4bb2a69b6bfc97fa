/* The cuda device through backend_create on a machine without a GPU (CI): a clear error that
 * points to --device cpu, whether or not the build has the CUDA backend. With a GPU present the
 * GPU suite (make test-cuda) covers the backend and this test only checks that creation works. */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "common/error.h"
#include "test.h"

int main(void) {
    ModelConfig cfg;
    model_config_defaults(&cfg);
    cfg.vocab_size = 64;
    BackendOptions opt = {.batch_size = 2, .seq_len = 16, .mixed_precision = 1};
    Backend be;
    int rc = backend_create(&be, "cuda", &cfg, &opt);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", kr_last_error());
#ifdef KR_CUDA
    /* The plugin loads; with a GPU the backend is created, without one the error says what to do. */
    if (rc == 0) {
        CHECK(be.ops->memory_in_use(&be) > 0);
        backend_destroy(&be);
        return test_summary("test_backend_cuda");
    }
    CHECK_MSG(strstr(msg, "--device cpu") != NULL, "message: %s", msg);
    CHECK_MSG(strstr(msg, "cannot load the CUDA backend") == NULL, "plugin not found: %s", msg);
#else
    CHECK(rc != 0);
    CHECK_MSG(strstr(msg, "without CUDA") != NULL, "message: %s", msg);
#endif
    /* several GPUs are a cuda option: the cpu backend refuses them */
    BackendOptions two = opt;
    two.num_gpus = 2;
    CHECK(backend_create(&be, "cpu", &cfg, &two) != 0);
    CHECK_MSG(strstr(kr_last_error(), "--device cuda only") != NULL, "message: %s", kr_last_error());
    /* an unknown device name is refused either way */
    CHECK(backend_create(&be, "tpu", &cfg, &opt) != 0);
    CHECK(strstr(kr_last_error(), "unknown device") != NULL);
    return test_summary("test_backend_cuda");
}
