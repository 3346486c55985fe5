/* What the providers share: the replica's HTTP engine, one request policy (per-attempt
 * timeout; 5xx and transport failures retried with exponential backoff and full jitter by
 * yard/http.h, for GET and PATCH only, which are safe to repeat), and the reading of answers
 * that are not the provider's to interpret (no answer, 5xx, 429 with Retry-After). */
#include "dns_internal.h"

#include "yard/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_BODY   (1024u * 1024u) /* a Cloudflare record list is small; a page is < 1 MiB */
#define S_RETRY_BASE 500

yard_http_t *
dns_http(yard_ctx_t *ctx)
{
    yard_http_opts_t ho = {.max_body = S_MAX_BODY};
    return yard_ctx_http_with(ctx, &ho);
}

int
dns_http_req(const dns_opts_t *o, const char *method, const char *url, yard_http_req_t **out)
{
    int rc = yard_http_req_new(method, url, out);
    if (rc != 0) {
        return rc;
    }
    yard_http_req_timeout(*out, o->http_timeout);
    yard_http_retry_t p = {.max_attempts = (uint32_t)o->http_attempts,
                           .base_ms = S_RETRY_BASE,
                           .cap_ms = DNS_RETRY_CAP_MS,
                           .statuses = {500, 502, 503, 504},
                           .methods = "GET,PATCH",
                           .retry_transport = true};
    return yard_http_req_retry(*out, &p);
}

bool
dns_http_failed(const yard_http_resp_t *resp, dns_up_result_t *res)
{
    int err = yard_http_resp_error(resp);
    int status = yard_http_resp_status(resp);
    res->calls += yard_http_resp_attempts(resp);
    if (err != 0) {
        res->kind = DNS_UP_RETRY;
        snprintf(res->code, sizeof res->code, "%s", yard_err_name(err));
        snprintf(res->msg, sizeof res->msg, "%s", yard_http_resp_error_text(resp));
        return true;
    }
    if (status == 429) {
        /* Cloudflare blocks every call for five minutes past its limit: wait what the
         * provider says (Retry-After), or that, never less. */
        int64_t wait = DNS_HOLD_429_MS;
        const char *ra = yard_http_resp_header(resp, "Retry-After");
        if (ra && yard_http_retry_after_ms(ra, time(NULL), &wait) != 0) {
            wait = DNS_HOLD_429_MS;
        }
        res->kind = DNS_UP_RETRY;
        res->hold_ms = wait > 0 ? wait : 1000;
        snprintf(res->code, sizeof res->code, "http 429");
        snprintf(res->msg, sizeof res->msg, "%s %s: rate limited (Retry-After %s)",
                 yard_http_resp_method(resp), yard_http_resp_url_redacted(resp),
                 ra ? ra : "absent");
        return true;
    }
    if (status >= 500) {
        res->kind = DNS_UP_RETRY;
        snprintf(res->code, sizeof res->code, "http %d", status);
        snprintf(res->msg, sizeof res->msg, "%s %s: HTTP %d after %u attempts",
                 yard_http_resp_method(resp), yard_http_resp_url_redacted(resp), status,
                 yard_http_resp_attempts(resp));
        return true;
    }
    return false;
}

void
dns_provider_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r,
                    const dns_state_t *st, const char *addr, dns_up_fn *cb, void *arg)
{
    switch (r->prov) {
    case DNS_PROV_CLOUDFLARE:
        dns_cloudflare_update(ctx, o, r, st, addr, cb, arg);
        return;
    case DNS_PROV_DUCKDNS:
        dns_duckdns_update(ctx, o, r, addr, cb, arg);
        return;
    default:
        dns_dyndns2_update(ctx, o, r, addr, cb, arg);
        return;
    }
}

/* --- one-request updates ------------------------------------------------------------------- */

typedef struct {
    dns_answer_fn *parse;
    dns_up_fn *cb;
    void *arg;
    yard_ctx_t *ctx;
    dns_up_result_t res;
} s_call_t;

static void
s_done(const yard_http_resp_t *resp, void *arg)
{
    s_call_t *c = arg;
    if (!dns_http_failed(resp, &c->res)) {
        size_t len = 0;
        const char *body = yard_http_resp_body(resp, &len);
        c->parse(body, len, yard_http_resp_status(resp), &c->res);
    }
    c->cb(c->ctx, &c->res, c->arg);
    free(c);
}

void
dns_send_update(yard_ctx_t *ctx, yard_http_t *h, yard_http_req_t **hr_p, int build_rc,
                dns_answer_fn *parse, dns_up_fn *cb, void *arg)
{
    s_call_t *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    *c = (s_call_t){.parse = parse, .cb = cb, .arg = arg, .ctx = ctx};
    int rc = !h ? YARD_E_SHUTDOWN : build_rc;
    if (rc == 0 && (rc = yard_http_send(h, hr_p, s_done, c)) == 0) {
        return;
    }
    yard_http_req_destroy(hr_p);
    c->res.kind = DNS_UP_RETRY;
    snprintf(c->res.code, sizeof c->res.code, "%s", yard_err_name(rc));
    snprintf(c->res.msg, sizeof c->res.msg, "the update could not be sent (%s)",
             h ? yard_http_last_error(h) : "stopping");
    cb(ctx, &c->res, arg);
    free(c);
}
