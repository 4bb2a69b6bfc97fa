/* The CPU backend against the PyTorch oracle (tools/oracle/make_fixtures.py): logits, loss, every
 * gradient tensor, and the losses of 10 AdamW steps with clipping, for an untied GQA model and a
 * tied-embedding one. Also: loss_scale/accumulation semantics and input validation. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "common/error.h"
#include "common/fileio.h"
#include "test.h"

typedef struct {
    ModelConfig cfg;
    int B, T, steps;
    float lr, beta1, beta2, eps, wd, clip, loss;
    int64_t n;
    const float *params, *logits, *grads, *losses;
    const int32_t *inputs, *targets;
    char *buf;
} Fixture;

/* Bounds-checked reads from the fixture bytes. */
typedef struct {
    const char *p, *end;
} Reader;

static const void *take(Reader *r, size_t bytes) {
    if ((size_t)(r->end - r->p) < bytes) return NULL;
    const void *q = r->p;
    r->p += bytes;
    return q;
}

static int load_fixture(const char *path, Fixture *f) {
    memset(f, 0, sizeof *f);
    size_t size;
    f->buf = kr_read_file(path, &size);
    if (!f->buf) return -1;
    Reader r = {f->buf, f->buf + size};
    const char *magic = take(&r, 8);
    const int32_t *h = take(&r, 10 * sizeof(int32_t));
    const float *hf = take(&r, 8 * sizeof(float));
    const int64_t *n = take(&r, sizeof(int64_t));
    if (!magic || memcmp(magic, "KRORACL1", 8) || !h || !hf || !n) return kr_error("%s: not an oracle fixture", path);
    ModelConfig *c = &f->cfg;
    model_config_defaults(c);
    c->vocab_size = h[0], c->hidden_size = h[1], c->num_layers = h[2], c->num_heads = h[3];
    c->num_kv_heads = h[4], c->intermediate_size = h[5], c->tie_word_embeddings = h[6];
    f->B = h[7], f->T = h[8], f->steps = h[9];
    c->max_seq_len = f->T;
    c->rope_theta = hf[0], c->rms_norm_eps = hf[1];
    f->lr = hf[2], f->beta1 = hf[3], f->beta2 = hf[4], f->eps = hf[5], f->wd = hf[6], f->clip = hf[7];
    f->n = *n;
    size_t bt = (size_t)f->B * f->T;
    f->params = take(&r, f->n * sizeof(float));
    f->inputs = take(&r, bt * sizeof(int32_t));
    f->targets = take(&r, bt * sizeof(int32_t));
    f->logits = take(&r, bt * c->vocab_size * sizeof(float));
    const float *loss = take(&r, sizeof(float));
    f->grads = take(&r, f->n * sizeof(float));
    f->losses = take(&r, f->steps * sizeof(float));
    if (!f->losses || r.p != r.end) return kr_error("%s: truncated or oversized fixture", path);
    f->loss = *loss;
    return 0;
}

static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1e-30));
}

static void check_fixture(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    Fixture f;
    int ok = load_fixture(path, &f) == 0;
    CHECK_MSG(ok, "%s", kr_last_error());
    if (!ok) {
        free(f.buf);
        return;
    }
    Backend be;
    BackendOptions opt = {.batch_size = f.B, .seq_len = f.T};
    CHECK_MSG(backend_create(&be, "cpu", &f.cfg, &opt) == 0, "%s", kr_last_error());
    CHECK((int64_t)be.layout.num_params == f.n);
    size_t np = be.layout.num_params, nl = (size_t)f.B * f.T * f.cfg.vocab_size;
    float *buf = malloc((np > nl ? np : nl) * sizeof(float));

    /* forward: logits and loss */
    float loss;
    CHECK(be.ops->set_params(&be, f.params) == 0);
    CHECK(be.ops->forward_loss(&be, f.inputs, f.targets, &loss) == 0);
    CHECK(be.ops->get_logits(&be, buf) == 0);
    double e = rel_err(buf, f.logits, nl);
    printf("%s: logits rel err %.2e, loss %.7f vs torch %.7f\n", name, e, loss, f.loss);
    CHECK_MSG(e <= 1e-4, "logits rel err %g", e);
    CHECK_NEAR(loss, f.loss, 1e-5 * f.loss);

    /* backward: every gradient tensor */
    CHECK(be.ops->zero_grad(&be) == 0);
    CHECK(be.ops->forward_backward(&be, f.inputs, f.targets, 1.0f, &loss) == 0);
    CHECK(be.ops->get_grads(&be, buf) == 0);
    double worst = 0;
    const char *worst_name = "";
    for (int t = 0; t < be.layout.num_tensors; t++) {
        const ParamTensor *pt = &be.layout.tensors[t];
        double et = rel_err(buf + pt->offset, f.grads + pt->offset, param_numel(pt));
        CHECK_MSG(et <= 1e-4, "%s: gradient of %s rel err %g", name, pt->name, et);
        if (et > worst) worst = et, worst_name = pt->name;
    }
    printf("%s: worst gradient rel err %.2e (%s)\n", name, worst, worst_name);
    CHECK_MSG(be.ops->get_logits(&be, buf) != 0, "logits must be reported as consumed after backward");

    /* accumulation: two half-scaled passes equal one full pass */
    float *full = malloc(np * sizeof(float));
    CHECK(be.ops->get_grads(&be, full) == 0);
    CHECK(be.ops->zero_grad(&be) == 0);
    for (int i = 0; i < 2; i++) CHECK(be.ops->forward_backward(&be, f.inputs, f.targets, 0.5f, &loss) == 0);
    CHECK(be.ops->get_grads(&be, buf) == 0);
    CHECK_MSG(rel_err(buf, full, np) <= 1e-6, "accumulated gradients differ: %g", rel_err(buf, full, np));
    free(full);

    /* 10 AdamW steps with global-norm clipping as torch.nn.utils.clip_grad_norm_ */
    double worst_loss = 0;
    int clipped = 0;
    for (int s = 1; s <= f.steps; s++) {
        float norm;
        CHECK(be.ops->zero_grad(&be) == 0);
        CHECK(be.ops->forward_backward(&be, f.inputs, f.targets, 1.0f, &loss) == 0);
        CHECK(be.ops->grad_norm(&be, &norm) == 0);
        float coef = f.clip / (norm + 1e-6f);
        clipped += coef < 1.0f;
        AdamWStep st = {.lr = f.lr, .beta1 = f.beta1, .beta2 = f.beta2, .eps = f.eps, .weight_decay = f.wd,
                        .step = s, .grad_scale = coef < 1.0f ? coef : 1.0f};
        CHECK(be.ops->adamw_step(&be, &st) == 0);
        double el = fabs(loss - f.losses[s - 1]) / fabs(f.losses[s - 1]);
        CHECK_MSG(el <= 1e-5, "%s: step %d loss %.7f vs torch %.7f", name, s, loss, f.losses[s - 1]);
        if (el > worst_loss) worst_loss = el;
    }
    printf("%s: %d AdamW losses (%d clipped), worst rel err %.2e (last %.5f vs %.5f)\n", name, f.steps, clipped,
           worst_loss, loss, f.losses[f.steps - 1]);
    CHECK_MSG(clipped > 0, "the fixture should exercise gradient clipping");

    /* out-of-vocabulary tokens are an error, not a crash */
    int32_t *bad = malloc((size_t)f.B * f.T * sizeof(int32_t));
    memcpy(bad, f.inputs, (size_t)f.B * f.T * sizeof(int32_t));
    bad[3] = f.cfg.vocab_size;
    CHECK(be.ops->forward_loss(&be, bad, f.targets, &loss) != 0);
    CHECK(strstr(kr_last_error(), "vocabulary") != NULL);
    free(bad);

    free(buf);
    backend_destroy(&be);
    free(f.buf);
}

int main(void) {
    check_fixture("oracle_gqa.bin");
    check_fixture("oracle_tied.bin");
    return test_summary("test_model_oracle");
}
