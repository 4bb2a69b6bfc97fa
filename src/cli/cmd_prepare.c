#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "common/util.h"
#include "text/prepare.h"

static const char *usage =
    "krllm prepare --input FILE|DIR... --output DIR [--min_length 10] [--max_length 2048] [options]\n\n"
    "Turns raw corpora (MediaWiki XML dumps, .xml.bz2 included; WikiExtractor <doc> text; plain text;\n"
    "TSV/CSV) into clean, deduplicated DIR/train.txt, val.txt, test.txt (one document per line) and\n"
    "DIR/stats.json. Exit status: 0 all inputs read, 1 outputs written but some input was skipped\n"
    "(see the warnings and stats.json), 2 nothing written";

int cmd_prepare(int argc, char **argv) {
    PrepareOptions o;
    prepare_default_options(&o);
    StrList inputs = {0};
    const char *format = "auto", *normalize = "nfc";
    int no_near = 0, no_progress = 0, seed = (int)o.seed;
    ArgSpec specs[] = {
        {"input", ARG_LIST, &inputs, "input files or directories (every file below them)", 1},
        {"output", ARG_STR, &o.output_dir, "output directory (created if needed)", 1},
        {"min_length", ARG_INT, &o.min_length, "drop documents shorter than this many characters (default 10)", 0},
        {"max_length", ARG_INT, &o.max_length, "split longer documents at paragraph/space boundaries (characters, default 2048)", 0},
        {"format", ARG_STR, &format, "auto|wiki-xml|wiki-doc|text|paragraphs|tsv|csv (default auto, per file)", 0},
        {"column", ARG_STR, &o.column, "TSV/CSV text column(s): NAME or N (1-based), comma-separated; default: auto", 0},
        {"normalize", ARG_STR, &normalize, "nfc (default) or nfkc (keeps Hangul compatibility jamo such as ㅋㅋ)", 0},
        {"keep_headings", ARG_FLAG, &o.keep_headings, "keep wiki headings (and WikiExtractor titles) as lines", 0},
        {"near_dup_threshold", ARG_DOUBLE, &o.near_dup_threshold, "MinHash/LSH Jaccard threshold (default 0.8)", 0},
        {"no_near_dedup", ARG_FLAG, &no_near, "only exact document dedup", 0},
        {"line_dedup", ARG_FLAG, &o.line_dedup, "also drop lines (paragraphs) seen before anywhere", 0},
        {"min_hangul_ratio", ARG_DOUBLE, &o.min_hangul_ratio, "drop documents whose Hangul share of non-space characters is lower (default 0: off)", 0},
        {"num_threads", ARG_INT, &o.num_threads, "worker threads (default: all cores)", 0},
        {"seed", ARG_INT, &seed, "hash seed for dedup and the train/val/test split (default 1234)", 0},
        {"no_progress", ARG_FLAG, &no_progress, "no progress display or summary line", 0},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]);
    int rc = kr_parse_args(argc, argv, specs, nspecs, usage);
    if (rc == 0 && format_parse(format, &o.format) != 0) rc = -1;
    if (rc == 0) {
        if (strcmp(normalize, "nfc") == 0) o.norm = NORM_NFC;
        else if (strcmp(normalize, "nfkc") == 0) o.norm = NORM_NFKC;
        else rc = kr_error("--normalize must be nfc or nfkc, got '%s'", normalize);
    }
    if (rc != 0) {
        if (rc < 0) kr_print_error();
        strlist_free(&inputs);
        return rc < 0 ? 2 : 0;
    }
    o.inputs = inputs.items;
    o.ninputs = inputs.n;
    o.near_dedup = !no_near;
    o.progress = !no_progress;
    o.seed = (uint64_t)(unsigned)seed;
    int problems = 0;
    rc = prepare_run(&o, &problems);
    strlist_free(&inputs);
    if (rc != 0) {
        kr_print_error();
        return 2;
    }
    if (problems) {
        fprintf(stderr, "krllm: %d input%s skipped in whole or in part (see the warnings above and stats.json)\n", problems, problems == 1 ? " was" : "s were");
        return 1;
    }
    return 0;
}
