/* The driver's record, its per-phase summary and its checks (mh_record.h).
 *
 * The longest gap of a phase is measured on the arrival times of successful replies: from
 * the last reply before the phase began (or its start, when there was none) to each reply
 * inside it, and from the last one to the phase's end. An outage that begins in a phase is
 * counted whole in that phase, since the reply before it and the one after it are a pair.
 *
 * A publication counts as received by a subscriber when it arrived within the window of
 * being made; one that came later (held somewhere through an outage) is "late", which is
 * as bad as missing for a subscriber that acts on it: a publisher that does not notice its
 * broker is gone can hold publications in its TCP buffer until the link returns. */
#include "mh_record.h"

#include "yard/error.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define S_ERR_SLOTS 64 /* wire error codes are small; anything above counts in the last slot */

typedef struct {
    uint64_t issued, replies, errors, pending, wrong_body;
    uint64_t errors_within; /* errors that came before the phase ended (not the next fault's) */
    uint64_t by_code[S_ERR_SLOTS];
    int64_t p50_us, p99_us, max_us, max_gap_us;
} s_calls_t;

typedef struct {
    uint64_t missing, late, lost_after_window, duplicates;
    int64_t max_delay_us;
} s_sub_t;

typedef struct {
    uint64_t published, publish_errors;
    s_sub_t sub[MH_SUBS];
} s_pubs_t;

static void *
s_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        abort();
    }
    return p;
}

mh_record_t *
mh_record_new(size_t calls_cap, size_t pubs_cap)
{
    mh_record_t *self = s_xcalloc(1, sizeof *self);
    self->calls = s_xcalloc(calls_cap, sizeof *self->calls);
    self->calls_cap = calls_cap;
    self->pub_us = s_xcalloc(pubs_cap, sizeof *self->pub_us);
    self->pub_phase = s_xcalloc(pubs_cap, sizeof *self->pub_phase);
    self->pub_status = s_xcalloc(pubs_cap, sizeof *self->pub_status);
    self->pubs_cap = pubs_cap;
    for (int i = 0; i < MH_SUBS; i++) {
        self->got[i] = s_xcalloc(pubs_cap, sizeof *self->got[i]);
        self->first_us[i] = s_xcalloc(pubs_cap, sizeof *self->first_us[i]);
    }
    self->rejoin_ms = -1;
    atomic_init(&self->n_phases, 0);
    return self;
}

void
mh_record_destroy(mh_record_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    mh_record_t *self = *self_p;
    free(self->calls);
    free(self->pub_us);
    free(self->pub_phase);
    free(self->pub_status);
    for (int i = 0; i < MH_SUBS; i++) {
        free(self->got[i]);
        free(self->first_us[i]);
    }
    free(self);
    *self_p = NULL;
}

int
mh_record_phase_begin(mh_record_t *self, const char *name, int64_t now_us)
{
    int n = atomic_load_explicit(&self->n_phases, memory_order_relaxed);
    size_t len = strlen(name);
    if (n >= MH_PHASES_MAX || len == 0 || len >= MH_NAME_MAX) {
        return -1;
    }
    memcpy(self->phases[n].name, name, len + 1);
    self->phases[n].start_us = now_us;
    atomic_store_explicit(&self->n_phases, n + 1, memory_order_release);
    return n;
}

int
mh_record_phase(mh_record_t *self)
{
    return atomic_load_explicit(&self->n_phases, memory_order_acquire) - 1;
}

/* --- the summary's figures --------------------------------------------------------------- */

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t
s_phase_end(const mh_record_t *self, int p, int n_phases)
{
    return p + 1 < n_phases ? self->phases[p + 1].start_us : self->end_us;
}

/* Reply arrival times, sorted. Caller frees. */
static int64_t *
s_reply_times(const mh_record_t *self, size_t *n)
{
    int64_t *t = s_xcalloc(self->n_calls, sizeof *t);
    *n = 0;
    for (size_t i = 0; i < self->n_calls; i++) {
        if (self->calls[i].done_us && self->calls[i].status == 0) {
            t[(*n)++] = self->calls[i].done_us;
        }
    }
    qsort(t, *n, sizeof *t, s_cmp_i64);
    return t;
}

static int64_t
s_max_gap(const int64_t *t, size_t n, int64_t start, int64_t end)
{
    int64_t prev = start, gap = 0;
    for (size_t i = 0; i < n && t[i] <= end; i++) {
        if (t[i] <= start) {
            prev = t[i];
            continue;
        }
        gap = t[i] - prev > gap ? t[i] - prev : gap;
        prev = t[i];
    }
    return end - prev > gap ? end - prev : gap;
}

static void
s_phase_calls(const mh_record_t *self, int p, const int64_t *times, size_t n_times, s_calls_t *c)
{
    memset(c, 0, sizeof *c);
    int n_phases = atomic_load(&((mh_record_t *)self)->n_phases);
    int64_t end = s_phase_end(self, p, n_phases);
    int64_t *lat = s_xcalloc(self->n_calls, sizeof *lat);
    size_t n_lat = 0;
    for (size_t i = 0; i < self->n_calls; i++) {
        const mh_call_t *k = &self->calls[i];
        if (k->phase != p) {
            continue;
        }
        c->issued++;
        c->wrong_body += k->wrong_body;
        if (!k->done_us) {
            c->pending++;
        } else if (k->status == 0) {
            c->replies++;
            lat[n_lat++] = k->done_us - k->issued_us;
        } else {
            c->errors++;
            c->errors_within += k->done_us < end;
            c->by_code[-k->status < S_ERR_SLOTS ? -k->status : S_ERR_SLOTS - 1]++;
        }
    }
    qsort(lat, n_lat, sizeof *lat, s_cmp_i64);
    if (n_lat) {
        c->p50_us = lat[n_lat / 2];
        c->p99_us = lat[(n_lat * 99) / 100];
        c->max_us = lat[n_lat - 1];
    }
    free(lat);
    c->max_gap_us = s_max_gap(times, n_times, self->phases[p].start_us, end);
}

static void
s_phase_pubs(const mh_record_t *self, int p, int64_t window_us, s_pubs_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t late = self->phases[p].start_us + window_us;
    for (size_t s = 0; s < self->n_pubs; s++) {
        if (self->pub_phase[s] != p) {
            continue;
        }
        if (self->pub_status[s] != 0) {
            out->publish_errors++;
            continue;
        }
        out->published++;
        for (int i = 0; i < MH_SUBS; i++) {
            s_sub_t *o = &out->sub[i];
            uint16_t g = self->got[i][s];
            int64_t delay = g ? self->first_us[i][s] - self->pub_us[s] : 0;
            bool prompt = g > 0 && delay <= window_us;
            o->missing += g == 0;
            o->late += g > 0 && !prompt;
            o->lost_after_window += !prompt && self->pub_us[s] >= late;
            o->duplicates += g > 1 ? (uint64_t)(g - 1) : 0;
            o->max_delay_us = delay > o->max_delay_us ? delay : o->max_delay_us;
        }
    }
}

/* --- the summary as JSON ----------------------------------------------------------------- */

static void
s_write_calls(yard_mpw_t *w, const s_calls_t *c)
{
    yard_mpw_key(w, "calls");
    yard_mpw_map(w);
    yard_mpw_kuint(w, "issued", c->issued);
    yard_mpw_kuint(w, "replies", c->replies);
    yard_mpw_kuint(w, "errors", c->errors);
    yard_mpw_key(w, "by_error");
    yard_mpw_map(w);
    for (int code = 1; code < S_ERR_SLOTS; code++) {
        if (c->by_code[code]) {
            yard_mpw_kuint(w, yard_err_name(-code), c->by_code[code]);
        }
    }
    yard_mpw_end(w);
    yard_mpw_kuint(w, "pending", c->pending);
    yard_mpw_kuint(w, "wrong_body", c->wrong_body);
    yard_mpw_kint(w, "p50_ms", c->p50_us / 1000);
    yard_mpw_kint(w, "p99_ms", c->p99_us / 1000);
    yard_mpw_kint(w, "max_ms", c->max_us / 1000);
    yard_mpw_kint(w, "max_gap_ms", c->max_gap_us / 1000);
    yard_mpw_end(w);
}

static void
s_write_pubs(yard_mpw_t *w, const mh_record_t *self, const s_pubs_t *p)
{
    yard_mpw_key(w, "pubs");
    yard_mpw_map(w);
    yard_mpw_kuint(w, "published", p->published);
    yard_mpw_kuint(w, "publish_errors", p->publish_errors);
    for (int i = 0; i < MH_SUBS; i++) {
        yard_mpw_key(w, self->sub_names[i]);
        yard_mpw_map(w);
        yard_mpw_kuint(w, "received", p->published - p->sub[i].missing);
        yard_mpw_kuint(w, "missing", p->sub[i].missing);
        yard_mpw_kuint(w, "late", p->sub[i].late);
        yard_mpw_kuint(w, "lost_after_window", p->sub[i].lost_after_window);
        yard_mpw_kuint(w, "duplicates", p->sub[i].duplicates);
        yard_mpw_kint(w, "max_delay_ms", p->sub[i].max_delay_us / 1000);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
}

static void
s_write_tail(yard_mpw_t *w, const mh_record_t *self)
{
    yard_mpw_key(w, "subscribers");
    yard_mpw_map(w);
    for (int i = 0; i < MH_SUBS; i++) {
        yard_mpw_key(w, self->sub_names[i]);
        yard_mpw_map(w);
        yard_mpw_kbool(w, "warm", self->sub_warm[i]);
        yard_mpw_kuint(w, "stray", self->got_stray[i]);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    yard_mpw_kuint(w, "calls_refused", self->calls_refused);
    yard_mpw_kint(w, "rejoin_ms", self->rejoin_ms);
    yard_mpw_kint(w, "rejoin_replicas", self->rejoin_replicas);
    yard_mpw_key(w, "probe");
    yard_mpw_map(w);
    static const char *const groups[2] = {"list_ab", "list_ba"};
    for (int g = 0; g < 2 && self->probed; g++) {
        yard_mpw_key(w, groups[g]);
        yard_mpw_map(w);
        yard_mpw_kint(w, "on_a", self->probe[g][0]);
        yard_mpw_kint(w, "on_b", self->probe[g][1]);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
}

static void
s_print_json(yard_mpw_t *w, FILE *out)
{
    const void *mp;
    size_t size;
    char *text = NULL;
    if (yard_mpw_finish(w, &mp, &size) != 0 ||
        yard_json_from_msgpack(mp, size, &text, NULL, NULL, 0) != 0) {
        fprintf(out, "summary {\"error\":\"%s\"}\n", yard_mpw_error(w) ? yard_mpw_error(w) : "");
        return;
    }
    fprintf(out, "summary %s\n", text);
    free(text);
}

/* --- the checks -------------------------------------------------------------------------- */

static int s_check(FILE *out, bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_check(FILE *out, bool ok, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "check %s %s ", ok ? "ok" : "FAIL", name);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    va_end(ap);
    return ok ? 0 : 1;
}

static bool
s_is_clean(const mh_checks_t *k, const char *phase)
{
    for (size_t i = 0; i < k->n_clean; i++) {
        if (strcmp(k->clean[i], phase) == 0) {
            return true;
        }
    }
    return false;
}

static int
s_check_phase(FILE *out, const mh_record_t *self, const mh_checks_t *k, int p, const s_calls_t *c,
              const s_pubs_t *pb)
{
    const char *name = self->phases[p].name;
    char what[96];
    int failed = 0;
    snprintf(what, sizeof what, "%s.gap", name);
    failed += s_check(out, c->max_gap_us <= k->window_ms * 1000, what,
                      "longest wait for a reply %lld ms (bound %lld ms)",
                      (long long)(c->max_gap_us / 1000), (long long)k->window_ms);
    snprintf(what, sizeof what, "%s.outcomes", name);
    failed += s_check(out, c->issued == c->replies + c->errors && c->wrong_body == 0, what,
                      "issued %llu = replies %llu + errors %llu; pending %llu, wrong bodies %llu",
                      (unsigned long long)c->issued, (unsigned long long)c->replies,
                      (unsigned long long)c->errors, (unsigned long long)c->pending,
                      (unsigned long long)c->wrong_body);
    bool clean = s_is_clean(k, name);
    if (clean) {
        snprintf(what, sizeof what, "%s.no_errors", name);
        failed += s_check(out, c->errors == 0 && pb->publish_errors == 0, what,
                          "call errors %llu, publish errors %llu", (unsigned long long)c->errors,
                          (unsigned long long)pb->publish_errors);
    }
    for (int i = 0; i < MH_SUBS; i++) {
        const s_sub_t *s = &pb->sub[i];
        uint64_t lost = clean ? s->missing + s->late : s->lost_after_window;
        snprintf(what, sizeof what, "%s.%s", name, self->sub_names[i]);
        failed += s_check(out, lost == 0 && s->duplicates == 0 && pb->published > 0, what,
                          "published %llu: missing %llu, late %llu (over %lld ms; longest "
                          "%lld ms), %s %llu, duplicates %llu",
                          (unsigned long long)pb->published, (unsigned long long)s->missing,
                          (unsigned long long)s->late, (long long)k->window_ms,
                          (long long)(s->max_delay_us / 1000),
                          clean ? "not received in time in a phase without faults"
                                : "made after the failover window and not received in time",
                          (unsigned long long)lost, (unsigned long long)s->duplicates);
    }
    return failed;
}

static int
s_check_rest(FILE *out, const mh_record_t *self, const mh_checks_t *k)
{
    int failed = 0;
    for (int i = 0; i < MH_SUBS; i++) {
        char what[64];
        snprintf(what, sizeof what, "warmup.%s", self->sub_names[i]);
        failed += s_check(out, self->sub_warm[i], what, "%s",
                          self->sub_warm[i] ? "received before the load began"
                                            : "received no warm-up publication within 3 s");
    }
    failed += s_check(out, self->calls_refused == 0, "capacity", "%llu calls not issued",
                      (unsigned long long)self->calls_refused);
    failed +=
        s_check(out, self->rejoin_ms >= 0 && self->rejoin_ms <= k->rejoin_max_ms, "rejoin",
                "broker A listed %d replicas %lld ms after its link came back "
                "(bound %lld ms; -1: never)",
                self->rejoin_replicas, (long long)self->rejoin_ms, (long long)k->rejoin_max_ms);
    const int(*pr)[2] = self->probe;
    failed +=
        s_check(out, self->probed && pr[0][0] + pr[0][1] == self->probe_n, "probe.counted",
                "list A,B: %d on A + %d on B of %d new clients", pr[0][0], pr[0][1], self->probe_n);
    failed += s_check(out, self->probed && pr[0][0] >= 1, "probe.rejoined",
                      "new clients listing A,B: %d of %d landed on the rejoined broker A", pr[0][0],
                      self->probe_n);
    failed +=
        s_check(out, self->probed && pr[1][0] >= 1, "probe.spread",
                "new clients listing B,A: %d of %d landed on broker A", pr[1][0], self->probe_n);
    return failed;
}

int
mh_record_report(const mh_record_t *self, const mh_checks_t *checks, FILE *out)
{
    int n_phases = atomic_load(&((mh_record_t *)self)->n_phases);
    size_t n_times = 0;
    int64_t *times = s_reply_times(self, &n_times);
    s_calls_t calls[MH_PHASES_MAX];
    s_pubs_t pubs[MH_PHASES_MAX];
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "phases");
    yard_mpw_array(w);
    for (int p = 0; p < n_phases; p++) {
        s_phase_calls(self, p, times, n_times, &calls[p]);
        s_phase_pubs(self, p, checks->window_ms * 1000, &pubs[p]);
        yard_mpw_map(w);
        yard_mpw_kstr(w, "name", self->phases[p].name);
        yard_mpw_kint(w, "at_ms", (self->phases[p].start_us - self->phases[0].start_us) / 1000);
        s_write_calls(w, &calls[p]);
        s_write_pubs(w, self, &pubs[p]);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    s_write_tail(w, self);
    yard_mpw_end(w);
    s_print_json(w, out);
    yard_mpw_destroy(&w);
    free(times);
    int failed = 0;
    for (int p = 0; p < n_phases; p++) {
        failed += s_check_phase(out, self, checks, p, &calls[p], &pubs[p]);
    }
    failed += s_check_rest(out, self, checks);
    fflush(out);
    return failed;
}
