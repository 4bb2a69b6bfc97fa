#!/usr/bin/env bash
# `krllm train --device cuda` end to end on a GPU machine: fp32 and bf16 runs of a small model
# on the committed token fixture, resume from the step-20 checkpoint (final weights must match
# bit for bit), and the CPU backend resuming the CUDA checkpoint (checkpoints interchange).
# Uses .devcarry/bin/krllm (bench/pack_devcarry.sh) when present, else ./krllm.
set -uo pipefail
cd "$(dirname "$0")/.."
K=./krllm
if [ -x .devcarry/bin/krllm ]; then
  K=.devcarry/bin/krllm
  . bench/devcarry_env.sh
fi
W=$(mktemp -d)
cat > "$W/model.yaml" <<'YAML'
name: e2e
vocab_size: 64
hidden_size: 128
num_layers: 2
num_heads: 4
num_kv_heads: 2
intermediate_size: 352
max_seq_len: 128
rope_theta: 10000.0
rms_norm_eps: 1.0e-5
tie_word_embeddings: false
initializer_range: 0.02
YAML
write_cfg() { # name precision device
  cat > "$W/$1.yaml" <<YAML
training: {batch_size: 8, gradient_accumulation_steps: 2, seq_len: 128, max_steps: 40, seed: 42, mixed_precision: "$2", device: $3}
optimizer: {learning_rate: 3.0e-3, min_lr: 3.0e-4, max_grad_norm: 1.0}
scheduler: {warmup_steps: 10}
data: {train_data: tests/fixtures/tokens_v64_train.bin, val_data: tests/fixtures/tokens_v64_val.bin}
checkpoint: {eval_interval: 20, eval_steps: 4, save_interval: 20, save_total_limit: 2, log_interval: 10, output_dir: $W/$1}
YAML
}
loss_at() { grep "\"step\":$2," "$1/train.log" | sed 's/.*"loss":\([0-9.]*\).*/\1/'; }
fail=0
for prec in no bf16; do
  write_cfg "cuda_$prec" "$prec" cuda
  echo "== krllm train --device cuda, mixed_precision: $prec"
  "$K" train --config "$W/cuda_$prec.yaml" --model_config "$W/model.yaml" --tokenizer none > "$W/cuda_$prec.out" 2>&1 \
    || { tail -5 "$W/cuda_$prec.out"; fail=1; continue; }
  grep -E "^step (1|10|20|30|40)/" "$W/cuda_$prec.out" | cut -c1-110
  "$K" train --config "$W/cuda_$prec.yaml" --model_config "$W/model.yaml" --tokenizer none \
    --resume_from "$W/cuda_$prec/checkpoint-20" --output_dir "$W/cuda_${prec}_resumed" > "$W/r_$prec.out" 2>&1 \
    || { tail -5 "$W/r_$prec.out"; fail=1; continue; }
  if cmp -s "$W/cuda_$prec/final/model.bin" "$W/cuda_${prec}_resumed/final/model.bin"; then
    echo "PASS resume from step 20 on cuda ($prec): final model.bin identical"
  else echo "FAIL resume from step 20 on cuda ($prec): final model.bin differs"; fail=1; fi
done
if [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')" -ge 2 ]; then
  echo "== krllm train --device cuda --num_gpus 2, fp32"
  if "$K" train --config "$W/cuda_no.yaml" --model_config "$W/model.yaml" --tokenizer none --num_gpus 2 \
       --output_dir "$W/dp" > "$W/dp.out" 2>&1 &&
     "$K" train --config "$W/cuda_no.yaml" --model_config "$W/model.yaml" --tokenizer none --num_gpus 2 \
       --resume_from "$W/dp/checkpoint-20" --output_dir "$W/dp_resumed" > "$W/dp_r.out" 2>&1; then
    head -1 "$W/dp.out"
    a=$(loss_at "$W/cuda_no" 40); b=$(loss_at "$W/dp" 40)
    echo "loss at step 40: one GPU $a, two GPUs $b"
    awk -v a="$a" -v b="$b" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(d < 0.005) }' \
      && echo "PASS two GPUs follow the one-GPU run (within 0.5%)" || { echo "FAIL two GPUs and one disagree"; fail=1; }
    cmp -s "$W/dp/final/model.bin" "$W/dp_resumed/final/model.bin" \
      && echo "PASS resume from step 20 on two GPUs: final model.bin identical" \
      || { echo "FAIL resume on two GPUs: final model.bin differs"; fail=1; }
  else tail -5 "$W/dp.out" "$W/dp_r.out" 2>/dev/null; fail=1; fi
fi
write_cfg cpu no cpu
echo "== the cpu backend resumes the cuda fp32 checkpoint-20"
if "$K" train --config "$W/cpu.yaml" --model_config "$W/model.yaml" --tokenizer none \
     --resume_from "$W/cuda_no/checkpoint-20" --output_dir "$W/cpu_resumed" > "$W/cpu.out" 2>&1; then
  a=$(loss_at "$W/cuda_no" 40); b=$(loss_at "$W/cpu_resumed" 40)
  echo "loss at step 40: cuda $a, cpu after resuming the cuda checkpoint $b"
  awk -v a="$a" -v b="$b" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; exit !(d < 0.01) }' \
    && echo "PASS cpu continues the cuda run (within 1%)" || { echo "FAIL cpu and cuda disagree"; fail=1; }
else tail -5 "$W/cpu.out"; fail=1; fi
rm -rf "$W"
exit $fail
