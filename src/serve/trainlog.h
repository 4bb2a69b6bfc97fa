/* The training dashboard's data: train.log holds one JSON object per line (step, loss,
 * val_loss, lr, grad_norm, tokens_per_sec, …). The page polls with the byte offset it has read
 * up to and gets the new complete lines' numeric fields. */
#ifndef KR_SERVE_TRAINLOG_H
#define KR_SERVE_TRAINLOG_H

#include <stdint.h>

/* Reads `path` from byte `offset` (at most max_bytes of complete lines) and returns malloc'd JSON
 * {"offset": next, "reset": bool, "records": [{...numeric fields...}], "skipped": n}. "reset" is
 * true when the file became shorter than `offset` (a new run): reading then starts over. A
 * missing file gives no records. Returns NULL only when out of memory. */
char *trainlog_read_json(const char *path, int64_t offset, int64_t max_bytes);

#endif
