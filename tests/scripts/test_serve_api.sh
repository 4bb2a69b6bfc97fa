#!/usr/bin/env bash
# `krllm serve` over HTTP: whole and streamed completions, 8 concurrent clients each getting its
# answer-alone, cancellation on disconnect, every error case, the API key, /metrics, and a clean
# shutdown (exit status 0, so no leaks under ASan). Serves a tiny model trained here when the
# tokenizer and trainer are built, else the deterministic stand-in model.
set -euo pipefail
KRLLM=${KRLLM_BIN:?set KRLLM_BIN}
T=${KRLLM_TMP:?set KRLLM_TMP}
HERE=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "python3 is needed (scripts/install-deps.sh --test)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start NAME ARGS...: runs `krllm serve ARGS --port 0`, sets PORT from its first line.
start() {
  local name=$1; shift
  "$KRLLM" serve "$@" --port 0 > "$T/$name.out" 2> "$T/$name.err" &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 200); do
    PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/$name.out")
    [ -n "$PORT" ] && return 0
    kill -0 "$!" 2>/dev/null || fail "serve $* exited early: $(cat "$T/$name.err")"
    sleep 0.05
  done
  fail "serve $* did not start: $(cat "$T/$name.err")"
}

# stop NAME: SIGTERM must end the server promptly with status 0.
stop() {
  local pid; pid=$(eval echo "\$${1}_pid")
  kill -TERM "$pid"
  local rc=0
  timeout 20 tail --pid="$pid" -f /dev/null || fail "$1 did not stop within 20 s"
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "$1 exited with $rc after SIGTERM: $(tail -20 "$T/$1.err")"
  grep -q "shutting down" "$T/$1.err" || fail "$1 did not report its shutdown"
}

# Refusals at start-up.
fake=(--fake_model --fake_context 256 --fake_step_ms 2)
"$KRLLM" serve --port 0 2> "$T/e1" && fail "serve without a model or logdir started"
grep -q -- "--checkpoint" "$T/e1" || fail "no hint about --checkpoint: $(cat "$T/e1")"
"$KRLLM" serve "${fake[@]}" --host example.com 2> "$T/e2" && fail "serve accepted a host name"
grep -q "numeric" "$T/e2" || fail "no explanation for a bad --host: $(cat "$T/e2")"
"$KRLLM" serve --checkpoint "$T/nothing-here" --port 0 2> "$T/e3" && fail "serve started without a checkpoint"
[ -s "$T/e3" ] || fail "no message for a missing checkpoint"

# The HTTP layer with the stand-in model: byte tokens, 256 of context, 2 ms per step so that
# requests overlap and a disconnect happens mid-generation.
start main "${fake[@]}" --max_batch 8 --max_tokens_cap 256 --max_body_bytes 65536
grep -q "http://127.0.0.1:" "$T/main.out" || fail "does not bind 127.0.0.1 by default"
main_port=$PORT
start keyed "${fake[@]}" --api_key s3cret-key
python3 "$HERE/serve_api_client.py" "$main_port" 256 "$PORT" s3cret-key
stop keyed
stop main

# Dashboard only: no model, the training log served; generation answers 503.
mkdir -p "$T/logdir"
printf '{"step":1,"loss":9.5,"lr":0.001}\n{"step":2,"loss":9.1,"lr":0.002}\n{"step":3,' > "$T/logdir/train.log"
start dash --logdir "$T/logdir"
python3 - "$PORT" <<'PY' || fail "dashboard-only server"
import json, sys, urllib.request, urllib.error
base = f"http://127.0.0.1:{sys.argv[1]}"
get = lambda p: json.load(urllib.request.urlopen(base + p))
h = get("/health")
assert h["model"] is None and h["training_log"] is True, h
assert get("/v1/models")["data"] == [], "no model listed"
log = get("/train/log")
assert [r["step"] for r in log["records"]] == [1, 2] and log["offset"] == 66, log
assert get(f"/train/log?from={log['offset']}")["records"] == [], "nothing new"
page = urllib.request.urlopen(base + "/train").read().decode()
assert "<canvas" in page or "canvas" in page, "dashboard page"
for path, body, code in [("/v1/completions", b'{"prompt":"x"}', 503), ("/train/log?from=abc", None, 400)]:
    try:
        urllib.request.urlopen(urllib.request.Request(base + path, data=body))
        raise SystemExit(f"{path} succeeded")
    except urllib.error.HTTPError as e:
        assert e.code == code, (path, e.code)
        assert json.load(e)["error"]["message"]
print("dashboard-only: ok")
PY
stop dash

# The committed page bundle matches src/serve/web/.
./scripts/embed_web.sh "$T/web_assets.c" $(ls src/serve/web/* | sort)
cmp -s "$T/web_assets.c" src/serve/web_assets.c || fail "src/serve/web_assets.c is stale: run make"

# The same checks against a real (tiny) model, when this build can train and serve one.
if bash "$HERE/serve_tiny_model.sh" "$T/tiny"; then
  "$KRLLM" serve --checkpoint "$T/tiny/run" --port 0 > "$T/probe.out" 2> "$T/probe.err" &
  probe=$!
  while kill -0 $probe 2>/dev/null && ! grep -q listening "$T/probe.out"; do sleep 0.05; done
  kill -TERM $probe 2>/dev/null || true
  wait $probe || true
  if grep -q "no inference engine" "$T/probe.err"; then
    echo "note: this build has no inference engine yet; real-model checks skipped"
  else
    start real --checkpoint "$T/tiny/run" --max_batch 8 --max_tokens_cap 256 --max_body_bytes 65536
    SERVE_TIMING_CHECKS=0 python3 "$HERE/serve_api_client.py" "$PORT" 128
    stop real
  fi
else
  echo "note: no tiny model could be trained here ($(tail -1 "$T/tiny/log" 2>/dev/null)); real-model checks skipped"
fi
echo "test_serve_api: ok"
