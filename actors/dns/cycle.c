/* One cycle: discover the addresses the records need (each family once), then, for each
 * record, under its lease: read its state from the store, decide (update, nothing, hold),
 * call the provider when it must, and write down only what the provider confirmed. Two
 * replicas never update one record at once (the lease), and neither updates again what the
 * other already set (the state is read after the lease is taken). */
#include "dns_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dns_cycle {
    dns_t *s;
    yard_ctx_t *ctx;
    dns_cycle_mode_t mode;
    char *only;
    int pending; /* discoveries, then updates, still running (+1 while starting them) */
    bool records_started;
    bool disc_ok[2];
    char disc_addr[2][DNS_ADDR_MAX];
    char disc_err[2][DNS_ERR_MAX];
    dns_rec_outcome_t *out;
    dns_cycle_done_fn *done;
    void *arg;
};

typedef struct {
    dns_cycle_t *cy;
    size_t i;
    dns_state_t st;
    char addr[DNS_ADDR_MAX];
    yard_lease_t *lease;
} s_job_t;

const char *
dns_iso(int64_t wall_ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

dns_do_t
dns_decide(const dns_record_t *r, const dns_state_t *st, const char *addr, int64_t now, bool force,
           const char **why, int64_t *until)
{
    *why = NULL;
    *until = 0;
    if (strcmp(st->held, "config") == 0) {
        *why = "held until its configuration changes";
        return DNS_DO_HOLD;
    }
    if (st->held[0] && st->held_until > now) {
        *why = st->held; /* the provider asked for it: 911, dnserr, 429 */
        *until = st->held_until;
        return DNS_DO_HOLD;
    }
    bool same = st->addr[0] && strcmp(st->addr, addr) == 0;
    if (same && now - st->set_ms < (int64_t)r->max_interval) {
        return DNS_DO_NOTHING;
    }
    if (st->err_ms > st->set_ms && now - st->err_ms < (int64_t)r->min_error_interval) {
        *why = "min_error_interval";
        *until = st->err_ms + r->min_error_interval;
        return DNS_DO_HOLD;
    }
    if (!force && st->set_ms && now - st->set_ms < (int64_t)r->min_interval) {
        *why = "min_interval";
        *until = st->set_ms + r->min_interval;
        return DNS_DO_HOLD;
    }
    return DNS_DO_UPDATE;
}

/* --- events ------------------------------------------------------------------------------- */

static void
s_publish(yard_ctx_t *ctx, const char *subject, yard_mpw_t **w_p)
{
    const void *data = NULL;
    size_t size = 0;
    if (yard_mpw_finish(*w_p, &data, &size) == 0) {
        int rc = yard_ctx_publish(ctx, subject, data, size);
        if (rc != 0 && rc != YARD_E_SHUTDOWN) {
            yard_log(YARD_LOG_WARN, "dns: cannot publish an event", YF_STR("subject", subject),
                     YF_STR("error", yard_err_name(rc)));
        }
    }
    yard_mpw_destroy(w_p);
}

static void
s_ev_updated(yard_ctx_t *ctx, const dns_record_t *r, const char *old, const char *new_addr)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "record", r->name);
    yard_mpw_kstr(w, "type", dns_rec_type(r));
    yard_mpw_kstr(w, "provider", dns_prov_name(r->prov));
    yard_mpw_key(w, "old");
    yard_mpw_str(w, old && old[0] ? old : NULL);
    yard_mpw_kstr(w, "new", new_addr);
    yard_mpw_end(w);
    s_publish(ctx, "dns.updated", &w);
}

static void
s_ev_error(yard_ctx_t *ctx, const char *record, const char *type, const char *provider,
           const char *code, const char *msg)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "record", record);
    if (type) {
        yard_mpw_kstr(w, "type", type);
    }
    yard_mpw_kstr(w, "provider", provider);
    yard_mpw_kstr(w, "code", code);
    yard_mpw_kstr(w, "message", msg);
    yard_mpw_end(w);
    s_publish(ctx, "dns.error", &w);
}

/* Tells a hold once: a dns.held event the first time this hold (reason, end) is seen. */
static void
s_note_hold(yard_ctx_t *ctx, const dns_record_t *r, dns_state_t *st, const char *why, int64_t until)
{
    char noted[sizeof st->noted];
    snprintf(noted, sizeof noted, "%s@%lld", why, (long long)until);
    if (strcmp(noted, st->noted) == 0) {
        return;
    }
    memcpy(st->noted, noted, sizeof noted);
    char iso[32];
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "record", r->name);
    yard_mpw_kstr(w, "type", dns_rec_type(r));
    yard_mpw_kstr(w, "provider", dns_prov_name(r->prov));
    yard_mpw_kstr(w, "reason", why);
    yard_mpw_key(w, "until");
    yard_mpw_str(w, until ? dns_iso(until, iso, sizeof iso) : NULL);
    yard_mpw_end(w);
    s_publish(ctx, "dns.held", &w);
    yard_log(YARD_LOG_INFO, "dns: record held", YF_STR("record", r->name), YF_STR("reason", why),
             YF_STR("until", until ? iso : "configuration change"));
}

/* --- the end ------------------------------------------------------------------------------ */

static void s_unref(dns_cycle_t *cy);

static void
s_outcome(dns_cycle_t *cy, size_t i, const char *outcome, const char *msg)
{
    cy->out[i].outcome = outcome;
    snprintf(cy->out[i].msg, sizeof cy->out[i].msg, "%s", msg ? msg : "");
}

static void
s_job_end(s_job_t *j)
{
    if (j->lease) {
        yard_lease_release(j->lease);
        yard_lease_destroy(&j->lease);
    }
    dns_cycle_t *cy = j->cy;
    free(j);
    s_unref(cy);
}

/* --- one record --------------------------------------------------------------------------- */

static void
s_up_done(yard_ctx_t *ctx, const dns_up_result_t *res, void *arg)
{
    s_job_t *j = arg;
    dns_cycle_t *cy = j->cy;
    dns_t *s = cy->s;
    const dns_record_t *r = &s->conf.rec[j->i];
    dns_state_t *st = &j->st;
    int64_t now = yard_ctx_wall_ms(ctx);
    s->provider_calls += res->calls;
    if (!yard_lease_held(j->lease, yard_loop_now_ms())) {
        /* The update outlived its lease (a store outage): another replica may have sent the
         * same address meanwhile; what the provider answered is still recorded. */
        yard_log(YARD_LOG_WARN, "dns: a record's lease lapsed during its update",
                 YF_STR("record", r->name));
    }
    if (strcmp(res->code, "SHUTDOWN") == 0) {
        s_outcome(cy, j->i, "skipped", "the replica is stopping");
        s_job_end(j);
        return;
    }
    if (res->cf_zone[0]) {
        memcpy(st->cf_zone, res->cf_zone, sizeof st->cf_zone);
    }
    memcpy(st->cf_id, res->cf_id, sizeof st->cf_id);
    if (res->kind == DNS_UP_OK) {
        char old[DNS_ADDR_MAX];
        memcpy(old, st->addr, sizeof old);
        bool changed = strcmp(old, j->addr) != 0;
        memcpy(st->addr, j->addr, sizeof st->addr);
        st->set_ms = now;
        st->change_ms = changed ? now : st->change_ms;
        st->err_ms = 0;
        st->code[0] = st->err[0] = st->held[0] = st->noted[0] = '\0';
        st->held_until = 0;
        st->nochg = res->nochg ? st->nochg + 1 : 0;
        if (r->prov == DNS_PROV_DYNDNS2 && st->nochg >= DNS_NOCHG_WARN) {
            yard_log(YARD_LOG_WARN, "dns: dyndns2 answered nochg again: an update was not needed",
                     YF_STR("record", r->name), YF_UINT("in_a_row", st->nochg));
        }
        dns_state_save(yard_ctx_store(ctx), r, st);
        yard_log(YARD_LOG_INFO, "dns: record updated", YF_STR("record", r->name),
                 YF_STR("type", dns_rec_type(r)), YF_STR("provider", dns_prov_name(r->prov)),
                 YF_STR("old", old), YF_STR("new", j->addr), YF_STR("answer", res->code));
        s_ev_updated(ctx, r, old, j->addr);
        s_outcome(cy, j->i, "updated", res->code);
        s_job_end(j);
        return;
    }
    st->err_ms = now;
    snprintf(st->code, sizeof st->code, "%s", res->code);
    snprintf(st->err, sizeof st->err, "%s", res->msg);
    yard_log(YARD_LOG_WARN, "dns: update failed", YF_STR("record", r->name),
             YF_STR("provider", dns_prov_name(r->prov)), YF_STR("code", res->code),
             YF_STR("error", res->msg));
    s_ev_error(ctx, r->name, dns_rec_type(r), dns_prov_name(r->prov), res->code, res->msg);
    if (res->kind == DNS_UP_HOLD_CONFIG) {
        snprintf(st->held, sizeof st->held, "config");
        st->held_until = 0;
        s_note_hold(ctx, r, st, "held until its configuration changes", 0);
    } else if (res->hold_ms > (int64_t)r->min_error_interval) {
        snprintf(st->held, sizeof st->held, "%s", res->code);
        st->held_until = now + res->hold_ms;
        s_note_hold(ctx, r, st, st->held, st->held_until);
    } else {
        s_note_hold(ctx, r, st, "min_error_interval", now + r->min_error_interval);
    }
    dns_state_save(yard_ctx_store(ctx), r, st);
    s_outcome(cy, j->i, "error", res->msg);
    s_job_end(j);
}

/* A record's lease outlasts the longest update: Cloudflare's three requests (zone, record,
 * PATCH), each with every attempt timing out and the longest backoff before each retry. */
static uint32_t
s_lease_ttl(const dns_opts_t *o)
{
    uint64_t one = (uint64_t)o->http_attempts * ((uint64_t)o->http_timeout + DNS_RETRY_CAP_MS);
    uint64_t ttl = 3 * one + DNS_LEASE_MARGIN_MS;
    return ttl > YARD_LEASE_TTL_MAX ? YARD_LEASE_TTL_MAX : (uint32_t)ttl;
}

static void
s_record(dns_cycle_t *cy, size_t i)
{
    dns_t *s = cy->s;
    const dns_record_t *r = &s->conf.rec[i];
    yard_store_t *store = yard_ctx_store(cy->ctx);
    if (!cy->disc_ok[r->fam]) {
        s_outcome(cy, i, "skipped", cy->disc_err[r->fam]);
        return;
    }
    s_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        abort();
    }
    j->cy = cy;
    j->i = i;
    memcpy(j->addr, cy->disc_addr[r->fam], sizeof j->addr);
    cy->pending++;
    int rc = yard_lease_new(store, r->lease, s_lease_ttl(s->o), &j->lease);
    rc = rc == 0 ? yard_lease_acquire(j->lease) : rc;
    if (rc != 1) {
        if (rc != 0) {
            yard_log(YARD_LOG_WARN, "dns: cannot take a record's lease; skipping it this cycle",
                     YF_STR("record", r->name), YF_STR("error", yard_err_name(rc)));
        }
        s_outcome(cy, i, rc == 0 ? "busy" : "error",
                  rc == 0 ? "another replica is updating it" : "the store did not answer");
        yard_lease_destroy(&j->lease);
        s_job_end(j);
        return;
    }
    if (dns_state_load(store, r, &j->st) != 0) {
        yard_log(YARD_LOG_WARN, "dns: cannot read a record's state; skipping it this cycle",
                 YF_STR("record", r->name));
        s_outcome(cy, i, "error", "the store did not answer");
        s_job_end(j);
        return;
    }
    int64_t now = yard_ctx_wall_ms(cy->ctx), until = 0;
    const char *why = NULL;
    j->st.check_ms = now;
    dns_do_t todo = dns_decide(r, &j->st, j->addr, now, cy->mode != DNS_CYCLE_NORMAL, &why, &until);
    if (todo == DNS_DO_NOTHING && cy->mode == DNS_CYCLE_RESEND) {
        todo = DNS_DO_UPDATE; /* asked for: the provider may have been changed by hand */
    }
    switch (todo) {
    case DNS_DO_NOTHING:
        dns_state_save(store, r, &j->st);
        s_outcome(cy, i, "unchanged", j->addr);
        s_job_end(j);
        return;
    case DNS_DO_HOLD:
        s_note_hold(cy->ctx, r, &j->st, why, until);
        dns_state_save(store, r, &j->st);
        s_outcome(cy, i, "held", why);
        s_job_end(j);
        return;
    case DNS_DO_UPDATE:
        dns_provider_update(cy->ctx, s->o, r, &j->st, j->addr, s_up_done, j);
        return;
    }
}

static bool
s_selected(const dns_cycle_t *cy, const dns_record_t *r)
{
    return !cy->only || strcmp(cy->only, r->name) == 0;
}

static void
s_records(dns_cycle_t *cy)
{
    cy->records_started = true;
    for (size_t i = 0; i < cy->s->conf.n_rec; i++) {
        if (s_selected(cy, &cy->s->conf.rec[i])) {
            s_record(cy, i);
        }
    }
}

static void
s_unref(dns_cycle_t *cy)
{
    if (--cy->pending > 0) {
        return;
    }
    if (!cy->records_started) {
        cy->pending = 1; /* the guard while records start */
        s_records(cy);
        s_unref(cy);
        return;
    }
    dns_t *s = cy->s;
    s->cycles++;
    s->last_cycle_ms = yard_ctx_wall_ms(cy->ctx);
    s->cycle = NULL;
    if (cy->done) {
        cy->done(cy->ctx, cy->out, s->conf.n_rec, cy->arg);
    }
    free(cy->out);
    free(cy->only);
    yard_ctx_t *ctx = cy->ctx;
    free(cy);
    if (s->after_cycle) {
        s->after_cycle(ctx, s);
    }
}

/* --- discovery ---------------------------------------------------------------------------- */

static void
s_disc_done(yard_ctx_t *ctx, dns_fam_t fam, bool ok, const char *addr, const char *err, void *arg)
{
    dns_cycle_t *cy = arg;
    dns_disc_last_t *last = &cy->s->last[fam];
    /* A failure is told once, not every cycle while it lasts (nor for a family that has no
     * source at all, which init warned about). */
    bool told = last->at_ms && !last->ok && err && strcmp(last->err, err) == 0;
    bool no_source = cy->s->conf.src[fam].kind == DNS_SRC_NONE;
    cy->disc_ok[fam] = ok;
    last->ok = ok;
    last->at_ms = yard_ctx_wall_ms(ctx);
    if (ok) {
        snprintf(cy->disc_addr[fam], DNS_ADDR_MAX, "%s", addr);
        snprintf(last->addr, sizeof last->addr, "%s", addr);
        last->err[0] = '\0';
    } else {
        snprintf(cy->disc_err[fam], DNS_ERR_MAX, "no %s address: %s", dns_fam_name(fam), err);
        snprintf(last->err, sizeof last->err, "%s", err);
        if (!told && !no_source && !strstr(err, "stopping")) {
            char what[16];
            snprintf(what, sizeof what, "ip.%s", dns_fam_name(fam));
            s_ev_error(ctx, what, NULL, "discovery", "discovery", err);
        }
    }
    s_unref(cy);
}

int
dns_cycle_start(yard_ctx_t *ctx, dns_t *s, dns_cycle_mode_t mode, const char *only,
                dns_cycle_done_fn *done, void *arg)
{
    if (s->cycle) {
        return YARD_E_OVERLOADED;
    }
    dns_cycle_t *cy = calloc(1, sizeof *cy);
    if (!cy) {
        abort();
    }
    *cy = (dns_cycle_t){.s = s, .ctx = ctx, .mode = mode, .done = done, .arg = arg};
    cy->only = only ? strdup(only) : NULL;
    cy->out = calloc(s->conf.n_rec ? s->conf.n_rec : 1, sizeof *cy->out);
    if (!cy->out || (only && !cy->only)) {
        abort();
    }
    for (size_t i = 0; i < s->conf.n_rec; i++) {
        cy->out[i].outcome = "skipped";
        snprintf(cy->out[i].msg, sizeof cy->out[i].msg, "not selected");
    }
    s->cycle = cy;
    bool need[2] = {false, false};
    for (size_t i = 0; i < s->conf.n_rec; i++) {
        if (s_selected(cy, &s->conf.rec[i])) {
            need[s->conf.rec[i].fam] = true;
        }
    }
    cy->pending = 1; /* the guard while discoveries start */
    for (int f = 0; f < 2; f++) {
        if (need[f]) {
            cy->pending++;
            dns_discover(ctx, &s->conf.src[f], (dns_fam_t)f, s->o, s_disc_done, cy);
        }
    }
    s_unref(cy);
    return 0;
}
