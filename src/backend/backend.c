#include "backend/backend.h"

#include <string.h>

#include "common/error.h"

int backend_create(Backend *be, const char *device, const ModelConfig *cfg, const BackendOptions *opt) {
    memset(be, 0, sizeof *be);
    const BackendOps *ops = NULL;
    if (!strcmp(device, "cpu")) ops = &cpu_backend_ops;
#ifdef KR_CUDA
    else if (!strcmp(device, "cuda")) ops = &cuda_backend_ops;
#else
    else if (!strcmp(device, "cuda"))
        return kr_error("this krllm was built without CUDA (nvcc was not found at build time); rebuild with nvcc on the PATH or use --device cpu");
#endif
    else return kr_error("unknown device '%s' (use cpu or cuda)", device);
    if (param_layout_init(&be->layout, cfg) != 0) return -1;
    be->ops = ops;
    be->cfg = *cfg;
    be->opt = *opt;
    if (ops->create(be, cfg, opt) != 0) {
        param_layout_free(&be->layout);
        be->ops = NULL;
        return -1;
    }
    return 0;
}

void backend_destroy(Backend *be) {
    if (be->ops) be->ops->destroy(be);
    param_layout_free(&be->layout);
    memset(be, 0, sizeof *be);
}
