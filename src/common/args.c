#include "common/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define MAX_GIVEN 64
static const char *given[MAX_GIVEN];
static int ngiven;

int kr_arg_given(const char *name) {
    for (int i = 0; i < ngiven; i++)
        if (strcmp(given[i], name) == 0) return 1;
    return 0;
}

static const ArgSpec *find_spec(const ArgSpec *specs, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(specs[i].name) == len && strncmp(specs[i].name, name, len) == 0) return &specs[i];
    return NULL;
}

static int set_value(const ArgSpec *s, const char *v) {
    char *end;
    errno = 0;
    switch (s->type) {
    case ARG_STR: *(const char **)s->dest = v; return 0;
    case ARG_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno || x < -2147483647L || x > 2147483647L)
            return kr_error("--%s expects an integer, got '%s'", s->name, v);
        *(int *)s->dest = (int)x;
        return 0;
    }
    case ARG_I64: {
        long long x = strtoll(v, &end, 10);
        if (*v == 0 || *end || errno) return kr_error("--%s expects an integer, got '%s'", s->name, v);
        *(int64_t *)s->dest = x;
        return 0;
    }
    case ARG_SIZE:
        if (kr_parse_size(v, (int64_t *)s->dest) != 0) return kr_error("--%s: %s", s->name, kr_last_error());
        return 0;
    case ARG_DOUBLE: {
        double x = strtod(v, &end);
        if (*v == 0 || *end || errno) return kr_error("--%s expects a number, got '%s'", s->name, v);
        *(double *)s->dest = x;
        return 0;
    }
    case ARG_LIST: return strlist_push((StrList *)s->dest, v);
    case ARG_FLAG: break;
    }
    return kr_error("internal: bad flag type for --%s", s->name);
}

static int parse_bool(const char *name, const char *v, int *out) {
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *out = 0;
    else return kr_error("--%s expects true or false, got '%s'", name, v);
    return 0;
}

int kr_parse_args(int argc, char **argv, const ArgSpec *specs, int nspecs, const char *usage) {
    ngiven = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            kr_print_usage(specs, nspecs, usage);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) return kr_error("unexpected argument '%s' (flags start with --; see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ArgSpec *s = find_spec(specs, nspecs, name, len);
        if (!s) return kr_error("unknown flag '%.*s' (see --help)", (int)(len + 2), a);
        if (ngiven < MAX_GIVEN) given[ngiven++] = s->name;
        if (s->type == ARG_FLAG) {
            int *flag = s->dest;
            if (eq) {
                if (parse_bool(s->name, eq + 1, flag) != 0) return -1;
            } else {
                *flag = 1;
            }
            continue;
        }
        if (eq) {
            if (set_value(s, eq + 1) != 0) return -1;
            continue;
        }
        if (i + 1 >= argc) return kr_error("--%s needs a value", s->name);
        if (set_value(s, argv[++i]) != 0) return -1;
        if (s->type == ARG_LIST)
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                if (set_value(s, argv[++i]) != 0) return -1;
    }
    for (int k = 0; k < nspecs; k++)
        if (specs[k].required && !kr_arg_given(specs[k].name)) return kr_error("--%s is required (see --help)", specs[k].name);
    return 0;
}

void kr_print_usage(const ArgSpec *specs, int nspecs, const char *usage) {
    printf("usage: %s\n\n", usage);
    for (int i = 0; i < nspecs; i++) {
        const char *kind = "";
        switch (specs[i].type) {
        case ARG_STR: kind = " TEXT"; break;
        case ARG_INT: case ARG_I64: kind = " N"; break;
        case ARG_SIZE: kind = " SIZE"; break;
        case ARG_DOUBLE: kind = " X"; break;
        case ARG_LIST: kind = " ITEM..."; break;
        case ARG_FLAG: break;
        }
        char left[64];
        snprintf(left, sizeof left, "--%s%s", specs[i].name, kind);
        printf("  %-28s %s%s\n", left, specs[i].help, specs[i].required ? " (required)" : "");
    }
}

int kr_args_exit_status(int parse_rc) {
    if (parse_rc < 0) kr_print_error();
    return parse_rc < 0 ? 2 : 0;
}
