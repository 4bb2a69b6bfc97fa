/* Error reporting: functions return 0 / -1 (or NULL) and leave a message for the caller. */
#ifndef KR_ERROR_H
#define KR_ERROR_H

/* Records a printf-style message for the current thread; always returns -1 so that
 * callers can write `return kr_error("...")`. */
int kr_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message recorded on this thread ("" if none). */
const char *kr_last_error(void);
/* Prints "krllm: <message>" to stderr. */
void kr_print_error(void);
/* Prints a warning line to stderr. */
void kr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
