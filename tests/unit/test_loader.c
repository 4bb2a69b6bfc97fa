/* Training windows: bounds, input/target shift, determinism from the seed, resumable state,
 * the --data_size prefix; validation windows in fixed order; errors for unusable shards. */
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "data/loader.h"
#include "test.h"

#define VOCAB (1u << 20)

/* A shard whose i-th token is i (4-byte ids), so every window reveals where it starts. */
static const char *write_counting_shard(const char *name, uint32_t n) {
    static char path[512];
    const char *dir = getenv("KRLLM_TMP");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/tmp", name);
    ShardWriter w;
    uint32_t *ids = malloc(n * sizeof *ids);
    for (uint32_t i = 0; i < n; i++) ids[i] = i;
    CHECK(shard_writer_open(&w, path, VOCAB, 0) == 0);
    CHECK(shard_writer_append(&w, ids, n) == 0);
    CHECK(shard_writer_close(&w) == 0);
    free(ids);
    return path;
}

/* Every window is contiguous, shifted by one, and ends inside the first `limit` tokens. */
static void check_windows(const int32_t *in, const int32_t *tg, int B, int T, uint64_t limit) {
    for (int b = 0; b < B; b++) {
        const int32_t *x = in + b * T, *y = tg + b * T;
        int ok = 1;
        for (int t = 0; t < T; t++) ok &= x[t] == x[0] + t && y[t] == x[t] + 1;
        CHECK_MSG(ok, "window %d is not contiguous/shifted", b);
        CHECK_MSG(x[0] >= 0 && (uint64_t)y[T - 1] < limit, "window %d..%d outside %llu tokens", x[0], y[T - 1], (unsigned long long)limit);
    }
}

int main(void) {
    enum { B = 4, T = 16, N = 5000 };
    const char *path = write_counting_shard("train.bin", N);
    int32_t in[B * T], tg[B * T], in2[B * T], tg2[B * T];

    DataLoader a, b;
    CHECK_MSG(loader_open(&a, path, B, T, 0, VOCAB, 7) == 0, "%s", kr_last_error());
    CHECK(loader_open(&b, path, B, T, 0, VOCAB, 7) == 0);
    uint64_t min_start = N, max_start = 0;
    for (int i = 0; i < 200; i++) {
        loader_next(&a, in, tg);
        loader_next(&b, in2, tg2);
        check_windows(in, tg, B, T, N);
        CHECK(memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0);
        for (int s = 0; s < B; s++) {
            if ((uint64_t)in[s * T] < min_start) min_start = in[s * T];
            if ((uint64_t)in[s * T] > max_start) max_start = in[s * T];
        }
    }
    /* 800 uniform starts over ~5000 positions reach both ends of the shard. */
    CHECK_MSG(min_start < 100 && max_start > N - T - 100, "starts span %llu..%llu", (unsigned long long)min_start, (unsigned long long)max_start);
    CHECK(a.state.sequences_drawn == 200 * B);

    /* The saved state continues the same stream in a fresh loader. */
    LoaderState saved = a.state;
    loader_next(&a, in, tg);
    DataLoader c;
    CHECK(loader_open(&c, path, B, T, 0, VOCAB, 999) == 0);
    c.state = saved;
    loader_next(&c, in2, tg2);
    CHECK(memcmp(in, in2, sizeof in) == 0);
    loader_close(&c);

    /* Another seed gives other windows. */
    CHECK(loader_open(&c, path, B, T, 0, VOCAB, 8) == 0);
    loader_next(&c, in2, tg2);
    loader_next(&b, in, tg);
    CHECK(memcmp(in, in2, sizeof in) != 0);
    loader_close(&c);
    loader_close(&a);
    loader_close(&b);

    /* --data_size: 400 bytes = 100 tokens, every window inside them. */
    CHECK(loader_open(&a, path, B, T, 400, VOCAB, 1) == 0);
    CHECK(a.num_tokens == 400 / KR_DATA_BYTES_PER_TOKEN);
    for (int i = 0; i < 100; i++) {
        loader_next(&a, in, tg);
        check_windows(in, tg, B, T, 100);
    }
    loader_close(&a);
    CHECK(loader_open(&a, path, B, T, 40, VOCAB, 1) != 0);
    CHECK_MSG(strstr(kr_last_error(), "within --data_size") != NULL, "%s", kr_last_error());

    /* Shards unusable for this model or sequence length. */
    CHECK(loader_open(&a, path, B, T, 0, 64, 1) != 0);
    CHECK_MSG(strstr(kr_last_error(), "larger than the model's vocab_size") != NULL, "%s", kr_last_error());
    const char *tiny = write_counting_shard("tiny.bin", T);
    CHECK(loader_open(&a, tiny, B, T, 0, VOCAB, 1) != 0);
    CHECK_MSG(strstr(kr_last_error(), "fewer than one sequence") != NULL, "%s", kr_last_error());
    CHECK(loader_open(&a, "/nonexistent/train.bin", B, T, 0, VOCAB, 1) != 0);
    CHECK_MSG(strstr(kr_last_error(), "/nonexistent/train.bin") != NULL, "%s", kr_last_error());

    /* Validation: windows 0, T, 2T, ... in order, wrapping after the last complete one. */
    const char *val = write_counting_shard("val.bin", 5 * T + 3); /* 5 windows */
    ValIterator v;
    CHECK_MSG(val_open(&v, val, 3, T, VOCAB) == 0, "%s", kr_last_error());
    CHECK(v.num_windows == 5);
    int32_t vin[3 * T], vtg[3 * T];
    val_next(&v, vin, vtg);
    check_windows(vin, vtg, 3, T, 5 * T + 3);
    CHECK(vin[0] == 0 && vin[T] == T && vin[2 * T] == 2 * T);
    val_next(&v, vin, vtg);
    CHECK(vin[0] == 3 * T && vin[T] == 4 * T && vin[2 * T] == 0);
    val_reset(&v);
    val_next(&v, vin, vtg);
    CHECK(vin[0] == 0);
    val_close(&v);
    return test_summary("test_loader");
}
