#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the tokenizer stage lands. */
int cmd_tokenizer(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm tokenizer' is not available in this build yet");
    kr_print_error();
    return 2;
}
