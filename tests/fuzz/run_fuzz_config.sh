#!/usr/bin/env bash
# Fuzzes the YAML model and training config loaders with libFuzzer (clang, ASan + UBSan) for
# SECONDS (default 60), seeded with configs/*.yaml. Crashes land in $OUT (default runs/fuzz_config).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
OUT=${OUT:-runs/fuzz_config}
mkdir -p "$OUT/corpus"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
  tests/fuzz/fuzz_config.c src/model/config.c src/train/train_config.c src/common/yamlcfg.c \
  src/common/error.c src/common/util.c src/common/fileio.c -lyaml -lm -o "$OUT/fuzz_config"
"$OUT/fuzz_config" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=5 \
  -artifact_prefix="$OUT/" "$OUT/corpus" configs
