/* krllm: one command for the whole pipeline — prepare, tokenizer, tokenize, train, generate,
 * chat, bench, serve, export. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"prepare", cmd_prepare, "clean, deduplicate and split raw Korean corpora (Wikipedia dumps, text, TSV/CSV)"},
    {"tokenizer", cmd_tokenizer, "train a BPE tokenizer (SentencePiece-compatible .model); encode / decode"},
    {"tokenize", cmd_tokenize, "turn text into binary token shards for training"},
    {"config", cmd_config, "print a model architecture and its exact parameter count"},
    {"train", cmd_train, "train a Llama-style model (CPU or CUDA), with checkpoints and resume"},
    {"generate", cmd_generate, "generate text from a checkpoint"},
    {"chat", cmd_chat, "chat with a checkpoint in the terminal"},
    {"bench", cmd_bench, "measure inference speed (prefill, decode, time to first token, memory)"},
    {"serve", cmd_serve, "serve an OpenAI-compatible HTTP API, a web demo and a training dashboard"},
    {"export", cmd_export, "write a checkpoint as GGUF (llama.cpp) or safetensors (Hugging Face transformers)"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out, "usage: krllm <command> [flags]   (krllm <command> --help for its flags)\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "krllm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
