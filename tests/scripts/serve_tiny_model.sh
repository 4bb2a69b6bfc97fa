#!/usr/bin/env bash
# Trains a tiny servable model (tokenizer + a few training steps on the demo corpus) into DIR:
# DIR/run is the checkpoint run directory. Used by test_serve_api.sh and bench/serve.
# usage: serve_tiny_model.sh DIR [hidden_size layers vocab steps]   env: KRLLM_BIN
set -euo pipefail
KRLLM=${KRLLM_BIN:?set KRLLM_BIN}
d=$1 hidden=${2:-32} layers=${3:-2} vocab=${4:-1000} steps=${5:-20}
mkdir -p "$d"
# (head closes the pipe early: bzip2's SIGPIPE is expected)
{ bzip2 -dc demo/kowiki-sample.txt.bz2 || true; } | head -c 300000 | grep -av '^<' | awk 'length > 20' > "$d/text.txt"
"$KRLLM" tokenizer train --input "$d/text.txt" --output "$d/tok" --vocab_size "$vocab" --character_coverage 0.99 \
  --user_defined_symbols "<|system|>,<|user|>,<|assistant|>" > "$d/log" 2>&1
"$KRLLM" tokenize --tokenizer "$d/tok.model" --input "$d/text.txt" --output "$d/train.bin" >> "$d/log" 2>&1
cat > "$d/model.yaml" <<EOF2
name: serve-tiny
vocab_size: $vocab
hidden_size: $hidden
num_layers: $layers
num_heads: 4
num_kv_heads: 2
intermediate_size: $((hidden * 2))
max_seq_len: 128
EOF2
cat > "$d/train.yaml" <<EOF2
training: {batch_size: 4, gradient_accumulation_steps: 1, seq_len: 64, max_steps: $steps, seed: 3, mixed_precision: "no", num_threads: 1}
optimizer: {learning_rate: 1.0e-2, min_lr: 1.0e-3}
scheduler: {warmup_steps: 2}
data: {train_data: $d/train.bin, val_data: $d/train.bin, tokenizer: $d/tok.model}
checkpoint: {eval_interval: 10, eval_steps: 1, save_interval: $steps, save_total_limit: 1, log_interval: 5, output_dir: $d/run}
EOF2
"$KRLLM" train --config "$d/train.yaml" --model_config "$d/model.yaml" >> "$d/log" 2>&1
