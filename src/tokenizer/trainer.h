/* BPE training (SentencePiece's BPE rules): count words, keep the characters that cover
 * `character_coverage` of the text, then repeatedly merge the most frequent adjacent pair of
 * symbols inside words, with pair counts updated incrementally (only the words that contain the
 * merged pair are touched) and a lazy max-heap to find the next pair. Pieces never mix Unicode
 * scripts, never hold ▁ except at their start and are at most max_piece_length characters. */
#ifndef KR_TRAINER_H
#define KR_TRAINER_H

#include <stdint.h>

#include "common/util.h"
#include "tokenizer/spm_proto.h"

typedef struct {
    StrList inputs;              /* text files, one sentence per line */
    StrList user_defined;        /* pieces kept whole, e.g. "<|user|>" */
    int vocab_size;
    double character_coverage;   /* 0.9995 */
    int byte_fallback;           /* 1: <0x00>..<0xFF> pieces for characters outside the vocabulary */
    int64_t input_sentence_size; /* 0: every line; else only the first N lines */
    int num_threads;
    int max_piece_length;        /* characters, 16 */
} BpeTrainOptions;

void bpe_train_options_default(BpeTrainOptions *o);
/* Trains and fills `m` (pieces, trainer and normalizer specs, self-test samples). */
int bpe_train(const BpeTrainOptions *o, SpmModel *m);
/* Adds the self-test samples' expected pieces (computed by our encoder over a reloaded copy). */
int tokenizer_fill_self_test(SpmModel *m);
/* Creates the directory that will hold `path` (e.g. models/ for models/tokenizer), if any. */
int tokenizer_make_parent_dir(const char *path);
/* Writes <prefix>.model (protobuf) and <prefix>.vocab ("piece<TAB>score" lines), atomically,
 * creating the directory if needed. */
int tokenizer_write_files(const SpmModel *m, const char *prefix);

#endif
