#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the train stage lands. */
int cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm train' is not available in this build yet");
    kr_print_error();
    return 2;
}
