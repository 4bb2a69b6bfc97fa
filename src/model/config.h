/* Model architecture: a Llama-style decoder described entirely by this struct. */
#ifndef KR_MODEL_CONFIG_H
#define KR_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char name[64];
    int vocab_size;
    int hidden_size;       /* d */
    int num_layers;        /* L */
    int num_heads;         /* H query heads */
    int num_kv_heads;      /* KV heads (grouped-query attention: H % KV == 0) */
    int intermediate_size; /* SwiGLU hidden width */
    int max_seq_len;       /* context length */
    float rope_theta;
    float rms_norm_eps;
    int tie_word_embeddings; /* LM head shares the token embedding matrix */
    float initializer_range; /* std of the normal init of matrices */
} ModelConfig;

/* Defaults of a Llama-style model (tiny; every real config overrides the sizes). */
void model_config_defaults(ModelConfig *c);
/* Loads and validates a YAML model config. */
int model_config_load(const char *path, ModelConfig *c);
/* Checks cross-field constraints (head divisibility, even head dim ...). */
int model_config_validate(const ModelConfig *c);
void model_config_write_yaml(FILE *fp, const ModelConfig *c);

static inline int model_head_dim(const ModelConfig *c) { return c->hidden_size / c->num_heads; }
static inline int model_kv_dim(const ModelConfig *c) { return c->num_kv_heads * model_head_dim(c); }

/* Exact number of trainable parameters. */
int64_t model_num_params(const ModelConfig *c);
/* Training FLOPs per token (6 x matmul parameters incl. the head, plus causal attention), as the anchors count. */
double model_flops_per_token(const ModelConfig *c, int seq_len);

#endif
