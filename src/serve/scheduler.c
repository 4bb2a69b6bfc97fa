#include "serve/scheduler.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/util.h"
#include "infer/gentext.h"

struct Job {
    Scheduler *sched;
    Job *next;              /* in the pending queue */
    int refs;               /* the submitter and, until it ends, the scheduler */
    int cancelled;
    JobState state;
    const char *finish_reason;
    char error[256];
    int *ids, n_ids, max_tokens, slot, completion_tokens, reply;
    SamplingSettings sampling;
    GenText text; /* buf[0, released) is read by job_read under the lock */
    double submitted;
    pthread_cond_t changed;
};

struct Scheduler {
    Generator *g;
    Metrics *metrics;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    int running;
    Job *pending_head, *pending_tail;
    int npending;
    Job **active; /* by slot */
    int nactive;
    int *next_token;
    unsigned char *ended;
    char piece[256];
};

static void job_free(Job *j) {
    free(j->ids);
    gentext_free(&j->text);
    pthread_cond_destroy(&j->changed);
    free(j);
}

/* Called with the lock held. */
static void job_unref(Job *j) {
    if (--j->refs == 0) job_free(j);
}

static void job_end(Scheduler *s, Job *j, JobState state, const char *reason) {
    const char *released; /* readers take the text from buf[0, released) under the lock */
    size_t n;
    gentext_finish(&j->text, &released, &n);
    j->state = state;
    j->finish_reason = reason;
    pthread_cond_broadcast(&j->changed);
    if (state == JOB_DONE) metrics_latency(s->metrics, kr_now() - j->submitted);
}

static void job_fail(Job *j, const char *msg) {
    snprintf(j->error, sizeof j->error, "%s", msg);
    j->state = JOB_FAILED;
    pthread_cond_broadcast(&j->changed);
}

static Job *pop_pending(Scheduler *s) {
    Job *j = s->pending_head;
    if (!j) return NULL;
    s->pending_head = j->next;
    if (!s->pending_head) s->pending_tail = NULL;
    s->npending--;
    return j;
}

/* Moves queued jobs into free slots; drops cancelled ones. Lock held. */
static void admit(Scheduler *s) {
    while (s->nactive < s->g->max_batch && s->pending_head) {
        Job *j = pop_pending(s);
        if (j->cancelled) {
            job_unref(j);
            continue;
        }
        int slot = s->g->add(s->g->self, j->ids, j->n_ids, &j->sampling);
        if (slot < 0) {
            job_fail(j, kr_last_error());
            job_unref(j);
            continue;
        }
        j->slot = slot;
        j->state = JOB_RUNNING;
        s->active[slot] = j;
        s->nactive++;
        metrics_tokens(s->metrics, j->n_ids, 0);
    }
}

static void retire(Scheduler *s, Job *j) {
    s->g->remove(s->g->self, j->slot);
    s->active[j->slot] = NULL;
    s->nactive--;
    job_unref(j);
}

static void drop_cancelled(Scheduler *s) {
    for (int i = 0; i < s->g->max_batch; i++) {
        Job *j = s->active[i];
        if (j && j->cancelled) {
            metrics_cancelled(s->metrics);
            retire(s, j);
        }
    }
}

/* Applies one decoded token to its job. Lock held. */
static void advance(Scheduler *s, Job *j, int token, int ended) {
    Generator *g = s->g;
    const char *reason = NULL;
    if (token < 0) {
        reason = ended ? "length" : NULL;
    } else if (g->is_end(g->self, token)) {
        reason = "stop";
    } else {
        int len = g->token_bytes(g->self, token, j->reply && j->completion_tokens == 0, s->piece, sizeof s->piece);
        if (j->completion_tokens++ == 0) metrics_ttft(s->metrics, kr_now() - j->submitted);
        metrics_tokens(s->metrics, 0, 1);
        const char *released;
        size_t n;
        if (len > 0 && gentext_push(&j->text, s->piece, (size_t)len, &released, &n) != 0) reason = "stop";
        else if (j->completion_tokens >= j->max_tokens || j->n_ids + j->completion_tokens >= g->context_len)
            reason = "length";
        else if (ended) reason = "length";
        pthread_cond_broadcast(&j->changed);
    }
    if (reason) {
        job_end(s, j, JOB_DONE, reason);
        retire(s, j);
    }
}

static void *scheduler_main(void *arg) {
    Scheduler *s = arg;
    pthread_mutex_lock(&s->mu);
    while (s->running) {
        drop_cancelled(s);
        admit(s);
        metrics_gauges(s->metrics, s->npending, s->nactive);
        if (s->nactive == 0) {
            pthread_cond_wait(&s->wake, &s->mu);
            continue;
        }
        /* Decode without the lock so that connections can queue and cancel meanwhile; only this
         * thread changes the active set. */
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < s->g->max_batch; i++) s->next_token[i] = -1, s->ended[i] = 0;
        int rc = s->g->step(s->g->self, s->next_token, s->ended);
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < s->g->max_batch; i++) {
            Job *j = s->active[i];
            if (!j) continue;
            if (rc != 0) {
                job_fail(j, kr_last_error());
                retire(s, j);
            } else if (!j->cancelled) {
                advance(s, j, s->next_token[i], s->ended[i]);
            }
        }
    }
    for (Job *j; (j = pop_pending(s));) {
        job_fail(j, "the server is shutting down");
        job_unref(j);
    }
    for (int i = 0; i < s->g->max_batch; i++)
        if (s->active[i]) {
            job_fail(s->active[i], "the server is shutting down");
            retire(s, s->active[i]);
        }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Releases what scheduler_start set up, once the thread has ended (or never started). */
static void scheduler_free(Scheduler *s) {
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    free(s->active);
    free(s->next_token);
    free(s->ended);
    free(s);
}

Scheduler *scheduler_start(Generator *g, Metrics *m) {
    Scheduler *s = calloc(1, sizeof *s);
    if (s) {
        s->active = calloc((size_t)g->max_batch, sizeof *s->active);
        s->next_token = calloc((size_t)g->max_batch, sizeof *s->next_token);
        s->ended = calloc((size_t)g->max_batch, 1);
    }
    if (!s || !s->active || !s->next_token || !s->ended) {
        if (s) free(s->active), free(s->next_token), free(s->ended);
        free(s);
        kr_error("out of memory starting the scheduler");
        return NULL;
    }
    s->g = g;
    s->metrics = m;
    s->running = 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
        scheduler_free(s);
        kr_error("cannot start the scheduler thread");
        return NULL;
    }
    return s;
}

void scheduler_stop(Scheduler *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->running = 0;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    scheduler_free(s);
}

Job *scheduler_submit(Scheduler *s, const int *ids, int n, const JobSpec *spec) {
    Job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    size_t reserve = (size_t)spec->max_tokens * 4;
    int ok = j->ids && gentext_init(&j->text, reserve < 64 ? 64 : reserve) == 0 &&
             gentext_begin(&j->text, (const char *const *)spec->stop, spec->nstop, 1) == 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->changed, &ca);
    pthread_condattr_destroy(&ca);
    if (!ok) {
        job_free(j);
        return NULL;
    }
    memcpy(j->ids, ids, (size_t)n * sizeof *ids);
    j->n_ids = n;
    j->max_tokens = spec->max_tokens;
    j->sampling = spec->sampling;
    j->reply = spec->reply;
    j->refs = 2;
    j->state = JOB_QUEUED;
    j->submitted = kr_now();
    j->sched = s;
    pthread_mutex_lock(&s->mu);
    if (!s->running) {
        job_fail(j, "the server is shutting down");
        j->refs--;
    } else {
        if (s->pending_tail) s->pending_tail->next = j;
        else s->pending_head = j;
        s->pending_tail = j;
        s->npending++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    return j;
}

size_t job_read(Job *j, size_t offset, char *buf, size_t cap, double timeout_s, JobStatus *st) {
    Scheduler *s = j->sched;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double whole = floor(timeout_s);
    deadline.tv_sec += (time_t)whole;
    deadline.tv_nsec += (long)((timeout_s - whole) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while ((j->state == JOB_QUEUED || j->state == JOB_RUNNING) && j->text.released <= offset)
        if (pthread_cond_timedwait(&j->changed, &s->mu, &deadline) == ETIMEDOUT) break;
    size_t n = 0;
    if (j->text.released > offset) {
        n = j->text.released - offset < cap ? j->text.released - offset : cap;
        /* A partial copy ends on a character boundary, so every piece is valid UTF-8. */
        while (n > 0 && offset + n < j->text.released && (j->text.buf[offset + n] & 0xC0) == 0x80) n--;
        memcpy(buf, j->text.buf + offset, n);
    }
    *st = (JobStatus){
        .state = j->state,
        .finish_reason = j->finish_reason,
        .prompt_tokens = j->n_ids,
        .completion_tokens = j->completion_tokens,
        .text_len = j->text.released,
        .error = j->error,
    };
    pthread_mutex_unlock(&s->mu);
    return n;
}

void job_release(Job *j) {
    Scheduler *s = j->sched;
    pthread_mutex_lock(&s->mu);
    if (j->state == JOB_QUEUED || j->state == JOB_RUNNING) {
        j->cancelled = 1;
        pthread_cond_signal(&s->wake);
    }
    job_unref(j);
    pthread_mutex_unlock(&s->mu);
}
