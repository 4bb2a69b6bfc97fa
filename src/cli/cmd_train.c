#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "train/trainer.h"

#define USAGE                                                                                              \
    "krllm train --config FILE --model_config FILE [--max_steps N] [--data_size 1MB] [--resume_from DIR]\n" \
    "            [--output_dir DIR] [--device cpu|cuda] [--train_data F] [--val_data F] [--tokenizer F|none]\n" \
    "            [--seed N] [--num_threads N] [--num_gpus N]\n"                                                        \
    "Command-line values override the training YAML."

/* Copies a string flag into a fixed config field, refusing values that do not fit. */
static int set_str(char *dst, size_t size, const char *value, const char *flag) {
    if (!value) return 0;
    if (strlen(value) >= size) return kr_error("--%s is too long (at most %zu characters)", flag, size - 1);
    strcpy(dst, value);
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *config = NULL, *model_config = NULL, *resume_from = NULL, *output_dir = NULL, *device = NULL;
    const char *train_data = NULL, *val_data = NULL, *tokenizer = NULL;
    int max_steps = -1, seed = -1, num_threads = -1, num_gpus = -1;
    int64_t data_size = 0;
    ArgSpec specs[] = {
        {"config", ARG_STR, &config, "training YAML (configs/training_*.yaml)", 1},
        {"model_config", ARG_STR, &model_config, "model YAML (configs/model_*.yaml); optional with --resume_from", 0},
        {"max_steps", ARG_INT, &max_steps, "optimizer steps in total", 0},
        {"data_size", ARG_SIZE, &data_size, "train on the first SIZE of data only (1 token = 4 bytes), e.g. 1MB", 0},
        {"resume_from", ARG_STR, &resume_from, "continue from a checkpoint (or the newest one in a run directory)", 0},
        {"output_dir", ARG_STR, &output_dir, "where checkpoints, train.log and loss.svg go", 0},
        {"device", ARG_STR, &device, "cpu or cuda", 0},
        {"train_data", ARG_STR, &train_data, "training token shard", 0},
        {"val_data", ARG_STR, &val_data, "validation token shard", 0},
        {"tokenizer", ARG_STR, &tokenizer, "tokenizer .model copied into checkpoints ('none': no copy)", 0},
        {"seed", ARG_INT, &seed, "random seed (initialisation and data order)", 0},
        {"num_threads", ARG_INT, &num_threads, "cpu threads (0: all cores)", 0},
        {"num_gpus", ARG_INT, &num_gpus, "cuda: GPUs sharing each batch (data parallel over NCCL)", 0},
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]);
    int rc = kr_parse_args(argc, argv, specs, nspecs, USAGE);
    if (rc != 0) return kr_args_exit_status(rc);
    TrainerOptions o;
    memset(&o, 0, sizeof o);
    int bad = 0;
    if (kr_arg_given("max_steps") && max_steps < 0) bad = kr_error("--max_steps must be >= 0");
    else if (kr_arg_given("seed") && seed < 0) bad = kr_error("--seed must be >= 0");
    else if (kr_arg_given("num_threads") && num_threads < 0) bad = kr_error("--num_threads must be >= 0");
    else if (kr_arg_given("num_gpus") && (num_gpus < 1 || num_gpus > 64)) bad = kr_error("--num_gpus must be 1..64");
    else if (kr_arg_given("data_size") && data_size <= 0) bad = kr_error("--data_size must be positive (e.g. 1MB)");
    else if (device && strcmp(device, "cpu") && strcmp(device, "cuda"))
        bad = kr_error("--device must be cpu or cuda, got '%s'", device);
    if (bad) {
        kr_print_error();
        return 2;
    }
    TrainConfig *tc = &o.tc;
    if (train_config_load(config, tc) != 0) goto fail;
    if (model_config) {
        if (model_config_load(model_config, &o.mc) != 0) goto fail;
        o.have_model_config = 1;
    }
    if (kr_arg_given("max_steps")) tc->max_steps = max_steps;
    if (kr_arg_given("seed")) tc->seed = seed;
    if (kr_arg_given("num_threads")) tc->num_threads = num_threads;
    if (kr_arg_given("num_gpus")) tc->num_gpus = num_gpus;
    if (set_str(tc->output_dir, sizeof tc->output_dir, output_dir, "output_dir") != 0 ||
        set_str(tc->device, sizeof tc->device, device, "device") != 0 ||
        set_str(tc->train_data, sizeof tc->train_data, train_data, "train_data") != 0 ||
        set_str(tc->val_data, sizeof tc->val_data, val_data, "val_data") != 0 ||
        set_str(tc->tokenizer, sizeof tc->tokenizer, tokenizer, "tokenizer") != 0 ||
        set_str(o.resume_from, sizeof o.resume_from, resume_from, "resume_from") != 0)
        goto fail;
    o.data_size = data_size;
    TrainerResult r;
    if (trainer_run(&o, &r) != 0) goto fail;
    printf("done: %d steps, final loss %.4f", r.steps, r.last_loss);
    if (!isnan(r.last_val_loss)) printf(", val_loss %.4f", r.last_val_loss);
    printf("; model in %s/final\n", tc->output_dir);
    return 0;
fail:
    kr_print_error();
    return 1;
}
