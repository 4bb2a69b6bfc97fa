#!/usr/bin/env bash
# bench/train_cuda's bookkeeping, without a GPU: stand-ins for our benchmark binary, the PyTorch
# anchor (and torch) and nvidia-smi print known figures, and the summary must give their medians
# over the rounds, the ratio, PyTorch's compiled runs only (not eager), and the energy per step
# from the power sampled during each run's timed steps. Output that is not JSON, and a run that
# failed, are passed over; without nvidia-smi there is no energy; no sampler outlives the script.
set -euo pipefail
command -v python3 > /dev/null || { echo "note: python3 is not installed; skipped"; exit 0; }
T=${KRLLM_TMP:-$(mktemp -d)}
R=$T/repo
mkdir -p "$R/bench" "$R/.devcarry/bin" "$T/bin" "$T/py/torch"
cp bench/train_cuda bench/devcarry_env.sh "$R/bench/"
# ours: tok/s 300, 100, 200 in turn (median 200); 10 steps of 100 ms end when it prints
cat > "$R/.devcarry/bin/train_cuda_bench" << 'EOF'
#!/usr/bin/env bash
n=$(cat "$(dirname "$0")/count" 2> /dev/null || echo 0)
echo $((n + 1)) > "$(dirname "$0")/count"
sleep 1.2
echo "{\"model\": \"medium\", \"error\": \"a failed run\"}"
echo "{not json"
echo "{\"impl\":\"krllm\",\"model\":\"medium\",\"tok_s\":$(((n % 3 == 0) ? 300 : (n % 3 == 1) ? 100 : 200)),\"mfu_vs_989\":0.25,\"mem_GB\":10.0,\"step_ms\":100.0,\"t_end\":$(date +%s.%N)}"
EOF
chmod +x "$R/.devcarry/bin/train_cuda_bench"
cat > "$R/.devcarry/torch_llama_bench.py" << 'EOF'
import time
def train_bench(name, B, T, steps, compiled):
    time.sleep(1.2)
    return dict(model=name, compile=compiled, tok_s=100 if compiled else 40, step_ms=100.0, peak_mem_GB=12.5)
EOF
cat > "$T/py/torch/__init__.py" << 'EOF'
__version__ = "stand-in"
class cuda:
    get_device_name = staticmethod(lambda: "no GPU")
    empty_cache = staticmethod(lambda: None)
EOF
cat > "$T/bin/nvidia-smi" << 'EOF'
#!/usr/bin/env bash
case "$*" in
*-lms*)
  echo $$ > "$(dirname "$0")/sampling.pid"
  while :; do echo "500.0, 1500"; sleep 0.1; done ;;
*) echo "stand-in GPU" ;;
esac
EOF
chmod +x "$T/bin/nvidia-smi"
PYTHONPATH=$T/py PATH=$T/bin:$PATH ROUNDS=3 bash "$R/bench/train_cuda" medium 16 2048 10 > "$T/out" 2>&1
cat "$T/out"
line=$(grep '^summary medium:' "$T/out")
for want in "ours 200 tok/s" "10.0 GB, 50 J/step at 500 W, 1500 MHz; runs [300, 100, 200]" \
  "pytorch compile 100 tok/s (12.5 GB, 50 J/step" "runs [100, 100, 100])" "ratio 2.000x"; do
  [[ "$line" == *"$want"* ]] || { echo "FAIL: the summary lacks '$want'"; exit 1; }
done
if kill -0 "$(cat "$T/bin/sampling.pid")" 2> /dev/null; then
  echo "FAIL: the power sampler outlived the script"
  exit 1
fi
# without nvidia-smi: the same summary, no energy
rm "$T/bin/nvidia-smi"
PYTHONPATH=$T/py PATH=$T/bin:$PATH ROUNDS=1 SKIP_TORCH=1 bash "$R/bench/train_cuda" medium 16 2048 10 > "$T/out2" 2>&1
line=$(grep '^summary medium:' "$T/out2")
[[ "$line" == *"ours 300 tok/s (MFU 25.0%, 10.0 GB; runs [300])" ]] || { echo "FAIL: without nvidia-smi: $line"; exit 1; }
echo "PASS train_cuda bookkeeping"
