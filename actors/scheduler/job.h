/* A scheduler job: when (a cron, interval or date trigger, in a time zone), what (a request,
 * a one-way send or a publish of a fixed body to a service or subject), and how (misfire
 * grace, coalescing, concurrent instances, deadline, retries, jitter). Built from a msgpack
 * map, which is also its stored form, so a job added on the bus, one read from the config
 * file and one read back from the store go through the same checks. */
#ifndef SCHED_JOB_H
#define SCHED_JOB_H

#include "cron.h"
#include "zone.h"

#include "yard/mp.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_ID_MAX       64
#define SCHED_NAME_MAX     255 /* service, op, subject */
#define SCHED_BODY_MAX     65536
#define SCHED_CRON_MAX     256
#define SCHED_EVERY_MIN_MS 100 /* the shortest interval: runs are identified to the millisecond */

typedef enum { SCHED_CRON = 1, SCHED_INTERVAL, SCHED_DATE } sched_kind_t;

typedef enum {
    SCHED_CALL = 1, /* a request; the reply (or error) is the run's outcome */
    SCHED_SEND,     /* one-way: the run succeeds once sent */
    SCHED_PUBLISH   /* to a subject; succeeds once published */
} sched_mode_t;

typedef struct {
    char id[SCHED_ID_MAX + 1];
    sched_kind_t kind;
    char cron[SCHED_CRON_MAX + 1]; /* SCHED_CRON */
    int64_t every_ms;              /* SCHED_INTERVAL: SCHED_EVERY_MIN_MS or more */
    int64_t at;                    /* SCHED_DATE: unix seconds */
    int64_t start, end;            /* bounds, unix seconds; 0: none */
    char tz[SCHED_NAME_MAX + 1];   /* IANA name; "UTC" by default */
    sched_mode_t mode;
    char service[SCHED_NAME_MAX + 1]; /* CALL and SEND */
    char op[SCHED_NAME_MAX + 1];      /* "" for none */
    char subject[SCHED_NAME_MAX + 1]; /* PUBLISH */
    char *body;                       /* msgpack, owned; NULL: empty */
    size_t body_len;
    int64_t misfire_grace_ms; /* default 60 s */
    bool coalesce;            /* default true */
    int64_t max_instances;    /* default 1 */
    int64_t deadline_ms;      /* default 30000 */
    int64_t retries;          /* extra attempts after an error; default 0 */
    int64_t backoff_ms;       /* first retry's delay, doubling; default 1 s */
    int64_t jitter_ms;        /* each run waits a uniform random [0, jitter_ms] ms; default 0 */
    bool paused;
    int64_t created;
    /* compiled */
    sched_cron_t *cronc;
    sched_zone_t *zone;
} sched_job_t;

/* Builds a job from a map (see actors/scheduler/README.md for the fields). now is used as
 * the start of an interval without one, and for nothing else: whatever this accepted, its
 * stored form (sched_job_write()) is accepted again later. Returns 0 and sets *out (caller owns it;
 * free with sched_job_destroy()), or -1 with why naming the field and what is wrong. */
int sched_job_from_map(const msgpack_object *map, int64_t now, sched_job_t **out, char *why,
                       size_t whylen);
void sched_job_destroy(sched_job_t **self_p);

/* Refuses a job that can never fire after now, naming the field at fault: an 'at' or 'end'
 * that is not after now, an 'end' before 'start' or before the first run, a 'cron' that
 * matches no date within SCHED_CRON_YEARS ("0 0 30 2 *"). Returns 0, or -1 with why. For a
 * job being added or changed (job.add, job.update, the config file); a job read back from
 * the store is never put to it, so one whose runs are over loads and is simply finished. */
int sched_job_check_fires(const sched_job_t *j, int64_t now, char *why, size_t whylen);

/* Writes the job's definition as a map that sched_job_from_map() reads back. */
void sched_job_write(const sched_job_t *j, yard_mpw_t *w);
/* The same, into a msgpack-c packer. */
void sched_job_pack(const sched_job_t *j, msgpack_packer *pk);

/* The first fire time strictly after `after_ms`, both unix milliseconds, or -1 when there is
 * none. Run times are milliseconds everywhere (a run's identity, its keys, the plan): cron and
 * date jobs fire on whole seconds, an interval on start + k * every_ms. */
int64_t sched_job_next_ms(const sched_job_t *j, int64_t after_ms);

/* Writes a run time (unix ms) as unix seconds, the form of `scheduled` and `next_run` on the
 * bus: an integer when whole (as before milliseconds), else a float with the fraction. */
void sched_time_write(yard_mpw_t *w, int64_t ms);

/* A one-line description of the trigger ("cron '0 9 * * mon' Europe/Berlin", "every 300 s",
 * "every 500 ms",
 * "at 1795319479"), into buf. */
void sched_job_describe(const sched_job_t *j, char *buf, size_t cap);

#endif
