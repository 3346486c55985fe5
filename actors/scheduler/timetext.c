/* Durations and instants as text: see timetext.h.
 *
 * Both parsers walk the text once with explicit digit counts and bounds checked before each
 * multiplication, so no input can overflow or be read past its end; neither uses strptime()
 * or strtoll(), whose leniency (leading spaces, signs, single digits) is what let "5 minutes"
 * mean 5 seconds elsewhere. */
#include "timetext.h"
#include "cron.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int s_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_fail(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool
s_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* --- durations --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int64_t ms;
} s_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000LL}, {"w", 7 * 86400000LL},
};

/* The unit starting at p (letters), its length in *n; 0 when unknown. */
static int64_t
s_unit(const char *p, size_t *n)
{
    size_t len = 0;
    while ((p[len] >= 'a' && p[len] <= 'z') || (p[len] >= 'A' && p[len] <= 'Z')) {
        len++;
    }
    *n = len;
    for (size_t i = 0; i < sizeof s_units / sizeof s_units[0]; i++) {
        if (strlen(s_units[i].name) == len && strncmp(p, s_units[i].name, len) == 0) {
            return s_units[i].ms;
        }
    }
    return 0;
}

/* A decimal number at *p: up to 12 integer digits and 9 fraction digits. */
typedef struct {
    int64_t whole, frac, scale; /* value = whole + frac / scale */
} s_num_t;

static int
s_number(const char **p, s_num_t *out)
{
    const char *q = *p;
    *out = (s_num_t){0, 0, 1};
    int nd = 0, nf = 0;
    for (; s_digit(*q); q++, nd++) {
        if (nd == 12) {
            return -1;
        }
        out->whole = out->whole * 10 + (*q - '0');
    }
    if (*q == '.') {
        for (q++; s_digit(*q); q++, nf++) {
            if (nf == 9) {
                return -1;
            }
            out->frac = out->frac * 10 + (*q - '0');
            out->scale *= 10;
        }
    }
    if (nd + nf == 0) {
        return -1;
    }
    *p = q;
    return 0;
}

int
sched_duration_parse(const char *text, int64_t *ms, char *why, size_t whylen)
{
    static const char eg[] = "(e.g. 90, \"30s\", \"1h30m\", \"0.5s\")";
    size_t len = strnlen(text, SCHED_DURATION_TEXT_MAX + 1);
    if (len == 0) {
        return s_fail(why, whylen, "is empty; expected a duration %s", eg);
    }
    if (len > SCHED_DURATION_TEXT_MAX) {
        return s_fail(why, whylen, "is longer than %d characters", SCHED_DURATION_TEXT_MAX);
    }
    if (text[0] == '-') {
        return s_fail(why, whylen, "'%s' is negative; a duration is above 0", text);
    }
    int64_t total = 0;
    for (const char *p = text; *p;) {
        s_num_t n;
        const char *at = p;
        if (s_number(&p, &n) != 0) {
            return s_fail(why, whylen, "'%s' is not a duration %s", text, eg);
        }
        size_t ul = 0;
        int64_t unit = *p ? s_unit(p, &ul) : at == text ? 1000 : 0;
        if (!*p && unit == 0) {
            return s_fail(why, whylen, "'%s': the number '%s' after a unit needs one too", text,
                          at);
        }
        if (unit == 0 && ul == 0) {
            return s_fail(why, whylen, "'%s' is not a duration %s", text, eg);
        }
        if (unit == 0) {
            return s_fail(why, whylen, "'%s': unknown unit '%.*s' (use ms, s, m, h, d or w)", text,
                          (int)ul, p);
        }
        p += ul;
        if (n.whole > SCHED_DURATION_MAX_MS / unit) {
            return s_fail(why, whylen, "'%s' is far too long", text);
        }
        /* frac < scale <= 1e9 and unit < 1e9: the products fit in int64_t */
        int64_t part = n.whole * unit + (n.frac * unit * 2 + n.scale) / (2 * n.scale);
        if (part > SCHED_DURATION_MAX_MS - total) {
            return s_fail(why, whylen, "'%s' is far too long", text);
        }
        total += part;
    }
    *ms = total;
    return 0;
}

void
sched_duration_format(int64_t ms, char *buf, size_t cap)
{
    if (ms % 1000 != 0 || ms == 0) {
        snprintf(buf, cap, "%lldms", (long long)ms);
        return;
    }
    int64_t s = ms / 1000;
    int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
    int n = 0;
    buf[0] = '\0';
    if (d) {
        n += snprintf(buf + n, cap - (size_t)n, "%lldd", (long long)d);
    }
    if (h && (size_t)n < cap) {
        n += snprintf(buf + n, cap - (size_t)n, "%lldh", (long long)h);
    }
    if (m && (size_t)n < cap) {
        n += snprintf(buf + n, cap - (size_t)n, "%lldm", (long long)m);
    }
    if (sec && (size_t)n < cap) {
        snprintf(buf + n, cap - (size_t)n, "%llds", (long long)sec);
    }
}

/* --- instants ---------------------------------------------------------------------------- */

/* Exactly n digits at *p into *out. */
static bool
s_fixed(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!s_digit((*p)[i])) {
            return false;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-mon-d (proleptic Gregorian; y >= 1970). */
static int64_t
s_days_from_epoch(int y, int mon, int d)
{
    int64_t days = 0;
    for (int k = 1970; k < y; k++) {
        days += (k % 4 == 0 && k % 100 != 0) || k % 400 == 0 ? 366 : 365;
    }
    for (int k = 1; k < mon; k++) {
        days += sched_days_in_month(y, k);
    }
    return days + d - 1;
}

typedef struct {
    int y, mon, d, h, mi, s;
    bool round_up;   /* a non-zero fraction of a second */
    bool has_offset; /* Z or +-HH[:MM] */
    int offset_s;    /* east of UTC */
} s_stamp_t;

/* "HH:MM[:SS[.fff]]" at *p. */
static int
s_clock(const char **p, s_stamp_t *st)
{
    const char *q = *p;
    if (!s_fixed(&q, 2, &st->h) || *q++ != ':' || !s_fixed(&q, 2, &st->mi)) {
        return -1;
    }
    if (*q == ':') {
        q++;
        if (!s_fixed(&q, 2, &st->s)) {
            return -1;
        }
        if (*q == '.' || *q == ',') {
            int nf = 0;
            for (q++; s_digit(*q) && nf < 9; q++, nf++) {
                st->round_up = st->round_up || *q != '0';
            }
            if (nf == 0 || s_digit(*q)) {
                return -1;
            }
        }
    }
    *p = q;
    return 0;
}

/* "Z", "+HH", "+HHMM" or "+HH:MM" (or '-') at *p, which must end the text. */
static int
s_offset(const char *p, s_stamp_t *st)
{
    if (!*p) {
        return 0;
    }
    st->has_offset = true;
    if ((*p == 'Z' || *p == 'z') && !p[1]) {
        return 0;
    }
    if (*p != '+' && *p != '-') {
        return -1;
    }
    int sign = *p++ == '-' ? -1 : 1, oh = 0, om = 0;
    if (!s_fixed(&p, 2, &oh)) {
        return -1;
    }
    if (*p == ':') {
        p++;
    }
    if (*p && !s_fixed(&p, 2, &om)) {
        return -1;
    }
    if (*p || oh > 23 || om > 59) {
        return -1;
    }
    st->offset_s = sign * (oh * 3600 + om * 60);
    return 0;
}

static int
s_stamp(const char *text, s_stamp_t *st)
{
    const char *p = text;
    *st = (s_stamp_t){0};
    if (!s_fixed(&p, 4, &st->y) || *p++ != '-' || !s_fixed(&p, 2, &st->mon) || *p++ != '-' ||
        !s_fixed(&p, 2, &st->d)) {
        return -1;
    }
    if (!*p) {
        return 0; /* a date alone: its midnight, in the zone */
    }
    if (*p != 'T' && *p != 't' && *p != ' ') {
        return -1;
    }
    p++;
    if (s_clock(&p, st) != 0) {
        return -1;
    }
    return s_offset(p, st);
}

int
sched_instant_parse(const char *text, const sched_zone_t *z, int64_t *t, char *why, size_t whylen)
{
    static const char form[] =
        "expected YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM], e.g. 2027-10-31T02:30:00+01:00";
    if (strnlen(text, SCHED_INSTANT_TEXT_MAX + 1) > SCHED_INSTANT_TEXT_MAX) {
        return s_fail(why, whylen, "is longer than %d characters; %s", SCHED_INSTANT_TEXT_MAX,
                      form);
    }
    s_stamp_t st;
    if (s_stamp(text, &st) != 0) {
        return s_fail(why, whylen, "'%s' is not an ISO 8601 time: %s", text, form);
    }
    if (st.y < 1970 || st.mon < 1 || st.mon > 12 || st.d < 1 ||
        st.d > sched_days_in_month(st.y, st.mon)) {
        return s_fail(why, whylen, "'%s' is not a date between 1970 and 9999", text);
    }
    if (st.h > 23 || st.mi > 59 || st.s > 59) {
        return s_fail(why, whylen, "'%s' is not a time of day (00:00:00 to 23:59:59)", text);
    }
    int64_t v;
    if (st.has_offset) {
        v = s_days_from_epoch(st.y, st.mon, st.d) * 86400 + st.h * 3600 + st.mi * 60 + st.s -
            st.offset_s;
    } else {
        struct tm tm = {.tm_year = st.y - 1900,
                        .tm_mon = st.mon - 1,
                        .tm_mday = st.d,
                        .tm_hour = st.h,
                        .tm_min = st.mi,
                        .tm_sec = st.s};
        int64_t at[2];
        v = sched_zone_resolve(z, &tm, at) > 0 ? at[0] : sched_zone_gap_end(z, &tm);
    }
    v += st.round_up;
    if (v < 1 || v > SCHED_INSTANT_LAST) {
        return s_fail(why, whylen, "'%s' is not between 1970 and 9999 (UTC)", text);
    }
    *t = v;
    return 0;
}

/* --- run times --------------------------------------------------------------------------- */

void
sched_run_time_format(int64_t ms, char *buf, size_t cap)
{
    if (ms < 0) {
        snprintf(buf, cap, "-1");
    } else if (ms % 1000 == 0) {
        snprintf(buf, cap, "%lld", (long long)(ms / 1000));
    } else {
        snprintf(buf, cap, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
    }
}

int
sched_run_time_parse(const char *text, int64_t *ms)
{
    *ms = 0;
    if (text[0] == '-') {
        *ms = -1;
        return 0;
    }
    int64_t s = 0, frac = 0;
    size_t i = 0, digits = 0;
    for (; text[i] >= '0' && text[i] <= '9' && digits < 15; i++, digits++) {
        s = s * 10 + (text[i] - '0');
    }
    if (digits == 0) {
        return -1;
    }
    if (text[i] == '.') { /* exactly three digits: what sched_run_time_format() writes */
        for (int k = 1; k <= 3; k++) {
            if (text[i + k] < '0' || text[i + k] > '9') {
                return -1;
            }
            frac = frac * 10 + (text[i + k] - '0');
        }
        i += 4;
    }
    if (text[i] != '\0') {
        return -1;
    }
    *ms = s * 1000 + frac;
    return 0;
}
