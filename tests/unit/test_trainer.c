/* The training loop on a tiny model (d32, 2 layers, vocabulary 64) and synthetic shards:
 * resuming from checkpoint-k reproduces the uninterrupted run bit for bit; a NaN loss stops
 * training without writing a checkpoint; --data_size restricts training to the start of the
 * shard, where a small model overfits a repeated corpus below loss 1.0. */
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/rng.h"
#include "data/shard.h"
#include "model_testutil.h"
#include "test.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static char tmp[256];

static const char *tmp_path(char *out, const char *rel) {
    snprintf(out, 1024, "%s/%s", tmp, rel);
    return out;
}

/* Sets a config path field to <tmp>/<rel>. */
#define SET_PATH(field, rel) snprintf(field, sizeof field, "%s/%s", tmp, rel)

/* `structured` tokens of a small repetitive language (8 fixed sentences of ids 1..63, each followed
 * by separator 0), then `noise` uniformly random ids. */
static void write_shard(const char *path, int structured, int noise, uint64_t seed) {
    Rng r;
    rng_seed(&r, 1234); /* the same sentences in every shard */
    uint32_t sent[8][16];
    int len[8];
    for (int s = 0; s < 8; s++) {
        len[s] = 6 + (int)rng_below(&r, 8);
        for (int i = 0; i < len[s]; i++) sent[s][i] = 1 + (uint32_t)rng_below(&r, 63);
    }
    rng_seed(&r, seed);
    ShardWriter w;
    CHECK(shard_writer_open(&w, path, 64, 0) == 0);
    for (int n = 0; n < structured;) {
        int s = (int)rng_below(&r, 8);
        CHECK(shard_writer_append_doc(&w, sent[s], len[s]) == 0);
        n += len[s] + 1;
    }
    uint32_t *ids = malloc((size_t)noise * sizeof *ids + 1);
    for (int i = 0; i < noise; i++) ids[i] = (uint32_t)rng_below(&r, 64);
    CHECK(shard_writer_append(&w, ids, (size_t)noise) == 0);
    free(ids);
    CHECK(shard_writer_close(&w) == 0);
}

static TrainerOptions tiny_options(const char *out_rel, int max_steps) {
    TrainerOptions o;
    memset(&o, 0, sizeof o);
    o.mc = tiny_config(64, 32, 2, 4, 2, 64, 64, 0.02f);
    o.have_model_config = 1;
    TrainConfig *c = &o.tc;
    train_config_defaults(c);
    c->batch_size = 4;
    c->gradient_accumulation_steps = 2;
    c->seq_len = 32;
    c->max_steps = max_steps;
    c->seed = 5;
    strcpy(c->mixed_precision, "no");
    c->num_threads = 1;
    c->learning_rate = 1e-2f;
    c->min_lr = 1e-3f;
    c->warmup_steps = 5;
    c->eval_interval = 10;
    c->eval_steps = 2;
    c->save_interval = 10;
    c->save_total_limit = 0;
    c->log_interval = 1;
    SET_PATH(c->train_data, "train.bin");
    SET_PATH(c->val_data, "val.bin");
    SET_PATH(c->output_dir, out_rel);
    return o;
}

static char *read_text(const char *rel) {
    char p[1024];
    char *s = kr_read_file(tmp_path(p, rel), NULL);
    CHECK_MSG(s != NULL, "%s", kr_last_error());
    return s;
}

/* The part of a train.log line that must reproduce exactly: loss, lr and grad_norm. */
static int same_numbers(const char *a, const char *b) {
    const char *x = strstr(a, "\"loss\""), *y = strstr(b, "\"loss\"");
    const char *xe = strstr(a, "\"tokens_per_sec\""), *ye = strstr(b, "\"tokens_per_sec\"");
    return x && y && xe && ye && xe - x == ye - y && memcmp(x, y, xe - x) == 0;
}

/* Every line of `log` for steps > from matches the line of the same index in `ref`. */
static void compare_logs(const char *ref, const char *log, int from, int to) {
    char want[64];
    for (int step = from + 1; step <= to; step++) {
        snprintf(want, sizeof want, "{\"step\":%d,", step);
        const char *a = strstr(ref, want), *b = strstr(log, want);
        CHECK_MSG(a && b && same_numbers(a, b), "step %d differs after resuming", step);
    }
}

static void check_resume(void) {
    char p[1024], q[1024];
    TrainerOptions o = tiny_options("run", 30);
    TrainerResult r1, r2;
    CHECK_MSG(trainer_run(&o, &r1) == 0, "%s", kr_last_error());
    CHECK(r1.steps == 30 && isfinite(r1.last_loss) && isfinite(r1.last_val_loss));
    char *ref = read_text("run/train.log");
    CHECK(strstr(ref, "\"val_loss\"") && strstr(ref, "\"val_ppl\"") && strstr(ref, "\"memory_mb\""));
    CHECK(kr_file_exists(tmp_path(p, "run/loss.svg")));
    LoadedModel a, b;
    CHECK(checkpoint_load_model(tmp_path(p, "run"), &a) == 0);
    CHECK(strstr(a.dir, "/final") != NULL);

    /* Into another directory. */
    TrainerOptions o2 = tiny_options("resumed", 30);
    snprintf(o2.resume_from, sizeof o2.resume_from, "%s", tmp_path(p, "run/checkpoint-10"));
    o2.have_model_config = 0;
    CHECK_MSG(trainer_run(&o2, &r2) == 0, "%s", kr_last_error());
    CHECK(r2.last_loss == r1.last_loss && r2.last_val_loss == r1.last_val_loss);
    char *log = read_text("resumed/train.log");
    compare_logs(ref, log, 10, 30);
    CHECK(strstr(log, "{\"step\":10,") == NULL);
    free(log);
    CHECK(checkpoint_load_model(tmp_path(q, "resumed/final"), &b) == 0);
    CHECK(a.num_params == b.num_params && memcmp(a.params, b.params, a.num_params * sizeof(float)) == 0);
    checkpoint_free_model(&b);

    /* Into the same directory: train.log is cut back to step 20 and continues identically. */
    snprintf(o.resume_from, sizeof o.resume_from, "%s", tmp_path(p, "run/checkpoint-20"));
    CHECK_MSG(trainer_run(&o, &r2) == 0, "%s", kr_last_error());
    log = read_text("run/train.log");
    compare_logs(ref, log, 0, 30);
    CHECK(strlen(log) > strlen(ref) / 2 && strstr(strstr(log, "{\"step\":30,"), "\n{") == NULL); /* no duplicates */
    free(log);
    CHECK(checkpoint_load_model(tmp_path(q, "run/final"), &b) == 0);
    CHECK(memcmp(a.params, b.params, a.num_params * sizeof(float)) == 0);
    checkpoint_free_model(&b);
    checkpoint_free_model(&a);
    free(ref);

    /* A different architecture is refused. */
    o.mc.hidden_size = 64;
    CHECK(trainer_run(&o, &r2) != 0);
    CHECK_MSG(strstr(kr_last_error(), "another architecture") != NULL, "%s", kr_last_error());
}

static void check_nan_stop(void) {
    char p[1024];
    TrainerOptions o = tiny_options("nan", 30);
    o.nan_at_step = 15;
    TrainerResult r;
    CHECK(trainer_run(&o, &r) != 0);
    CHECK_MSG(strstr(kr_last_error(), "step 15: the loss is nan") != NULL, "%s", kr_last_error());
    CHECK(kr_file_exists(tmp_path(p, "nan/checkpoint-10/model.bin")));
    CHECK(!kr_file_exists(tmp_path(p, "nan/final")));
    CHECK(!kr_file_exists(tmp_path(p, "nan/checkpoint-20")));
    CHECK(!kr_file_exists(tmp_path(p, "nan/checkpoint-15")));
    char *log = read_text("nan/train.log");
    CHECK(strstr(log, "{\"step\":14,") != NULL && strstr(log, "{\"step\":15,") == NULL);
    free(log);
}

/* Trains on the structured head of a shard whose tail is noise: the loss falls below 1.0 only
 * if --data_size keeps the noise out. */
static void check_overfit(void) {
    int steps = test_sanitized() ? 120 : 250;
    TrainerOptions o = tiny_options("overfit", steps);
    SET_PATH(o.tc.train_data, "mixed.bin");
    o.tc.val_data[0] = '\0';
    o.tc.save_interval = 0;
    o.tc.log_interval = 50;
    o.tc.warmup_steps = 10;
    o.data_size = 2048 * KR_DATA_BYTES_PER_TOKEN;
    TrainerResult r;
    CHECK_MSG(trainer_run(&o, &r) == 0, "%s", kr_last_error());
    CHECK_MSG(r.last_loss < 1.0f, "loss %g after %d steps on the --data_size prefix", r.last_loss, steps);
    CHECK(isnan(r.last_val_loss));
    o.data_size = 0;
    o.tc.max_steps = 40;
    CHECK(trainer_run(&o, &r) == 0);
    CHECK_MSG(r.last_loss > 2.0f, "loss %g on mostly-noise data", r.last_loss);
}

int main(void) {
    const char *t = getenv("KRLLM_TMP");
    char p[1024];
    snprintf(tmp, sizeof tmp, "%s", t ? t : "/tmp");
    write_shard(tmp_path(p, "train.bin"), 6000, 0, 1);
    write_shard(tmp_path(p, "val.bin"), 600, 0, 2);
    write_shard(tmp_path(p, "mixed.bin"), 2100, 30000, 3);
    check_resume();
    check_nan_stop();
    check_overfit();
    return test_summary("test_trainer");
}
