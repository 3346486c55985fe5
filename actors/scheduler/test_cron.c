/* Cron expressions and time zones, tested with the instant passed in, never the clock.
 *
 * Each row of the main table is an expression, a zone, an `after` and the fire times that
 * follow it, one after another (each found with the previous one as `after`), so a row also
 * reads as an example of what an expression means. Times with a Z are UTC; times without are
 * wall times in the row's zone. Expected times are always written in UTC, so a row about a
 * DST change says exactly which instant fires. */
#include "cron.h"
#include "zone.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *expr;
    const char *zone;   /* NULL: UTC */
    const char *after;  /* Z: UTC; else a wall time in zone */
    const char *expect; /* successive fire times (UTC, space-separated), or "never" */
} next_row_t;

typedef struct {
    next_row_t row;
    const char *start, *end; /* bounds; NULL: none */
} bounded_row_t;

#define BERLIN "Europe/Berlin"
#define NY     "America/New_York"

static const next_row_t s_next[] = {
    /* every field kind */
    {"* * * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z 2026-01-01T00:02:00Z"},
    {"* * * * *", NULL, "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"},
    {"30 * * * *", NULL, "2026-01-01T00:30:00Z", "2026-01-01T01:30:00Z"},
    {"0 9 * * *", NULL, "2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z"},
    {"0 0 1 * *", NULL, "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z"},
    {"0 0 1 6 *", NULL, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z 2027-06-01T00:00:00Z"},
    {"59 23 31 12 *", NULL, "2026-01-01T00:00:00Z", "2026-12-31T23:59:00Z"},
    /* names, any case */
    {"0 12 * jun *", NULL, "2026-01-01T00:00:00Z", "2026-06-01T12:00:00Z"},
    {"0 12 1 JUN-aug *", NULL, "2026-09-01T00:00:00Z",
     "2027-06-01T12:00:00Z 2027-07-01T12:00:00Z 2027-08-01T12:00:00Z 2028-06-01T12:00:00Z"},
    {"0 8 * * MON", NULL, "2026-01-01T00:00:00Z", "2026-01-05T08:00:00Z 2026-01-12T08:00:00Z"},
    {"0 8 * * Sat", NULL, "2026-01-01T00:00:00Z", "2026-01-03T08:00:00Z"},
    /* ranges */
    {"0 9-17 * * *", NULL, "2026-01-01T16:00:00Z", "2026-01-01T17:00:00Z 2026-01-02T09:00:00Z"},
    {"0 9 * * mon-fri", NULL, "2026-01-02T09:00:00Z", "2026-01-05T09:00:00Z"},
    /* steps */
    {"*/15 * * * *", NULL, "2026-01-01T00:00:00Z",
     "2026-01-01T00:15:00Z 2026-01-01T00:30:00Z 2026-01-01T00:45:00Z 2026-01-01T01:00:00Z"},
    {"0 1-10/2 * * *", NULL, "2026-01-01T00:00:00Z",
     "2026-01-01T01:00:00Z 2026-01-01T03:00:00Z 2026-01-01T05:00:00Z 2026-01-01T07:00:00Z "
     "2026-01-01T09:00:00Z 2026-01-02T01:00:00Z"},
    {"5/15 * * * *", NULL, "2026-01-01T00:00:00Z",
     "2026-01-01T00:05:00Z 2026-01-01T00:20:00Z 2026-01-01T00:35:00Z 2026-01-01T00:50:00Z "
     "2026-01-01T01:05:00Z"},
    {"0 0 */10 * *", NULL, "2026-01-21T00:00:00Z", "2026-01-31T00:00:00Z 2026-02-01T00:00:00Z"},
    {"0 0 * */4 *", NULL, "2026-02-01T00:00:00Z", "2026-05-01T00:00:00Z"},
    /* lists */
    {"0 0 1,3,5-7 * *", NULL, "2026-01-01T00:00:00Z",
     "2026-01-03T00:00:00Z 2026-01-05T00:00:00Z 2026-01-06T00:00:00Z 2026-01-07T00:00:00Z "
     "2026-02-01T00:00:00Z"},
    {"0 6,18 * jan,jul mon,thu", NULL, "2026-01-01T06:00:00Z",
     "2026-01-01T18:00:00Z 2026-01-05T06:00:00Z"},
    /* six fields: seconds first */
    {"*/10 * * * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z 2026-01-01T00:00:20Z"},
    {"30 0 12 * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T12:00:30Z"},
    {"15,45 30 * * * *", NULL, "2026-01-01T00:30:15Z", "2026-01-01T00:30:45Z 2026-01-01T01:30:15Z"},
    {"59 59 23 31 12 *", NULL, "2026-12-31T23:59:58Z", "2026-12-31T23:59:59Z"},
    /* macros */
    {"@yearly", NULL, "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"},
    {"@annually", NULL, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
    {"@monthly", NULL, "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z"},
    {"@weekly", NULL, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z"},
    {"@daily", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
    {"@midnight", NULL, "2026-01-01T23:59:59Z", "2026-01-02T00:00:00Z"},
    {"@hourly", NULL, "2026-01-01T00:59:59Z", "2026-01-01T01:00:00Z 2026-01-01T02:00:00Z"},
    {"  @DAILY ", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
    /* month ends: the 31st and 30th skip the months that lack them */
    {"0 0 31 * *", NULL, "2026-01-31T00:00:00Z",
     "2026-03-31T00:00:00Z 2026-05-31T00:00:00Z 2026-07-31T00:00:00Z 2026-08-31T00:00:00Z"},
    {"0 0 30 * *", NULL, "2026-01-30T00:00:00Z", "2026-03-30T00:00:00Z"},
    /* leap years: 2028 is one, 2100 is not */
    {"0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z 2032-02-29T00:00:00Z"},
    {"0 0 29 2 *", NULL, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
    {"0 0 * 2 *", NULL, "2100-02-28T00:00:00Z", "2101-02-01T00:00:00Z"},
    /* L: the last day of the month */
    {"0 0 L * *", NULL, "2026-01-01T00:00:00Z",
     "2026-01-31T00:00:00Z 2026-02-28T00:00:00Z 2026-03-31T00:00:00Z 2026-04-30T00:00:00Z"},
    {"0 0 L 2 *", NULL, "2026-03-01T00:00:00Z", "2027-02-28T00:00:00Z 2028-02-29T00:00:00Z"},
    {"0 0 L 2 *", NULL, "2100-01-01T00:00:00Z", "2100-02-28T00:00:00Z"},
    {"0 0 1,L * *", NULL, "2026-01-01T00:00:00Z",
     "2026-01-31T00:00:00Z 2026-02-01T00:00:00Z 2026-02-28T00:00:00Z"},
    /* both day fields restricted (neither starts with '*'): either matches (2026-01-13 is a
       Tuesday, 02-13 a Friday) */
    {"0 0 13 * fri", NULL, "2026-01-01T00:00:00Z",
     "2026-01-02T00:00:00Z 2026-01-09T00:00:00Z 2026-01-13T00:00:00Z 2026-01-16T00:00:00Z"},
    {"0 0 13 * fri", NULL, "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z 2026-02-20T00:00:00Z"},
    {"0 0 30 2 mon", NULL, "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"},
    {"0 0 1-7 * 0", NULL, "2026-01-01T00:00:00Z",
     "2026-01-02T00:00:00Z 2026-01-03T00:00:00Z 2026-01-04T00:00:00Z 2026-01-05T00:00:00Z "
     "2026-01-06T00:00:00Z 2026-01-07T00:00:00Z 2026-01-11T00:00:00Z"},
    /* a day field that starts with '*' is unrestricted (Vixie cron, cronie: DOM_STAR and
     * DOW_STAR come from the field's first character), so the days must match both fields: a
     * star stepped by 7 is Sunday, and 1-7 with it is the first Sunday of each month */
    {"0 0 1-7 * */7", NULL, "2026-01-01T00:00:00Z",
     "2026-01-04T00:00:00Z 2026-02-01T00:00:00Z 2026-03-01T00:00:00Z 2026-04-05T00:00:00Z"},
    {"0 0 1-7 * */7", NULL, "2026-01-31T00:00:00Z",
     "2026-02-01T00:00:00Z 2026-03-01T00:00:00Z 2026-04-05T00:00:00Z 2026-05-03T00:00:00Z "
     "2026-06-07T00:00:00Z 2026-07-05T00:00:00Z 2026-08-02T00:00:00Z 2026-09-06T00:00:00Z "
     "2026-10-04T00:00:00Z"},
    /* the 1st, 11th, 21st or 31st that is a Monday (2026-05-11 is the first) */
    {"0 0 */10 * mon", NULL, "2026-01-01T00:00:00Z",
     "2026-05-11T00:00:00Z 2026-06-01T00:00:00Z 2026-08-31T00:00:00Z"},
    /* odd days that are Mondays */
    {"0 0 */2 * 1", NULL, "2026-01-01T00:00:00Z",
     "2026-01-05T00:00:00Z 2026-01-19T00:00:00Z 2026-02-09T00:00:00Z 2026-02-23T00:00:00Z"},
    /* a list that opens with '*' counts too: every day AND Friday, then the 13th AND any day */
    {"0 0 *,13 * fri", NULL, "2026-01-01T00:00:00Z",
     "2026-01-02T00:00:00Z 2026-01-09T00:00:00Z 2026-01-16T00:00:00Z"},
    {"0 0 13 * *,fri", NULL, "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z 2026-02-13T00:00:00Z"},
    /* a star stepped by 1 is every day: only the other field counts */
    {"0 0 13 * */1", NULL, "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z 2026-02-13T00:00:00Z"},
    /* one day field is '*': only the other counts */
    {"0 0 * * fri", NULL, "2026-01-01T00:00:00Z",
     "2026-01-02T00:00:00Z 2026-01-09T00:00:00Z 2026-01-16T00:00:00Z"},
    {"0 0 13 * *", NULL, "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z 2026-02-13T00:00:00Z"},
    /* day-of-week 0 and 7 are both Sunday, and 1 is Monday (2026-01-04 is a Sunday) */
    {"0 0 * * 0", NULL, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
    {"0 0 * * 7", NULL, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z"},
    {"0 0 * * 1", NULL, "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"},
    {"0 0 * * 5-7", NULL, "2026-01-01T00:00:00Z",
     "2026-01-02T00:00:00Z 2026-01-03T00:00:00Z 2026-01-04T00:00:00Z 2026-01-09T00:00:00Z"},
    {"0 0 * * sat-sun", NULL, "2026-01-01T00:00:00Z",
     "2026-01-03T00:00:00Z 2026-01-04T00:00:00Z 2026-01-10T00:00:00Z"},
    /* a zone without DST changes: Tokyo is UTC+9 */
    {"0 9 * * *", "Asia/Tokyo", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
    /* Berlin, spring forward (2026-03-29 02:00 CET -> 03:00 CEST, at 01:00Z): 02:30 does not
     * exist, so it fires once at the jump, 03:00 CEST */
    {"30 2 * * *", BERLIN, "2026-03-28T12:00:00", "2026-03-29T01:00:00Z 2026-03-30T00:30:00Z"},
    {"*/30 2 * * *", BERLIN, "2026-03-29T01:00:00", "2026-03-29T01:00:00Z 2026-03-30T00:00:00Z"},
    {"0 * * * *", BERLIN, "2026-03-29T00:30:00",
     "2026-03-29T00:00:00Z 2026-03-29T01:00:00Z 2026-03-29T02:00:00Z"},
    {"0 3 * * *", BERLIN, "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z"},
    /* Berlin, fall back (2026-10-25 03:00 CEST -> 02:00 CET, at 01:00Z): 02:30 occurs twice
     * and fires at the first, 00:30Z; the next is the next day's */
    {"30 2 * * *", BERLIN, "2026-10-24T12:00:00", "2026-10-25T00:30:00Z 2026-10-26T01:30:00Z"},
    {"0 2 * * *", BERLIN, "2026-10-25T00:00:00Z", "2026-10-26T01:00:00Z"},
    /* hourly across fall back: every wall time once, so 02:00 CEST fires and 02:00 CET (01:00Z)
     * does not */
    {"0 * * * *", BERLIN, "2026-10-24T23:30:00",
     "2026-10-24T22:00:00Z 2026-10-24T23:00:00Z 2026-10-25T00:00:00Z 2026-10-25T02:00:00Z "
     "2026-10-25T03:00:00Z"},
    /* starting inside the second pass over 02:00-03:00: the repeated wall times are spent */
    {"*/15 * * * *", BERLIN, "2026-10-25T01:10:00Z", "2026-10-25T02:00:00Z"},
    {"* * 2 * * *", BERLIN, "2026-10-25T01:30:00Z", "2026-10-26T01:00:00Z 2026-10-26T01:00:01Z"},
    {"* * 2 * * *", BERLIN, "2026-10-25T00:59:58Z", "2026-10-25T00:59:59Z 2026-10-26T01:00:00Z"},
    /* Berlin in 2040, past the zone file's explicit transitions (2040-03-25 is the last
     * Sunday of March) */
    {"30 2 * * *", BERLIN, "2040-03-24T12:00:00", "2040-03-25T01:00:00Z 2040-03-26T00:30:00Z"},
    /* New York: 2026-03-08 02:30 does not exist (jump at 07:00Z); 2026-11-01 01:30 occurs
     * twice, first at 05:30Z (EDT) */
    {"30 2 * * *", NY, "2026-03-07T12:00:00", "2026-03-08T07:00:00Z 2026-03-09T06:30:00Z"},
    {"30 1 * * *", NY, "2026-10-31T12:00:00", "2026-11-01T05:30:00Z 2026-11-02T06:30:00Z"},
    /* never */
    {"0 0 30 2 *", NULL, "2026-01-01T00:00:00Z", "never"},
    {"0 0 31 4,6,9,11 *", NULL, "2026-01-01T00:00:00Z", "never"},
    {"0 0 30 feb *", BERLIN, "2026-01-01T00:00:00", "never"},
    {"0 0 31 2 */7", NULL, "2026-01-01T00:00:00Z", "never"}, /* not every Sunday in February */
    {"59 59 23 31 12 *", NULL, "9999-12-31T23:59:59Z", "never"},
};

/* start and end bound the fire times (start itself may fire; so may end) */
static const bounded_row_t s_bounded[] = {
    {{"0 0 * * *", NULL, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z 2026-03-02T00:00:00Z"},
     "2026-03-01T00:00:00Z",
     NULL},
    {{"0 0 * * *", NULL, "2026-01-01T00:00:00Z", "2026-03-02T00:00:00Z"},
     "2026-03-01T00:00:01Z",
     NULL},
    {{"0 0 * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z 2026-01-03T00:00:00Z never"},
     NULL,
     "2026-01-03T00:00:00Z"},
    {{"0 0 * * *", NULL, "2026-01-05T00:00:00Z", "never"}, NULL, "2026-01-03T00:00:00Z"},
    {{"0 0 * * *", NULL, "2026-01-01T00:00:00Z", "never"},
     "2026-02-01T00:00:00Z",
     "2026-01-31T12:00:00Z"},
    {{"0 9 * * *", BERLIN, "2026-01-01T00:00:00", "2026-06-01T07:00:00Z"},
     "2026-06-01T00:00:00",
     "2026-06-01T09:00:00"},
};

/* "YYYY-MM-DDTHH:MM:SS" with Z (UTC) or without (the first instant of that wall time in z). */
static int64_t
s_instant(const char *text, const sched_zone_t *z)
{
    struct tm tm = {0};
    char zulu = 0;
    int n = sscanf(text, "%d-%d-%dT%d:%d:%d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec, &zulu);
    assert_true(n == 6 || (n == 7 && zulu == 'Z'));
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    if (zulu == 'Z') {
        return (int64_t)timegm(&tm);
    }
    int64_t at[2];
    assert_int_not_equal(sched_zone_resolve(z, &tm, at), 0);
    return at[0];
}

static void
s_format(int64_t t, char *buf, size_t cap)
{
    if (t < 0) {
        snprintf(buf, cap, "never");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Checks one row; returns how many of its fire times were wrong (it stops at the first). */
static int
s_check_next(const next_row_t *r, const char *start_at, const char *end_at, int *checks)
{
    char why[160] = "";
    sched_zone_t *z = NULL;
    sched_cron_t *c = NULL;
    assert_int_equal(sched_zone_open(r->zone ? r->zone : "UTC", &z, why, sizeof why), 0);
    if (sched_cron_parse(r->expr, &c, why, sizeof why) != 0) {
        print_error("'%s': %s\n", r->expr, why);
        sched_zone_destroy(&z);
        return 1;
    }
    int64_t after = s_instant(r->after, z);
    int64_t start = start_at ? s_instant(start_at, z) : 0;
    int64_t end = end_at ? s_instant(end_at, z) : 0;
    char want[64], got[64];
    int bad = 0;
    for (const char *p = r->expect; *p && !bad; p += strspn(p, " ")) {
        size_t n = strcspn(p, " ");
        snprintf(want, sizeof want, "%.*s", (int)n, p);
        p += n;
        int64_t t = sched_cron_next(c, z, after, start, end);
        s_format(t, got, sizeof got);
        (*checks)++;
        if (strcmp(got, want) != 0) {
            print_error("'%s' in %s after %s: got %s, want %s\n", r->expr, sched_zone_name(z),
                        r->after, got, want);
            bad = 1;
        }
        after = t;
    }
    sched_cron_destroy(&c);
    sched_zone_destroy(&z);
    return bad;
}

static void
test_next_table(void **state)
{
    (void)state;
    int bad = 0, checks = 0;
    size_t rows = sizeof s_next / sizeof s_next[0],
           bounded = sizeof s_bounded / sizeof s_bounded[0];
    for (size_t i = 0; i < rows; i++) {
        bad += s_check_next(&s_next[i], NULL, NULL, &checks);
    }
    for (size_t i = 0; i < bounded; i++) {
        bad += s_check_next(&s_bounded[i].row, s_bounded[i].start, s_bounded[i].end, &checks);
    }
    printf("next: %zu rows, %d fire times checked\n", rows + bounded, checks);
    assert_int_equal(bad, 0);
}

typedef struct {
    const char *expr;
    const char *why; /* a substring of the reason */
} bad_row_t;

static const bad_row_t s_bad[] = {
    {"* * * *", "expected 5 or 6 fields, got 4"},
    {"* * * * * * *", "expected 5 or 6 fields, got 7"},
    {"", "expected 5 or 6 fields, got 0"},
    {"   ", "expected 5 or 6 fields, got 0"},
    {"61 * * * *", "minute: 61 is out of range 0-59"},
    {"* 24 * * *", "hour: 24 is out of range 0-23"},
    {"* * 0 * *", "day-of-month: 0 is out of range 1-31"},
    {"* * 32 * *", "day-of-month: 32 is out of range 1-31"},
    {"* * * 13 *", "month: 13 is out of range 1-12"},
    {"* * * 0 *", "month: 0 is out of range 1-12"},
    {"* * * * 8", "day-of-week: 8 is out of range 0-7"},
    {"60 * * * * *", "second: 60 is out of range 0-59"},
    {"99999 * * * *", "minute: 99999 is out of range 0-59"},
    {"* * * foo *", "month: unknown name 'foo'"},
    {"* * * * xyz", "day-of-week: unknown name 'xyz'"},
    {"* * * * monday", "day-of-week: unknown name 'monday'"},
    {"* * * * jan", "day-of-week: unknown name 'jan'"},
    {"mon * * * *", "minute: 'mon' is not a number"},
    {"* * * * fri-mon", "day-of-week: 'fri-mon' is a backwards range"},
    {"30-10 * * * *", "minute: '30-10' is a backwards range"},
    {"* * * dec-jan *", "month: 'dec-jan' is a backwards range"},
    {"*/0 * * * *", "minute: step 0 in '*/0' is out of range 1-60"},
    {"* */25 * * *", "hour: step 25 in '*/25' is out of range 1-24"},
    {"*/x * * * *", "minute: step 'x' in '*/x' is not a number"},
    {"*/ * * * *", "minute: step '' in '*/' is not a number"},
    {"1,,2 * * * *", "minute: empty list item"},
    {"1, * * * *", "minute: empty list item"},
    {"* ,1 * * *", "hour: empty list item"},
    {"1x * * * *", "minute: '1x' is not a number"},
    {"-1 * * * *", "minute: '-1' is missing a value"},
    {"1- * * * *", "minute: '1-' is missing a value"},
    {"1-2-3 * * * *", "minute: '2-3' is not a number"},
    {"* * * * ?", "day-of-week: '?' is not a number or name"},
    {"L * * * *", "minute: 'L' (last day of the month) is only allowed in day-of-month"},
    {"* * * L *", "month: 'L'"},
    {"* * * * L", "day-of-week: 'L'"},
    {"* * L-3 * *", "day-of-month: 'L' is not a number"},
    {"@reboot", "unknown macro '@reboot'"},
    {"@every", "unknown macro '@every'"},
    {"@daily 5", "macro '@daily' takes no fields"},
};

static void
test_rejected(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        char why[160] = "";
        sched_cron_t *c = NULL;
        if (sched_cron_parse(s_bad[i].expr, &c, why, sizeof why) != -1 || c != NULL ||
            !strstr(why, s_bad[i].why)) {
            print_error("'%s': got \"%s\", want \"%s\"\n", s_bad[i].expr, why, s_bad[i].why);
            sched_cron_destroy(&c);
            bad++;
        }
    }
    char big[SCHED_CRON_EXPR_MAX + 2];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char why[160];
    sched_cron_t *c = NULL;
    assert_int_equal(sched_cron_parse(big, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "longer than"));
    assert_int_equal(sched_cron_parse("61 * * * *", &c, NULL, 0), -1); /* why is optional */
    printf("rejected: %zu expressions\n", sizeof s_bad / sizeof s_bad[0] + 2);
    assert_int_equal(bad, 0);
}

static const bad_row_t s_bad_zones[] = {
    {"Mars/Olympus_Mons", "is unknown"},
    {"../etc/passwd", "'..'"},
    {"Europe/../UTC", "'..'"},
    {"./UTC", "'.'"},
    {"/etc/localtime", "empty component"},
    {"Europe//Berlin", "empty component"},
    {"Europe/", "ends with '/'"},
    {"", "1 to 128 characters"},
    {"Europe/Ber lin", "only letters"},
    {"zone.tab", "only letters"},
    {"Europe", "is not a time zone file"},
    {"leapseconds", "is not a TZif"},
};

static void
test_zones(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof s_bad_zones / sizeof s_bad_zones[0]; i++) {
        char why[160] = "";
        sched_zone_t *z = NULL;
        if (sched_zone_open(s_bad_zones[i].expr, &z, why, sizeof why) != -1 || z != NULL ||
            !strstr(why, s_bad_zones[i].why)) {
            print_error("zone '%s': got \"%s\", want \"%s\"\n", s_bad_zones[i].expr, why,
                        s_bad_zones[i].why);
            sched_zone_destroy(&z);
            bad++;
        }
    }
    assert_int_equal(bad, 0);

    sched_zone_t *z = NULL;
    assert_int_equal(sched_zone_open(BERLIN, &z, NULL, 0), 0);
    assert_string_equal(sched_zone_name(z), BERLIN);
    struct tm tm;
    assert_int_equal(sched_zone_local(z, 1782900000, &tm), 0); /* 2026-07-01T10:00:00Z */
    assert_int_equal(tm.tm_hour, 12);
    assert_int_equal(tm.tm_gmtoff, 7200);

    /* 02:30 on 2026-03-29 does not exist; the gap ends at 01:00Z */
    struct tm gap = {.tm_year = 126, .tm_mon = 2, .tm_mday = 29, .tm_hour = 2, .tm_min = 30};
    int64_t at[2];
    assert_int_equal(sched_zone_resolve(z, &gap, at), 0);
    assert_int_equal(sched_zone_gap_end(z, &gap), 1774746000);
    assert_int_equal(sched_zone_overlap_end(z, &gap), -1);

    /* 02:30 on 2026-10-25 is at 00:30Z and 01:30Z; repeated wall times end at 02:00Z */
    struct tm twice = {.tm_year = 126, .tm_mon = 9, .tm_mday = 25, .tm_hour = 2, .tm_min = 30};
    assert_int_equal(sched_zone_resolve(z, &twice, at), 2);
    assert_int_equal(at[0], 1792888200);
    assert_int_equal(at[1], 1792891800);
    assert_int_equal(sched_zone_gap_end(z, &twice), 1792888200);
    assert_int_equal(sched_zone_overlap_end(z, &twice), 1792893600);

    struct tm once = {.tm_year = 126, .tm_mon = 6, .tm_mday = 1, .tm_hour = 12};
    assert_int_equal(sched_zone_resolve(z, &once, at), 1);
    assert_int_equal(at[0], 1782900000);
    sched_zone_destroy(&z);
    sched_zone_destroy(&z); /* a second destroy is a no-op */
    assert_null(z);

    assert_int_equal(sched_zone_open("UTC", &z, NULL, 0), 0);
    assert_int_equal(sched_zone_resolve(z, &gap, at), 1);
    assert_int_equal(at[0], 1774751400);
    sched_zone_destroy(&z);
}

/* Zones share the process-wide TZ: threads converting in different zones at once must each
 * get their own zone's answer. */
typedef struct {
    const char *zone;
    int64_t want; /* next "0 9 * * *" after 2026-07-01T00:00:00Z */
    int bad;
} thread_arg_t;

static void *
s_thread(void *arg)
{
    thread_arg_t *a = arg;
    sched_zone_t *z = NULL;
    sched_cron_t *c = NULL;
    if (sched_zone_open(a->zone, &z, NULL, 0) != 0 ||
        sched_cron_parse("0 9 * * *", &c, NULL, 0) != 0) {
        a->bad = -1;
        return NULL;
    }
    for (int i = 0; i < 2000; i++) {
        a->bad += sched_cron_next(c, z, 1782864000, 0, 0) != a->want;
    }
    sched_cron_destroy(&c);
    sched_zone_destroy(&z);
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    thread_arg_t args[] = {{BERLIN, 1782889200, 0},       /* 07:00Z */
                           {NY, 1782910800, 0},           /* 13:00Z */
                           {"Asia/Tokyo", 1782950400, 0}, /* 2026-07-02T00:00Z */
                           {"UTC", 1782896400, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, s_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
}

/* Not asserted (machines differ): how long one next computation takes. */
static void
test_speed(void **state)
{
    (void)state;
    const struct {
        const char *expr, *zone;
    } cases[] = {{"*/5 * * * *", "UTC"},
                 {"0 9 * * mon-fri", BERLIN},
                 {"30 2 * * *", BERLIN},
                 {"0 0 29 2 *", NY},
                 {"0 0 30 2 *", "UTC"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sched_zone_t *z = NULL;
        sched_cron_t *c = NULL;
        assert_int_equal(sched_zone_open(cases[i].zone, &z, NULL, 0), 0);
        assert_int_equal(sched_cron_parse(cases[i].expr, &c, NULL, 0), 0);
        struct timespec t0, t1;
        const int n = 100000;
        int64_t sum = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int k = 0; k < n; k++) {
            /* starting points spread over 2026, DST changes included */
            sum += sched_cron_next(c, z, 1767225600 + (int64_t)k * 313, 0, 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_not_equal(sum, 0);
        double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
        printf("speed: '%s' in %s: %.2f us per next (%d calls)\n", cases[i].expr, cases[i].zone, us,
               n);
        sched_cron_destroy(&c);
        sched_zone_destroy(&z);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_table), cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_zones),      cmocka_unit_test(test_threads),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
