/* Strict YAML configuration loading (libyaml): a document is a mapping, nested mappings give
 * dotted keys ("optimizer.betas"), values are scalars or flat sequences of numbers. Each key
 * must appear in the caller's schema; a wrong type or out-of-range value is an error naming
 * the file, line and key. */
#ifndef KR_YAMLCFG_H
#define KR_YAMLCFG_H

#include <stddef.h>

typedef enum { CFG_INT, CFG_FLOAT, CFG_BOOL, CFG_STR, CFG_FLOAT_PAIR } CfgType;

typedef struct {
    const char *key;  /* dotted path */
    CfgType type;
    size_t offset;    /* into the destination struct */
    double min, max;  /* inclusive range for numbers (and each element of a pair) */
    size_t str_size;  /* CFG_STR: size of the char array at offset */
} CfgField;

/* Loads `path` into `dest` following `schema`. Keys absent from the file keep their values. */
int yamlcfg_load(const char *path, void *dest, const CfgField *schema, int nfields);

/* Writes the fields as YAML (dotted keys regrouped into sections) to `fp`. */
#include <stdio.h>
void yamlcfg_write(FILE *fp, const void *src, const CfgField *schema, int nfields);

#endif
