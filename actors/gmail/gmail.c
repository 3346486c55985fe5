/* gmail: mailbox automation on the Gmail API (issue 14). Each configured account is polled by
 * exactly one replica anywhere (a lease per account), every `interval`: a first full sync,
 * then incremental syncs from the history cursor; each new message is published once as
 * gmail.message.<account> and run through the rules. See README.md.
 *
 * This file: the descriptor, options, init/fini, the leases, the one-second tick that starts
 * due syncs, and the ops (status, sync, reauth). The work itself is in gm_*.c (gm_internal.h).
 *
 * With no account configured the actor starts and idles (status says so): accounts are a
 * structured list, which `yard up`'s required-option check cannot see, and an idle replica
 * costs one timer. */
#include "gm_internal.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/registry.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define S_TICK_MS 1000

static const yard_option_t s_options[] = {
    {"token_uri", YARD_OPT_STRING, "https://oauth2.googleapis.com/token",
     offsetof(gm_opts_t, token_uri), "the OAuth2 token endpoint", 0, 0, 0},
    {"api_base", YARD_OPT_STRING, "https://gmail.googleapis.com/gmail/v1",
     offsetof(gm_opts_t, api_base), "the Gmail API's base URL", 0, 0, 0},
    {"interval", YARD_OPT_MS, "60s", offsetof(gm_opts_t, interval_ms),
     "how often each account is synced", 1000, 86400000, 0},
    {"lease", YARD_OPT_MS, "60s", offsetof(gm_opts_t, lease_ms),
     "TTL of an account's lease (one replica polls it); claims last twice this", 1000, 3600000, 0},
    {"processed_ttl", YARD_OPT_MS, "14d", offsetof(gm_opts_t, processed_ttl_ms),
     "how long a processed message id is remembered (at least 14 days)", 1209600000LL, 4233600000LL,
     0},
    {"quota_rate", YARD_OPT_INT, "250", offsetof(gm_opts_t, quota_rate),
     "Gmail quota units per second per account (Google's per-user limit: 250)", 1, 100000, 0},
    {"quota_burst", YARD_OPT_INT, "250", offsetof(gm_opts_t, quota_burst),
     "quota units an idle account may spend at once", 5, 100000, 0},
    {"retry_base", YARD_OPT_MS, "1s", offsetof(gm_opts_t, retry_base_ms),
     "first backoff of a retried call (429, 5xx, 403 rate limit)", 1, 60000, 0},
    {"retry_cap", YARD_OPT_MS, "64s", offsetof(gm_opts_t, retry_cap_ms), "longest backoff", 1,
     600000, 0},
    {"retry_tries", YARD_OPT_INT, "8", offsetof(gm_opts_t, retry_tries),
     "attempts of a retried call, the first included", 1, 20, 0},
    {"http_timeout", YARD_OPT_MS, "30s", offsetof(gm_opts_t, http_timeout_ms),
     "timeout of one HTTP attempt", 100, 300000, 0},
    {"call_timeout", YARD_OPT_MS, "5s", offsetof(gm_opts_t, call_timeout_ms),
     "timeout of the bus calls of notify and call actions", 100, 300000, 0},
    {"accounts", YARD_OPT_NODE, NULL, 0, "the mailboxes (README: name, client_id, ...)", 0, 0, 0},
    {"rules", YARD_OPT_NODE, NULL, 0, "what to do with matching messages (README)", 0, 0, 0},
    {NULL},
};

static gm_acct_t *
s_find(gm_state_t *st, const char *name)
{
    for (size_t i = 0; i < st->n_accts; i++) {
        if (strcmp(st->accts[i].name, name) == 0) {
            return &st->accts[i];
        }
    }
    return NULL;
}

static int64_t
s_store_int(gm_acct_t *a, const char *what)
{
    char key[128], *v = NULL;
    size_t n = 0;
    gm_key(a, what, key, sizeof key);
    if (yard_store_get(a->st->store, key, &v, &n) != 0) {
        return -1;
    }
    int64_t x = strtoll(v, NULL, 10);
    free(v);
    return x;
}

/* True when the account should sync now: never synced anywhere, its interval has passed
 * since the last sync by any replica, or someone asked (the sync op on another replica). */
static bool
s_due(gm_acct_t *a)
{
    char key[128];
    gm_key(a, "kick", key, sizeof key);
    if (yard_store_del(a->st->store, key) == 1) {
        return true;
    }
    /* half a tick of slack: the tick and the clock read drift by a few ms, and a sync due a
     * hair after a tick would otherwise wait a whole tick more */
    int64_t last = s_store_int(a, "last");
    return last < 0 ||
           yard_ctx_wall_ms(a->st->ctx) - last >= (int64_t)a->st->o->interval_ms - S_TICK_MS / 2;
}

static void
s_tick(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    gm_state_t *st = arg;
    for (size_t i = 0; i < st->n_accts; i++) {
        gm_acct_t *a = &st->accts[i];
        if (!a->held || a->phase != GM_IDLE || !yard_lease_held(a->lease, yard_loop_now_ms())) {
            continue;
        }
        if (gm_token_needs_reauth(a)) {
            continue; /* only this account stops; the others go on */
        }
        if (s_due(a)) {
            gm_sync_start(a);
        }
    }
}

static void
s_lease(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg)
{
    (void)ctx;
    (void)lease;
    gm_acct_t *a = arg;
    a->held = held;
    yard_log(YARD_LOG_INFO, held ? "gmail: polling account" : "gmail: account lease lost",
             YF_STR("account", a->name));
    if (!held) {
        gm_sync_abort(a);
    }
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    gm_state_t *st = state;
    st->ctx = env->ctx;
    st->store = env->store;
    st->o = env->options;
    uint64_t rnd[2] = {0, 0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        rnd[0] = (uint64_t)getpid();
    }
    snprintf(st->owner, sizeof st->owner, "%016llx%016llx/%d/%d", (unsigned long long)rnd[0],
             (unsigned long long)rnd[1], (int)getpid(), env->replica);
    int rc = gm_config_load(st, env->config);
    if (rc != 0) {
        gm_config_free(st);
        return rc;
    }
    if (st->n_accts == 0) {
        yard_log(YARD_LOG_INFO, "gmail: no accounts configured; idle (see actors/gmail/README.md)");
        return 0;
    }
    for (size_t i = 0; i < st->n_accts; i++) {
        gm_acct_t *a = &st->accts[i];
        char name[128];
        gm_key(a, "lease", name, sizeof name);
        if ((rc = yard_ctx_lease(env->ctx, name, st->o->lease_ms, s_lease, a, &a->lease)) != 0) {
            gm_config_free(st);
            return rc;
        }
    }
    st->tick = yard_timer_every(env->ctx, S_TICK_MS, 0, s_tick, st);
    return st->tick ? 0 : YARD_E_INTERNAL;
}

static void
s_fini(void *state)
{
    gm_state_t *st = state;
    yard_timer_cancel(&st->tick);
    for (size_t i = 0; i < st->n_accts; i++) {
        gm_acct_t *a = &st->accts[i];
        gm_sync_abort(a);
        free(a->ids);
        a->ids = NULL;
        yard_store_members_free(&a->pending);
    }
    gm_config_free(st);
}

/* --- ops --------------------------------------------------------------------------------- */

static const char *
s_state_name(gm_acct_t *a)
{
    if (gm_token_needs_reauth(a)) {
        return "needs_reauth";
    }
    if (!a->held) {
        return "standby"; /* another replica holds its lease, or none yet */
    }
    return a->phase == GM_SYNCING ? "syncing" : "idle";
}

static int
s_status(yard_request_t *req, void *state)
{
    gm_state_t *st = state;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kbool(w, "idle", st->n_accts == 0);
    if (st->n_accts == 0) {
        yard_mpw_kstr(w, "reason", "no accounts configured");
    }
    yard_mpw_kint(w, "rules", (int64_t)st->n_rules);
    yard_mpw_key(w, "accounts");
    yard_mpw_array(w);
    for (size_t i = 0; i < st->n_accts; i++) {
        gm_acct_t *a = &st->accts[i];
        char key[128], *cur = NULL;
        size_t n = 0;
        gm_key(a, "cursor", key, sizeof key);
        int rc = yard_store_get(st->store, key, &cur, &n);
        yard_mpw_map(w);
        yard_mpw_kstr(w, "name", a->name);
        yard_mpw_kstr(w, "state", s_state_name(a));
        yard_mpw_kbool(w, "held_here", a->held);
        yard_mpw_kstr(w, "cursor", rc == 0 ? cur : "");
        yard_mpw_kint(w, "last_sync_ms", s_store_int(a, "last")); /* the last start */
        yard_mpw_kint(w, "last_ok_ms", a->last_ok_ms);
        yard_mpw_kuint(w, "published", a->published);
        yard_mpw_kuint(w, "skipped", a->skipped);
        yard_mpw_kuint(w, "syncs", a->syncs);
        yard_mpw_kuint(w, "resyncs", a->resyncs);
        yard_mpw_kuint(w, "errors", a->errors);
        yard_mpw_kuint(w, "actions_failed", a->actions_failed);
        yard_mpw_kstr(w, "last_error", a->last_error);
        yard_mpw_end(w);
        free(cur);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

static int
s_account(yard_request_t *req, gm_state_t *st, gm_acct_t **out)
{
    const char *name;
    int rc = yard_req_str_max(req, "account", GM_NAME_MAX, &name);
    if (rc != 0) {
        return rc;
    }
    if (!(*out = s_find(st, name))) {
        yard_request_fail(req, YARD_E_NOT_FOUND, NULL, "no such account");
        return YARD_E_NOT_FOUND;
    }
    return 0;
}

static int
s_reply_account(yard_request_t *req, gm_acct_t *a, bool started)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "account", a->name);
    yard_mpw_kbool(w, "started", started);
    yard_mpw_kstr(w, "state", s_state_name(a));
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

/* Starts the account's sync here when this replica holds it and it is idle, else asks the
 * holder (the kick key, read by its next tick). */
static bool
s_kick(gm_acct_t *a)
{
    if (a->held && a->phase == GM_IDLE && yard_lease_held(a->lease, yard_loop_now_ms())) {
        gm_sync_start(a);
        return true;
    }
    char key[128];
    gm_key(a, "kick", key, sizeof key);
    yard_store_set(a->st->store, key, "1", 1, a->st->o->interval_ms);
    return false;
}

static int
s_sync(yard_request_t *req, void *state)
{
    gm_acct_t *a = NULL;
    int rc = s_account(req, state, &a);
    if (rc != 0) {
        return rc;
    }
    if (gm_token_needs_reauth(a)) {
        yard_request_fail(req, YARD_E_SERVICE, "needs_reauth",
                          "the account needs new credentials: give them, then reauth");
        return YARD_E_SERVICE;
    }
    return s_reply_account(req, a, s_kick(a));
}

static int
s_reauth(yard_request_t *req, void *state)
{
    gm_acct_t *a = NULL;
    int rc = s_account(req, state, &a);
    if (rc != 0) {
        return rc;
    }
    gm_token_reauth(a);
    a->last_error[0] = '\0';
    yard_log(YARD_LOG_INFO, "gmail: reauth: polling the account again", YF_STR("account", a->name));
    return s_reply_account(req, a, s_kick(a));
}

static const yard_handler_def_t s_handlers[] = {
    {"status", s_status, "per account: state, cursor, last sync, counts, last error"},
    {"sync", s_sync, "{account}: sync it now"},
    {"reauth", s_reauth, "{account}: after new credentials, poll it again"},
    {NULL, NULL, NULL},
};

const yard_actor_def_t yard_actor_gmail = {
    .name = "gmail",
    .description = "Gmail mailbox automation: new messages as events, rules with actions",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(gm_opts_t),
    .state_size = sizeof(gm_state_t),
    .stateful = true,
    .init = s_init,
    .fini = s_fini,
};
