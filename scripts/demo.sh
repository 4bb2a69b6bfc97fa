#!/usr/bin/env bash
# The whole pipeline on the bundled Korean sample: prepare -> tokenizer -> shards -> train -> generate
# -> export.
# Everything lands in $DEMO_DIR (default runs/demo). DEMO_QUICK=1 makes a seconds-long run for tests.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-runs/demo}
KRLLM=${KRLLM_BIN:-./krllm}
if [ "${DEMO_QUICK:-0}" = 1 ]; then
  STEPS=${DEMO_STEPS:-30}; VOCAB=${DEMO_VOCAB:-8000}; MAXLEN=20; INPUT_BYTES=400000
else
  STEPS=${DEMO_STEPS:-1500}; VOCAB=${DEMO_VOCAB:-8000}; MAXLEN=60; INPUT_BYTES=0
fi

step() { printf '\n==> %s\n' "$*"; }

if [ -z "${KRLLM_BIN:-}" ]; then
  step "Installing missing packages and building"
  ./scripts/install-deps.sh
  make -j"$(nproc)" krllm
fi

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/raw"
input=demo/kowiki-sample.txt.bz2
if [ "$INPUT_BYTES" -gt 0 ]; then
  # A shorter slice for the quick run, cut at an article boundary.
  { bzip2 -dc "$input" || true; } | head -c "$INPUT_BYTES" |
    awk '{ buf = buf $0 "\n" } /^<\/doc>$/ { printf "%s", buf; buf = "" }' > "$DEMO_DIR/raw/sample.txt"
  input="$DEMO_DIR/raw/sample.txt"
fi

step "Preparing text (clean, deduplicate, split 98/1/1)"
"$KRLLM" prepare --input "$input" --output "$DEMO_DIR/processed" --min_length 10 --max_length 100000

step "Training a ${VOCAB}-piece BPE tokenizer"
"$KRLLM" tokenizer train --input "$DEMO_DIR/processed/train.txt" --vocab_size "$VOCAB" --model_type bpe \
  --output "$DEMO_DIR/tokenizer" --user_defined_symbols "<|system|>,<|user|>,<|assistant|>"

step "Writing token shards"
"$KRLLM" tokenize --tokenizer "$DEMO_DIR/tokenizer.model" --input "$DEMO_DIR/processed/train.txt" --output "$DEMO_DIR/tokens/train.bin"
"$KRLLM" tokenize --tokenizer "$DEMO_DIR/tokenizer.model" --input "$DEMO_DIR/processed/val.txt" --output "$DEMO_DIR/tokens/val.bin"

step "Training a tiny model on the CPU ($STEPS steps)"
"$KRLLM" train --config configs/training_tiny.yaml --model_config configs/model_tiny.yaml \
  --max_steps "$STEPS" --output_dir "$DEMO_DIR/checkpoints" \
  --train_data "$DEMO_DIR/tokens/train.bin" --val_data "$DEMO_DIR/tokens/val.bin" \
  --tokenizer "$DEMO_DIR/tokenizer.model"

step "Generating Korean text"
for prompt in "대한민국의 수도는" "지미 카터는" "수학에서"; do
  printf '\n[%s]\n' "$prompt"
  "$KRLLM" generate --checkpoint "$DEMO_DIR/checkpoints" --prompt "$prompt" --max_length "$MAXLEN" \
    --temperature 0.8 --top_k 40 --top_p 0.95 --repetition_penalty 1.1 --seed 1
done

step "Exporting for llama.cpp (GGUF) and Hugging Face (safetensors)"
"$KRLLM" export --checkpoint "$DEMO_DIR/checkpoints" --format gguf --output "$DEMO_DIR/export/model-f16.gguf" --dtype f16
"$KRLLM" export --checkpoint "$DEMO_DIR/checkpoints" --format safetensors --output "$DEMO_DIR/export/hf"

step "Done. Everything is in $DEMO_DIR:"
ls "$DEMO_DIR" "$DEMO_DIR/checkpoints"
echo "Loss curve: $DEMO_DIR/checkpoints/loss.svg   Log: $DEMO_DIR/checkpoints/train.log"
