#include "backend/cuda/nccl_lib.cuh"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* The averaging reduction arrived in NCCL 2.10 (version codes are major * 10000 + minor * 100 + patch). */
#define NCCL_MIN_VERSION 21000

static int resolve(void *h, const char *name, void **fn) {
    *fn = dlsym(h, name);
    return *fn ? 0 : kr_error("the NCCL library lacks %s; install NCCL 2.10 or newer", name);
}

int nccl_lib_load(NcclLib *lib) {
    static void *handle;
    if (!handle) {
        const char *path = getenv("KRLLM_NCCL_LIB");
        if (!path || !*path) path = "libnccl.so.2";
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle)
            return kr_error("training on several GPUs needs NCCL, but %s could not be loaded (%s); install NCCL, add "
                            "its folder to LD_LIBRARY_PATH or name the library in KRLLM_NCCL_LIB, or train on one GPU "
                            "(num_gpus: 1)", path, dlerror());
    }
    struct {
        const char *name;
        void **fn;
    } syms[] = {
        {"ncclCommInitAll", (void **)&lib->comm_init_all}, {"ncclCommDestroy", (void **)&lib->comm_destroy},
        {"ncclReduceScatter", (void **)&lib->reduce_scatter}, {"ncclAllGather", (void **)&lib->all_gather},
        {"ncclGroupStart", (void **)&lib->group_start},
        {"ncclGroupEnd", (void **)&lib->group_end},        {"ncclGetErrorString", (void **)&lib->error_string},
        {"ncclGetVersion", (void **)&lib->get_version},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) TRY(resolve(handle, syms[i].name, syms[i].fn));
    int version = 0;
    if (lib->get_version(&version) != NCCL_OK || version < NCCL_MIN_VERSION)
        return kr_error("the NCCL library is version %d; training on several GPUs needs NCCL 2.10 or newer", version);
    return 0;
}
