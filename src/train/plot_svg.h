/* A small SVG line chart of the training and validation loss, rewritten by `krllm train` at each
 * evaluation so a run can be watched in a browser without any plotting tools. */
#ifndef KR_PLOT_SVG_H
#define KR_PLOT_SVG_H

typedef struct {
    int step;
    float loss;
} LossPoint;

/* Writes the chart to `path` atomically. Long training series are averaged into at most
 * 1000 points. Either series may be empty. */
int plot_loss_svg(const char *path, const LossPoint *train, int n_train, const LossPoint *val, int n_val);

#endif
