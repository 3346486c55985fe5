/* One run of a check: an HTTP GET on the replica's HTTP engine, a bus call (and, for
 * min_replicas, a `$sys services` call beside it), or a TCP connect (tcp.c). Every kind is
 * asynchronous and bounded by the check's own timeout, so a check that hangs holds nothing
 * but its own run; the outcome becomes an hc_result_t for health.c. */
#include "health_internal.h"

#include "yard/bus.h"
#include "yard/error.h"
#include "yard/http.h"
#include "yard/mp.h"
#include "yard/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    yard_ctx_t *ctx;
    const hc_check_t *check;
    hc_probe_fn *cb;
    void *arg;
    int64_t start;
    int pending; /* calls still out (a bus check with min_replicas makes two) */
    hc_result_t res;
    char sys_error[HC_ERROR_MAX]; /* min_replicas: why it failed ("" when it passed) */
} s_probe_t;

static void
s_end(s_probe_t *p)
{
    if (--p->pending > 0) {
        return;
    }
    if (p->res.ok && p->sys_error[0]) {
        p->res.ok = false;
        snprintf(p->res.error, sizeof p->res.error, "%s", p->sys_error);
    }
    p->cb(p->ctx, &p->res, p->arg);
    free(p);
}

static uint32_t
s_elapsed(const s_probe_t *p)
{
    int64_t d = yard_loop_now_ms() - p->start;
    return d < 0 ? 0 : (uint32_t)d;
}

static void __attribute__((format(printf, 2, 3))) s_fail(s_probe_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->res.error, sizeof p->res.error, fmt, ap);
    va_end(ap);
    p->res.ok = false;
}

/* --- http ----------------------------------------------------------------------------------- */

static bool
s_status_ok(const hc_check_t *c, int status)
{
    if (c->n_statuses == 0) {
        return status >= 200 && status <= 399;
    }
    for (size_t i = 0; i < c->n_statuses; i++) {
        if (c->statuses[i] == status) {
            return true;
        }
    }
    return false;
}

/* Days left on the certificate, or -1 (unknown); real time, whatever clock the actor runs on. */
static int64_t
s_cert_days(const yard_http_resp_t *resp)
{
    int64_t not_after = 0;
    if (yard_http_resp_cert_expiry(resp, &not_after) != 0) {
        return -1;
    }
    int64_t left = not_after - (int64_t)time(NULL);
    return left < 0 ? 0 : left / 86400;
}

static void
s_http_done(const yard_http_resp_t *resp, void *arg)
{
    s_probe_t *p = arg;
    const hc_check_t *c = p->check;
    p->res.latency_ms = s_elapsed(p);
    p->res.ok = true;
    int err = yard_http_resp_error(resp);
    int status = yard_http_resp_status(resp);
    p->res.aborted = err == YARD_E_SHUTDOWN;
    bool https = strncmp(c->target, "https://", 8) == 0;
    p->res.cert_days = https && err == 0 ? s_cert_days(resp) : -1;
    size_t len = 0;
    const char *body = yard_http_resp_body(resp, &len);
    if (err == YARD_E_TIMEOUT) {
        s_fail(p, "no answer within %u ms", c->timeout_ms);
    } else if (err != 0) {
        /* the engine's text names the URL; a check's URL is configuration, not a secret */
        s_fail(p, "%s", yard_http_resp_error_text(resp));
    } else if (!s_status_ok(c, status)) {
        s_fail(p, "HTTP %d", status);
    } else if (c->contains && !memmem(body, len, c->contains, strlen(c->contains))) {
        s_fail(p, "HTTP %d without the expected text", status);
    } else if (c->max_latency_ms && p->res.latency_ms > c->max_latency_ms) {
        s_fail(p, "slow: %u ms (max_latency %u ms)", p->res.latency_ms, c->max_latency_ms);
    } else if (c->cert_days && p->res.cert_days < 0) {
        s_fail(p, "the TLS certificate's expiry could not be read");
    } else if (c->cert_days && p->res.cert_days < c->cert_days) {
        s_fail(p, "the TLS certificate expires in %lld days (cert_days %lld)",
               (long long)p->res.cert_days, (long long)c->cert_days);
    } else {
        snprintf(p->res.error, sizeof p->res.error, "HTTP %d", status);
    }
    s_end(p);
}

static int
s_http_start(s_probe_t *p)
{
    const hc_check_t *c = p->check;
    /* yard_ctx_http(), not _with(): only it applies the operator's http_ca_file */
    yard_http_t *http = yard_ctx_http(p->ctx);
    if (!http) {
        return YARD_E_SHUTDOWN;
    }
    yard_http_req_t *req = NULL;
    int rc = yard_http_req_new("GET", c->target, &req);
    if (rc != 0) {
        return rc;
    }
    yard_http_req_timeout(req, c->timeout_ms);
    if (strncmp(c->target, "https://", 8) == 0) {
        yard_http_req_certinfo(req);
    }
    return yard_http_send(http, &req, s_http_done, p);
}

/* --- bus ------------------------------------------------------------------------------------ */

static void
s_bus_done(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    s_probe_t *p = arg;
    const hc_check_t *c = p->check;
    p->res.latency_ms = s_elapsed(p);
    int st = yard_msg_status(reply);
    p->res.ok = st == 0;
    p->res.aborted = st == YARD_E_SHUTDOWN;
    if (st == YARD_E_TIMEOUT) {
        s_fail(p, "%s%s%s: no reply within %u ms", c->target, c->op ? " " : "", c->op ? c->op : "",
               c->timeout_ms);
    } else if (st != 0) {
        const char *app = yard_msg_app_error(reply);
        const char *text = yard_msg_error_text(reply);
        s_fail(p, "%s%s%s: %s%s%s", c->target, c->op ? " " : "", c->op ? c->op : "",
               st == YARD_E_SERVICE && app ? app : yard_err_name(st), text && text[0] ? ": " : "",
               text ? text : "");
    } else {
        snprintf(p->res.error, sizeof p->res.error, "replied");
    }
    s_end(p);
}

/* The live replicas of service in a `$sys services` reply, or -1 when it is not listed. */
static int64_t
s_replicas_in(const void *body, size_t size, const char *service)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object m;
    const msgpack_object *list = NULL;
    int64_t found = -1;
    if (yard_mp_decode(body, size, &zone, &m, NULL, 0) == 0 &&
        yard_mp_get_array(&m, "services", &list, NULL, 0) == 0) {
        for (uint32_t i = 0; i < list->via.array.size && found < 0; i++) {
            yard_str_t name;
            int64_t n = 0;
            const msgpack_object *s = &list->via.array.ptr[i];
            if (yard_mp_get_str(s, "name", &name, NULL, 0) == 0 && name.len == strlen(service) &&
                memcmp(name.ptr, service, name.len) == 0 &&
                yard_mp_get_int(s, "replicas", &n, NULL, 0) == 0) {
                found = n;
            }
        }
    }
    msgpack_zone_destroy(&zone);
    return found;
}

static void
s_sys_done(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    s_probe_t *p = arg;
    const hc_check_t *c = p->check;
    int st = yard_msg_status(reply);
    if (st != 0) {
        snprintf(p->sys_error, sizeof p->sys_error, "$sys services: %s", yard_err_name(st));
    } else {
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        int64_t n = s_replicas_in(body, size, c->target);
        p->res.replicas = n < 0 ? 0 : n;
        if (p->res.replicas < c->min_replicas) {
            snprintf(p->sys_error, sizeof p->sys_error,
                     "live replicas of %s: %lld (min_replicas %lld)", c->target,
                     (long long)p->res.replicas, (long long)c->min_replicas);
        }
    }
    s_end(p);
}

static int
s_bus_start(s_probe_t *p)
{
    const hc_check_t *c = p->check;
    int rc = yard_bus_call(p->ctx, c->target, c->op, NULL, 0, c->timeout_ms, s_bus_done, p);
    if (rc != 0 || c->min_replicas == 0) {
        return rc;
    }
    p->pending++;
    if (yard_bus_call(p->ctx, "$sys", "services", NULL, 0, c->timeout_ms, s_sys_done, p) != 0) {
        p->pending--; /* the first call is out: report this one through it */
        snprintf(p->sys_error, sizeof p->sys_error, "$sys services could not be asked");
    }
    return 0;
}

/* --- tcp ------------------------------------------------------------------------------------ */

static void
s_tcp_done(int err, const char *why, void *arg)
{
    s_probe_t *p = arg;
    p->res.latency_ms = s_elapsed(p);
    p->res.ok = err == 0;
    p->res.aborted = err == YARD_E_SHUTDOWN;
    if (err != 0) {
        s_fail(p, "%s", why && why[0] ? why : yard_err_name(err));
    } else {
        snprintf(p->res.error, sizeof p->res.error, "connected");
    }
    s_end(p);
}

static int
s_tcp_start(s_probe_t *p)
{
    hc_tcp_t *t = hc_health_tcp(p->ctx);
    if (!t) {
        return YARD_E_SHUTDOWN;
    }
    return hc_tcp_connect(t, p->check->target, p->check->timeout_ms, s_tcp_done, p);
}

int
hc_probe_start(yard_ctx_t *ctx, const hc_check_t *check, hc_probe_fn *cb, void *arg)
{
    s_probe_t *p = calloc(1, sizeof *p);
    if (!p) {
        abort();
    }
    *p = (s_probe_t){.ctx = ctx, .check = check, .cb = cb, .arg = arg, .pending = 1};
    p->res.cert_days = -1;
    p->res.replicas = -1;
    p->start = yard_loop_now_ms();
    int rc = check->kind == HC_HTTP  ? s_http_start(p)
             : check->kind == HC_BUS ? s_bus_start(p)
                                     : s_tcp_start(p);
    if (rc != 0) {
        free(p);
    }
    return rc;
}
