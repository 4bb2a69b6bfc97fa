/* libFuzzer harness for the YAML configuration loaders (model and training configs): any file
 * must load or be refused with a message, never crash. The input is handed over as a file
 * through a memfd, as the loaders read paths. Build and run: tests/fuzz/run_fuzz.sh config. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/config.h"
#include "train/train_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz-config", 0)) < 0) abort();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ModelConfig mc;
    model_config_defaults(&mc);
    (void)model_config_load(path, &mc);
    TrainConfig tc;
    train_config_defaults(&tc);
    (void)train_config_load(path, &tc);
    return 0;
}
