#!/usr/bin/env bash
# `krllm tokenizer` end to end: train, encode, decode, `krllm tokenize` (shard header, token count,
# identical output for 1 and 2 threads), bad inputs; then the cross-check with SentencePiece: the
# model must load in spm_encode / spm_decode (and python3 sentencepiece when present) and give
# exactly our ids and text on ~2000 lines of Korean plus edge cases (skipped only without spm_encode).
set -euo pipefail
: "${KRLLM_BIN:?}" "${KRLLM_TMP:?}" "${KRLLM_SHARED:?}"
T=$KRLLM_TMP
KO=$KRLLM_SHARED/data/ko
lines=2000; [ "${KRLLM_SANITIZED:-0}" = 1 ] && lines=600

bz() { bzip2 -dc "$1" 2>/dev/null || true; } # readers stop early (SIGPIPE is fine)

# Training text: novels plus Wikipedia and movie reviews (a few hundred KB).
{ head -c 250000 "$KO/text/koconovel/koconovel_50_novels_sentences.txt"; echo
  bz "$KO/wiki/kowiki-2020-wikiextractor-AE-wiki_00-24.txt.bz2" | head -c 150000; echo
  bz "$KO/text/nsmc_raw_reviews_excluding_test.tsv.bz2" | head -3000 | cut -f4; } > "$T/train.txt"
"$KRLLM_BIN" tokenizer train --input "$T/train.txt" --vocab_size 2000 --character_coverage 0.995 \
  --output "$T/tok" --user_defined_symbols "<|user|>,<|assistant|>,<|system|>" 2>/dev/null
[ -s "$T/tok.model" ] && [ -s "$T/tok.vocab" ]
[ "$(wc -l < "$T/tok.vocab")" -eq 2000 ]

# Held-out lines (other files than the training text) and edge cases.
{ head -$((lines / 2)) "$KO/text/korean-parallel-corpora/korean-english-park.test.ko"
  sed -n "2,$((lines / 2 + 1))p" "$KO/eval/nsmc_ratings_test.txt" | cut -f2
  printf '%s\n' "ㅋㅋㅋㅋ ㅠㅠ ㅎㅎ" "大韓民國 憲法" "이모지 🙂😂👍🏽 🇰🇷" "Mixed 한국어 and English 12345 3.14" \
    "   앞뒤   공백   " "" "     " "▁이미 ▁ 있는 ▁" "<|user|>안녕<|assistant|>네<|system|>" "$(printf '\t탭\t')"
  printf 'bad \xff\xfe utf8 \xc3\x28 \xed\xa0\x80 \xc0\xaf end \xe2\x82\n'
  tr '\n' ' ' < "$KO/text/korean-parallel-corpora/korean-french-park-v1.test.ko"; echo
} > "$T/test.txt"

"$KRLLM_BIN" tokenizer encode --model "$T/tok.model" < "$T/test.txt" > "$T/ours.ids"
"$KRLLM_BIN" tokenizer decode --model "$T/tok.model" < "$T/ours.ids" > "$T/ours.txt"
[ "$(wc -l < "$T/ours.ids")" -eq "$(wc -l < "$T/test.txt")" ]
"$KRLLM_BIN" tokenizer encode --model "$T/tok.model" --num_threads 3 < "$T/test.txt" | cmp - "$T/ours.ids"
if grep -qw 0 "$T/ours.ids"; then echo "an <unk> (id 0) was produced"; exit 1; fi

# Pretokenize: header fields, token count (<s> + ids + </s> per non-empty line), thread independence.
"$KRLLM_BIN" tokenize --tokenizer "$T/tok.model" --input "$T/test.txt" --output "$T/tokens/a.bin" --num_threads 1 2>/dev/null
"$KRLLM_BIN" tokenize --tokenizer "$T/tok.model" --input "$T/test.txt" --output "$T/b.bin" --num_threads 2 2>/dev/null
cmp "$T/tokens/a.bin" "$T/b.bin"
want_docs=$(awk 'NF>0' "$T/ours.ids" | wc -l)
want_tokens=$(awk 'NF>0 {n += NF + 2} END {print n}' "$T/ours.ids")
[ "$(head -c 8 "$T/tokens/a.bin")" = KRTOKENS ]
hdr="$(od -A n -t u4 -j 8 -N 16 "$T/tokens/a.bin") $(od -A n -t u8 -j 24 -N 16 "$T/tokens/a.bin")"
read -r ver tb vocab sep ntok ndocs <<< "$(echo $hdr)"
[ "$ver $tb $vocab $sep" = "1 2 2000 2" ] || { echo "bad header: $ver $tb $vocab $sep"; exit 1; }
[ "$ntok" = "$want_tokens" ] && [ "$ndocs" = "$want_docs" ] || { echo "counts $ntok/$ndocs, want $want_tokens/$want_docs"; exit 1; }
[ "$(stat -c %s "$T/tokens/a.bin")" -eq $((64 + 2 * want_tokens)) ]
# every document is <s> ids </s>: the shard starts with <s> (1), and <s> and </s> (2) each occur once per document
tokens=$(od -A n -t u2 -v -j 64 "$T/tokens/a.bin" | tr -s ' ' '\n' | sed '/^$/d')
[ "$(echo "$tokens" | head -1)" = 1 ] || { echo "the shard does not start with <s>"; exit 1; }
[ "$(echo "$tokens" | grep -cx 1)" = "$want_docs" ] && [ "$(echo "$tokens" | grep -cx 2)" = "$want_docs" ] ||
  { echo "<s>/</s> counts differ from the document count $want_docs"; exit 1; }
# Bad input: clear errors, non-zero exit, no partial output.
fails() { if "$@" > "$T/err.out" 2>&1; then echo "should have failed: $*"; exit 1; fi; grep -q "krllm: " "$T/err.out"; }
fails "$KRLLM_BIN" tokenizer encode --model "$T/missing.model" < /dev/null
head -c 1000 "$T/tok.model" > "$T/cut.model"
fails "$KRLLM_BIN" tokenizer encode --model "$T/cut.model" < /dev/null
echo "1 2 99999" | fails "$KRLLM_BIN" tokenizer decode --model "$T/tok.model"
echo "1 x 3" | fails "$KRLLM_BIN" tokenizer decode --model "$T/tok.model"
fails "$KRLLM_BIN" tokenize --tokenizer "$T/tok.model" --input "$T/missing.txt" --output "$T/none.bin"
[ ! -e "$T/none.bin" ]
fails "$KRLLM_BIN" tokenizer train --input "$T/train.txt" --vocab_size 300 --output "$T/small"
[ ! -e "$T/small.model" ]

if ! command -v spm_encode >/dev/null; then
  echo "SKIP: spm_encode is not installed (apt-get install sentencepiece) -- SentencePiece cross-check skipped"
  exit 0
fi
spm_encode --model "$T/tok.model" --output_format=id < "$T/test.txt" > "$T/spm.ids"
cmp "$T/ours.ids" "$T/spm.ids" || { diff "$T/ours.ids" "$T/spm.ids" | head; echo "ids differ from spm_encode"; exit 1; }
spm_decode --model "$T/tok.model" --input_format=id < "$T/ours.ids" > "$T/spm.txt"
cmp "$T/ours.txt" "$T/spm.txt" || { echo "decoded text differs from spm_decode"; exit 1; }
"$KRLLM_BIN" tokenizer encode --model "$T/tok.model" --output_format piece < "$T/test.txt" > "$T/ours.pieces"
spm_encode --model "$T/tok.model" --output_format=piece < "$T/test.txt" > "$T/spm.pieces"
cmp "$T/ours.pieces" "$T/spm.pieces"

# Decoding arbitrary id sequences (control, <unk>, stray and partial byte pieces) as spm_decode does.
awk 'BEGIN { srand(7); for (l = 0; l < 1000; l++) { n = int(rand() * 12); s = "";
  for (i = 0; i < n; i++) { r = rand(); id = r < 0.1 ? int(rand() * 4) : r < 0.5 ? 4 + int(rand() * 256) : 260 + int(rand() * 1740);
  s = s (i ? " " : "") id } print s } }' > "$T/random.ids"
"$KRLLM_BIN" tokenizer decode --model "$T/tok.model" < "$T/random.ids" > "$T/random.ours"
spm_decode --model "$T/tok.model" --input_format=id < "$T/random.ids" > "$T/random.spm"
cmp "$T/random.ours" "$T/random.spm" || { echo "decoding random ids differs from spm_decode"; exit 1; }

# Without byte fallback rare characters become <unk>; a run of them is one <unk>, shown with its text.
"$KRLLM_BIN" tokenizer train --input "$T/train.txt" --vocab_size 1800 --character_coverage 0.99 \
  --byte_fallback false --input_sentence_size 3000 --output "$T/nobf" 2>/dev/null
for fmt in id piece; do
  "$KRLLM_BIN" tokenizer encode --model "$T/nobf.model" --output_format $fmt < "$T/test.txt" > "$T/nobf.ours"
  spm_encode --model "$T/nobf.model" --output_format=$fmt < "$T/test.txt" > "$T/nobf.spm"
  cmp "$T/nobf.ours" "$T/nobf.spm" || { echo "no-byte-fallback $fmt output differs from spm_encode"; exit 1; }
done
spm_encode --model "$T/nobf.model" --output_format=id < "$T/test.txt" > "$T/nobf.ids"
grep -qw 0 "$T/nobf.ids" || { echo "expected some <unk> without byte fallback"; exit 1; }
"$KRLLM_BIN" tokenizer encode --model "$T/nobf.model" < "$T/test.txt" | "$KRLLM_BIN" tokenizer decode --model "$T/nobf.model" > "$T/nobf.txt"
spm_encode --model "$T/nobf.model" --output_format=id < "$T/test.txt" | spm_decode --model "$T/nobf.model" --input_format=id > "$T/nobf.spm.txt"
cmp "$T/nobf.txt" "$T/nobf.spm.txt"

PY=/usr/bin/python3
if [ -x $PY ] && $PY -c "import sentencepiece" 2>/dev/null; then
  $PY - "$T/tok.model" "$T/test.txt" "$T/ours.ids" <<'PYEOF'
import sys, sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, 3)
assert sp.piece_to_id("<|user|>") == 260 and sp.vocab_size() == 2000
lines = open(sys.argv[2], "rb").read().split(b"\n")[:-1]
ours = [[int(x) for x in l.split()] for l in open(sys.argv[3])]
bad = [i for i, (l, o) in enumerate(zip(lines, ours)) if sp.encode(l) != o]
assert not bad and len(lines) == len(ours), f"python sentencepiece differs on lines {bad[:10]}"
PYEOF
else
  echo "note: python3 sentencepiece not found, python cross-check skipped"
fi

echo "ok: $(wc -l < "$T/test.txt") lines identical to SentencePiece; shard $ntok tokens"
