#!/usr/bin/env bash
# Fuzzes the server's request parsing with libFuzzer (clang, ASan + UBSan) for SECONDS (default
# 60), starting from tests/fuzz/corpus_request. New interesting inputs land in $OUT (default
# runs/fuzz_serve/corpus); copy small ones into the committed corpus if they add coverage.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
OUT=${OUT:-runs/fuzz_serve}
mkdir -p "$OUT/corpus"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
  tests/fuzz/fuzz_request.c src/serve/request.c src/infer/gentext.c src/common/error.c \
  -lcjson -o "$OUT/fuzz_request"
"$OUT/fuzz_request" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=5 \
  -artifact_prefix="$OUT/" "$OUT/corpus" tests/fuzz/corpus_request
