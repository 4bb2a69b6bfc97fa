# kr-mini-llm build.  `make` builds ./krllm; `make test` builds and runs every test.
# Options: BUILD=dir (separate build trees), SAN=1 (AddressSanitizer + UBSan),
#          NATIVE=0 (portable code instead of -march=native), CUDA=0/1 (default: 1 when nvcc exists),
#          CUDA_ARCHS="80 86 89 90a" (GPU code for Ampere, Ada and Hopper; e.g. CUDA_ARCHS=90a builds
#          for Hopper only) and CUDA_PTX=80 (portable GPU code that newer GPUs compile when loading it).

BUILD  ?= build
SAN    ?= 0
NATIVE ?= 1
UNAME  := $(shell uname -s)
NVCC   ?= $(shell command -v nvcc 2>/dev/null)
CU_SRC := $(shell find src -name '*.cu' 2>/dev/null | sort)
# The toolkit root is the first candidate holding both the runtime header and library: nvcc may be a
# wrapper script outside the toolkit (/usr/local/bin/nvcc), so its own folder is only a last guess.
CUDA_CANDIDATES := $(CUDA_HOME) /usr/local/cuda $(if $(NVCC),$(abspath $(dir $(realpath $(NVCC)))..))
CUDA_ROOT := $(firstword $(foreach d,$(CUDA_CANDIDATES),$(if $(and $(wildcard $(d)/include/cuda_runtime.h),$(wildcard $(d)/lib64/libcudart.so)),$(d))))
CUDA   ?= $(if $(and $(NVCC),$(CU_SRC),$(CUDA_ROOT)),1,0)

CC      ?= gcc
CFLAGS  := -std=gnu11 -Wall -Wextra -O3 -g -fopenmp -Isrc -MMD -MP $(EXTRA_CFLAGS)
LDLIBS  := -lyaml -lutf8proc -lexpat -lbz2 -lmicrohttpd -lcjson -lm -lpthread
LDFLAGS := -fopenmp

ifeq ($(NATIVE),1)
  CFLAGS += -march=native
endif
ifeq ($(UNAME),Darwin)
  CFLAGS += -DKR_ACCELERATE
  LDLIBS += -framework Accelerate
else
  CFLAGS += -I/usr/include/x86_64-linux-gnu/openblas-openmp -I/usr/include/openblas
  LDLIBS += -lopenblas
  # Prefer Debian's OpenMP build of OpenBLAS (libopenblas0-openmp) at run time: the pthread build
  # would spin its own threads against our OpenMP loops.
  OPENBLAS_OMP := $(wildcard /usr/lib/$(shell $(CC) -dumpmachine)/openblas-openmp)
  ifneq ($(OPENBLAS_OMP),)
    LDFLAGS += -Wl,-rpath,$(OPENBLAS_OMP)
  endif
endif
ifeq ($(SAN),1)
  CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(filter-out src/cli/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
ifeq ($(CUDA),1)
  # The CUDA backend is a plugin (libkrllm_cuda.so next to the build) that krllm loads only for
  # --device cuda, so the CPU paths never map the large CUDA libraries. It calls back into the
  # executable for error reporting, hence -rdynamic.
  ifeq ($(CUDA_ROOT),)
    $(error CUDA=1 but no CUDA toolkit with include/cuda_runtime.h and lib64/libcudart.so was found; set CUDA_HOME)
  endif
  CFLAGS    += -DKR_CUDA -DKR_CUDA_LIB_DIR='"$(abspath $(BUILD))"' -I$(CUDA_ROOT)/include
  LDFLAGS   += -rdynamic
  LDLIBS    += -ldl
  CU_OBJ    := $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
  CUDA_LIBS := -L$(CUDA_ROOT)/lib64 -lcudart -lcublasLt -lcublas -lstdc++
  # Hopper's code (sm_90a) has the wgmma flash-attention kernels; the others use the mma.sync ones.
  CUDA_ARCHS ?= 80 86 89 90a
  CUDA_PTX   ?= 80
  NVARCH    := $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
               $(foreach a,$(CUDA_PTX),-gencode arch=compute_$(a),code=compute_$(a))
  NVFLAGS   := -O3 -std=c++17 -Isrc $(NVARCH) -lineinfo -Xcompiler -fPIC,-Wall
endif
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test test-fast clean demo deps bench-train-cpu
all: krllm

krllm: $(BUILD)/krllm
	cp $< $@

$(BUILD)/libkrllm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/krllm: $(BUILD)/src/cli/main.o $(BUILD)/libkrllm.a | $(if $(CU_OBJ),$(BUILD)/libkrllm_cuda.so)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libkrllm_cuda.so: $(CU_OBJ)
	$(CXX) -shared -o $@ $^ $(CUDA_LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkrllm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(BUILD)/libkrllm.a $(LDLIBS)

tests: $(TEST_BIN) $(BUILD)/krllm

# Benchmark drivers: bench/<name>.c -> $(BUILD)/bench/<name>, built by the bench/ scripts that run them.
$(BUILD)/bench/%: bench/%.c $(BUILD)/libkrllm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libkrllm.a $(LDLIBS)

# CPU training throughput against the PyTorch anchor (a few minutes on 2 cores).
bench-train-cpu:
	BUILD=$(BUILD) ./bench/train_cpu

# The web pages are compiled in: regenerate src/serve/web_assets.c (committed) when one changes.
src/serve/web_assets.c: $(wildcard src/serve/web/*) scripts/embed_web.sh
	./scripts/embed_web.sh $@ $(sort $(wildcard src/serve/web/*))

# The whole suite: optimised build first, then again under AddressSanitizer + UBSan, then once
# more under them with portable code (NATIVE=0), so that the paths taken on CPUs without this
# machine's vector extensions (AVX-512, VNNI) are tested too.
test:
	./scripts/install-deps.sh
	$(MAKE) BUILD=build tests krllm
	KRLLM_BUILD=build ./tests/run.sh
	$(MAKE) BUILD=build-san SAN=1 CUDA=0 tests
	KRLLM_BUILD=build-san KRLLM_SANITIZED=1 ./tests/run.sh
	$(MAKE) BUILD=build-san-portable SAN=1 CUDA=0 NATIVE=0 tests
	KRLLM_BUILD=build-san-portable KRLLM_SANITIZED=1 ./tests/run.sh

# One pass without sanitizers, for quick iteration.
test-fast: tests krllm
	KRLLM_BUILD=$(BUILD) ./tests/run.sh

# The whole pipeline on the bundled Korean sample (installs what is missing, builds, runs).
demo:
	./scripts/demo.sh

deps:
	./scripts/install-deps.sh

clean:
	rm -rf build build-* krllm

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# GPU checks of the CUDA backend (needs an NVIDIA GPU; skips cleanly without one).
ifeq ($(CUDA),1)
$(BUILD)/cuda/%.o: tests/cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

# The GPU programs link the backend in directly.
$(BUILD)/cuda/cuda_check: $(BUILD)/cuda/cuda_check.o $(CU_OBJ) $(BUILD)/libkrllm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CUDA_LIBS)

$(BUILD)/cuda/train_cuda_bench: bench/train_cuda_bench.c $(CU_OBJ) $(BUILD)/libkrllm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS) $(CUDA_LIBS)

$(BUILD)/cuda/kernel_bench: $(BUILD)/cuda/kernel_bench.o $(CU_OBJ) $(BUILD)/libkrllm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CUDA_LIBS)

# Kernels under development (dev/cuda/*.cu): each a program that checks and times its kernels.
$(BUILD)/dev/%.o: dev/cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

.PRECIOUS: $(BUILD)/dev/%.o
$(BUILD)/dev/%: $(BUILD)/dev/%.o $(CU_OBJ) $(BUILD)/libkrllm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CUDA_LIBS)

# CI compiles the GPU programs too (it cannot run them).
tests: $(BUILD)/cuda/cuda_check $(BUILD)/cuda/kernel_bench $(BUILD)/cuda/train_cuda_bench $(BUILD)/dev/gemm_tma \
	$(BUILD)/dev/gemm_configs $(BUILD)/dev/step_energy

.PHONY: test-cuda
test-cuda: $(BUILD)/cuda/cuda_check
	$(BUILD)/cuda/cuda_check $(CUDA_CHECK_TEXT)
endif
