/* The GPU's energy counter (NVML's total energy since the driver loaded, in millijoules), for the
 * benchmarks: on a card held at its power limit a step takes as long as its energy does, so joules
 * per step say more than milliseconds. NVML comes with the driver, not the toolkit, so it is
 * loaded at run time; without it the benchmarks report no energy. C and C++. */
#ifndef KR_NVML_ENERGY_H
#define KR_NVML_ENERGY_H

#include <cuda_runtime.h>
#include <dlfcn.h>

typedef struct {
    void *dev;                                        /* nvmlDevice_t */
    int (*total_energy)(void *, unsigned long long *); /* nvmlDeviceGetTotalEnergyConsumption */
} NvmlEnergy;

/* Opens the counter of CUDA device `cuda_device` (matched by PCI bus id, as the two number the
 * GPUs differently); returns 0, or -1 when NVML or the counter is not there. */
static inline int nvml_energy_open(NvmlEnergy *e, int cuda_device) {
    char bus[32];
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    e->dev = NULL;
    e->total_energy = NULL;
    if (!lib || cudaDeviceGetPCIBusId(bus, (int)sizeof bus, cuda_device) != cudaSuccess) return -1;
    int (*init)(void) = (int (*)(void))dlsym(lib, "nvmlInit_v2");
    int (*by_bus)(const char *, void **) = (int (*)(const char *, void **))dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
    e->total_energy = (int (*)(void *, unsigned long long *))dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption");
    unsigned long long mj;
    if (!init || !by_bus || !e->total_energy || init() != 0 || by_bus(bus, &e->dev) != 0 ||
        e->total_energy(e->dev, &mj) != 0) {
        e->total_energy = NULL;
        return -1;
    }
    return 0;
}

/* Joules since the driver loaded, or -1 without a counter. */
static inline double nvml_energy_joules(const NvmlEnergy *e) {
    unsigned long long mj;
    if (!e->total_energy || e->total_energy(e->dev, &mj) != 0) return -1;
    return (double)mj / 1000.0;
}

#endif
