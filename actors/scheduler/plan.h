/* What a job owes at a given moment: the pure part of the scheduler, with the clock passed in,
 * so misfire and coalescing are tested against a fake clock.
 *
 * All times are unix milliseconds (sched_job_next_ms()), so an interval below a second plans
 * like any other. A job's stored state is its next run time. At `now`, every run time up to
 * now is due.
 * Each due run whose lateness (now - its time) is within misfire_grace fires; a later one is
 * missed (skipped and recorded). With coalesce, all the due runs become one: the latest,
 * fired when within grace, else recorded as missed once. */
#ifndef SCHED_PLAN_H
#define SCHED_PLAN_H

#include "job.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_PLAN_MAX 64 /* due runs acted on per call; older ones are folded into a miss */

typedef struct {
    int64_t t; /* the run's scheduled time, unix ms */
    bool fire; /* false: missed (later than misfire grace) */
    int64_t n; /* how many scheduled runs this entry stands for (coalesced or folded) */
} sched_due_t;

/* out must hold SCHED_PLAN_MAX + 1 entries. Fills out[0..returned) with the runs due at now for j
 * whose next run is `next`, and sets *new_next to the run after them (-1: the job has no more
 * runs). next <= 0 or a paused job: nothing is due and *new_next = next. */
size_t sched_plan_ms(const sched_job_t *j, int64_t next, int64_t now, sched_due_t *out,
                     int64_t *new_next);

#endif
