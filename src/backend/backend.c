#include "backend/backend.h"

#include <string.h>
#ifdef KR_CUDA
#include <dlfcn.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#endif

#include "common/error.h"

#ifdef KR_CUDA
/* Programs that link the CUDA objects in (the GPU checks) define this; krllm does not. */
extern const BackendOps cuda_backend_ops __attribute__((weak));

#define CUDA_PLUGIN "libkrllm_cuda.so"

/* Appends "path: reason" to the list of places tried (truncated if long). */
static void note_tried(char *tried, size_t cap, const char *path) {
    size_t used = strlen(tried);
    if (snprintf(tried + used, cap - used, "\n  %s: %s", path, dlerror()) >= (int)(cap - used)) tried[cap - 1] = 0;
}

static void *open_plugin_in(const char *dir, char *tried, size_t cap) {
    char path[PATH_MAX + 32];
    if (snprintf(path, sizeof path, "%s/%s", dir, CUDA_PLUGIN) >= (int)sizeof path) return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) note_tried(tried, cap, path);
    return h;
}

/* Looks for the plugin in $KRLLM_CUDA_LIB, beside the executable, then in the build directory. */
static const BackendOps *load_cuda_backend(void) {
    if (&cuda_backend_ops) return &cuda_backend_ops;
    static const BackendOps *loaded;
    if (loaded) return loaded;
    char tried[2048] = "", exe_dir[PATH_MAX];
    void *h = NULL;
    const char *env = getenv("KRLLM_CUDA_LIB");
    if (env) {
        h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!h) note_tried(tried, sizeof tried, env);
    }
    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (!h && n > 0) {
        exe_dir[n] = 0;
        char *slash = strrchr(exe_dir, '/');
        if (slash) *slash = 0;
        h = open_plugin_in(exe_dir, tried, sizeof tried);
    }
    if (!h) h = open_plugin_in(KR_CUDA_LIB_DIR, tried, sizeof tried);
    if (!h) {
        kr_error("cannot load the CUDA backend (set KRLLM_CUDA_LIB to its path, or use --device cpu); tried:%s", tried);
        return NULL;
    }
    loaded = dlsym(h, "cuda_backend_ops");
    if (!loaded) kr_error("%s has no cuda_backend_ops; rebuild krllm (or use --device cpu)", CUDA_PLUGIN);
    return loaded;
}
#endif

int backend_create(Backend *be, const char *device, const ModelConfig *cfg, const BackendOptions *opt) {
    memset(be, 0, sizeof *be);
    const BackendOps *ops = NULL;
    if (!strcmp(device, "cpu")) ops = &cpu_backend_ops;
#ifdef KR_CUDA
    else if (!strcmp(device, "cuda")) {
        ops = load_cuda_backend();
        if (!ops) return -1;
    }
#else
    else if (!strcmp(device, "cuda"))
        return kr_error("this krllm was built without CUDA (nvcc was not found at build time); rebuild with nvcc on the PATH or use --device cpu");
#endif
    else return kr_error("unknown device '%s' (use cpu or cuda)", device);
    if (ops == &cpu_backend_ops && opt->num_gpus > 1)
        return kr_error("num_gpus %d applies to --device cuda only; the cpu backend uses num_threads", opt->num_gpus);
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
