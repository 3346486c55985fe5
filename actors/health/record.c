/* A check's record in the state store: its state machine (down after down_after failures in
 * a row, up after up_after successes in a row), its last run, and its uptime buckets (60
 * minute buckets for the last hour, 168 hour buckets for the last week, each a count of runs
 * and of successful runs, kept as rings indexed by the minute or hour since the epoch).
 *
 * One key per check ("health:rec:<name>", a msgpack map, TTL 8 days, refreshed by each run),
 * so one read gives everything status, metrics and page show, and one write stores a run. */
#include "health_internal.h"

#include "yard/error.h"
#include "yard/mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
hc_record_key(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "health:rec:%s", name);
}

void
hc_record_fresh(hc_record_t *r)
{
    memset(r, 0, sizeof *r);
    r->cert_days = -1;
}

static void
s_ring(yard_mpw_t *w, const char *key, const uint32_t *v, size_t n)
{
    yard_mpw_key(w, key);
    yard_mpw_array(w);
    for (size_t i = 0; i < n; i++) {
        yard_mpw_uint(w, v[i]);
    }
    yard_mpw_end(w);
}

int
hc_record_save(yard_store_t *store, const char *name, const hc_record_t *r)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kint(w, "state", r->state);
    yard_mpw_kint(w, "since", r->since_ms);
    yard_mpw_kint(w, "fails", r->fails);
    yard_mpw_kint(w, "oks", r->oks);
    yard_mpw_kint(w, "runs", r->runs);
    yard_mpw_kint(w, "last_run", r->last_run_ms);
    yard_mpw_kuint(w, "latency", r->last_latency_ms);
    yard_mpw_kbool(w, "last_ok", r->last_ok);
    yard_mpw_kstr(w, "error", r->last_error);
    yard_mpw_kint(w, "cert_days", r->cert_days);
    yard_mpw_kint(w, "minute", r->minute);
    s_ring(w, "min_ok", r->min_ok, HC_MINUTES);
    s_ring(w, "min_n", r->min_n, HC_MINUTES);
    yard_mpw_kint(w, "hour", r->hour);
    s_ring(w, "hour_ok", r->hour_ok, HC_HOURS);
    s_ring(w, "hour_n", r->hour_n, HC_HOURS);
    yard_mpw_end(w);
    const void *data = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &data, &size);
    if (rc == 0) {
        char key[HC_NAME_MAX + 16];
        hc_record_key(name, key, sizeof key);
        rc = yard_store_set(store, key, data, size, HC_RECORD_TTL_MS);
    }
    yard_mpw_destroy(&w);
    return rc;
}

static void
s_read_ring(const msgpack_object *map, const char *key, uint32_t *v, size_t n)
{
    const msgpack_object *a = yard_mp_find(map, key);
    if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != n) {
        return; /* a ring of another size (an older layout) starts empty */
    }
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *o = &a->via.array.ptr[i];
        v[i] = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= UINT32_MAX
                   ? (uint32_t)o->via.u64
                   : 0;
    }
}

int
hc_record_decode(const void *data, size_t size, hc_record_t *out)
{
    hc_record_fresh(out);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    msgpack_object m;
    int rc = yard_mp_decode(data, size, &zone, &m, NULL, 0);
    if (rc == 0 && m.type != MSGPACK_OBJECT_MAP) {
        rc = YARD_E_BAD_REQUEST;
    }
    if (rc == 0) {
        int64_t v = 0;
        if (yard_mp_get_int_range(&m, "state", HC_UNKNOWN, HC_DOWN, &v, NULL, 0) == 0) {
            out->state = (hc_state_t)v;
        }
        yard_mp_get_int(&m, "since", &out->since_ms, NULL, 0);
        yard_mp_get_int(&m, "fails", &out->fails, NULL, 0);
        yard_mp_get_int(&m, "oks", &out->oks, NULL, 0);
        yard_mp_get_int(&m, "runs", &out->runs, NULL, 0);
        yard_mp_get_int(&m, "last_run", &out->last_run_ms, NULL, 0);
        if (yard_mp_get_int_range(&m, "latency", 0, UINT32_MAX, &v, NULL, 0) == 0) {
            out->last_latency_ms = (uint32_t)v;
        }
        yard_mp_get_bool(&m, "last_ok", &out->last_ok, NULL, 0);
        yard_mp_get_strbuf(&m, "error", out->last_error, sizeof out->last_error, NULL, 0);
        yard_mp_get_int(&m, "cert_days", &out->cert_days, NULL, 0);
        yard_mp_get_int(&m, "minute", &out->minute, NULL, 0);
        yard_mp_get_int(&m, "hour", &out->hour, NULL, 0);
        s_read_ring(&m, "min_ok", out->min_ok, HC_MINUTES);
        s_read_ring(&m, "min_n", out->min_n, HC_MINUTES);
        s_read_ring(&m, "hour_ok", out->hour_ok, HC_HOURS);
        s_read_ring(&m, "hour_n", out->hour_n, HC_HOURS);
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

int
hc_record_load(yard_store_t *store, const char *name, hc_record_t *out)
{
    char key[HC_NAME_MAX + 16];
    hc_record_key(name, key, sizeof key);
    char *val = NULL;
    size_t len = 0;
    hc_record_fresh(out);
    int rc = yard_store_get(store, key, &val, &len);
    if (rc == YARD_E_NOT_FOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (hc_record_decode(val, len, out) != 0) {
        hc_record_fresh(out); /* unreadable: start over rather than stop checking */
    }
    free(val);
    return 0;
}

/* Moves a ring forward to slot `now` (a minute or hour number), clearing the slots it skips:
 * a gap of more than the ring's length clears it all. */
static void
s_advance(int64_t *at, int64_t now, uint32_t *ok, uint32_t *n, size_t len)
{
    if (now <= *at) {
        return; /* the same slot, or a clock that went back: count into the newest */
    }
    int64_t steps = now - *at;
    for (int64_t s = 1; s <= steps && s <= (int64_t)len; s++) {
        size_t i = (size_t)((*at + s) % (int64_t)len);
        ok[i] = 0;
        n[i] = 0;
    }
    *at = now;
}

static void
s_count(hc_record_t *r, int64_t now_ms, bool ok)
{
    int64_t minute = now_ms / 60000, hour = now_ms / 3600000;
    if (r->runs == 0 && r->minute == 0) {
        r->minute = minute;
        r->hour = hour;
    }
    s_advance(&r->minute, minute, r->min_ok, r->min_n, HC_MINUTES);
    s_advance(&r->hour, hour, r->hour_ok, r->hour_n, HC_HOURS);
    size_t mi = (size_t)(r->minute % HC_MINUTES), hi = (size_t)(r->hour % HC_HOURS);
    r->min_n[mi]++;
    r->hour_n[hi]++;
    r->min_ok[mi] += ok;
    r->hour_ok[hi] += ok;
}

static void
s_set_state(hc_record_t *r, hc_state_t to, int64_t now_ms, hc_transition_t *t)
{
    t->changed = true;
    t->from = r->state;
    t->duration_ms = r->since_ms > 0 && now_ms > r->since_ms ? now_ms - r->since_ms : 0;
    t->announce = to == HC_DOWN || r->state == HC_DOWN;
    r->state = to;
    r->since_ms = now_ms;
}

hc_transition_t
hc_record_apply(hc_record_t *r, const hc_result_t *res, int64_t now_ms, int64_t down_after,
                int64_t up_after)
{
    hc_transition_t t = {0};
    s_count(r, now_ms, res->ok);
    r->runs++;
    r->last_run_ms = now_ms;
    r->last_latency_ms = res->latency_ms;
    r->last_ok = res->ok;
    if (res->cert_days >= 0) {
        r->cert_days = res->cert_days;
    }
    if (res->ok) {
        r->oks++;
        r->fails = 0;
        if (r->state != HC_UP && r->oks >= up_after) {
            s_set_state(r, HC_UP, now_ms, &t);
        }
    } else {
        snprintf(r->last_error, sizeof r->last_error, "%s", res->error);
        r->fails++;
        r->oks = 0;
        if (r->state != HC_DOWN && r->fails >= down_after) {
            s_set_state(r, HC_DOWN, now_ms, &t);
        }
    }
    return t;
}

double
hc_record_uptime(const hc_record_t *r, int64_t now_ms, int64_t minutes)
{
    uint64_t ok = 0, n = 0;
    if (minutes <= HC_MINUTES) {
        int64_t now = now_ms / 60000;
        for (int64_t m = now - minutes + 1; m <= now && m <= r->minute; m++) {
            if (m < 0 || r->minute - m >= HC_MINUTES) {
                continue;
            }
            size_t i = (size_t)(m % HC_MINUTES);
            ok += r->min_ok[i];
            n += r->min_n[i];
        }
    } else {
        int64_t now = now_ms / 3600000, hours = (minutes + 59) / 60;
        for (int64_t h = now - hours + 1; h <= now && h <= r->hour; h++) {
            if (h < 0 || r->hour - h >= HC_HOURS) {
                continue;
            }
            size_t i = (size_t)(h % HC_HOURS);
            ok += r->hour_ok[i];
            n += r->hour_n[i];
        }
    }
    return n == 0 ? -1.0 : (double)ok / (double)n;
}
