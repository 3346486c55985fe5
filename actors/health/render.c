/* What the records look like from outside: the `status` reply (msgpack), the `metrics` text
 * (Prometheus exposition format 0.0.4) and the `page` (one self-contained HTML document: no
 * script, no external asset, inline CSS, every text HTML-escaped; it shows check names,
 * states and uptime only, since the gateway serves it without auth). */
#include "health_internal.h"

#include "yard/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
hc_records_load_all(yard_store_t *store, const hc_checks_t *checks, hc_record_t *recs)
{
    if (checks->n == 0) {
        return 0;
    }
    char keys[HC_CHECKS_MAX][HC_NAME_MAX + 16];
    const char *kp[HC_CHECKS_MAX];
    char *vals[HC_CHECKS_MAX] = {0};
    size_t lens[HC_CHECKS_MAX] = {0};
    for (size_t i = 0; i < checks->n; i++) {
        hc_record_key(checks->checks[i].name, keys[i], sizeof keys[i]);
        kp[i] = keys[i];
    }
    int rc = yard_store_mget(store, kp, checks->n, vals, lens);
    for (size_t i = 0; i < checks->n; i++) {
        if (!vals[i] || hc_record_decode(vals[i], lens[i], &recs[i]) != 0) {
            hc_record_fresh(&recs[i]);
        }
        free(vals[i]);
    }
    return rc;
}

/* --- status --------------------------------------------------------------------------------- */

static void
s_ratio(yard_mpw_t *w, const char *key, double v)
{
    yard_mpw_key(w, key);
    if (v < 0) {
        yard_mpw_nil(w);
    } else {
        yard_mpw_double(w, v);
    }
}

static void
s_status_one(const hc_check_t *c, const hc_record_t *r, int64_t now_ms, yard_mpw_t *w)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "name", c->name);
    yard_mpw_kstr(w, "kind", hc_kind_name(c->kind));
    yard_mpw_kstr(w, "target", c->target);
    if (c->op) {
        yard_mpw_kstr(w, "op", c->op);
    }
    yard_mpw_kuint(w, "every_ms", c->every_ms);
    yard_mpw_kuint(w, "timeout_ms", c->timeout_ms);
    yard_mpw_kstr(w, "state", hc_state_name(r->state));
    yard_mpw_kint(w, "since_ms", r->since_ms);
    yard_mpw_kint(w, "for_ms", r->since_ms > 0 && now_ms > r->since_ms ? now_ms - r->since_ms : 0);
    yard_mpw_kint(w, "runs", r->runs);
    yard_mpw_kint(w, "fails_in_a_row", r->fails);
    yard_mpw_kint(w, "oks_in_a_row", r->oks);
    yard_mpw_kint(w, "last_run_ms", r->last_run_ms);
    if (r->runs > 0) {
        yard_mpw_kbool(w, "last_ok", r->last_ok);
        yard_mpw_kuint(w, "last_latency_ms", r->last_latency_ms);
    }
    yard_mpw_kstr(w, "last_error", r->last_error);
    if (r->cert_days >= 0) {
        yard_mpw_kint(w, "cert_days", r->cert_days);
    }
    yard_mpw_key(w, "uptime");
    yard_mpw_map(w);
    s_ratio(w, "1h", hc_record_uptime(r, now_ms, 60));
    s_ratio(w, "24h", hc_record_uptime(r, now_ms, 24 * 60));
    s_ratio(w, "7d", hc_record_uptime(r, now_ms, 7 * 24 * 60));
    yard_mpw_end(w);
    yard_mpw_end(w);
}

void
hc_render_status(const hc_checks_t *checks, const hc_record_t *recs, int64_t now_ms, yard_mpw_t *w)
{
    int64_t count[3] = {0, 0, 0};
    yard_mpw_map(w);
    yard_mpw_key(w, "checks");
    yard_mpw_array(w);
    for (size_t i = 0; i < checks->n; i++) {
        s_status_one(&checks->checks[i], &recs[i], now_ms, w);
        count[recs[i].state]++;
    }
    yard_mpw_end(w);
    yard_mpw_kint(w, "up", count[HC_UP]);
    yard_mpw_kint(w, "down", count[HC_DOWN]);
    yard_mpw_kint(w, "unknown", count[HC_UNKNOWN]);
    yard_mpw_kint(w, "now_ms", now_ms);
    if (checks->n == 0) {
        yard_mpw_kstr(w, "note",
                      "no checks configured: the actor idles (add health.checks; "
                      "actors/health/README.md)");
    }
    yard_mpw_end(w);
}

/* --- a growing text buffer ------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
} s_buf_t;

static void __attribute__((format(printf, 2, 3))) s_put(s_buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            abort();
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n) {
            cap *= 2;
        }
        char *grown = realloc(b->p, cap);
        if (!grown) {
            abort();
        }
        b->p = grown;
        b->cap = cap;
    }
}

/* Text into HTML: & < > " ' escaped (names are restricted, but the page escapes anyway). */
static void
s_put_html(s_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            s_put(b, "&amp;");
            break;
        case '<':
            s_put(b, "&lt;");
            break;
        case '>':
            s_put(b, "&gt;");
            break;
        case '"':
            s_put(b, "&quot;");
            break;
        case '\'':
            s_put(b, "&#39;");
            break;
        default:
            s_put(b, "%c", *s);
        }
    }
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void
s_put_label(s_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            s_put(b, "\\%c", *s);
        } else if (*s == '\n') {
            s_put(b, "\\n");
        } else {
            s_put(b, "%c", *s);
        }
    }
}

/* --- metrics -------------------------------------------------------------------------------- */

static void
s_metric_head(s_buf_t *b, const char *name, const char *help)
{
    s_put(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void
s_metric_labels(s_buf_t *b, const char *name, const hc_check_t *c)
{
    s_put(b, "%s{check=\"", name);
    s_put_label(b, c->name);
    s_put(b, "\",kind=\"%s\"} ", hc_kind_name(c->kind));
}

char *
hc_render_metrics(const hc_checks_t *checks, const hc_record_t *recs, size_t *len)
{
    s_buf_t b = {0};
    s_put(&b, "%s", "");
    s_metric_head(&b, "health_check_up", "1 when the check is up, 0 when down, -1 while unknown");
    for (size_t i = 0; i < checks->n; i++) {
        s_metric_labels(&b, "health_check_up", &checks->checks[i]);
        s_put(&b, "%d\n", recs[i].state == HC_UP ? 1 : recs[i].state == HC_DOWN ? 0 : -1);
    }
    s_metric_head(&b, "health_check_latency_seconds", "how long the check's last run took");
    for (size_t i = 0; i < checks->n; i++) {
        if (recs[i].runs > 0) {
            s_metric_labels(&b, "health_check_latency_seconds", &checks->checks[i]);
            s_put(&b, "%.3f\n", recs[i].last_latency_ms / 1000.0);
        }
    }
    s_metric_head(&b, "health_check_cert_days", "days until the TLS certificate expires");
    for (size_t i = 0; i < checks->n; i++) {
        if (recs[i].cert_days >= 0) {
            s_metric_labels(&b, "health_check_cert_days", &checks->checks[i]);
            s_put(&b, "%lld\n", (long long)recs[i].cert_days);
        }
    }
    *len = b.len;
    return b.p;
}

/* --- page ----------------------------------------------------------------------------------- */

static const char s_css[] =
    "body{font:16px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
    "max-width:760px;padding:16px;color:#1d1d1f;background:#f5f5f7}"
    "h1{font-size:1.4em;margin:0 0 4px}.sum{margin:0 0 16px;color:#555}"
    "ul{list-style:none;margin:0;padding:0}"
    "li{background:#fff;border-radius:10px;padding:10px 12px;margin:0 0 8px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    ".row{display:flex;align-items:center;gap:8px;flex-wrap:wrap}"
    ".dot{width:12px;height:12px;border-radius:50%;flex:none}"
    ".up .dot{background:#2e9d4e}.down .dot{background:#d0342c}.unknown .dot{background:#999}"
    ".name{font-weight:600;flex:1 1 auto;overflow-wrap:anywhere}"
    ".state{font-weight:600;text-transform:uppercase;font-size:.85em}"
    ".up .state{color:#2e9d4e}.down .state{color:#d0342c}.unknown .state{color:#777}"
    ".pct{color:#555;font-size:.85em;width:100%}.u{white-space:nowrap}"
    ".bars{display:flex;gap:2px;margin-top:6px;height:22px}"
    ".bars i{flex:1;border-radius:2px;background:#ddd}"
    ".bars i.g{background:#2e9d4e}.bars i.a{background:#e0a800}.bars i.r{background:#d0342c}"
    ".foot{color:#777;font-size:.8em;margin-top:12px}";

static void
s_put_pct(s_buf_t *b, const char *label, double v)
{
    if (v < 0) {
        s_put(b, "<span class=\"u\">%s —</span>", label);
    } else if (v >= 1.0) {
        s_put(b, "<span class=\"u\">%s 100%%</span>", label);
    } else {
        s_put(b, "<span class=\"u\">%s %.2f%%</span>", label, v * 100.0);
    }
}

/* One bar per hour of the last 24: green all passed, amber some failed, red most failed,
 * grey no runs. Oldest first. */
static void
s_put_bars(s_buf_t *b, const hc_record_t *r, int64_t now_ms)
{
    int64_t now = now_ms / 3600000;
    s_put(b, "<div class=\"bars\">");
    for (int64_t h = now - 23; h <= now; h++) {
        uint32_t ok = 0, n = 0;
        if (h >= 0 && h <= r->hour && r->hour - h < HC_HOURS) {
            ok = r->hour_ok[h % HC_HOURS];
            n = r->hour_n[h % HC_HOURS];
        }
        const char *cls = n == 0 ? "" : ok == n ? "g" : ok * 2 >= n ? "a" : "r";
        s_put(b, "<i class=\"%s\"></i>", cls);
    }
    s_put(b, "</div>");
}

static void
s_put_duration(s_buf_t *b, int64_t ms)
{
    int64_t m = ms / 60000;
    if (m == 0) {
        s_put(b, "%lld s", (long long)(ms / 1000));
    } else if (m < 60) {
        s_put(b, "%lld min", (long long)m);
    } else if (m < 48 * 60) {
        s_put(b, "%lld h %lld min", (long long)(m / 60), (long long)(m % 60));
    } else {
        s_put(b, "%lld d %lld h", (long long)(m / 1440), (long long)(m / 60 % 24));
    }
}

static void
s_page_check(s_buf_t *b, const hc_check_t *c, const hc_record_t *r, int64_t now_ms)
{
    const char *st = hc_state_name(r->state);
    s_put(b, "<li class=\"%s\"><div class=\"row\"><span class=\"dot\"></span><span class=\"name\">",
          st);
    s_put_html(b, c->name);
    s_put(b, "</span><span class=\"state\">%s</span></div><div class=\"pct\">", st);
    if (r->since_ms > 0 && now_ms > r->since_ms) {
        s_put(b, "<span class=\"u\">for ");
        s_put_duration(b, now_ms - r->since_ms);
        s_put(b, "</span> · ");
    }
    s_put_pct(b, "1 h", hc_record_uptime(r, now_ms, 60));
    s_put(b, " · ");
    s_put_pct(b, "24 h", hc_record_uptime(r, now_ms, 24 * 60));
    s_put(b, " · ");
    s_put_pct(b, "7 d", hc_record_uptime(r, now_ms, 7 * 24 * 60));
    s_put(b, "</div>");
    s_put_bars(b, r, now_ms);
    s_put(b, "</li>");
}

char *
hc_render_page(const hc_checks_t *checks, const hc_record_t *recs, int64_t now_ms, size_t *len)
{
    s_buf_t b = {0};
    size_t down = 0, up = 0;
    for (size_t i = 0; i < checks->n; i++) {
        down += recs[i].state == HC_DOWN;
        up += recs[i].state == HC_UP;
    }
    s_put(&b,
          "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
          "<meta http-equiv=\"refresh\" content=\"30\"><title>Status</title><style>%s</style>"
          "</head><body><h1>Status</h1><p class=\"sum\">",
          s_css);
    if (checks->n == 0) {
        s_put(&b, "No checks are configured.");
    } else if (down > 0) {
        s_put(&b, "%zu of %zu checks down", down, checks->n);
    } else if (up == checks->n) {
        s_put(&b, "All %zu checks up", checks->n);
    } else {
        s_put(&b, "%zu of %zu checks up, the rest not known yet", up, checks->n);
    }
    s_put(&b, "</p><ul>");
    for (size_t i = 0; i < checks->n; i++) {
        s_page_check(&b, &checks->checks[i], &recs[i], now_ms);
    }
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    char when[32] = "";
    if (gmtime_r(&t, &tm)) {
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    s_put(&b, "</ul><p class=\"foot\">Updated ");
    s_put_html(&b, when);
    s_put(&b, "; bars: the last 24 hours, one per hour.</p></body></html>\n");
    *len = b.len;
    return b.p;
}
