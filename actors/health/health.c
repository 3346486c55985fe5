/* health: checks URLs, bus services and TCP ports on their own intervals, decides up and down
 * with flapping control, publishes each transition (health.down / health.up and
 * alert.health.<name>, which the telegram actor forwards to its admins), and shows the result
 * as a status reply, Prometheus metrics and an HTML page (actors/health/README.md).
 *
 * Each replica keeps a timer and a lease per check; only the lease's holder runs the check on
 * its interval, so a check runs once per interval however many replicas there are, and its
 * record in the store (record.c) is what every replica answers from. */
#include "health_internal.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const yard_option_t s_options[] = {
    {"checks", YARD_OPT_NODE, NULL, 0,
     "the checks: a list of maps {name, http|bus|tcp, every, timeout, ...} "
     "(actors/health/README.md)",
     0, 0, 0},
    {"down_after", YARD_OPT_INT, "3", offsetof(hc_opts_t, down_after),
     "failures in a row before a check is down", 1, 100, 0},
    {"up_after", YARD_OPT_INT, "2", offsetof(hc_opts_t, up_after),
     "successes in a row before a check is up again", 1, 100, 0},
    {"jitter", YARD_OPT_INT, "10", offsetof(hc_opts_t, jitter),
     "each check's interval varies by up to this many percent", 0, 50, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

hc_tcp_t *
hc_health_tcp(yard_ctx_t *ctx)
{
    health_t *h = yard_ctx_state(ctx);
    return h->tcp;
}

/* --- events --------------------------------------------------------------------------------- */

static void
s_publish(yard_ctx_t *ctx, const char *subject, yard_mpw_t *w)
{
    const void *data = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &data, &size);
    if (rc == 0) {
        rc = yard_ctx_publish(ctx, subject, data, size);
    }
    if (rc != 0) {
        yard_log(YARD_LOG_WARN, "health: an event was not published", YF_STR("subject", subject),
                 YF_STR("error", yard_err_name(rc)));
    }
    yard_mpw_destroy(&w);
}

static void
s_announce(yard_ctx_t *ctx, const hc_check_t *c, const hc_record_t *r, const hc_transition_t *t,
           const char *reason)
{
    bool down = r->state == HC_DOWN;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "check", c->name);
    yard_mpw_kstr(w, "kind", hc_kind_name(c->kind));
    yard_mpw_kstr(w, "reason", reason);
    yard_mpw_kint(w, "duration_ms", t->duration_ms);
    yard_mpw_kstr(w, "from", hc_state_name(t->from));
    yard_mpw_end(w);
    s_publish(ctx, down ? "health.down" : "health.up", w);

    char text[HC_ERROR_MAX + HC_NAME_MAX + 96];
    long long min = (long long)(t->duration_ms / 60000);
    if (down) {
        snprintf(text, sizeof text, "health: %s is DOWN: %s", c->name, reason);
    } else {
        snprintf(text, sizeof text, "health: %s is UP again after %lld min down", c->name, min);
    }
    char subject[HC_NAME_MAX + 16];
    snprintf(subject, sizeof subject, "alert.health.%s", c->name);
    w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "text", text);
    yard_mpw_kstr(w, "check", c->name);
    yard_mpw_kstr(w, "state", hc_state_name(r->state));
    yard_mpw_kstr(w, "reason", reason);
    yard_mpw_kint(w, "duration_ms", t->duration_ms);
    yard_mpw_end(w);
    s_publish(ctx, subject, w);
    yard_log(down ? YARD_LOG_WARN : YARD_LOG_INFO, down ? "health: check down" : "health: check up",
             YF_STR("check", c->name), YF_STR("reason", reason),
             YF_INT("duration_ms", t->duration_ms));
}

/* --- runs ----------------------------------------------------------------------------------- */

static void
s_answer_waiters(hc_run_t *run, const hc_result_t *res, const hc_record_t *r, int err)
{
    for (size_t i = 0; i < run->n_waiters; i++) {
        if (err != 0) {
            yard_deferred_fail(&run->waiters[i], err, NULL, "the check did not run to its end");
            continue;
        }
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        yard_mpw_kstr(w, "name", run->check->name);
        yard_mpw_kbool(w, "ok", res->ok);
        yard_mpw_kuint(w, "latency_ms", res->latency_ms);
        yard_mpw_kstr(w, res->ok ? "summary" : "error", res->error);
        yard_mpw_kstr(w, "state", hc_state_name(r->state));
        if (res->cert_days >= 0) {
            yard_mpw_kint(w, "cert_days", res->cert_days);
        }
        if (res->replicas >= 0) {
            yard_mpw_kint(w, "replicas", res->replicas);
        }
        yard_mpw_end(w);
        const void *data = NULL;
        size_t size = 0;
        if (yard_mpw_finish(w, &data, &size) == 0) {
            yard_deferred_reply(&run->waiters[i], data, size);
        } else {
            yard_deferred_fail(&run->waiters[i], YARD_E_INTERNAL, NULL, "reply");
        }
        yard_mpw_destroy(&w);
    }
    run->n_waiters = 0;
}

/* A run's outcome moves the check's record (read, apply, write, announce) under a short lock
 * in the store, because a `check` op may run the check on a replica that does not hold its
 * lease while the holder runs it too: without the lock one outcome could be lost and a
 * transition announced twice. */
#define S_APPLY_LOCK_MS  5000 /* outlives any read-apply-write; freed at once after */
#define S_APPLY_RETRY_MS 20
#define S_APPLY_TRIES    150 /* 3 s of waiting, then the run is reported as not recorded */

static void s_apply_cb(yard_ctx_t *ctx, void *arg);

/* Applies run->pending holding the lock. Returns 0 or the store's error. */
static int
s_apply_locked(yard_ctx_t *ctx, hc_run_t *run, hc_record_t *r)
{
    yard_store_t *store = yard_ctx_store(ctx);
    const hc_result_t *res = &run->pending;
    health_t *h = run->h;
    int rc = hc_record_load(store, run->check->name, r);
    hc_transition_t t = {0};
    if (rc == 0) {
        t = hc_record_apply(r, res, yard_ctx_wall_ms(ctx), h->down_after, h->up_after);
        rc = hc_record_save(store, run->check->name, r);
    }
    if (rc == 0 && t.changed && t.announce) {
        s_announce(ctx, run->check, r, &t, res->error);
    }
    return rc;
}

static void
s_apply(yard_ctx_t *ctx, hc_run_t *run)
{
    yard_store_t *store = yard_ctx_store(ctx);
    char key[HC_NAME_MAX + 24], token[64];
    snprintf(key, sizeof key, "health:apply:%s", run->check->name);
    uint64_t nonce = 0; /* unique per attempt, on every host: only its taker frees the lock */
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
        nonce = (uint64_t)yard_loop_now_ms() ^ (uint64_t)(uintptr_t)run;
    }
    snprintf(token, sizeof token, "%016" PRIx64, nonce);
    int got = yard_store_set_nx(store, key, token, strlen(token), S_APPLY_LOCK_MS);
    if (got == 0 && ++run->apply_tries < S_APPLY_TRIES) {
        run->apply_timer =
            yard_timer_at(ctx, yard_ctx_wall_ms(ctx) + S_APPLY_RETRY_MS, s_apply_cb, run);
        if (run->apply_timer) {
            return; /* fini answers the waiters if the replica stops meanwhile */
        }
    }
    hc_record_t r;
    int rc = got == 1 ? s_apply_locked(ctx, run, &r) : got == 0 ? YARD_E_OVERLOADED : got;
    if (got == 1) {
        yard_store_del_if(store, key, token, strlen(token));
    }
    run->running = false;
    if (rc != 0) {
        yard_log(YARD_LOG_WARN, "health: the store did not take a run",
                 YF_STR("check", run->check->name), YF_STR("error", yard_err_name(rc)));
        s_answer_waiters(run, &run->pending, NULL, rc);
        return;
    }
    s_answer_waiters(run, &run->pending, &r, 0);
}

static void
s_apply_cb(yard_ctx_t *ctx, void *arg)
{
    hc_run_t *run = arg;
    run->apply_timer = NULL; /* freed when this returns */
    s_apply(ctx, run);
}

static void
s_done(yard_ctx_t *ctx, const hc_result_t *res, void *arg)
{
    hc_run_t *run = arg;
    if (res->aborted) {
        run->running = false;
        s_answer_waiters(run, res, NULL, YARD_E_SHUTDOWN); /* the replica stops: not a failure */
        return;
    }
    run->pending = *res; /* the run stays `running` until its outcome is recorded */
    run->apply_tries = 0;
    s_apply(ctx, run);
}

/* Starts a run. forced: the `check` op (any replica, now); else the interval's run, done only
 * by the lease's holder, and skipped when a run ended less than half an interval ago (the
 * lease just moved from a replica that had run it). */
static int
s_run(hc_run_t *run, bool forced)
{
    yard_ctx_t *ctx = run->h->ctx;
    if (run->running) {
        return 0;
    }
    if (!forced) {
        if (!run->lease || !yard_lease_held(run->lease, yard_loop_now_ms())) {
            return 0;
        }
        hc_record_t r;
        if (hc_record_load(yard_ctx_store(ctx), run->check->name, &r) != 0) {
            return YARD_E_UNREACHABLE;
        }
        int64_t since = yard_ctx_wall_ms(ctx) - r.last_run_ms;
        if (r.last_run_ms > 0 && since >= 0 && since < run->check->every_ms / 2) {
            return 0;
        }
    }
    run->running = true;
    int rc = hc_probe_start(ctx, run->check, s_done, run);
    if (rc != 0) {
        run->running = false;
        yard_log(YARD_LOG_WARN, "health: a check could not start",
                 YF_STR("check", run->check->name), YF_STR("error", yard_err_name(rc)));
    }
    return rc;
}

static void
s_tick(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    s_run(arg, false);
}

static void
s_lease(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg)
{
    (void)ctx;
    (void)lease;
    if (held) {
        s_run(arg, false); /* a check runs as soon as someone holds it, not an interval later */
    }
}

/* --- init / fini ---------------------------------------------------------------------------- */

static uint32_t
s_lease_ttl(const hc_check_t *c)
{
    uint64_t ttl = 2ull * c->every_ms;
    return ttl < 2000 ? 2000 : ttl > 120000 ? 120000 : (uint32_t)ttl;
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    health_t *h = state;
    const hc_opts_t *o = env->options;
    h->ctx = env->ctx;
    h->down_after = o->down_after;
    h->up_after = o->up_after;
    char err[512];
    int rc = hc_checks_load(env->config, &h->checks, err, sizeof err);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "health: bad configuration", YF_STR("error", err));
        return rc;
    }
    if (h->checks.n == 0) {
        yard_log(YARD_LOG_INFO, "health: no checks configured; idling (add health.checks)");
        return 0;
    }
    for (size_t i = 0; i < h->checks.n && !h->tcp; i++) {
        if (h->checks.checks[i].kind == HC_TCP && (rc = hc_tcp_add(env->ctx, &h->tcp)) != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < h->checks.n; i++) {
        hc_run_t *run = &h->runs[i];
        const hc_check_t *c = &h->checks.checks[i];
        *run = (hc_run_t){.h = h, .check = c};
        run->timer = yard_timer_every(env->ctx, c->every_ms, (uint32_t)o->jitter, s_tick, run);
        char name[HC_NAME_MAX + 16];
        snprintf(name, sizeof name, "health:lease:%s", c->name);
        rc = yard_ctx_lease(env->ctx, name, s_lease_ttl(c), s_lease, run, &run->lease);
        if (!run->timer || rc != 0) {
            return rc ? rc : YARD_E_INTERNAL;
        }
    }
    return 0;
}

static void
s_fini(void *state)
{
    health_t *h = state;
    for (size_t i = 0; i < h->checks.n; i++) {
        yard_timer_cancel(&h->runs[i].timer);
        yard_timer_cancel(&h->runs[i].apply_timer);
        s_answer_waiters(&h->runs[i], NULL, NULL, YARD_E_SHUTDOWN);
    }
    hc_checks_free(&h->checks);
}

/* --- ops ------------------------------------------------------------------------------------ */

static int
s_status(yard_request_t *req, void *state)
{
    health_t *h = state;
    hc_record_t *recs = calloc(h->checks.n ? h->checks.n : 1, sizeof *recs);
    if (!recs) {
        abort();
    }
    yard_ctx_t *ctx = yard_request_ctx(req);
    int rc = hc_records_load_all(yard_ctx_store(ctx), &h->checks, recs);
    if (rc == 0) {
        yard_mpw_t *w = yard_mpw_new();
        hc_render_status(&h->checks, recs, yard_ctx_wall_ms(ctx), w);
        rc = yard_request_reply_mpw(req, &w);
    }
    free(recs);
    return rc;
}

static int
s_check(yard_request_t *req, void *state)
{
    health_t *h = state;
    const char *name = NULL;
    int rc = yard_req_str_max(req, "name", HC_NAME_MAX, &name);
    if (rc != 0) {
        return rc;
    }
    hc_run_t *run = NULL;
    for (size_t i = 0; i < h->checks.n && !run; i++) {
        run = strcmp(h->checks.checks[i].name, name) == 0 ? &h->runs[i] : NULL;
    }
    if (!run) {
        return yard_request_fail(req, YARD_E_SERVICE, "NOT_FOUND", "no check has that name");
    }
    if (run->n_waiters == HC_WAITERS_MAX) {
        return yard_request_fail(req, YARD_E_OVERLOADED, NULL,
                                 "this check is being asked too often");
    }
    if (!run->running && (rc = s_run(run, true)) != 0) {
        return yard_request_fail(req, rc, NULL, "the check could not start");
    }
    run->waiters[run->n_waiters++] = yard_request_defer(req);
    return 0;
}

/* A text reply: one msgpack string, with the content type for the gateway. */
static int
s_reply_text(yard_request_t *req, char *text, size_t len, const char *type)
{
    yard_request_set_header(req, "http.header.Content-Type", type);
    yard_request_set_header(req, "http.header.Cache-Control", "no-store");
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_strn(w, text, len);
    free(text);
    return yard_request_reply_mpw(req, &w);
}

static int
s_render_text(yard_request_t *req, health_t *h, bool page)
{
    hc_record_t *recs = calloc(h->checks.n ? h->checks.n : 1, sizeof *recs);
    if (!recs) {
        abort();
    }
    yard_ctx_t *ctx = yard_request_ctx(req);
    int rc = hc_records_load_all(yard_ctx_store(ctx), &h->checks, recs);
    if (rc == 0) {
        size_t len = 0;
        if (page) {
            char *html = hc_render_page(&h->checks, recs, yard_ctx_wall_ms(ctx), &len);
            /* the page has inline CSS and nothing else: no script, no outside asset */
            yard_request_set_header(req, "http.header.Content-Security-Policy",
                                    "default-src 'none'; style-src 'unsafe-inline'");
            rc = s_reply_text(req, html, len, "text/html; charset=utf-8");
        } else {
            char *text = hc_render_metrics(&h->checks, recs, &len);
            rc = s_reply_text(req, text, len, "text/plain; version=0.0.4; charset=utf-8");
        }
    }
    free(recs);
    return rc;
}

static int
s_metrics(yard_request_t *req, void *state)
{
    return s_render_text(req, state, false);
}

static int
s_page(yard_request_t *req, void *state)
{
    return s_render_text(req, state, true);
}

static const yard_handler_def_t s_handlers[] = {
    {"status", s_status, "every check: state, since, last run, last error, uptime 1h/24h/7d"},
    {"check", s_check, "runs check {name} now and answers with its result"},
    {"metrics", s_metrics, "Prometheus text: health_check_up, _latency_seconds, _cert_days"},
    {"page", s_page, "the HTML status page (the gateway serves it at GET /status)"},
    {NULL, NULL, NULL},
};

const yard_actor_def_t yard_actor_health = {
    .name = "health",
    .description = "checks URLs, bus services and TCP ports; alerts on down and up; a status page",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(hc_opts_t),
    .state_size = sizeof(health_t),
    .credit = 32,
    .stateful = true,
    .init = s_init,
    .fini = s_fini,
};
