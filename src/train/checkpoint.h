/* Checkpoints: a directory with model.bin (config + fp32 parameters), optimizer.bin (AdamW
 * moments + training/data-loader state), model_config.yaml, training_config.yaml and, when the
 * run names one, tokenizer.model. The binary layouts are in docs/checkpoints.md.
 *
 * A training run writes <output_dir>/checkpoint-<step>/ and <output_dir>/final/; each is built
 * as <name>.tmp (every file written atomically) and renamed into place, so a crash never leaves a
 * half-written checkpoint under a real name. */
#ifndef KR_CHECKPOINT_H
#define KR_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "data/loader.h"
#include "model/config.h"
#include "train/train_config.h"

#define CKPT_MODEL_MAGIC "KRLLMMDL"
#define CKPT_OPT_MAGIC "KRLLMOPT"
#define CKPT_VERSION 1
#define CKPT_HEADER_SIZE 256 /* payloads start here: 64-byte aligned for mmap'd fp32 use */
#define CKPT_DTYPE_F32 0

typedef struct { ModelConfig cfg; float *params; size_t num_params; char dir[1024]; char tokenizer_path[1024];
                 void *map; size_t map_size; } LoadedModel;
/* path: a checkpoint directory, or a run directory (then its newest checkpoint: final, else highest step).
   params points into an mmap of model.bin when possible. tokenizer_path is "" when the checkpoint has none. */
int checkpoint_load_model(const char *path, LoadedModel *m);
void checkpoint_free_model(LoadedModel *m);
/* Writes a model.bin (+ model_config.yaml) alone, for converted/exported models and tests. */
int checkpoint_save_model(const char *dir, const ModelConfig *cfg, const float *params);

/* Resolves `path` as checkpoint_load_model does, writing the checkpoint directory to out. */
int checkpoint_resolve(const char *path, char *out, size_t out_size);

/* What optimizer.bin records besides the AdamW moments. */
typedef struct {
    int step;              /* optimizer steps completed */
    uint64_t tokens_seen;  /* training tokens consumed so far */
    double elapsed_sec;    /* training time so far (excluding restarts) */
    LoaderState loader;
    uint64_t data_tokens;  /* usable training tokens (the --data_size prefix) */
    uint32_t data_crc;     /* payload CRC of the training shard: a different file is noticed on resume */
    /* The schedule-defining settings of the run, compared on resume. */
    int seed, batch_size, gradient_accumulation_steps, seq_len, max_steps, warmup_steps;
    float learning_rate, min_lr;
} TrainState;

/* Reads optimizer.bin of checkpoint directory `dir` into st and m, v (num_params floats each). */
int checkpoint_load_optimizer(const char *dir, size_t num_params, TrainState *st, float *m, float *v);

/* Building one checkpoint directory; the writes may come one at a time so that the caller
 * needs only one or two parameter-sized buffers at once. */
typedef struct {
    char run_dir[1024];
    char dir[1100];     /* <run_dir>/<name> */
    char tmp_dir[1100]; /* <run_dir>/<name>.tmp, where the files go until commit */
} CheckpointWriter;

int checkpoint_begin(CheckpointWriter *w, const char *run_dir, const char *name);
int checkpoint_write_model(CheckpointWriter *w, const ModelConfig *cfg, const float *params);
int checkpoint_write_optimizer(CheckpointWriter *w, const TrainState *st, const float *m, const float *v, size_t num_params);
/* training_config.yaml, plus tokenizer.model copied from `tokenizer` when it is not "". */
int checkpoint_write_run_files(CheckpointWriter *w, const TrainConfig *tc, const char *tokenizer);
/* Renames the finished directory into place (replacing an older one of the same name). */
int checkpoint_commit(CheckpointWriter *w);
void checkpoint_abort(CheckpointWriter *w);

/* Deletes the oldest checkpoint-<step> directories of run_dir so that `keep` remain (0 keeps all). */
int checkpoint_prune(const char *run_dir, int keep);

#endif
