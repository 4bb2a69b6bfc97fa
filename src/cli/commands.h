/* The krllm subcommands. Each takes the arguments after its name and returns the exit status. */
#ifndef KR_COMMANDS_H
#define KR_COMMANDS_H

int cmd_config(int argc, char **argv);    /* cmd_config.c: print an architecture and its parameter count */
int cmd_export(int argc, char **argv);    /* cmd_export.c: write a checkpoint as GGUF or Hugging Face safetensors */
int cmd_prepare(int argc, char **argv);   /* cmd_prepare.c: raw corpora -> clean train/val/test text */
int cmd_tokenizer(int argc, char **argv); /* cmd_tokenizer.c: train / encode / decode a BPE tokenizer */
int cmd_tokenize(int argc, char **argv);  /* cmd_tokenize.c: text -> binary token shards */
int cmd_train(int argc, char **argv);     /* cmd_train.c: train a model */
int cmd_generate(int argc, char **argv);  /* cmd_generate.c: text generation from a checkpoint */
int cmd_chat(int argc, char **argv);      /* cmd_chat.c: interactive chat */
int cmd_bench(int argc, char **argv);     /* cmd_bench.c: inference benchmark */
int cmd_serve(int argc, char **argv);     /* cmd_serve.c: OpenAI-compatible HTTP server */

#endif
