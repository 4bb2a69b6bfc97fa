#include "serve/trainlog.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keeps a line's numeric fields; returns NULL for a line that is not a JSON object. */
static cJSON *record_from_line(const char *line, size_t len) {
    cJSON *src = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(src)) {
        cJSON_Delete(src);
        return NULL;
    }
    cJSON *rec = cJSON_CreateObject();
    for (const cJSON *f = src->child; f; f = f->next)
        if (cJSON_IsNumber(f) && f->string) cJSON_AddNumberToObject(rec, f->string, f->valuedouble);
    cJSON_Delete(src);
    return rec;
}

char *trainlog_read_json(const char *path, int64_t offset, int64_t max_bytes) {
    cJSON *root = cJSON_CreateObject(), *records = cJSON_CreateArray();
    int reset = 0, skipped = 0;
    char *buf = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp && fseeko(fp, 0, SEEK_END) == 0) {
        int64_t size = ftello(fp);
        if (offset < 0 || offset > size) {
            reset = offset > size;
            offset = 0;
        }
        int64_t want = size - offset < max_bytes ? size - offset : max_bytes;
        buf = malloc((size_t)want + 1);
        size_t got = 0;
        if (buf && fseeko(fp, offset, SEEK_SET) == 0) got = fread(buf, 1, (size_t)want, fp);
        /* Only complete lines: the trainer may be halfway through writing the last one. */
        size_t start = 0;
        for (size_t i = 0; i < got; i++) {
            if (buf[i] != '\n') continue;
            if (i > start) {
                cJSON *rec = record_from_line(buf + start, i - start);
                if (rec) cJSON_AddItemToArray(records, rec);
                else skipped++;
            }
            start = i + 1;
        }
        /* A line longer than the whole window can never complete: step over it. */
        if (start == 0 && got == (size_t)max_bytes && got > 0) {
            start = got;
            skipped++;
        }
        offset += (int64_t)start;
    }
    if (fp) fclose(fp);
    free(buf);
    cJSON_AddNumberToObject(root, "offset", (double)offset);
    cJSON_AddBoolToObject(root, "reset", reset);
    cJSON_AddNumberToObject(root, "skipped", skipped);
    cJSON_AddItemToObject(root, "records", records);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
