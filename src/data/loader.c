#include "data/loader.h"

#include <inttypes.h>
#include <string.h>

#include "common/error.h"

/* Opens a shard and checks that its ids fit the model and that it holds one window. */
static int open_checked(Shard *s, const char *path, uint32_t model_vocab) {
    if (shard_open(s, path, 1) != 0) return -1;
    if (s->hdr.vocab_size > model_vocab) {
        shard_close(s);
        return kr_error("%s: token shard vocabulary (%u) is larger than the model's vocab_size (%u); "
                        "use the model config that matches the tokenizer", path, s->hdr.vocab_size, model_vocab);
    }
    return 0;
}

static void copy_window(const Shard *s, uint64_t start, int seq_len, int32_t *inputs, int32_t *targets) {
    for (int t = 0; t < seq_len; t++) {
        inputs[t] = (int32_t)shard_token(s, start + t);
        targets[t] = (int32_t)shard_token(s, start + t + 1);
    }
}

int loader_open(DataLoader *l, const char *path, int batch_size, int seq_len, int64_t data_size_bytes,
                uint32_t model_vocab, uint64_t seed) {
    memset(l, 0, sizeof *l);
    if (open_checked(&l->shard, path, model_vocab) != 0) return -1;
    l->num_tokens = l->shard.hdr.num_tokens;
    if (data_size_bytes > 0) {
        uint64_t limit = (uint64_t)data_size_bytes / KR_DATA_BYTES_PER_TOKEN;
        if (limit < l->num_tokens) l->num_tokens = limit;
    }
    if (l->num_tokens < (uint64_t)seq_len + 1) {
        uint64_t have = l->num_tokens;
        shard_close(&l->shard);
        return kr_error("%s: %" PRIu64 " training tokens%s, fewer than one sequence of seq_len + 1 = %d; "
                        "use more data or a smaller seq_len", path, have,
                        data_size_bytes > 0 ? " within --data_size" : "", seq_len + 1);
    }
    l->batch_size = batch_size;
    l->seq_len = seq_len;
    rng_seed(&l->state.rng, seed);
    return 0;
}

void loader_next(DataLoader *l, int32_t *inputs, int32_t *targets) {
    uint64_t starts = l->num_tokens - (uint64_t)l->seq_len; /* window start in [0, starts) */
    for (int b = 0; b < l->batch_size; b++) {
        uint64_t start = rng_below(&l->state.rng, starts);
        copy_window(&l->shard, start, l->seq_len, inputs + (size_t)b * l->seq_len, targets + (size_t)b * l->seq_len);
        l->state.sequences_drawn++;
    }
}

void loader_close(DataLoader *l) {
    shard_close(&l->shard);
    memset(l, 0, sizeof *l);
}

int val_open(ValIterator *v, const char *path, int batch_size, int seq_len, uint32_t model_vocab) {
    memset(v, 0, sizeof *v);
    if (open_checked(&v->shard, path, model_vocab) != 0) return -1;
    uint64_t n = v->shard.hdr.num_tokens;
    if (n < (uint64_t)seq_len + 1) {
        shard_close(&v->shard);
        return kr_error("%s: %" PRIu64 " validation tokens, fewer than one sequence of seq_len + 1 = %d", path, n, seq_len + 1);
    }
    v->num_windows = (n - 1) / (uint64_t)seq_len;
    v->batch_size = batch_size;
    v->seq_len = seq_len;
    return 0;
}

void val_reset(ValIterator *v) { v->next = 0; }

void val_next(ValIterator *v, int32_t *inputs, int32_t *targets) {
    for (int b = 0; b < v->batch_size; b++) {
        uint64_t start = v->next * (uint64_t)v->seq_len;
        copy_window(&v->shard, start, v->seq_len, inputs + (size_t)b * v->seq_len, targets + (size_t)b * v->seq_len);
        v->next = (v->next + 1) % v->num_windows;
    }
}

void val_close(ValIterator *v) {
    shard_close(&v->shard);
    memset(v, 0, sizeof *v);
}
