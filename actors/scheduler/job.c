/* Jobs: reading one from a msgpack map with errors that name the field, packing it back, and
 * its next fire time. */
#include "job.h"
#include "timetext.h"

#include "yard/error.h"
#include "yard/subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_EVERY_MAX_MS   (10LL * 365 * 86400 * 1000) /* the longest interval and grace */
#define S_BACKOFF_MAX_MS S_EVERY_MAX_MS
#define S_JITTER_MAX_MS  (86400LL * 1000)

/* --- reading fields (yard/mp.h readers; nil reads as absent) ---------------------------- */

static int
s_fail(char *why, size_t whylen, const char *field, const char *what)
{
    yard_mp_field_err(why, whylen, field, "%s", what);
    return -1;
}

/* A reader's result as a count: 1 present (read), 0 absent, -1 bad (why says why). */
static int
s_had(int rc)
{
    return rc == 0 ? 1 : rc == YARD_E_NOT_FOUND ? 0 : -1;
}

static int
s_str(const msgpack_object *m, const char *key, char *buf, size_t cap, char *why, size_t whylen)
{
    return s_had(yard_mp_get_strbuf(m, key, buf, cap, why, whylen));
}

static int
s_int(const msgpack_object *m, const char *key, int64_t min, int64_t max, int64_t *out, char *why,
      size_t whylen)
{
    return s_had(yard_mp_get_int_range(m, key, min, max, out, why, whylen));
}

static int
s_bool(const msgpack_object *m, const char *key, bool *out, char *why, size_t whylen)
{
    return s_had(yard_mp_get_bool(m, key, out, why, whylen));
}

/* A duration (timetext.h) into *ms: an integer or float number of seconds, or text ("90s",
 * "1h30m", "0.5s"), to the millisecond. Between min_ms and max_ms. */
static int
s_duration(const msgpack_object *m, const char *key, int64_t min_ms, int64_t max_ms, int64_t *out,
           char *why, size_t whylen)
{
    const msgpack_object *v = yard_mp_find(m, key);
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    int64_t ms = 0;
    char text[SCHED_DURATION_TEXT_MAX + 1], dwhy[160];
    if (v->type == MSGPACK_OBJECT_STR) {
        if (v->via.str.size >= sizeof text || memchr(v->via.str.ptr, '\0', v->via.str.size)) {
            yard_mp_field_err(
                why, whylen, key,
                "is longer than %d characters or holds a NUL: not a duration (e.g. 90, "
                "\"30s\", \"1h30m\")",
                SCHED_DURATION_TEXT_MAX);
            return -1;
        }
        memcpy(text, v->via.str.ptr, v->via.str.size);
        text[v->via.str.size] = '\0';
        if (sched_duration_parse(text, &ms, dwhy, sizeof dwhy) != 0) {
            return s_fail(why, whylen, key, dwhy);
        }
    } else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        ms = v->via.u64 > (uint64_t)(max_ms / 1000) ? max_ms + 1 : (int64_t)v->via.u64 * 1000;
    } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        ms = -1;
    } else if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64) {
        double d = v->via.f64; /* NaN fails both comparisons below */
        ms = d < 0                             ? -1
             : !(d * 1000.0 <= (double)max_ms) ? max_ms + 1
                                               : (int64_t)(d * 1000.0 + 0.5);
    } else {
        return s_fail(why, whylen, key, "must be a number of seconds or a duration text");
    }
    if (ms < min_ms || ms > max_ms) {
        char lo[SCHED_DURATION_TEXT_MAX], hi[SCHED_DURATION_TEXT_MAX];
        sched_duration_format(min_ms, lo, sizeof lo);
        sched_duration_format(max_ms, hi, sizeof hi);
        yard_mp_field_err(why, whylen, key, "must be between %s and %s", min_ms ? lo : "0", hi);
        return -1;
    }
    *out = ms;
    return 1;
}

/* An instant: unix seconds, or ISO 8601 text (timetext.h) with an offset or "Z", or without
 * one in the job's zone. */
static int
s_instant(const msgpack_object *m, const char *key, const sched_zone_t *z, int64_t *out, char *why,
          size_t whylen)
{
    const msgpack_object *v = yard_mp_find(m, key);
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        return s_int(m, key, 1, SCHED_INSTANT_LAST, out, why, whylen);
    }
    char text[SCHED_INSTANT_TEXT_MAX + 1], iwhy[200];
    if (v->via.str.size >= sizeof text || memchr(v->via.str.ptr, '\0', v->via.str.size)) {
        yard_mp_field_err(why, whylen, key,
                          "is longer than %d characters or holds a NUL: not an ISO 8601 time "
                          "(e.g. 2027-10-31T02:30:00+01:00)",
                          SCHED_INSTANT_TEXT_MAX);
        return -1;
    }
    memcpy(text, v->via.str.ptr, v->via.str.size);
    text[v->via.str.size] = '\0';
    if (sched_instant_parse(text, z, out, iwhy, sizeof iwhy) != 0) {
        return s_fail(why, whylen, key, iwhy);
    }
    return 1;
}

static bool
s_id_ok(const char *id)
{
    if (!id[0]) {
        return false;
    }
    for (const char *c = id; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* --- the job ----------------------------------------------------------------------------- */

/* "@every <duration>" (the cron macro form of robfig/cron and Go users): 1 with *every set,
 * 0 when cron is not that form, -1 with why. */
static int
s_every_macro(const char *cron, int64_t *every_ms, char *why, size_t whylen)
{
    cron += strspn(cron, " \t");
    if (strncasecmp(cron, "@every", 6) != 0 || (cron[6] && cron[6] != ' ' && cron[6] != '\t')) {
        return 0;
    }
    const char *d = cron + 6;
    while (*d == ' ' || *d == '\t') {
        d++;
    }
    char text[SCHED_DURATION_TEXT_MAX + 1], dwhy[160];
    size_t n = strcspn(d, " \t");
    if (n == 0 || n >= sizeof text || d[n + strspn(d + n, " \t")]) {
        return s_fail(why, whylen, "cron", "'@every' takes one duration, e.g. '@every 5m'");
    }
    memcpy(text, d, n);
    text[n] = '\0';
    if (sched_duration_parse(text, every_ms, dwhy, sizeof dwhy) != 0) {
        yard_mp_field_err(why, whylen, "cron", "'@every': %s", dwhy);
        return -1;
    }
    return 1;
}

/* The trigger: exactly one of cron, every and at, its zone and bounds. Nothing here depends
 * on the time of the call beyond an interval's default start, so a stored job always reads
 * back; whether a job can still fire is sched_job_check_fires()'s question. */
static int
s_trigger(sched_job_t *j, const msgpack_object *m, int64_t now, char *why, size_t whylen)
{
    int64_t every_ms = 0;
    int hc = s_str(m, "cron", j->cron, sizeof j->cron, why, whylen);
    int he =
        hc < 0 ? -1
               : s_duration(m, "every", SCHED_EVERY_MIN_MS, S_EVERY_MAX_MS, &every_ms, why, whylen);
    if (hc < 0 || he < 0) {
        return -1;
    }
    int macro = hc > 0 ? s_every_macro(j->cron, &every_ms, why, whylen) : 0;
    if (macro < 0) {
        return -1;
    }
    if (macro > 0) {
        if (every_ms < SCHED_EVERY_MIN_MS || every_ms > S_EVERY_MAX_MS) {
            return s_fail(why, whylen, "cron", "'@every' must be between 100ms and 3650d");
        }
        hc = 0;
        he += 1;
        j->cron[0] = '\0';
    }
    int tz = s_str(m, "tz", j->tz, sizeof j->tz, why, whylen);
    if (tz < 0) {
        return -1;
    }
    if (tz == 0) {
        snprintf(j->tz, sizeof j->tz, "UTC");
    }
    char zwhy[160];
    if (sched_zone_open(j->tz, &j->zone, zwhy, sizeof zwhy) != 0) {
        return s_fail(why, whylen, "tz", zwhy);
    }
    int ha = s_instant(m, "at", j->zone, &j->at, why, whylen);
    if (ha < 0 || s_instant(m, "start", j->zone, &j->start, why, whylen) < 0 ||
        s_instant(m, "end", j->zone, &j->end, why, whylen) < 0) {
        return -1;
    }
    if (hc + he + ha != 1) {
        snprintf(why, whylen, "exactly one of 'cron', 'every' or 'at' is required");
        return -1;
    }
    if (hc) {
        j->kind = SCHED_CRON;
        char cwhy[160];
        if (sched_cron_parse(j->cron, &j->cronc, cwhy, sizeof cwhy) != 0) {
            return s_fail(why, whylen, "cron", cwhy);
        }
    } else if (he) {
        j->kind = SCHED_INTERVAL;
        j->every_ms = every_ms;
        if (!j->start) {
            j->start = now; /* stored, so every replica and every restart counts from it */
        }
    } else {
        j->kind = SCHED_DATE;
    }
    return 0;
}

static int
s_target(sched_job_t *j, const msgpack_object *m, char *why, size_t whylen)
{
    int hs = s_str(m, "service", j->service, sizeof j->service, why, whylen);
    int hp = hs < 0 ? -1 : s_str(m, "subject", j->subject, sizeof j->subject, why, whylen);
    char mode[16] = "";
    if (hp < 0 || s_str(m, "op", j->op, sizeof j->op, why, whylen) < 0 ||
        s_str(m, "mode", mode, sizeof mode, why, whylen) < 0) {
        return -1;
    }
    if (hs + hp != 1) {
        snprintf(why, whylen, "exactly one of 'service' or 'subject' (the target) is required");
        return -1;
    }
    /* A target the broker would refuse on every run is refused now: wildcards are for
     * subscribing, and '$' subjects are the broker's own. */
    const char *name = hp ? j->subject : j->service;
    if (!yard_subject_valid((yard_str_t){name, (uint32_t)strlen(name)})) {
        return s_fail(why, whylen, hp ? "subject" : "service",
                      "must be dot-separated tokens of printable ASCII, without spaces or the "
                      "wildcards '*' and '>' (those are for subscribing)");
    }
    if (hp && j->subject[0] == '$') {
        return s_fail(why, whylen, "subject", "must not start with '$' (the broker's subjects)");
    }
    if (hp) {
        j->mode = SCHED_PUBLISH;
        if (mode[0] && strcmp(mode, "publish") != 0) {
            return s_fail(why, whylen, "mode", "must be 'publish' (or absent) with 'subject'");
        }
    } else if (!mode[0] || strcmp(mode, "call") == 0) {
        j->mode = SCHED_CALL;
    } else if (strcmp(mode, "send") == 0) {
        j->mode = SCHED_SEND;
    } else {
        return s_fail(why, whylen, "mode", "must be 'call' or 'send' with 'service'");
    }
    const msgpack_object *body = yard_mp_find(m, "body");
    if (!body || body->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_object(w, body);
    const void *data = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &data, &size) ? s_fail(why, whylen, "body", yard_mpw_error(w))
             : size > SCHED_BODY_MAX          ? s_fail(why, whylen, "body", "is over 64 KiB")
                                              : 0;
    if (rc == 0) {
        j->body = malloc(size);
        if (!j->body) {
            abort();
        }
        memcpy(j->body, data, size);
        j->body_len = size;
    }
    yard_mpw_destroy(&w);
    return rc;
}

static int
s_options(sched_job_t *j, const msgpack_object *m, char *why, size_t whylen)
{
    int64_t grace_ms = 60000;
    j->coalesce = true;
    j->max_instances = 1;
    j->deadline_ms = 30000;
    j->backoff_ms = 1000;
    if (s_duration(m, "misfire_grace", SCHED_EVERY_MIN_MS, S_EVERY_MAX_MS, &grace_ms, why, whylen) <
            0 ||
        s_bool(m, "coalesce", &j->coalesce, why, whylen) < 0 ||
        s_int(m, "max_instances", 1, 1000, &j->max_instances, why, whylen) < 0 ||
        s_int(m, "deadline_ms", 1, 3600000, &j->deadline_ms, why, whylen) < 0 ||
        s_int(m, "retries", 0, 100, &j->retries, why, whylen) < 0 ||
        s_duration(m, "backoff", 1, S_BACKOFF_MAX_MS, &j->backoff_ms, why, whylen) < 0 ||
        s_duration(m, "jitter", 0, S_JITTER_MAX_MS, &j->jitter_ms, why, whylen) < 0 ||
        s_bool(m, "paused", &j->paused, why, whylen) < 0 ||
        s_int(m, "created", 0, INT64_MAX, &j->created, why, whylen) < 0) {
        return -1;
    }
    j->misfire_grace_ms = grace_ms;
    return 0;
}

static const char *const s_keys[] = {
    "id",          "cron",    "every",         "at",       "tz",
    "start",       "end",     "service",       "op",       "subject",
    "mode",        "body",    "misfire_grace", "coalesce", "max_instances",
    "deadline_ms", "retries", "backoff",       "jitter",   "paused",
    "created",     NULL};

static int
s_unknown_key(const msgpack_object *map, char *why, size_t whylen)
{
    const msgpack_object_map *m = &map->via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) {
            snprintf(why, whylen, "field names must be strings");
            return -1;
        }
        bool known = false;
        for (size_t n = 0; s_keys[n] && !known; n++) {
            known = strlen(s_keys[n]) == k->via.str.size &&
                    memcmp(s_keys[n], k->via.str.ptr, k->via.str.size) == 0;
        }
        if (!known) {
            snprintf(why, whylen, "unknown field '%.*s'",
                     (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr);
            return -1;
        }
    }
    return 0;
}

int
sched_job_from_map(const msgpack_object *map, int64_t now, sched_job_t **out, char *why,
                   size_t whylen)
{
    *out = NULL;
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "a job must be a map");
        return -1;
    }
    const msgpack_object *m = map;
    sched_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        abort();
    }
    int rc = s_unknown_key(m, why, whylen);
    int hid = rc < 0 ? -1 : s_str(m, "id", j->id, sizeof j->id, why, whylen);
    if (hid == 0) {
        rc = s_fail(why, whylen, "id", "is required");
    } else if (hid < 0) {
        rc = -1;
    } else if (!s_id_ok(j->id)) {
        rc = s_fail(why, whylen, "id", "must be 1..64 of letters, digits and ._-");
    }
    if (rc == 0) {
        rc = s_trigger(j, m, now, why, whylen);
    }
    if (rc == 0) {
        rc = s_target(j, m, why, whylen);
    }
    if (rc == 0) {
        rc = s_options(j, m, why, whylen);
    }
    if (rc != 0) {
        sched_job_destroy(&j);
        return -1;
    }
    if (!j->created) {
        j->created = now;
    }
    *out = j;
    return 0;
}

void
sched_job_destroy(sched_job_t **self_p)
{
    sched_job_t *j = self_p ? *self_p : NULL;
    if (!j) {
        return;
    }
    sched_cron_destroy(&j->cronc);
    sched_zone_destroy(&j->zone);
    free(j->body);
    free(j);
    *self_p = NULL;
}

/* Whole seconds as an integer (the form older versions wrote and read), else as text. */
static void
s_write_duration(yard_mpw_t *w, const char *key, int64_t ms)
{
    if (ms % 1000 == 0) {
        yard_mpw_kint(w, key, ms / 1000);
        return;
    }
    char text[SCHED_DURATION_TEXT_MAX];
    sched_duration_format(ms, text, sizeof text);
    yard_mpw_kstr(w, key, text);
}

void
sched_job_write(const sched_job_t *j, yard_mpw_t *w)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "id", j->id);
    if (j->kind == SCHED_CRON) {
        yard_mpw_kstr(w, "cron", j->cron);
    } else if (j->kind == SCHED_INTERVAL) {
        s_write_duration(w, "every", j->every_ms);
    } else {
        yard_mpw_kint(w, "at", j->at);
    }
    yard_mpw_kstr(w, "tz", j->tz);
    if (j->start) {
        yard_mpw_kint(w, "start", j->start);
    }
    if (j->end) {
        yard_mpw_kint(w, "end", j->end);
    }
    if (j->mode == SCHED_PUBLISH) {
        yard_mpw_kstr(w, "subject", j->subject);
    } else {
        yard_mpw_kstr(w, "service", j->service);
    }
    if (j->op[0]) {
        yard_mpw_kstr(w, "op", j->op);
    }
    yard_mpw_kstr(w, "mode",
                  j->mode == SCHED_CALL   ? "call"
                  : j->mode == SCHED_SEND ? "send"
                                          : "publish");
    if (j->body) {
        yard_mpw_key(w, "body");
        yard_mpw_raw(w, j->body, j->body_len); /* our own packing: it decodes */
    }
    s_write_duration(w, "misfire_grace", j->misfire_grace_ms);
    yard_mpw_kbool(w, "coalesce", j->coalesce);
    yard_mpw_kint(w, "max_instances", j->max_instances);
    yard_mpw_kint(w, "deadline_ms", j->deadline_ms);
    yard_mpw_kint(w, "retries", j->retries);
    s_write_duration(w, "backoff", j->backoff_ms);
    s_write_duration(w, "jitter", j->jitter_ms);
    yard_mpw_kbool(w, "paused", j->paused);
    yard_mpw_kint(w, "created", j->created);
    yard_mpw_end(w);
}

void
sched_job_pack(const sched_job_t *j, msgpack_packer *pk)
{
    yard_mpw_t *w = yard_mpw_new();
    sched_job_write(j, w);
    const void *data = NULL;
    size_t size = 0;
    if (yard_mpw_finish(w, &data, &size) == 0) {
        pk->callback(pk->data, data, size);
    } else {
        msgpack_pack_nil(pk); /* unreachable: a job's fields are checked when it is built */
    }
    yard_mpw_destroy(&w);
}

/* Floor division, so that a time before 1970 (never stored, but passed as "after") still
 * reads as the second it falls in. */
static int64_t
s_floor_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((999 - ms) / 1000);
}

int64_t
sched_job_next_ms(const sched_job_t *j, int64_t after_ms)
{
    switch (j->kind) {
    case SCHED_CRON: { /* whole seconds: the first after the second after_ms falls in */
        int64_t t = sched_cron_next(j->cronc, j->zone, s_floor_s(after_ms), j->start, j->end);
        return t < 0 ? -1 : t * 1000;
    }
    case SCHED_INTERVAL: {
        int64_t base = j->start * 1000, e = j->every_ms;
        int64_t t = after_ms < base ? base : base + ((after_ms - base) / e + 1) * e;
        return j->end && t > j->end * 1000 ? -1 : t;
    }
    case SCHED_DATE:
        return j->at * 1000 > after_ms ? j->at * 1000 : -1;
    }
    return -1;
}

void
sched_time_write(yard_mpw_t *w, int64_t ms)
{
    if (ms % 1000 == 0) {
        yard_mpw_int(w, ms / 1000);
    } else {
        yard_mpw_double(w, (double)ms / 1000.0);
    }
}

void
sched_job_describe(const sched_job_t *j, char *buf, size_t cap)
{
    if (j->kind == SCHED_CRON) {
        snprintf(buf, cap, "cron '%s' %s", j->cron, j->tz);
    } else if (j->kind == SCHED_INTERVAL) {
        if (j->every_ms % 1000 == 0) { /* the text older versions gave */
            snprintf(buf, cap, "every %lld s", (long long)(j->every_ms / 1000));
        } else {
            snprintf(buf, cap, "every %lld ms", (long long)j->every_ms);
        }
    } else {
        snprintf(buf, cap, "at %lld", (long long)j->at);
    }
}

/* t as "2026-12-01T09:00:00Z". */
static void
s_iso(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(buf, cap, "%lld", (long long)t);
        return;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int
sched_job_check_fires(const sched_job_t *j, int64_t now, char *why, size_t whylen)
{
    char a[80], b[80];
    if (j->kind == SCHED_DATE && j->at <= now) {
        s_iso(j->at, a, sizeof a);
        s_iso(now, b, sizeof b);
        yard_mp_field_err(why, whylen, "at", "(%s) is not after now (%s): the job would never run",
                          a, b);
        return -1;
    }
    if (j->kind == SCHED_DATE) {
        return 0; /* start and end do not bound a date */
    }
    if (j->end && j->end <= now) {
        s_iso(j->end, a, sizeof a);
        s_iso(now, b, sizeof b);
        yard_mp_field_err(why, whylen, "end", "(%s) is not after now (%s): the job would never run",
                          a, b);
        return -1;
    }
    if (j->end && j->start && j->end < j->start) {
        return s_fail(why, whylen, "end", "is before 'start'");
    }
    if (sched_job_next_ms(j, now * 1000) >= 0) {
        return 0;
    }
    if (j->kind == SCHED_INTERVAL) {
        return s_fail(why, whylen, "end", "comes before the first run ('start' + 'every')");
    }
    /* A cron with no time left: none at all within the search's horizon, or none before end. */
    if (j->end && sched_cron_next(j->cronc, j->zone, now, j->start, 0) >= 0) {
        return s_fail(why, whylen, "end", "comes before the first time 'cron' matches");
    }
    yard_mp_field_err(why, whylen, "cron",
                      "'%s' never matches a date in the %d years searched (e.g. February 30th)",
                      j->cron, SCHED_CRON_YEARS);
    return -1;
}
