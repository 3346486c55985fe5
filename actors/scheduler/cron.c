/* Cron expressions: see cron.h.
 *
 * An expression is six bit sets, one per field, so a match is a few shifts. The next fire
 * time is found in wall time, field by field: the first matching month from the current
 * one, then day, hour, minute and second, resetting the lower fields whenever a higher one
 * moves, so a search costs a few dozen steps however far away the answer is. Only a matching
 * wall time is converted to UTC, and the conversion decides gaps and overlaps (see
 * sched_cron_next()). */
#include "cron.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_YEAR 9999

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

struct sched_cron {
    uint64_t bits[F_COUNT]; /* bit v set: value v matches; day-of-week 0-6, Sunday 0 */
    bool dom_last;          /* 'L': the last day of each month matches too */
    bool dom_star;          /* day-of-month starts with '*' (bare, stepped, a list) */
    bool dow_star;          /* day-of-week starts with '*' */
};

/* --- parsing ----------------------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} span_t;

typedef struct {
    const char *name;
    int lo, hi;
    const char *const *names; /* three-letter names of lo, lo + 1, ...; NULL: numbers only */
} field_t;

static const char *const s_months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                       "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const s_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_t s_fields[F_COUNT] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL}, {"month", 1, 12, s_months}, {"day-of-week", 0, 7, s_days},
};

static const struct {
    const char *name, *expr;
} s_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int s_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool
s_all(span_t s, bool (*is)(char))
{
    for (size_t i = 0; i < s.n; i++) {
        if (!is(s.p[i])) {
            return false;
        }
    }
    return s.n > 0;
}

static bool
s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
s_is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A decimal number of at most four digits (longer ones are out of every range), or -1. */
static int
s_number(span_t s)
{
    if (!s_all(s, s_is_digit) || s.n > 4) {
        return -1;
    }
    int v = 0;
    for (size_t i = 0; i < s.n; i++) {
        v = v * 10 + (s.p[i] - '0');
    }
    return v;
}

/* One value of field f, a number or a name, written as s inside item. */
static int
s_value(const field_t *f, span_t item, span_t s, int *out, char *why, size_t whylen)
{
    if (s.n == 0) {
        return s_fail(why, whylen, "%s: '%.*s' is missing a value", f->name, (int)item.n, item.p);
    }
    if (s_all(s, s_is_digit)) {
        int v = s_number(s);
        if (v < f->lo || v > f->hi) {
            return s_fail(why, whylen, "%s: %.*s is out of range %d-%d", f->name, (int)s.n, s.p,
                          f->lo, f->hi);
        }
        *out = v;
        return 0;
    }
    if (f->names && s_all(s, s_is_letter)) {
        for (int i = 0; f->names[i]; i++) {
            if (s.n == 3 && strncasecmp(s.p, f->names[i], 3) == 0) {
                *out = f->lo + i;
                return 0;
            }
        }
        return s_fail(why, whylen, "%s: unknown name '%.*s'", f->name, (int)s.n, s.p);
    }
    return s_fail(why, whylen, "%s: '%.*s' is not a %s", f->name, (int)s.n, s.p,
                  f->names ? "number or name" : "number");
}

/* The step after '/' in item: 1 to the number of values in the field. */
static int
s_step(const field_t *f, span_t item, span_t s, int *out, char *why, size_t whylen)
{
    int span = f->hi - f->lo + 1;
    if (!s_all(s, s_is_digit)) {
        return s_fail(why, whylen, "%s: step '%.*s' in '%.*s' is not a number", f->name, (int)s.n,
                      s.p, (int)item.n, item.p);
    }
    int v = s_number(s);
    if (v < 1 || v > span) {
        return s_fail(why, whylen, "%s: step %.*s in '%.*s' is out of range 1-%d", f->name,
                      (int)s.n, s.p, (int)item.n, item.p, span);
    }
    *out = v;
    return 0;
}

/* The first and last value of item's range part: '*', a, a-b, or a alone before a step (which
 * means a to the field's maximum). */
static int
s_range(int fi, span_t item, span_t r, bool stepped, int *a, int *b, char *why, size_t whylen)
{
    const field_t *f = &s_fields[fi];
    if (r.n == 1 && r.p[0] == '*') {
        *a = f->lo;
        *b = f->hi;
        return 0;
    }
    const char *dash = memchr(r.p, '-', r.n);
    span_t first = {r.p, dash ? (size_t)(dash - r.p) : r.n};
    if (s_value(f, item, first, a, why, whylen) != 0) {
        return -1;
    }
    if (!dash) {
        *b = stepped ? f->hi : *a;
        return 0;
    }
    span_t last = {dash + 1, r.n - first.n - 1};
    if (s_value(f, item, last, b, why, whylen) != 0) {
        return -1;
    }
    if (fi == F_DOW && *b == 0 && *a > 0) {
        *b = 7; /* fri-sun: Sunday as the week's end */
    }
    if (*a > *b) {
        return s_fail(why, whylen, "%s: '%.*s' is a backwards range", f->name, (int)item.n, item.p);
    }
    return 0;
}

/* One list item of field fi into c. */
static int
s_item(sched_cron_t *c, int fi, span_t item, char *why, size_t whylen)
{
    const field_t *f = &s_fields[fi];
    if (item.n == 0) {
        return s_fail(why, whylen, "%s: empty list item", f->name);
    }
    if (item.n == 1 && (item.p[0] == 'L' || item.p[0] == 'l')) {
        if (fi != F_DOM) {
            return s_fail(why, whylen,
                          "%s: 'L' (last day of the month) is only allowed in "
                          "day-of-month",
                          f->name);
        }
        c->dom_last = true;
        return 0;
    }
    const char *slash = memchr(item.p, '/', item.n);
    span_t r = {item.p, slash ? (size_t)(slash - item.p) : item.n};
    int by = 1, a, b;
    if (slash && s_step(f, item, (span_t){slash + 1, item.n - r.n - 1}, &by, why, whylen) != 0) {
        return -1;
    }
    if (s_range(fi, item, r, slash != NULL, &a, &b, why, whylen) != 0) {
        return -1;
    }
    for (int v = a; v <= b; v += by) {
        c->bits[fi] |= (uint64_t)1 << v;
    }
    return 0;
}

/* A whole field: a comma-separated list of items. */
static int
s_field(sched_cron_t *c, int fi, span_t s, char *why, size_t whylen)
{
    const char *end = s.p + s.n;
    for (const char *p = s.p;; p++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        span_t item = {p, (size_t)((comma ? comma : end) - p)};
        if (s_item(c, fi, item, why, whylen) != 0) {
            return -1;
        }
        if (!comma) {
            return 0;
        }
        p = comma;
    }
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits expr at spaces into up to 7 spans; returns how many fields there are in all. */
static int
s_split(const char *expr, span_t fields[7])
{
    int n = 0;
    const char *p = expr;
    for (;;) {
        while (s_is_space(*p)) {
            p++;
        }
        if (!*p) {
            return n;
        }
        const char *start = p;
        while (*p && !s_is_space(*p)) {
            p++;
        }
        if (n < 7) {
            fields[n] = (span_t){start, (size_t)(p - start)};
        }
        n++;
    }
}

static int
s_parse_fields(sched_cron_t *c, const char *expr, char *why, size_t whylen)
{
    span_t fields[7];
    int n = s_split(expr, fields);
    if (n >= 1 && fields[0].p[0] == '@') {
        if (n > 1) {
            return s_fail(why, whylen, "macro '%.*s' takes no fields after it", (int)fields[0].n,
                          fields[0].p);
        }
        for (size_t i = 0; i < sizeof s_macros / sizeof s_macros[0]; i++) {
            if (strlen(s_macros[i].name) == fields[0].n &&
                strncasecmp(fields[0].p, s_macros[i].name, fields[0].n) == 0) {
                return s_parse_fields(c, s_macros[i].expr, why, whylen);
            }
        }
        return s_fail(why, whylen, "unknown macro '%.*s'", (int)fields[0].n, fields[0].p);
    }
    if (n != 5 && n != 6) {
        return s_fail(why, whylen, "expected 5 or 6 fields, got %d", n);
    }
    int first = n == 6 ? F_SEC : F_MIN;
    c->bits[F_SEC] = 1; /* five fields: at second 0 */
    for (int fi = first; fi < F_COUNT; fi++) {
        span_t s = fields[fi - first];
        c->bits[fi] = 0;
        if (s_field(c, fi, s, why, whylen) != 0) {
            return -1;
        }
        /* Vixie cron and cronie mark a day field unrestricted by its first character alone,
         * so a stepped '*' (and a list that opens with one) counts as '*' in the day rule. */
        bool star = s.p[0] == '*';
        c->dom_star = fi == F_DOM ? star : c->dom_star;
        c->dow_star = fi == F_DOW ? star : c->dow_star;
    }
    if (c->bits[F_DOW] >> 7 & 1) {
        c->bits[F_DOW] = (c->bits[F_DOW] | 1) & 0x7f; /* 7 is Sunday too */
    }
    return 0;
}

int
sched_cron_parse(const char *expr, sched_cron_t **out, char *why, size_t whylen)
{
    if (strnlen(expr, SCHED_CRON_EXPR_MAX + 1) > SCHED_CRON_EXPR_MAX) {
        return s_fail(why, whylen, "expression is longer than %d characters", SCHED_CRON_EXPR_MAX);
    }
    sched_cron_t *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    if (s_parse_fields(c, expr, why, whylen) != 0) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void
sched_cron_destroy(sched_cron_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    free(*self_p);
    *self_p = NULL;
}

/* --- the next fire time ------------------------------------------------------------------ */

typedef struct {
    int y, mon, d, h, mi, s; /* mon 1-12, d 1-31 */
} wall_t;

int
sched_days_in_month(int y, int mon)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return mon == 2 && leap ? 29 : days[mon - 1];
}

/* 0 is Sunday (Sakamoto's method, for years from 1). */
static int
s_weekday(int y, int mon, int d)
{
    static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    y -= mon < 3;
    return (y + y / 4 - y / 100 + y / 400 + t[mon - 1] + d) % 7;
}

/* The least set bit at or above from, or -1. */
static int
s_next_bit(uint64_t bits, int from)
{
    uint64_t above = bits >> from;
    return above ? from + __builtin_ctzll(above) : -1;
}

/* cron(5)'s day rule, as Vixie cron and cronie apply it: when either day field starts with
 * '*', a day must match both fields; otherwise it must match either. A bare '*' matches every
 * day, so with one field '*' only the other counts; a stepped one (every 2nd day) still narrows the
 * days, but joins with AND rather than OR. */
static bool
s_day_matches(const sched_cron_t *c, const wall_t *w)
{
    bool dom =
        (c->bits[F_DOM] >> w->d & 1) || (c->dom_last && w->d == sched_days_in_month(w->y, w->mon));
    bool dow = c->bits[F_DOW] >> s_weekday(w->y, w->mon, w->d) & 1;
    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* Each of these moves w to the start of the next month, day, hour, minute or second. */
static void
s_next_month(wall_t *w)
{
    *w = (wall_t){w->y + (w->mon == 12), w->mon % 12 + 1, 1, 0, 0, 0};
}

static void
s_next_day(wall_t *w)
{
    if (w->d == sched_days_in_month(w->y, w->mon)) {
        s_next_month(w);
        return;
    }
    *w = (wall_t){w->y, w->mon, w->d + 1, 0, 0, 0};
}

static void
s_next_hour(wall_t *w)
{
    if (w->h == 23) {
        s_next_day(w);
        return;
    }
    *w = (wall_t){w->y, w->mon, w->d, w->h + 1, 0, 0};
}

static void
s_next_minute(wall_t *w)
{
    if (w->mi == 59) {
        s_next_hour(w);
        return;
    }
    *w = (wall_t){w->y, w->mon, w->d, w->h, w->mi + 1, 0};
}

static void
s_next_second(wall_t *w)
{
    if (w->s == 59) {
        s_next_minute(w);
        return;
    }
    w->s++;
}

/* Moves w to the first matching wall time at or after it. Returns 0, or -1 when there is none
 * up to the end of max_year. */
static int
s_find(const sched_cron_t *c, wall_t *w, int max_year)
{
    while (w->y <= max_year) {
        int v = s_next_bit(c->bits[F_MON], w->mon);
        if (v < 0) {
            *w = (wall_t){w->y + 1, 1, 1, 0, 0, 0};
            continue;
        }
        if (v != w->mon) {
            *w = (wall_t){w->y, v, 1, 0, 0, 0};
        }
        if (!s_day_matches(c, w)) {
            s_next_day(w);
            continue;
        }
        if ((v = s_next_bit(c->bits[F_HOUR], w->h)) < 0) {
            s_next_day(w);
            continue;
        }
        if (v != w->h) {
            *w = (wall_t){w->y, w->mon, w->d, v, 0, 0};
        }
        if ((v = s_next_bit(c->bits[F_MIN], w->mi)) < 0) {
            s_next_hour(w);
            continue;
        }
        if (v != w->mi) {
            *w = (wall_t){w->y, w->mon, w->d, w->h, v, 0};
        }
        if ((v = s_next_bit(c->bits[F_SEC], w->s)) < 0) {
            s_next_minute(w);
            continue;
        }
        w->s = v;
        return 0;
    }
    return -1;
}

static wall_t
s_wall(const struct tm *tm)
{
    return (wall_t){tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
                    tm->tm_hour,        tm->tm_min,     tm->tm_sec};
}

static struct tm
s_tm(const wall_t *w)
{
    return (struct tm){.tm_year = w->y - 1900,
                       .tm_mon = w->mon - 1,
                       .tm_mday = w->d,
                       .tm_hour = w->h,
                       .tm_min = w->mi,
                       .tm_sec = w->s};
}

static int64_t
s_key(const wall_t *w)
{
    return ((((((int64_t)w->y * 13 + w->mon) * 32 + w->d) * 24 + w->h) * 60) + w->mi) * 60 + w->s;
}

/* The search runs over wall times, from the one after the wall time at from - 1 (every
 * earlier one has had its first instant by then). Each matching wall time fires at its first
 * instant, or, in a gap, where the gap ends; that instant never decreases as the wall time
 * grows, so the first one at or after `from` is the answer. Only when `from` falls in the
 * second pass over repeated wall times (fall back) are there candidates whose first instant
 * has passed; they are skipped to the end of the repeated span. */
int64_t
sched_cron_next(const sched_cron_t *c, const sched_zone_t *z, int64_t after, int64_t start,
                int64_t end)
{
    const int64_t max_t = 253402300799; /* 9999-12-31T23:59:59Z */
    if (after >= max_t) {
        return -1;
    }
    int64_t from = start > 0 && start > after + 1 ? start : after + 1;
    struct tm tm;
    if ((end > 0 && from > end) || from > max_t || sched_zone_local(z, from - 1, &tm) != 0 ||
        tm.tm_year + 1900 < 1) {
        return -1;
    }
    wall_t w = s_wall(&tm);
    s_next_second(&w);
    int max_year = w.y + SCHED_CRON_YEARS > MAX_YEAR ? MAX_YEAR : w.y + SCHED_CRON_YEARS;
    while (s_find(c, &w, max_year) == 0) {
        tm = s_tm(&w);
        int64_t t = sched_zone_gap_end(z, &tm);
        if (t >= from) {
            return end > 0 && t > end ? -1 : t;
        }
        int64_t e = sched_zone_overlap_end(z, &tm);
        wall_t past = w;
        if (e > from && sched_zone_local(z, e, &tm) == 0) {
            past = s_wall(&tm);
        }
        if (s_key(&past) > s_key(&w)) {
            w = past;
        } else {
            s_next_second(&w);
        }
    }
    return -1;
}
