#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the export stage lands. */
int cmd_export(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm export' is not available in this build yet");
    kr_print_error();
    return 2;
}
