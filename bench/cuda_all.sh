#!/usr/bin/env bash
# Everything the CUDA backend needs on a GPU machine, in one call (each step under a timeout):
# the correctness checks, the per-kernel timings (wgmma and mma.sync flash attention side by
# side), the end-to-end trainer run, the overfitting sanity check on the medium model, and the
# PyTorch comparison for the models named (default medium), ours with both flash-attention kernel
# sets. Logs go to $LOG_DIR (default $OUT, the device tool's return folder, else
# /tmp/krllm-cuda). Build the binaries first: bench/pack_devcarry.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${LOG_DIR:-${OUT:-/tmp/krllm-cuda}}
mkdir -p "$log"
export LD_LIBRARY_PATH=$PWD/.devcarry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
B=.devcarry/bin
status=0
timeout 300 bench/cuda_check.sh > "$log/check.log" 2>&1 || status=1
echo "checks: $(grep -c '^PASS' "$log/check.log") passed, $(grep -c '^FAIL' "$log/check.log") failed"
grep -E '^(FAIL|INFO)' "$log/check.log"
timeout 120 "$B/kernel_bench" > "$log/kernels.log" 2>&1 || status=1
grep -E 'attention' "$log/kernels.log"
timeout 120 bench/cuda_train_e2e.sh > "$log/e2e.log" 2>&1 || status=1
tail -1 "$log/e2e.log"
if [ -f .devcarry/tokens/train.bin ]; then
  # the CPU sanity configuration in bf16 on the GPU, with the plan's medium model
  sed -e 's/mixed_precision: "no"/mixed_precision: bf16/' -e 's/device: cpu/device: cuda/' \
    configs/training_sanity.yaml > /tmp/krllm-sanity.yaml
  timeout 300 "$B/krllm" train --config /tmp/krllm-sanity.yaml --model_config configs/model_medium.yaml \
    --max_steps 1000 --data_size 1MB \
    --train_data .devcarry/tokens/train.bin --val_data .devcarry/tokens/val.bin --tokenizer none \
    --output_dir /tmp/krllm-sanity > "$log/sanity.log" 2>&1 || status=1
  grep -E '^step (1|250|500|750|1000)/' "$log/sanity.log"
fi
timeout 400 bench/train_cuda "${MODELS:-medium}" 16 2048 10 > "$log/train_cuda.log" 2>&1 || status=1
grep -E 'tok/s' "$log/train_cuda.log"
# ours again with the wgmma flash kernels (no PyTorch rerun)
KRLLM_FLASH_KERNELS=wgmma SKIP_TORCH=1 timeout 200 bench/train_cuda "${MODELS:-medium}" 16 2048 10 \
  > "$log/train_cuda_wgmma.log" 2>&1 || status=1
grep -E 'tok/s' "$log/train_cuda_wgmma.log"
exit $status
