#!/usr/bin/env bash
# The CUDA backend's correctness checks on a GPU machine, one command:
#   bench/cuda_check.sh            (builds with make test-cuda, or runs the binaries packed by
#                                   bench/pack_devcarry.sh when the machine lacks the build deps)
# The checks run twice: with the default build (on Hopper, its wgmma kernels), then with a build
# that holds only portable PTX (CUDA_ARCHS= CUDA_PTX=80), which the driver compiles for this GPU
# at load time: the code that Ampere and Ada GPUs run, mma.sync flash kernels included.
# Korean text for the loss-curve check: $CUDA_CHECK_TEXT, default .devcarry/ko_text.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
text=${CUDA_CHECK_TEXT:-.devcarry/ko_text.txt}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
status=0
if [ -x .devcarry/bin/cuda_check ]; then
  . bench/devcarry_env.sh
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} .devcarry/bin/cuda_check "$text" || status=1
  echo "== the portable build (PTX for compute_80, compiled by the driver)"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} .devcarry/bin/cuda_check_ptx "$text" || status=1
else
  make BUILD=${BUILD:-build-cuda} -j8 test-cuda CUDA_CHECK_TEXT="$text" || status=1
  echo "== the portable build (PTX for compute_80, compiled by the driver)"
  make BUILD=${BUILD:-build-cuda}-ptx CUDA_ARCHS= CUDA_PTX=80 -j8 test-cuda CUDA_CHECK_TEXT="$text" || status=1
fi
exit $status
