#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the serve stage lands. */
int cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm serve' is not available in this build yet");
    kr_print_error();
    return 2;
}
