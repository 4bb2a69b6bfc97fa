#!/usr/bin/env bash
# Inference benchmark: krllm decode speed vs the PyTorch anchor (same machine, same run, same
# threads, random weights of the same configs, 16-token prompt + 128 greedy tokens), per precision
# and batch, plus the share of the machine's memcpy bandwidth and the llama2.c reference figures.
#   bench/infer/run.sh [threads]        (from the repository root, after `make`)
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
KRLLM=${KRLLM_BIN:-./krllm}
ANCHOR=${KRLLM_SHARED:-../shared}/anchors/cpu_torch_llama.py
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads $THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)"
for cfg in a c; do
  yaml=bench/infer/model_a.yaml
  [ $cfg = c ] && yaml=configs/model_small.yaml
  # two rounds, alternating, so that both sides see the same machine load
  for round in 1 2; do
    OMP_NUM_THREADS=$THREADS /usr/bin/python3 "$ANCHOR" --config $cfg --mode decode --threads "$THREADS" --reps 3 >> "$OUT/anchor_$cfg.jsonl"
    "$KRLLM" bench --model_config $yaml --num_threads "$THREADS" --prompt_len 16 --new_tokens 128 --reps 3 \
      --batch 1 8 --precision fp32 bf16 int8 --json >> "$OUT/krllm_$cfg.jsonl"
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys, statistics as st
out = sys.argv[1]
llama2c = {"c": {"fp32": 38.0, "int8": 82.0}}  # issue 5: llama2.c run.c / runq.c, 2 threads, small (132M)
print("| config | precision | batch | krllm decode tok/s | PyTorch decode tok/s | ratio | vs llama2.c | bandwidth share | prefill tok/s | ttft ms | peak MB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for cfg in "ac":
    anchor = [json.loads(l) for l in open(f"{out}/anchor_{cfg}.jsonl")]
    a = st.median(x["median_tok_s_decode_only"] for x in anchor)
    rows = [json.loads(l) for l in open(f"{out}/krllm_{cfg}.jsonl")]
    for prec in ("fp32", "bf16", "int8"):
        for b in (1, 8):
            sel = [r for r in rows if r["precision"] == prec and r["batch"] == b]
            med = lambda k: st.median(r[k] for r in sel)
            d = med("decode_tokens_per_sec")
            ref = llama2c.get(cfg, {}).get("int8" if prec == "int8" else "fp32")
            vs = f"{d / ref:.2f}x {'runq' if prec == 'int8' else 'run.c fp32'}" if ref and b == 1 else ""
            print(f"| {cfg} | {prec} | {b} | {d:.1f} | {a:.1f} | {d / a:.2f}x | {vs} | {med('bandwidth_share'):.2f} | "
                  f"{med('prefill_tokens_per_sec'):.0f} | {med('ttft_ms'):.1f} | {med('peak_rss_mb'):.0f} |")
bw = st.median(r["bandwidth_gb_s"] for cfg in "ac" for r in map(json.loads, open(f"{out}/krllm_{cfg}.jsonl")))
print(f"\nmemcpy bandwidth (median of the runs): {bw:.1f} GB/s")
PY
