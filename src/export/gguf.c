/* GGUF v3 export for llama.cpp's `llama` architecture: header, metadata (architecture, sizes,
 * RoPE, the SentencePiece vocabulary), tensor infos, then the tensor data, each tensor 32-byte
 * aligned. llama.cpp's llama rotates interleaved pairs as we do, so q/k keep their row order. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "export/export.h"

#define GGUF_ALIGNMENT 32
enum { GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9 };
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q8_0 = 8, GGML_BF16 = 30 };

static const ExportNameMap gguf_names[] = {
    {"tok_embeddings.weight", "token_embd.weight"},
    {"attention_norm.weight", "attn_norm.weight"},
    {"attention.wq.weight", "attn_q.weight"},
    {"attention.wk.weight", "attn_k.weight"},
    {"attention.wv.weight", "attn_v.weight"},
    {"attention.wo.weight", "attn_output.weight"},
    {"ffn_norm.weight", "ffn_norm.weight"},
    {"feed_forward.w1.weight", "ffn_gate.weight"},
    {"feed_forward.w3.weight", "ffn_up.weight"},
    {"feed_forward.w2.weight", "ffn_down.weight"},
    {"norm.weight", "output_norm.weight"},
    {"output.weight", "output.weight"},
    {NULL, NULL},
};

typedef struct {
    FILE *fp;
    const char *path;
    int failed;
    uint64_t pos;
    uint64_t n_kv; /* metadata pairs written; the header's count is patched in at the end */
} Out;

static void put(Out *o, const void *p, size_t n) {
    if (o->failed) return;
    if (kr_fwrite(p, n, o->fp, o->path) != 0) o->failed = 1;
    o->pos += n;
}

/* Little-endian integers of `bytes` bytes. */
static void put_le(Out *o, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(o, b, (size_t)bytes);
}
static void put_f32(Out *o, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_le(o, u, 4);
}
static void put_str(Out *o, const char *s) {
    put_le(o, strlen(s), 8);
    put(o, s, strlen(s));
}
static void key(Out *o, const char *k, int type) {
    put_str(o, k);
    put_le(o, (uint64_t)type, 4);
    o->n_kv++;
}
static void kv_str(Out *o, const char *k, const char *v) {
    key(o, k, GGUF_STRING);
    put_str(o, v);
}
static void kv_u32(Out *o, const char *k, uint32_t v) {
    key(o, k, GGUF_U32);
    put_le(o, v, 4);
}
static void kv_f32(Out *o, const char *k, float v) {
    key(o, k, GGUF_F32);
    put_f32(o, v);
}
static void kv_bool(Out *o, const char *k, int v) {
    key(o, k, GGUF_BOOL);
    put_le(o, v != 0, 1);
}
static void kv_array_header(Out *o, const char *k, int elem_type, uint64_t n) {
    key(o, k, GGUF_ARRAY);
    put_le(o, (uint64_t)elem_type, 4);
    put_le(o, n, 8);
}
static void pad_to_alignment(Out *o) {
    static const uint8_t zeros[GGUF_ALIGNMENT];
    put(o, zeros, (GGUF_ALIGNMENT - o->pos % GGUF_ALIGNMENT) % GGUF_ALIGNMENT);
}

/* Norm gains stay f32 (llama.cpp expects them so); matrices take the requested dtype. */
static ExportDtype tensor_dtype(const ParamTensor *t, ExportDtype dt) { return t->kind == PARAM_NORM ? EXPORT_F32 : dt; }
static int ggml_type(ExportDtype dt) {
    static const int types[] = {[EXPORT_F32] = GGML_F32, [EXPORT_F16] = GGML_F16, [EXPORT_BF16] = GGML_BF16,
                                [EXPORT_Q8_0] = GGML_Q8_0};
    return types[dt];
}
/* general.file_type: llama.cpp's "all f32", "mostly f16", "mostly bf16", "mostly q8_0" */
static uint32_t file_type(ExportDtype dt) {
    static const uint32_t types[] = {[EXPORT_F32] = 0, [EXPORT_F16] = 1, [EXPORT_BF16] = 32, [EXPORT_Q8_0] = 7};
    return types[dt];
}
static uint64_t aligned(uint64_t n) { return (n + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT; }

static void write_metadata(Out *o, const ModelConfig *c, const SpmModel *tok, ExportDtype dt) {
    kv_str(o, "general.architecture", "llama");
    kv_str(o, "general.name", c->name[0] ? c->name : "krllm");
    kv_u32(o, "general.alignment", GGUF_ALIGNMENT);
    kv_u32(o, "general.file_type", file_type(dt));
    kv_u32(o, "llama.context_length", (uint32_t)c->max_seq_len);
    kv_u32(o, "llama.embedding_length", (uint32_t)c->hidden_size);
    kv_u32(o, "llama.block_count", (uint32_t)c->num_layers);
    kv_u32(o, "llama.feed_forward_length", (uint32_t)c->intermediate_size);
    kv_u32(o, "llama.attention.head_count", (uint32_t)c->num_heads);
    kv_u32(o, "llama.attention.head_count_kv", (uint32_t)c->num_kv_heads);
    kv_f32(o, "llama.rope.freq_base", c->rope_theta);
    kv_f32(o, "llama.attention.layer_norm_rms_epsilon", c->rms_norm_eps);
    kv_u32(o, "llama.rope.dimension_count", (uint32_t)model_head_dim(c));
    kv_u32(o, "llama.vocab_size", (uint32_t)c->vocab_size);
    if (!tok) return;
    kv_str(o, "tokenizer.ggml.model", "llama");
    kv_array_header(o, "tokenizer.ggml.tokens", GGUF_STRING, (uint64_t)tok->n_pieces);
    for (int i = 0; i < tok->n_pieces; i++) put_str(o, tok->pieces[i].piece);
    kv_array_header(o, "tokenizer.ggml.scores", GGUF_F32, (uint64_t)tok->n_pieces);
    for (int i = 0; i < tok->n_pieces; i++) put_f32(o, tok->pieces[i].score);
    kv_array_header(o, "tokenizer.ggml.token_type", GGUF_I32, (uint64_t)tok->n_pieces);
    for (int i = 0; i < tok->n_pieces; i++) put_le(o, (uint32_t)tok->pieces[i].type, 4); /* SentencePiece's ids */
    /* an absent special token (id -1) is written as u32 max, which llama.cpp reads as "none" */
    kv_u32(o, "tokenizer.ggml.bos_token_id", (uint32_t)tok->bos_id);
    kv_u32(o, "tokenizer.ggml.eos_token_id", (uint32_t)tok->eos_id);
    kv_u32(o, "tokenizer.ggml.unknown_token_id", (uint32_t)tok->unk_id);
    kv_u32(o, "tokenizer.ggml.padding_token_id", (uint32_t)tok->pad_id);
    kv_bool(o, "tokenizer.ggml.add_bos_token", tok->bos_id >= 0);
    kv_bool(o, "tokenizer.ggml.add_eos_token", 0);
}

static int write_gguf(Out *o, const LoadedModel *m, const ParamLayout *l, const SpmModel *tok, ExportDtype dt,
                      void *buf) {
    put(o, "GGUF", 4);
    put_le(o, 3, 4);
    put_le(o, (uint64_t)l->num_tensors, 8);
    put_le(o, 0, 8); /* metadata count, patched below */
    write_metadata(o, &m->cfg, tok, dt);
    uint64_t offset = 0;
    for (int i = 0; i < l->num_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        char name[96];
        if (export_tensor_name(t, gguf_names, "blk.%d.", name, sizeof name) != 0) return -1;
        int vector = t->kind == PARAM_NORM;
        put_str(o, name);
        put_le(o, vector ? 1 : 2, 4);
        put_le(o, (uint64_t)t->cols, 8); /* fastest-varying dimension first */
        if (!vector) put_le(o, (uint64_t)t->rows, 8);
        ExportDtype tdt = tensor_dtype(t, dt);
        put_le(o, (uint64_t)ggml_type(tdt), 4);
        put_le(o, offset, 8);
        offset = aligned(offset + (uint64_t)t->rows * export_row_bytes(tdt, t->cols));
    }
    pad_to_alignment(o);
    for (int i = 0; i < l->num_tensors && !o->failed; i++) {
        const ParamTensor *t = &l->tensors[i];
        ExportDtype tdt = tensor_dtype(t, dt);
        if (export_write_tensor(o->fp, m->params + t->offset, t->rows, t->cols, tdt, 0, buf, o->path) != 0) return -1;
        o->pos += (uint64_t)t->rows * export_row_bytes(tdt, t->cols);
        pad_to_alignment(o);
    }
    if (o->failed) return -1;
    uint8_t n_kv[8];
    for (int i = 0; i < 8; i++) n_kv[i] = (uint8_t)(o->n_kv >> (8 * i));
    if (fseek(o->fp, 16, SEEK_SET) != 0) return kr_error("cannot seek in %s", o->path);
    return kr_fwrite(n_kv, 8, o->fp, o->path);
}

/* q8_0 blocks run along rows: every matrix row must be whole blocks. */
static int check_q8_0_rows(const ParamLayout *l) {
    for (int i = 0; i < l->num_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        if (tensor_dtype(t, EXPORT_Q8_0) == EXPORT_Q8_0 && t->cols % EXPORT_Q8_0_BLOCK)
            return kr_error("--dtype q8_0 needs rows of a multiple of %d values, but %s has rows of %lld; use f16",
                            EXPORT_Q8_0_BLOCK, t->name, (long long)t->cols);
    }
    return 0;
}

int export_gguf(const LoadedModel *m, const char *out_path, ExportDtype dt) {
    ExportSource src;
    if (export_source_open(&src, m) != 0) return -1;
    if (dt == EXPORT_Q8_0 && check_q8_0_rows(&src.layout) != 0) {
        export_source_close(&src);
        return -1;
    }
    AtomicFile af;
    int rc = -1;
    if (kr_atomic_open(&af, out_path) == 0) {
        Out o = {af.fp, out_path, 0, 0, 0};
        rc = write_gguf(&o, m, &src.layout, src.tok, dt, src.row_buf);
        if (rc == 0) rc = kr_atomic_commit(&af);
        else kr_atomic_abort(&af);
    }
    export_source_close(&src);
    return rc;
}
