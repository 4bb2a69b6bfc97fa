#include "common/workpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Pauses an idle worker spins through before sleeping (tens of microseconds): long enough to
 * bridge the gaps between the products of one decode step. */
#define IDLE_SPINS 4000

typedef struct {
    WorkPool *pool;
    int thread;
} WorkerArg;

struct WorkPool {
    int nworkers;
    pthread_t *threads;
    WorkerArg *args;
    /* generation (24 bits) | chunk count (20 bits) | next chunk (20 bits): claiming a chunk is
     * one compare-and-swap on a snapshot of the whole job, so a worker can never take a chunk
     * of a job other than the one it read. */
    _Atomic uint64_t state;
    _Atomic(WorkFn) fn;
    _Atomic(void *) ctx;
    _Atomic int done, sleeping, quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

#define FIELD_BITS 20
#define FIELD_MASK ((1u << FIELD_BITS) - 1)
#define MAX_CHUNKS FIELD_MASK

static uint32_t generation(uint64_t s) { return (uint32_t)(s >> (2 * FIELD_BITS)); }
static int chunk_count(uint64_t s) { return (int)((s >> FIELD_BITS) & FIELD_MASK); }
static int next_chunk(uint64_t s) { return (int)(s & FIELD_MASK); }

/* Takes the next chunk of job `gen`; 0 when the job has no chunk left (or was replaced). */
static int claim(WorkPool *p, uint32_t gen, int *chunk) {
    uint64_t s = atomic_load(&p->state);
    for (;;) {
        if (generation(s) != gen || next_chunk(s) >= chunk_count(s)) return 0;
        if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) {
            *chunk = next_chunk(s);
            return 1;
        }
    }
}

static void work(WorkPool *p, uint32_t gen, int thread) {
    int c;
    while (claim(p, gen, &c)) {
        atomic_load(&p->fn)(atomic_load(&p->ctx), c, thread);
        atomic_fetch_add(&p->done, 1);
    }
}

static void *worker_main(void *arg) {
    WorkPool *p = ((WorkerArg *)arg)->pool;
    int thread = ((WorkerArg *)arg)->thread;
    uint32_t seen = generation(atomic_load(&p->state));
    for (;;) {
        int spins = 0;
        while (generation(atomic_load(&p->state)) == seen && !atomic_load(&p->quit)) {
            if (++spins < IDLE_SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while (generation(atomic_load(&p->state)) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = generation(atomic_load(&p->state));
        work(p, seen, thread);
    }
}

WorkPool *workpool_create(int nthreads) {
    WorkPool *p = calloc(1, sizeof *p);
    if (!p) {
        kr_error("out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int want = nthreads > 1 ? nthreads - 1 : 0;
    p->threads = want ? calloc((size_t)want, sizeof *p->threads) : NULL;
    p->args = want ? calloc((size_t)want, sizeof *p->args) : NULL;
    for (int i = 0; i < want && p->threads && p->args; i++) {
        p->args[i] = (WorkerArg){p, i + 1};
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) break; /* fewer workers still work */
        p->nworkers++;
    }
    return p;
}

void workpool_free(WorkPool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->args);
    free(p);
}

int workpool_threads(const WorkPool *p) { return p ? p->nworkers + 1 : 1; }

void workpool_run(WorkPool *p, WorkFn fn, void *ctx, int nchunks) {
    if (!p || p->nworkers == 0 || nchunks <= 1 || nchunks > (int)MAX_CHUNKS) {
        for (int c = 0; c < nchunks; c++) fn(ctx, c, 0);
        return;
    }
    /* The previous job is complete, so no worker reads these fields until the new generation
     * is published below. */
    atomic_store(&p->fn, fn);
    atomic_store(&p->ctx, ctx);
    atomic_store(&p->done, 0);
    uint32_t gen = (generation(atomic_load(&p->state)) + 1) & 0xFFFFFF;
    atomic_store(&p->state, (uint64_t)gen << (2 * FIELD_BITS) | (uint64_t)nchunks << FIELD_BITS);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, gen, 0);
    /* Only chunks that workers have started remain; let them finish (yield if they lost their core). */
    for (int spins = 0; atomic_load(&p->done) < nchunks; spins++) {
        if (spins < 1000) cpu_relax();
        else sched_yield();
    }
}
