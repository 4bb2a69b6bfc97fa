#include "common/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"

double kr_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int kr_parse_size(const char *s, int64_t *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return kr_error("'%s' is not a size (examples: 1MB, 512K, 2GB)", s);
    while (isspace((unsigned char)*end)) end++;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024; end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (toupper((unsigned char)*end) == 'I') end++;
    if (toupper((unsigned char)*end) == 'B') end++;
    if (*end) return kr_error("'%s' is not a size (examples: 1MB, 512K, 2GB)", s);
    *out = (int64_t)(v * mul);
    return 0;
}

double kr_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
#ifdef __APPLE__
    return ru.ru_maxrss / (1024.0 * 1024.0);
#else
    return ru.ru_maxrss / 1024.0;
#endif
}

void progress_begin(Progress *p, const char *label, double total, const char *unit, double unit_scale) {
    p->label = label;
    p->total = total;
    p->start = p->last_draw = kr_now();
    p->tty = isatty(STDERR_FILENO);
    p->unit = unit;
    p->unit_scale = unit_scale > 0 ? unit_scale : 1;
}

static void progress_draw(Progress *p, double done, int final) {
    double now = kr_now(), el = now - p->start;
    double rate = el > 0 ? done / el : 0;
    double d = done / p->unit_scale, r = rate / p->unit_scale;
    char eta[32] = "";
    if (p->total > 0 && rate > 0 && !final) snprintf(eta, sizeof eta, " ETA %.0fs", (p->total - done) / rate);
    if (p->tty) {
        int width = 30, filled = p->total > 0 ? (int)(width * done / p->total) : 0;
        if (filled > width) filled = width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        if (p->total > 0)
            fprintf(stderr, "\r%s [%s] %.1f/%.1f %s  %.1f %s/s%s   ", p->label, bar, d, p->total / p->unit_scale, p->unit, r, p->unit, eta);
        else
            fprintf(stderr, "\r%s %.1f %s  %.1f %s/s   ", p->label, d, p->unit, r, p->unit);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %.1f %s done, %.1f %s/s%s\n", p->label, d, p->unit, r, p->unit, eta);
    }
    fflush(stderr);
    p->last_draw = now;
}

void progress_update(Progress *p, double done) {
    double now = kr_now();
    if (now - p->last_draw < (p->tty ? 0.2 : 5.0)) return;
    progress_draw(p, done, 0);
}

void progress_end(Progress *p, double done) { progress_draw(p, done, 1); }

int strlist_push(StrList *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) return kr_error("out of memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n] = strdup(s);
    if (!l->items[l->n]) return kr_error("out of memory");
    l->n++;
    return 0;
}

void strlist_free(StrList *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int kr_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first, const char *what) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : first;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return kr_error("out of memory (%s: %zu items of %zu bytes)", what, need, elem);
    *p = q;
    *cap = c;
    return 0;
}
