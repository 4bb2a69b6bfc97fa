#!/usr/bin/env bash
# The CUDA backend's correctness checks on a GPU machine, one command:
#   bench/cuda_check.sh            (builds with make test-cuda, or runs the binaries packed by
#                                   bench/pack_devcarry.sh when the machine lacks the build deps)
# Korean text for the loss-curve check: $CUDA_CHECK_TEXT, default .devcarry/ko_text.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
text=${CUDA_CHECK_TEXT:-.devcarry/ko_text.txt}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [ -x .devcarry/bin/cuda_check ]; then
  . bench/devcarry_env.sh
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} .devcarry/bin/cuda_check "$text"
else
  make BUILD=${BUILD:-build-cuda} -j8 test-cuda CUDA_CHECK_TEXT="$text"
fi
