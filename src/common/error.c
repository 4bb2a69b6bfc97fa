#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

int kr_error(const char *fmt, ...) {
    /* Format into a scratch buffer first: the arguments may include kr_last_error() itself. */
    char buf[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(last_error, buf, sizeof buf);
    return -1;
}

const char *kr_last_error(void) { return last_error; }

void kr_print_error(void) { fprintf(stderr, "krllm: error: %s\n", last_error[0] ? last_error : "unknown error"); }

void kr_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("krllm: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
