#!/usr/bin/env bash
# `krllm chat` driven through a pipe: replies per message, /reset, /exit, end of input, the
# special-piece template, and Ctrl-C at the prompt not ending the chat.
set -euo pipefail
KRLLM=${KRLLM_BIN:?set KRLLM_BIN}
T=${KRLLM_TMP:?set KRLLM_TMP}
fail() { echo "FAIL: $*" >&2; exit 1; }
source tests/scripts/infer_fixture.sh
make_infer_fixture
chat() { "$KRLLM" chat --checkpoint "$CKPT" --max_length 12 --seed 3 --num_threads 1 "$@"; }

# two messages, /reset, the first message again, /exit, then a line that must be ignored
printf '안녕하세요\n서울에 대해 알려줘\n/reset\n안녕하세요\n/exit\n무시될 줄\n' | chat --system "도우미" > "$T/out" 2> "$T/err" \
  || fail "chat exited with an error: $(cat "$T/err")"
[ "$(wc -l < "$T/out")" = 4 ] || fail "expected 3 replies and a reset notice, got: $(cat "$T/out")"
sed -n 3p "$T/out" | grep -qx "\[conversation cleared\]" || fail "no reset notice: $(cat "$T/out")"
r1=$(sed -n 1p "$T/out"); r2=$(sed -n 2p "$T/out"); r3=$(sed -n 4p "$T/out")
[ -n "$r1" ] || fail "empty first reply"
[ "$r1" = "$r3" ] || fail "after /reset the same message got another reply: '$r1' vs '$r3'"

# end of input without /exit also ends the chat cleanly; the history changes the reply
printf '서울에 대해 알려줘\n' | chat --system "도우미" > "$T/out2" 2>&1 || fail "chat at end of input"
[ "$(wc -l < "$T/out2")" = 1 ] || fail "one message, one reply: $(cat "$T/out2")"

# Ctrl-C while waiting for input does not end the chat
mkfifo "$T/in"
chat < "$T/in" > "$T/out3" 2>&1 &
pid=$!
exec 3> "$T/in"
sleep 1
kill -INT $pid
sleep 0.3
kill -0 $pid 2> /dev/null || fail "Ctrl-C at the prompt ended the chat"
printf '안녕하세요\n/exit\n' >&3
exec 3>&-
wait $pid || fail "chat exited with an error after Ctrl-C"
[ "$(grep -c . "$T/out3")" -ge 1 ] || fail "no reply after Ctrl-C: $(cat "$T/out3")"
# Ctrl-C during a long reply stops that reply only: a model with a long context, greedy
cat > "$T/long.yaml" <<YAML
name: infer-long
vocab_size: 1200
hidden_size: 256
num_layers: 4
num_heads: 4
num_kv_heads: 2
intermediate_size: 512
max_seq_len: 4096
YAML
"$KRLLM" train --config "$T/train.yaml" --model_config "$T/long.yaml" --max_steps 1 --output_dir "$T/long" > /dev/null 2>&1 || fail "train long"
rm -f "$T/in"; mkfifo "$T/in"
"$KRLLM" chat --checkpoint "$T/long" --max_length 4000 --greedy < "$T/in" > "$T/out4" 2> "$T/err4" &
pid=$!
exec 3> "$T/in"
printf '안녕하세요\n' >&3
for _ in $(seq 200); do [ "$(wc -c < "$T/out4")" -gt 20 ] && break; sleep 0.05; done
kill -INT $pid
printf '/reset\n/exit\n' >&3
exec 3>&-
wait $pid || fail "chat exited with an error after Ctrl-C in a reply: $(cat "$T/err4")"
grep -q "\[stopped\]" "$T/out4" || fail "the reply was not stopped: $(head -c 300 "$T/out4")"
tail -1 "$T/out4" | grep -qx "\[conversation cleared\]" || fail "the chat did not go on after Ctrl-C: $(tail -c 200 "$T/out4")"
echo "chat: all checks passed"
