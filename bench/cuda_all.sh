#!/usr/bin/env bash
# Everything the CUDA backend needs on a GPU machine, in one call (each step under a timeout):
#   check    the correctness checks (bench/cuda_check.sh)
#   kernels  per-kernel timings at medium shapes (wgmma and mma.sync flash attention side by side),
#            our own matrix products against cuBLASLt (dev/cuda/gemm_tma.cu), and, where cuobjdump
#            is installed, how many exponentials each wgmma kernel's steps run between their two
#            product waits (the softmax work that overlaps the tensor cores)
#   e2e      the end-to-end trainer check (bench/cuda_train_e2e.sh)
#   sanity   the overfitting check (configs/training_sanity.yaml) in bf16 with the medium model
#   train    bench/train_cuda for $MODELS (default medium): ours, then the PyTorch anchor, $ROUNDS
#            times (default 1); then ours again with the mma.sync flash kernels (KRLLM_FLASH_KERNELS=mma)
#   scaling  data-parallel throughput for $MODELS on every GPU of the machine against one GPU:
#            the same global batch (16 x 2048) split over them, and 16 x 2048 per GPU
#   energy   for $MODELS: joules per step of each kind of kernel (dev/cuda/step_energy), then a
#            real step's joules by the same counter (train_cuda_bench)
# STEPS picks some (default: all but scaling and energy, in this order).
# Logs go to $LOG_DIR (default $OUT, the device tool's return folder, else /tmp/krllm-cuda).
# Build the binaries first: bench/pack_devcarry.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${LOG_DIR:-${OUT:-/tmp/krllm-cuda}}
mkdir -p "$log"
. bench/devcarry_env.sh
B=.devcarry/bin
models=${MODELS:-medium}
status=0

step_check() {
  timeout 540 bench/cuda_check.sh > "$log/check.log" 2>&1 || status=1
  echo "checks: $(grep -c '^PASS' "$log/check.log") passed, $(grep -c '^FAIL' "$log/check.log") failed"
  grep -E -A1 '^(FAIL|INFO)|first difference' "$log/check.log"
}
step_kernels() {
  timeout 120 "$B/kernel_bench" > "$log/kernels.log" 2>&1 || status=1
  cat "$log/kernels.log"
  # our own matrix products (dev/cuda/gemm_tma.cu) against cuBLASLt, at medium's and large's w1|w3
  for shape in "32768 9216 1024" "32768 13824 1536"; do
    timeout 60 "$B/gemm_tma" $shape >> "$log/gemm_dev.log" 2>&1 || status=1
  done
  cat "$log/gemm_dev.log"
  command -v cuobjdump > /dev/null || return 0
  cuobjdump -sass "$B/kernel_bench" | awk '
    /Function : / { wg = /wgmma/; if (wg) { sub(/.*Function : /, ""); print "overlap in " $0 ":" } }
    wg && /DEPBAR.LE gsb0, 0x1/ { open = 1; n = 0 }
    wg && open && /MUFU.EX2/ { n++ }
    wg && open && /DEPBAR.LE gsb0, 0x0/ { print "  exponentials between the waits of a step: " n; open = 0 }'
}
step_e2e() {
  timeout 120 bench/cuda_train_e2e.sh > "$log/e2e.log" 2>&1 || status=1
  tail -1 "$log/e2e.log"
}
step_sanity() {
  [ -f .devcarry/tokens/train.bin ] || { echo "sanity: no .devcarry/tokens (run bench/pack_devcarry.sh after make demo)"; return; }
  sed -e 's/mixed_precision: "no"/mixed_precision: bf16/' -e 's/device: cpu/device: cuda/' \
    configs/training_sanity.yaml > /tmp/krllm-sanity.yaml
  timeout 300 "$B/krllm" train --config /tmp/krllm-sanity.yaml --model_config configs/model_medium.yaml \
    --max_steps 1000 --data_size 1MB \
    --train_data .devcarry/tokens/train.bin --val_data .devcarry/tokens/val.bin --tokenizer none \
    --output_dir /tmp/krllm-sanity > "$log/sanity.log" 2>&1 || status=1
  grep -E '^step (1|250|500|750|1000)/' "$log/sanity.log"
}
step_train() {
  local rounds=${ROUNDS:-1}
  ROUNDS=$rounds timeout $((400 * rounds)) bench/train_cuda "$models" 16 2048 10 > "$log/train_cuda.log" 2>&1 || status=1
  grep -E 'tok_s|^summary' "$log/train_cuda.log"
  KRLLM_FLASH_KERNELS=mma SKIP_TORCH=1 ROUNDS=1 timeout 200 bench/train_cuda "$models" 16 2048 10 \
    > "$log/train_cuda_mma.log" 2>&1 || status=1
  grep -E 'tok_s' "$log/train_cuda_mma.log"
}
step_scaling() {
  local n
  n=$(nvidia-smi -L | grep -c '^GPU')
  [ "$n" -ge 2 ] || { echo "scaling: one GPU only"; return; }
  for m in ${models//,/ }; do
    for run in "16 1" "16 $n" "$((16 * n)) $n"; do
      set -- $run
      timeout 300 "$B/train_cuda_bench" --model "configs/model_$m.yaml" --batch "$1" --gpus "$2" --steps 10 --warmup 3 \
        >> "$log/scaling.log" 2>&1 || status=1
      tail -1 "$log/scaling.log"
    done
  done
}
step_energy() {
  for m in ${models//,/ }; do
    timeout 200 "$B/step_energy" "$m" > "$log/energy_$m.log" 2>&1 || status=1
    cat "$log/energy_$m.log"
    timeout 120 "$B/train_cuda_bench" --model "configs/model_$m.yaml" --batch 16 --steps 10 --warmup 3 || status=1
  done
}
for s in ${STEPS:-check kernels e2e sanity train}; do
  declare -F "step_$s" > /dev/null || { echo "STEPS: no step '$s' (use check, kernels, e2e, sanity, train, scaling, energy)" >&2; exit 2; }
done
for s in ${STEPS:-check kernels e2e sanity train}; do
  echo "== $s ($(date +%T))"
  "step_$s"
done
exit $status
