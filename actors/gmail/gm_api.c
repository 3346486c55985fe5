/* One Gmail API call of an account, as a chain of steps:
 *   1. quota: take the method's units from the account's token bucket in the store (shared by
 *      every replica; all of a call's units in one atomic take, yard_store_take_tokens);
 *   2. the access token (gm_token_get: the store's cache, or a refresh);
 *   3. the HTTP request, which the engine retries on 429, 5xx and transport failures with
 *      exponential backoff and full jitter (yard_http_req_retry);
 *   4. a 401 drops the cached token and goes back to 2 once; a 403 whose reason is
 *      rateLimitExceeded or userRateLimitExceeded waits (yard_http_backoff_ms, the same
 *      policy) and goes back to 1, up to the policy's tries; anything else is the answer.
 * A chain that was aborted (lease lost, drain) meanwhile drops its answer. */
#include "gm_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct gm_call {
    gm_acct_t *a;
    uint64_t gen;
    char method[8];
    char *url;
    char *json;
    int units, have; /* quota units needed, taken so far */
    gm_api_fn *cb;
    bool retried_401;
    bool in_http;      /* the engine holds it: its callback frees it */
    uint32_t rl_tries; /* 403 rate-limit retries made */
    char token[2048];
};

static void s_step_quota(gm_acct_t *a);

void
gm_url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
}

static void
s_later_cb(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    gm_acct_t *a = arg;
    a->wait = NULL;
    yard_timer_fn *fn = a->wait_fn;
    a->wait_fn = NULL;
    if (fn) {
        fn(a->st->ctx, a);
    }
}

void
gm_later(gm_acct_t *a, uint32_t ms, yard_timer_fn *fn)
{
    yard_timer_cancel(&a->wait);
    a->wait_fn = fn;
    a->wait = yard_timer_at(a->st->ctx, yard_ctx_wall_ms(a->st->ctx) + ms, s_later_cb, a);
    if (!a->wait) {
        a->wait_fn = NULL; /* draining: the chain ends with the replica */
    }
}

void
gm_retry_policy(const gm_opts_t *o, yard_http_retry_t *p)
{
    memset(p, 0, sizeof *p);
    p->max_attempts = (uint32_t)o->retry_tries;
    p->base_ms = o->retry_base_ms;
    p->cap_ms = o->retry_cap_ms;
    p->statuses[0] = 429;
    p->statuses[1] = 500;
    p->statuses[2] = 502;
    p->statuses[3] = 503;
    p->statuses[4] = 504;
    p->methods = "GET,POST"; /* modify, labels.create and the token grant are safe to repeat */
    p->retry_transport = true;
}

void
gm_resp_fill(const yard_http_resp_t *resp, gm_resp_t *r, msgpack_zone *zone, void **buf)
{
    memset(r, 0, sizeof *r);
    *buf = NULL;
    r->err = yard_http_resp_error(resp);
    r->status = yard_http_resp_status(resp);
    if (r->err != 0) {
        snprintf(r->text, sizeof r->text, "%s", yard_http_resp_error_text(resp));
        return;
    }
    size_t size = 0;
    if (yard_http_resp_json(resp, buf, &size, NULL, 0) == 0 &&
        yard_mp_decode(*buf, size, zone, &r->obj, NULL, 0) == 0) {
        r->json = &r->obj;
    }
    const msgpack_object *e = r->json ? yard_mp_find(r->json, "error") : NULL;
    if (e && e->type == MSGPACK_OBJECT_STR) { /* OAuth: {"error": "invalid_grant"} */
        snprintf(r->reason, sizeof r->reason, "%.*s", (int)e->via.str.size, e->via.str.ptr);
    } else if (e && e->type == MSGPACK_OBJECT_MAP) { /* Google: {error:{errors:[{reason}]}} */
        const msgpack_object *errs = yard_mp_find(e, "errors");
        if (errs && errs->type == MSGPACK_OBJECT_ARRAY && errs->via.array.size > 0) {
            yard_mp_get_strbuf(&errs->via.array.ptr[0], "reason", r->reason, sizeof r->reason, NULL,
                               0);
        }
        if (!r->reason[0]) {
            yard_mp_get_strbuf(e, "status", r->reason, sizeof r->reason, NULL, 0);
        }
    }
    if (r->status >= 400) {
        snprintf(r->text, sizeof r->text, "%s %s: HTTP %d%s%s", yard_http_resp_method(resp),
                 yard_http_resp_url_redacted(resp), r->status, r->reason[0] ? " " : "", r->reason);
    }
}

static void
s_finish(gm_acct_t *a, const gm_resp_t *r)
{
    struct gm_call *c = a->call;
    a->call = NULL;
    gm_api_fn *cb = c->cb;
    memset(c->token, 0, sizeof c->token);
    free(c->url);
    free(c->json);
    free(c);
    cb(a, r);
}

static void
s_fail(gm_acct_t *a, int err, const char *text)
{
    gm_resp_t r = {.err = err};
    snprintf(r.text, sizeof r.text, "%s", text);
    s_finish(a, &r);
}

static bool
s_rate_limited(const gm_resp_t *r)
{
    return r->status == 403 && (strcmp(r->reason, "rateLimitExceeded") == 0 ||
                                strcmp(r->reason, "userRateLimitExceeded") == 0);
}

static void
s_quota_cb(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    s_step_quota(arg);
}

static void
s_done(const yard_http_resp_t *resp, void *arg)
{
    struct gm_call *c = arg;
    gm_acct_t *a = c->a;
    c->in_http = false;
    if (a->call != c || c->gen != a->gen) {
        free(c->url);
        free(c->json);
        free(c);
        return; /* the chain was aborted */
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    void *buf = NULL;
    gm_resp_t r;
    gm_resp_fill(resp, &r, &zone, &buf);
    if (r.err == 0 && r.status == 401 && !c->retried_401) {
        c->retried_401 = true; /* the token expired or was revoked early: refresh once */
        gm_token_drop(a, c->token);
        s_step_quota(a);
    } else if (r.err == 0 && s_rate_limited(&r) &&
               c->rl_tries + 1 < (uint32_t)a->st->o->retry_tries) {
        yard_http_retry_t p;
        gm_retry_policy(a->st->o, &p);
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            rnd = (uint64_t)yard_ctx_now_ms(a->st->ctx) * 6364136223846793005ull;
        }
        int64_t ra = -1;
        const char *h = yard_http_resp_header(resp, "Retry-After");
        if (h) {
            yard_http_retry_after_ms(h, (time_t)(yard_ctx_wall_ms(a->st->ctx) / 1000), &ra);
        }
        uint32_t wait = yard_http_backoff_ms(&p, ++c->rl_tries, rnd, ra);
        yard_log(YARD_LOG_INFO, "gmail: rate limited, backing off", YF_STR("account", a->name),
                 YF_UINT("wait_ms", wait), YF_UINT("try", c->rl_tries));
        gm_later(a, wait, s_quota_cb);
    } else {
        s_finish(a, &r);
    }
    free(buf);
    msgpack_zone_destroy(&zone);
}

static void
s_step_send(gm_acct_t *a, const char *token, const char *err)
{
    struct gm_call *c = a->call;
    if (!c || c->gen != a->gen) {
        return;
    }
    if (!token) {
        s_fail(a, YARD_E_UNREACHABLE, err);
        return;
    }
    snprintf(c->token, sizeof c->token, "%s", token);
    char auth[2100];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    yard_http_t *http = yard_ctx_http(a->st->ctx);
    yard_http_req_t *hr = NULL;
    yard_http_retry_t p;
    gm_retry_policy(a->st->o, &p);
    int rc = http ? yard_http_req_new(c->method, c->url, &hr) : YARD_E_SHUTDOWN;
    if (rc == 0) {
        rc = yard_http_req_header_secret(hr, "Authorization", auth);
    }
    if (rc == 0 && c->json) {
        rc = yard_http_req_json(hr, c->json, strlen(c->json));
    }
    if (rc == 0) {
        rc = yard_http_req_retry(hr, &p);
    }
    memset(auth, 0, sizeof auth);
    if (rc != 0) {
        yard_http_req_destroy(&hr);
        s_fail(a, rc, "could not build the request");
        return;
    }
    yard_http_req_timeout(hr, a->st->o->http_timeout_ms);
    if ((rc = yard_http_send(http, &hr, s_done, c)) != 0) {
        s_fail(a, rc, yard_http_last_error(http));
        return;
    }
    c->in_http = true;
}

static void
s_step_quota(gm_acct_t *a)
{
    struct gm_call *c = a->call;
    if (!c || c->gen != a->gen) {
        return;
    }
    char key[128];
    gm_key(a, "quota", key, sizeof key);
    const gm_opts_t *o = a->st->o;
    if (c->have < c->units) {
        /* all of the call's units at once: a bucket shared by replicas never hands half a
         * call's quota to one replica while another waits for the rest */
        uint32_t burst = (uint32_t)o->quota_burst;
        uint32_t n =
            (uint32_t)(c->units - c->have) < burst ? (uint32_t)(c->units - c->have) : burst;
        int allowed = 0;
        uint32_t wait = 0;
        int rc = yard_store_take_tokens(a->st->store, key, (double)o->quota_rate, burst, n, 0,
                                        &allowed, &wait);
        if (rc != 0) {
            s_fail(a, rc, "the store did not answer (quota)");
            return;
        }
        if (!allowed) {
            gm_later(a, wait, s_quota_cb);
            return;
        }
        c->have = c->units;
    }
    gm_token_get(a, s_step_send);
}

void
gm_api(gm_acct_t *a, const char *method, const char *path, const char *json, int units,
       gm_api_fn *cb)
{
    struct gm_call *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    const char *base = a->st->o->api_base;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        bl--;
    }
    size_t n = bl + strlen(path) + 16;
    c->url = malloc(n);
    if (!c->url) {
        abort();
    }
    snprintf(c->url, n, "%.*s/users/me%s", (int)bl, base, path);
    c->json = json ? strdup(json) : NULL;
    snprintf(c->method, sizeof c->method, "%s", method);
    c->a = a;
    c->gen = a->gen;
    c->units = units;
    c->cb = cb;
    a->call = c;
    s_step_quota(a);
}

void
gm_api_abort(gm_acct_t *a)
{
    struct gm_call *c = a->call;
    a->call = NULL;
    if (c && !c->in_http) {
        memset(c->token, 0, sizeof c->token);
        free(c->url);
        free(c->json);
        free(c);
    }
}
