#include <inttypes.h>
#include <stdio.h>

#include "cli/commands.h"
#include "common/args.h"
#include "common/error.h"
#include "model/config.h"

int cmd_config(int argc, char **argv) {
    const char *model_config = NULL;
    ArgSpec specs[] = {
        {"model_config", ARG_STR, &model_config, "model YAML (configs/model_*.yaml)", 1},
    };
    int rc = kr_parse_args(argc, argv, specs, 1, "krllm config --model_config FILE");
    if (rc != 0) return kr_args_exit_status(rc);
    ModelConfig c;
    if (model_config_load(model_config, &c) != 0) {
        kr_print_error();
        return 1;
    }
    model_config_write_yaml(stdout, &c);
    printf("head_dim: %d\n", model_head_dim(&c));
    printf("kv_dim: %d\n", model_kv_dim(&c));
    printf("flops_per_token: %.4g\n", model_flops_per_token(&c, c.max_seq_len));
    printf("parameters: %" PRId64 "\n", model_num_params(&c));
    return 0;
}
