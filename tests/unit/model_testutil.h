/* A tiny model configuration for tests, set field by field in one place. */
#ifndef KR_MODEL_TESTUTIL_H
#define KR_MODEL_TESTUTIL_H

#include "model/config.h"

/* A tiny model; `scale` is the init std (larger than usual so that logits are peaked and
 * argmax decisions are not near-ties). */
static inline ModelConfig tiny_config(int vocab, int d, int layers, int heads, int kv_heads, int ffn, int ctx, float scale) {
    ModelConfig c;
    model_config_defaults(&c);
    c.vocab_size = vocab;
    c.hidden_size = d;
    c.num_layers = layers;
    c.num_heads = heads;
    c.num_kv_heads = kv_heads;
    c.intermediate_size = ffn;
    c.max_seq_len = ctx;
    c.initializer_range = scale;
    return c;
}

#endif
