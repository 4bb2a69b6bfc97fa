/* Continuous batching: one thread owns the Generator; requests join the batch as soon as a slot
 * is free and leave when they finish, so a long answer never holds up a short one. Connection
 * threads submit jobs and wait for their text; a job released before it ends (the client went
 * away) is cancelled without touching the other sequences. */
#ifndef KR_SERVE_SCHEDULER_H
#define KR_SERVE_SCHEDULER_H

#include <stddef.h>

#include "serve/generator.h"
#include "serve/metrics.h"

typedef struct Scheduler Scheduler;
typedef struct Job Job;

typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED } JobState;

typedef struct {
    JobState state;
    const char *finish_reason; /* when done: "stop" or "length" */
    int prompt_tokens, completion_tokens;
    size_t text_len;           /* bytes of text that can be read now */
    const char *error;         /* when failed */
} JobStatus;

Scheduler *scheduler_start(Generator *g, Metrics *m);
/* Fails every job still queued or running, then ends the thread. */
void scheduler_stop(Scheduler *s);

typedef struct {
    int max_tokens;
    SamplingSettings sampling;
    char *const *stop; /* copied */
    int nstop;
    int reply;         /* the text starts a chat reply (no leading word space) */
} JobSpec;

/* Queues a generation from prompt ids (copied). Returns NULL when out of memory. The caller
 * owns one reference and must job_release it. */
Job *scheduler_submit(Scheduler *s, const int *ids, int n, const JobSpec *spec);
/* Waits up to timeout_s for text past `offset` or for the job to end; copies at most cap new
 * bytes into buf, ending on a character boundary, and returns how many (0 when cap is smaller
 * than the next character). *st describes the job after the copy. */
size_t job_read(Job *j, size_t offset, char *buf, size_t cap, double timeout_s, JobStatus *st);
/* Drops the caller's reference; a job that has not ended is cancelled. */
void job_release(Job *j);

#endif
