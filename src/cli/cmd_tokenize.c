/* krllm tokenize: text (one document per line) → a token shard for training. */
#include <stdio.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "common/util.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/trainer.h"

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *input = NULL, *output = NULL;
    int threads = 2;
    ArgSpec specs[] = {
        {"tokenizer", ARG_STR, &model, "tokenizer model (.model from 'krllm tokenizer train')", 1},
        {"input", ARG_STR, &input, "text file, one document per line (empty lines are skipped)", 1},
        {"output", ARG_STR, &output, "token shard to write (.bin)", 1},
        {"num_threads", ARG_INT, &threads, "encoding threads (default 2)", 0},
    };
    int rc = kr_parse_args(argc, argv, specs, sizeof specs / sizeof specs[0],
                           "krllm tokenize --tokenizer FILE.model --input FILE.txt --output FILE.bin");
    if (rc != 0) return kr_args_exit_status(rc);
    if (threads < 1) {
        kr_error("--num_threads must be at least 1");
        kr_print_error();
        return 2;
    }
    Tokenizer *t;
    if (tokenizer_make_parent_dir(output) != 0 || tokenizer_load(model, &t) != 0) {
        kr_print_error();
        return 1;
    }
    double t0 = kr_now();
    PretokenizeStats st;
    rc = pretokenize_file(t, input, output, threads, &st);
    tokenizer_free(t);
    if (rc != 0) {
        kr_print_error();
        return 1;
    }
    double el = kr_now() - t0;
    fprintf(stderr, "wrote %s: %llu documents, %llu tokens (with separators) from %.1f MB in %.1f s (%.1f MB/s)\n",
            output, (unsigned long long)st.docs, (unsigned long long)st.tokens, st.bytes / 1048576.0, el,
            el > 0 ? st.bytes / 1048576.0 / el : 0);
    return 0;
}
