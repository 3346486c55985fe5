/* The dyndns2 protocol (members.dyndns.org and the many servers that speak it):
 * GET /nic/update?hostname=NAME&myip=ADDR with basic authentication; the answer's first word
 * is a return code (help.dyn.com "Return Codes"): good and nochg are success; badauth,
 * !donator, notfqdn, nohost, numhost, abuse, badagent and !yours need the user to change
 * something, so the record is held until its configuration changes (the spec: "any failed
 * update attempt is fatal ... the client [should] be disabled until the situation is
 * corrected"); 911 and dnserr are the server's trouble: no retry sooner than 10 minutes. */
#include "dns_internal.h"

#include "yard/error.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *code;
    dns_up_kind_t kind;
    const char *what;
} s_codes[] = {
    {"badauth", DNS_UP_HOLD_CONFIG, "the username or password is wrong"},
    {"!donator", DNS_UP_HOLD_CONFIG, "the account lacks a feature this update uses"},
    {"notfqdn", DNS_UP_HOLD_CONFIG, "the host name is not a fully qualified domain name"},
    {"nohost", DNS_UP_HOLD_CONFIG, "the host name does not exist in this account"},
    {"numhost", DNS_UP_HOLD_CONFIG, "too many hosts, or a round-robin host"},
    {"abuse", DNS_UP_HOLD_CONFIG, "the host is blocked for abuse"},
    {"badagent", DNS_UP_HOLD_CONFIG, "the server refuses this client"},
    {"!yours", DNS_UP_HOLD_CONFIG, "the host belongs to another account"},
    {"911", DNS_UP_RETRY, "the server has a problem or is in maintenance"},
    {"dnserr", DNS_UP_RETRY, "the server's DNS system failed"},
};

static void
s_parse(const char *body, size_t len, int status, dns_up_result_t *res)
{
    char word[32] = "";
    size_t i = 0, w = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) {
        i++;
    }
    while (i < len && w < sizeof word - 1 && body[i] > ' ' && body[i] < 127) {
        word[w++] = body[i++];
    }
    word[w] = '\0';
    if (!word[0] && status == 401) {
        snprintf(word, sizeof word, "badauth");
    }
    if (strcmp(word, "good") == 0 || strcmp(word, "nochg") == 0) {
        res->kind = DNS_UP_OK;
        res->nochg = word[0] == 'n';
        snprintf(res->code, sizeof res->code, "%s", word);
        return;
    }
    for (size_t k = 0; k < sizeof s_codes / sizeof s_codes[0]; k++) {
        if (strcmp(word, s_codes[k].code) == 0) {
            res->kind = s_codes[k].kind;
            res->hold_ms = s_codes[k].kind == DNS_UP_RETRY ? DNS_HOLD_911_MS : 0;
            snprintf(res->code, sizeof res->code, "%s", word);
            snprintf(res->msg, sizeof res->msg, "dyndns2 answered %s: %s", word, s_codes[k].what);
            return;
        }
    }
    res->kind = DNS_UP_RETRY;
    snprintf(res->code, sizeof res->code, "unexpected");
    snprintf(res->msg, sizeof res->msg, "dyndns2 answered HTTP %d with no known return code",
             status);
}

void
dns_dyndns2_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r, const char *addr,
                   dns_up_fn *cb, void *arg)
{
    char url[1024], cred[1024], auth[1500];
    snprintf(url, sizeof url, "%s/nic/update?hostname=%s&myip=%s", r->base, r->name, addr);
    snprintf(cred, sizeof cred, "%s:%s", r->username, r->secret);
    memcpy(auth, "Basic ", 6);
    sodium_bin2base64(auth + 6, sizeof auth - 6, (const unsigned char *)cred, strlen(cred),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(cred, sizeof cred);
    yard_http_t *h = dns_http(ctx);
    yard_http_req_t *hr = NULL;
    int rc = h ? dns_http_req(o, "GET", url, &hr) : YARD_E_SHUTDOWN;
    if (rc == 0) {
        rc = yard_http_req_header(hr, "Authorization", auth);
    }
    sodium_memzero(auth, sizeof auth);
    dns_send_update(ctx, h, &hr, rc, s_parse, cb, arg);
}
