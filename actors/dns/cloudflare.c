/* Cloudflare API v4 with a bearer token: the zone id (GET /zones?name=ZONE) and the record id
 * (GET /zones/Z/dns_records?type=T&name=N) are looked up once and cached in the record's
 * state; the update PATCHes only `content`, so the record's ttl and proxied stay as the
 * operator set them; a missing record is created (POST) when `create` is on. Every answer's
 * `success` is checked and its errors[].code / message reported. An authentication error
 * (9109 invalid token, 10000 authentication error, 6003 / 6111 bad Authorization header)
 * holds the record until its configuration changes; 429 is honoured with its Retry-After
 * (provider.c). */
#include "dns_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_ZONE, S_LOOKUP, S_PATCH, S_CREATE } s_step_t;

typedef struct {
    yard_ctx_t *ctx;
    const dns_opts_t *o;
    const dns_record_t *r;
    char addr[DNS_ADDR_MAX];
    dns_up_fn *cb;
    void *arg;
    dns_up_result_t res;
    s_step_t step;
    bool relooked; /* a cached id was stale and looked up again */
} s_cf_t;

static void s_send(s_cf_t *c, s_step_t step);

static void
s_end(s_cf_t *c)
{
    c->cb(c->ctx, &c->res, c->arg);
    free(c);
}

static bool
s_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= DNS_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)id[i])) {
            return false;
        }
    }
    return true;
}

/* Authentication and permission failures: the token must change. */
static bool
s_auth_code(int64_t code)
{
    return code == 9109 || code == 10000 || code == 6003 || code == 6111 || code == 9103 ||
           code == 9106;
}

/* Reads `success` and the first of errors[]; on failure fills res and returns false. */
static bool
s_envelope(s_cf_t *c, const msgpack_object *m, int status)
{
    bool success = false;
    if (m->type == MSGPACK_OBJECT_MAP && yard_mp_get_bool(m, "success", &success, NULL, 0) == 0 &&
        success && status >= 200 && status < 300) {
        return true;
    }
    int64_t code = 0;
    char msg[200] = "";
    const msgpack_object *errs = NULL;
    if (m->type == MSGPACK_OBJECT_MAP && yard_mp_get_array(m, "errors", &errs, NULL, 0) == 0 &&
        errs->via.array.size > 0) {
        const msgpack_object *e0 = &errs->via.array.ptr[0];
        yard_mp_get_int(e0, "code", &code, NULL, 0);
        yard_mp_get_strbuf(e0, "message", msg, sizeof msg, NULL, 0);
    }
    c->res.kind =
        s_auth_code(code) || status == 401 || status == 403 ? DNS_UP_HOLD_CONFIG : DNS_UP_RETRY;
    snprintf(c->res.code, sizeof c->res.code, "%lld", (long long)code);
    snprintf(c->res.msg, sizeof c->res.msg, "Cloudflare answered HTTP %d, error %lld: %s%s", status,
             (long long)code, msg[0] ? msg : "(no message)",
             c->res.kind == DNS_UP_HOLD_CONFIG ? " (check the token and its permissions)" : "");
    return false;
}

/* result[0] of a list answer, or NULL when the list is empty. */
static const msgpack_object *
s_first(const msgpack_object *m)
{
    const msgpack_object *list = NULL;
    if (yard_mp_get_array(m, "result", &list, NULL, 0) != 0 || list->via.array.size == 0) {
        return NULL;
    }
    return &list->via.array.ptr[0];
}

static void
s_bad_answer(s_cf_t *c, const char *what)
{
    c->res.kind = DNS_UP_RETRY;
    snprintf(c->res.code, sizeof c->res.code, "unexpected");
    snprintf(c->res.msg, sizeof c->res.msg, "Cloudflare's answer %s", what);
}

/* The answer to step c->step, parsed: decides the next step or ends. */
static void
s_answer(s_cf_t *c, const msgpack_object *m, int status)
{
    if (c->step == S_PATCH && status == 404 && !c->relooked) {
        /* The cached record id is stale (the record was deleted or recreated). */
        c->relooked = true;
        c->res.cf_id[0] = '\0';
        s_send(c, S_LOOKUP);
        return;
    }
    if (!s_envelope(c, m, status)) {
        s_end(c);
        return;
    }
    const msgpack_object *first = c->step == S_ZONE || c->step == S_LOOKUP ? s_first(m) : NULL;
    char id[DNS_ID_MAX] = "", content[DNS_ADDR_MAX + 8] = "";
    if (first) {
        yard_mp_get_strbuf(first, "id", id, sizeof id, NULL, 0);
        yard_mp_get_strbuf(first, "content", content, sizeof content, NULL, 0);
    }
    switch (c->step) {
    case S_ZONE:
        if (!first) {
            c->res.kind = DNS_UP_HOLD_CONFIG;
            snprintf(c->res.code, sizeof c->res.code, "nozone");
            snprintf(c->res.msg, sizeof c->res.msg,
                     "Cloudflare has no zone %s that this token may see", c->r->zone);
            s_end(c);
            return;
        }
        if (!s_id_ok(id)) {
            s_bad_answer(c, "has a zone without a usable id");
            s_end(c);
            return;
        }
        memcpy(c->res.cf_zone, id, sizeof id);
        s_send(c, c->res.cf_id[0] ? S_PATCH : S_LOOKUP);
        return;
    case S_LOOKUP:
        if (!first) {
            if (!c->r->create) {
                c->res.kind = DNS_UP_HOLD_CONFIG;
                snprintf(c->res.code, sizeof c->res.code, "norecord");
                snprintf(c->res.msg, sizeof c->res.msg,
                         "Cloudflare has no %s record %s and create is false", dns_rec_type(c->r),
                         c->r->name);
                s_end(c);
                return;
            }
            s_send(c, S_CREATE);
            return;
        }
        if (!s_id_ok(id)) {
            s_bad_answer(c, "has a record without a usable id");
            s_end(c);
            return;
        }
        memcpy(c->res.cf_id, id, sizeof id);
        if (strcmp(content, c->addr) == 0) {
            c->res.kind = DNS_UP_OK; /* already right: no PATCH needed */
            c->res.nochg = true;
            snprintf(c->res.code, sizeof c->res.code, "unchanged");
            s_end(c);
            return;
        }
        s_send(c, S_PATCH);
        return;
    case S_CREATE: {
        const msgpack_object *res = NULL;
        if (yard_mp_get_map(m, "result", &res, NULL, 0) == 0) {
            yard_mp_get_strbuf(res, "id", id, sizeof id, NULL, 0);
        }
        if (s_id_ok(id)) {
            memcpy(c->res.cf_id, id, sizeof id);
        }
        c->res.kind = DNS_UP_OK;
        snprintf(c->res.code, sizeof c->res.code, "created");
        s_end(c);
        return;
    }
    case S_PATCH:
        c->res.kind = DNS_UP_OK;
        snprintf(c->res.code, sizeof c->res.code, "patched");
        s_end(c);
        return;
    }
}

static void
s_done(const yard_http_resp_t *resp, void *arg)
{
    s_cf_t *c = arg;
    if (dns_http_failed(resp, &c->res)) {
        s_end(c);
        return;
    }
    void *mp = NULL;
    size_t size = 0;
    char why[200];
    int status = yard_http_resp_status(resp);
    if (yard_http_resp_json(resp, &mp, &size, why, sizeof why) != 0) {
        if (c->step == S_PATCH && status == 404 && !c->relooked) {
            msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
            s_answer(c, &nil, status);
            return;
        }
        c->res.kind = status == 401 || status == 403 ? DNS_UP_HOLD_CONFIG : DNS_UP_RETRY;
        snprintf(c->res.code, sizeof c->res.code, "http %d", status);
        snprintf(c->res.msg, sizeof c->res.msg, "Cloudflare answered HTTP %d that is not JSON",
                 status);
        s_end(c);
        return;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    msgpack_object m;
    if (yard_mp_decode(mp, size, &zone, &m, NULL, 0) == 0) {
        s_answer(c, &m, status);
    } else {
        s_bad_answer(c, "could not be decoded");
        s_end(c);
    }
    msgpack_zone_destroy(&zone);
    free(mp);
}

/* The step's method, URL and body. */
static int
s_build(s_cf_t *c, s_step_t step, yard_http_req_t **hr)
{
    const dns_record_t *r = c->r;
    char url[1200];
    const char *method = "GET";
    switch (step) {
    case S_ZONE:
        snprintf(url, sizeof url, "%s/zones?name=%s", r->base, r->zone);
        break;
    case S_LOOKUP:
        snprintf(url, sizeof url, "%s/zones/%s/dns_records?type=%s&name=%s", r->base,
                 c->res.cf_zone, dns_rec_type(r), r->name);
        break;
    case S_PATCH:
        method = "PATCH";
        snprintf(url, sizeof url, "%s/zones/%s/dns_records/%s", r->base, c->res.cf_zone,
                 c->res.cf_id);
        break;
    case S_CREATE:
        method = "POST";
        snprintf(url, sizeof url, "%s/zones/%s/dns_records", r->base, c->res.cf_zone);
        break;
    }
    int rc = dns_http_req(c->o, method, url, hr);
    if (rc == 0) {
        size_t n = strlen(r->secret) + 8;
        char *bearer = malloc(n);
        if (!bearer) {
            abort();
        }
        snprintf(bearer, n, "Bearer %s", r->secret);
        rc = yard_http_req_header_secret(*hr, "Authorization", bearer);
        sodium_memzero(bearer, n);
        free(bearer);
    }
    if (rc == 0 && step != S_ZONE && step != S_LOOKUP) {
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        if (step == S_CREATE) {
            yard_mpw_kstr(w, "type", dns_rec_type(r));
            yard_mpw_kstr(w, "name", r->name);
        }
        yard_mpw_kstr(w, "content", c->addr);
        if (step == S_CREATE) {
            yard_mpw_kint(w, "ttl", r->ttl);
            yard_mpw_kbool(w, "proxied", r->proxied);
        }
        yard_mpw_end(w);
        const void *data = NULL;
        size_t size = 0;
        rc = yard_mpw_finish(w, &data, &size);
        if (rc == 0) {
            rc = yard_http_req_json_msgpack(*hr, data, size);
        }
        yard_mpw_destroy(&w);
    }
    return rc;
}

static void
s_send(s_cf_t *c, s_step_t step)
{
    c->step = step;
    yard_http_t *h = dns_http(c->ctx);
    yard_http_req_t *hr = NULL;
    int rc = h ? s_build(c, step, &hr) : YARD_E_SHUTDOWN;
    if (rc == 0 && (rc = yard_http_send(h, &hr, s_done, c)) == 0) {
        return;
    }
    yard_http_req_destroy(&hr);
    c->res.kind = DNS_UP_RETRY;
    snprintf(c->res.code, sizeof c->res.code, "%s", yard_err_name(rc));
    snprintf(c->res.msg, sizeof c->res.msg, "the request could not be sent (%s)",
             h ? yard_http_last_error(h) : "stopping");
    s_end(c);
}

void
dns_cloudflare_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r,
                      const dns_state_t *st, const char *addr, dns_up_fn *cb, void *arg)
{
    s_cf_t *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    *c = (s_cf_t){.ctx = ctx, .o = o, .r = r, .cb = cb, .arg = arg};
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    if (s_id_ok(st->cf_zone)) {
        memcpy(c->res.cf_zone, st->cf_zone, sizeof c->res.cf_zone);
    }
    if (c->res.cf_zone[0] && s_id_ok(st->cf_id)) {
        memcpy(c->res.cf_id, st->cf_id, sizeof c->res.cf_id);
    }
    s_send(c, !c->res.cf_zone[0] ? S_ZONE : c->res.cf_id[0] ? S_PATCH : S_LOOKUP);
}
