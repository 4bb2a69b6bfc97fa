#!/usr/bin/env bash
# `krllm export` against an independent numpy Llama (tests/scripts/export_oracle.py): the exported
# safetensors (Hugging Face conventions) and GGUF (llama.cpp conventions) files must give the
# perplexity `krllm bench --eval_data` measures on the checkpoint itself, and the GGUF vocabulary
# must match the tokenizer as SentencePiece reads it. Two tiny models: GQA untied, MHA tied.
set -euo pipefail
KRLLM=${KRLLM_BIN:?set KRLLM_BIN}
T=${KRLLM_TMP:?set KRLLM_TMP}
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
if ! "$PY" -c "import numpy" 2> /dev/null; then
  echo "note: python3-numpy is not installed (scripts/install-deps.sh --test); export oracle skipped"
  exit 0
fi
steps=30 tokens=200 window=48
[ -n "${KRLLM_SANITIZED:-}" ] && steps=10 tokens=60 window=24

(bzcat demo/kowiki-sample.txt.bz2 || true) | head -300 | grep -v '^[[:space:]]*$' > "$T/text.txt"
"$KRLLM" tokenizer train --input "$T/text.txt" --output "$T/tok" --vocab_size 1200 > /dev/null 2>&1 || fail "tokenizer train"
"$KRLLM" tokenize --tokenizer "$T/tok.model" --input "$T/text.txt" --output "$T/data.bin" > /dev/null 2>&1 || fail "tokenize"

train() { # name heads kv_heads tied
  cat > "$T/$1.yaml" <<YAML
name: $1
vocab_size: 1200
hidden_size: 32
num_layers: 2
num_heads: $2
num_kv_heads: $3
intermediate_size: 64
max_seq_len: 64
tie_word_embeddings: $4
YAML
  cat > "$T/$1-train.yaml" <<YAML
training: {batch_size: 2, seq_len: 32, max_steps: $steps, seed: 5, mixed_precision: "no", num_threads: 1}
optimizer: {learning_rate: 1.0e-2, min_lr: 1.0e-3}
scheduler: {warmup_steps: 1}
data: {train_data: $T/data.bin, val_data: $T/data.bin, tokenizer: $T/tok.model}
checkpoint: {eval_interval: $steps, eval_steps: 1, save_interval: $steps, save_total_limit: 1, log_interval: $steps, output_dir: $T/run-$1}
YAML
  "$KRLLM" train --config "$T/$1-train.yaml" --model_config "$T/$1.yaml" > /dev/null 2> "$T/err" || fail "train $1: $(cat "$T/err")"
}

oracle() { # kind path expected rtol
  "$PY" tests/scripts/export_oracle.py ppl "$1" "$2" "$T/data.bin" $tokens $window "$3" "$4" || fail "oracle $1 $2"
}

for spec in "gqa 4 2 false" "tied 2 2 true"; do
  set -- $spec
  train "$@"
  run=$T/run-$1
  ppl=$("$KRLLM" bench --checkpoint "$run" --precision fp32 --batch 1 --prompt_len 4 --new_tokens 4 \
        --eval_data "$T/data.bin" --eval_tokens $tokens --eval_window $window --json 2> "$T/err" |
        sed -n 's/.*"perplexity":\([0-9.e+-]*\).*/\1/p')
  [ -n "$ppl" ] || fail "bench gave no perplexity: $(cat "$T/err")"
  # f32 must agree to float rounding (measured ~1e-8); f16/bf16 weights move the figure by their rounding error
  for dt in "f32 1e-6" "f16 1e-3" "bf16 1e-2"; do
    set -- $dt
    "$KRLLM" export --checkpoint "$run" --format safetensors --output "$T/hf-$1" --dtype $1 2> "$T/err" || fail "export safetensors: $(cat "$T/err")"
    "$KRLLM" export --checkpoint "$run" --format gguf --output "$T/m-$1.gguf" --dtype $1 2> "$T/err" || fail "export gguf: $(cat "$T/err")"
    oracle hf "$T/hf-$1" "$ppl" $2
    oracle gguf "$T/m-$1.gguf" "$ppl" $2
  done
  # q8_0 (GGUF only): 8-bit weights move the figure by their quantisation error (measured ~3e-5)
  "$KRLLM" export --checkpoint "$run" --format gguf --output "$T/m-q8_0.gguf" --dtype q8_0 2> "$T/err" ||
    fail "export gguf q8_0: $(cat "$T/err")"
  oracle gguf "$T/m-q8_0.gguf" "$ppl" 1e-2
  "$PY" tests/scripts/export_oracle.py vocab "$T/m-f32.gguf" "$T/tok.model" > /dev/null || fail "GGUF vocabulary"
  cmp -s "$T/hf-f32/tokenizer.model" "$T/tok.model" || fail "tokenizer.model not copied"
done
echo "ok"
