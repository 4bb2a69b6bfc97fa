#!/usr/bin/env bash
# Builds the CUDA check and benchmark binaries and krllm here and packs them, with the shared
# libraries a GPU machine without the build dependencies lacks, into .devcarry/ (git-ignored).
# The libraries go into one gzip'd tar, .devcarry/lib.tgz, which bench/devcarry_env.sh unpacks.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-cuda}
make BUILD="$BUILD" -j2 "$BUILD/cuda/cuda_check" "$BUILD/cuda/train_cuda_bench" "$BUILD/cuda/kernel_bench" "$BUILD/dev/gemm_tma" "$BUILD/dev/gemm_configs" "$BUILD/dev/step_energy" \
  "$BUILD/krllm" "$BUILD/libkrllm_cuda.so" >/dev/null
rm -rf .devcarry/bin .devcarry/lib
mkdir -p .devcarry/bin
bins="$BUILD/cuda/cuda_check $BUILD/cuda/train_cuda_bench $BUILD/cuda/kernel_bench $BUILD/dev/gemm_tma $BUILD/dev/gemm_configs $BUILD/dev/step_energy $BUILD/krllm $BUILD/libkrllm_cuda.so"
cp $bins .devcarry/bin/
# the checks again from portable PTX only, as Ampere and Ada GPUs run them (bench/cuda_check.sh)
make BUILD="$BUILD-ptx" CUDA_ARCHS= CUDA_PTX=80 -j2 "$BUILD-ptx/cuda/cuda_check" >/dev/null
cp "$BUILD-ptx/cuda/cuda_check" .devcarry/bin/cuda_check_ptx
strip --strip-unneeded .devcarry/bin/* # symbols only: the GPU code and its line info stay
# every shared library they use except the C runtime and CUDA's own (present on the GPU image)
libs=$(mktemp -d)
mkdir "$libs/lib"
ldd $bins | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  grep -vE '^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libcudart|libcublas|libcublasLt)\.so' |
  while read -r name path; do cp -L "$path" "$libs/lib/$name"; done
tar czf .devcarry/lib.tgz.part -C "$libs" lib && mv .devcarry/lib.tgz.part .devcarry/lib.tgz # whole or not at all
rm -rf "$libs"
cp ../shared/anchors/torch_llama_bench.py .devcarry/ 2>/dev/null || cp /work/shared/anchors/torch_llama_bench.py .devcarry/
[ -f .devcarry/ko_text.txt ] || bzip2 -dc ../shared/data/ko/wiki/kowiki-2020-wikiextractor-AA-wiki_00-24.txt.bz2 | head -c 3000000 > .devcarry/ko_text.txt
# the demo's token shards, for the overfitting sanity check (configs/training_sanity.yaml)
if [ -f runs/demo/tokens/train.bin ]; then
  mkdir -p .devcarry/tokens && cp runs/demo/tokens/train.bin runs/demo/tokens/val.bin .devcarry/tokens/
fi
du -sh .devcarry
