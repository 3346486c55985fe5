/* The scheduler's due-run arithmetic (plan.h). */
#include "plan.h"

static bool
s_in_grace(const sched_job_t *j, int64_t t, int64_t now)
{
    return now - t <= j->misfire_grace_ms;
}

size_t
sched_plan_ms(const sched_job_t *j, int64_t next, int64_t now, sched_due_t *out, int64_t *new_next)
{
    *new_next = next;
    if (next <= 0 || next > now || j->paused) {
        return 0;
    }
    /* Walk the due runs. After a long downtime there can be millions (an every-second job
     * down for a week); only the last SCHED_PLAN_MAX are kept apart, the rest fold into one
     * missed entry, which is what they are (far past any sane grace). */
    size_t n = 0;
    int64_t folded = 0, folded_t = 0, last = next, t = next, steps = 0;
    if (j->kind == SCHED_INTERVAL && now - t > j->misfire_grace_ms + SCHED_PLAN_MAX * j->every_ms) {
        /* Far behind: jump over the runs that are missed anyway, counting them. */
        int64_t skip = (now - j->misfire_grace_ms - t) / j->every_ms - SCHED_PLAN_MAX;
        if (skip > 0) {
            folded = skip;
            folded_t = t;
            t += skip * j->every_ms;
        }
    }
    while (t > 0 && t <= now) {
        if (++steps > 100000) { /* a cron far behind: step over the rest at once */
            folded += 1;
            folded_t = folded_t ? folded_t : t;
            t = sched_job_next_ms(j, now - j->misfire_grace_ms - 1);
            steps = 0;
            continue;
        }
        if (n == SCHED_PLAN_MAX) {
            folded += out[0].n;
            folded_t = out[0].t;
            for (size_t i = 1; i < n; i++) {
                out[i - 1] = out[i];
            }
            n--;
        }
        out[n++] = (sched_due_t){t, s_in_grace(j, t, now), 1};
        last = t;
        t = sched_job_next_ms(j, t);
    }
    *new_next = t;
    if (j->coalesce) {
        int64_t total = folded;
        for (size_t i = 0; i < n; i++) {
            total += out[i].n;
        }
        out[0] = (sched_due_t){last, s_in_grace(j, last, now), total};
        return 1;
    }
    if (folded) {
        for (size_t i = n; i > 0; i--) {
            out[i] = out[i - 1];
        }
        out[0] = (sched_due_t){folded_t, false, folded};
        n++;
    }
    return n;
}
