/* IANA time zones for the scheduler: a validated zone name and the conversions between UTC
 * instants (unix seconds) and local wall time that a trigger needs, read from the system's
 * zoneinfo through glibc (TZ, tzset, localtime_r) rather than hand-rolled rules.
 *
 * Wall times use struct tm's conventions (tm_year is the year - 1900, tm_mon is 0-11) and only
 * the calendar and clock fields are read (tm_isdst, tm_wday and tm_yday are ignored). Around a
 * change of UTC offset a wall time can have no instant (the clocks jumped over it: a gap) or
 * two (the clocks went back over it: an overlap); sched_zone_resolve() says which, and
 * sched_zone_gap_end() and sched_zone_overlap_end() give the instants where those spans end.
 *
 * TZ is process-wide, so every conversion takes one mutex, sets TZ for its zone, converts and
 * leaves TZ set. The rest of the project uses only gmtime_r() and timegm(), which never read
 * TZ; code that calls localtime_r(), mktime() or strftime("%Z") would see whichever zone the
 * scheduler used last. All functions are safe to call from any thread. */
#ifndef SCHED_ZONE_H
#define SCHED_ZONE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SCHED_ZONE_NAME_MAX 128 /* longest zone name accepted, bytes */

typedef struct sched_zone sched_zone_t;

/* Opens the zone called name: "UTC" (always available, even without zoneinfo installed), or
 * an IANA name such as "Europe/Berlin" whose file under /usr/share/zoneinfo is a TZif file.
 * The name must be a relative path of components made of [A-Za-z0-9_+-], with no "." or ".."
 * component. Returns 0 and sets *out (caller owns it; free with sched_zone_destroy()), or -1
 * with why naming the zone and what is wrong (and *out untouched). */
int sched_zone_open(const char *name, sched_zone_t **out, char *why, size_t whylen);

/* Frees *self_p, if any, and sets *self_p to NULL. */
void sched_zone_destroy(sched_zone_t **self_p);

/* The zone's name as given to sched_zone_open(). Borrowed; valid until the zone is
 * destroyed. */
const char *sched_zone_name(const sched_zone_t *z);

/* The wall time in z at instant t, with tm_wday, tm_yday, tm_isdst and tm_gmtoff set. Returns
 * 0, or -1 when t is beyond what struct tm can hold. */
int sched_zone_local(const sched_zone_t *z, int64_t t, struct tm *out);

/* The instants at which z's clocks show wall (seconds included): returns 1 and sets out[0]
 * for an ordinary wall time, 2 and sets out[0] < out[1] for one that occurs twice, or 0 for
 * one that does not exist (out untouched). */
int sched_zone_resolve(const sched_zone_t *z, const struct tm *wall, int64_t out[2]);

/* For a wall time that does not exist: the instant the gap around it ends, which is the
 * instant the clocks jumped (its wall time is the first one after the gap). For one that
 * exists: its first instant, as sched_zone_resolve() gives it. */
int64_t sched_zone_gap_end(const sched_zone_t *z, const struct tm *wall);

/* For a wall time that occurs twice: the first instant after the span of instants whose wall
 * times are repeated (its wall time is the first one after the repeated span, so every wall
 * time before it in that span has occurred twice by then). Returns -1 for any other wall
 * time. */
int64_t sched_zone_overlap_end(const sched_zone_t *z, const struct tm *wall);

#endif
