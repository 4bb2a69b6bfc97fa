#!/usr/bin/env bash
# krllm serve's pages in headless Chromium (tests/browser/serve_ui.mjs, playwright-core driving
# Debian's /usr/bin/chromium): the chat demo streams a reply to a Korean prompt and its stop
# button cancels one; with a small context, an exchange that fills it is left out of the next
# request; the /train dashboard draws train.log and redraws as it grows. Screenshots go to
# $KRLLM_SCREENSHOTS (default runs/screenshots).
set -euo pipefail
KRLLM=${KRLLM_BIN:?set KRLLM_BIN}
T=${KRLLM_TMP:?set KRLLM_TMP}
ROOT=$PWD
SHOTS=${KRLLM_SCREENSHOTS:-$ROOT/runs/screenshots}
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ ! -x /usr/bin/chromium ]; then
  echo "SKIP: /usr/bin/chromium is not installed (scripts/install-deps.sh --test installs it)"
  exit 0
fi
command -v node >/dev/null || fail "node is needed (scripts/install-deps.sh --test)"
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/browser failed"
fi
mkdir -p "$SHOTS"

# A training run in progress: loss falling, validation every 100 steps, warm-up then decay.
python3 - "$T/run/train.log" <<'PY'
import json, math, os, sys
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
with open(sys.argv[1], "w") as f:
    for step in range(10, 410, 10):
        rec = {"step": step, "loss": 8 * math.exp(-step / 150) + 2.5, "lr": 3e-4 * min(1, step / 50) * (0.5 + 0.5 * math.cos(math.pi * step / 1000)),
               "grad_norm": 1.5 / (1 + step / 100), "tokens_per_sec": 12000 + 300 * math.sin(step)}
        if step % 100 == 0:
            rec["val_loss"] = rec["loss"] + 0.2
        f.write(json.dumps(rec) + "\n")
PY

# start_server NAME ARGS...: a stand-in server on a free port; sets $port, records its pid.
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
start_server() {
  local name=$1; shift
  "$KRLLM" serve --fake_model --port 0 "$@" > "$T/$name.out" 2> "$T/$name.err" &
  pids+=($!)
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/$name.out")
    [ -n "$port" ] && return
    kill -0 "${pids[-1]}" 2>/dev/null || fail "server $name exited: $(cat "$T/$name.err")"
    sleep 0.05
  done
  fail "server $name did not start"
}

# A context of 2048 tokens leaves the long replies of the stop check room to run for seconds.
start_server main --fake_step_ms 15 --fake_context 2048 --logdir "$T/run"
node tests/browser/serve_ui.mjs chat "http://127.0.0.1:$port" "$SHOTS/serve_chat.png"
node tests/browser/serve_ui.mjs train "http://127.0.0.1:$port" "$SHOTS/serve_train.png" "$T/run/train.log"
start_server small --fake_step_ms 1 --fake_context 300
node tests/browser/serve_ui.mjs context "http://127.0.0.1:$port" "$SHOTS/serve_context.png"
for f in serve_chat serve_train serve_context; do [ -s "$SHOTS/$f.png" ] || fail "screenshot $f.png missing"; done

for pid in "${pids[@]}"; do
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "a server exited with $rc: $(tail -20 "$T"/*.err)"
done
echo "test_serve_browser: ok (screenshots in $SHOTS)"
