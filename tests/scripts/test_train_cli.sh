#!/usr/bin/env bash
# `krllm train` from the command line: flag errors, missing files, a short run with its
# train.log JSON lines, loss.svg and complete checkpoints, then a resume that ends identically.
set -euo pipefail
KRLLM=${KRLLM_BIN:?set KRLLM_BIN}
T=${KRLLM_TMP:?set KRLLM_TMP}
FIX=$PWD/tests/fixtures
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$T/model.yaml" <<EOF
name: cli-tiny
vocab_size: 64
hidden_size: 32
num_layers: 2
num_heads: 4
num_kv_heads: 2
intermediate_size: 64
max_seq_len: 64
EOF
cat > "$T/train.yaml" <<EOF
training:
  batch_size: 4
  gradient_accumulation_steps: 2
  seq_len: 32
  max_steps: 30
  seed: 3
  mixed_precision: "no"
  num_threads: 1
optimizer:
  learning_rate: 1.0e-2
  min_lr: 1.0e-3
scheduler:
  warmup_steps: 5
data:
  train_data: $FIX/tokens_v64_train.bin
  val_data: $FIX/tokens_v64_val.bin
  tokenizer: ""
checkpoint:
  eval_interval: 10
  eval_steps: 2
  save_interval: 10
  save_total_limit: 2
  log_interval: 5
  output_dir: $T/run
EOF
echo "fake tokenizer" > "$T/tok.model"

# expect STATUS NEEDLE -- ARGS: the command exits with STATUS and prints NEEDLE on stderr.
expect() {
  local status=$1 needle=$2; shift 3
  local rc=0
  "$KRLLM" train "$@" > "$T/out" 2> "$T/err" || rc=$?
  [ "$rc" = "$status" ] || fail "krllm train $* exited $rc, expected $status: $(cat "$T/err")"
  grep -qF -- "$needle" "$T/err" || fail "krllm train $*: stderr lacks '$needle': $(cat "$T/err")"
}
base=(--config "$T/train.yaml" --model_config "$T/model.yaml")

"$KRLLM" train --help | grep -q -- "--data_size" || fail "--help lacks --data_size"
expect 2 "--bogus" -- "${base[@]}" --bogus 1
expect 2 "--config is required" -- --model_config "$T/model.yaml"
expect 2 "--device must be cpu or cuda" -- "${base[@]}" --device tpu
expect 2 "--data_size" -- "${base[@]}" --data_size 12XB
expect 2 "--max_steps must be" -- "${base[@]}" --max_steps -3
expect 2 "--num_gpus must be 1..64" -- "${base[@]}" --num_gpus 0
expect 1 "num_gpus 2 applies to --device cuda only" -- "${base[@]}" --num_gpus 2
expect 1 "$T/missing.bin" -- "${base[@]}" --train_data "$T/missing.bin"
expect 1 "$T/nope.yaml" -- --config "$T/nope.yaml" --model_config "$T/model.yaml"
expect 1 "$T/absent.model" -- "${base[@]}" --tokenizer "$T/absent.model"
expect 1 "model_config FILE is required" -- --config "$T/train.yaml"
expect 1 "fewer than one sequence" -- "${base[@]}" --data_size 64
[ ! -e "$T/run/final" ] || fail "a failed run left a checkpoint"

# A short run.
"$KRLLM" train "${base[@]}" --tokenizer "$T/tok.model" > "$T/out" 2> "$T/err" || fail "run failed: $(cat "$T/err")"
grep -q "^step 30/30 | loss " "$T/out" || fail "no progress line: $(cat "$T/out")"
grep -q "ETA" "$T/out" || fail "progress line lacks ETA"
# the memory the process holds: a tiny CPU run's peak RSS is some MB, not zero and not terabytes
grep -Eq "^step 30/30 .*\| mem ([1-9][0-9]?\.[0-9]{2}|0\.[0-9][1-9]|0\.[1-9][0-9]) GB$" "$T/out" ||
  fail "progress line lacks a plausible memory figure: $(grep '^step 30/30' "$T/out")"
log=$T/run/train.log
[ "$(wc -l < "$log")" = 7 ] || fail "train.log has $(wc -l < "$log") lines, expected 7 (steps 1,5,...,30)"
for key in step loss lr grad_norm tokens_per_sec elapsed_sec memory_mb; do
  [ "$(grep -c "\"$key\":[-0-9.e+]*[,}]" "$log")" = 7 ] || fail "not every train.log line has $key"
done
[ "$(grep -c '"val_loss":[0-9.e+-]*,"val_ppl":[0-9.e+-]*}$' "$log")" = 3 ] || fail "expected val_loss/val_ppl at steps 10, 20, 30"
grep -q '^{.*}$' "$log" || fail "train.log lines are not JSON objects"
for d in checkpoint-10 checkpoint-20 final; do
  for f in model.bin optimizer.bin model_config.yaml training_config.yaml tokenizer.model; do
    [ -s "$T/run/$d/$f" ] || fail "$d/$f missing"
  done
done
[ ! -e "$T/run/checkpoint-30" ] || fail "the last step goes to final, not checkpoint-30"
grep -q "<svg" "$T/run/loss.svg" && grep -q "<polyline" "$T/run/loss.svg" || fail "loss.svg is not a chart"
ls "$T/run" | grep -q '\.tmp' && fail "temporary files left behind"

# Resume from step 10 in the same directory: the last line is reproduced exactly.
last=$(tail -1 "$log" | sed 's/"tokens_per_sec.*memory_mb":[0-9.]*//')
"$KRLLM" train --config "$T/train.yaml" --resume_from "$T/run/checkpoint-10" > "$T/out" 2> "$T/err" || fail "resume failed: $(cat "$T/err")"
grep -q "steps 11\.\.30" "$T/out" || fail "resume did not start at step 11: $(head -3 "$T/out")"
[ "$(tail -1 "$log" | sed 's/"tokens_per_sec.*memory_mb":[0-9.]*//')" = "$last" ] || fail "resumed run ended differently"
[ "$(wc -l < "$log")" = 7 ] || fail "train.log has duplicate lines after resuming"
cmp -s "$T/run/final/model.bin" "$T/run/checkpoint-20/model.bin" && fail "final equals checkpoint-20"

# A damaged checkpoint is refused.
printf 'XXXX' | dd of="$T/run/checkpoint-20/model.bin" bs=1 seek=300 conv=notrunc 2> /dev/null
expect 1 "corrupt" -- --config "$T/train.yaml" --resume_from "$T/run/checkpoint-20"
echo "ok"
