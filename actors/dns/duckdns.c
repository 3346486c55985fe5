/* DuckDNS (www.duckdns.org/spec.jsp): GET /update?domains=SUB&token=TOKEN&ip=ADDR (ipv6=
 * for an AAAA record) with verbose=true, so the answer says UPDATED or NOCHANGE after OK.
 * "KO" is DuckDNS's only failure answer, given for a wrong token or domain: only a
 * configuration change can fix it, so the record is held until then. The token travels in
 * the URL, marked as the request's secret, so no text ever shows it. */
#include "dns_internal.h"

#include "yard/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
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
        int status = yard_http_resp_status(resp);
        if (status == 200 && len >= 2 && strncmp(body, "OK", 2) == 0 &&
            (len == 2 || body[2] == '\n' || body[2] == '\r')) {
            c->res.kind = DNS_UP_OK;
            c->res.nochg = strstr(body, "NOCHANGE") != NULL;
            snprintf(c->res.code, sizeof c->res.code, "OK");
        } else if (status == 200 && len >= 2 && strncmp(body, "KO", 2) == 0) {
            c->res.kind = DNS_UP_HOLD_CONFIG;
            snprintf(c->res.code, sizeof c->res.code, "KO");
            snprintf(c->res.msg, sizeof c->res.msg,
                     "DuckDNS answered KO: the token or the domain is wrong");
        } else {
            c->res.kind = DNS_UP_RETRY;
            snprintf(c->res.code, sizeof c->res.code, "unexpected");
            snprintf(c->res.msg, sizeof c->res.msg,
                     "DuckDNS answered HTTP %d with neither OK nor KO", status);
        }
    }
    c->cb(c->ctx, &c->res, c->arg);
    free(c);
}

void
dns_duckdns_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r, const char *addr,
                   dns_up_fn *cb, void *arg)
{
    s_call_t *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    *c = (s_call_t){.cb = cb, .arg = arg, .ctx = ctx};
    /* DuckDNS wants the sub-name only: "myhost", not "myhost.duckdns.org". */
    char sub[256];
    snprintf(sub, sizeof sub, "%s", r->name);
    size_t n = strlen(sub);
    const char *suffix = ".duckdns.org";
    if (n > strlen(suffix) && strcmp(sub + n - strlen(suffix), suffix) == 0) {
        sub[n - strlen(suffix)] = '\0';
    }
    char url[1024];
    snprintf(url, sizeof url, "%s/update?domains=%s&token={secret}&%s=%s&verbose=true", r->base,
             sub, r->fam == DNS_FAM_V6 ? "ipv6" : "ip", addr);
    yard_http_t *h = dns_http(ctx);
    yard_http_req_t *hr = NULL;
    int rc = h ? dns_http_req(o, "GET", url, &hr) : YARD_E_SHUTDOWN;
    if (rc == 0) {
        rc = yard_http_req_secret(hr, r->secret);
    }
    if (rc == 0 && (rc = yard_http_send(h, &hr, s_done, c)) == 0) {
        return;
    }
    yard_http_req_destroy(&hr);
    c->res.kind = DNS_UP_RETRY;
    snprintf(c->res.code, sizeof c->res.code, "%s", yard_err_name(rc));
    snprintf(c->res.msg, sizeof c->res.msg, "the update could not be sent (%s)",
             h ? yard_http_last_error(h) : "stopping");
    cb(ctx, &c->res, arg);
    free(c);
}
