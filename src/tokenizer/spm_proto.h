/* SentencePiece's ModelProto (sentencepiece_model.proto, proto2) in memory, and our own protobuf
 * wire-format encoder/decoder for the subset of fields we write and read. */
#ifndef KR_SPM_PROTO_H
#define KR_SPM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* ModelProto.SentencePiece.Type */
enum { SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4, SPM_UNUSED = 5, SPM_BYTE = 6 };
/* TrainerSpec.ModelType */
enum { SPM_MODEL_UNIGRAM = 1, SPM_MODEL_BPE = 2, SPM_MODEL_WORD = 3, SPM_MODEL_CHAR = 4 };

typedef struct {
    char *piece;
    float score;
    int type;
} SpmPiece;

typedef struct {
    char *input, *expected; /* expected: the pieces joined by one space, as SentencePiece checks it */
} SpmSample;

typedef struct {
    /* pieces (field 1) */
    SpmPiece *pieces;
    int n_pieces;
    /* trainer_spec (field 2): what we record about training and what encoding depends on */
    StrList inputs, user_defined_symbols;
    char *model_prefix;
    int model_type, vocab_size, num_threads, max_sentencepiece_length;
    float character_coverage;
    uint64_t input_sentence_size;
    int split_by_unicode_script, split_by_number, split_by_whitespace, byte_fallback;
    int unk_id, bos_id, eos_id, pad_id;
    char *unk_piece, *bos_piece, *eos_piece, *pad_piece, *unk_surface;
    /* normalizer_spec (field 3) */
    char *normalizer_name;
    size_t precompiled_charsmap_size; /* we only support an empty one */
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    int has_normalization_rules, has_denormalizer;
    /* self_test_data (field 4) */
    SpmSample *samples;
    int n_samples;
} SpmModel;

/* Fills proto2 defaults (the values a reader assumes for absent fields). */
void spm_model_init(SpmModel *m);
void spm_model_free(SpmModel *m);
/* Appends a piece / a self-test sample (strings are copied). */
int spm_model_add_piece(SpmModel *m, const char *piece, float score, int type);
int spm_model_add_sample(SpmModel *m, const char *input, const char *expected);

/* Serialises to a malloc'd buffer. */
int spm_model_encode(const SpmModel *m, uint8_t **out, size_t *size);
/* Parses a buffer; `what` names the source in error messages (file name). */
int spm_model_decode(const uint8_t *data, size_t size, const char *what, SpmModel *m);

#endif
