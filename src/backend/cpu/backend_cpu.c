/* The CPU backend: fp32 parameters, gradients and AdamW moments as flat buffers (the layout of
 * model/params.h), driven through the reference model of model/llama_cpu.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "backend/backend.h"
#include "common/error.h"
#include "model/llama_cpu.h"

typedef struct {
    LlamaCpu *model;
    float *params, *grads, *m, *v; /* each layout.num_params floats */
    ModelWeights w, g;             /* views of params and grads */
    int logits_valid;              /* 0 after a backward consumed them */
} CpuBackend;

static CpuBackend *impl(Backend *be) { return (CpuBackend *)be->impl; }
static size_t nparams(const Backend *be) { return be->layout.num_params; }

static void cpu_destroy(Backend *be) {
    CpuBackend *c = impl(be);
    if (!c) return;
    llama_cpu_free(c->model);
    model_weights_free(&c->w);
    model_weights_free(&c->g);
    free(c->params);
    free(c->grads);
    free(c->m);
    free(c->v);
    free(c);
    be->impl = NULL;
}

static int cpu_create(Backend *be, const ModelConfig *cfg, const BackendOptions *opt) {
    if (opt->mixed_precision) return kr_error("the cpu backend computes in fp32 only; set mixed_precision off");
    if (opt->num_threads > 0) omp_set_num_threads(opt->num_threads);
    CpuBackend *c = calloc(1, sizeof *c);
    if (!c) return kr_error("out of memory");
    be->impl = c;
    size_t n = nparams(be);
    c->params = calloc(n, sizeof(float));
    c->grads = calloc(n, sizeof(float));
    c->m = calloc(n, sizeof(float));
    c->v = calloc(n, sizeof(float));
    if (!c->params || !c->grads || !c->m || !c->v) {
        cpu_destroy(be);
        return kr_error("out of memory for %zu parameters (needs %.1f MB for weights, gradients and AdamW state)", n,
                        n * 16.0 / 1e6);
    }
    if (model_weights_map(&c->w, &be->layout, c->params) != 0 || model_weights_map(&c->g, &be->layout, c->grads) != 0 ||
        !(c->model = llama_cpu_create(cfg, opt->batch_size, opt->seq_len))) {
        cpu_destroy(be);
        return -1;
    }
    return 0;
}

static int cpu_set_params(Backend *be, const float *params) {
    memcpy(impl(be)->params, params, nparams(be) * sizeof(float));
    return 0;
}

static int cpu_get_params(Backend *be, float *params) {
    memcpy(params, impl(be)->params, nparams(be) * sizeof(float));
    return 0;
}

static int cpu_set_opt_state(Backend *be, const float *m, const float *v) {
    memcpy(impl(be)->m, m, nparams(be) * sizeof(float));
    memcpy(impl(be)->v, v, nparams(be) * sizeof(float));
    return 0;
}

static int cpu_get_opt_state(Backend *be, float *m, float *v) {
    memcpy(m, impl(be)->m, nparams(be) * sizeof(float));
    memcpy(v, impl(be)->v, nparams(be) * sizeof(float));
    return 0;
}

static int cpu_zero_grad(Backend *be) {
    float *g = impl(be)->grads;
    long n = (long)nparams(be);
#pragma omp parallel for simd
    for (long i = 0; i < n; i++) g[i] = 0.0f;
    return 0;
}

static int check_tokens(const Backend *be, const int32_t *ids, const char *what) {
    int n = be->opt.batch_size * be->opt.seq_len, V = be->cfg.vocab_size;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return kr_error("%s token %d at position %d is outside the vocabulary [0, %d); check that the data was "
                            "tokenized with this model's tokenizer", what, ids[i], i, V);
    return 0;
}

static int cpu_forward_loss(Backend *be, const int32_t *inputs, const int32_t *targets, float *loss) {
    if (check_tokens(be, inputs, "input") != 0 || check_tokens(be, targets, "target") != 0) return -1;
    CpuBackend *c = impl(be);
    *loss = llama_cpu_forward(c->model, &c->w, inputs, targets);
    c->logits_valid = 1;
    return 0;
}

static int cpu_forward_backward(Backend *be, const int32_t *inputs, const int32_t *targets, float loss_scale,
                                float *loss) {
    if (cpu_forward_loss(be, inputs, targets, loss) != 0) return -1;
    CpuBackend *c = impl(be);
    llama_cpu_backward(c->model, &c->w, &c->g, loss_scale);
    c->logits_valid = 0;
    return 0;
}

static int cpu_get_logits(Backend *be, float *logits) {
    CpuBackend *c = impl(be);
    if (!c->logits_valid)
        return kr_error("no logits to return: the cpu backend reuses the logits memory for their gradient during "
                        "forward_backward; call forward_loss first");
    size_t n = (size_t)be->opt.batch_size * be->opt.seq_len * be->cfg.vocab_size;
    memcpy(logits, llama_cpu_logits(c->model), n * sizeof(float));
    return 0;
}

static int cpu_get_grads(Backend *be, float *grads) {
    memcpy(grads, impl(be)->grads, nparams(be) * sizeof(float));
    return 0;
}

static int cpu_grad_norm(Backend *be, float *norm) {
    const float *g = impl(be)->grads;
    long n = (long)nparams(be);
    double ss = 0.0;
#pragma omp parallel for reduction(+ : ss)
    for (long i = 0; i < n; i++) ss += (double)g[i] * g[i];
    *norm = (float)sqrt(ss);
    return 0;
}

/* torch.optim.AdamW's update, element by element: decoupled decay, then the bias-corrected step. */
static int cpu_adamw_step(Backend *be, const AdamWStep *s) {
    if (s->step < 1) return kr_error("AdamW step must start at 1 (got %d)", s->step);
    CpuBackend *c = impl(be);
    double bc1 = 1.0 - pow(s->beta1, s->step), bc2 = 1.0 - pow(s->beta2, s->step);
    float step_size = (float)(s->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float b1 = s->beta1, b2 = s->beta2, eps = s->eps, gs = s->grad_scale;
    /* one parallel region; tensors are independent, so threads move on without a barrier */
#pragma omp parallel
    for (int t = 0; t < be->layout.num_tensors; t++) {
        const ParamTensor *pt = &be->layout.tensors[t];
        int decay = s->decay_all || pt->kind == PARAM_MATRIX;
        float keep = decay ? 1.0f - s->lr * s->weight_decay : 1.0f;
        float *p = c->params + pt->offset, *m = c->m + pt->offset, *v = c->v + pt->offset;
        const float *g = c->grads + pt->offset;
        long n = (long)param_numel(pt);
#pragma omp for simd nowait
        for (long i = 0; i < n; i++) {
            float gi = g[i] * gs;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            p[i] = p[i] * keep - step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
        }
    }
    return 0;
}

static int64_t cpu_memory_in_use(Backend *be) {
    CpuBackend *c = impl(be);
    return (int64_t)(4 * nparams(be) * sizeof(float)) + llama_cpu_memory(c->model);
}

const BackendOps cpu_backend_ops = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .set_params = cpu_set_params,
    .get_params = cpu_get_params,
    .set_opt_state = cpu_set_opt_state,
    .get_opt_state = cpu_get_opt_state,
    .zero_grad = cpu_zero_grad,
    .forward_backward = cpu_forward_backward,
    .forward_loss = cpu_forward_loss,
    .get_logits = cpu_get_logits,
    .get_grads = cpu_get_grads,
    .grad_norm = cpu_grad_norm,
    .adamw_step = cpu_adamw_step,
    .memory_in_use = cpu_memory_in_use,
};
