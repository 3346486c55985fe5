/* dns: dynamic DNS that updates a record only when its address changed, and never hammers
 * a provider (actors/dns/README.md). Each cycle (every `interval`, +-20 % jitter) discovers
 * the addresses and updates what changed (cycle.c); ops: status (any replica, from the
 * store), force (a cycle now, past min_interval), check (discovery only: what would change,
 * without calling any provider). */
#include "dns_internal.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/registry.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_OFF(f) offsetof(dns_opts_t, f)
#define S_49D    4233600000LL

static const yard_option_t s_options[] = {
    {"interval", YARD_OPT_MS, "5m", S_OFF(interval),
     "one cycle: discover addresses, update what changed (+-20% jitter)", 100, 86400000, 0},
    {"min_interval", YARD_OPT_MS, "5m", S_OFF(min_interval),
     "between two successful updates of one record (force bypasses it)", 0, S_49D, 0},
    {"min_error_interval", YARD_OPT_MS, "5m", S_OFF(min_error_interval),
     "after a failed update of one record", 0, S_49D, 0},
    {"max_interval", YARD_OPT_MS, "25d", S_OFF(max_interval),
     "refresh a record this often even when nothing changed", 60000, S_49D, 0},
    {"allow_private", YARD_OPT_BOOL, "false", S_OFF(allow_private),
     "accept RFC 1918, CGNAT, loopback, link-local and ULA addresses", 0, 0, 0},
    {"http_timeout", YARD_OPT_MS, "15s", S_OFF(http_timeout),
     "per attempt of an HTTP request (address sources and providers)", 100, 300000, 0},
    {"http_attempts", YARD_OPT_INT, "4", S_OFF(http_attempts),
     "attempts of a request that times out, is reset or answers 5xx (backoff, full jitter)", 1, 10,
     0},
    {"command_timeout", YARD_OPT_MS, "10s", S_OFF(command_timeout),
     "how long an `ip: {command: ...}` source may run before it is killed", 100, 120000, 0},
    {"ip", YARD_OPT_NODE, NULL, 0, "address sources per family: v4, v6 (see the README)", 0, 0, 0},
    {"records", YARD_OPT_NODE, NULL, 0, "the records to keep up to date (see the README)", 0, 0, 0},
    {NULL}};

static void s_after_cycle(yard_ctx_t *ctx, dns_t *s);

/* --- the cycle timer ---------------------------------------------------------------------- */

static void
s_tick(yard_ctx_t *ctx, void *arg)
{
    (void)arg;
    dns_t *s = yard_ctx_state(ctx);
    if (dns_cycle_start(ctx, s, DNS_CYCLE_NORMAL, NULL, NULL, NULL) != 0) {
        yard_log(YARD_LOG_INFO, "dns: the previous cycle still runs; skipping this one");
    }
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    dns_t *s = state;
    s->o = env->options;
    s->after_cycle = s_after_cycle;
    char err[512];
    if (dns_conf_load(env->config, s->o, &s->conf, err, sizeof err) != 0) {
        yard_log(YARD_LOG_ERROR, "dns: bad configuration", YF_STR("error", err));
        dns_conf_free(&s->conf);
        return YARD_E_CONFIG;
    }
    if (s->conf.n_rec == 0) {
        yard_log(YARD_LOG_INFO, "dns: no records configured (dns.records); idle");
        return 0;
    }
    for (size_t i = 0; i < s->conf.n_rec; i++) {
        if (s->conf.src[s->conf.rec[i].fam].kind == DNS_SRC_NONE) {
            yard_log(
                YARD_LOG_WARN, "dns: a record's family has no address source",
                YF_STR("record", s->conf.rec[i].name),
                YF_STR("missing", s->conf.rec[i].fam == DNS_FAM_V6 ? "dns.ip.v6" : "dns.ip.v4"));
        }
    }
    /* The first cycle at once (on the loop's first turn, when events can be published),
     * then one every interval. */
    if (!yard_timer_at(env->ctx, yard_ctx_wall_ms(env->ctx), s_tick, NULL) ||
        !(s->timer = yard_timer_every(env->ctx, s->o->interval, 20, s_tick, NULL))) {
        dns_conf_free(&s->conf);
        return YARD_E_INTERNAL;
    }
    return 0;
}

static void
s_fini(void *state)
{
    dns_t *s = state;
    yard_timer_cancel(&s->timer);
    for (size_t i = 0; i < s->n_waiting; i++) { /* a cycle never ended: the replica stopped */
        yard_deferred_fail(&s->waiting[i], YARD_E_SHUTDOWN, NULL, "the replica is stopping");
        free(s->waiting_name[i]);
    }
    s->n_waiting = 0;
    dns_conf_free(&s->conf);
}

/* --- status ------------------------------------------------------------------------------- */

static void
s_kiso(yard_mpw_t *w, const char *k, int64_t ms)
{
    char iso[32];
    yard_mpw_key(w, k);
    yard_mpw_str(w, ms ? dns_iso(ms, iso, sizeof iso) : NULL);
}

static void
s_status_record(yard_mpw_t *w, const dns_t *s, const dns_record_t *r, const dns_state_t *st,
                int64_t now)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "name", r->name);
    yard_mpw_kstr(w, "type", dns_rec_type(r));
    yard_mpw_kstr(w, "provider", dns_prov_name(r->prov));
    yard_mpw_key(w, "address");
    yard_mpw_str(w, st->addr[0] ? st->addr : NULL);
    s_kiso(w, "last_update", st->set_ms);
    s_kiso(w, "last_change", st->change_ms);
    s_kiso(w, "last_check", st->check_ms);
    int64_t next = s->last_cycle_ms ? s->last_cycle_ms + s->o->interval : now;
    const char *why = NULL;
    int64_t until = 0;
    const dns_disc_last_t *d = &s->last[r->fam];
    const char *addr = d->ok ? d->addr : st->addr;
    bool held = dns_decide(r, st, addr, now, false, &why, &until) == DNS_DO_HOLD;
    s_kiso(w, "next_check", held && until > next ? until : next);
    yard_mpw_key(w, "last_error");
    if (st->err_ms) {
        yard_mpw_map(w);
        yard_mpw_kstr(w, "code", st->code);
        yard_mpw_kstr(w, "message", st->err);
        s_kiso(w, "at", st->err_ms);
        yard_mpw_end(w);
    } else {
        yard_mpw_nil(w);
    }
    yard_mpw_key(w, "held");
    if (held) {
        yard_mpw_map(w);
        yard_mpw_kstr(w, "reason", why);
        s_kiso(w, "until", until);
        yard_mpw_end(w);
    } else {
        yard_mpw_nil(w);
    }
    yard_mpw_end(w);
}

static int
s_status(yard_request_t *req, void *state)
{
    dns_t *s = state;
    yard_ctx_t *ctx = yard_request_ctx(req);
    int64_t now = yard_ctx_wall_ms(ctx);
    size_t n = s->conf.n_rec;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    char **vals = calloc(n ? n : 1, sizeof *vals);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    if (!keys || !vals || !lens) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        keys[i] = s->conf.rec[i].key;
    }
    int rc = n ? yard_store_mget(yard_ctx_store(ctx), keys, n, vals, lens) : 0;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    if (n == 0) {
        yard_mpw_kstr(w, "note", "no records configured (dns.records)");
    }
    yard_mpw_key(w, "records");
    yard_mpw_array(w);
    for (size_t i = 0; i < n && rc == 0; i++) {
        dns_state_t st;
        dns_state_decode(vals[i], lens[i], &s->conf.rec[i], &st);
        s_status_record(w, s, &s->conf.rec[i], &st, now);
        free(vals[i]);
    }
    yard_mpw_end(w);
    yard_mpw_key(w, "discovery");
    yard_mpw_map(w);
    for (int f = 0; f < 2; f++) {
        const dns_disc_last_t *d = &s->last[f];
        yard_mpw_key(w, dns_fam_name((dns_fam_t)f));
        if (!d->at_ms) {
            yard_mpw_nil(w);
            continue;
        }
        yard_mpw_map(w);
        yard_mpw_key(w, "address");
        yard_mpw_str(w, d->ok ? d->addr : NULL);
        yard_mpw_key(w, "error");
        yard_mpw_str(w, d->ok ? NULL : d->err);
        s_kiso(w, "at", d->at_ms);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    yard_mpw_kuint(w, "cycles", s->cycles);
    s_kiso(w, "last_cycle", s->last_cycle_ms);
    yard_mpw_kbool(w, "cycle_running", s->cycle != NULL);
    yard_mpw_kuint(w, "provider_calls", s->provider_calls);
    yard_mpw_end(w);
    free(keys);
    free(vals);
    free(lens);
    if (rc != 0) {
        yard_mpw_destroy(&w);
        return yard_request_fail(req, YARD_E_UNREACHABLE, NULL, "the state store did not answer");
    }
    return yard_request_reply_mpw(req, &w);
}

/* --- force ------------------------------------------------------------------------------- */

/* The requests one forced cycle answers, each with the record name it asked for (or NULL). */
typedef struct {
    yard_deferred_t *d[DNS_FORCE_WAITING_MAX];
    char *name[DNS_FORCE_WAITING_MAX];
    size_t n;
    bool resend; /* any of them asked for it */
} s_force_t;

static void
s_force_reply(dns_t *s, yard_deferred_t **d_p, const char *name, const dns_rec_outcome_t *out,
              size_t n)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "records");
    yard_mpw_array(w);
    for (size_t i = 0; i < n; i++) {
        const dns_record_t *r = &s->conf.rec[i];
        if (strcmp(out[i].msg, "not selected") == 0 || (name && strcmp(name, r->name) != 0)) {
            continue;
        }
        yard_mpw_map(w);
        yard_mpw_kstr(w, "name", r->name);
        yard_mpw_kstr(w, "type", dns_rec_type(r));
        yard_mpw_kstr(w, "provider", dns_prov_name(r->prov));
        yard_mpw_kstr(w, "outcome", out[i].outcome);
        yard_mpw_kstr(w, "message", out[i].msg);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    yard_deferred_reply_mpw(d_p, &w);
}

static void
s_force_done(yard_ctx_t *ctx, const dns_rec_outcome_t *out, size_t n, void *arg)
{
    s_force_t *f = arg;
    dns_t *s = yard_ctx_state(ctx);
    for (size_t i = 0; i < f->n; i++) {
        s_force_reply(s, &f->d[i], f->name[i], out, n);
        free(f->name[i]);
    }
    free(f);
}

/* Starts one forced cycle for f's requests: for their one record, or every record when
 * they name different ones (or none). Takes f. */
static void
s_force_start(yard_ctx_t *ctx, dns_t *s, s_force_t *f)
{
    const char *only = f->name[0];
    for (size_t i = 1; i < f->n && only; i++) {
        if (!f->name[i] || strcmp(f->name[i], only) != 0) {
            only = NULL;
        }
    }
    dns_cycle_mode_t mode = f->resend ? DNS_CYCLE_RESEND : DNS_CYCLE_FORCE;
    if (dns_cycle_start(ctx, s, mode, only, s_force_done, f) != 0) {
        for (size_t i = 0; i < f->n; i++) {
            yard_deferred_fail(&f->d[i], YARD_E_INTERNAL, NULL, "the cycle could not start");
            free(f->name[i]);
        }
        free(f);
    }
}

/* After any cycle: the force requests that waited for it get theirs. */
static void
s_after_cycle(yard_ctx_t *ctx, dns_t *s)
{
    if (s->n_waiting == 0) {
        return;
    }
    s_force_t *f = calloc(1, sizeof *f);
    if (!f) {
        abort();
    }
    for (size_t i = 0; i < s->n_waiting; i++) {
        f->d[i] = s->waiting[i];
        f->name[i] = s->waiting_name[i];
        f->resend |= s->waiting_resend[i];
    }
    f->n = s->n_waiting;
    s->n_waiting = 0;
    s_force_start(ctx, s, f);
}

static bool
s_named(const dns_t *s, const char *name)
{
    for (size_t i = 0; i < s->conf.n_rec; i++) {
        if (strcmp(s->conf.rec[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static int
s_force(yard_request_t *req, void *state)
{
    dns_t *s = state;
    const char *name = NULL;
    bool resend = false;
    int rc = yard_req_str_max_or(req, "name", 253, NULL, &name);
    if (rc == 0) {
        rc = yard_req_bool_or(req, "resend", false, &resend);
    }
    if (rc != 0) {
        return rc;
    }
    if (name && !s_named(s, name)) {
        return yard_req_fail_field(req, "name", "names no configured record");
    }
    if (s->conf.n_rec == 0) {
        return yard_request_fail(req, YARD_E_SERVICE, "NO_RECORDS",
                                 "no records configured (dns.records)");
    }
    if (s->cycle && s->n_waiting >= DNS_FORCE_WAITING_MAX) {
        return yard_request_fail(req, YARD_E_OVERLOADED, NULL,
                                 "too many force requests wait for the running cycle");
    }
    char *copy = name ? strdup(name) : NULL;
    if (name && !copy) {
        abort();
    }
    yard_deferred_t *d = yard_request_defer(req);
    if (s->cycle) { /* served by a forced cycle right after this one */
        s->waiting[s->n_waiting] = d;
        s->waiting_resend[s->n_waiting] = resend;
        s->waiting_name[s->n_waiting++] = copy;
        return 0;
    }
    s_force_t *f = calloc(1, sizeof *f);
    if (!f) {
        abort();
    }
    f->d[0] = d;
    f->name[0] = copy;
    f->n = 1;
    f->resend = resend;
    s_force_start(yard_request_ctx(req), s, f);
    return 0;
}

/* --- check -------------------------------------------------------------------------------- */

typedef struct {
    yard_deferred_t *d;
    int pending;
    bool ok[2];
    char addr[2][DNS_ADDR_MAX];
    char err[2][DNS_ERR_MAX];
} s_check_t;

static void
s_check_reply(yard_ctx_t *ctx, s_check_t *c)
{
    dns_t *s = yard_ctx_state(ctx);
    int64_t now = yard_ctx_wall_ms(ctx);
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "discovered");
    yard_mpw_map(w);
    for (int f = 0; f < 2; f++) {
        yard_mpw_key(w, dns_fam_name((dns_fam_t)f));
        yard_mpw_map(w);
        yard_mpw_key(w, "address");
        yard_mpw_str(w, c->ok[f] ? c->addr[f] : NULL);
        yard_mpw_key(w, "error");
        yard_mpw_str(w, c->ok[f] ? NULL : c->err[f]);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    yard_mpw_key(w, "records");
    yard_mpw_array(w);
    int unreachable = 0;
    for (size_t i = 0; i < s->conf.n_rec; i++) {
        const dns_record_t *r = &s->conf.rec[i];
        dns_state_t st;
        unreachable |= dns_state_load(yard_ctx_store(ctx), r, &st) != 0;
        const char *why = NULL, *would = "nothing";
        int64_t until = 0;
        if (!c->ok[r->fam]) {
            would = "nothing: no address";
        } else {
            dns_do_t todo = dns_decide(r, &st, c->addr[r->fam], now, false, &why, &until);
            would = todo == DNS_DO_UPDATE ? "update" : todo == DNS_DO_HOLD ? "held" : "nothing";
        }
        yard_mpw_map(w);
        yard_mpw_kstr(w, "name", r->name);
        yard_mpw_kstr(w, "type", dns_rec_type(r));
        yard_mpw_kstr(w, "provider", dns_prov_name(r->prov));
        yard_mpw_key(w, "current");
        yard_mpw_str(w, st.addr[0] ? st.addr : NULL);
        yard_mpw_key(w, "discovered");
        yard_mpw_str(w, c->ok[r->fam] ? c->addr[r->fam] : NULL);
        yard_mpw_kstr(w, "would", would);
        if (why) {
            yard_mpw_kstr(w, "reason", why);
            s_kiso(w, "until", until);
        }
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    if (unreachable) {
        yard_mpw_destroy(&w);
        yard_deferred_fail(&c->d, YARD_E_UNREACHABLE, NULL, "the state store did not answer");
    } else {
        yard_deferred_reply_mpw(&c->d, &w);
    }
    free(c);
}

static void
s_check_disc(yard_ctx_t *ctx, dns_fam_t fam, bool ok, const char *addr, const char *err, void *arg)
{
    s_check_t *c = arg;
    c->ok[fam] = ok;
    snprintf(c->addr[fam], DNS_ADDR_MAX, "%s", ok ? addr : "");
    snprintf(c->err[fam], DNS_ERR_MAX, "%s", ok ? "" : err);
    if (--c->pending == 0) {
        s_check_reply(ctx, c);
    }
}

static int
s_check(yard_request_t *req, void *state)
{
    dns_t *s = state;
    s_check_t *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    c->d = yard_request_defer(req);
    c->pending = 3; /* two families, and this function's guard */
    for (int f = 0; f < 2; f++) {
        dns_discover(yard_request_ctx(req), &s->conf.src[f], (dns_fam_t)f, s->o, s_check_disc, c);
    }
    if (--c->pending == 0) {
        s_check_reply(yard_request_ctx(req), c);
    }
    return 0;
}

static const yard_handler_def_t s_handlers[] = {
    {"status", s_status,
     "each record: address set, last change, last check, next check, last error, hold"},
    {"force", s_force,
     "{name?, resend?}: update now (past min_interval; resend: also what is unchanged)"},
    {"check", s_check, "discover the addresses and say what would change; calls no provider"},
    {NULL}};

const yard_actor_def_t yard_actor_dns = {
    .name = "dns",
    .description = "dynamic DNS: updates records at dyndns2, Cloudflare, DuckDNS on change only",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(dns_opts_t),
    .state_size = sizeof(dns_t),
    .stateful = true,
    .init = s_init,
    .fini = s_fini,
};
