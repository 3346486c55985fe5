/* A provider's discovery document (OpenID Connect Discovery 1.0, section 4) and JWKS, fetched
 * through the replica's HTTP engine (yard/http.h) and cached in the provider's entry, which
 * belongs to the replica (no locks: one thread).
 *
 * The discovery document must name the configured issuer exactly (Discovery 4.3: otherwise
 * a document could send us to another issuer's keys) and give https endpoints (http only to
 * this host, as for the configuration). A fetch that fails keeps what was cached before. An
 * unknown kid refetches the JWKS at most once per OIDC_JWKS_MISS_MS, so tokens with made-up
 * kids cannot turn every callback into a request to the provider. */
#include "oidc.h"

#include "yard/error.h"
#include "yard/http.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TIMEOUT_MS 10000
#define S_MAX_BODY   (256 * 1024)

typedef struct {
    yard_ctx_t *ctx;
    oidc_provider_t *p;
    oidc_ready_fn *cb;
    void *arg;
} s_fetch_t;

static bool
s_url_ok(const char *u)
{
    return strncmp(u, "https://", 8) == 0 || strncmp(u, "http://127.0.0.1", 16) == 0 ||
           strncmp(u, "http://localhost", 16) == 0 || strncmp(u, "http://[::1]", 12) == 0;
}

/* GET url with retries on transport errors and 5xx/429; done(resp, f) on the replica. */
static void
s_get(s_fetch_t *f, const char *url, yard_http_done_fn *done)
{
    yard_http_t *h = yard_ctx_http(f->ctx);
    yard_http_req_t *req = NULL;
    const char *why = "the provider's URL is not valid";
    if (h && yard_http_req_new("GET", url, &req) == 0) {
        yard_http_req_header(req, "Accept", "application/json");
        yard_http_req_timeout(req, S_TIMEOUT_MS);
        yard_http_retry_t rp = {.max_attempts = 3,
                                .base_ms = 200,
                                .cap_ms = 2000,
                                .statuses = {429, 500, 502, 503, 504},
                                .retry_transport = true};
        yard_http_req_retry(req, &rp);
        if (yard_http_send(h, &req, done, f) == 0) {
            return;
        }
        why = "too many requests to providers in flight";
    }
    yard_http_req_destroy(&req);
    f->cb(f->arg, YARD_E_UNREACHABLE, why);
    free(f);
}

/* The response's JSON body decoded into *obj (zone), or an error with why set. */
static int
s_json(const yard_http_resp_t *resp, msgpack_zone *zone, void **mp, msgpack_object *obj,
       const char **why)
{
    size_t size = 0;
    if (yard_http_resp_error(resp) != 0) {
        *why = "the provider did not answer";
        return YARD_E_UNREACHABLE;
    }
    if (yard_http_resp_status(resp) != 200) {
        *why = "the provider answered an error status";
        return YARD_E_UNREACHABLE;
    }
    if (yard_http_resp_json(resp, mp, &size, NULL, 0) != 0 ||
        yard_mp_decode(*mp, size, zone, obj, NULL, 0) != 0 || obj->type != MSGPACK_OBJECT_MAP) {
        *why = "the provider's answer is not a JSON object";
        return YARD_E_UNREACHABLE;
    }
    return 0;
}

/* An https URL member of the discovery document, copied; NULL when absent or not one. */
static char *
s_url_member(const msgpack_object *doc, const char *key)
{
    char buf[OIDC_URL_MAX + 1];
    if (yard_mp_get_strbuf(doc, key, buf, sizeof buf, NULL, 0) != 0 || !s_url_ok(buf)) {
        return NULL;
    }
    char *s = strdup(buf);
    if (!s) {
        abort();
    }
    return s;
}

static int
s_take_discovery(oidc_provider_t *p, const msgpack_object *doc, const char **why)
{
    char iss[OIDC_URL_MAX + 1];
    if (yard_mp_get_strbuf(doc, "issuer", iss, sizeof iss, NULL, 0) != 0 ||
        strcmp(iss, p->issuer) != 0) {
        *why = "the discovery document names another issuer";
        return YARD_E_UNREACHABLE;
    }
    char *a = s_url_member(doc, "authorization_endpoint");
    char *t = s_url_member(doc, "token_endpoint");
    char *j = s_url_member(doc, "jwks_uri");
    if (!a || !t || !j) {
        free(a);
        free(t);
        free(j);
        *why = "the discovery document lacks https authorization_endpoint, token_endpoint or "
               "jwks_uri";
        return YARD_E_UNREACHABLE;
    }
    free(p->authorization_endpoint);
    free(p->token_endpoint);
    free(p->jwks_uri);
    p->authorization_endpoint = a;
    p->token_endpoint = t;
    p->jwks_uri = j;
    return 0;
}

static void
s_discovered(const yard_http_resp_t *resp, void *arg)
{
    s_fetch_t *f = arg;
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 2048)) {
        abort();
    }
    void *mp = NULL;
    msgpack_object doc;
    const char *why = "";
    int rc = s_json(resp, &zone, &mp, &doc, &why);
    if (rc == 0) {
        rc = s_take_discovery(f->p, &doc, &why);
    }
    msgpack_zone_destroy(&zone);
    free(mp);
    if (rc == 0) {
        f->p->discovered_ms = yard_ctx_now_ms(f->ctx);
        yard_log(YARD_LOG_INFO, "auth: OpenID provider discovered", YF_STR("provider", f->p->name),
                 YF_STR("issuer", f->p->issuer));
    } else {
        yard_log(YARD_LOG_WARN, "auth: OpenID discovery failed", YF_STR("provider", f->p->name),
                 YF_STR("why", why), YF_STR("http", yard_http_resp_error_text(resp)));
    }
    /* A failed refresh keeps serving what was discovered before. */
    f->cb(f->arg, rc && !f->p->token_endpoint ? rc : 0, why);
    free(f);
}

static s_fetch_t *
s_fetch_new(yard_ctx_t *ctx, oidc_provider_t *p, oidc_ready_fn *cb, void *arg)
{
    s_fetch_t *f = calloc(1, sizeof *f);
    if (!f) {
        abort();
    }
    *f = (s_fetch_t){ctx, p, cb, arg};
    return f;
}

void
oidc_discover(yard_ctx_t *ctx, oidc_provider_t *p, oidc_ready_fn *cb, void *arg)
{
    int64_t now = yard_ctx_now_ms(ctx);
    if (p->token_endpoint && now - p->discovered_ms < OIDC_DISCOVERY_TTL_MS) {
        cb(arg, 0, "");
        return;
    }
    char url[OIDC_URL_MAX + 64];
    size_t n = strlen(p->issuer);
    /* Discovery 4.1: the issuer, without a trailing '/', then the well-known path. */
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration",
             (int)(n && p->issuer[n - 1] == '/' ? n - 1 : n), p->issuer);
    s_get(s_fetch_new(ctx, p, cb, arg), url, s_discovered);
}

static void
s_jwks_fetched(const yard_http_resp_t *resp, void *arg)
{
    s_fetch_t *f = arg;
    const char *why = "";
    char msg[160] = "";
    size_t len = 0;
    const char *body = yard_http_resp_body(resp, &len);
    oidc_jwks_t *set = NULL;
    int rc = 0;
    if (yard_http_resp_error(resp) != 0 || yard_http_resp_status(resp) != 200) {
        why = "the provider's JWKS could not be fetched";
        rc = YARD_E_UNREACHABLE;
    } else if (oidc_jwks_parse(body, len, &set, msg, sizeof msg) != 0) {
        why = msg;
        rc = YARD_E_UNREACHABLE;
    }
    if (rc == 0) {
        oidc_jwks_destroy(&f->p->jwks);
        f->p->jwks = set;
        yard_log(YARD_LOG_INFO, "auth: OpenID provider keys loaded", YF_STR("provider", f->p->name),
                 YF_INT("keys", (int64_t)oidc_jwks_count(set)));
    } else {
        yard_log(YARD_LOG_WARN, "auth: JWKS fetch failed", YF_STR("provider", f->p->name),
                 YF_STR("why", why), YF_STR("http", yard_http_resp_error_text(resp)));
    }
    f->cb(f->arg, rc && !f->p->jwks ? rc : 0, why);
    free(f);
}

void
oidc_jwks_load(yard_ctx_t *ctx, oidc_provider_t *p, bool refetch, oidc_ready_fn *cb, void *arg)
{
    int64_t now = yard_ctx_now_ms(ctx);
    bool stale = !p->jwks || now - p->jwks_ms >= OIDC_JWKS_TTL_MS;
    bool may_refetch = refetch && now - p->jwks_ms >= (int64_t)p->jwks_min_ms;
    if (!p->jwks_uri || (!stale && !may_refetch)) {
        cb(arg, p->jwks ? 0 : YARD_E_UNREACHABLE, "the provider's JWKS is not known");
        return;
    }
    p->jwks_ms = now; /* counted from the attempt: a failing provider is not hammered either */
    s_get(s_fetch_new(ctx, p, cb, arg), p->jwks_uri, s_jwks_fetched);
}
