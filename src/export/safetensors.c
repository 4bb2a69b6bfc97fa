/* Hugging Face export: a directory with model.safetensors, config.json (LlamaForCausalLM),
 * generation_config.json and, when the checkpoint has a tokenizer, a LlamaTokenizer
 * (tokenizer.model, tokenizer_config.json, special_tokens_map.json). Built as <dir>.tmp and
 * renamed into place, as checkpoints are. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "export/export.h"

static const ExportNameMap hf_names[] = {
    {"tok_embeddings.weight", "model.embed_tokens.weight"},
    {"attention_norm.weight", "input_layernorm.weight"},
    {"attention.wq.weight", "self_attn.q_proj.weight"},
    {"attention.wk.weight", "self_attn.k_proj.weight"},
    {"attention.wv.weight", "self_attn.v_proj.weight"},
    {"attention.wo.weight", "self_attn.o_proj.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"feed_forward.w1.weight", "mlp.gate_proj.weight"},
    {"feed_forward.w3.weight", "mlp.up_proj.weight"},
    {"feed_forward.w2.weight", "mlp.down_proj.weight"},
    {"norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {NULL, NULL},
};

static const char *st_dtype(ExportDtype dt) { return dt == EXPORT_F32 ? "F32" : dt == EXPORT_F16 ? "F16" : "BF16"; }
static const char *torch_dtype(ExportDtype dt) {
    return dt == EXPORT_F32 ? "float32" : dt == EXPORT_F16 ? "float16" : "bfloat16";
}

/* q_proj and k_proj get the rotate_half row order (export_hf_rope_source_row). */
static int is_rope_tensor(const ParamTensor *t) {
    return t->layer >= 0 && (strstr(t->name, ".attention.wq.") || strstr(t->name, ".attention.wk."));
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static char *safetensors_header(const ParamLayout *l, ExportDtype dt, size_t *len) {
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t offset = 0;
    for (int i = 0; i < l->num_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        char name[128];
        if (export_tensor_name(t, hf_names, "model.layers.%d.", name, sizeof name) != 0) {
            cJSON_Delete(root);
            return NULL;
        }
        cJSON *e = cJSON_AddObjectToObject(root, name);
        cJSON_AddStringToObject(e, "dtype", st_dtype(dt));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape"), *offs = cJSON_AddArrayToObject(e, "data_offsets");
        if (t->kind != PARAM_NORM) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->rows));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->cols));
        size_t bytes = (size_t)t->rows * export_row_bytes(dt, t->cols);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) {
        kr_error("out of memory");
        return NULL;
    }
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    char *out = realloc(json, padded + 1);
    if (!out) {
        free(json);
        kr_error("out of memory");
        return NULL;
    }
    memset(out + n, ' ', padded - n);
    out[padded] = 0;
    *len = padded;
    return out;
}

static int write_safetensors(const LoadedModel *m, const ExportSource *src, const char *path, ExportDtype dt) {
    const ParamLayout *l = &src->layout;
    size_t hlen;
    char *header = safetensors_header(l, dt, &hlen);
    if (!header) return -1;
    AtomicFile af;
    if (kr_atomic_open(&af, path) != 0) {
        free(header);
        return -1;
    }
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int rc = kr_fwrite(len_le, 8, af.fp, path) || kr_fwrite(header, hlen, af.fp, path) ? -1 : 0;
    int hd = model_head_dim(&m->cfg);
    for (int i = 0; rc == 0 && i < l->num_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        rc = export_write_tensor(af.fp, m->params + t->offset, t->rows, t->cols, dt, is_rope_tensor(t) ? hd : 0,
                                 src->row_buf, path);
    }
    free(header);
    if (rc != 0) {
        kr_atomic_abort(&af);
        return -1;
    }
    return kr_atomic_commit(&af);
}

static int write_json(const char *dir, const char *name, cJSON *obj) {
    char path[1200], *text = cJSON_Print(obj);
    cJSON_Delete(obj);
    if (!text) return kr_error("out of memory");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n = strlen(text);
    text[n] = '\n'; /* cJSON leaves no final newline; replacing the NUL is fine, the length is passed */
    int rc = kr_write_file_atomic(path, text, n + 1);
    free(text);
    return rc;
}

static void add_token_ids(cJSON *o, const SpmModel *tok) {
    if (!tok) return;
    if (tok->bos_id >= 0) cJSON_AddNumberToObject(o, "bos_token_id", tok->bos_id);
    if (tok->eos_id >= 0) cJSON_AddNumberToObject(o, "eos_token_id", tok->eos_id);
    if (tok->pad_id >= 0) cJSON_AddNumberToObject(o, "pad_token_id", tok->pad_id);
}

/* The shortest decimal that reads back as the same float (1e-05, not 9.99999974737875e-06). */
static double float_for_json(float f) {
    char buf[32];
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, f);
        if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
    }
    return f;
}

static cJSON *config_json(const ModelConfig *c, const SpmModel *tok, ExportDtype dt) {
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(o, "model_type", "llama");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->num_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->num_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", c->num_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", model_head_dim(c));
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_seq_len);
    cJSON_AddNumberToObject(o, "rms_norm_eps", float_for_json(c->rms_norm_eps));
    cJSON_AddNumberToObject(o, "rope_theta", float_for_json(c->rope_theta));
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddBoolToObject(o, "attention_bias", 0);
    cJSON_AddBoolToObject(o, "mlp_bias", 0);
    cJSON_AddNumberToObject(o, "initializer_range", float_for_json(c->initializer_range));
    cJSON_AddStringToObject(o, "torch_dtype", torch_dtype(dt));
    add_token_ids(o, tok);
    return o;
}

static cJSON *special_tokens(const SpmModel *tok, int with_class) {
    cJSON *o = cJSON_CreateObject();
    if (with_class) {
        cJSON_AddStringToObject(o, "tokenizer_class", "LlamaTokenizer");
        cJSON_AddBoolToObject(o, "add_bos_token", tok->bos_id >= 0);
        cJSON_AddBoolToObject(o, "add_eos_token", 0);
        cJSON_AddBoolToObject(o, "legacy", 0);
        cJSON_AddBoolToObject(o, "clean_up_tokenization_spaces", 0);
    }
    const struct { const char *key; int id; } sp[] = {
        {"bos_token", tok->bos_id}, {"eos_token", tok->eos_id}, {"unk_token", tok->unk_id}, {"pad_token", tok->pad_id}};
    for (int i = 0; i < 4; i++)
        if (sp[i].id >= 0 && sp[i].id < tok->n_pieces) cJSON_AddStringToObject(o, sp[i].key, tok->pieces[sp[i].id].piece);
    return o;
}

static int write_tokenizer_files(const char *dir, const char *model_path, const SpmModel *tok) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    if (kr_copy_file(model_path, path) != 0) return -1;
    if (write_json(dir, "tokenizer_config.json", special_tokens(tok, 1)) != 0) return -1;
    return write_json(dir, "special_tokens_map.json", special_tokens(tok, 0));
}

static int write_directory(const LoadedModel *m, const ExportSource *src, const char *dir, ExportDtype dt) {
    const SpmModel *tok = src->tok;
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (write_safetensors(m, src, path, dt) != 0) return -1;
    if (write_json(dir, "config.json", config_json(&m->cfg, tok, dt)) != 0) return -1;
    cJSON *gen = cJSON_CreateObject();
    add_token_ids(gen, tok);
    if (write_json(dir, "generation_config.json", gen) != 0) return -1;
    return tok ? write_tokenizer_files(dir, m->tokenizer_path, tok) : 0;
}

/* Splits out_dir into its parent and last component for the .tmp-then-rename writer. */
static int split_path(const char *path, char *parent, size_t cap, const char **base) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n == 0 || n >= cap) return kr_error("invalid output directory '%s'", path);
    memcpy(parent, path, n);
    parent[n] = 0;
    char *slash = strrchr(parent, '/');
    if (!slash) {
        memmove(parent + 2, parent, n + 1);
        memcpy(parent, ".", 2);
        *base = parent + 2;
        return 0;
    }
    *slash = 0;
    *base = slash + 1;
    if (slash == parent) return kr_error("refusing to export into a top-level directory '%s'", path);
    return 0;
}

int export_safetensors(const LoadedModel *m, const char *out_dir, ExportDtype dt) {
    char parent[1024];
    const char *base;
    if (dt == EXPORT_Q8_0) return kr_error("--dtype q8_0 is a GGUF type; safetensors takes f32, f16 or bf16");
    if (split_path(out_dir, parent, sizeof parent - 3, &base) != 0) return -1;
    ExportSource src;
    if (export_source_open(&src, m) != 0) return -1;
    CheckpointWriter w;
    int rc = checkpoint_begin(&w, parent, base);
    if (rc == 0) rc = write_directory(m, &src, w.tmp_dir, dt);
    if (rc == 0) rc = checkpoint_commit(&w);
    else checkpoint_abort(&w);
    export_source_close(&src);
    return rc;
}
