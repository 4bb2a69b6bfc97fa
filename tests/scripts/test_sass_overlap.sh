#!/usr/bin/env bash
# dev/cuda/sass_overlap.py on the flash kernels compiled here for sm_90a: it finds the three
# wgmma kernels and their steps, and the dk/dv kernel's softmax still overlaps its products (a
# change that loses that overlap slows the backward; BENCHMARKS.md, "cuda training"). It refuses
# a file that is not a cubin, and a truncated one, with a message. Needs nvcc (skipped without
# it) and no GPU.
set -euo pipefail
if ! command -v nvcc > /dev/null; then
  echo "note: nvcc is not installed; skipped"
  exit 0
fi
T=${KRLLM_TMP:-$(mktemp -d)}
nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a -cubin -o "$T/flash.cubin" \
  src/backend/cuda/attention_flash.cu
python3 dev/cuda/sass_overlap.py "$T/flash.cubin" | tee "$T/out"
for k in flash_fwd_wgmma_kernel flash_dq_wgmma_kernel flash_dkv_wgmma_kernel; do
  grep -q "$k.*: \[[0-9]" "$T/out" || { echo "FAIL: no steps found for $k"; exit 1; }
done
dkv=$(grep flash_dkv_wgmma_kernel "$T/out" | sed 's/.*\[\(.*\)\]/\1/' | tr -d ' ' | tr ',' '+')
[ $(( dkv )) -gt 0 ] || { echo "FAIL: no exponential of the dk/dv kernel overlaps its products"; exit 1; }
echo "not a cubin" > "$T/bad"
if python3 dev/cuda/sass_overlap.py "$T/bad" 2> "$T/err"; then
  echo "FAIL: a text file was accepted"
  exit 1
fi
grep -q "not an ELF cubin" "$T/err" || { echo "FAIL: unclear error: $(cat "$T/err")"; exit 1; }
head -c 200 "$T/flash.cubin" > "$T/cut"
if python3 dev/cuda/sass_overlap.py "$T/cut" 2> "$T/err"; then
  echo "FAIL: a truncated cubin was accepted"
  exit 1
fi
grep -q "truncated or damaged cubin" "$T/err" || { echo "FAIL: unclear error: $(cat "$T/err")"; exit 1; }
echo "PASS sass_overlap"
