/* Tokenizer: training, encode/decode round trips on edge cases, byte fallback, user-defined
 * symbols, the protobuf round trip, determinism across thread counts, corrupt models refused. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "test.h"
#include "tokenizer/normalize.h"
#include "tokenizer/spm_proto.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/trainer.h"

static char tmpdir[512];

static const char *edge_cases[] = {
    "대한민국의 수도는 서울이다.",
    "ㅋㅋㅋㅋㅋ 진짜 웃기네 ㅠㅠ ㅎㅎ",
    "大韓民國 憲法 第1條 — 한자 섞인 문장",
    "이모지 🙂😂👍🏽 그리고 🇰🇷 깃발",
    "Mixed 한국어 and English, 숫자 12345 and 3.14, email a@b.co",
    "   앞뒤 공백과    여러   칸의 공백   ",
    "\t탭\t문자와 \r 캐리지 리턴",
    "",
    "     ",
    "▁이미 ▁ 있는 ▁ 기호▁",
    "잘못된 \xff\xfe 바이트 \xc3\x28 와 \xed\xa0\x80 서로게이트, 잘린 끝 \xe2\x82",
    "\xc0\xaf 과잉 표현 \xf4\x90\x80\x80 범위 밖",
    "<|user|>안녕<|assistant|>반가워요<|system|>",
    "a",
    "ㅋ",
};

/* normalize(x) rendered as text: ▁ → space, the spaces before the first other character dropped
 * (the dummy prefix, and any U+2581 the text itself starts with: U+2581 is the space symbol). */
static char *expected_text(const Tokenizer *t, const char *x, size_t len) {
    char *n = malloc(NORMALIZE_BOUND(len) + 1), *out = malloc(NORMALIZE_BOUND(len) + 1);
    size_t m = normalize_text(&t->norm, x, len, n), o = 0;
    for (size_t i = 0; i < m;) {
        if (m - i >= 3 && memcmp(n + i, KR_SPACE_SYMBOL, 3) == 0) {
            if (o > 0) out[o++] = ' ';
            i += 3;
        } else {
            out[o++] = n[i++];
        }
    }
    out[o] = 0;
    free(n);
    return out;
}

static void write_training_text(const char *path) {
    char src[1024];
    size_t limit = test_sanitized() ? 120000 : 300000, n1, n2;
    snprintf(src, sizeof src, "%s/data/ko/text/koconovel/koconovel_50_novels_sentences.txt", test_shared_dir());
    char *a = kr_read_file(src, &n1);
    snprintf(src, sizeof src, "%s/data/ko/text/korean-parallel-corpora/korean-english-park.dev.ko", test_shared_dir());
    char *b = kr_read_file(src, &n2);
    CHECK(a && b);
    if (!a || !b) exit(1);
    FILE *fp = fopen(path, "wb");
    fwrite(a, 1, n1 < limit ? n1 : limit, fp);
    fputc('\n', fp);
    fwrite(b, 1, n2 < limit / 2 ? n2 : limit / 2, fp);
    fputs("\n<|user|>안녕하세요<|assistant|>네 안녕하세요\n", fp);
    for (int i = 0; i < 200; i++) fwrite("nul\0byte\n", 1, 9, fp); /* frequent NUL: must still not become a piece */
    fclose(fp);
    free(a), free(b);
}

static int train_model(const char *text, int threads, SpmModel *m) {
    BpeTrainOptions o;
    bpe_train_options_default(&o);
    o.vocab_size = 1500;
    o.character_coverage = 0.995;
    o.num_threads = threads;
    strlist_push(&o.inputs, text);
    strlist_push(&o.user_defined, "<|user|>");
    strlist_push(&o.user_defined, "<|assistant|>");
    strlist_push(&o.user_defined, "<|system|>");
    int rc = bpe_train(&o, m);
    if (rc == 0) rc = tokenizer_fill_self_test(m);
    strlist_free(&o.inputs);
    strlist_free(&o.user_defined);
    return rc;
}

static void test_layout(const Tokenizer *t) {
    CHECK(tokenizer_unk_id(t) == 0 && tokenizer_bos_id(t) == 1 && tokenizer_eos_id(t) == 2 && tokenizer_pad_id(t) == 3);
    CHECK(tokenizer_piece_id(t, "<s>") == 1 && tokenizer_piece_id(t, "</s>") == 2);
    CHECK(tokenizer_piece_id(t, "<0x00>") == 4 && tokenizer_piece_id(t, "<0xFF>") == 259);
    CHECK(tokenizer_piece_id(t, "<|user|>") == 260 && tokenizer_piece_id(t, "<|system|>") == 262);
    CHECK(tokenizer_piece_id(t, "no such piece") == -1);
    CHECK(tokenizer_vocab_size(t) == 1500);
    CHECK(tokenizer_id_to_piece(t, 1500) == NULL && strcmp(tokenizer_id_to_piece(t, 2), "</s>") == 0);
}

static void test_round_trips(const Tokenizer *t) {
    for (size_t k = 0; k < sizeof edge_cases / sizeof edge_cases[0]; k++) {
        const char *x = edge_cases[k];
        uint32_t *ids;
        size_t n, len;
        char *text;
        CHECK(tokenizer_encode(t, x, strlen(x), &ids, &n) == 0);
        for (size_t i = 0; i < n; i++) CHECK_MSG(ids[i] != (uint32_t)tokenizer_unk_id(t), "<unk> in case %zu", k);
        CHECK(tokenizer_decode(t, ids, n, &text, &len) == 0);
        char *want = expected_text(t, x, strlen(x));
        CHECK_MSG(strcmp(text, want) == 0 && len == strlen(want), "case %zu: got '%s' want '%s'", k, text, want);
        /* streaming bytes give the same text */
        char *stream = malloc(len + 64), piece[256];
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            int m = tokenizer_token_bytes(t, ids[i], o == 0, piece, sizeof piece);
            memcpy(stream + o, piece, m);
            o += m;
        }
        stream[o] = 0;
        CHECK_MSG(strcmp(stream, want) == 0, "case %zu streamed '%s'", k, stream);
        free(stream), free(want), free(text), free(ids);
    }
}

static void test_rules(const Tokenizer *t) {
    char *want = expected_text(t, "   a   b  ", 10);
    CHECK(strcmp(want, "a b") == 0);
    free(want);
    want = expected_text(t, "x\xffy\xe2\x82", 5);
    CHECK(strcmp(want, "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD") == 0);
    free(want);
    /* byte fallback: a character absent from the vocabulary becomes its UTF-8 bytes */
    uint32_t *ids;
    size_t n;
    CHECK(tokenizer_encode(t, "\xF0\x9F\x90\x99", 4, &ids, &n) == 0);
    CHECK(n == 5 && ids[1] == 4 + 0xF0 && ids[2] == 4 + 0x9F && ids[3] == 4 + 0x90 && ids[4] == 4 + 0x99);
    free(ids);
    /* user-defined symbols are single tokens wherever they appear */
    CHECK(tokenizer_encode(t, "a<|user|>b", 10, &ids, &n) == 0);
    int found = 0;
    for (size_t i = 0; i < n; i++) found += ids[i] == (uint32_t)tokenizer_piece_id(t, "<|user|>");
    CHECK(found == 1);
    free(ids);
    /* empty and all-space text give no tokens */
    CHECK(tokenizer_encode(t, "   ", 3, &ids, &n) == 0 && n == 0);
    free(ids);
    /* control pieces decode to nothing */
    uint32_t ctl[] = {1, 2, 3};
    char *text;
    size_t len;
    CHECK(tokenizer_decode(t, ctl, 3, &text, &len) == 0 && len == 0);
    free(text);
    uint32_t bad = 99999;
    CHECK(tokenizer_decode(t, &bad, 1, &text, &len) != 0);
}

/* Random byte strings (spaces, ASCII, Hangul, stray and truncated UTF-8): never <unk>, and the
 * round trip follows the normalisation rule. */
static void test_random_text(const Tokenizer *t) {
    static const char *atoms[] = {" ", "  ", "a", "Z", "7", "한", "국", "ㅋ", "ㅠ", "▁", "\xff", "\x80",
                                  "\xe2\x82", "\xed\xa0\x80", "\xf0\x9f\x99\x82", "\t", "<|user|>", "<|use"};
    uint64_t r = 12345;
    int bad = 0;
    for (int k = 0; k < 300; k++) {
        char x[256];
        size_t len = 0;
        for (int i = (int)(k % 24); i-- > 0;) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const char *a = atoms[(r >> 33) % (sizeof atoms / sizeof atoms[0])];
            memcpy(x + len, a, strlen(a));
            len += strlen(a);
        }
        uint32_t *ids;
        size_t n, dlen;
        char *text;
        if (tokenizer_encode(t, x, len, &ids, &n) != 0) {
            bad++;
            continue;
        }
        for (size_t i = 0; i < n; i++) bad += ids[i] == (uint32_t)tokenizer_unk_id(t);
        char *want = expected_text(t, x, len);
        if (tokenizer_decode(t, ids, n, &text, &dlen) != 0 || strcmp(text, want) != 0) bad++;
        free(want), free(text), free(ids);
    }
    CHECK_MSG(bad == 0, "%d random texts failed", bad);
}

/* Flipped bytes anywhere in a model: refused or loaded, never a crash (ASan run checks memory). */
static void test_mutations(const char *model_path) {
    size_t n;
    uint8_t *data = (uint8_t *)kr_read_file(model_path, &n);
    int runs = test_sanitized() ? 60 : 200, loaded = 0;
    uint64_t r = 99;
    for (int k = 0; k < runs && data; k++) {
        uint8_t *copy = malloc(n);
        memcpy(copy, data, n);
        for (int j = 0; j < 3; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            copy[(r >> 33) % n] ^= (uint8_t)(1u << ((r >> 20) % 8));
        }
        SpmModel m;
        if (spm_model_decode(copy, n, "mutated", &m) == 0) {
            Tokenizer *t;
            if (tokenizer_from_proto(&m, "mutated", &t) == 0) {
                loaded++;
                tokenizer_free(t);
            }
        }
        free(copy);
    }
    CHECK(loaded < runs); /* most mutations are caught */
    free(data);
}

static void test_proto_round_trip(const SpmModel *m) {
    uint8_t *a, *b;
    size_t na, nb;
    CHECK(spm_model_encode(m, &a, &na) == 0);
    SpmModel d;
    CHECK(spm_model_decode(a, na, "test", &d) == 0);
    CHECK(d.n_pieces == m->n_pieces && d.n_samples == m->n_samples && d.byte_fallback == 1 && d.pad_id == 3);
    CHECK(d.model_type == SPM_MODEL_BPE && strcmp(d.normalizer_name, "identity") == 0);
    CHECK(d.user_defined_symbols.n == 3 && d.inputs.n == 1);
    int same = 1;
    for (int i = 0; i < d.n_pieces && i < m->n_pieces; i++)
        same &= !strcmp(d.pieces[i].piece, m->pieces[i].piece) && d.pieces[i].score == m->pieces[i].score &&
                d.pieces[i].type == m->pieces[i].type;
    CHECK(same);
    CHECK(spm_model_encode(&d, &b, &nb) == 0);
    CHECK(na == nb && memcmp(a, b, na) == 0);
    spm_model_free(&d);
    free(a), free(b);
}

static void expect_refused(const char *path, const void *data, size_t n, const char *what) {
    kr_write_file_atomic(path, data, n);
    Tokenizer *t = NULL;
    CHECK_MSG(tokenizer_load(path, &t) != 0 && t == NULL, "%s was accepted", what);
    tokenizer_free(t);
}

static void test_corrupt(const char *model_path) {
    size_t n;
    uint8_t *data = (uint8_t *)kr_read_file(model_path, &n);
    char path[600];
    snprintf(path, sizeof path, "%s/bad.model", tmpdir);
    expect_refused(path, data, n / 2, "a truncated model");
    expect_refused(path, data, 0, "an empty file");
    expect_refused(path, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, "garbage");
    /* change one piece's text: the self-test samples no longer match */
    uint8_t *copy = malloc(n);
    memcpy(copy, data, n);
    char *hit = memmem(copy, n, "\xEC\x9D\xB4", 3); /* the first piece with '이' */
    CHECK(hit != NULL);
    if (hit) hit[2] ^= 0x01;
    expect_refused(path, copy, n, "a model with a changed piece");
    free(copy);
    free(data);
    Tokenizer *t;
    CHECK(tokenizer_load("/nonexistent/x.model", &t) != 0);
}

int main(void) {
    const char *base = getenv("KRLLM_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s", base ? base : "/tmp");
    char text[600], prefix[600], model_path[620];
    snprintf(text, sizeof text, "%s/train.txt", tmpdir);
    snprintf(prefix, sizeof prefix, "%s/tok", tmpdir);
    snprintf(model_path, sizeof model_path, "%s.model", prefix);
    write_training_text(text);

    SpmModel m1, m2;
    CHECK(train_model(text, 1, &m1) == 0);
    CHECK(train_model(text, 2, &m2) == 0);
    uint8_t *a, *b;
    size_t na, nb;
    m2.num_threads = m1.num_threads; /* recorded in the trainer spec; everything else must match */
    CHECK(spm_model_encode(&m1, &a, &na) == 0 && spm_model_encode(&m2, &b, &nb) == 0);
    CHECK_MSG(na == nb && memcmp(a, b, na) == 0, "training differs between 1 and 2 threads");
    free(a), free(b);
    spm_model_free(&m2);
    CHECK(tokenizer_write_files(&m1, prefix) == 0);
    test_proto_round_trip(&m1);
    spm_model_free(&m1);

    Tokenizer *t = NULL;
    CHECK(tokenizer_load(model_path, &t) == 0);
    if (!t) return test_summary("test_tokenizer");
    test_layout(t);
    test_round_trips(t);
    test_rules(t);
    test_random_text(t);
    tokenizer_free(t);
    test_corrupt(model_path);
    test_mutations(model_path);
    return test_summary("test_tokenizer");
}
