/* Command-line flags in the plan's style: `--name value`, `--name=value`, bare `--flag`,
 * and lists (`--input a b c`, consumed until the next `--`). Every command declares a table. */
#ifndef KR_ARGS_H
#define KR_ARGS_H

#include <stdint.h>

#include "common/util.h"

typedef enum {
    ARG_STR,    /* const char ** (points into argv) */
    ARG_INT,    /* int * */
    ARG_I64,    /* int64_t * */
    ARG_SIZE,   /* int64_t *, accepts 1MB / 20M / 3GB */
    ARG_DOUBLE, /* double * */
    ARG_FLAG,   /* int *, set to 1 when present (no value) */
    ARG_LIST,   /* StrList *, one or more values */
} ArgType;

typedef struct {
    const char *name; /* without the leading dashes */
    ArgType type;
    void *dest;
    const char *help;
    int required;
} ArgSpec;

/* Parses argv[0..argc) (argv[0] is the first flag, not the program). Returns 0 on success,
 * 1 when --help was given (usage printed to stdout), -1 on error (message recorded). */
int kr_parse_args(int argc, char **argv, const ArgSpec *specs, int nspecs, const char *usage);
void kr_print_usage(const ArgSpec *specs, int nspecs, const char *usage);
/* The exit status of a command whose parse did not succeed: 0 after --help, 2 after a bad flag
 * (the error is printed). */
int kr_args_exit_status(int parse_rc);
/* Whether `name` was given on the command line in the last successful parse of these specs. */
int kr_arg_given(const char *name);

#endif
