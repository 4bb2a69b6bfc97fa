/* Minimal test harness: CHECK records a failure and continues; each test file's main returns
 * test_summary(). Tests locate shared data through KRLLM_SHARED (default ../shared). */
#ifndef KR_TEST_H
#define KR_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures, test_checks;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        test_checks++;                                                              \
        if (!(cond)) {                                                              \
            test_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                \
    do {                                                                    \
        test_checks++;                                                      \
        if (!(cond)) {                                                      \
            test_failures++;                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g (tol %g)", (double)(a), (double)(b), (double)(tol))

static inline const char *test_shared_dir(void) {
    const char *s = getenv("KRLLM_SHARED");
    return s ? s : "../shared";
}

/* 1 when running under AddressSanitizer (KRLLM_SANITIZED=1): heavy tests shrink their sizes. */
static inline int test_sanitized(void) {
    const char *s = getenv("KRLLM_SANITIZED");
    return s && s[0] == '1';
}

static inline int test_summary(const char *name) {
    if (test_failures) fprintf(stderr, "%s: %d of %d checks FAILED\n", name, test_failures, test_checks);
    else printf("%s: %d checks passed\n", name, test_checks);
    return test_failures ? 1 : 0;
}

#endif
