/* krllm chat: a multi-turn conversation in the terminal (or through a pipe). Lines are user
 * messages; /reset forgets the conversation, /exit (or end of input) leaves; Ctrl-C stops the
 * reply being written and returns to the prompt. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/gen_flags.h"
#include "common/error.h"
#include "infer/assets.h"
#include "infer/chat_template.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    Engine *engine;
    const Tokenizer *tok;
    ChatTemplate tmpl;
    const char *system;
    GenRequest req;
    StrList turns; /* user, assistant, user, ... */
    const char *stops[17];
} Chat;

static void drop_oldest_exchange(StrList *turns) {
    free(turns->items[0]);
    free(turns->items[1]);
    memmove(turns->items, turns->items + 2, (size_t)(turns->n - 2) * sizeof *turns->items);
    turns->n -= 2;
}

/* Encodes the conversation, forgetting the oldest exchanges until the reply fits the context. */
static int encode_conversation(Chat *c, int32_t **ids, int *n) {
    int ctx = infer_model_context(engine_model(c->engine));
    for (;;) {
        char *text = chat_template_render(&c->tmpl, c->system, (const char *const *)c->turns.items, c->turns.n);
        if (!text) return -1;
        int rc = infer_encode(c->tok, text, 1, ids, n);
        free(text);
        if (rc != 0) return -1;
        if (*n + c->req.max_new_tokens <= ctx || (*n < ctx && c->turns.n == 1)) return 0;
        free(*ids);
        if (c->turns.n == 1) return kr_error("the message is too long for the context of %d tokens", ctx);
        drop_oldest_exchange(&c->turns);
    }
}

/* Streams one reply to stdout and returns it (malloc'd), or NULL on error. */
static char *reply(Chat *c, uint64_t seed) {
    int32_t *ids;
    int n;
    if (encode_conversation(c, &ids, &n) != 0) return NULL;
    c->req.sampler.seed = seed;
    int64_t id = engine_add(c->engine, ids, n, &c->req);
    free(ids);
    if (id < 0) return NULL;
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    int started = 0, stopped = 0;
    while (engine_active(c->engine) > 0) {
        if (interrupted && !stopped) {
            interrupted = 0;
            stopped = 1;
            engine_cancel(c->engine, id);
            break;
        }
        const EngineEvent *ev;
        int k = engine_step(c->engine, &ev);
        if (k < 0) {
            free(out);
            return NULL;
        }
        for (int i = 0; i < k; i++) {
            const char *t = ev[i].text;
            size_t tl = ev[i].text_len;
            while (!started && tl && (*t == ' ' || *t == '\n')) t++, tl--; /* the template's separator */
            if (!tl) continue;
            started = 1;
            fwrite(t, 1, tl, stdout);
            if (len + tl + 1 > cap) {
                cap = (len + tl + 1) * 2;
                char *nb = realloc(out, cap);
                if (!nb) {
                    free(out);
                    kr_error("out of memory");
                    return NULL;
                }
                out = nb;
            }
            memcpy(out + len, t, tl);
            len += tl;
        }
        fflush(stdout);
    }
    while (len && (out[len - 1] == ' ' || out[len - 1] == '\n')) len--;
    out[len] = 0;
    puts(stopped ? " [stopped]" : "");
    fflush(stdout);
    return out;
}

static int chat_loop(Chat *c) {
    int tty = isatty(STDIN_FILENO);
    if (tty) printf("krllm chat — /reset forgets the conversation, /exit leaves, Ctrl-C stops a reply\n");
    char *line = NULL;
    size_t cap = 0;
    uint64_t base_seed = c->req.sampler.seed;
    int rc = 0;
    for (;;) {
        if (tty) {
            fputs("\n> ", stdout);
            fflush(stdout);
        }
        interrupted = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (interrupted && !feof(stdin)) { /* Ctrl-C at the prompt: a fresh line */
                clearerr(stdin);
                if (tty) fputs("\n(/exit leaves)", stdout);
                continue;
            }
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            strlist_free(&c->turns);
            puts("[conversation cleared]");
            fflush(stdout);
            continue;
        }
        if (strlist_push(&c->turns, line) != 0) {
            rc = -1;
            break;
        }
        /* the seed follows the conversation's length, so a reply depends only on (history, seed) */
        char *r = reply(c, base_seed + (uint64_t)(c->turns.n / 2));
        if (!r) { /* report, forget this message, go on */
            kr_print_error();
            free(c->turns.items[--c->turns.n]);
            continue;
        }
        rc = strlist_push(&c->turns, r);
        free(r);
        if (rc != 0) break;
    }
    free(line);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    GenFlags f;
    ArgSpec specs[GEN_FLAGS_COUNT + 1];
    gen_flags_init(&f, specs);
    Chat c;
    memset(&c, 0, sizeof c);
    specs[GEN_FLAGS_COUNT] = (ArgSpec){"system", ARG_STR, &c.system, "system message that opens the conversation", 0};
    int rc = kr_parse_args(argc, argv, specs, GEN_FLAGS_COUNT + 1, "krllm chat --checkpoint DIR [--system TEXT] [sampling flags]");
    if (rc != 0) {
        strlist_free(&f.stop);
        return kr_args_exit_status(rc);
    }
    InferPrecision prec;
    if (gen_flags_apply(&f, &c.req, &prec) != 0 || f.stop.n > 16) {
        if (f.stop.n > 16) kr_error("at most 16 --stop strings");
        kr_print_error();
        strlist_free(&f.stop);
        return 2;
    }
    InferAssets a;
    rc = infer_assets_load(&a, f.checkpoint, f.tokenizer, 1);
    if (rc == 0) {
        EngineOptions o = infer_engine_options(&a, prec, 1, 0);
        if (!(c.engine = engine_create(&a.model.cfg, a.model.params, &o))) rc = -1;
    }
    if (rc == 0) {
        c.tok = a.tok;
        chat_template_init(&c.tmpl, a.tok);
        int ns = 0;
        for (int i = 0; i < f.stop.n; i++) c.stops[ns++] = f.stop.items[i];
        if (c.tmpl.stop_text) c.stops[ns++] = c.tmpl.stop_text;
        c.req.stop = c.stops;
        c.req.num_stop = ns;
        c.req.stop_tokens = c.tmpl.stop_tokens;
        c.req.num_stop_tokens = c.tmpl.num_stop_tokens;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C also interrupts a pending read */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        rc = chat_loop(&c);
    }
    if (rc != 0) kr_print_error();
    engine_free(c.engine);
    infer_assets_free(&a);
    strlist_free(&c.turns);
    strlist_free(&f.stop);
    return rc == 0 ? 0 : 1;
}
