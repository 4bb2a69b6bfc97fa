/* krllm generate: text from a checkpoint, streamed as it is decoded; or many prompts at once
 * (--prompts_file), decoded together in batches, with the throughput reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/gen_flags.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/util.h"
#include "infer/assets.h"

static void print_stats(const Engine *e, double wall) {
    EngineStats s = engine_stats(e);
    fprintf(stderr, "\n[prefill %lld tokens in %.1f ms (%.0f tok/s); decode %lld tokens in %.2f s (%.1f tok/s); total %.2f s]\n",
            (long long)s.prefill_tokens, s.prefill_seconds * 1e3, s.prefill_seconds > 0 ? s.prefill_tokens / s.prefill_seconds : 0,
            (long long)s.decode_tokens, s.decode_seconds, s.decode_seconds > 0 ? s.decode_tokens / s.decode_seconds : 0, wall);
}

static int generate_one(Engine *e, const Tokenizer *tok, const char *prompt, const GenRequest *req) {
    int32_t *ids;
    int n;
    if (infer_encode(tok, prompt, 1, &ids, &n) != 0) return -1;
    int64_t id = engine_add(e, ids, n, req);
    free(ids);
    if (id < 0) return -1;
    fputs(prompt, stdout);
    fflush(stdout);
    double t0 = kr_now();
    const EngineEvent *ev;
    while (engine_active(e) > 0) {
        int k = engine_step(e, &ev);
        if (k < 0) return -1;
        for (int i = 0; i < k; i++) fwrite(ev[i].text, 1, ev[i].text_len, stdout);
        fflush(stdout);
    }
    putchar('\n');
    print_stats(e, kr_now() - t0);
    return 0;
}

/* Non-empty lines of a file (malloc'd copies). */
static int read_prompts(const char *path, StrList *out) {
    size_t size;
    char *text = kr_read_file(path, &size);
    if (!text) return -1;
    int rc = 0;
    for (char *line = strtok(text, "\r\n"); line && rc == 0; line = strtok(NULL, "\r\n"))
        if (line[strspn(line, " \t")]) rc = strlist_push(out, line);
    free(text);
    if (rc == 0 && out->n == 0) rc = kr_error("%s: no prompts (one per line)", path);
    return rc;
}

static int generate_batch(Engine *e, const Tokenizer *tok, const StrList *prompts, const GenRequest *req) {
    int n = prompts->n, next = 0, done = 0, rc = 0;
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    char **texts = calloc((size_t)n, sizeof *texts);
    if (!ids || !texts) {
        free(ids);
        free(texts);
        return kr_error("out of memory");
    }
    double t0 = kr_now();
    long long generated = 0;
    while (done < n && rc == 0) {
        while (next < n && engine_free_slots(e) > 0 && rc == 0) {
            int32_t *tk;
            int nt;
            rc = infer_encode(tok, prompts->items[next], 1, &tk, &nt);
            if (rc == 0) {
                ids[next] = engine_add(e, tk, nt, req);
                free(tk);
                if (ids[next] < 0) rc = kr_error("prompt %d: %s", next + 1, kr_last_error());
                next++;
            }
        }
        const EngineEvent *ev;
        int k = rc == 0 ? engine_step(e, &ev) : 0;
        if (k < 0) rc = -1;
        for (int i = 0; i < k && rc == 0; i++) {
            generated++;
            if (!ev[i].finish) continue;
            int p = 0;
            while (p < next && ids[p] != ev[i].id) p++;
            if (p == next) continue; /* not one of ours (cannot happen) */
            size_t len;
            const char *t = engine_text(e, ev[i].id, &len);
            texts[p] = strndup(t ? t : "", t ? len : 0);
            done++;
        }
    }
    double wall = kr_now() - t0;
    for (int i = 0; i < n && rc == 0; i++) printf("### %d\n%s%s\n\n", i + 1, prompts->items[i], texts[i] ? texts[i] : "");
    if (rc == 0) {
        print_stats(e, wall);
        fprintf(stderr, "[%d prompts, %lld new tokens, throughput %.1f tok/s]\n", n, generated, generated / wall);
    }
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(ids);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    GenFlags f;
    ArgSpec specs[GEN_FLAGS_COUNT + 3];
    gen_flags_init(&f, specs);
    const char *prompt = NULL, *prompts_file = NULL;
    int max_batch = 8;
    specs[GEN_FLAGS_COUNT] = (ArgSpec){"prompt", ARG_STR, &prompt, "text to continue", 0};
    specs[GEN_FLAGS_COUNT + 1] = (ArgSpec){"prompts_file", ARG_STR, &prompts_file, "many prompts, one per line, decoded in batches", 0};
    specs[GEN_FLAGS_COUNT + 2] = (ArgSpec){"max_batch", ARG_INT, &max_batch, "sequences decoded together with --prompts_file (default 8)", 0};
    int rc = kr_parse_args(argc, argv, specs, GEN_FLAGS_COUNT + 3,
                           "krllm generate --checkpoint DIR (--prompt TEXT | --prompts_file FILE) [--max_length N] [sampling flags]");
    if (rc != 0) {
        strlist_free(&f.stop);
        return kr_args_exit_status(rc);
    }
    GenRequest req;
    InferPrecision prec;
    StrList prompts = {0};
    if ((!prompt) == (!prompts_file)) rc = kr_error("give one of --prompt TEXT or --prompts_file FILE");
    else if (max_batch < 1) rc = kr_error("--max_batch must be at least 1");
    else if (gen_flags_apply(&f, &req, &prec) != 0 || (prompts_file && read_prompts(prompts_file, &prompts) != 0)) rc = -1;
    if (rc != 0) {
        kr_print_error();
        strlist_free(&f.stop);
        strlist_free(&prompts);
        return 2;
    }
    InferAssets a;
    Engine *e = NULL;
    rc = infer_assets_load(&a, f.checkpoint, f.tokenizer, 1);
    if (rc == 0) {
        int batch = prompts_file ? (prompts.n < max_batch ? prompts.n : max_batch) : 1;
        EngineOptions o = infer_engine_options(&a, prec, batch, 0);
        e = engine_create(&a.model.cfg, a.model.params, &o);
        if (!e) rc = -1;
    }
    if (rc == 0) rc = prompts_file ? generate_batch(e, a.tok, &prompts, &req) : generate_one(e, a.tok, prompt, &req);
    if (rc != 0) kr_print_error();
    engine_free(e);
    infer_assets_free(&a);
    strlist_free(&f.stop);
    strlist_free(&prompts);
    return rc == 0 ? 0 : 1;
}
