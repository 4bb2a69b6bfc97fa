#!/usr/bin/env bash
# The README's demo, shortened: prepare -> tokenizer -> shards -> train -> generate -> export on the bundled
# sample, checking that every stage leaves its output and that the model writes Hangul.
set -euo pipefail
export LC_ALL=C.utf8
out=$KRLLM_TMP/demo.out
DEMO_QUICK=1 DEMO_STEPS=20 DEMO_DIR="$KRLLM_TMP/demo" ./scripts/demo.sh > "$out" 2>&1 || { tail -30 "$out"; exit 1; }
d=$KRLLM_TMP/demo
fail() { echo "FAIL: $*"; tail -30 "$out"; exit 1; }
for f in processed/train.txt processed/val.txt processed/test.txt processed/stats.json tokenizer.model tokenizer.vocab \
         tokens/train.bin tokens/val.bin checkpoints/final/model.bin checkpoints/train.log checkpoints/loss.svg \
         export/model-f16.gguf export/hf/model.safetensors export/hf/config.json export/hf/tokenizer.model; do
  [ -s "$d/$f" ] || fail "missing $f"
done
grep -q '"val_loss"' "$d/checkpoints/train.log" || fail "no validation line in train.log"
grep -q '<svg' "$d/checkpoints/loss.svg" || fail "loss.svg is not an SVG"
[ "$(head -c 4 "$d/export/model-f16.gguf")" = GGUF ] || fail "the GGUF export has no GGUF magic"
# Each of the three prompts is echoed and continued with at least a few Hangul syllables beyond it.
n=$(grep -c '^\[' "$out" | head -1)
[ "$n" -ge 3 ] || fail "expected three generations, saw $n"
hangul=$(grep -A2 '^\[대한민국의 수도는\]' "$out" | sed -n 2p | sed 's/대한민국의 수도는//' | grep -oP '[\x{AC00}-\x{D7A3}]' | wc -l)
[ "$hangul" -ge 3 ] || fail "the continuation has only $hangul Hangul syllables"
echo "demo ok: $(grep -c step "$d/checkpoints/train.log") log lines, $hangul Hangul syllables in the first continuation"
