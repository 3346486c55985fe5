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

/* --- request helpers --------------------------------------------------------------------- */

static const msgpack_object_map *
s_body(yard_request_t *req)
{
    const msgpack_object *o = yard_request_object(req);
    if (!o || o->type != MSGPACK_OBJECT_MAP) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, "the body must be a map");
        return NULL;
    }
    return &o->via.map;
}

/* The "id" field into id; false after failing req. */
static bool
s_id(yard_request_t *req, char id[SCHED_ID_MAX + 1])
{
    const msgpack_object_map *m = s_body(req);
    if (!m) {
        return false;
    }
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 &&
            memcmp(k->via.str.ptr, "id", 2) == 0 && v->type == MSGPACK_OBJECT_STR &&
            v->via.str.size >= 1 && v->via.str.size <= SCHED_ID_MAX) {
            memcpy(id, v->via.str.ptr, v->via.str.size);
            id[v->via.str.size] = '\0';
            return true;
        }
    }
    yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, "'id' is required (a string of 1..64)");
    return false;
}

static int
s_store_error(yard_request_t *req, int rc)
{
    if (rc == YARD_E_NOT_FOUND) {
        return yard_request_fail(req, YARD_E_NOT_FOUND, "NOT_FOUND", "no such job");
    }
    yard_log(YARD_LOG_ERROR, "scheduler: store failed", YF_STR("error", yard_err_name(rc)));
    return yard_request_fail(req, YARD_E_UNREACHABLE, NULL, "the state store is not reachable");
}

static void
s_kstr(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    msgpack_pack_str_with_body(pk, v, strlen(v));
}

static void
s_knext(msgpack_packer *pk, int64_t next)
{
    msgpack_pack_str_with_body(pk, "next_run", 8);
    if (next > 0) {
        msgpack_pack_int64(pk, next);
    } else {
        msgpack_pack_nil(pk);
    }
}

/* A reply being packed. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} s_out_t;

static void
s_out_init(s_out_t *o)
{
    msgpack_sbuffer_init(&o->sb);
    msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
}

/* Replies with what o holds and frees it. */
static int
s_out_reply(s_out_t *o, yard_request_t *req)
{
    int rc = yard_request_reply(req, o->sb.data, o->sb.size);
    msgpack_sbuffer_destroy(&o->sb);
    return rc;
}

/* Replies {id, next_run} after storing next. */
static int
s_reply_next(yard_request_t *req, const char *id, int64_t next)
{
    s_out_t o;
    s_out_init(&o);
    msgpack_pack_map(&o.pk, 2);
    s_kstr(&o.pk, "id", id);
    s_knext(&o.pk, next);
    return s_out_reply(&o, req);
}

/* The request's "id" and that job, loaded (caller destroys it); false after failing req. */
static bool
s_job_of(yard_request_t *req, sched_state_t *st, char id[SCHED_ID_MAX + 1], sched_job_t **j)
{
    *j = NULL;
    if (!s_id(req, id)) {
        return false;
    }
    int rc = sched_store_load(st->store, id, j);
    if (rc != 0) {
        s_store_error(req, rc);
        return false;
    }
    return true;
}

/* --- operations -------------------------------------------------------------------------- */

/* job.add and job.update: the body is the whole job. */
static int
s_put(yard_request_t *req, sched_state_t *st, bool create)
{
    const msgpack_object *o = yard_request_object(req);
    char why[200];
    sched_job_t *j = NULL;
    int64_t now = sched_now();
    if (sched_job_from_map(o, now, &j, why, sizeof why) != 0) {
        return yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, why);
    }
    sched_job_t *old = NULL;
    int rc = create ? 0 : sched_store_load(st->store, j->id, &old);
    if (old) {
        j->created = old->created;
        sched_job_destroy(&old);
    }
    if (rc == 0) {
        rc = sched_store_save(st->store, j, create);
    }
    if (rc == 1) {
        sched_job_destroy(&j);
        return yard_request_fail(req, YARD_E_SERVICE, "CONFLICT",
                                 "a job with that id exists (job.update changes it)");
    }
    int64_t next = sched_job_next(j, now);
    if (rc == 0) {
        rc = sched_store_next_set(st->store, j->id, next);
    }
    char id[SCHED_ID_MAX + 1], what[300];
    snprintf(id, sizeof id, "%s", j->id);
    sched_job_describe(j, what, sizeof what);
    sched_job_destroy(&j);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    yard_log(YARD_LOG_INFO, create ? "scheduler: job added" : "scheduler: job updated",
             YF_STR("job", id), YF_STR("trigger", what), YF_INT("next_run", next));
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
    char id[SCHED_ID_MAX + 1];
    if (!s_id(req, id)) {
        return 0;
    }
    int rc = sched_store_remove(st->store, id);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    yard_log(YARD_LOG_INFO, "scheduler: job removed", YF_STR("job", id));
    return s_reply_next(req, id, -1);
}

static int
s_set_paused(yard_request_t *req, sched_state_t *st, bool paused)
{
    char id[SCHED_ID_MAX + 1];
    sched_job_t *j = NULL;
    if (!s_job_of(req, st, id, &j)) {
        return 0;
    }
    j->paused = paused;
    int rc = sched_store_save(st->store, j, false);
    /* The stored next run is what every runner reads on every tick, so a pause takes hold at
     * once (-1: none), not at the runners' next reload of the job list. Resuming starts from
     * now: runs that fell in the pause are neither fired nor missed. */
    int64_t next = paused ? -1 : sched_job_next(j, sched_now());
    if (rc == 0) {
        rc = sched_store_next_set(st->store, id, next);
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
    char id[SCHED_ID_MAX + 1];
    sched_job_t *j = NULL;
    if (!s_job_of(req, st, id, &j)) {
        return 0;
    }
    sched_job_destroy(&j);
    int64_t now = sched_now();
    sched_runner_run_now(st, id, now);
    s_out_t o;
    s_out_init(&o);
    msgpack_pack_map(&o.pk, 2);
    s_kstr(&o.pk, "id", id);
    msgpack_pack_str_with_body(&o.pk, "scheduled", 9);
    msgpack_pack_int64(&o.pk, now);
    return s_out_reply(&o, req);
}

/* {job: {...definition}, trigger: "...", next_run} */
static void
s_pack_job(sched_state_t *st, const sched_job_t *j, msgpack_packer *pk)
{
    int64_t next = 0;
    sched_store_next_get(st->store, j->id, &next);
    char what[300];
    sched_job_describe(j, what, sizeof what);
    msgpack_pack_map(pk, 4);
    s_kstr(pk, "id", j->id);
    s_kstr(pk, "trigger", what);
    s_knext(pk, j->paused ? -1 : next);
    msgpack_pack_str_with_body(pk, "job", 3);
    sched_job_pack(j, pk);
}

static int
s_get(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    char id[SCHED_ID_MAX + 1];
    sched_job_t *j = NULL;
    if (!s_job_of(req, st, id, &j)) {
        return 0;
    }
    s_out_t o;
    s_out_init(&o);
    s_pack_job(st, j, &o.pk);
    sched_job_destroy(&j);
    return s_out_reply(&o, req);
}

static int
s_list(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    sched_job_t **jobs = NULL;
    size_t n = 0;
    int rc = sched_store_jobs(st->store, &jobs, &n);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    s_out_t o;
    s_out_init(&o);
    msgpack_pack_map(&o.pk, 1);
    msgpack_pack_str_with_body(&o.pk, "jobs", 4);
    msgpack_pack_array(&o.pk, n);
    for (size_t i = 0; i < n; i++) {
        s_pack_job(st, jobs[i], &o.pk);
    }
    sched_store_jobs_free(&jobs, n);
    return s_out_reply(&o, req);
}

static int
s_history(yard_request_t *req, void *state)
{
    sched_state_t *st = state;
    char id[SCHED_ID_MAX + 1], *hist = NULL;
    size_t len = 0;
    sched_job_t *j = NULL;
    if (!s_job_of(req, st, id, &j)) {
        return 0;
    }
    sched_job_destroy(&j);
    int rc = sched_store_history(st->store, id, &hist, &len);
    if (rc != 0) {
        return s_store_error(req, rc);
    }
    s_out_t o;
    s_out_init(&o);
    msgpack_pack_map(&o.pk, 2);
    s_kstr(&o.pk, "id", id);
    msgpack_pack_str_with_body(&o.pk, "runs", 4);
    msgpack_sbuffer_write(&o.sb, hist, len); /* the stored array, newest first */
    free(hist);
    return s_out_reply(&o, req);
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
    {"job.get", s_get, "{id} -> {id, trigger, next_run, job}"},
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
