#!/usr/bin/env bash
# Fuzzes the loading of tokenizer .model files (protobuf parser, model checks, self-test) and
# encoding/decoding with any file that loads, with libFuzzer (clang, ASan + UBSan) for SECONDS
# (default 60). Seed: a 300-piece model trained here by krllm ($KRLLM_BIN, default ./krllm).
# New interesting inputs and any crash land in $OUT (default runs/fuzz_tokenizer).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
OUT=${OUT:-runs/fuzz_tokenizer}
KRLLM=${KRLLM_BIN:-./krllm}
mkdir -p "$OUT/corpus" "$OUT/seeds"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
  tests/fuzz/fuzz_tokenizer_model.c $(ls src/tokenizer/*.c) src/common/error.c src/common/util.c \
  src/common/fileio.c src/common/workpool.c src/data/shard.c -fopenmp -lutf8proc -lm -lpthread -o "$OUT/fuzz_tokenizer"
for i in $(seq 300); do echo "한국어 문장 $i 번째 hello world ㅋㅋ 서울 날씨"; done > "$OUT/seeds/text.txt"
"$KRLLM" tokenizer train --input "$OUT/seeds/text.txt" --vocab_size 300 --model_type bpe \
  --output "$OUT/seeds/tok" > /dev/null 2>&1
rm -f "$OUT/seeds/text.txt" "$OUT/seeds/tok.vocab"
"$OUT/fuzz_tokenizer" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
  -artifact_prefix="$OUT/" "$OUT/corpus" "$OUT/seeds"
