/* The web pages built into the binary (generated from src/serve/web/ by scripts/embed_web.sh). */
#ifndef KR_SERVE_WEB_ASSETS_H
#define KR_SERVE_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *name; /* file name under src/serve/web/ */
    const unsigned char *data;
    size_t size;
} WebAsset;

/* The asset with this file name, or NULL. */
const WebAsset *web_asset(const char *name);

#endif
