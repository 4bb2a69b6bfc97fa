#!/usr/bin/env bash
# Runs one libFuzzer harness (clang, ASan + UBSan) for SECONDS (default 60):
#   tests/fuzz/run_fuzz.sh serve|bz2|tokenizer|config|text [SECONDS]
#   serve      request bodies and the streamed text (fuzz_request.c), corpus tests/fuzz/corpus_request
#   bz2        the block-parallel bzip2 decoder against libbz2 (fuzz_bz2.c)
#   tokenizer  tokenizer .model files: parse, checks, self-test, encode/decode (fuzz_tokenizer_model.c)
#   config     the YAML model and training config loaders (fuzz_config.c), seeded with configs/
#   text       prepare's text cleaning (fuzz_text_clean.c)
# New interesting inputs and any crash land in $OUT (default runs/fuzz_NAME). The tokenizer seed
# is trained with $KRLLM_BIN (default ./krllm).
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=${1:?usage: tests/fuzz/run_fuzz.sh serve|bz2|tokenizer|config|text [SECONDS]}
SECONDS_TO_RUN=${2:-60}
OUT=${OUT:-runs/fuzz_$NAME}
SEEDS=$OUT/seeds
mkdir -p "$OUT/corpus" "$SEEDS"
case $NAME in
  serve)
    SRC="tests/fuzz/fuzz_request.c src/serve/request.c src/infer/gentext.c src/common/error.c src/common/util.c"
    LIBS="-lcjson -lm"
    MAXLEN=4096; SEEDS=tests/fuzz/corpus_request ;;
  bz2)
    SRC="tests/fuzz/fuzz_bz2.c src/text/bz2_parallel.c src/common/error.c"; LIBS="-lbz2 -lpthread"; MAXLEN=65536
    # repetitive text in 100k blocks (bzip2 -1) gives several blocks in a few KB
    seq 1 60000 | sed 's/$/ 한국어 문장/' > "$SEEDS/text"
    bzip2 -1 -c "$SEEDS/text" > "$SEEDS/multiblock.bz2"
    head -c 3000 "$SEEDS/text" | bzip2 -9 -c > "$SEEDS/small.bz2"
    cat "$SEEDS/small.bz2" "$SEEDS/small.bz2" > "$SEEDS/multistream.bz2"
    printf '' | bzip2 -c > "$SEEDS/empty.bz2"
    rm "$SEEDS/text" ;;
  tokenizer)
    SRC="tests/fuzz/fuzz_tokenizer_model.c $(ls src/tokenizer/*.c) src/common/error.c src/common/util.c
         src/common/fileio.c src/common/workpool.c src/data/shard.c"
    LIBS="-fopenmp -lutf8proc -lm -lpthread"; MAXLEN=65536
    for i in $(seq 300); do echo "한국어 문장 $i 번째 hello world ㅋㅋ 서울 날씨"; done > "$SEEDS/text.txt"
    "${KRLLM_BIN:-./krllm}" tokenizer train --input "$SEEDS/text.txt" --vocab_size 300 --model_type bpe \
      --output "$SEEDS/tok" > /dev/null 2>&1
    rm -f "$SEEDS/text.txt" "$SEEDS/tok.vocab" ;;
  config)
    SRC="tests/fuzz/fuzz_config.c src/model/config.c src/train/train_config.c src/common/yamlcfg.c
         src/common/error.c src/common/util.c src/common/fileio.c"
    LIBS="-lyaml -lm"; MAXLEN=4096; SEEDS=configs ;;
  text)
    SRC="tests/fuzz/fuzz_text_clean.c src/text/wikitext.c src/text/markup.c src/text/normalize.c
         src/common/error.c src/common/util.c"
    LIBS="-lutf8proc -lm"; MAXLEN=8192
    printf "'''서울'''은 {{인포박스|이름=서울}} [[대한민국|한국]]의 수도이다.<ref>출처</ref>\n== 역사 ==\n{| class=x\n|a\n|}\n&amp; &#44608; <b>굵게</b> [[파일:a.jpg|썸네일]] [[분류:도시]] (, 1924년)" > "$SEEDS/wiki.txt" ;;
  *) echo "unknown fuzz target '$NAME'" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc $SRC $LIBS -o "$OUT/fuzz_$NAME"
"$OUT/fuzz_$NAME" -max_total_time="$SECONDS_TO_RUN" -max_len=$MAXLEN -timeout=10 -artifact_prefix="$OUT/" \
  "$OUT/corpus" "$SEEDS"
