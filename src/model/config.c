#include "model/config.h"

#include <stddef.h>
#include <string.h>

#include "common/error.h"
#include "common/yamlcfg.h"

#define F(key, type, member, lo, hi) {key, type, offsetof(ModelConfig, member), lo, hi, 0}
static const CfgField model_schema[] = {
    {"name", CFG_STR, offsetof(ModelConfig, name), 0, 0, sizeof(((ModelConfig *)0)->name)},
    F("vocab_size", CFG_INT, vocab_size, 2, 1 << 24),
    F("hidden_size", CFG_INT, hidden_size, 2, 65536),
    F("num_layers", CFG_INT, num_layers, 1, 1024),
    F("num_heads", CFG_INT, num_heads, 1, 1024),
    F("num_kv_heads", CFG_INT, num_kv_heads, 1, 1024),
    F("intermediate_size", CFG_INT, intermediate_size, 1, 1 << 20),
    F("max_seq_len", CFG_INT, max_seq_len, 1, 1 << 20),
    F("rope_theta", CFG_FLOAT, rope_theta, 1, 1e9),
    F("rms_norm_eps", CFG_FLOAT, rms_norm_eps, 1e-12, 1),
    F("tie_word_embeddings", CFG_BOOL, tie_word_embeddings, 0, 1),
    F("initializer_range", CFG_FLOAT, initializer_range, 0, 1),
};
#undef F
#define NFIELDS (int)(sizeof model_schema / sizeof model_schema[0])

void model_config_defaults(ModelConfig *c) {
    memset(c, 0, sizeof *c);
    strcpy(c->name, "unnamed");
    c->vocab_size = 32000;
    c->hidden_size = 64;
    c->num_layers = 2;
    c->num_heads = 4;
    c->num_kv_heads = 2;
    c->intermediate_size = 176;
    c->max_seq_len = 256;
    c->rope_theta = 10000.0f;
    c->rms_norm_eps = 1e-5f;
    c->tie_word_embeddings = 0;
    c->initializer_range = 0.02f;
}

int model_config_validate(const ModelConfig *c) {
    if (c->hidden_size % c->num_heads != 0)
        return kr_error("hidden_size %d is not divisible by num_heads %d", c->hidden_size, c->num_heads);
    if (c->num_heads % c->num_kv_heads != 0)
        return kr_error("num_heads %d is not a multiple of num_kv_heads %d (grouped-query attention)", c->num_heads, c->num_kv_heads);
    if (model_head_dim(c) % 2 != 0) return kr_error("head dimension %d must be even for RoPE", model_head_dim(c));
    return 0;
}

int model_config_load(const char *path, ModelConfig *c) {
    model_config_defaults(c);
    if (yamlcfg_load(path, c, model_schema, NFIELDS) != 0) return -1;
    if (model_config_validate(c) != 0) return kr_error("%s: %s", path, kr_last_error());
    return 0;
}

void model_config_write_yaml(FILE *fp, const ModelConfig *c) { yamlcfg_write(fp, c, model_schema, NFIELDS); }

int64_t model_num_params(const ModelConfig *c) {
    int64_t d = c->hidden_size, kv = model_kv_dim(c), f = c->intermediate_size, V = c->vocab_size;
    int64_t per_layer = 2 * d               /* two RMSNorm gains */
                        + d * d * 2         /* wq, wo */
                        + 2 * d * kv        /* wk, wv */
                        + 3 * d * f;        /* w1, w3, w2 */
    int64_t total = V * d + c->num_layers * per_layer + d;
    if (!c->tie_word_embeddings) total += V * d;
    return total;
}

double model_flops_per_token(const ModelConfig *c, int seq_len) {
    double d = c->hidden_size, kv = model_kv_dim(c), f = c->intermediate_size, V = c->vocab_size;
    double matmul = c->num_layers * (2 * d * d + 2 * d * kv + 3 * d * f) + d * V;
    return 6 * matmul + 6.0 * c->num_layers * seq_len * d;
}
