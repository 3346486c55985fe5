/* Private to the scheduler actor: options, per-replica state, and what scheduler.c (the
 * descriptor and the job.* operations), runner.c (the thread that fires runs) and store.c
 * (the jobs' keys) share.
 *
 * Store layout (values msgpack unless said):
 *   sched:jobs                 set of job ids
 *   sched:job:<id>             the job's definition (job.h)
 *   sched:next:<id>            its next run time, unix seconds with ".mmm" when not whole
 *                              (timetext.h: older versions' whole seconds read the same);
 *                              "-1": no more runs
 *   sched:claim:<id>:<t>       a replica is handling run t (SET NX PX lease; compare-and-delete);
 *                              <t> is the run time in that same text, so a whole-second run
 *                              keeps the key older versions gave it
 *   sched:done:<id>:<t>        run t was handled (SET NX: at most once, kept 2 days)
 *   sched:inst:<id>:<k>        instance slot k < max_instances: a run in flight, its owner
 *                              (SET NX PX deadline + lease; compare-and-delete)
 *   sched:alive:<owner>        the replica is running (PX lease, refreshed): a dead owner's
 *                              slots are taken over
 *   sched:hist:<id>            the last `history` runs: [{scheduled, started, duration_ms,
 *                              status, attempt, error?, reply?}]; scheduled in unix seconds
 *                              (a float when not whole), scheduled_ms exact (newer records) */
#ifndef SCHED_INTERNAL_H
#define SCHED_INTERNAL_H

#include "job.h"
#include "plan.h"
#include "yard/actor.h"
#include "yard/client.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    int64_t history; /* runs kept per job */
    uint32_t lease;  /* ms: how long a claim holds before another replica may take the run */
    uint32_t reload; /* ms: how often the job list is re-read from the store */
} sched_opts_t;

#define SCHED_BAD_MAX 64 /* unreadable jobs remembered as logged; more are logged rate-limited */

/* A run waiting for its (jittered or retry) time, or started by job.run_now. */
typedef struct sched_pending {
    struct sched_pending *next;
    char id[SCHED_ID_MAX + 1];
    int64_t scheduled; /* the run's scheduled time, unix ms (its identity) */
    int64_t at_ms;     /* wall-clock ms to fire at */
    int attempt;       /* 1 for the first */
    bool manual;       /* job.run_now: not counted against the schedule */
} sched_pending_t;

typedef struct {
    const sched_opts_t *o;
    yard_store_t *store;
    const char *broker;
    void *zmq_context;
    char owner[96]; /* this replica's name in claims */
    int replica;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    bool closing;            /* the client is being destroyed: callbacks record, but send nothing */
    pthread_mutex_t lock;    /* guards manual */
    sched_pending_t *manual; /* job.run_now requests, for the runner */
    /* runner thread only */
    yard_client_t *client;
    sched_job_t **jobs;
    size_t njobs;
    int64_t jobs_loaded_ms;
    /* Stored jobs that do not load, logged once each until they load or go (not each reload) */
    char bad[SCHED_BAD_MAX][SCHED_ID_MAX + 1];
    bool bad_seen[SCHED_BAD_MAX];
    size_t nbad;
    sched_pending_t *pending;
} sched_state_t;

/* --- store.c ----------------------------------------------------------------------------- */

int64_t sched_now(void);    /* unix seconds */
int64_t sched_now_ms(void); /* unix ms */

/* Loads job id. Returns 0 and *out, YARD_E_NOT_FOUND, YARD_E_INTERNAL (a record this
 * version cannot read: why says what; nothing is logged), or a store error. why may be NULL
 * when whylen is 0. */
int sched_store_load(yard_store_t *st, const char *id, sched_job_t **out, char *why, size_t whylen);
/* Writes j's definition (create: only when absent; returns 1 when the id was taken). */
int sched_store_save(yard_store_t *st, const sched_job_t *j, bool create);
int sched_store_remove(yard_store_t *st, const char *id);
/* The stored next run, unix ms: 0 when unknown, -1 when the job has no more runs. */
int sched_store_next_get_ms(yard_store_t *st, const char *id, int64_t *next);
int sched_store_next_set_ms(yard_store_t *st, const char *id, int64_t next);
/* Called for a stored job that does not load, with why. */
typedef void (*sched_bad_job_fn)(const char *id, const char *why, void *arg);
/* Every job that loads (sorted by id); on_bad (may be NULL) hears of each one that does not.
 * Caller frees with sched_store_jobs_free(). */
int sched_store_jobs(yard_store_t *st, sched_job_t ***jobs, size_t *n, sched_bad_job_fn on_bad,
                     void *arg);
void sched_store_jobs_free(sched_job_t ***jobs, size_t n);
/* Appends a history record (packed map) and keeps the last max. */
int sched_store_history_add(yard_store_t *st, const char *id, const void *rec, size_t len,
                            int64_t max);
/* The history as a packed array (caller frees; an empty array when none). */
int sched_store_history(yard_store_t *st, const char *id, char **out, size_t *len);

/* --- runner.c ---------------------------------------------------------------------------- */

int sched_runner_start(sched_state_t *st);
void sched_runner_stop(sched_state_t *st);
/* Queues a run of id now, outside its schedule (any thread); scheduled is unix ms. */
void sched_runner_run_now(sched_state_t *st, const char *id, int64_t scheduled);

/* --- config.c ---------------------------------------------------------------------------- */

/* Loads the jobs of the config file's `scheduler.jobs` list into the store: a bad one is
 * logged with file:line and why, and skipped; the rest load. Returns the number loaded. */
int sched_config_load(sched_state_t *st, const yard_config_t *cfg);

#endif
