#!/usr/bin/env bash
# krllm prepare on real data: the truncated jawiki XML sample, a kowiki WikiExtractor slice
# (.bz2), a TSV column, and bad inputs (corrupt and truncated .bz2, missing, binary, empty).
set -u
T=$KRLLM_TMP
DATA=$KRLLM_SHARED/data/ko
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
json() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval('d$2'))"; }

# 1. The jawiki sample ends mid-page: every complete article page out, a warning, exit 1.
"$KRLLM_BIN" prepare --input "$DATA"/wiki/jawiki-*.xml.bz2 --output "$T/ja" --no_progress 2> "$T/ja.err"
rc=$?
check '[ $rc -eq 1 ]' "truncated XML exit status $rc"
check 'grep -q "XML ends inside page" "$T/ja.err" && grep -q "decompressed byte" "$T/ja.err"' "truncation warning: $(cat "$T/ja.err")"
check '[ "$(json "$T/ja/stats.json" "[\"files\"][0][\"documents\"]")" -eq 189 ]' "jawiki: 189 article pages (204 in ns 0 less 15 redirects)"
check '[ "$(json "$T/ja/stats.json" "[\"dropped\"][\"redirect\"]")" -eq 15 ]' "jawiki redirects"
lines=$(cat "$T"/ja/{train,val,test}.txt | wc -l)
check '[ "$lines" -ge 150 ]' "jawiki documents out: $lines"
check '! grep -q "{{\|}}\|\[\[\|<ref\|&lt;\|&quot;" "$T"/ja/*.txt' "wiki markup left in output: $(grep -o "{{.\{0,20\}\|\[\[.\{0,20\}\|<ref.\{0,20\}" "$T"/ja/*.txt | head -3)"
check 'grep -q "アンパサンド" "$T"/ja/*.txt' "known article text missing"
check '! ls "$T"/ja | grep -q tmp' "temporary files left"

# 2. A kowiki slice, bz2-compressed, detected as WikiExtractor <doc> text.
bzip2 -dc "$DATA"/wiki/kowiki-2020-wikiextractor-AA-wiki_00-24.txt.bz2 | head -n 3000 | bzip2 > "$T/ko.txt.bz2"
"$KRLLM_BIN" prepare --input "$T/ko.txt.bz2" --output "$T/ko" --no_progress 2> "$T/ko.err"
rc=$?
check '[ $rc -eq 0 ]' "kowiki slice: $(cat "$T/ko.err")"
check '[ "$(json "$T/ko/stats.json" "[\"files\"][0][\"format\"]")" = wiki-doc ]' "kowiki format"
check 'grep -q "민주당 출신 미국 39번째 대통령" "$T"/ko/*.txt' "kowiki text missing"
check '! grep -q "<doc\|</doc>" "$T"/ko/*.txt' "doc tags in output"
check '! grep -q "()\|(, " "$T"/ko/*.txt' "empty parentheses left by WikiExtractor not tidied"
check '! grep -qx "지미 카터" "$T"/ko/*.txt' "title line kept without --keep_headings"
hs=$(json "$T/ko/stats.json" '["hangul_share"]')
check 'python3 -c "import sys; sys.exit(0 if $hs > 0.5 else 1)"' "hangul share $hs"

# 3. TSV column, by name and automatically.
bzip2 -dc "$DATA"/text/nsmc_raw_reviews_excluding_test.tsv.bz2 | head -n 2001 > "$T/nsmc.tsv"
"$KRLLM_BIN" prepare --input "$T/nsmc.tsv" --output "$T/nsmc" --column review --min_length 2 --no_progress 2> "$T/nsmc.err"
rc=$?
check '[ $rc -eq 0 ]' "nsmc by name: $(cat "$T/nsmc.err")"
check 'grep -qx "전체관람가는 아닌것 같아요" "$T"/nsmc/*.txt' "a known review missing"
check '! grep -q "10275182" "$T"/nsmc/*.txt' "id column leaked into output"
"$KRLLM_BIN" prepare --input "$T/nsmc.tsv" --output "$T/nsmc2" --no_progress 2> /dev/null
check '[ "$(json "$T/nsmc2/stats.json" "[\"files\"][0][\"columns\"]")" = review ]' "automatic column choice"
"$KRLLM_BIN" prepare --input "$T/nsmc.tsv" --output "$T/nsmc3" --column nosuch --no_progress 2> "$T/nsmc3.err"
rc=$?
check '[ $rc -eq 1 ] && grep -q "no column .nosuch." "$T/nsmc3.err"' "unknown column: $(cat "$T/nsmc3.err")"

# 4. Bad inputs next to a good one: each reported with file and offset, the rest processed.
bzip2 -dc "$DATA"/wiki/kowiki-2020-wikiextractor-AE-wiki_00-24.txt.bz2 | head -c 3000000 | bzip2 > "$T/corrupt.txt.bz2"
size=$(stat -c %s "$T/corrupt.txt.bz2")
printf '\x55\xaa\x55\xaa\x55\xaa\x55\xaa' | dd of="$T/corrupt.txt.bz2" bs=1 seek=$((size / 2)) conv=notrunc status=none
head -c $(($(stat -c %s "$T/ko.txt.bz2") / 2)) "$T/ko.txt.bz2" > "$T/truncated.txt.bz2"
head -c 4096 /dev/urandom > "$T/binary.dat"; printf '\0' >> "$T/binary.dat"
: > "$T/empty.txt"
mkdir -p "$T/dir"; cp "$T/nsmc.tsv" "$T/dir/reviews.tsv"
"$KRLLM_BIN" prepare --input "$T/corrupt.txt.bz2" "$T/truncated.txt.bz2" "$T/missing.txt" "$T/binary.dat" "$T/empty.txt" "$T/dir" \
    --output "$T/bad" --no_progress 2> "$T/bad.err"
rc=$?
check '[ $rc -eq 1 ]' "bad inputs exit status $rc"
check 'grep -q "corrupt.txt.bz2: corrupt bzip2 data near compressed byte [0-9]" "$T/bad.err"' "corrupt bz2 message: $(cat "$T/bad.err")"
check 'grep -q "truncated.txt.bz2: bzip2 data ends unexpectedly at compressed byte [0-9]" "$T/bad.err"' "truncated bz2 message"
check 'grep -q "cannot open .*missing.txt" "$T/bad.err"' "missing file message"
check 'grep -q "binary.dat looks binary" "$T/bad.err"' "binary file message"
check 'grep -q "empty.txt is empty" "$T/bad.err"' "empty file message"
check '[ "$(json "$T/bad/stats.json" "[\"problems\"]")" -eq 5 ]' "problems counted"
check 'grep -qx "전체관람가는 아닌것 같아요" "$T"/bad/*.txt' "good input (directory) not processed"
check '[ "$(json "$T/bad/stats.json" "[\"files\"][0][\"documents\"]")" -gt 0 ]' "documents before the corruption kept"

# 5. Usage errors write nothing.
"$KRLLM_BIN" prepare --input "$T/nsmc.tsv" --output "$T/usage" --normalize nfd 2> /dev/null
rc=$?
check '[ $rc -eq 2 ] && [ ! -e "$T/usage/train.txt" ]' "bad flag"
exit $fail
