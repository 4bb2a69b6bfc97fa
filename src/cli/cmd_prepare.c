#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the prepare stage lands. */
int cmd_prepare(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm prepare' is not available in this build yet");
    kr_print_error();
    return 2;
}
