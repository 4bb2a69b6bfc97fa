#!/usr/bin/env bash
# Builds the CUDA check and benchmark binaries here and packs them, with the shared libraries
# the GPU machine's image lacks, into .devcarry/ (git-ignored) for the device machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-cuda}
make BUILD="$BUILD" -j2 "$BUILD/cuda/cuda_check" "$BUILD/cuda/train_cuda_bench" "$BUILD/cuda/kernel_bench" >/dev/null
mkdir -p .devcarry/bin .devcarry/lib
cp "$BUILD/cuda/cuda_check" "$BUILD/cuda/train_cuda_bench" "$BUILD/cuda/kernel_bench" .devcarry/bin/
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libyaml-0.so.2; do
  path=$(ldd "$BUILD/cuda/cuda_check" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$path" ] && cp -L "$path" .devcarry/lib/
done
cp ../shared/anchors/torch_llama_bench.py .devcarry/ 2>/dev/null || cp /work/shared/anchors/torch_llama_bench.py .devcarry/
[ -f .devcarry/ko_text.txt ] || bzip2 -dc ../shared/data/ko/wiki/kowiki-2020-wikiextractor-AA-wiki_00-24.txt.bz2 | head -c 3000000 > .devcarry/ko_text.txt
du -sh .devcarry
