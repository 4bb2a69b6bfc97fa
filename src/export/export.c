/* What both export formats share: dtypes, conversion while streaming, the q/k row order, the tokenizer. */
#include "export/export.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/halfprec.h"

static const char *dtype_names[] = {"f32", "f16", "bf16", "q8_0"};

int export_parse_dtype(const char *s, ExportDtype *dt) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, dtype_names[i])) {
            *dt = (ExportDtype)i;
            return 0;
        }
    return kr_error("unknown --dtype '%s' (use f32, f16, bf16, or q8_0 for gguf)", s);
}

const char *export_dtype_name(ExportDtype dt) { return dtype_names[dt]; }

size_t export_row_bytes(ExportDtype dt, int64_t cols) {
    if (dt == EXPORT_Q8_0) return (size_t)cols / EXPORT_Q8_0_BLOCK * (2 + EXPORT_Q8_0_BLOCK);
    return (size_t)cols * (dt == EXPORT_F32 ? 4 : 2);
}

int64_t export_hf_rope_source_row(int64_t row, int hd) {
    int64_t head = row / hd, j = row % hd, half = hd / 2;
    return head * hd + (j < half ? 2 * j : 2 * (j - half) + 1);
}

/* As llama.cpp quantises q8_0: the scale d = amax / 127 is stored as f16, and the values are
 * multiplied by 1 / d (d before its rounding to f16) and rounded half away from zero. */
static void quantize_q8_0(const float *src, int64_t n, uint8_t *dst) {
    for (int64_t b = 0; b < n; b += EXPORT_Q8_0_BLOCK, dst += 2 + EXPORT_Q8_0_BLOCK) {
        float amax = 0;
        for (int i = 0; i < EXPORT_Q8_0_BLOCK; i++) amax = fmaxf(amax, fabsf(src[b + i]));
        float d = amax / 127, id = d > 0 ? 1 / d : 0;
        uint16_t h = kr_f32_to_f16(d);
        dst[0] = (uint8_t)h, dst[1] = (uint8_t)(h >> 8);
        for (int i = 0; i < EXPORT_Q8_0_BLOCK; i++) dst[2 + i] = (uint8_t)(int8_t)roundf(src[b + i] * id);
    }
}

static void convert_row(const float *src, int64_t n, ExportDtype dt, void *dst) {
    if (dt == EXPORT_F32) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    if (dt == EXPORT_Q8_0) {
        quantize_q8_0(src, n, dst);
        return;
    }
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = dt == EXPORT_F16 ? kr_f32_to_f16(src[i]) : kr_f32_to_bf16(src[i]);
}

int export_write_tensor(FILE *fp, const float *data, int64_t rows, int64_t cols, ExportDtype dt, int rope_hd,
                        void *buf, const char *what) {
    size_t row_bytes = export_row_bytes(dt, cols);
    for (int64_t r = 0; r < rows; r++) {
        int64_t src = rope_hd > 0 ? export_hf_rope_source_row(r, rope_hd) : r;
        convert_row(data + src * cols, cols, dt, buf);
        if (kr_fwrite(buf, row_bytes, fp, what) != 0) return -1;
    }
    return 0;
}

static int load_tokenizer(const char *path, SpmModel *m) {
    size_t size;
    char *data = kr_read_file(path, &size);
    if (!data) return -1;
    int rc = spm_model_decode((const uint8_t *)data, size, path, m);
    free(data);
    return rc;
}

int export_source_open(ExportSource *src, const LoadedModel *m) {
    src->tok = NULL;
    if (param_layout_init(&src->layout, &m->cfg) != 0) return -1;
    int64_t max_cols = 0;
    for (int i = 0; i < src->layout.num_tensors; i++)
        if (src->layout.tensors[i].cols > max_cols) max_cols = src->layout.tensors[i].cols;
    src->row_buf = malloc((size_t)max_cols * sizeof(float));
    if (!src->row_buf) {
        param_layout_free(&src->layout);
        return kr_error("out of memory");
    }
    if (m->tokenizer_path[0]) {
        if (load_tokenizer(m->tokenizer_path, &src->tok_model) != 0) {
            free(src->row_buf);
            param_layout_free(&src->layout);
            return -1;
        }
        src->tok = &src->tok_model;
    }
    return 0;
}

void export_source_close(ExportSource *src) {
    if (src->tok) spm_model_free(&src->tok_model);
    free(src->row_buf);
    param_layout_free(&src->layout);
}

int export_tensor_name(const ParamTensor *t, const ExportNameMap *map, const char *layer_prefix, char *out, size_t cap) {
    const char *ours = t->name;
    char prefix[32] = "";
    if (t->layer >= 0) {
        ours = strchr(t->name + strlen("layers."), '.') + 1; /* past "layers.N." */
        snprintf(prefix, sizeof prefix, layer_prefix, t->layer);
    }
    for (const ExportNameMap *e = map; e->ours; e++)
        if (!strcmp(e->ours, ours)) {
            snprintf(out, cap, "%s%s", prefix, e->theirs);
            return 0;
        }
    return kr_error("no export name for tensor %s", t->name);
}
