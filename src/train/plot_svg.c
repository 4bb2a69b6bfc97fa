#include "train/plot_svg.h"

#include <math.h>
#include <stdio.h>

#include "common/error.h"
#include "common/fileio.h"

enum { WIDTH = 760, HEIGHT = 440, LEFT = 70, RIGHT = 20, TOP = 40, BOTTOM = 55, MAX_POINTS = 1000, TICKS = 5 };

typedef struct {
    double x0, x1, y0, y1;
} Range;

static double px(const Range *r, double step) { return LEFT + (step - r->x0) / (r->x1 - r->x0) * (WIDTH - LEFT - RIGHT); }
static double py(const Range *r, double loss) { return HEIGHT - BOTTOM - (loss - r->y0) / (r->y1 - r->y0) * (HEIGHT - TOP - BOTTOM); }

static void widen(Range *r, const LossPoint *p, int n) {
    for (int i = 0; i < n; i++) {
        if (p[i].step < r->x0) r->x0 = p[i].step;
        if (p[i].step > r->x1) r->x1 = p[i].step;
        if (p[i].loss < r->y0) r->y0 = p[i].loss;
        if (p[i].loss > r->y1) r->y1 = p[i].loss;
    }
}

/* Draws a series as a polyline, averaging consecutive points into buckets when there are many. */
static void polyline(FILE *fp, const Range *r, const LossPoint *p, int n, const char *color, int dots) {
    if (n == 0) return;
    int per = (n + MAX_POINTS - 1) / MAX_POINTS;
    fprintf(fp, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (int i = 0; i < n; i += per) {
        double step = 0, loss = 0;
        int k = 0;
        for (; k < per && i + k < n; k++) {
            step += p[i + k].step;
            loss += p[i + k].loss;
        }
        fprintf(fp, "%.1f,%.1f ", px(r, step / k), py(r, loss / k));
    }
    fprintf(fp, "\"/>\n");
    for (int i = 0; dots && i < n; i++)
        fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(r, p[i].step), py(r, p[i].loss), color);
}

static void axes(FILE *fp, const Range *r) {
    int x_end = WIDTH - RIGHT, y_end = HEIGHT - BOTTOM;
    fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", LEFT, TOP, x_end - LEFT, y_end - TOP);
    for (int i = 0; i <= TICKS; i++) {
        double step = r->x0 + (r->x1 - r->x0) * i / TICKS, loss = r->y0 + (r->y1 - r->y0) * i / TICKS;
        double x = px(r, step), y = py(r, loss);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, TOP, x, y_end);
        fprintf(fp, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", x, y_end + 18, step);
        fprintf(fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, y, x_end, y);
        fprintf(fp, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", LEFT - 6, y + 4, loss);
    }
    fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", (LEFT + x_end) / 2, HEIGHT - 12);
    fprintf(fp, "<text x=\"18\" y=\"%d\" transform=\"rotate(-90 18 %d)\" text-anchor=\"middle\">loss</text>\n",
            (TOP + y_end) / 2, (TOP + y_end) / 2);
}

static void legend(FILE *fp) {
    int x = WIDTH - RIGHT - 170;
    fprintf(fp, "<line x1=\"%d\" y1=\"22\" x2=\"%d\" y2=\"22\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
                "<text x=\"%d\" y=\"26\">train</text>\n", x, x + 20, x + 25);
    fprintf(fp, "<line x1=\"%d\" y1=\"22\" x2=\"%d\" y2=\"22\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>"
                "<text x=\"%d\" y=\"26\">validation</text>\n", x + 70, x + 90, x + 95);
}

int plot_loss_svg(const char *path, const LossPoint *train, int n_train, const LossPoint *val, int n_val) {
    AtomicFile af;
    if (kr_atomic_open(&af, path) != 0) return -1;
    FILE *fp = af.fp;
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            WIDTH, HEIGHT);
    fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(fp, "<text x=\"%d\" y=\"26\" font-size=\"15\">loss</text>\n", LEFT);
    Range r = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    widen(&r, train, n_train);
    widen(&r, val, n_val);
    if (n_train + n_val == 0) {
        fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no data yet</text>\n", WIDTH / 2, HEIGHT / 2);
    } else {
        if (r.x1 <= r.x0) r.x1 = r.x0 + 1;
        double pad = (r.y1 - r.y0) * 0.05 + 1e-3;
        r.y0 -= pad;
        r.y1 += pad;
        axes(fp, &r);
        polyline(fp, &r, train, n_train, "#1f77b4", 0);
        polyline(fp, &r, val, n_val, "#ff7f0e", 1);
        legend(fp);
    }
    fprintf(fp, "</svg>\n");
    if (ferror(fp)) {
        kr_atomic_abort(&af);
        return kr_error("cannot write %s", path);
    }
    return kr_atomic_commit(&af);
}
