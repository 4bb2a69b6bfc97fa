/* krllm tokenizer train | encode | decode */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "common/util.h"
#include "tokenizer/encode_parallel.h"
#include "tokenizer/line_blocks.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/trainer.h"

static int parse_bool_text(const char *flag, const char *v, int *out) {
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) *out = 0;
    else return kr_error("--%s expects true or false, got '%s'", flag, v);
    return 0;
}

/* "a,b,c" → list items (empty items are skipped). */
static int split_commas(const char *s, StrList *out) {
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n) {
            char *item = strndup(s, n);
            int rc = item ? strlist_push(out, item) : kr_error("out of memory");
            free(item);
            if (rc) return -1;
        }
        s += n + (e ? 1 : 0);
    }
    return 0;
}

static int finish(int rc) {
    if (rc < 0) kr_print_error();
    return rc < 0 ? 1 : 0;
}

static int train(int argc, char **argv) {
    BpeTrainOptions o;
    bpe_train_options_default(&o);
    const char *model_type = "bpe", *output = NULL, *byte_fallback = "true", *user = NULL;
    ArgSpec specs[] = {
        {"input", ARG_LIST, &o.inputs, "training text files, one sentence or paragraph per line", 1},
        {"output", ARG_STR, &output, "output prefix: writes PREFIX.model and PREFIX.vocab", 1},
        {"vocab_size", ARG_INT, &o.vocab_size, "vocabulary size (default 32000)", 0},
        {"model_type", ARG_STR, &model_type, "bpe (the only type)", 0},
        {"character_coverage", ARG_DOUBLE, &o.character_coverage, "share of characters kept as pieces (0.9995)", 0},
        {"byte_fallback", ARG_STR, &byte_fallback, "true: rare characters become <0xNN> byte pieces (default true)", 0},
        {"input_sentence_size", ARG_I64, &o.input_sentence_size, "train on the first N lines only (0 = all)", 0},
        {"num_threads", ARG_INT, &o.num_threads, "threads for counting (default 2)", 0},
        {"user_defined_symbols", ARG_STR, &user, "comma-separated pieces kept whole, e.g. \"<|user|>,<|assistant|>\"", 0},
        {"max_sentencepiece_length", ARG_INT, &o.max_piece_length, "longest piece in characters (16)", 0},
    };
    int rc = kr_parse_args(argc, argv, specs, sizeof specs / sizeof specs[0],
                           "krllm tokenizer train --input FILE... --output PREFIX [--vocab_size 32000] [flags]");
    if (rc == 0 && strcmp(model_type, "bpe") != 0) rc = kr_error("--model_type %s is not supported; use bpe", model_type);
    if (rc == 0) rc = parse_bool_text("byte_fallback", byte_fallback, &o.byte_fallback);
    if (rc == 0 && user) rc = split_commas(user, &o.user_defined);
    if (rc == 0 && o.num_threads < 1) rc = kr_error("--num_threads must be at least 1");
    if (rc == 0) rc = tokenizer_make_parent_dir(output); /* fail before training, not after */
    SpmModel m;
    int have_model = 0;
    double t0 = kr_now();
    if (rc == 0) rc = bpe_train(&o, &m), have_model = rc == 0;
    if (rc == 0) {
        free(m.model_prefix);
        m.model_prefix = strdup(output);
        rc = tokenizer_fill_self_test(&m);
    }
    if (rc == 0) rc = tokenizer_write_files(&m, output);
    if (rc == 0)
        fprintf(stderr, "wrote %s.model and %s.vocab: %d pieces in %.1f s (peak memory %.0f MB)\n", output, output,
                m.n_pieces, kr_now() - t0, kr_peak_rss_mb());
    if (have_model) spm_model_free(&m);
    strlist_free(&o.inputs);
    strlist_free(&o.user_defined);
    return rc == 1 ? 0 : finish(rc);
}

/* format and threads are NULL for decode. */
static int load_for_cli(int argc, char **argv, const char *usage, const char **format, int *threads, Tokenizer **t) {
    const char *model = NULL;
    ArgSpec specs[] = {
        {"model", ARG_STR, &model, "tokenizer model (.model)", 1},
        {"output_format", ARG_STR, format, "id or piece (default id)", 0},
        {"num_threads", ARG_INT, threads, "encoding threads (default 1; output order is kept)", 0},
    };
    int rc = kr_parse_args(argc, argv, specs, format ? 3 : 1, usage);
    if (rc != 0) return rc;
    if (threads && (*threads < 1 || *threads > 256)) return kr_error("--num_threads must be 1..256");
    if (format && strcmp(*format, "id") != 0 && strcmp(*format, "piece") != 0)
        return kr_error("--output_format must be id or piece, got '%s'", *format);
    return tokenizer_load(model, t);
}

/* One share's formatted output lines. */
typedef struct {
    char *data;
    size_t len, cap;
    int pieces; /* --output_format piece */
} TextOut;

static int text_reserve(TextOut *o, size_t more) {
    return kr_grow((void **)&o->data, &o->cap, o->len + more, 1, 1 << 16, "output text");
}

/* Formats one line: ids as decimal numbers (printf is a large share of the time at these speeds)
 * or the pieces as spm_encode shows them. */
static int format_line(void *out, const Tokenizer *t, const EncodeScratch *s) {
    TextOut *o = out;
    size_t unk = 0, len;
    for (size_t i = 0; i < s->n; i++) {
        if (o->pieces) {
            const char *p = encoded_piece_text(t, s, i, &unk, &len);
            if (text_reserve(o, len + 1) != 0) return -1;
            memcpy(o->data + o->len, p, len);
            o->len += len;
        } else {
            if (text_reserve(o, 12) != 0) return -1;
            char buf[12], *p = buf + sizeof buf;
            uint32_t v = s->ids[i];
            do *--p = (char)('0' + v % 10), v /= 10;
            while (v);
            memcpy(o->data + o->len, p, (size_t)(buf + sizeof buf - p));
            o->len += (size_t)(buf + sizeof buf - p);
        }
        o->data[o->len++] = i + 1 < s->n ? ' ' : '\n';
    }
    if (s->n == 0) {
        if (text_reserve(o, 1) != 0) return -1;
        o->data[o->len++] = '\n';
    }
    return 0;
}

typedef struct {
    const Tokenizer *t;
    EncodeShare *shares;
    TextOut *outs;
    int threads;
} EncodeJob;

static int encode_block(void *ctx, char *block, const size_t *starts, size_t nlines) {
    EncodeJob *job = ctx;
    for (int k = 0; k < job->threads; k++) job->outs[k].len = 0;
    if (encode_block_parallel(job->t, job->shares, job->threads, block, starts, nlines, format_line) != 0) return -1;
    for (int k = 0; k < job->threads; k++)
        if (job->outs[k].len && fwrite(job->outs[k].data, 1, job->outs[k].len, stdout) != job->outs[k].len)
            return kr_error("writing the output failed: %s", strerror(errno));
    return fflush(stdout) == 0 ? 0 : kr_error("writing the output failed: %s", strerror(errno));
}

static int encode(int argc, char **argv) {
    const char *format = "id";
    int threads = 1;
    Tokenizer *t = NULL;
    int rc = load_for_cli(argc, argv, "krllm tokenizer encode --model FILE [--output_format id|piece] [--num_threads N] < text > ids",
                          &format, &threads, &t);
    if (rc != 0) return rc == 1 ? 0 : finish(rc);
    EncodeShare *shares = calloc(threads, sizeof *shares);
    TextOut *outs = calloc(threads, sizeof *outs);
    rc = shares && outs ? 0 : kr_error("out of memory");
    for (int k = 0; rc == 0 && k < threads; k++) {
        outs[k].pieces = !strcmp(format, "piece");
        shares[k].out = &outs[k];
    }
    EncodeJob job = {t, shares, outs, threads};
    if (rc == 0) rc = read_line_blocks(stdin, "stdin", encode_block, &job);
    for (int k = 0; shares && outs && k < threads; k++) encode_scratch_free(&shares[k].scratch), free(outs[k].data);
    free(shares), free(outs);
    tokenizer_free(t);
    return finish(rc);
}

static int decode(int argc, char **argv) {
    Tokenizer *t = NULL;
    int rc = load_for_cli(argc, argv, "krllm tokenizer decode --model FILE < ids > text", NULL, NULL, &t);
    if (rc != 0) return rc == 1 ? 0 : finish(rc);
    char *line = NULL;
    size_t cap = 0, ids_cap = 0, lineno = 0;
    uint32_t *ids = NULL;
    ssize_t n;
    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t count = 0;
        for (char *p = line;;) {
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
            if (!*p) break;
            char *end;
            errno = 0;
            unsigned long v = strtoul(p, &end, 10);
            if (end == p || errno || v >= (unsigned long)tokenizer_vocab_size(t) || (*end && !strchr(" \t\r\n", *end))) {
                rc = kr_error("stdin line %zu: '%.*s' is not a token id of this model (0..%d)", lineno,
                              (int)strcspn(p, " \t\r\n"), p, tokenizer_vocab_size(t) - 1);
                break;
            }
            if (count == ids_cap) {
                ids_cap = ids_cap ? ids_cap * 2 : 256;
                uint32_t *bigger = realloc(ids, ids_cap * sizeof *ids);
                if (!bigger) {
                    rc = kr_error("out of memory");
                    break;
                }
                ids = bigger;
            }
            ids[count++] = (uint32_t)v;
            p = end;
        }
        char *text;
        size_t len;
        if (rc == 0 && (rc = tokenizer_decode(t, ids, count, &text, &len)) == 0) {
            fwrite(text, 1, len, stdout);
            putchar('\n');
            free(text);
        }
    }
    free(line);
    free(ids);
    tokenizer_free(t);
    return finish(rc);
}

int cmd_tokenizer(int argc, char **argv) {
    const char *usage = "usage: krllm tokenizer train|encode|decode [flags]   (krllm tokenizer <sub> --help)\n";
    if (argc < 1) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(argv[0], "train")) return train(argc - 1, argv + 1);
    if (!strcmp(argv[0], "encode")) return encode(argc - 1, argv + 1);
    if (!strcmp(argv[0], "decode")) return decode(argc - 1, argv + 1);
    if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "krllm tokenizer: unknown subcommand '%s'\n%s", argv[0], usage);
    return 2;
}
