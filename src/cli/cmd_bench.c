#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the bench stage lands. */
int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm bench' is not available in this build yet");
    kr_print_error();
    return 2;
}
