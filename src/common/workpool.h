/* A small thread pool for the decode loop and prepare's cleaning. Work is a number of independent
 * chunks; the calling thread takes chunks too, and waits only for chunks that a worker has already started. A
 * worker that is not running (the machine is busy, or it is asleep) therefore never holds the
 * caller up, unlike a fork-join barrier where every thread must check in. Idle workers spin
 * briefly for the next job, then sleep. */
#ifndef KR_COMMON_WORKPOOL_H
#define KR_COMMON_WORKPOOL_H

typedef struct WorkPool WorkPool;
/* thread: 0 for the caller, 1.. for the workers (e.g. to index per-thread scratch). */
typedef void (*WorkFn)(void *ctx, int chunk, int thread);

/* nthreads counts the caller: nthreads - 1 workers are started (none when nthreads <= 1). */
WorkPool *workpool_create(int nthreads);
void workpool_free(WorkPool *p);
/* Threads including the caller (1 for NULL). */
int workpool_threads(const WorkPool *p);
/* Runs fn(ctx, c, thread) for every c in [0, nchunks), in any order, across the pool; returns when all
 * are done. p may be NULL (runs on the caller). Not reentrant: one caller at a time. */
void workpool_run(WorkPool *p, WorkFn fn, void *ctx, int nchunks);

#endif
