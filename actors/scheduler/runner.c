/* The runner: one thread per scheduler replica, with a bus client of its own, that finds the
 * runs that are due, claims them, fires them and records what came of them.
 *
 * Several replicas run the same jobs from the same store. A run (job, scheduled time) is
 * handled by exactly one of them:
 *   1. claim  sched:claim:<id>:<t>  a lease (yard/lease.h) of `lease` ms (losers leave it
 *                                   alone; a claim no longer held by the time it was taken,
 *                                   the store being that slow, counts as lost)
 *   2. mark   sched:done:<id>:<t>   SET NX            (already there: handled; skip)
 *   3. fire (or record the miss), advance sched:next:<id>, release the claim (the lease's
 *      compare-and-delete, so a claim that expired and was taken over is not released by its
 *      old owner).
 * A replica that dies between 1 and 2 leaves a claim that expires after `lease`; another
 * replica then takes the run over. One that dies between 2 and 3 (microseconds) loses that run
 * rather than risk firing it twice. This is the lease pattern APScheduler 4 adopted; there is
 * no consensus of our own. */
#include "sched_internal.h"
#include "timetext.h"

#include "yard/error.h"
#include "yard/lease.h"
#include "yard/log.h"
#include "yard/loop.h"
#include "yard/msg.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TICK_MS     250 /* the longest the runner sleeps when nothing is due sooner */
#define S_DONE_TTL_MS (2u * 24 * 3600 * 1000)
#define S_REPLY_KEEP  1024 /* reply bytes kept in a history record */

typedef struct {
    sched_state_t *st;
    char id[SCHED_ID_MAX + 1];
    int64_t scheduled, started_ms;
    int attempt, retries;
    int slot; /* the instance slot held (-1: none) */
    int64_t backoff_ms, history;
} s_call_t;

/* --- events and history ------------------------------------------------------------------ */

/* scheduled: unix seconds as before (a float for a run off the whole second); scheduled_ms:
 * the run's exact identity. */
static void
s_kscheduled(yard_mpw_t *w, int64_t scheduled_ms)
{
    yard_mpw_key(w, "scheduled");
    sched_time_write(w, scheduled_ms);
    yard_mpw_kint(w, "scheduled_ms", scheduled_ms);
}

/* Publishes scheduler.job.<what> {job, scheduled, scheduled_ms, attempt, [error|reason]}. */
static void
s_event(sched_state_t *st, const char *what, const char *id, int64_t scheduled, int attempt,
        const char *detail_key, const char *detail)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "job", id);
    s_kscheduled(w, scheduled);
    yard_mpw_kint(w, "attempt", attempt);
    if (detail) {
        yard_mpw_kstr(w, detail_key, detail);
    }
    yard_mpw_end(w);
    char subject[64];
    snprintf(subject, sizeof subject, "scheduler.job.%s", what);
    const void *data = NULL;
    size_t size = 0;
    if (yard_mpw_finish(w, &data, &size) == 0) {
        yard_client_publish(st->client, subject, data, size);
    } else { /* an error text from the peer that is not UTF-8 */
        yard_log(YARD_LOG_WARN, "scheduler: an event was not published", YF_STR("job", id),
                 YF_STR("error", yard_mpw_error(w)));
    }
    yard_mpw_destroy(&w);
}

/* Appends {scheduled, started, duration_ms, status, attempt, error?, reply?} to the history. */
static void
s_history(sched_state_t *st, const char *id, int64_t scheduled, int64_t started_ms,
          int64_t duration_ms, const char *status, int attempt, const char *error,
          const void *reply, size_t reply_len)
{
    /* The reply is a peer's bytes: kept only when it is one valid msgpack value. */
    bool keep_reply = reply && reply_len > 0 && reply_len <= S_REPLY_KEEP &&
                      yard_mp_check(reply, reply_len, NULL, 0) == 0;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    s_kscheduled(w, scheduled);
    yard_mpw_kint(w, "started", started_ms);
    yard_mpw_kint(w, "duration_ms", duration_ms);
    yard_mpw_kstr(w, "status", status);
    yard_mpw_kint(w, "attempt", attempt);
    yard_mpw_kstr(w, "replica", st->owner);
    if (error) {
        yard_mpw_kstr(w, "error", error);
    }
    if (keep_reply) {
        yard_mpw_key(w, "reply");
        yard_mpw_raw(w, reply, reply_len);
    } else if (reply_len > 0) {
        yard_mpw_kint(w, "reply_bytes", (int64_t)reply_len);
    }
    yard_mpw_end(w);
    const void *rec = NULL;
    size_t size = 0;
    if (yard_mpw_finish(w, &rec, &size) == 0) {
        sched_store_history_add(st->store, id, rec, size, st->o->history);
    } else { /* an error text from the peer that is not UTF-8 */
        yard_log(YARD_LOG_WARN, "scheduler: a run's history record was not written",
                 YF_STR("job", id), YF_STR("error", yard_mpw_error(w)));
    }
    yard_mpw_destroy(&w);
}

/* --- instances ---------------------------------------------------------------------------
 * max_instances is counted across replicas with one slot key per allowed instance,
 * sched:inst:<id>:<k> (k < max_instances): SET NX to take one (its value names the owner),
 * compare-and-delete to give it back. A replica that dies with a run in flight (SIGKILL)
 * never gives its slot back, so each replica keeps sched:alive:<owner> fresh (PX lease) while
 * its runner runs, and a slot whose owner's key has expired is taken over: within a lease,
 * not never (a plain INCR count stayed high for good and silenced the job on every replica).
 * A slot also expires by itself a lease after the run's deadline. */

static void
s_alive(sched_state_t *st)
{
    char key[160];
    snprintf(key, sizeof key, "sched:alive:%s", st->owner);
    yard_store_set(st->store, key, "1", 1, st->o->lease);
}

/* True when the slot at key is held by a replica that is no longer alive and was freed. */
static bool
s_slot_reclaim(sched_state_t *st, const char *key)
{
    char *owner = NULL, *alive = NULL, akey[160];
    size_t len = 0, alen = 0;
    bool freed = false;
    if (yard_store_get(st->store, key, &owner, &len) == 0) {
        snprintf(akey, sizeof akey, "sched:alive:%s", owner);
        freed = yard_store_get(st->store, akey, &alive, &alen) == YARD_E_NOT_FOUND &&
                yard_store_del_if(st->store, key, owner, len) == 1;
    }
    free(owner);
    free(alive);
    return freed;
}

/* Takes an instance slot of j into *slot (-1: none, the store is down); false when
 * max_instances runs are in flight. */
static bool
s_instance_take(sched_state_t *st, const sched_job_t *j, int *slot)
{
    char key[160];
    size_t ol = strlen(st->owner);
    uint32_t ttl = (uint32_t)j->deadline_ms + st->o->lease;
    *slot = -1;
    for (int64_t k = 0; k < j->max_instances; k++) {
        snprintf(key, sizeof key, "sched:inst:%s:%lld", j->id, (long long)k);
        int rc = yard_store_set_nx(st->store, key, st->owner, ol, ttl);
        if (rc == 0 && s_slot_reclaim(st, key)) {
            rc = yard_store_set_nx(st->store, key, st->owner, ol, ttl);
        }
        if (rc < 0) {
            return true; /* the store is down: firing matters more than the count */
        }
        if (rc == 1) {
            *slot = (int)k;
            return true;
        }
    }
    return false;
}

static void
s_instance_give(sched_state_t *st, const char *id, int slot)
{
    if (slot < 0) {
        return;
    }
    char key[160];
    snprintf(key, sizeof key, "sched:inst:%s:%d", id, slot);
    yard_store_del_if(st->store, key, st->owner, strlen(st->owner));
}

/* --- firing ------------------------------------------------------------------------------ */

static void
s_pending_add(sched_state_t *st, const char *id, int64_t scheduled, int64_t at_ms, int attempt,
              bool manual)
{
    sched_pending_t *p = calloc(1, sizeof *p);
    if (!p) {
        abort();
    }
    snprintf(p->id, sizeof p->id, "%s", id);
    p->scheduled = scheduled;
    p->at_ms = at_ms;
    p->attempt = attempt;
    p->manual = manual;
    p->next = st->pending;
    st->pending = p;
}

static void s_on_reply(const yard_msg_t *reply, void *arg);

static void
s_ended(s_call_t *c, int status, const char *error, const void *reply, size_t reply_len)
{
    sched_state_t *st = c->st;
    int64_t took = sched_now_ms() - c->started_ms;
    s_instance_give(st, c->id, c->slot);
    s_history(st, c->id, c->scheduled, c->started_ms, took, status == 0 ? "ok" : "error",
              c->attempt, error, reply, reply_len);
    if (st->closing) {
        return; /* stopping: the call was cut short; nothing more goes out */
    }
    if (status == 0) {
        s_event(st, "succeeded", c->id, c->scheduled, c->attempt, NULL, NULL);
        return;
    }
    s_event(st, "failed", c->id, c->scheduled, c->attempt, "error", error ? error : "error");
    if (c->attempt <= c->retries) {
        int64_t delay_ms = c->backoff_ms << (c->attempt - 1 < 20 ? c->attempt - 1 : 20);
        s_pending_add(st, c->id, c->scheduled, sched_now_ms() + delay_ms, c->attempt + 1, true);
    }
}

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_call_t *c = arg;
    int st = yard_msg_status(reply);
    size_t n = 0;
    const void *body = st == 0 ? yard_msg_body(reply, &n) : NULL;
    char err[256] = "";
    if (st != 0) {
        const char *app = yard_msg_app_error(reply);
        snprintf(err, sizeof err, "%s: %s", app && app[0] ? app : yard_err_name(st),
                 yard_msg_error_text(reply));
    }
    s_ended(c, st, st ? err : NULL, body, n);
    free(c);
}

static const sched_job_t *
s_find(const sched_state_t *st, const char *id)
{
    for (size_t i = 0; i < st->njobs; i++) {
        if (strcmp(st->jobs[i]->id, id) == 0) {
            return st->jobs[i];
        }
    }
    return NULL;
}

static void
s_fire(sched_state_t *st, const sched_job_t *j, int64_t scheduled, int attempt)
{
    int slot = -1;
    if (!s_instance_take(st, j, &slot)) {
        s_history(st, j->id, scheduled, sched_now_ms(), 0, "skipped", attempt,
                  "max_instances reached", NULL, 0);
        s_event(st, "missed", j->id, scheduled, attempt, "reason", "max_instances");
        return;
    }
    s_event(st, "fired", j->id, scheduled, attempt, NULL, NULL);
    char run[SCHED_ID_MAX + 40], att[16], t[32];
    sched_run_time_format(scheduled, t, sizeof t);
    snprintf(run, sizeof run, "%s@%s", j->id, t);
    snprintf(att, sizeof att, "%d", attempt);
    yard_kv_t h[3] = {{{"sched.job", 9}, {j->id, (uint32_t)strlen(j->id)}},
                      {{"sched.run", 9}, {run, (uint32_t)strlen(run)}},
                      {{"sched.attempt", 13}, {att, (uint32_t)strlen(att)}}};
    yard_call_opts_t o = {.op = j->op[0] ? j->op : NULL,
                          .timeout_ms = (uint32_t)j->deadline_ms,
                          .headers = h,
                          .header_count = 3};
    s_call_t *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    *c = (s_call_t){.st = st,
                    .scheduled = scheduled,
                    .started_ms = sched_now_ms(),
                    .attempt = attempt,
                    .retries = (int)j->retries,
                    .slot = slot,
                    .backoff_ms = j->backoff_ms};
    snprintf(c->id, sizeof c->id, "%s", j->id);
    int rc = 0;
    if (j->mode == SCHED_CALL) {
        rc =
            yard_client_call_async(st->client, j->service, j->body, j->body_len, &o, s_on_reply, c);
        if (rc == 0) {
            return; /* s_on_reply ends it */
        }
    } else if (j->mode == SCHED_SEND) {
        rc = yard_client_send(st->client, j->service, j->body, j->body_len, &o);
    } else {
        rc = yard_client_publish(st->client, j->subject, j->body, j->body_len);
    }
    s_ended(c, rc, rc ? yard_strerror(rc) : NULL, NULL, 0);
    free(c);
}

/* --- claims ------------------------------------------------------------------------------ */

/* 1: this replica handles run t (unix ms); 0: another one holds it; -1: it was handled
 * already. On 1 and -1, *claim holds the claim's lease (give it back with s_release), else it
 * is NULL. The keys name t as sched_run_time_format() writes it. */
static int
s_claim(sched_state_t *st, const char *id, int64_t t_ms, yard_lease_t **claim)
{
    char key[160], t[32];
    sched_run_time_format(t_ms, t, sizeof t);
    snprintf(key, sizeof key, "sched:claim:%s:%s", id, t);
    if (yard_lease_new(st->store, key, st->o->lease, claim) != 0 ||
        yard_lease_acquire(*claim) != 1 || !yard_lease_held(*claim, yard_loop_now_ms())) {
        yard_lease_destroy(claim);
        return 0;
    }
    snprintf(key, sizeof key, "sched:done:%s:%s", id, t);
    size_t ol = strlen(st->owner);
    return yard_store_set_nx(st->store, key, st->owner, ol, S_DONE_TTL_MS) == 1 ? 1 : -1;
}

static void
s_release(yard_lease_t **claim)
{
    if (*claim) {
        yard_lease_release(*claim);
        yard_lease_destroy(claim);
    }
}

static int64_t
s_jitter_ms(const sched_job_t *j)
{
    return j->jitter_ms > 0 ? (int64_t)randombytes_uniform((uint32_t)(j->jitter_ms + 1)) : 0;
}

/* How long a replica waits before looking again at a run another one holds: a quarter of a
 * short interval (a 100 ms job's next run is not slept through), else the runner's tick, as
 * for second-based jobs before. */
static int64_t
s_retry_ms(const sched_job_t *j)
{
    int64_t q = j->kind == SCHED_INTERVAL ? j->every_ms / 4 : S_TICK_MS;
    return q < 25 ? 25 : q > S_TICK_MS ? S_TICK_MS : q;
}

/* Acts on what is due for j at now (unix ms); returns the next time (unix ms) it needs
 * looking at. */
static int64_t
s_job_tick(sched_state_t *st, const sched_job_t *j, int64_t now)
{
    int64_t next = 0;
    if (sched_store_next_get_ms(st->store, j->id, &next) != 0) {
        return now + 1000;
    }
    if (next == 0) { /* a job from the config file, seen for the first time */
        next = sched_job_next_ms(j, now);
        sched_store_next_set_ms(st->store, j->id, next);
    }
    if (next < 0 || j->paused) {
        return INT64_MAX;
    }
    if (next > now) {
        return next;
    }
    sched_due_t due[SCHED_PLAN_MAX + 1];
    int64_t new_next = next;
    size_t n = sched_plan_ms(j, next, now, due, &new_next);
    int claimed = 0;
    int64_t held = 0; /* the first run another replica's claim holds */
    yard_lease_t *claims[SCHED_PLAN_MAX + 1] = {NULL};
    for (size_t i = 0; i < n; i++) {
        int c = s_claim(st, j->id, due[i].t, &claims[i]);
        if (c == 0) {
            held = held ? held : due[i].t; /* its holder advances next, unless it died */
            continue;
        }
        claimed++;
        if (c == 1 && due[i].fire) {
            s_pending_add(st, j->id, due[i].t, due[i].t + s_jitter_ms(j), 1, false);
        } else if (c == 1) {
            char why[64];
            snprintf(why, sizeof why, "later than misfire_grace (%lld runs)", (long long)due[i].n);
            s_history(st, j->id, due[i].t, sched_now_ms(), 0, "missed", 0, why, NULL, 0);
            s_event(st, "missed", j->id, due[i].t, 0, "reason", "misfire");
        }
    }
    if (claimed) {
        /* Never past a run another replica holds: if that replica died before marking it
         * done, its claim expires and the run is still due here (the later ones we handled
         * are marked done, so coming back over them fires nothing twice). */
        new_next = held ? held : new_next;
        sched_store_next_set_ms(st->store, j->id, new_next);
        if (new_next < 0) { /* once: the replica that moved it to -1 */
            yard_log(YARD_LOG_INFO, "scheduler: job finished: it has no more runs",
                     YF_STR("job", j->id));
        }
    }
    for (size_t i = 0; i < n; i++) {
        s_release(&claims[i]);
    }
    return claimed ? (new_next < 0 ? INT64_MAX : new_next) : now + s_retry_ms(j);
}

/* --- the loop ---------------------------------------------------------------------------- */

/* A stored job that does not load is logged the first time a reload meets it, not on every
 * reload (each second); it is logged again only after it loaded or went away in between. */
static void
s_on_bad(const char *id, const char *why, void *arg)
{
    sched_state_t *st = arg;
    for (size_t i = 0; i < st->nbad; i++) {
        if (strcmp(st->bad[i], id) == 0) {
            st->bad_seen[i] = true;
            return;
        }
    }
    if (st->nbad < SCHED_BAD_MAX) {
        snprintf(st->bad[st->nbad], sizeof st->bad[0], "%s", id);
        st->bad_seen[st->nbad++] = true;
    }
    yard_log(YARD_LOG_ERROR,
             "scheduler: a stored job does not load; it does not run (job.remove deletes it)",
             YF_STR("job", id), YF_STR("error", why));
}

static void
s_reload(sched_state_t *st)
{
    sched_job_t **jobs = NULL;
    size_t n = 0;
    for (size_t i = 0; i < st->nbad; i++) {
        st->bad_seen[i] = false;
    }
    if (sched_store_jobs(st->store, &jobs, &n, s_on_bad, st) != 0) {
        return; /* keep the old list while the store is away */
    }
    size_t k = 0; /* forget the ones this reload did not meet */
    for (size_t i = 0; i < st->nbad; i++) {
        if (st->bad_seen[i]) {
            memmove(st->bad[k], st->bad[i], sizeof st->bad[0]);
            st->bad_seen[k++] = true;
        }
    }
    st->nbad = k;
    sched_store_jobs_free(&st->jobs, st->njobs);
    st->jobs = jobs;
    st->njobs = n;
    st->jobs_loaded_ms = sched_now_ms();
}

/* Fires the pending runs whose time has come; returns the earliest left (ms), or INT64_MAX. */
static int64_t
s_fire_pending(sched_state_t *st, int64_t now_ms)
{
    pthread_mutex_lock(&st->lock);
    while (st->manual) { /* job.run_now: joins the pending list */
        sched_pending_t *p = st->manual;
        st->manual = p->next;
        p->next = st->pending;
        st->pending = p;
    }
    pthread_mutex_unlock(&st->lock);
    int64_t soonest = INT64_MAX;
    sched_pending_t **pp = &st->pending;
    while (*pp) {
        sched_pending_t *p = *pp;
        if (p->at_ms > now_ms) {
            soonest = p->at_ms < soonest ? p->at_ms : soonest;
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        /* job.run_now and retries read the job afresh: it may have been added or changed
         * since the list was loaded. */
        sched_job_t *fresh = NULL;
        if (p->manual) {
            sched_store_load(st->store, p->id, &fresh, NULL, 0);
        }
        const sched_job_t *j = p->manual ? fresh : s_find(st, p->id);
        if (j) {
            s_fire(st, j, p->scheduled, p->attempt);
        }
        sched_job_destroy(&fresh);
        free(p);
    }
    return soonest;
}

static void *
s_main(void *arg)
{
    sched_state_t *st = arg;
    yard_log_set_context("scheduler", st->replica);
    int64_t alive_ms = 0;
    while (!atomic_load(&st->stop)) {
        int64_t now_ms = sched_now_ms();
        if (now_ms - alive_ms >= (int64_t)st->o->lease / 3) { /* wakes at least each S_TICK_MS */
            s_alive(st);
            alive_ms = now_ms;
        }
        if (now_ms - st->jobs_loaded_ms >= (int64_t)st->o->reload) {
            s_reload(st);
        }
        int64_t now = sched_now_ms(), wake_ms = INT64_MAX;
        for (size_t i = 0; i < st->njobs; i++) {
            int64_t w = s_job_tick(st, st->jobs[i], now);
            wake_ms = w < wake_ms ? w : wake_ms;
        }
        int64_t pending_ms = s_fire_pending(st, sched_now_ms());
        wake_ms = pending_ms < wake_ms ? pending_ms : wake_ms;
        int64_t wait = wake_ms - sched_now_ms();
        wait = wait < 0 ? 0 : wait > S_TICK_MS ? S_TICK_MS : wait;
        yard_client_dispatch(st->client, (int)wait);
    }
    return NULL;
}

int
sched_runner_start(sched_state_t *st)
{
    yard_client_opts_t co = {.zmq_context = st->zmq_context};
    int rc = yard_client_new(st->broker, &co, &st->client);
    if (rc != 0) {
        return rc;
    }
    if (pthread_create(&st->thread, NULL, s_main, st) != 0) {
        yard_client_destroy(&st->client);
        return YARD_E_INTERNAL;
    }
    st->running = true;
    return 0;
}

void
sched_runner_stop(sched_state_t *st)
{
    if (!st->running) {
        return;
    }
    atomic_store(&st->stop, true);
    pthread_join(st->thread, NULL);
    st->running = false;
    /* Calls still out end now (their callbacks record them) before the client goes. */
    st->closing = true;
    yard_client_destroy(&st->client);
    sched_store_jobs_free(&st->jobs, st->njobs);
    st->njobs = 0;
    for (sched_pending_t *p = st->pending, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    st->pending = NULL;
    pthread_mutex_lock(&st->lock);
    for (sched_pending_t *p = st->manual, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    st->manual = NULL;
    pthread_mutex_unlock(&st->lock);
}

void
sched_runner_run_now(sched_state_t *st, const char *id, int64_t scheduled)
{
    sched_pending_t *p = calloc(1, sizeof *p);
    if (!p) {
        abort();
    }
    snprintf(p->id, sizeof p->id, "%s", id);
    p->scheduled = scheduled;
    p->at_ms = 0;
    p->attempt = 1;
    p->manual = true;
    pthread_mutex_lock(&st->lock);
    p->next = st->manual;
    st->manual = p;
    pthread_mutex_unlock(&st->lock);
}
