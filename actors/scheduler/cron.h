/* Cron expressions for the scheduler: parsed once into bit sets, then asked for the next fire
 * time after a given instant, in a given time zone, with no clock of their own.
 *
 * Syntax: five fields (minute hour day-of-month month day-of-week), or six with seconds
 * first, separated by spaces or tabs. A field is a comma-separated list of items; an item is
 * `*`, a value, a range `a-b`, any of those followed by a step `/n` (every n-th value: `*`
 * then `/5` is 0, 5, 10, ...; `1-10/2`; `5/15` means 5 to the field's maximum by 15), or, in
 * day-of-month only, `L` for the last day of the month. Months and days of the week may be written
 * as three-letter English names (jan..dec, sun..sat, any case). Day-of-week 0 and 7 are both
 * Sunday, and a range may end on Sunday (`fri-sun`, `5-0`). The macros @yearly (= @annually),
 * @monthly,
 * @weekly, @daily (= @midnight) and @hourly stand for their usual expressions.
 *
 * Days follow Vixie cron and cronie exactly: a day field (day-of-month or day-of-week) whose
 * text starts with `*` (a bare `*`, a stepped one such as `*` then `/7`, or a list opening
 * with `*`) counts as unrestricted. When either day field is unrestricted, a day must match
 * both fields (a bare `*` matches every day, so only the other counts); when both are
 * restricted, a day matching either fires. So "0 0 13 * fri" fires on every 13th and every
 * Friday, while "0 0 1-7 * " followed by a star stepped by 7 (Sunday) fires only on the days
 * 1-7 that are Sundays: the first Sunday of each month.
 *
 * Time zones: the fields are matched against wall time in the job's zone. Each matching wall
 * time fires once: a wall time that the clocks skip (spring forward) fires at the instant
 * the clocks jump, and one that occurs twice (fall back) fires at its first occurrence only,
 * so "0 * * * *" fires at 02:00 summer time but not again at 02:00 winter time. */
#ifndef SCHED_CRON_H
#define SCHED_CRON_H

#include "zone.h"

#include <stddef.h>
#include <stdint.h>

#define SCHED_CRON_EXPR_MAX 1024 /* longest expression accepted, bytes */
#define SCHED_CRON_YEARS    8    /* how far sched_cron_next() looks before saying "never" */

typedef struct sched_cron sched_cron_t;

/* Parses expr. Returns 0 and sets *out (caller owns it; free with sched_cron_destroy()), or
 * -1 with why naming the field and what is wrong ("day-of-week: 'fri-mon' is a backwards
 * range", "expected 5 or 6 fields, got 4") and *out untouched. why may be NULL when whylen
 * is 0. */
int sched_cron_parse(const char *expr, sched_cron_t **out, char *why, size_t whylen);

/* Frees *self_p, if any, and sets *self_p to NULL. */
void sched_cron_destroy(sched_cron_t **self_p);

/* The first instant (unix seconds) strictly after `after` at which c fires in zone z, not
 * before start and not after end (either 0: no bound). Returns -1 when there is none: past
 * end, or no match within SCHED_CRON_YEARS years of the search's start ("0 0 30 2 *"), or
 * beyond the year 9999. c and z are borrowed for the call; c is only read, so threads may
 * share it. Costs microseconds: it steps field by field, not second by second. */
int64_t sched_cron_next(const sched_cron_t *c, const sched_zone_t *z, int64_t after, int64_t start,
                        int64_t end);

/* Days in month mon (1-12) of year y, proleptic Gregorian (cron's `L` and date checks). */
int sched_days_in_month(int y, int mon);

#endif
