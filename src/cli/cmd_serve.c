/* krllm serve: the OpenAI-compatible HTTP API, the web demo and the training dashboard. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "serve/generator.h"
#include "serve/server.h"

/* Runs until SIGINT or SIGTERM. The signals are blocked in every thread and taken here. */
static void wait_for_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    sigwait(&set, &sig);
    fprintf(stderr, "krllm serve: %s received, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
}

int cmd_serve(int argc, char **argv) {
    const char *checkpoint = NULL, *tokenizer = NULL, *precision = "fp32", *host = "127.0.0.1", *api_key = NULL, *logdir = NULL;
    int port = 8080, max_batch = 8, max_tokens_cap = 1024, fake_model = 0, fake_context = 256, fake_step_ms = 0, threads = 0;
    int64_t max_body = 1 << 20;
    ArgSpec specs[] = {
        {"checkpoint", ARG_STR, &checkpoint, "checkpoint directory to serve (optional with --logdir)", 0},
        {"tokenizer", ARG_STR, &tokenizer, "tokenizer .model (default: the checkpoint's own)", 0},
        {"precision", ARG_STR, &precision, "weights for inference: fp32, bf16, int8, int8_row (default fp32)", 0},
        {"num_threads", ARG_INT, &threads, "CPU threads for inference (default: all)", 0},
        {"host", ARG_STR, &host, "address to listen on (default 127.0.0.1; 0.0.0.0 opens it to the network)", 0},
        {"port", ARG_INT, &port, "TCP port (default 8080; 0 picks a free one and prints it)", 0},
        {"api_key", ARG_STR, &api_key, "require 'Authorization: Bearer KEY' on /v1/* requests", 0},
        {"max_batch", ARG_INT, &max_batch, "sequences decoded together (default 8)", 0},
        {"max_tokens_cap", ARG_INT, &max_tokens_cap, "largest max_tokens a request may ask for (default 1024)", 0},
        {"max_body_bytes", ARG_SIZE, &max_body, "largest request body (default 1MB)", 0},
        {"logdir", ARG_STR, &logdir, "training run directory whose train.log the /train dashboard shows", 0},
        {"fake_model", ARG_FLAG, &fake_model, "testing only: a deterministic stand-in model instead of a checkpoint", 0},
        {"fake_context", ARG_INT, &fake_context, "testing only: the stand-in model's context (default 256)", 0},
        {"fake_step_ms", ARG_INT, &fake_step_ms, "testing only: milliseconds per stand-in decoding step", 0},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]);
    int rc = kr_parse_args(argc, argv, specs, nspecs,
                           "krllm serve --checkpoint DIR [--host 127.0.0.1] [--port 8080] [--api_key KEY] "
                           "[--max_batch N] [--max_tokens_cap N] [--max_body_bytes N] [--logdir DIR] [--precision P] "
                           "[--tokenizer FILE] [--num_threads N]");
    if (rc != 0) return kr_args_exit_status(rc);
    if (!checkpoint && !logdir && !fake_model) {
        kr_error("give --checkpoint DIR (a model to serve) and/or --logdir DIR (a training dashboard)");
        kr_print_error();
        return 2;
    }
    if (max_batch < 1 || max_batch > 256 || max_tokens_cap < 1 || max_body < 64 || fake_context < 2 ||
        fake_step_ms < 0) {
        kr_error("--max_batch must be 1..256, --max_tokens_cap at least 1, --max_body_bytes at least 64");
        kr_print_error();
        return 2;
    }
    /* Block the signals before any thread starts so that only sigwait sees them; a client that
     * hangs up must not kill the server. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    Generator *g = NULL;
    if (fake_model) g = fake_generator_create(max_batch, fake_context, fake_step_ms);
    else if (checkpoint) g = engine_generator_create(checkpoint, tokenizer, precision, max_batch, threads);
    if ((fake_model || checkpoint) && !g) {
        kr_print_error();
        return 1;
    }
    ServerOptions opt = {
        .host = host,
        .port = port,
        .api_key = api_key,
        .max_body_bytes = max_body,
        .max_tokens_cap = max_tokens_cap,
        .default_max_tokens = 256,
        .logdir = logdir,
    };
    Server *s = server_start(&opt, g);
    if (!s) {
        kr_print_error();
        generator_destroy(g);
        return 1;
    }
    const char *shown = strchr(host, ':') ? "[%s]" : "%s";
    fprintf(stdout, "krllm serve: listening on http://");
    fprintf(stdout, shown, host);
    fprintf(stdout, ":%d/  (model: %s, dashboard: %s)\n", server_port(s), g ? g->model_id : "none",
            logdir ? "/train" : "off");
    fflush(stdout);
    wait_for_signal();
    server_stop(s);
    generator_destroy(g);
    return 0;
}
