#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the generate stage lands. */
int cmd_generate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm generate' is not available in this build yet");
    kr_print_error();
    return 2;
}
