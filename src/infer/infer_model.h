/* The inference model: weights in the chosen precision, a preallocated grouped-query KV cache
 * (one slot per concurrent sequence, each as long as the context), and a forward pass over any
 * set of rows, each row being (token, cache slot, position).
 *
 * A prefill (many rows of one sequence) runs the linear layers as matrix-matrix products
 * through BLAS; decoding (one row per sequence) streams each weight matrix once for the whole
 * batch. All buffers are sized at creation: the forward pass never allocates. */
#ifndef KR_INFER_MODEL_H
#define KR_INFER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "infer/qmatrix.h"
#include "model/config.h"

typedef struct InferModel InferModel;

/* Rows of one forward call at most (longer prompts are prefilled in chunks of this size). */
#define INFER_MAX_PREFILL_ROWS 256

/* params: the flat fp32 buffer of model/params.h. With PREC_FP32 the matrices are used in
 * place (params must outlive the model); other precisions are converted here.
 * max_slots: concurrent sequences; max_context: positions per slot (<= cfg->max_seq_len,
 * 0 = cfg->max_seq_len). */
InferModel *infer_model_create(const ModelConfig *cfg, const float *params, InferPrecision prec, int max_slots, int max_context);
void infer_model_free(InferModel *m);

const ModelConfig *infer_model_config(const InferModel *m);
int infer_model_context(const InferModel *m);
int infer_model_slots(const InferModel *m);
InferPrecision infer_model_precision(const InferModel *m);
/* Bytes of weights one decode step reads (every matrix once, plus one embedding row). */
size_t infer_model_weight_bytes(const InferModel *m);

/* Runs n rows (n <= INFER_MAX_PREFILL_ROWS and, when !prefill, n <= slots). Row r feeds
 * tokens[r] at position pos[r] of cache slot slots[r]; rows of a slot must cover every earlier
 * position in this or previous calls. prefill=1: rows are consecutive positions of one slot
 * (matrix-matrix work); prefill=0: one row per distinct slot (matrix-vector work).
 * Logits are computed for the rows listed in logit_rows (n_logits <= n) and are then available
 * from infer_model_logits as [n_logits, vocab]. */
int infer_model_forward(InferModel *m, int n, const int32_t *tokens, const int *slots, const int *pos, int prefill,
                        int n_logits, const int *logit_rows);
float *infer_model_logits(InferModel *m);

#endif
