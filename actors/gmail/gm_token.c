/* Access tokens: the OAuth2 refresh-token grant (RFC 6749 §6) against token_uri, the token
 * cached in the store until expires_in - 60 s (every replica reads the same cache), and one
 * refresh in flight per account across replicas: a replica refreshes only after taking the
 * account's refresh lock (SET NX PX); the others poll the cache until the token appears.
 * invalid_grant (revoked or expired refresh token, RFC 6749 §5.2) marks the account
 * needs_reauth in the store, for every replica, until the reauth op. */
#include "gm_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LOCK_MS  30000 /* a refresh's lock; longer than the request's timeout */
#define S_POLL_MS  250   /* while another replica refreshes */
#define S_POLL_MAX 160   /* 40 s of polling, then this cycle gives up */
#define S_MARGIN_S 60

typedef struct {
    gm_acct_t *a;
    uint64_t gen;
} s_refresh_t;

static void s_try(gm_acct_t *a);

static void
s_end(gm_acct_t *a, const char *token, const char *err)
{
    gm_token_fn *cb = a->token_cb;
    a->token_cb = NULL;
    a->token_waits = 0;
    if (cb) {
        cb(a, token, err);
    }
}

bool
gm_token_needs_reauth(gm_acct_t *a)
{
    char key[128], *v = NULL;
    size_t n = 0;
    gm_key(a, "reauth", key, sizeof key);
    if (yard_store_get(a->st->store, key, &v, &n) != 0) {
        return false;
    }
    free(v);
    return true;
}

void
gm_token_reauth(gm_acct_t *a)
{
    char key[128];
    gm_key(a, "reauth", key, sizeof key);
    yard_store_del(a->st->store, key);
    gm_key(a, "token", key, sizeof key);
    yard_store_del(a->st->store, key);
}

void
gm_token_drop(gm_acct_t *a, const char *token)
{
    char key[128];
    gm_key(a, "token", key, sizeof key);
    yard_store_del_if(a->st->store, key, token, strlen(token));
}

/* Marks the account needs_reauth; the replica that marks it first publishes the events. */
static void
s_needs_reauth(gm_acct_t *a, const char *why)
{
    char key[128];
    gm_key(a, "reauth", key, sizeof key);
    if (yard_store_set_nx(a->st->store, key, why, strlen(why), 0) != 1) {
        return;
    }
    yard_log(YARD_LOG_WARN, "gmail: account needs new credentials", YF_STR("account", a->name),
             YF_STR("reason", why));
    char text[300], subject[96];
    snprintf(text, sizeof text,
             "gmail: account %s needs new credentials (%s); polling it stopped until `reauth`",
             a->name, why);
    for (int i = 0; i < 2; i++) {
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        yard_mpw_kstr(w, "account", a->name);
        yard_mpw_kstr(w, "reason", why);
        yard_mpw_kstr(w, "text", text);
        yard_mpw_kstr(w, "severity", "error");
        yard_mpw_end(w);
        snprintf(subject, sizeof subject, i == 0 ? "gmail.account.needs_reauth" : "alert.gmail.%s",
                 a->name);
        gm_publish(a, subject, &w);
    }
}

static void
s_unlock(gm_acct_t *a)
{
    char key[128];
    gm_key(a, "refreshing", key, sizeof key);
    yard_store_del_if(a->st->store, key, a->st->owner, strlen(a->st->owner));
}

static void
s_refreshed(const yard_http_resp_t *resp, void *arg)
{
    s_refresh_t *rf = arg;
    gm_acct_t *a = rf->a;
    bool current = rf->gen == a->gen;
    free(rf);
    s_unlock(a);
    if (!current) {
        return;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    void *buf = NULL;
    gm_resp_t r;
    gm_resp_fill(resp, &r, &zone, &buf);
    char token[2048] = "";
    int64_t expires = 0;
    if (r.err == 0 && r.status == 200 && r.json &&
        yard_mp_get_strbuf(r.json, "access_token", token, sizeof token, NULL, 0) == 0 &&
        yard_mp_get_int(r.json, "expires_in", &expires, NULL, 0) == 0 && token[0]) {
        int64_t ttl_s = expires > 2 * S_MARGIN_S ? expires - S_MARGIN_S : expires / 2;
        char key[128];
        gm_key(a, "token", key, sizeof key);
        yard_store_set(a->st->store, key, token, strlen(token),
                       (uint32_t)(ttl_s > 0 ? ttl_s * 1000 : 1000));
        s_end(a, token, NULL);
    } else if (r.err == 0 && (r.status == 400 || r.status == 401) &&
               strcmp(r.reason, "invalid_grant") == 0) {
        s_needs_reauth(a, "invalid_grant");
        s_end(a, NULL, "invalid_grant: the refresh token was revoked or expired");
    } else {
        char why[260];
        snprintf(why, sizeof why, "token refresh failed: %s",
                 r.err         ? r.text
                 : r.reason[0] ? r.reason
                               : "no access_token in the answer");
        if (r.err == 0 && r.status != 200 && !r.reason[0]) {
            snprintf(why, sizeof why, "token refresh failed: HTTP %d", r.status);
        }
        s_end(a, NULL, why);
    }
    memset(token, 0, sizeof token);
    free(buf);
    msgpack_zone_destroy(&zone);
}

/* Appends "&key=value" (value percent-encoded) to buf. */
static void
s_form(char *buf, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(buf);
    char *esc = malloc(strlen(value) * 3 + 1);
    if (!esc) {
        abort();
    }
    gm_url_escape(value, esc, strlen(value) * 3 + 1);
    snprintf(buf + n, cap - n, "%s%s=%s", n ? "&" : "", key, esc);
    memset(esc, 0, strlen(esc));
    free(esc);
}

static void
s_refresh(gm_acct_t *a)
{
    if (a->refresh_token_file) { /* new credentials without a restart (reauth) */
        char why[300];
        char *fresh = yard_option_read_file(a->refresh_token_file, why, sizeof why);
        if (fresh) {
            memset(a->refresh_token, 0, strlen(a->refresh_token));
            free(a->refresh_token);
            a->refresh_token = fresh;
            yard_log_add_secret(fresh);
        }
    }
    size_t cap =
        3 * (strlen(a->client_id) + strlen(a->client_secret) + strlen(a->refresh_token)) + 128;
    char *form = calloc(1, cap);
    if (!form) {
        abort();
    }
    s_form(form, cap, "grant_type", "refresh_token");
    s_form(form, cap, "client_id", a->client_id);
    s_form(form, cap, "client_secret", a->client_secret);
    s_form(form, cap, "refresh_token", a->refresh_token);
    yard_http_t *http = yard_ctx_http(a->st->ctx);
    yard_http_req_t *hr = NULL;
    yard_http_retry_t p;
    gm_retry_policy(a->st->o, &p);
    int rc = http ? yard_http_req_new("POST", a->st->o->token_uri, &hr) : YARD_E_SHUTDOWN;
    if (rc == 0) {
        rc = yard_http_req_body(hr, form, strlen(form), "application/x-www-form-urlencoded");
    }
    if (rc == 0) {
        rc = yard_http_req_retry(hr, &p);
    }
    memset(form, 0, cap);
    free(form);
    if (rc != 0) {
        yard_http_req_destroy(&hr);
        s_unlock(a);
        s_end(a, NULL, "could not build the token request");
        return;
    }
    yard_http_req_timeout(hr, a->st->o->http_timeout_ms);
    s_refresh_t *rf = malloc(sizeof *rf);
    if (!rf) {
        abort();
    }
    rf->a = a;
    rf->gen = a->gen;
    if ((rc = yard_http_send(http, &hr, s_refreshed, rf)) != 0) {
        free(rf);
        s_unlock(a);
        s_end(a, NULL, yard_http_last_error(http));
    }
}

static void
s_poll_cb(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    s_try(arg);
}

static void
s_try(gm_acct_t *a)
{
    char key[128], *tok = NULL;
    size_t n = 0;
    gm_key(a, "token", key, sizeof key);
    int rc = yard_store_get(a->st->store, key, &tok, &n);
    if (rc == 0) {
        s_end(a, tok, NULL);
        memset(tok, 0, n);
        free(tok);
        return;
    }
    if (rc != YARD_E_NOT_FOUND) {
        s_end(a, NULL, "the store did not answer (token)");
        return;
    }
    gm_key(a, "refreshing", key, sizeof key);
    rc = yard_store_set_nx(a->st->store, key, a->st->owner, strlen(a->st->owner), S_LOCK_MS);
    if (rc == 1) {
        s_refresh(a);
    } else if (rc < 0) {
        s_end(a, NULL, "the store did not answer (refresh lock)");
    } else if (++a->token_waits > S_POLL_MAX) {
        s_end(a, NULL, "another replica's token refresh did not finish");
    } else {
        gm_later(a, S_POLL_MS, s_poll_cb);
    }
}

void
gm_token_get(gm_acct_t *a, gm_token_fn *cb)
{
    a->token_cb = cb;
    a->token_waits = 0;
    s_try(a);
}
