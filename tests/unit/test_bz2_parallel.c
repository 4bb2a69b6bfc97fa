/* The bzip2 reader of `krllm prepare` (text/source + text/bz2_parallel) on generated data
 * compressed here with libbz2: byte-exact output for 1, 2 and 4 threads and small reads, on
 * single streams, multistream files and empty streams; truncated and corrupted files give the
 * same errors and deliver the same intact bytes as libbz2's own sequential decoder; blocks split
 * at injected false magics are joined back. */
#include <bzlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/rng.h"
#include "test.h"
#include "text/source.h"

static char tmp_dir[512];
static const int THREADS[] = {1, 2, 4};

typedef struct {
    unsigned char *p;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Pseudo-random Hangul words with some ASCII digits, punctuation and line breaks. */
static void korean_text(Buf *b, size_t n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    while (b->n < n) {
        int len = 1 + (int)rng_below(&r, 5);
        for (int i = 0; i < len; i++) {
            unsigned cp = 0xAC00 + (unsigned)rng_below(&r, 2000); /* the common part of the syllables */
            unsigned char u[3] = {(unsigned char)(0xE0 | cp >> 12), (unsigned char)(0x80 | (cp >> 6 & 0x3F)), (unsigned char)(0x80 | (cp & 0x3F))};
            buf_add(b, u, 3);
        }
        uint64_t k = rng_below(&r, 20);
        buf_add(b, k == 0 ? "\n" : k == 1 ? ". " : k == 2 ? " 1987년 " : " ", k == 2 ? 9 : k == 1 ? 2 : 1);
    }
}

/* A few sentences repeated with small changes, and long runs of one byte. */
static void repetitive_text(Buf *b, size_t n) {
    static const char *lines[] = {"대한민국의 수도는 서울이다. ", "The quick brown fox. ", "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ "};
    char num[32];
    for (int i = 0; b->n < n; i++) {
        buf_add(b, lines[i % 3], strlen(lines[i % 3]));
        snprintf(num, sizeof num, "%d\n", i % 97);
        buf_add(b, num, strlen(num));
        if (i % 500 == 0)
            for (int k = 0; k < 3000; k++) buf_add(b, "=", 1);
    }
}

static void compress_append(Buf *out, const Buf *in, int level) {
    unsigned cap = (unsigned)(in->n + in->n / 50 + 1024);
    char *tmp = malloc(cap);
    CHECK(BZ2_bzBuffToBuffCompress(tmp, &cap, in->n ? (char *)in->p : (char *)"", (unsigned)in->n, level, 0, 0) == BZ_OK);
    buf_add(out, tmp, cap);
    free(tmp);
}

static const char *write_file(const char *name, const unsigned char *p, size_t n) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    CHECK(kr_write_file_atomic(path, p, n) == 0);
    return path;
}

typedef struct {
    long rc; /* 0: the whole file; -1: an error, message in msg */
    Buf out;
    char msg[1024];
} Decoded;

static Decoded decode(const char *path, int threads, size_t cap, const uint64_t *fakes, int nfakes) {
    Decoded d = {0};
    Source s;
    if (source_open(&s, path, threads) != 0) {
        d.rc = -1;
        snprintf(d.msg, sizeof d.msg, "%s", kr_last_error());
        return d;
    }
    if (nfakes) bz2_inject_false_boundaries(s.bz2, fakes, nfakes);
    char *buf = malloc(cap);
    long n;
    while ((n = source_read(&s, buf, cap)) > 0) buf_add(&d.out, buf, (size_t)n);
    d.rc = n;
    if (n < 0) snprintf(d.msg, sizeof d.msg, "%s", kr_last_error());
    CHECK(s.out_offset == d.out.n);
    free(buf);
    source_close(&s);
    return d;
}

/* libbz2's own streaming decoder over the whole file: the reference for damaged files. */
typedef struct {
    int status; /* 0 complete, 1 corrupt, 2 truncated */
    size_t out_len, in_pos;
} RefResult;

static RefResult reference_decode(const unsigned char *in, size_t n, size_t out_cap) {
    RefResult r = {0};
    char *out = malloc(out_cap);
    while (r.status == 0 && r.in_pos < n) {
        bz_stream bz;
        memset(&bz, 0, sizeof bz);
        BZ2_bzDecompressInit(&bz, 0, 0);
        bz.next_in = (char *)in + r.in_pos;
        bz.avail_in = (unsigned)(n - r.in_pos);
        bz.next_out = out + r.out_len;
        bz.avail_out = (unsigned)(out_cap - r.out_len);
        int rc = BZ2_bzDecompress(&bz);
        r.out_len = out_cap - bz.avail_out;
        r.in_pos = n - bz.avail_in;
        r.status = rc == BZ_STREAM_END ? 0 : rc == BZ_OK && bz.avail_out > 0 ? 2 : 1;
        BZ2_bzDecompressEnd(&bz);
    }
    free(out);
    return r;
}

static int is_prefix(const Buf *a, const Buf *whole) { return a->n <= whole->n && (a->n == 0 || memcmp(a->p, whole->p, a->n) == 0); }

/* Every thread count and read size gives the original bytes. */
static void check_exact(const char *name, const Buf *file, const Buf *text, const size_t *caps, int ncaps) {
    const char *path = write_file(name, file->p, file->n);
    for (int t = 0; t < 3; t++)
        for (int c = 0; c < ncaps; c++) {
            Decoded d = decode(path, THREADS[t], caps[c], NULL, 0);
            CHECK_MSG(d.rc == 0 && d.out.n == text->n && is_prefix(&d.out, text), "%s, %d threads, reads of %zu: rc %ld, %zu of %zu bytes, %s",
                      name, THREADS[t], caps[c], d.rc, d.out.n, text->n, d.msg);
            free(d.out.p);
        }
}

/* A damaged file: the error of the expected kind at the reference's compressed and
 * decompressed offsets, and every byte delivered is original. */
static void check_damaged(const char *name, const Buf *file, const Buf *text, const uint64_t *fakes, int nfakes) {
    const char *path = write_file(name, file->p, file->n);
    RefResult ref = reference_decode(file->p, file->n, text->n + (4 << 20));
    CHECK_MSG(ref.status != 0, "%s: the reference decoder accepted it", name);
    for (int t = 0; t < 3; t++) {
        Decoded d = decode(path, THREADS[t], 65536, fakes, nfakes);
        CHECK_MSG(d.rc == -1, "%s, %d threads: no error", name, THREADS[t]);
        CHECK_MSG(is_prefix(&d.out, text), "%s, %d threads: delivered bytes differ from the original", name, THREADS[t]);
        unsigned long long at = 0, out_at = 0;
        if (ref.status == 2) {
            const char *m = strstr(d.msg, "bzip2 data ends unexpectedly at compressed byte ");
            CHECK_MSG(m && sscanf(m, "bzip2 data ends unexpectedly at compressed byte %llu", &at) == 1 && at == file->n, "%s: %s", name, d.msg);
            /* blocks complete before the cut are all delivered, as by the sequential decoder */
            CHECK_MSG(d.out.n == ref.out_len, "%s, %d threads: %zu bytes delivered, reference %zu", name, THREADS[t], d.out.n, ref.out_len);
        } else {
            const char *m = strstr(d.msg, "corrupt bzip2 data near compressed byte ");
            int ok = m && sscanf(m, "corrupt bzip2 data near compressed byte %llu (decompressed byte %llu)", &at, &out_at) == 2;
            CHECK_MSG(ok && at + 2 >= ref.in_pos && at <= ref.in_pos + 2 && out_at == ref.out_len, "%s, %d threads: %s; reference: compressed %zu, decompressed %zu",
                      name, THREADS[t], d.msg, ref.in_pos, ref.out_len);
            /* nothing of the damaged block: at most one block (level 1, no long runs) short */
            CHECK_MSG(d.out.n <= ref.out_len && d.out.n + 110000 > ref.out_len, "%s, %d threads: %zu bytes delivered, reference %zu", name, THREADS[t],
                      d.out.n, ref.out_len);
        }
        CHECK(strstr(d.msg, "the rest of this file is skipped") != NULL);
        free(d.out.p);
    }
}

/* Sorted pseudo-random bit offsets inside the file. */
static void random_bits(uint64_t *bits, int n, uint64_t file_bits, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) bits[i] = 64 + rng_below(&r, file_bits - 128);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && bits[j - 1] > bits[j]; j--) {
            uint64_t t = bits[j];
            bits[j] = bits[j - 1];
            bits[j - 1] = t;
        }
}

int main(void) {
    const char *t = getenv("KRLLM_TMP");
    snprintf(tmp_dir, sizeof tmp_dir, "%s", t ? t : "/tmp");
    int small = test_sanitized();
    size_t ko_bytes = small ? 250000 : 500000, rep_bytes = small ? 300000 : 1200000;

    Buf ko = {0}, rep = {0}, empty = {0}, multi_text = {0};
    korean_text(&ko, ko_bytes, 7);
    repetitive_text(&rep, rep_bytes);
    Buf ko1 = {0}, ko9 = {0}, rep9 = {0}, rep1 = {0}, empty_file = {0}, multi = {0};
    compress_append(&ko1, &ko, 1);
    compress_append(&ko9, &ko, 9);
    compress_append(&rep9, &rep, 9);
    compress_append(&rep1, &rep, 1);
    compress_append(&empty_file, &empty, 9);
    /* multistream: Korean at level 1, an empty stream, repetitive text at level 9, Korean again */
    compress_append(&multi, &ko, 1);
    compress_append(&multi, &empty, 1);
    compress_append(&multi, &rep, 9);
    compress_append(&multi, &ko, 1);
    buf_add(&multi_text, ko.p, ko.n);
    buf_add(&multi_text, rep.p, rep.n);
    buf_add(&multi_text, ko.p, ko.n);

    /* 1. exact output */
    const size_t big_reads[] = {1 << 20, 4093}, tiny_reads[] = {1, 777};
    check_exact("ko1.bz2", &ko1, &ko, big_reads, 2);
    check_exact("ko9.bz2", &ko9, &ko, big_reads, 1);
    check_exact("rep9.bz2", &rep9, &rep, big_reads, 1);
    check_exact("rep1.bz2", &rep1, &rep, big_reads, 1);
    check_exact("multi.bz2", &multi, &multi_text, big_reads, 2);
    check_exact("empty.bz2", &empty_file, &empty, tiny_reads, 1);
    Buf two_empty = {0};
    buf_add(&two_empty, empty_file.p, empty_file.n);
    buf_add(&two_empty, empty_file.p, empty_file.n);
    check_exact("two_empty.bz2", &two_empty, &empty, tiny_reads, 1);
    Buf head = {0}, head1 = {0};
    buf_add(&head, ko.p, 20000);
    compress_append(&head1, &head, 1);
    check_exact("small_reads.bz2", &head1, &head, tiny_reads, 2);

    /* 2. truncated: inside blocks, inside the last stream's trailer, at a stream's header */
    size_t ko1_stream = ko1.n;
    size_t cuts[] = {5, multi.n / 10, multi.n * 37 / 100, multi.n / 2, multi.n * 83 / 100, multi.n - 7, multi.n - 1, ko1_stream + 2, ko1_stream + 9, ko1_stream + 12};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        Buf cut = {0};
        buf_add(&cut, multi.p, cuts[i]);
        char name[64];
        snprintf(name, sizeof name, "cut%zu.bz2", i);
        check_damaged(name, &cut, &multi_text, NULL, 0);
        free(cut.p);
    }

    /* 3. corrupt: a flipped byte, garbage after the end of the last stream */
    for (int i = 1; i <= 3; i++) {
        Buf bad = {0};
        buf_add(&bad, ko1.p, ko1.n);
        bad.p[bad.n * i / 4] ^= 0xFF;
        char name[64];
        snprintf(name, sizeof name, "flip%d.bz2", i);
        check_damaged(name, &bad, &ko, NULL, 0);
        free(bad.p);
    }
    Buf crc = {0}; /* the stream's combined CRC, which only the end of the stream checks */
    buf_add(&crc, ko1.p, ko1.n);
    crc.p[crc.n - 2] ^= 0x10;
    check_damaged("stream_crc.bz2", &crc, &ko, NULL, 0);
    free(crc.p);
    Buf noise = {0}; /* a block with no magic after it for longer than any real block can be */
    buf_add(&noise, "BZh9", 4);
    buf_add(&noise, "\x31\x41\x59\x26\x53\x59", 6);
    Rng r;
    rng_seed(&r, 5);
    while (noise.n < (small ? 2400000 : 3000000)) {
        uint64_t x = rng_u64(&r);
        buf_add(&noise, &x, sizeof x);
    }
    check_damaged("noise.bz2", &noise, &ko, NULL, 0);
    free(noise.p);
    Buf trailing = {0};
    buf_add(&trailing, ko1.p, ko1.n);
    buf_add(&trailing, "garbage!garbage!", 16);
    check_damaged("trailing.bz2", &trailing, &ko, NULL, 0);

    /* 4. false magics: injected block boundaries (some very close together) are joined back;
     * with damage, the errors stay what they were */
    uint64_t fakes[40];
    random_bits(fakes, 30, (uint64_t)multi.n * 8, 11);
    for (int i = 30; i < 40; i++) fakes[i] = fakes[i - 30] + 100 + (uint64_t)i; /* two in one block */
    for (int i = 1; i < 40; i++)
        for (int j = i; j > 0 && fakes[j - 1] > fakes[j]; j--) {
            uint64_t x = fakes[j];
            fakes[j] = fakes[j - 1];
            fakes[j - 1] = x;
        }
    const char *multi_path = write_file("multi_fakes.bz2", multi.p, multi.n);
    for (int k = 0; k < 3; k++) {
        Decoded d = decode(multi_path, THREADS[k], 1 << 20, fakes, 40);
        CHECK_MSG(d.rc == 0 && d.out.n == multi_text.n && is_prefix(&d.out, &multi_text), "fake boundaries, %d threads: rc %ld, %zu bytes, %s", THREADS[k],
                  d.rc, d.out.n, d.msg);
        free(d.out.p);
    }
    Buf cut = {0};
    buf_add(&cut, multi.p, multi.n / 2);
    check_damaged("cut_fakes.bz2", &cut, &multi_text, fakes, 40);
    Buf bad = {0};
    buf_add(&bad, ko1.p, ko1.n);
    bad.p[bad.n / 2] ^= 0xFF;
    uint64_t near_flip[3] = {(uint64_t)bad.n * 4 - 5000, (uint64_t)bad.n * 4 + 3, (uint64_t)bad.n * 4 + 4000};
    check_damaged("flip_fakes.bz2", &bad, &ko, near_flip, 3);

    Buf *all[] = {&ko, &rep, &multi_text, &ko1, &ko9, &rep9, &rep1, &empty_file, &multi, &two_empty, &head, &head1, &trailing, &cut, &bad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->p);
    return test_summary("test_bz2_parallel");
}
