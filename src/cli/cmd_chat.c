#include "cli/commands.h"
#include "common/error.h"

/* Placeholder until the chat stage lands. */
int cmd_chat(int argc, char **argv) {
    (void)argc;
    (void)argv;
    kr_error("'krllm chat' is not available in this build yet");
    kr_print_error();
    return 2;
}
