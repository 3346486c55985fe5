/* IANA time zones through glibc: see zone.h.
 *
 * glibc reads a zone from the TZ variable, which is process-wide, so every conversion runs
 * under s_lock with TZ set to the zone's file (":" + absolute path, so TZDIR cannot make glibc
 * read a different file from the one sched_zone_open() checked) and tzset() called, which
 * rereads nothing when TZ has not changed. TZ is set only when it differs, because setenv()
 * is not safe against getenv() in other threads: after the first call adds TZ to the
 * environment, later ones only swap its value's pointer (glibc never frees old values). TZ is
 * left set afterwards: nothing else in the project reads it (it uses gmtime_r() and timegm()
 * only).
 *
 * A wall time's instants are found without mktime(), whose choice in gaps and overlaps glibc
 * leaves to tm_isdst: the zone's UTC offsets a day either side of the wall time (and at it)
 * are the only candidates, and a candidate offset o is right when the instant wall - o has
 * offset o. Where the offset changes, a binary search finds the second it changed. */
#include "zone.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define DAY          86400
#define TZ_VALUE_MAX (sizeof ":" ZONEINFO_DIR "/" + SCHED_ZONE_NAME_MAX)

struct sched_zone {
    char name[SCHED_ZONE_NAME_MAX + 1];
    char tz[TZ_VALUE_MAX]; /* the value TZ takes */
    bool utc;              /* "UTC": converted with gmtime_r() and timegm(), no lock, no file */
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

/* --- opening ----------------------------------------------------------------------------- */

static int
s_fail(char *why, size_t whylen, const char *name, const char *what)
{
    snprintf(why, whylen, "time zone '%.*s' %s", SCHED_ZONE_NAME_MAX, name, what);
    return -1;
}

static bool
s_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '+' || c == '-';
}

/* A plain relative path: non-empty components of allowed characters, none "." or "..", so
 * the name can only reach files under the zoneinfo directory. */
static int
s_check_name(const char *name, char *why, size_t whylen)
{
    size_t len = strlen(name);
    if (len == 0 || len > SCHED_ZONE_NAME_MAX) {
        return s_fail(why, whylen, name, "must be 1 to 128 characters");
    }
    const char *c = name;
    while (*c) {
        size_t n = strcspn(c, "/");
        if (n == 0) {
            return s_fail(why, whylen, name, "is not a relative path of names (empty component)");
        }
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
            return s_fail(why, whylen, name, "may not contain '.' or '..' components");
        }
        for (size_t i = 0; i < n; i++) {
            if (!s_name_char(c[i])) {
                return s_fail(why, whylen, name, "may contain only letters, digits, '/_+-'");
            }
        }
        c += n;
        if (*c == '/' && *++c == '\0') {
            return s_fail(why, whylen, name, "is not a relative path of names (ends with '/')");
        }
    }
    return 0;
}

/* The file must be a regular file that starts with the TZif magic; anything else would make
 * glibc fall back to UTC without a word. */
static int
s_check_file(const char *name, const char *path, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return s_fail(why, whylen, name, "is unknown (no such file in " ZONEINFO_DIR ")");
    }
    struct stat st;
    char magic[4];
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = s_fail(why, whylen, name, "is not a time zone file (a directory?)");
    } else if (read(fd, magic, sizeof magic) != (ssize_t)sizeof magic ||
               memcmp(magic, "TZif", 4) != 0) {
        rc = s_fail(why, whylen, name, "is not a TZif time zone file");
    }
    close(fd);
    return rc;
}

int
sched_zone_open(const char *name, sched_zone_t **out, char *why, size_t whylen)
{
    if (s_check_name(name, why, whylen) != 0) {
        return -1;
    }
    bool utc = strcmp(name, "UTC") == 0;
    char tz[TZ_VALUE_MAX];
    snprintf(tz, sizeof tz, ":" ZONEINFO_DIR "/%s", name);
    if (!utc && s_check_file(name, tz + 1, why, whylen) != 0) {
        return -1;
    }
    sched_zone_t *z = calloc(1, sizeof *z);
    if (!z) {
        abort();
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    memcpy(z->tz, tz, sizeof tz);
    z->utc = utc;
    *out = z;
    return 0;
}

void
sched_zone_destroy(sched_zone_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    free(*self_p);
    *self_p = NULL;
}

const char *
sched_zone_name(const sched_zone_t *z)
{
    return z->name;
}

/* --- converting, under s_lock ------------------------------------------------------------ */

static void
s_enter(const sched_zone_t *z)
{
    pthread_mutex_lock(&s_lock);
    const char *cur = getenv("TZ");
    if (!cur || strcmp(cur, z->tz) != 0) {
        setenv("TZ", z->tz, 1);
    }
    tzset();
}

static void
s_leave(void)
{
    pthread_mutex_unlock(&s_lock);
}

/* The UTC offset at t, in seconds east; 0 where struct tm cannot hold t. */
static long
s_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    return localtime_r(&tt, &tm) ? tm.tm_gmtoff : 0;
}

/* The first instant in (lo, hi] whose offset differs from lo's (hi when none does). */
static int64_t
s_change(int64_t lo, int64_t hi)
{
    long before = s_offset(lo);
    if (s_offset(hi) == before) {
        return hi;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s_offset(mid) == before) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return hi;
}

/* The instants (earliest first) whose wall time, read as if it were UTC, is `naive`. For a
 * gap or an overlap, *change is the instant the offset changed. */
static int
s_resolve(int64_t naive, int64_t at[2], int64_t *change)
{
    long offs[3] = {s_offset(naive - DAY), s_offset(naive), s_offset(naive + DAY)};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if ((i > 0 && offs[i] == offs[0]) || (i > 1 && offs[i] == offs[1])) {
            continue;
        }
        int64_t t = naive - offs[i];
        if (s_offset(t) != offs[i] || n == 2) {
            continue;
        }
        if (n == 1 && t < at[0]) {
            at[1] = at[0];
            at[0] = t;
        } else {
            at[n] = t;
        }
        n++;
    }
    if (n == 2) {
        *change = s_change(at[0], at[1]);
    } else if (n == 0) {
        long lo = offs[0], hi = offs[0];
        for (int i = 1; i < 3; i++) {
            lo = offs[i] < lo ? offs[i] : lo;
            hi = offs[i] > hi ? offs[i] : hi;
        }
        *change = s_change(naive - hi, naive - lo);
    }
    return n;
}

/* The wall time read as if it were UTC; timegm() never reads TZ. */
static int64_t
s_naive(const struct tm *wall)
{
    struct tm tm = {.tm_year = wall->tm_year,
                    .tm_mon = wall->tm_mon,
                    .tm_mday = wall->tm_mday,
                    .tm_hour = wall->tm_hour,
                    .tm_min = wall->tm_min,
                    .tm_sec = wall->tm_sec};
    return (int64_t)timegm(&tm);
}

/* Resolves wall in z; see s_resolve(). */
static int
s_resolve_wall(const sched_zone_t *z, const struct tm *wall, int64_t at[2], int64_t *change)
{
    int64_t naive = s_naive(wall);
    if (z->utc) {
        at[0] = naive;
        return 1;
    }
    s_enter(z);
    int n = s_resolve(naive, at, change);
    s_leave();
    return n;
}

int
sched_zone_local(const sched_zone_t *z, int64_t t, struct tm *out)
{
    time_t tt = (time_t)t;
    if (z->utc) {
        return gmtime_r(&tt, out) ? 0 : -1;
    }
    s_enter(z);
    struct tm *ok = localtime_r(&tt, out);
    s_leave();
    return ok ? 0 : -1;
}

int
sched_zone_resolve(const sched_zone_t *z, const struct tm *wall, int64_t out[2])
{
    int64_t at[2], change;
    int n = s_resolve_wall(z, wall, at, &change);
    for (int i = 0; i < n; i++) {
        out[i] = at[i];
    }
    return n;
}

int64_t
sched_zone_gap_end(const sched_zone_t *z, const struct tm *wall)
{
    int64_t at[2], change;
    return s_resolve_wall(z, wall, at, &change) == 0 ? change : at[0];
}

int64_t
sched_zone_overlap_end(const sched_zone_t *z, const struct tm *wall)
{
    int64_t at[2], change;
    if (s_resolve_wall(z, wall, at, &change) != 2) {
        return -1;
    }
    /* The repeated wall times are shown a second time from the change for as long as the
     * clocks went back, which is the distance between the two instants. */
    return change + (at[1] - at[0]);
}
