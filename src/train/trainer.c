#include "train/trainer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/util.h"
#include "data/loader.h"
#include "model/params.h"
#include "train/checkpoint.h"
#include "train/plot_svg.h"
#include "train/schedule.h"

typedef struct {
    LossPoint *p;
    int n, cap;
} Series;

typedef struct {
    const TrainerOptions *o;
    TrainConfig tc;
    ModelConfig mc;
    char tokenizer[1024]; /* copied into every checkpoint; "" for none */
    Backend be;
    DataLoader train;
    ValIterator val;
    int has_val;
    int32_t *inputs, *targets; /* one micro-batch */
    TrainState st;
    FILE *log;
    Series train_pts, val_pts;
    double start_time, elapsed_before; /* this process's start; time spent by earlier runs (resume) */
    double window_time;                /* start of the current logging window */
    int window_step;
} Trainer;

static int series_push(Series *s, int step, float loss) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        LossPoint *p = realloc(s->p, (size_t)cap * sizeof *p);
        if (!p) return kr_error("out of memory");
        s->p = p;
        s->cap = cap;
    }
    s->p[s->n++] = (LossPoint){step, loss};
    return 0;
}

static void path_in_output(const Trainer *t, const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", t->tc.output_dir, name);
}

static void format_duration(double sec, char *buf, size_t size) {
    long s = sec > 0 && sec < 1e9 ? (long)(sec + 0.5) : 0;
    if (s >= 3600) snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60) snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, size, "%lds", s);
}

static double elapsed(const Trainer *t) { return t->elapsed_before + (kr_now() - t->start_time); }

static double memory_mb(Trainer *t) {
    if (!strcmp(t->tc.device, "cuda")) return (double)t->be.ops->memory_in_use(&t->be) / (1024.0 * 1024.0);
    return kr_peak_rss_mb();
}

static int same_architecture(const ModelConfig *a, const ModelConfig *b) {
    return a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size && a->num_layers == b->num_layers &&
           a->num_heads == b->num_heads && a->num_kv_heads == b->num_kv_heads &&
           a->intermediate_size == b->intermediate_size && a->max_seq_len == b->max_seq_len &&
           a->rope_theta == b->rope_theta && a->rms_norm_eps == b->rms_norm_eps &&
           a->tie_word_embeddings == b->tie_word_embeddings;
}

/* ---- set-up ---- */

static int choose_tokenizer(Trainer *t, const LoadedModel *resumed) {
    const char *tok = t->tc.tokenizer;
    if (!strcmp(tok, "none")) tok = "";
    else if (!tok[0] && resumed) tok = resumed->tokenizer_path;
    if (tok[0] && !kr_file_exists(tok))
        return kr_error("tokenizer %s (data.tokenizer / --tokenizer) does not exist; pass the tokenizer the shards were "
                        "made with, or --tokenizer none to save checkpoints without one", tok);
    if (strlen(tok) >= sizeof t->tokenizer) return kr_error("tokenizer path too long: %s", tok);
    strcpy(t->tokenizer, tok);
    return 0;
}

static int open_data(Trainer *t) {
    const TrainConfig *c = &t->tc;
    if (!c->train_data[0]) return kr_error("no training data: set data.train_data or pass --train_data FILE");
    uint64_t seed = kr_hash64("loader", 6, (uint64_t)c->seed);
    if (loader_open(&t->train, c->train_data, c->batch_size, c->seq_len, t->o->data_size, (uint32_t)t->mc.vocab_size, seed) != 0)
        return kr_error("training data: %s (data.train_data / --train_data; shards come from `krllm tokenize`)", kr_last_error());
    if (c->val_data[0]) {
        if (val_open(&t->val, c->val_data, c->batch_size, c->seq_len, (uint32_t)t->mc.vocab_size) != 0)
            return kr_error("validation data: %s (data.val_data / --val_data)", kr_last_error());
        t->has_val = 1;
    }
    return 0;
}

/* Warns when a resumed run differs from the one that wrote the checkpoint in ways that change
 * its course (it still runs: continuing with a longer schedule is a legitimate choice). */
static void compare_resumed(const Trainer *t, const TrainState *s) {
    const TrainConfig *c = &t->tc;
    if (s->data_crc != t->train.shard.hdr.payload_crc || s->data_tokens != t->train.num_tokens)
        kr_warn("the training data (or --data_size) differs from the checkpoint's run; batches will not match it");
    if (s->seed != c->seed || s->batch_size != c->batch_size || s->seq_len != c->seq_len ||
        s->gradient_accumulation_steps != c->gradient_accumulation_steps)
        kr_warn("seed, batch_size, seq_len or gradient_accumulation_steps differ from the checkpoint's run");
    if (s->max_steps != c->max_steps || s->warmup_steps != c->warmup_steps || s->learning_rate != c->learning_rate ||
        s->min_lr != c->min_lr)
        kr_warn("the learning-rate schedule differs from the checkpoint's run (max_steps %d -> %d)", s->max_steps, c->max_steps);
}

static int init_state(Trainer *t, const LoadedModel *resumed) {
    size_t n = t->be.layout.num_params;
    float *a = malloc(n * sizeof(float)), *b = resumed ? malloc(n * sizeof(float)) : NULL;
    int rc = 0;
    if (!a || (resumed && !b)) rc = kr_error("out of memory for %zu parameters", n);
    else if (resumed) {
        rc = checkpoint_load_optimizer(resumed->dir, n, &t->st, a, b);
        if (rc == 0) rc = t->be.ops->set_params(&t->be, resumed->params);
        if (rc == 0) rc = t->be.ops->set_opt_state(&t->be, a, b);
        if (rc == 0) {
            compare_resumed(t, &t->st);
            t->train.state = t->st.loader;
            t->elapsed_before = t->st.elapsed_sec;
        }
    } else {
        params_init_random(&t->be.layout, a, (uint64_t)t->tc.seed);
        rc = t->be.ops->set_params(&t->be, a);
        t->st.step = 0;
    }
    free(a);
    free(b);
    return rc;
}

/* On resume, train.log keeps the lines up to the checkpoint's step (a crashed run may have
 * logged further) and the loss curves are rebuilt from them. */
static int restore_log(Trainer *t, const char *path) {
    size_t size;
    char *text = kr_file_exists(path) ? kr_read_file(path, &size) : NULL;
    if (!text) return 0;
    char *kept = malloc(size + 1);
    size_t nk = 0;
    int rc = kept ? 0 : kr_error("out of memory");
    for (char *line = text; rc == 0 && *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
        if (cJSON_IsNumber(step) && step->valueint <= t->st.step) {
            memcpy(kept + nk, line, len);
            nk += len;
            kept[nk++] = '\n';
            const cJSON *loss = cJSON_GetObjectItemCaseSensitive(j, "loss");
            const cJSON *val = cJSON_GetObjectItemCaseSensitive(j, "val_loss");
            if (cJSON_IsNumber(loss)) rc = series_push(&t->train_pts, step->valueint, (float)loss->valuedouble);
            if (rc == 0 && cJSON_IsNumber(val)) rc = series_push(&t->val_pts, step->valueint, (float)val->valuedouble);
        }
        cJSON_Delete(j);
        line += len + (end ? 1 : 0);
    }
    if (rc == 0) rc = kr_write_file_atomic(path, kept, nk);
    free(kept);
    free(text);
    return rc;
}

static int open_outputs(Trainer *t) {
    char path[1200];
    if (kr_mkdir_p(t->tc.output_dir) != 0) return -1;
    path_in_output(t, "train.log", path, sizeof path);
    if (t->st.step > 0 && restore_log(t, path) != 0) return -1;
    t->log = fopen(path, t->st.step > 0 ? "a" : "w");
    if (!t->log) return kr_error("cannot open %s for writing", path);
    return 0;
}

static int setup(Trainer *t) {
    const TrainerOptions *o = t->o;
    LoadedModel resumed = {0};
    char dir[1024];
    int rc = 0;
    if (o->resume_from[0]) {
        if (checkpoint_resolve(o->resume_from, dir, sizeof dir) != 0 || checkpoint_load_model(dir, &resumed) != 0) return -1;
        if (!o->have_model_config) t->mc = resumed.cfg;
        else if (!same_architecture(&t->mc, &resumed.cfg))
            rc = kr_error("--model_config describes another architecture than checkpoint %s; drop --model_config to use "
                          "the checkpoint's", resumed.dir);
    } else if (!o->have_model_config) {
        rc = kr_error("--model_config FILE is required (unless resuming from a checkpoint)");
    }
    if (rc == 0 && t->tc.seq_len > t->mc.max_seq_len)
        rc = kr_error("training.seq_len %d exceeds the model's max_seq_len %d", t->tc.seq_len, t->mc.max_seq_len);
    if (rc == 0) rc = open_data(t);
    if (rc == 0) rc = choose_tokenizer(t, o->resume_from[0] ? &resumed : NULL);
    if (rc == 0) {
        int cuda = !strcmp(t->tc.device, "cuda");
        if (!cuda && strcmp(t->tc.mixed_precision, "no") != 0)
            fprintf(stderr, "note: the cpu backend computes in fp32; training.mixed_precision '%s' applies to cuda only\n",
                    t->tc.mixed_precision);
        BackendOptions bo = {
            .batch_size = t->tc.batch_size,
            .seq_len = t->tc.seq_len,
            .mixed_precision = cuda && strcmp(t->tc.mixed_precision, "no") != 0,
            .recompute = t->tc.gradient_checkpointing,
            .num_threads = t->tc.num_threads,
            .num_gpus = t->tc.num_gpus,
        };
        rc = backend_create(&t->be, t->tc.device, &t->mc, &bo);
    }
    if (rc == 0) rc = init_state(t, o->resume_from[0] ? &resumed : NULL);
    checkpoint_free_model(&resumed);
    if (rc == 0) {
        size_t tokens = (size_t)t->tc.batch_size * t->tc.seq_len;
        t->inputs = malloc(tokens * sizeof(int32_t));
        t->targets = malloc(tokens * sizeof(int32_t));
        if (!t->inputs || !t->targets) rc = kr_error("out of memory");
    }
    if (rc == 0) rc = open_outputs(t);
    return rc;
}

static void teardown(Trainer *t) {
    if (t->log) fclose(t->log);
    if (t->be.ops) backend_destroy(&t->be);
    loader_close(&t->train);
    if (t->has_val) val_close(&t->val);
    free(t->inputs);
    free(t->targets);
    free(t->train_pts.p);
    free(t->val_pts.p);
}

/* ---- the loop ---- */

/* One optimizer step (0-based `step`): accumulate gradients over the micro-batches, check,
 * clip, update. */
static int train_step(Trainer *t, int step, float *loss_out, float *norm_out, float *lr_out) {
    const BackendOps *ops = t->be.ops;
    int accum = t->tc.gradient_accumulation_steps;
    double loss_sum = 0;
    if (ops->zero_grad(&t->be) != 0) return -1;
    for (int a = 0; a < accum; a++) {
        float loss;
        loader_next(&t->train, t->inputs, t->targets);
        if (ops->forward_backward(&t->be, t->inputs, t->targets, 1.0f / accum, &loss) != 0) return -1;
        loss_sum += loss;
    }
    float loss = (float)(loss_sum / accum), norm;
    if (t->o->nan_at_step == step + 1) loss = NAN;
    if (ops->grad_norm(&t->be, &norm) != 0) return -1;
    if (!isfinite(loss) || !isfinite(norm))
        return kr_error("step %d: the %s is %g; training stopped and nothing was saved for this step. Lower "
                        "optimizer.learning_rate (now %g) or optimizer.max_grad_norm, or resume from the last checkpoint",
                        step + 1, isfinite(loss) ? "gradient norm" : "loss", isfinite(loss) ? norm : loss,
                        t->tc.learning_rate);
    AdamWStep s = schedule_adamw_step(&t->tc, step, clip_grad_scale(norm, t->tc.max_grad_norm));
    if (ops->adamw_step(&t->be, &s) != 0) return -1;
    t->st.tokens_seen += (uint64_t)accum * t->tc.batch_size * t->tc.seq_len;
    *loss_out = loss;
    *norm_out = norm;
    *lr_out = s.lr;
    return 0;
}

/* Mean validation loss over eval_steps batches (0: one pass over the val shard), always the same windows. */
static int evaluate(Trainer *t, float *val_loss) {
    int batches = t->tc.eval_steps;
    if (batches <= 0) batches = (int)((t->val.num_windows + t->tc.batch_size - 1) / t->tc.batch_size);
    double sum = 0;
    val_reset(&t->val);
    for (int i = 0; i < batches; i++) {
        float loss;
        val_next(&t->val, t->inputs, t->targets);
        if (t->be.ops->forward_loss(&t->be, t->inputs, t->targets, &loss) != 0) return -1;
        sum += loss;
    }
    *val_loss = (float)(sum / batches);
    if (!isfinite(*val_loss)) return kr_error("step %d: the validation loss is %g; training stopped", t->st.step, *val_loss);
    return 0;
}

static int save_checkpoint(Trainer *t, const char *name) {
    size_t n = t->be.layout.num_params;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    CheckpointWriter w = {0};
    int rc = a && b ? 0 : kr_error("out of memory while saving a checkpoint");
    if (rc == 0) rc = t->be.ops->get_params(&t->be, a);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!isfinite(a[i])) rc = kr_error("step %d: parameter %zu is %g; no checkpoint written", t->st.step, i, a[i]);
    if (rc == 0) {
        t->st.elapsed_sec = elapsed(t);
        t->st.loader = t->train.state;
        t->st.data_tokens = t->train.num_tokens;
        t->st.data_crc = t->train.shard.hdr.payload_crc;
        const TrainConfig *c = &t->tc;
        t->st.seed = c->seed;
        t->st.batch_size = c->batch_size;
        t->st.gradient_accumulation_steps = c->gradient_accumulation_steps;
        t->st.seq_len = c->seq_len;
        t->st.max_steps = c->max_steps;
        t->st.warmup_steps = c->warmup_steps;
        t->st.learning_rate = c->learning_rate;
        t->st.min_lr = c->min_lr;
        rc = checkpoint_begin(&w, c->output_dir, name);
    }
    if (rc == 0) rc = checkpoint_write_model(&w, &t->mc, a);
    if (rc == 0) rc = t->be.ops->get_opt_state(&t->be, a, b);
    if (rc == 0) rc = checkpoint_write_optimizer(&w, &t->st, a, b, n);
    if (rc == 0) rc = checkpoint_write_run_files(&w, &t->tc, t->tokenizer);
    if (rc == 0) rc = checkpoint_commit(&w);
    else checkpoint_abort(&w);
    free(a);
    free(b);
    if (rc == 0 && strcmp(name, "final") != 0) rc = checkpoint_prune(t->tc.output_dir, t->tc.save_total_limit);
    if (rc == 0) printf("saved %s/%s\n", t->tc.output_dir, name);
    return rc;
}

static int write_plot(Trainer *t) {
    char path[1200];
    path_in_output(t, "loss.svg", path, sizeof path);
    return plot_loss_svg(path, t->train_pts.p, t->train_pts.n, t->val_pts.p, t->val_pts.n);
}

/* One train.log line and one terminal line; val_loss is NAN when this step had no evaluation. */
static int log_step(Trainer *t, float loss, float lr, float norm, float val_loss) {
    int step = t->st.step;
    double now = kr_now(), span = now - t->window_time;
    int steps = step - t->window_step;
    double tokens = (double)steps * t->tc.gradient_accumulation_steps * t->tc.batch_size * t->tc.seq_len;
    double tps = span > 0 ? tokens / span : 0, eta = steps > 0 ? span / steps * (t->tc.max_steps - step) : 0;
    t->window_time = now;
    t->window_step = step;
    double el = elapsed(t), mem = memory_mb(t);
    fprintf(t->log, "{\"step\":%d,\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.9g,\"tokens_per_sec\":%.1f,\"elapsed_sec\":%.3f,"
                    "\"memory_mb\":%.1f", step, loss, lr, norm, tps, el, mem);
    if (!isnan(val_loss)) fprintf(t->log, ",\"val_loss\":%.9g,\"val_ppl\":%.9g", val_loss, exp(val_loss));
    fprintf(t->log, "}\n");
    if (fflush(t->log) != 0) return kr_error("cannot write %s/train.log", t->tc.output_dir);
    char el_s[32], eta_s[32];
    format_duration(el, el_s, sizeof el_s);
    format_duration(eta, eta_s, sizeof eta_s);
    printf("step %d/%d | loss %.4f | lr %.3e | grad norm %.3f | %.0f tok/s | %s elapsed | ETA %s | mem %.2f GB\n",
           step, t->tc.max_steps, loss, lr, norm, tps, el_s, eta_s, mem * 1048576.0 / 1e9);
    if (!isnan(val_loss)) printf("eval step %d | val_loss %.4f | val_ppl %.2f\n", step, val_loss, exp(val_loss));
    fflush(stdout);
    if (series_push(&t->train_pts, step, loss) != 0) return -1;
    if (!isnan(val_loss) && series_push(&t->val_pts, step, val_loss) != 0) return -1;
    return 0;
}

static int run_loop(Trainer *t, TrainerResult *r) {
    const TrainConfig *c = &t->tc;
    float loss = NAN, norm = 0, lr = 0, val_loss = NAN;
    int evaluated_at = -1;
    t->window_time = t->start_time;
    t->window_step = t->st.step;
    char gpus[32] = "";
    if (c->num_gpus > 1) snprintf(gpus, sizeof gpus, " (%d GPUs)", c->num_gpus);
    printf("training %s (%lld parameters) on %s%s: steps %d..%d, %d x %d tokens x %d accumulation per step\n",
           t->mc.name, (long long)t->be.layout.num_params, c->device, gpus, t->st.step + 1, c->max_steps, c->batch_size,
           c->seq_len, c->gradient_accumulation_steps);
    while (t->st.step < c->max_steps) {
        if (train_step(t, t->st.step, &loss, &norm, &lr) != 0) return -1;
        int step = ++t->st.step;
        float v = NAN;
        int eval_now = t->has_val && ((c->eval_interval > 0 && step % c->eval_interval == 0) || step == c->max_steps);
        if (eval_now) {
            if (evaluate(t, &v) != 0) return -1;
            val_loss = v;
            evaluated_at = step;
        }
        if (step % c->log_interval == 0 || step == 1 || step == c->max_steps || eval_now)
            if (log_step(t, loss, lr, norm, v) != 0) return -1;
        if (eval_now && write_plot(t) != 0) return -1;
        if (c->save_interval > 0 && step % c->save_interval == 0 && step < c->max_steps) {
            char name[32];
            snprintf(name, sizeof name, "checkpoint-%d", step);
            if (save_checkpoint(t, name) != 0) return -1;
        }
    }
    if (t->has_val && evaluated_at != t->st.step) {
        if (evaluate(t, &val_loss) != 0) return -1;
        printf("eval step %d | val_loss %.4f | val_ppl %.2f\n", t->st.step, val_loss, exp(val_loss));
    }
    if (write_plot(t) != 0 || save_checkpoint(t, "final") != 0) return -1;
    r->steps = t->st.step;
    r->last_loss = loss;
    r->last_val_loss = val_loss;
    return 0;
}

int trainer_run(const TrainerOptions *o, TrainerResult *result) {
    Trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.tc = o->tc;
    t.mc = o->mc;
    t.start_time = kr_now();
    TrainerResult r = {0, NAN, NAN};
    int rc = setup(&t);
    if (rc == 0) rc = run_loop(&t, &r);
    teardown(&t);
    if (result) *result = r;
    return rc;
}
