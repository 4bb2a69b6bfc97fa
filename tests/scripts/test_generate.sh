#!/usr/bin/env bash
# `krllm generate` and `krllm bench` end to end on a tiny trained checkpoint: streaming output,
# seeds, greedy, stop strings, precisions, batched prompts equal to single prompts, errors.
set -euo pipefail
KRLLM=${KRLLM_BIN:?set KRLLM_BIN}
T=${KRLLM_TMP:?set KRLLM_TMP}
fail() { echo "FAIL: $*" >&2; exit 1; }
source tests/scripts/infer_fixture.sh
make_infer_fixture

gen() { "$KRLLM" generate --checkpoint "$CKPT" --max_length 30 --num_threads 1 "$@" 2> "$T/err"; }

a=$(gen --prompt "서울은" --seed 5) || fail "generate: $(cat "$T/err")"
b=$(gen --prompt "서울은" --seed 5)
c=$(gen --prompt "서울은" --seed 6)
[[ "$a" == 서울은* ]] || fail "output does not start with the prompt: $a"
[ ${#a} -gt 10 ] || fail "nothing generated: '$a'"
[ "$a" = "$b" ] || fail "same seed, different text"
[ "$a" != "$c" ] || fail "seeds 5 and 6 gave the same text"
grep -q "decode .* tok/s" "$T/err" || fail "no speed report: $(cat "$T/err")"

g1=$(gen --prompt "대한민국의" --greedy)
g2=$(gen --prompt "대한민국의" --temperature 0 --seed 99)
[ "$g1" = "$g2" ] || fail "--greedy and --temperature 0 differ"

# a stop string taken from the middle of the unrestricted continuation cuts the text before it
cont=${g1#대한민국의}
stop=${cont:8:2}
before=${cont%%"$stop"*}
s=$(gen --prompt "대한민국의" --greedy --stop "$stop" "never")
[ "$s" = "대한민국의$before" ] || fail "stop '$stop': got '$s', expected '대한민국의$before'"

for p in bf16 int8 int8_row; do
  q=$(gen --prompt "대한민국의" --greedy --precision $p) || fail "--precision $p: $(cat "$T/err")"
  [[ "$q" == 대한민국의* ]] || fail "--precision $p output: $q"
done

# batched prompts of different lengths give the single-prompt results
printf '서울은\n\n대한민국의 수도는 어디인가\n한국어\n역사\n' > "$T/prompts.txt"
gen --prompts_file "$T/prompts.txt" --seed 7 --max_batch 3 > "$T/batch.out" || fail "prompts_file: $(cat "$T/err")"
grep -q "throughput" "$T/err" || fail "no throughput report"
i=0
while IFS= read -r p; do
  [ -z "$p" ] && continue
  i=$((i + 1))
  single=$(gen --prompt "$p" --seed 7)
  got=$(awk -v n="### $i" '$0 == n {on = 1; next} /^### / {on = 0} on' "$T/batch.out" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}')
  [ "$got" = "$single" ] || fail "prompt $i in a batch: '$got' vs alone: '$single'"
done < "$T/prompts.txt"
[ $i = 4 ] || fail "expected 4 prompts, saw $i"

# errors
expect_err() { local needle=$1; shift; if "$KRLLM" generate "$@" > /dev/null 2> "$T/err"; then fail "generate $* succeeded"; fi
  grep -qF -- "$needle" "$T/err" || fail "generate $*: stderr lacks '$needle': $(cat "$T/err")"; }
expect_err "--checkpoint is required" --prompt x
expect_err "unknown precision" --checkpoint "$CKPT" --prompt x --precision fp8
expect_err "top_p" --checkpoint "$CKPT" --prompt x --top_p 2
expect_err "one of --prompt" --checkpoint "$CKPT"
expect_err "nope" --checkpoint "$T/nope" --prompt x

# bench: one JSON object per measurement with the documented keys
"$KRLLM" bench --model_config "$T/model.yaml" --batch 1 2 --precision fp32 int8 --prompt_len 8 --new_tokens 8 --reps 1 --json > "$T/bench.out" \
  || fail "bench failed"
[ "$(wc -l < "$T/bench.out")" = 4 ] || fail "bench printed $(wc -l < "$T/bench.out") lines"
for k in batch precision prefill_tokens_per_sec decode_tokens_per_sec ttft_ms peak_rss_mb bandwidth_share; do
  grep -c "\"$k\":" "$T/bench.out" | grep -qx 4 || fail "bench JSON lacks $k"
done
"$KRLLM" bench --checkpoint "$CKPT" --batch 1 --precision bf16 --prompt_len 4 --new_tokens 4 --reps 1 | grep -q "bf16 .*batch 1" \
  || fail "bench --checkpoint"
# perplexity on a token shard per precision: present, and int8 within 1% of fp32
"$KRLLM" bench --checkpoint "$CKPT" --batch 1 --precision fp32 int8 --prompt_len 4 --new_tokens 4 --reps 1 --json \
  --eval_data "$T/train.bin" --eval_tokens 600 --eval_window 100 > "$T/ppl.out" || fail "bench --eval_data"
p32=$(grep '"fp32"' "$T/ppl.out" | sed 's/.*"perplexity":\([0-9.]*\).*/\1/')
p8=$(grep '"int8"' "$T/ppl.out" | sed 's/.*"perplexity":\([0-9.]*\).*/\1/')
awk -v a="$p32" -v b="$p8" 'BEGIN { d = (b - a) / a; if (a < 2 || d > 0.01 || d < -0.01) exit 1 }' || fail "perplexity fp32 '$p32' int8 '$p8'"
echo "generate: all checks passed"
