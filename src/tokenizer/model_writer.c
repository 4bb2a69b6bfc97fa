/* Finishing a trained model: self-test samples computed by our own encoder (SentencePiece checks
 * them on load too), and the .model / .vocab files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/trainer.h"

/* Texts that every model checks on load besides the sample lines from the training text:
 * Hangul, compatibility jamo, Hanja, Latin, digits, emoji (usually byte fallback), extra spaces. */
static const char *const kFixedSamples[] = {
    "  안녕하세요,  세계!  ㅋㅋㅋ ㅠㅠ 大韓民國 Korea 2024년 🙂 ",
};

/* A Tokenizer over a serialised copy of `m` without its samples, so the writer and the reader
 * are exercised together. */
static int reload_copy(const SpmModel *m, Tokenizer **t) {
    SpmModel tmp = *m;
    tmp.n_samples = 0;
    uint8_t *data;
    size_t size;
    if (spm_model_encode(&tmp, &data, &size) != 0) return -1;
    SpmModel copy;
    int rc = spm_model_decode(data, size, "the trained model", &copy);
    free(data);
    if (rc != 0) return -1;
    return tokenizer_from_proto(&copy, "the trained model", t);
}

int tokenizer_fill_self_test(SpmModel *m) {
    Tokenizer *t;
    if (reload_copy(m, &t) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof kFixedSamples / sizeof kFixedSamples[0] && rc == 0; i++)
        rc = spm_model_add_sample(m, kFixedSamples[i], "");
    for (int i = 0; i < m->n_samples && rc == 0; i++) {
        char *pieces = tokenizer_encode_as_pieces_line(t, m->samples[i].input, strlen(m->samples[i].input));
        if (!pieces) {
            rc = -1;
            break;
        }
        free(m->samples[i].expected);
        m->samples[i].expected = pieces;
    }
    tokenizer_free(t);
    return rc;
}

static int write_vocab(const SpmModel *m, const char *path) {
    AtomicFile af;
    if (kr_atomic_open(&af, path) != 0) return -1;
    for (int i = 0; i < m->n_pieces; i++) fprintf(af.fp, "%s\t%g\n", m->pieces[i].piece, (double)m->pieces[i].score);
    if (ferror(af.fp)) {
        kr_atomic_abort(&af);
        return kr_error("writing %s failed", path);
    }
    return kr_atomic_commit(&af);
}

int tokenizer_make_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir) return kr_error("out of memory");
    int rc = kr_mkdir_p(dir);
    free(dir);
    return rc;
}

int tokenizer_write_files(const SpmModel *m, const char *prefix) {
    size_t n = strlen(prefix) + 8;
    char *path = malloc(n);
    if (!path) return kr_error("out of memory");
    uint8_t *data = NULL;
    size_t size;
    int rc = tokenizer_make_parent_dir(prefix);
    if (rc == 0) rc = spm_model_encode(m, &data, &size);
    if (rc == 0) {
        snprintf(path, n, "%s.model", prefix);
        rc = kr_write_file_atomic(path, data, size);
    }
    if (rc == 0) {
        snprintf(path, n, "%s.vocab", prefix);
        rc = write_vocab(m, path);
    }
    free(data);
    free(path);
    return rc;
}
