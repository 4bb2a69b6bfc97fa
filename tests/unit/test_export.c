/* krllm export: a small random checkpoint (with a tokenizer) exported as safetensors and GGUF in
 * f32/f16/bf16 (and GGUF in q8_0), read back with minimal readers written here, and checked for
 * names, shapes, offsets, alignment, metadata and values; half-precision rounding against a
 * reference computed with nearbyint; q8_0 blocks against llama.cpp's rule; the q/k row order
 * against Hugging Face's rotate_half RoPE; CLI errors. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/rng.h"
#include "model_testutil.h"
#include "common/halfprec.h"
#include "model/params.h"
#include "test.h"
#include "tokenizer/spm_proto.h"
#include "train/checkpoint.h"

static char tmp[800];

/* ---------------------------------------------------------------- reference rounding */

/* x rounded to a binary format with `mant` mantissa bits, minimum normal exponent emin and
 * maximum exponent emax, ties to even (the default rounding mode of nearbyint). */
static double ref_round(double x, int mant, int emin, int emax) {
    if (isnan(x) || isinf(x) || x == 0) return x;
    int e;
    frexp(fabs(x), &e);
    int exp = e - 1 < emin ? emin : e - 1;
    double ulp = ldexp(1.0, exp - mant), r = nearbyint(x / ulp) * ulp;
    if (fabs(r) >= ldexp(1.0, emax + 1)) r = copysign(INFINITY, x);
    return copysign(r, x);
}
static double ref_f16(double x) { return ref_round(x, 10, -14, 15); }
static double ref_bf16(double x) { return ref_round(x, 7, -126, 127); }

static double decode_f16(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}
static double decode_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int same_value(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

static void test_halfprec(void) {
    const struct { float x; uint16_t f16, bf16; } hand[] = {
        {1.0f, 0x3c00, 0x3f80},         {65504.0f, 0x7bff, 0x4780},      {65519.0f, 0x7bff, 0x4780},
        {65520.0f, 0x7c00, 0x4780},     {1e-8f, 0x0000, 0x322c},         {3e-8f, 0x0001, 0x3301},
        {-0.0f, 0x8000, 0x8000},        {INFINITY, 0x7c00, 0x7f80},      {-INFINITY, 0xfc00, 0xff80},
        {6.103515625e-05f, 0x0400, 0x3880}, {1.00048828125f, 0x3c00, 0x3f80}, /* 1 + 2^-11: tie to even */
        {1.00146484375f, 0x3c02, 0x3f80}, {1.01171875f, 0x3c0c, 0x3f82},   /* 1 + 3*2^-8: bf16 tie up */
        {FLT_MAX, 0x7c00, 0x7f80},      {-2.5f, 0xc100, 0xc020},
    };
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) {
        CHECK_MSG(kr_f32_to_f16(hand[i].x) == hand[i].f16, "f16(%g) = %04x", hand[i].x, kr_f32_to_f16(hand[i].x));
        CHECK_MSG(kr_f32_to_bf16(hand[i].x) == hand[i].bf16, "bf16(%g) = %04x", hand[i].x, kr_f32_to_bf16(hand[i].x));
    }
    CHECK(isnan(decode_f16(kr_f32_to_f16(NAN))) && isnan(decode_bf16(kr_f32_to_bf16(NAN))));
    CHECK(isnan(kr_f16_to_f32(kr_f32_to_f16(-NAN))) && isnan(kr_bf16_to_f32(kr_f32_to_bf16(NAN))));
    /* random bit patterns over the whole float range, including subnormals */
    Rng r;
    rng_seed(&r, 11);
    int bad16 = 0, bad_bf = 0, bad_back = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)rng_u64(&r);
        if (i % 2) u = (u & 0x80000000u) | ((u % (0x48000000u - 0x32000000u)) + 0x32000000u); /* near half's range */
        float x;
        memcpy(&x, &u, 4);
        bad16 += !same_value(decode_f16(kr_f32_to_f16(x)), ref_f16(x));
        bad_bf += !same_value(decode_bf16(kr_f32_to_bf16(x)), ref_bf16(x));
        uint16_t h = (uint16_t)u;
        bad_back += !same_value(kr_f16_to_f32(h), decode_f16(h));
    }
    CHECK_MSG(bad16 == 0, "%d f16 conversions differ from the reference", bad16);
    CHECK_MSG(bad_bf == 0, "%d bf16 conversions differ from the reference", bad_bf);
    CHECK_MSG(bad_back == 0, "%d f16 decodes differ", bad_back);
}

/* ---------------------------------------------------------------- the checkpoint */

static ModelConfig small_config(int tied) {
    ModelConfig c = tiny_config(40, 32, 2, 4, 2, 48, 32, 0.02f);
    snprintf(c.name, sizeof c.name, "export-test");
    c.rope_theta = 500.0f, c.rms_norm_eps = 1e-6f;
    c.tie_word_embeddings = tied;
    return c;
}

static void write_tokenizer(const char *dir, int vocab) {
    SpmModel m;
    spm_model_init(&m);
    m.model_type = SPM_MODEL_BPE, m.vocab_size = vocab, m.unk_id = 0, m.bos_id = 1, m.eos_id = 2, m.pad_id = -1;
    spm_model_add_piece(&m, "<unk>", 0, SPM_UNKNOWN);
    spm_model_add_piece(&m, "<s>", 0, SPM_CONTROL);
    spm_model_add_piece(&m, "</s>", 0, SPM_CONTROL);
    spm_model_add_piece(&m, "<|user|>", 0, SPM_USER_DEFINED);
    spm_model_add_piece(&m, "<0x41>", 0, SPM_BYTE);
    for (int i = 5; i < vocab; i++) {
        char piece[16];
        snprintf(piece, sizeof piece, "\xe2\x96\x81%c%c", 'a' + i % 26, 'a' + i / 26);
        spm_model_add_piece(&m, piece, -(float)i * 0.5f, SPM_NORMAL);
    }
    uint8_t *buf;
    size_t size;
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    CHECK(spm_model_encode(&m, &buf, &size) == 0);
    CHECK(kr_write_file_atomic(path, buf, size) == 0);
    free(buf);
    spm_model_free(&m);
}

/* Random values everywhere (norm gains too), with hand-picked rounding cases in the embedding. */
static float *make_checkpoint(const char *dir, const ModelConfig *c, ParamLayout *l) {
    CHECK(param_layout_init(l, c) == 0);
    float *p = malloc(l->num_params * sizeof *p);
    Rng r;
    rng_seed(&r, 7);
    for (size_t i = 0; i < l->num_params; i++) p[i] = (float)((rng_double(&r) - 0.5) * 0.4);
    const float edge[] = {65504.0f, 65520.0f, 1e-8f, -0.0f, 3e-8f, 1.00048828125f, 1.01171875f, -1e5f, 7e-6f};
    memcpy(p, edge, sizeof edge);
    CHECK_MSG(checkpoint_save_model(dir, c, p) == 0, "%s", kr_last_error());
    write_tokenizer(dir, c->vocab_size);
    return p;
}

static int run_export(const char *ckpt, const char *format, const char *out, const char *dtype) {
    char *argv[] = {"--checkpoint", (char *)ckpt, "--format", (char *)format, "--output", (char *)out, "--dtype", (char *)dtype};
    return cmd_export(8, argv);
}

/* Our value of element (row, col) as the exporter should write it: q/k rows in rotate_half order
 * for Hugging Face (HF row i of a head <- our row 2i, HF row hd/2 + i <- our row 2i + 1). */
static float source_value(const float *p, const ParamTensor *t, int64_t row, int64_t col, int hd, int hf) {
    int rope = hf && t->layer >= 0 && (strstr(t->name, "wq") || strstr(t->name, "wk"));
    if (rope) {
        int64_t head = row / hd, j = row % hd;
        row = head * hd + (j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1);
    }
    return p[t->offset + (size_t)(row * t->cols + col)];
}

static double stored_value(const uint8_t *data, size_t i, const char *dtype) {
    if (!strcmp(dtype, "f32")) {
        float f;
        memcpy(&f, data + 4 * i, 4);
        return f;
    }
    uint16_t h = (uint16_t)(data[2 * i] | data[2 * i + 1] << 8);
    return !strcmp(dtype, "f16") ? decode_f16(h) : decode_bf16(h);
}
static double expected_value(float x, const char *dtype) {
    return !strcmp(dtype, "f32") ? x : !strcmp(dtype, "f16") ? ref_f16(x) : ref_bf16(x);
}

/* A q8_0 tensor against the checkpoint: per block of 32 along a row, the f16 scale must be
 * amax / 127 rounded to f16, and each int8 the value divided by amax / 127, rounded half away
 * from zero (llama.cpp's quantize_row_q8_0). Returns the number of wrong blocks. */
static int compare_q8_0(const uint8_t *data, const float *p, const ParamTensor *t) {
    int bad = 0;
    for (int64_t r = 0; r < t->rows; r++)
        for (int64_t b = 0; b < t->cols; b += 32, data += 34) {
            const float *x = p + t->offset + r * t->cols + b;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
            double d = amax / 127.0f, scale = decode_f16((uint16_t)(data[0] | data[1] << 8));
            int wrong = !same_value(scale, ref_f16(d));
            for (int i = 0; i < 32; i++) {
                double q = d > 0 ? x[i] / d : 0; /* as the exporter: x times 1/d, both floats */
                wrong |= (int8_t)data[2 + i] != (int)round((double)(x[i] * (d > 0 ? 1.0f / (float)d : 0.0f)));
                wrong |= fabs(q - (int8_t)data[2 + i]) > 0.5 + 1e-5; /* and within half a step */
            }
            bad += wrong;
        }
    return bad;
}

/* Compares a stored tensor with the checkpoint; returns the number of differing elements. */
static int compare_tensor(const uint8_t *data, const float *p, const ParamTensor *t, int hd, int hf, const char *dtype) {
    if (!strcmp(dtype, "q8_0")) return compare_q8_0(data, p, t);
    int bad = 0;
    for (int64_t r = 0; r < t->rows; r++)
        for (int64_t c = 0; c < t->cols; c++)
            bad += !same_value(stored_value(data, (size_t)(r * t->cols + c), dtype),
                               expected_value(source_value(p, t, r, c, hd, hf), dtype));
    return bad;
}

/* Our tensor names -> theirs, written out independently of src/export. */
static void their_name(const ParamTensor *t, int gguf, char *out, size_t cap) {
    static const char *map[][3] = {
        {"tok_embeddings.weight", "model.embed_tokens.weight", "token_embd.weight"},
        {"norm.weight", "model.norm.weight", "output_norm.weight"},
        {"output.weight", "lm_head.weight", "output.weight"},
        {"attention_norm.weight", "input_layernorm.weight", "attn_norm.weight"},
        {"attention.wq.weight", "self_attn.q_proj.weight", "attn_q.weight"},
        {"attention.wk.weight", "self_attn.k_proj.weight", "attn_k.weight"},
        {"attention.wv.weight", "self_attn.v_proj.weight", "attn_v.weight"},
        {"attention.wo.weight", "self_attn.o_proj.weight", "attn_output.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight", "ffn_norm.weight"},
        {"feed_forward.w1.weight", "mlp.gate_proj.weight", "ffn_gate.weight"},
        {"feed_forward.w3.weight", "mlp.up_proj.weight", "ffn_up.weight"},
        {"feed_forward.w2.weight", "mlp.down_proj.weight", "ffn_down.weight"},
    };
    char ours[64];
    int layer = t->layer;
    if (layer >= 0) snprintf(ours, sizeof ours, "%s", strchr(t->name + 7, '.') + 1);
    else snprintf(ours, sizeof ours, "%s", t->name);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], ours)) {
            if (layer < 0) snprintf(out, cap, "%s", map[i][1 + gguf]);
            else snprintf(out, cap, gguf ? "blk.%d.%s" : "model.layers.%d.%s", layer, map[i][1 + gguf]);
            return;
        }
    snprintf(out, cap, "?");
}

/* ---------------------------------------------------------------- safetensors */

static void check_safetensors(const char *dir, const ModelConfig *c, const ParamLayout *l, const float *p,
                              const char *dtype) {
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t size;
    uint8_t *f = (uint8_t *)kr_read_file(path, &size);
    CHECK_MSG(f != NULL, "%s", path);
    if (!f) return;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)f[i] << (8 * i);
    CHECK(hlen % 8 == 0 && 8 + hlen <= size);
    cJSON *h = cJSON_ParseWithLength((const char *)f + 8, hlen);
    CHECK(h != NULL);
    const uint8_t *data = f + 8 + hlen;
    const char *st = !strcmp(dtype, "f32") ? "F32" : !strcmp(dtype, "f16") ? "F16" : "BF16";
    cJSON *meta = cJSON_GetObjectItem(h, "__metadata__");
    CHECK(meta && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(meta, "format")), "pt"));
    CHECK(cJSON_GetArraySize(h) == l->num_tensors + 1);
    size_t expect_off = 0, esize = strcmp(dtype, "f32") ? 2 : 4;
    int hd = model_head_dim(c);
    for (int i = 0; i < l->num_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        char name[128];
        their_name(t, 0, name, sizeof name);
        cJSON *e = cJSON_GetObjectItem(h, name);
        CHECK_MSG(e != NULL, "safetensors lacks %s", name);
        if (!e) continue;
        CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "dtype")), st));
        cJSON *shape = cJSON_GetObjectItem(e, "shape"), *offs = cJSON_GetObjectItem(e, "data_offsets");
        int vec = t->kind == PARAM_NORM;
        CHECK(cJSON_GetArraySize(shape) == (vec ? 1 : 2));
        CHECK(cJSON_GetArrayItem(shape, 0)->valuedouble == (double)(vec ? t->cols : t->rows));
        if (!vec) CHECK(cJSON_GetArrayItem(shape, 1)->valuedouble == (double)t->cols);
        size_t a = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble, b = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        CHECK_MSG(a == expect_off && b - a == param_numel(t) * esize, "%s offsets %zu..%zu", name, a, b);
        expect_off = b;
        if (8 + hlen + b <= size) {
            int bad = compare_tensor(data + a, p, t, hd, 1, dtype);
            CHECK_MSG(bad == 0, "%s (%s): %d values differ", name, dtype, bad);
        }
    }
    CHECK(cJSON_GetObjectItem(h, "lm_head.weight") == NULL || !c->tie_word_embeddings);
    CHECK(8 + hlen + expect_off == size);
    cJSON_Delete(h);
    free(f);

    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = kr_read_file(path, NULL);
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    CHECK_MSG(cfg != NULL, "config.json");
    if (cfg) {
        const struct { const char *key; double v; } nums[] = {
            {"vocab_size", c->vocab_size}, {"hidden_size", c->hidden_size}, {"intermediate_size", c->intermediate_size},
            {"num_hidden_layers", c->num_layers}, {"num_attention_heads", c->num_heads},
            {"num_key_value_heads", c->num_kv_heads}, {"head_dim", hd}, {"max_position_embeddings", c->max_seq_len},
            {"bos_token_id", 1}, {"eos_token_id", 2}};
        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            cJSON *v = cJSON_GetObjectItem(cfg, nums[i].key);
            CHECK_MSG(v && v->valuedouble == nums[i].v, "config.json %s", nums[i].key);
        }
        CHECK((float)cJSON_GetObjectItem(cfg, "rms_norm_eps")->valuedouble == c->rms_norm_eps);
        CHECK((float)cJSON_GetObjectItem(cfg, "rope_theta")->valuedouble == c->rope_theta);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cfg, "tie_word_embeddings")) == c->tie_word_embeddings);
        CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "model_type")), "llama"));
        CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "hidden_act")), "silu"));
        const char *td = cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "torch_dtype"));
        CHECK(td && !strcmp(td, !strcmp(dtype, "f32") ? "float32" : !strcmp(dtype, "f16") ? "float16" : "bfloat16"));
    }
    cJSON_Delete(cfg);
    free(text);
    const char *others[] = {"generation_config.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, others[i]);
        CHECK_MSG(kr_file_exists(path), "%s missing", path);
    }
}

/* The q/k row order: Hugging Face's rotate_half RoPE on x Wq_hf^T equals our interleaved RoPE on
 * x Wq^T up to the same row order, so attention scores q.k are identical. */
static void rope_ours(double *v, int hd, int pos, double theta) {
    for (int i = 0; i < hd / 2; i++) {
        double a = pos * pow(theta, -2.0 * i / hd), x = v[2 * i], y = v[2 * i + 1];
        v[2 * i] = x * cos(a) - y * sin(a), v[2 * i + 1] = x * sin(a) + y * cos(a);
    }
}
static void rope_hf(double *v, int hd, int pos, double theta) {
    int h = hd / 2;
    for (int i = 0; i < h; i++) {
        double a = pos * pow(theta, -2.0 * i / hd), x = v[i], y = v[h + i];
        v[i] = x * cos(a) - y * sin(a), v[h + i] = y * cos(a) + x * sin(a); /* x*cos + rotate_half(x)*sin */
    }
}

static void check_rope_permutation(const char *dir, const ModelConfig *c, const ParamLayout *l, const float *p) {
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t size;
    uint8_t *f = (uint8_t *)kr_read_file(path, &size);
    if (!f) return;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)f[i] << (8 * i);
    cJSON *h = cJSON_ParseWithLength((const char *)f + 8, hlen);
    int d = c->hidden_size, hd = model_head_dim(c);
    const ParamTensor *tq = param_find(l, "layers.1.attention.wq.weight"), *tk = param_find(l, "layers.1.attention.wk.weight");
    const float *hq = (const float *)(f + 8 + hlen + (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "model.layers.1.self_attn.q_proj.weight"), "data_offsets"), 0)->valuedouble);
    const float *hk = (const float *)(f + 8 + hlen + (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "model.layers.1.self_attn.k_proj.weight"), "data_offsets"), 0)->valuedouble);
    double x[64], y[64], q_ours[64], q_hf[64], k_ours[64], k_hf[64];
    for (int i = 0; i < d; i++) x[i] = sin(0.7 * i + 0.3), y[i] = cos(1.3 * i);
    int qrows = (int)tq->rows, krows = (int)tk->rows, worst = 0;
    for (int r = 0; r < qrows; r++) {
        q_ours[r] = q_hf[r] = 0;
        for (int j = 0; j < d; j++) q_ours[r] += x[j] * p[tq->offset + (size_t)r * d + j], q_hf[r] += x[j] * hq[(size_t)r * d + j];
    }
    for (int r = 0; r < krows; r++) {
        k_ours[r] = k_hf[r] = 0;
        for (int j = 0; j < d; j++) k_ours[r] += y[j] * p[tk->offset + (size_t)r * d + j], k_hf[r] += y[j] * hk[(size_t)r * d + j];
    }
    int pq = 5, pk = 2;
    for (int hh = 0; hh < qrows / hd; hh++) rope_ours(q_ours + hh * hd, hd, pq, c->rope_theta), rope_hf(q_hf + hh * hd, hd, pq, c->rope_theta);
    for (int hh = 0; hh < krows / hd; hh++) rope_ours(k_ours + hh * hd, hd, pk, c->rope_theta), rope_hf(k_hf + hh * hd, hd, pk, c->rope_theta);
    for (int r = 0; r < qrows; r++) {
        int head = r / hd, j = r % hd, src = head * hd + (j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1);
        worst += fabs(q_hf[r] - q_ours[src]) > 1e-9;
    }
    CHECK_MSG(worst == 0, "%d rotated q entries differ", worst);
    /* scores of query head 3 against its kv head (GQA: head 3 -> kv head 1) */
    int qh = 3, kh = qh / (c->num_heads / c->num_kv_heads);
    double s_ours = 0, s_hf = 0;
    for (int i = 0; i < hd; i++) s_ours += q_ours[qh * hd + i] * k_ours[kh * hd + i], s_hf += q_hf[qh * hd + i] * k_hf[kh * hd + i];
    CHECK_NEAR(s_hf, s_ours, 1e-9);
    cJSON_Delete(h);
    free(f);
}

/* ---------------------------------------------------------------- GGUF */

typedef struct {
    const uint8_t *b;
    size_t n, p;
    int bad;
} Rd;
static uint64_t rd(Rd *r, int bytes) {
    if (r->p + (size_t)bytes > r->n) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->b[r->p + (size_t)i] << (8 * i);
    r->p += (size_t)bytes;
    return v;
}
static void rd_str(Rd *r, char *out, size_t cap) {
    uint64_t n = rd(r, 8);
    if (r->p + n > r->n) n = r->n - r->p, r->bad = 1;
    snprintf(out, cap, "%.*s", (int)n, (const char *)r->b + r->p);
    r->p += n;
}
static float as_f32(uint64_t u) {
    uint32_t v = (uint32_t)u;
    float f;
    memcpy(&f, &v, 4);
    return f;
}

typedef struct {
    uint64_t u32[16];
    char keys[16][64];
    int n_u32;
    float freq_base, eps;
    char arch[64], name[64], tok_model[64];
    int n_tokens, tokens_ok, types[8], bos, add_bos, n_kv;
} GgufMeta;

static uint64_t meta_u32(const GgufMeta *m, const char *key) {
    for (int i = 0; i < m->n_u32; i++)
        if (!strcmp(m->keys[i], key)) return m->u32[i];
    return UINT64_MAX;
}

static void read_value(Rd *r, int type, const char *key, GgufMeta *m) {
    static const int sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
        char s[64];
        rd_str(r, s, sizeof s);
        if (!strcmp(key, "general.architecture")) snprintf(m->arch, sizeof m->arch, "%s", s);
        if (!strcmp(key, "general.name")) snprintf(m->name, sizeof m->name, "%s", s);
        if (!strcmp(key, "tokenizer.ggml.model")) snprintf(m->tok_model, sizeof m->tok_model, "%s", s);
        return;
    }
    if (type == 9) {
        int et = (int)rd(r, 4);
        uint64_t n = rd(r, 8);
        for (uint64_t i = 0; i < n && !r->bad; i++) {
            if (!strcmp(key, "tokenizer.ggml.tokens")) {
                char s[64];
                rd_str(r, s, sizeof s);
                m->n_tokens++;
                if (i == 1) m->tokens_ok = !strcmp(s, "<s>");
            } else if (!strcmp(key, "tokenizer.ggml.token_type") && i < 8) {
                m->types[i] = (int)rd(r, 4);
            } else {
                read_value(r, et, "", m);
            }
        }
        return;
    }
    if (type < 0 || type > 12) {
        r->bad = 1;
        return;
    }
    uint64_t v = rd(r, sizes[type]);
    if (type == 4 && m->n_u32 < 16) {
        snprintf(m->keys[m->n_u32], 64, "%s", key);
        m->u32[m->n_u32++] = v;
    }
    if (!strcmp(key, "llama.rope.freq_base")) m->freq_base = type == 6 ? as_f32(v) : -1;
    if (!strcmp(key, "llama.attention.layer_norm_rms_epsilon")) m->eps = type == 6 ? as_f32(v) : -1;
    if (!strcmp(key, "tokenizer.ggml.add_bos_token")) m->add_bos = type == 7 ? (int)v : -1;
}

static void check_gguf(const char *path, const ModelConfig *c, const ParamLayout *l, const float *p, const char *dtype) {
    size_t size;
    uint8_t *f = (uint8_t *)kr_read_file(path, &size);
    CHECK_MSG(f != NULL, "%s", path);
    if (!f) return;
    Rd r = {f, size, 4, 0};
    CHECK(size > 24 && !memcmp(f, "GGUF", 4));
    CHECK(rd(&r, 4) == 3);
    uint64_t nt = rd(&r, 8), nkv = rd(&r, 8);
    CHECK((int)nt == l->num_tensors);
    GgufMeta m;
    memset(&m, 0, sizeof m);
    for (uint64_t i = 0; i < nkv && !r.bad; i++) {
        char key[128];
        rd_str(&r, key, sizeof key);
        read_value(&r, (int)rd(&r, 4), key, &m);
    }
    CHECK(!strcmp(m.arch, "llama") && !strcmp(m.name, "export-test") && !strcmp(m.tok_model, "llama"));
    int ft = !strcmp(dtype, "f32") ? 0 : !strcmp(dtype, "f16") ? 1 : !strcmp(dtype, "q8_0") ? 7 : 32;
    const struct { const char *key; uint64_t v; } want[] = {
        {"general.alignment", 32}, {"general.file_type", (uint64_t)ft}, {"llama.context_length", (uint64_t)c->max_seq_len},
        {"llama.embedding_length", (uint64_t)c->hidden_size}, {"llama.block_count", (uint64_t)c->num_layers},
        {"llama.feed_forward_length", (uint64_t)c->intermediate_size}, {"llama.attention.head_count", (uint64_t)c->num_heads},
        {"llama.attention.head_count_kv", (uint64_t)c->num_kv_heads}, {"llama.rope.dimension_count", (uint64_t)model_head_dim(c)},
        {"llama.vocab_size", (uint64_t)c->vocab_size}, {"tokenizer.ggml.bos_token_id", 1}, {"tokenizer.ggml.eos_token_id", 2},
        {"tokenizer.ggml.unknown_token_id", 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(meta_u32(&m, want[i].key) == want[i].v, "%s = %llu", want[i].key, (unsigned long long)meta_u32(&m, want[i].key));
    CHECK(m.freq_base == c->rope_theta && m.eps == c->rms_norm_eps && m.add_bos == 1);
    CHECK(m.n_tokens == c->vocab_size && m.tokens_ok);
    CHECK(m.types[0] == 2 && m.types[1] == 3 && m.types[3] == 4 && m.types[4] == 6 && m.types[5] == 1);
    struct { char name[96]; uint64_t dims[2]; int nd, type; uint64_t off; } *ti = calloc(nt, sizeof *ti);
    for (uint64_t i = 0; i < nt && !r.bad; i++) {
        rd_str(&r, ti[i].name, sizeof ti[i].name);
        ti[i].nd = (int)rd(&r, 4);
        for (int k = 0; k < ti[i].nd && k < 2; k++) ti[i].dims[k] = rd(&r, 8);
        ti[i].type = (int)rd(&r, 4);
        ti[i].off = rd(&r, 8);
    }
    CHECK(!r.bad);
    size_t start = (r.p + 31) / 32 * 32;
    int mtype = ft == 0 ? 0 : ft == 1 ? 1 : ft == 7 ? 8 : 30;
    uint64_t end = 0;
    for (int i = 0; i < l->num_tensors && i < (int)nt; i++) {
        const ParamTensor *t = &l->tensors[i];
        char name[96];
        their_name(t, 1, name, sizeof name);
        int vec = t->kind == PARAM_NORM;
        CHECK_MSG(!strcmp(ti[i].name, name), "tensor %d is %s, expected %s", i, ti[i].name, name);
        CHECK(ti[i].nd == (vec ? 1 : 2) && ti[i].dims[0] == (uint64_t)t->cols && (vec || ti[i].dims[1] == (uint64_t)t->rows));
        CHECK_MSG(ti[i].type == (vec ? 0 : mtype), "%s type %d", name, ti[i].type);
        CHECK(ti[i].off % 32 == 0 && ti[i].off >= end);
        const char *tdt = vec ? "f32" : dtype;
        end = ti[i].off + (!strcmp(tdt, "q8_0") ? param_numel(t) / 32 * 34 : param_numel(t) * (strcmp(tdt, "f32") ? 2 : 4));
        if (start + end <= size) {
            int bad = compare_tensor(f + start + ti[i].off, p, t, 0, 0, tdt);
            CHECK_MSG(bad == 0, "%s (%s): %d values differ", name, dtype, bad);
        }
    }
    CHECK(start + end <= size && size - (start + end) < 32);
    free(ti);
    free(f);
}

/* ---------------------------------------------------------------- runs */

static void test_model(int tied) {
    char ckpt[1000], out[1100];
    snprintf(ckpt, sizeof ckpt, "%s/export-ckpt-%d", tmp, tied);
    ModelConfig c = small_config(tied);
    ParamLayout l;
    float *p = make_checkpoint(ckpt, &c, &l);
    const char *dtypes[] = {"f32", "f16", "bf16"};
    for (int i = 0; i < 3; i++) {
        snprintf(out, sizeof out, "%s/export-hf-%d-%s", tmp, tied, dtypes[i]);
        CHECK_MSG(run_export(ckpt, "safetensors", out, dtypes[i]) == 0, "safetensors %s", dtypes[i]);
        check_safetensors(out, &c, &l, p, dtypes[i]);
        if (i == 0) check_rope_permutation(out, &c, &l, p);
        /* folders on the way to the output are created */
        snprintf(out, sizeof out, "%s/export-%d/new/%s.gguf", tmp, tied, dtypes[i]);
        CHECK_MSG(run_export(ckpt, "gguf", out, dtypes[i]) == 0, "gguf %s", dtypes[i]);
        check_gguf(out, &c, &l, p, dtypes[i]);
    }
    /* exporting again over an existing directory replaces it */
    snprintf(out, sizeof out, "%s/export-hf-%d-f32", tmp, tied);
    CHECK(run_export(ckpt, "safetensors", out, "f32") == 0);
    check_safetensors(out, &c, &l, p, "f32");
    free(p);
    param_layout_free(&l);
}

/* q8_0 (GGUF only): a model whose rows are whole 32-value blocks exports and reads back; one with
 * rows of 48 values, and safetensors, are refused with a message. */
static void test_q8_0(void) {
    char ckpt[1000], out[1100];
    snprintf(ckpt, sizeof ckpt, "%s/export-ckpt-q8", tmp);
    ModelConfig c = small_config(0);
    c.intermediate_size = 64;
    ParamLayout l;
    float *p = make_checkpoint(ckpt, &c, &l);
    snprintf(out, sizeof out, "%s/export-q8.gguf", tmp);
    CHECK(run_export(ckpt, "gguf", out, "q8_0") == 0);
    check_gguf(out, &c, &l, p, "q8_0");
    snprintf(out, sizeof out, "%s/export-hf-q8", tmp);
    CHECK(run_export(ckpt, "safetensors", out, "q8_0") == 1);
    CHECK_MSG(strstr(kr_last_error(), "GGUF") != NULL, "%s", kr_last_error());
    free(p);
    param_layout_free(&l);
    snprintf(ckpt, sizeof ckpt, "%s/export-ckpt-0", tmp); /* intermediate size 48 */
    snprintf(out, sizeof out, "%s/export-q8-48.gguf", tmp);
    CHECK(run_export(ckpt, "gguf", out, "q8_0") == 1);
    CHECK_MSG(strstr(kr_last_error(), "multiple of 32") != NULL, "%s", kr_last_error());
    CHECK(!kr_file_exists(out));
}

static void test_errors(void) {
    char ckpt[1000], out[1100], path[1100];
    snprintf(ckpt, sizeof ckpt, "%s/export-ckpt-0", tmp);
    snprintf(out, sizeof out, "%s/export-err.gguf", tmp);
    remove(out);
    CHECK(run_export(ckpt, "onnx", out, "f32") == 2);
    CHECK(run_export(ckpt, "gguf", out, "f8") == 2);
    snprintf(path, sizeof path, "%s/no-such-checkpoint", tmp);
    CHECK(run_export(path, "gguf", out, "f32") == 1);
    snprintf(path, sizeof path, "%s/export-ckpt-0/model.bin/x.gguf", tmp); /* a file as a folder */
    CHECK(run_export(ckpt, "gguf", path, "f32") == 1);
    /* a damaged model.bin: one payload byte flipped */
    snprintf(path, sizeof path, "%s/export-ckpt-0/model.bin", tmp);
    FILE *fp = fopen(path, "r+b");
    CHECK(fp != NULL);
    if (fp) {
        fseek(fp, 300, SEEK_SET);
        int ch = fgetc(fp);
        fseek(fp, 300, SEEK_SET);
        fputc(ch ^ 0x10, fp);
        fclose(fp);
    }
    CHECK(run_export(ckpt, "gguf", out, "f32") == 1);
    CHECK(strstr(kr_last_error(), "model.bin") != NULL);
    CHECK(!kr_file_exists(out));
}

int main(void) {
    const char *t = getenv("KRLLM_TMP");
    snprintf(tmp, sizeof tmp, "%s", t ? t : "/tmp");
    test_halfprec();
    test_model(0);
    test_model(1);
    test_q8_0();
    test_errors();
    return test_summary("test_export");
}
