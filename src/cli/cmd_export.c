#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "common/fileio.h"
#include "export/export.h"

/* The folder that will hold `path`, created when missing (as train creates its output_dir). */
static int make_parent_dir(const char *path) {
    char dir[1024];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return kr_error("output path too long: %s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = 0;
    return kr_mkdir_p(dir);
}

int cmd_export(int argc, char **argv) {
    const char *checkpoint = NULL, *format = NULL, *output = NULL, *dtype = "f32";
    ArgSpec specs[] = {
        {"checkpoint", ARG_STR, &checkpoint, "checkpoint or run directory", 1},
        {"format", ARG_STR, &format, "gguf (a file for llama.cpp) or safetensors (a Hugging Face directory)", 1},
        {"output", ARG_STR, &output, "the .gguf file, or the directory for safetensors", 1},
        {"dtype", ARG_STR, &dtype, "f32, f16, bf16, or q8_0 (gguf only; 8-bit blocks of 32) (default f32)", 0},
    };
    int rc = kr_parse_args(argc, argv, specs, 4,
                           "krllm export --checkpoint DIR --format gguf|safetensors --output PATH [--dtype f32|f16|bf16|q8_0]");
    if (rc != 0) return kr_args_exit_status(rc);
    ExportDtype dt;
    int gguf = !strcmp(format, "gguf");
    if (!gguf && strcmp(format, "safetensors") != 0) {
        kr_error("unknown --format '%s' (use gguf or safetensors)", format);
        kr_print_error();
        return 2;
    }
    if (export_parse_dtype(dtype, &dt) != 0) {
        kr_print_error();
        return 2;
    }
    if (make_parent_dir(output) != 0) {
        kr_print_error();
        return 1;
    }
    LoadedModel m;
    if (checkpoint_load_model(checkpoint, &m) != 0) {
        kr_print_error();
        return 1;
    }
    rc = gguf ? export_gguf(&m, output, dt) : export_safetensors(&m, output, dt);
    if (rc == 0) fprintf(stderr, "exported %s (%s, %s) to %s\n", m.dir, format, export_dtype_name(dt), output);
    else kr_print_error();
    checkpoint_free_model(&m);
    return rc == 0 ? 0 : 1;
}
