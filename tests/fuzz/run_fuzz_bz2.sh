#!/usr/bin/env bash
# Fuzzes the block-parallel bzip2 decoder against libbz2 (differential; clang, ASan + UBSan) for
# SECONDS (default 60). Seeds: small multi-block and multistream files made here with bzip2.
# New interesting inputs and any crash land in $OUT (default runs/fuzz_bz2).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
OUT=${OUT:-runs/fuzz_bz2}
mkdir -p "$OUT/corpus" "$OUT/seeds"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
  tests/fuzz/fuzz_bz2.c src/text/bz2_parallel.c src/common/error.c -lbz2 -lpthread -o "$OUT/fuzz_bz2"
# seeds: repetitive text in 100k blocks (bzip2 -1) gives several blocks in a few KB
seq 1 60000 | sed 's/$/ 한국어 문장/' > "$OUT/seeds/text"
bzip2 -1 -c "$OUT/seeds/text" > "$OUT/seeds/multiblock.bz2"
head -c 3000 "$OUT/seeds/text" | bzip2 -9 -c > "$OUT/seeds/small.bz2"
cat "$OUT/seeds/small.bz2" "$OUT/seeds/small.bz2" > "$OUT/seeds/multistream.bz2"
printf '' | bzip2 -c > "$OUT/seeds/empty.bz2"
rm "$OUT/seeds/text"
"$OUT/fuzz_bz2" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="$OUT/" "$OUT/corpus" "$OUT/seeds"
