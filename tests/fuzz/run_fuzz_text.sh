#!/usr/bin/env bash
# Fuzzes prepare's text cleaning (wikitext, tags, entities, UTF-8 repair, normalisation) with
# libFuzzer (clang, ASan + UBSan) for SECONDS (default 60), seeded with the committed wikitext
# fixtures when present. Crashes land in $OUT (default runs/fuzz_text).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
OUT=${OUT:-runs/fuzz_text}
mkdir -p "$OUT/corpus" "$OUT/seeds"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
  tests/fuzz/fuzz_text_clean.c src/text/wikitext.c src/text/markup.c src/text/normalize.c \
  src/common/error.c src/common/util.c -lutf8proc -lm -o "$OUT/fuzz_text"
printf "'''서울'''은 {{인포박스|이름=서울}} [[대한민국|한국]]의 수도이다.<ref>출처</ref>\n== 역사 ==\n{| class=x\n|a\n|}\n&amp; &#44608; <b>굵게</b> [[파일:a.jpg|썸네일]] [[분류:도시]] (, 1924년)" > "$OUT/seeds/wiki.txt"
"$OUT/fuzz_text" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=5 \
  -artifact_prefix="$OUT/" "$OUT/corpus" "$OUT/seeds"
