#!/usr/bin/env bash
# krllm serve's pages in headless Chromium (tests/browser/serve_ui.mjs, playwright-core driving
# Debian's /usr/bin/chromium): the chat demo streams a reply to a Korean prompt and its stop
# button cancels one; the /train dashboard draws train.log and redraws as it grows. Screenshots
# go to $KRLLM_SCREENSHOTS (default runs/screenshots).
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

# A context of 2048 tokens leaves the long replies of the stop check room to run for seconds.
"$KRLLM" serve --fake_model --fake_step_ms 15 --fake_context 2048 --logdir "$T/run" --port 0 > "$T/srv.out" 2> "$T/srv.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 200); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/srv.out")
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || fail "server exited: $(cat "$T/srv.err")"
  sleep 0.05
done
[ -n "$port" ] || fail "server did not start"

node tests/browser/serve_ui.mjs chat "http://127.0.0.1:$port" "$SHOTS/serve_chat.png"
node tests/browser/serve_ui.mjs train "http://127.0.0.1:$port" "$SHOTS/serve_train.png" "$T/run/train.log"
[ -s "$SHOTS/serve_chat.png" ] && [ -s "$SHOTS/serve_train.png" ] || fail "screenshots missing"

kill -TERM $pid
rc=0
wait $pid || rc=$?
[ "$rc" = 0 ] || fail "server exited with $rc: $(tail -20 "$T/srv.err")"
echo "test_serve_browser: ok (screenshots in $SHOTS)"
