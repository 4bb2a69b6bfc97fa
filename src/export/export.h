/* Exports a trained checkpoint in the formats other tools load: Hugging Face safetensors (a
 * LlamaForCausalLM directory) and GGUF v3 (llama.cpp's `llama` architecture). docs/export.md. */
#ifndef KR_EXPORT_H
#define KR_EXPORT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/params.h"
#include "tokenizer/spm_proto.h"
#include "train/checkpoint.h"

/* q8_0 is llama.cpp's 8-bit type (GGUF only): blocks of 32 values along a row, each an f16
 * scale (the block's largest magnitude / 127) and 32 int8, 34 bytes. */
typedef enum { EXPORT_F32, EXPORT_F16, EXPORT_BF16, EXPORT_Q8_0 } ExportDtype;
#define EXPORT_Q8_0_BLOCK 32

int export_parse_dtype(const char *s, ExportDtype *dt);
const char *export_dtype_name(ExportDtype dt); /* "f32", "f16", "bf16", "q8_0" */
/* Bytes of a row of `cols` values (for q8_0, cols is a multiple of EXPORT_Q8_0_BLOCK). */
size_t export_row_bytes(ExportDtype dt, int64_t cols);

/* Hugging Face's Llama rotates the two halves of a head (rotate_half) where we rotate interleaved
 * pairs, so q/k rows are reordered per head: HF row i < hd/2 is our row 2i, HF row hd/2 + i is
 * our row 2i + 1. Returns our row for HF row `row` (head_dim hd). */
int64_t export_hf_rope_source_row(int64_t row, int hd);

/* Streams a [rows, cols] row-major tensor converted to dt; when rope_hd > 0 the rows are
 * reordered as export_hf_rope_source_row says. buf holds at least cols * 4 bytes. */
int export_write_tensor(FILE *fp, const float *data, int64_t rows, int64_t cols, ExportDtype dt, int rope_hd,
                        void *buf, const char *what);

/* Our tensor name (without "layers.N.") -> the format's; the list ends with {NULL, NULL}. */
typedef struct {
    const char *ours, *theirs;
} ExportNameMap;
/* The format's name of t: layer tensors get layer_prefix (a printf format with one %d) first. */
int export_tensor_name(const ParamTensor *t, const ExportNameMap *map, const char *layer_prefix, char *out, size_t cap);

/* What every exporter reads from a checkpoint: the tensor layout and, when the checkpoint has
 * one, its tokenizer (tok is NULL otherwise); plus the row buffer the tensor writer needs. */
typedef struct {
    ParamLayout layout;
    SpmModel tok_model;
    const SpmModel *tok;
    void *row_buf; /* one converted row of the widest tensor, for export_write_tensor */
} ExportSource;
int export_source_open(ExportSource *src, const LoadedModel *m);
void export_source_close(ExportSource *src);

int export_safetensors(const LoadedModel *m, const char *out_dir, ExportDtype dt);
int export_gguf(const LoadedModel *m, const char *out_path, ExportDtype dt);

#endif
