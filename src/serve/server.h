/* `krllm serve`'s HTTP server (libmicrohttpd, a thread per connection): the OpenAI-style API,
 * /health, /metrics, the web demo at / and the training dashboard at /train. */
#ifndef KR_SERVE_SERVER_H
#define KR_SERVE_SERVER_H

#include <stdint.h>

#include "serve/generator.h"

typedef struct {
    const char *host;       /* numeric IPv4/IPv6 address or "localhost" */
    int port;               /* 0 = any free port (see server_port) */
    const char *api_key;    /* NULL = no authentication */
    int64_t max_body_bytes;
    int max_tokens_cap;
    int default_max_tokens;
    const char *logdir;     /* NULL = no training dashboard */
} ServerOptions;

typedef struct Server Server;

/* Starts listening. `g` may be NULL (dashboard only); the server does not own it. */
Server *server_start(const ServerOptions *opt, Generator *g);
int server_port(const Server *s);
/* Stops accepting, ends every connection and generation, and frees the server. */
void server_stop(Server *s);

#endif
