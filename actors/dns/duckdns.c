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

static void
s_parse(const char *body, size_t len, int status, dns_up_result_t *res)
{
    if (status == 200 && len >= 2 && strncmp(body, "OK", 2) == 0 &&
        (len == 2 || body[2] == '\n' || body[2] == '\r')) {
        res->kind = DNS_UP_OK;
        res->nochg = strstr(body, "NOCHANGE") != NULL;
        snprintf(res->code, sizeof res->code, "OK");
    } else if (status == 200 && len >= 2 && strncmp(body, "KO", 2) == 0) {
        res->kind = DNS_UP_HOLD_CONFIG;
        snprintf(res->code, sizeof res->code, "KO");
        snprintf(res->msg, sizeof res->msg,
                 "DuckDNS answered KO: the token or the domain is wrong");
    } else {
        res->kind = DNS_UP_RETRY;
        snprintf(res->code, sizeof res->code, "unexpected");
        snprintf(res->msg, sizeof res->msg, "DuckDNS answered HTTP %d with neither OK nor KO",
                 status);
    }
}

void
dns_duckdns_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r, const char *addr,
                   dns_up_fn *cb, void *arg)
{
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
    dns_send_update(ctx, h, &hr, rc, s_parse, cb, arg);
}
