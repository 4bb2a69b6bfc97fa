/* Small shared helpers: clocks, sizes, a terminal progress bar, string lists. */
#ifndef KR_UTIL_H
#define KR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

double kr_now(void); /* monotonic seconds */

/* Parses "1MB", "20M", "512k", "3GB", "1000" (bytes; K/M/G are powers of 1024). */
int kr_parse_size(const char *s, int64_t *out);
/* Peak resident set size of this process in MiB. */
double kr_peak_rss_mb(void);

/* A progress display: a redrawn bar on a terminal, a plain line every few seconds otherwise. */
typedef struct {
    const char *label;
    double total; /* 0 if unknown */
    double start, last_draw;
    int tty;
    const char *unit; /* "MB", "tok", ... */
    double unit_scale; /* divide raw counts by this for display */
} Progress;

void progress_begin(Progress *p, const char *label, double total, const char *unit, double unit_scale);
void progress_update(Progress *p, double done);
void progress_end(Progress *p, double done);

/* Makes room for `need` elements of `elem` bytes in *p (capacity *cap elements, doubled from at
 * least `first`). Returns 0, or -1 with an out-of-memory message naming `what`. */
int kr_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first, const char *what);

typedef struct {
    char **items;
    int n, cap;
} StrList;

int strlist_push(StrList *l, const char *s); /* copies s */
void strlist_free(StrList *l);

#endif
