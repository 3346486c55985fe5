/* Durations and instants as people write them in job definitions, read strictly and with
 * bounds, so that what APScheduler, cron and Go users type is understood and anything else
 * is refused with the reason.
 *
 * Durations: a plain number of seconds ("90", "0.5"), or one or more numbers each followed
 * by a unit, largest first or not ("1h30m", "0.5s", "250ms", "1d12h", "2w"). Units: ms, s,
 * m, h, d (24 h), w (7 d). Numbers are decimal with an optional fraction; no sign, no
 * spaces. The result is in milliseconds, rounded to the nearest one.
 *
 * Instants: ISO 8601 / RFC 3339 calendar dates and times, "YYYY-MM-DD", optionally followed by
 * "T" (or a space) and "HH:MM" or "HH:MM:SS" with an optional fraction, optionally followed
 * by "Z" or an offset "+HH:MM", "-HHMM" or "+HH". With an offset the text names one instant;
 * without one it is a wall time in the given zone (a wall time that occurs twice is its first
 * occurrence; one the clocks skip is the instant they jump). A fraction of a second rounds up
 * to the next whole second, so a run never fires before the time written. Years 1970-9999. */
#ifndef SCHED_TIMETEXT_H
#define SCHED_TIMETEXT_H

#include "zone.h"

#include <stddef.h>
#include <stdint.h>

#define SCHED_DURATION_TEXT_MAX 32             /* longest duration text accepted, bytes */
#define SCHED_INSTANT_TEXT_MAX  40             /* longest instant text accepted, bytes */
#define SCHED_INSTANT_LAST      253402300799LL /* 9999-12-31T23:59:59Z, unix seconds */
#define SCHED_DURATION_MAX_MS   (100LL * 366 * 86400 * 1000) /* parser's own ceiling */

/* Parses a duration (see above) into *ms. Returns 0, or -1 with why saying what is wrong
 * (without the field's name: "unknown unit 'x' ...", "must be above 0"). A text that reads
 * as more than SCHED_DURATION_MAX_MS is refused, never wrapped. */
int sched_duration_parse(const char *text, int64_t *ms, char *why, size_t whylen);

/* Writes ms as the shortest text sched_duration_parse() reads back to the same value ("90s",
 * "1h30m", "1500ms"), into buf (cap bytes, at least SCHED_DURATION_TEXT_MAX). */
void sched_duration_format(int64_t ms, char *buf, size_t cap);

/* Parses an instant (see above) into *t (unix seconds); z is used only for a text without
 * an offset. Returns 0, or -1 with why saying what is wrong. */
int sched_instant_parse(const char *text, const sched_zone_t *z, int64_t *t, char *why,
                        size_t whylen);

/* A run time (unix ms, >= 0) as the text of its keys, `sched.run` header and stored next run:
 * unix seconds, with ".mmm" only when not whole ("1795319479", "1795319479.500"), so a
 * whole-second run keeps the name older versions gave it. buf holds at least 32 bytes. */
void sched_run_time_format(int64_t ms, char *buf, size_t cap);

/* Reads what sched_run_time_format() wrote (or an older version's decimal seconds) into *ms;
 * "-1" (and any negative number) reads as -1. Returns 0, or -1 for text that is not one. */
int sched_run_time_parse(const char *text, int64_t *ms);

#endif
