#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the tokenize stage lands. */
int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm tokenize' is not available in this build yet");
    kr_print_error();
    return 2;
}
