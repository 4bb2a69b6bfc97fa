#include "common/yamlcfg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/error.h"

#define MAX_DEPTH 8
#define MAX_PATH 256

typedef struct {
    const char *file;
    void *dest;
    const CfgField *schema;
    int nfields;
    unsigned char *seen;
} Loader;

static const CfgField *lookup(const Loader *ld, const char *key) {
    for (int i = 0; i < ld->nfields; i++)
        if (!strcmp(ld->schema[i].key, key)) return &ld->schema[i];
    return NULL;
}

static int parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == 0 || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int set_scalar(Loader *ld, const CfgField *f, const char *v, int line) {
    char *base = (char *)ld->dest + f->offset;
    double x;
    switch (f->type) {
    case CFG_INT:
        if (parse_number(v, &x) != 0 || x != floor(x))
            return kr_error("%s:%d: '%s' must be an integer, got '%s'", ld->file, line, f->key, v);
        if (x < f->min || x > f->max)
            return kr_error("%s:%d: '%s' = %s is out of range [%g, %g]", ld->file, line, f->key, v, f->min, f->max);
        *(int *)base = (int)x;
        return 0;
    case CFG_FLOAT:
        if (parse_number(v, &x) != 0) return kr_error("%s:%d: '%s' must be a number, got '%s'", ld->file, line, f->key, v);
        if (x < f->min || x > f->max)
            return kr_error("%s:%d: '%s' = %s is out of range [%g, %g]", ld->file, line, f->key, v, f->min, f->max);
        *(float *)base = (float)x;
        return 0;
    case CFG_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) *(int *)base = 1;
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) *(int *)base = 0;
        else return kr_error("%s:%d: '%s' must be true or false, got '%s'", ld->file, line, f->key, v);
        return 0;
    case CFG_STR:
        if (strlen(v) >= f->str_size) return kr_error("%s:%d: '%s' is too long", ld->file, line, f->key);
        strcpy(base, v);
        return 0;
    case CFG_FLOAT_PAIR: break;
    }
    return kr_error("%s:%d: '%s' must be a list of two numbers", ld->file, line, f->key);
}

static int set_pair(Loader *ld, const CfgField *f, const double *vals, int n, int line) {
    if (f->type != CFG_FLOAT_PAIR || n != 2)
        return kr_error("%s:%d: '%s' must be %s", ld->file, line, f->key, f->type == CFG_FLOAT_PAIR ? "a list of two numbers" : "a single value, not a list");
    for (int i = 0; i < 2; i++)
        if (vals[i] < f->min || vals[i] > f->max)
            return kr_error("%s:%d: '%s' element %g is out of range [%g, %g]", ld->file, line, f->key, vals[i], f->min, f->max);
    float *dst = (float *)((char *)ld->dest + f->offset);
    dst[0] = (float)vals[0];
    dst[1] = (float)vals[1];
    return 0;
}

static void join_path(char *out, char stack[][MAX_PATH], int depth, const char *key) {
    out[0] = 0;
    for (int i = 0; i < depth; i++) {
        strncat(out, stack[i], MAX_PATH - strlen(out) - 1);
        strncat(out, ".", MAX_PATH - strlen(out) - 1);
    }
    strncat(out, key, MAX_PATH - strlen(out) - 1);
}

/* Walks the event stream; mapping keys build the dotted path. */
static int walk(Loader *ld, yaml_parser_t *p) {
    char stack[MAX_DEPTH][MAX_PATH];
    int depth = -1; /* -1: outside the root mapping */
    char key[MAX_PATH] = "";
    int have_key = 0, in_seq = 0, seq_line = 0, nseq = 0;
    double seq_vals[8];
    char path[MAX_PATH];
    yaml_event_t ev;
    for (;;) {
        if (!yaml_parser_parse(p, &ev))
            return kr_error("%s:%zu: invalid YAML: %s", ld->file, p->problem_mark.line + 1, p->problem ? p->problem : "syntax error");
        int line = (int)ev.start_mark.line + 1, rc = 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: yaml_event_delete(&ev); return 0;
        case YAML_MAPPING_START_EVENT:
            if (depth == -1) depth = 0;
            else if (!have_key || in_seq) rc = kr_error("%s:%d: unexpected mapping", ld->file, line);
            else if (depth + 1 >= MAX_DEPTH) rc = kr_error("%s:%d: nesting too deep", ld->file, line);
            else {
                strcpy(stack[depth], key);
                depth++;
                have_key = 0;
            }
            break;
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) depth--;
            else depth = -2; /* root closed */
            have_key = 0;
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (!have_key || in_seq) rc = kr_error("%s:%d: unexpected list", ld->file, line);
            in_seq = 1;
            nseq = 0;
            seq_line = line;
            break;
        case YAML_SEQUENCE_END_EVENT: {
            join_path(path, stack, depth, key);
            const CfgField *f = lookup(ld, path);
            if (!f) rc = kr_error("%s:%d: unknown key '%s'", ld->file, seq_line, path);
            else {
                rc = set_pair(ld, f, seq_vals, nseq, seq_line);
                ld->seen[f - ld->schema] = 1;
            }
            in_seq = 0;
            have_key = 0;
            break;
        }
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            if (depth < 0) rc = kr_error("%s:%d: the file must be a mapping of keys to values", ld->file, line);
            else if (in_seq) {
                join_path(path, stack, depth, key);
                if (nseq >= 8 || parse_number(v, &seq_vals[nseq]) != 0)
                    rc = kr_error("%s:%d: '%s' must be a list of numbers", ld->file, line, path);
                nseq++;
            } else if (!have_key) {
                snprintf(key, sizeof key, "%s", v);
                have_key = 1;
            } else {
                join_path(path, stack, depth, key);
                const CfgField *f = lookup(ld, path);
                if (!f) rc = kr_error("%s:%d: unknown key '%s'", ld->file, line, path);
                else if (ld->seen[f - ld->schema]) rc = kr_error("%s:%d: key '%s' appears twice", ld->file, line, path);
                else {
                    rc = set_scalar(ld, f, v, line);
                    ld->seen[f - ld->schema] = 1;
                }
                have_key = 0;
            }
            break;
        }
        case YAML_ALIAS_EVENT: rc = kr_error("%s:%d: YAML aliases are not supported in configs", ld->file, line); break;
        default: break;
        }
        yaml_event_delete(&ev);
        if (rc != 0) return rc;
    }
}

int yamlcfg_load(const char *path, void *dest, const CfgField *schema, int nfields) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return kr_error("cannot open config %s: %s", path, strerror(errno));
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(fp);
        return kr_error("out of memory");
    }
    yaml_parser_set_input_file(&p, fp);
    Loader ld = {path, dest, schema, nfields, calloc(nfields ? nfields : 1, 1)};
    int rc = ld.seen ? walk(&ld, &p) : kr_error("out of memory");
    free(ld.seen);
    yaml_parser_delete(&p);
    fclose(fp);
    return rc;
}

void yamlcfg_write(FILE *fp, const void *src, const CfgField *schema, int nfields) {
    char section[MAX_PATH] = "";
    for (int i = 0; i < nfields; i++) {
        const CfgField *f = &schema[i];
        const char *dot = strrchr(f->key, '.');
        const char *name = f->key;
        char sec[MAX_PATH] = "";
        if (dot) {
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - f->key), f->key);
            name = dot + 1;
        }
        if (strcmp(sec, section) != 0) {
            if (sec[0]) fprintf(fp, "%s:\n", sec);
            strcpy(section, sec);
        }
        const char *ind = sec[0] ? "  " : "";
        const char *base = (const char *)src + f->offset;
        switch (f->type) {
        case CFG_INT: fprintf(fp, "%s%s: %d\n", ind, name, *(const int *)base); break;
        case CFG_FLOAT: fprintf(fp, "%s%s: %.9g\n", ind, name, *(const float *)base); break;
        case CFG_BOOL: fprintf(fp, "%s%s: %s\n", ind, name, *(const int *)base ? "true" : "false"); break;
        case CFG_STR: fprintf(fp, "%s%s: \"%s\"\n", ind, name, base); break;
        case CFG_FLOAT_PAIR: fprintf(fp, "%s%s: [%.9g, %.9g]\n", ind, name, ((const float *)base)[0], ((const float *)base)[1]); break;
        }
    }
}
