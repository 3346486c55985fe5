/* scheduler: cron, interval and date jobs that send bus messages (README.md). This file holds
 * the descriptor, the options, start-up (the config file's jobs, the runner thread) and the
 * job.* operations, which read and write the store; runner.c fires the runs. */
#include "sched_internal.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/registry.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_OFF(f) offsetof(sched_opts_t, f)

static const yard_option_t s_options[] = {
    {"history", YARD_OPT_INT, "20", S_OFF(history), "runs kept per job for job.history", 1, 1000,
     0},
    {"lease", YARD_OPT_MS, "3s", S_OFF(lease),
     "how long a replica's claim on a run holds; a dead replica's runs move on after it", 500,
     60000, 0},
    {"reload", YARD_OPT_MS, "1s", S_OFF(reload),
     "how often a replica re-reads the job list (jobs added elsewhere start by then)", 100, 60000,
     0},
    {"jobs", YARD_OPT_NODE, NULL, 0, "jobs defined in the file (see the README)", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

/* --- request helpers ------------------------------------------------------------------- */

/* The "id" field (1..64 bytes). Returns 0, or fails req and returns the error. */
static int
s_id(yard_request_t *req, const char **id)
{
    int rc = yard_req_str_max(req, "id", SCHED_ID_MAX, id);
    if (rc == 0 && !**id) {
        rc = yard_req_fail_field(req, "id", "must not be empty");
    }
    return rc;
}

/* Answers a failed store operation for what it was: no such job, a stored job this version
 * cannot read (INTERNAL, naming it and why: the store answered, so UNREACHABLE would blame
 * the wrong thing), or the store away. */
static int
s_store_error(yard_request_t *req, int rc)
{
    if (rc == YARD_E_NOT_FOUND) {
        yard_request_fail(req, YARD_E_NOT_FOUND, "NOT_FOUND", "no such job");
        return rc;
    }
    if (rc == YARD_E_INTERNAL) {
        yard_request_fail(req, YARD_E_INTERNAL, NULL,
                          "the job is stored in a form this scheduler cannot read (job.remove "
                          "deletes it; the scheduler's log says why)");
        return rc;
    }
    yard_log(YARD_LOG_ERROR, "scheduler: store failed", YF_STR("error", yard_err_name(rc)));
    yard_request_fail(req, YARD_E_UNREACHABLE, NULL, "the state store is not reachable");
    return YARD_E_UNREACHABLE;
}

/* next_run: the time, or nil when there is none. */
static void
s_knext(yard_mpw_t *w, int64_t next)
{
    yard_mpw_key(w, "next_run");
    if (next > 0) { /* unix ms, written as seconds */
        sched_time_write(w, next);
    } else {
        yard_mpw_nil(w);
    }
}

/* Replies {id, next_run} after storing next. */
static int
s_reply_next(yard_request_t *req, const char *id, int64_t next)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "id", id);
    s_knext(w, next);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

/* The request's "id" and that job, loaded (caller destroys it). Returns 0, or fails req and
 * returns the error. */
static int
s_job_of(yard_request_t *req, sched_state_t *st, const char **id, sched_job_t **j)
{
    *j = NULL;
    int rc = s_id(req, id);
    char why[200] = "";
    if (rc == 0 && (rc = sched_store_load(st->store, *id, j, why, sizeof why)) != 0) {
        if (rc == YARD_E_INTERNAL) {
            yard_log(YARD_LOG_ERROR, "scheduler: a stored job does not load", YF_STR("job", *id),
                     YF_STR("error", why));
        }
        rc = s_store_error(req, rc);
    }
    return rc;
}

/* --- operations -------------------------------------------------------------------------- */

/* job.add and job.update: the body is the whole job. */
static int
s_put(yard_request_t *req, sched_state_t *st, bool create)
{
    const msgpack_object *o = NULL;
    char why[200];
    sched_job_t *j = NULL;
    int64_t now = sched_now();
    int rc = yard_req_body_map(req, &o);
    if (rc) {
        return rc;
    }
    if (sched_job_from_map(o, now, &j, why, sizeof why) != 0 ||
        sched_job_check_fires(j, now, why, sizeof why) != 0) {
        sched_job_destroy(&j);
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, why);
        return YARD_E_BAD_REQUEST;
    }
    sched_job_t *old = NULL;
    rc = create ? 0 : sched_store_load(st->store, j->id, &old, NULL, 0);
    rc = rc == YARD_E_INTERNAL ? 0 : rc; /* an unreadable old version is replaced */
    if (old) {
        j->created = old->created;
        sched_job_destroy(&old);
    }
    if (rc == 0) {
        rc = sched_store_save(st->store, j, create);
    }
    if (rc == 1) {
        sched_job_destroy(&j);
        yard_request_fail(req, YARD_E_SERVICE, "CONFLICT",
                          "a job with that id exists (job.update changes it)");
        return YARD_E_SERVICE;
    }
    int64_t next = sched_job_next_ms(j, now * 1000);
    if (rc == 0) {
        rc = sched_store_next_set_ms(st->store, j->id, next);
    }
    char id[SCHED_ID_MAX + 1], what[300];
    snprintf(id, sizeof id, "%s", j->id);
    sched_job_describe(j, what, sizeof what);
    sched_job_destroy(&j);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    yard_log(YARD_LOG_INFO, create ? "scheduler: job added" : "scheduler: job updated",
             YF_STR("job", id), YF_STR("trigger", what), YF_INT("next_run_ms", next));
    return s_reply_next(req, id, next);
}

static int
s_add(yard_request_t *req, void *state)
{
    return s_put(req, state, true);
}

static int
s_update(yard_request_t *req, void *state)
{
    return s_put(req, state, false);
}

static int
s_remove(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    const char *id;
    int rc = s_id(req, &id);
    if (rc) {
        return rc;
    }
    rc = sched_store_remove(st->store, id);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    yard_log(YARD_LOG_INFO, "scheduler: job removed", YF_STR("job", id));
    return s_reply_next(req, id, -1);
}

static int
s_set_paused(yard_request_t *req, sched_state_t *st, bool paused)
{
    const char *id;
    sched_job_t *j = NULL;
    int rc = s_job_of(req, st, &id, &j);
    if (rc) {
        return rc;
    }
    j->paused = paused;
    rc = sched_store_save(st->store, j, false);
    /* The stored next run is what every runner reads on every tick, so a pause takes hold at
     * once (-1: none), not at the runners' next reload of the job list. Resuming starts from
     * now: runs that fell in the pause are neither fired nor missed. */
    int64_t next = paused ? -1 : sched_job_next_ms(j, sched_now_ms());
    if (rc == 0) {
        rc = sched_store_next_set_ms(st->store, id, next);
    }
    sched_job_destroy(&j);
    return rc ? s_store_error(req, rc) : s_reply_next(req, id, paused ? -1 : next);
}

static int
s_pause(yard_request_t *req, void *state)
{
    return s_set_paused(req, state, true);
}

static int
s_resume(yard_request_t *req, void *state)
{
    return s_set_paused(req, state, false);
}

static int
s_run_now(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    const char *id;
    sched_job_t *j = NULL;
    int rc = s_job_of(req, st, &id, &j);
    if (rc) {
        return rc;
    }
    sched_job_destroy(&j);
    int64_t now = sched_now(); /* a whole second, as a manual run always had */
    sched_runner_run_now(st, id, now * 1000);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "id", id);
    yard_mpw_kint(w, "scheduled", now);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

/* {job: {...definition}, trigger: "...", next_run} */
static void
s_pack_job(sched_state_t *st, const sched_job_t *j, yard_mpw_t *w)
{
    int64_t next = 0;
    sched_store_next_get_ms(st->store, j->id, &next);
    char what[300];
    sched_job_describe(j, what, sizeof what);
    yard_mpw_map(w);
    yard_mpw_kstr(w, "id", j->id);
    yard_mpw_kstr(w, "trigger", what);
    s_knext(w, j->paused ? -1 : next);
    /* finished: no run is left (an end or an 'at' passed); it stays until job.remove */
    yard_mpw_kstr(w, "state", j->paused ? "paused" : next < 0 ? "finished" : "scheduled");
    yard_mpw_key(w, "job");
    sched_job_write(j, w);
    yard_mpw_end(w);
}

static int
s_get(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    const char *id;
    sched_job_t *j = NULL;
    int rc = s_job_of(req, st, &id, &j);
    if (rc) {
        return rc;
    }
    yard_mpw_t *w = yard_mpw_new();
    s_pack_job(st, j, w);
    sched_job_destroy(&j);
    return yard_request_reply_mpw(req, &w);
}

static int
s_list(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    sched_job_t **jobs = NULL;
    size_t n = 0;
    int rc = sched_store_jobs(st->store, &jobs, &n, NULL, NULL);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "jobs");
    yard_mpw_array(w);
    for (size_t i = 0; i < n; i++) {
        s_pack_job(st, jobs[i], w);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    sched_store_jobs_free(&jobs, n);
    return yard_request_reply_mpw(req, &w);
}

static int
s_history(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    const char *id;
    char *hist = NULL;
    size_t len = 0;
    sched_job_t *j = NULL;
    int rc = s_job_of(req, st, &id, &j);
    if (rc) {
        return rc;
    }
    sched_job_destroy(&j);
    rc = sched_store_history(st->store, id, &hist, &len);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "id", id);
    yard_mpw_key(w, "runs");
    yard_mpw_raw(w, hist, len); /* the stored array, newest first (checked: store bytes) */
    yard_mpw_end(w);
    free(hist);
    return yard_request_reply_mpw(req, &w);
}

/* --- life cycle -------------------------------------------------------------------------- */

static int
s_init(void *state, const yard_actor_env_t *env)
{
    sched_state_t *st = state;
    st->o = env->options;
    st->store = env->store;
    st->broker = env->broker;
    st->zmq_context = env->zmq_context;
    st->replica = env->replica;
    char host[64] = "host";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char nonce[16];
    randombytes_buf(nonce, 6);
    snprintf(st->owner, sizeof st->owner, "%s/%d/%d/%02x%02x%02x", host, (int)getpid(),
             env->replica, (unsigned char)nonce[0], (unsigned char)nonce[1],
             (unsigned char)nonce[2]);
    pthread_mutex_init(&st->lock, NULL);
    if (sodium_init() < 0) {
        return YARD_E_INTERNAL;
    }
    if (env->replica == 0 && env->config) {
        int n = sched_config_load(st, env->config);
        yard_log(YARD_LOG_INFO, "scheduler: jobs from the config file", YF_INT("loaded", n));
    }
    return sched_runner_start(st);
}

static void
s_fini(void *state)
{
    sched_state_t *st = state;
    sched_runner_stop(st);
    pthread_mutex_destroy(&st->lock);
}

static const yard_handler_def_t s_handlers[] = {
    {"job.add", s_add,
     "{id, cron|every|at, tz?, service|subject, op?, body?, ...} -> {id, next_run}"},
    {"job.update", s_update, "the whole job, same id -> {id, next_run}"},
    {"job.remove", s_remove, "{id}"},
    {"job.pause", s_pause, "{id}"},
    {"job.resume", s_resume, "{id} -> {id, next_run}"},
    {"job.run_now", s_run_now, "{id}: one run now, outside the schedule"},
    {"job.get", s_get, "{id} -> {id, trigger, next_run, state, job}"},
    {"job.list", s_list, "{} -> {jobs: [...]}"},
    {"job.history", s_history, "{id} -> {id, runs: [...] newest first}"},
    {NULL, NULL, NULL},
};

const yard_actor_def_t yard_actor_scheduler = {
    .name = "scheduler",
    .description = "cron, interval and date jobs that send bus messages, safe with replicas",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(sched_opts_t),
    .state_size = sizeof(sched_state_t),
    .credit = 16,
    .stateful = true,
    .init = s_init,
    .fini = s_fini,
};
