/* yard top: a live full-screen view of the bus's services, like htop or `redis-cli --stat`.
 *
 * Every interval it asks the broker `$sys` op `services` ({ts_ms, services: [{name, replicas,
 * credit, in_flight, queued, requests, replies, errors, rps, eps, p50_us, p99_us}]}) and
 * redraws. A broker that answers that op with BAD_REQUEST predates it: top then asks `stats`
 * instead, works out req/s and err/s from the counters' deltas and shows no latency (the
 * footer names the source), and asks `services` again after the broker's next restart.
 * `services` does not carry the broker's uptime: a `stats` call asks it when the broker
 * comes up and every 10 s after.
 *
 * The terminal is driven with plain ANSI escapes (no curses): raw mode through termios for
 * single keys, the alternate screen, a hidden cursor, a redraw by cursor positioning.
 * Invariant: however top ends (q, Ctrl-C, SIGINT, SIGTERM, SIGHUP, an error) it leaves
 * through one cleanup path that puts the terminal back as it found it. SIGINT and SIGTERM
 * (yard/signal.h) and SIGHUP and SIGWINCH are blocked before the client starts ZeroMQ's
 * threads and taken synchronously in the loop, so no handler runs at a random point.
 *
 * A broker that goes away does not end top: a call still goes out each interval (at most
 * S_MAX_INFLIGHT at once, each with its own deadline), the screen says DOWN and since when,
 * and the first reply after the client reconnects by itself brings the rows back. Calls are
 * numbered and only a newer outcome replaces what is shown, so a late answer never overwrites
 * a fresher view.
 *
 * When stdout is not a terminal, top prints one frame as plain text and exits (0 when the
 * broker answered, 3 when not): `yard top | cat` is a snapshot for scripts. */
#include "cli.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/signal.h"
#include "yard/wire.h"

#include <msgpack.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_INFLIGHT 4    /* calls outstanding at once while the broker is slow or away */
#define S_MAX_SERVICES 4096 /* rows taken from one reply (the reply is the broker's to size) */
#define S_LINE_MAX     1024 /* the widest line drawn */
#define S_NAME_W_MAX   32

static const char s_usage[] =
    "usage: yard top [--interval MS] [--sort KEY] [--broker URL] [--config FILE]\n"
    "A live full-screen view of the services, refreshed every interval: replicas, credit,\n"
    "in-flight, queued, req/s, err/s, p50, p99 and requests, from the broker's `$sys services`.\n"
    "  --interval MS  refresh interval in milliseconds, 100..60000 (default: 1000)\n"
    "  --sort KEY     initial sort: name, rps (req/s), eps (err/s), p99, inflight\n"
    "                 (default: name; numbers sort highest first)\n"
    "  --broker URL   broker endpoints, comma-separated (default: $YARD_BROKER, else the\n"
    "                 config file's broker key, else " YARD_CLI_DEFAULT_BROKER ")\n"
    "  --config FILE  the config file to read broker from (default: $YARD_CONFIG)\n"
    "Keys: q or Ctrl-C quit; s next sort key; r reverse the order; + and - lengthen and\n"
    "shorten the interval. The header shows the broker, up (with its uptime) or DOWN since\n"
    "when, and the time; rates and percentiles are the broker's, over its last 5 s.\n"
    "When the broker goes away the screen says DOWN and since when, and keeps retrying every\n"
    "interval; it recovers by itself when the broker is back.\n"
    "When stdout is not a terminal, prints one frame as plain text and exits (for scripts;\n"
    "a broker older than `$sys services` gives no rates there).\n"
    "Exit status: 0 (quit, SIGINT or SIGTERM; or the one frame printed), 2 usage, 3 no broker\n"
    "answered (one-frame mode only).\n";

/* --- what is shown ------------------------------------------------------------------------ */

typedef struct {
    char name[S_NAME_W_MAX + 1];
    uint64_t replicas, credit, in_flight, queued, requests, errors;
    double rps, eps;       /* < 0: not known (yet) */
    double p50_us, p99_us; /* < 0: not known */
} s_row_t;

typedef struct {
    s_row_t *v;
    size_t n, cap;
} s_rows_t;

typedef enum {
    S_SORT_NAME,
    S_SORT_RPS,
    S_SORT_EPS,
    S_SORT_P99,
    S_SORT_INFLIGHT,
    S_SORT_N
} s_sort_t;

static const char *const s_sort_names[S_SORT_N] = {"name", "req/s", "err/s", "p99", "in-flight"};

static const int s_ladder[] = {100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000};
#define S_LADDER_N ((int)(sizeof s_ladder / sizeof s_ladder[0]))

typedef struct {
    /* settings, changed by keys */
    char *endpoint;
    int interval_ms;
    s_sort_t sort;
    bool reverse;
    /* the bus */
    yard_client_t *client;
    bool use_stats;   /* the broker has no `services` op: ask `stats` */
    uint64_t seq;     /* numbers of calls sent */
    uint64_t applied; /* the newest call whose outcome is shown */
    int inflight;
    int64_t next_poll; /* monotonic ms */
    /* what is known */
    bool answered; /* a call has ended at all */
    bool up;
    time_t down_since;   /* wall clock, when it went (or was first found) down */
    time_t last_ok;      /* wall clock, the last answer (0: none yet) */
    int64_t up_since;    /* monotonic ms, when the current up period began */
    int64_t uptime_ms;   /* the broker's own uptime when it says (stats), else -1 */
    int64_t uptime_at;   /* monotonic ms when uptime_ms was read */
    int64_t next_uptime; /* monotonic ms: when to ask `stats` for the uptime again */
    bool uptime_pending; /* that call is out */
    unsigned attempts;   /* failed calls since it went down */
    char why[96];        /* the last failure */
    s_rows_t rows, prev; /* prev and prev_at: the stats fallback's last sample, for rates */
    int64_t prev_at;
    bool dirty;
} s_top_t;

/* One call's context: which call it was. */
typedef struct {
    s_top_t *top;
    uint64_t seq;
    time_t sent; /* wall clock */
} s_call_t;

static int64_t
s_now_ms(void)
{
    return (int64_t)(yard__now_ns() / 1000000u);
}

static s_row_t *
s_rows_push(s_rows_t *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        if (!r->v) {
            abort();
        }
    }
    s_row_t *row = &r->v[r->n++];
    memset(row, 0, sizeof *row);
    row->rps = row->eps = row->p50_us = row->p99_us = -1;
    return row;
}

/* --- the reply ------------------------------------------------------------------------- */

/* The number under key, or dflt when it is absent or not a number. */
static double
s_num(const msgpack_object *map, const char *key, double dflt)
{
    double v;
    return yard_mp_get_double(map, key, &v, NULL, 0) == 0 ? v : dflt;
}

static uint64_t
s_u64(const msgpack_object *map, const char *key)
{
    double v = s_num(map, key, 0);
    return v > 0 ? (uint64_t)v : 0;
}

/* The row named name in rows, or NULL. */
static const s_row_t *
s_find(const s_rows_t *rows, const char *name)
{
    for (size_t i = 0; i < rows->n; i++) {
        if (strcmp(rows->v[i].name, name) == 0) {
            return &rows->v[i];
        }
    }
    return NULL;
}

/* Reads a `services` or `stats` reply into out (emptied first); for stats, the rates come
 * from the counters' deltas since prev, taken dt_ms earlier (dt_ms <= 0: unknown). Returns 0,
 * or -1 when the body is not a map with a services array. */
static int
s_parse(const void *body, size_t size, bool stats, const s_rows_t *prev, int64_t dt_ms,
        s_rows_t *out, int64_t *uptime_ms)
{
    out->n = 0;
    *uptime_ms = -1;
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object root;
    int rc = -1;
    if (yard_mp_decode(body, size, &zone, &root, NULL, 0) != 0) {
        goto cleanup;
    }
    const msgpack_object *svcs = yard_mp_find(&root, "services");
    if (!svcs || svcs->type != MSGPACK_OBJECT_ARRAY) {
        goto cleanup;
    }
    *uptime_ms = (int64_t)s_num(&root, "uptime_ms", -1);
    for (uint32_t i = 0; i < svcs->via.array.size && i < S_MAX_SERVICES; i++) {
        const msgpack_object *s = &svcs->via.array.ptr[i];
        const msgpack_object *name = yard_mp_find(s, "name");
        if (!name || name->type != MSGPACK_OBJECT_STR) {
            continue;
        }
        s_row_t *row = s_rows_push(out);
        size_t n = name->via.str.size < S_NAME_W_MAX ? name->via.str.size : S_NAME_W_MAX;
        memcpy(row->name, name->via.str.ptr, n);
        row->name[n] = '\0';
        for (size_t c = 0; c < n; c++) {
            if ((unsigned char)row->name[c] < 0x20 || row->name[c] == 0x7f) {
                row->name[c] = '?'; /* no escape sequence of a peer's reaches the terminal */
            }
        }
        row->replicas = s_u64(s, "replicas");
        row->credit = s_u64(s, "credit");
        row->in_flight = s_u64(s, "in_flight");
        row->queued = s_u64(s, "queued");
        row->requests = s_u64(s, "requests");
        row->errors = s_u64(s, "errors");
        row->rps = s_num(s, "rps", -1);
        row->eps = s_num(s, "eps", -1);
        row->p50_us = s_num(s, "p50_us", -1);
        row->p99_us = s_num(s, "p99_us", -1);
        const s_row_t *was = stats && dt_ms > 0 ? s_find(prev, row->name) : NULL;
        if (was && row->requests >= was->requests && row->errors >= was->errors) {
            row->rps = (double)(row->requests - was->requests) * 1000.0 / (double)dt_ms;
            row->eps = (double)(row->errors - was->errors) * 1000.0 / (double)dt_ms;
        }
    }
    rc = 0;
cleanup:
    msgpack_zone_destroy(&zone);
    return rc;
}

/* --- units ------------------------------------------------------------------------------- */

/* A count or rate in at most 6 characters: "0", "3.5", "950", "12.3k", "123k", "1.2M". */
static const char *
s_qty(char *buf, size_t len, double v, bool fraction)
{
    static const char *const suffix[] = {"", "k", "M", "G", "T"};
    if (v < 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    int i = 0;
    while (v >= 999.5 && i < 4) {
        v /= 1000.0;
        i++;
    }
    if (i == 0) {
        snprintf(buf, len, fraction && v > 0 && v < 9.95 ? "%.1f" : "%.0f", v);
    } else {
        snprintf(buf, len, v < 99.95 ? "%.1f%s" : "%.0f%s", v, suffix[i]);
    }
    return buf;
}

/* A latency from microseconds: "850 us", "1.2 ms", "340 ms", "2.50 s"; "-" when unknown. */
static const char *
s_lat(char *buf, size_t len, double us)
{
    if (us < 0) {
        snprintf(buf, len, "-");
    } else if (us < 999.5) {
        snprintf(buf, len, "%.0f us", us);
    } else if (us < 99950) {
        snprintf(buf, len, "%.1f ms", us / 1000.0);
    } else if (us < 999500) {
        snprintf(buf, len, "%.0f ms", us / 1000.0);
    } else {
        snprintf(buf, len, "%.2f s", us / 1e6);
    }
    return buf;
}

/* "45s", "3m12s", "2h05m", "3d04h". */
static const char *
s_span(char *buf, size_t len, int64_t ms)
{
    long long s = ms / 1000;
    if (s < 60) {
        snprintf(buf, len, "%llds", s);
    } else if (s < 3600) {
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    } else if (s < 86400) {
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    } else {
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    }
    return buf;
}

static const char *
s_clock(char *buf, size_t len, time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%H:%M:%S", &tm);
    return buf;
}

/* --- sorting ----------------------------------------------------------------------------- */

static s_sort_t s_cmp_key;
static bool s_cmp_reverse;

static int
s_cmp_num(double a, double b)
{
    return a < b ? 1 : a > b ? -1 : 0; /* numbers: highest first */
}

static int
s_cmp(const void *pa, const void *pb)
{
    const s_row_t *a = pa, *b = pb;
    int c = 0;
    switch (s_cmp_key) {
    case S_SORT_RPS:
        c = s_cmp_num(a->rps, b->rps);
        break;
    case S_SORT_EPS:
        c = s_cmp_num(a->eps, b->eps);
        break;
    case S_SORT_P99:
        c = s_cmp_num(a->p99_us, b->p99_us);
        break;
    case S_SORT_INFLIGHT:
        c = s_cmp_num((double)a->in_flight, (double)b->in_flight);
        break;
    default:
        break;
    }
    if (c == 0) {
        c = strcmp(a->name, b->name);
    }
    return s_cmp_reverse ? -c : c;
}

static void
s_sort(s_top_t *t)
{
    /* qsort has no context argument in C11: the key lives in two file-local statics, set
     * here and read only by s_cmp during this call (top is single-threaded). */
    s_cmp_key = t->sort;
    s_cmp_reverse = t->reverse;
    if (t->rows.n > 1) {
        qsort(t->rows.v, t->rows.n, sizeof *t->rows.v, s_cmp);
    }
}

static int
s_sort_parse(const char *text, s_sort_t *out)
{
    static const struct {
        const char *name;
        s_sort_t key;
    } names[] = {
        {"name", S_SORT_NAME},          {"rps", S_SORT_RPS},
        {"req/s", S_SORT_RPS},          {"eps", S_SORT_EPS},
        {"err/s", S_SORT_EPS},          {"p99", S_SORT_P99},
        {"inflight", S_SORT_INFLIGHT},  {"in-flight", S_SORT_INFLIGHT},
        {"in_flight", S_SORT_INFLIGHT},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(text, names[i].name) == 0) {
            *out = names[i].key;
            return 0;
        }
    }
    return -1;
}

/* --- drawing ----------------------------------------------------------------------------- */

/* A frame being drawn: the bytes to write, and the line being filled. In plain mode (not a
 * terminal) there are no escapes and no width or height limit. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool plain;
    int width, height; /* the terminal's size */
    int row;           /* the line being drawn, 1-based */
    int col;           /* visible columns used on it */
} s_frame_t;

static void
s_put(s_frame_t *f, const char *s, size_t n)
{
    if (f->len + n + 1 > f->cap) {
        while (f->len + n + 1 > f->cap) {
            f->cap = f->cap ? f->cap * 2 : 8192;
        }
        f->buf = realloc(f->buf, f->cap);
        if (!f->buf) {
            abort();
        }
    }
    memcpy(f->buf + f->len, s, n);
    f->len += n;
    f->buf[f->len] = '\0';
}

/* Starts line row (1-based). Returns false when it is off the screen: draw nothing on it. */
static bool
s_line(s_frame_t *f, int row)
{
    if (!f->plain && row > f->height) {
        return false;
    }
    if (f->row > 0) {
        s_put(f, f->plain ? "\n" : "\x1b[K", f->plain ? 1 : 3);
    }
    f->row = row;
    f->col = 0;
    if (!f->plain) {
        char esc[32];
        int n = snprintf(esc, sizeof esc, "\x1b[%d;1H", row);
        s_put(f, esc, (size_t)n);
    }
    return true;
}

/* Appends text to the current line in the SGR attribute attr (NULL: plain), cut at the
 * terminal's width. */
static void s_text(s_frame_t *f, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_text(s_frame_t *f, const char *attr, const char *fmt, ...)
{
    char tmp[S_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        return;
    }
    size_t len = (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
    if (!f->plain) {
        size_t room = f->col < f->width ? (size_t)(f->width - f->col) : 0;
        len = len < room ? len : room;
    }
    if (len == 0) {
        return;
    }
    if (attr && !f->plain) {
        s_put(f, "\x1b[", 2);
        s_put(f, attr, strlen(attr));
        s_put(f, "m", 1);
    }
    s_put(f, tmp, len);
    if (attr && !f->plain) {
        s_put(f, "\x1b[0m", 4);
    }
    f->col += (int)len;
}

static void
s_frame_end(s_frame_t *f)
{
    if (f->plain) {
        s_put(f, "\n", 1);
    } else {
        s_put(f, "\x1b[K\x1b[J", 6); /* the rest of the last line, and every line below */
    }
}

/* The table's columns after SERVICE: title, width. */
static const struct {
    const char *title;
    int width;
    s_sort_t key; /* S_SORT_N: not a sort key */
} s_cols[] = {
    {"REPLICAS", 8, S_SORT_N}, {"CREDIT", 7, S_SORT_N},  {"IN-FLIGHT", 10, S_SORT_INFLIGHT},
    {"QUEUED", 7, S_SORT_N},   {"REQ/S", 8, S_SORT_RPS}, {"ERR/S", 8, S_SORT_EPS},
    {"P50", 9, S_SORT_N},      {"P99", 9, S_SORT_P99},   {"REQUESTS", 9, S_SORT_N},
};
#define S_NCOLS ((int)(sizeof s_cols / sizeof s_cols[0]))

static void
s_draw_header(s_top_t *t, s_frame_t *f, int64_t now)
{
    char a[32], b[32];
    s_line(f, 1);
    s_text(f, "1", "yard top");
    s_text(f, NULL, "  %s  ", t->endpoint);
    if (t->up) {
        s_text(f, "1;32", "up");
        if (t->uptime_ms >= 0) {
            s_text(f, NULL, "  uptime %s", s_span(a, sizeof a, t->uptime_ms + now - t->uptime_at));
        } else if (!f->plain) {
            s_text(f, NULL, "  connected %s", s_span(a, sizeof a, now - t->up_since));
        }
    } else if (!t->answered) {
        s_text(f, "1;33", "connecting");
    } else {
        s_text(f, "1;31", "DOWN since %s", s_clock(a, sizeof a, t->down_since));
        s_text(f, NULL, ", retrying");
    }
    s_text(f, NULL, "  %s  every %d ms  sort: %s%s", s_clock(b, sizeof b, time(NULL)),
           t->interval_ms, s_sort_names[t->sort], t->reverse ? " (reversed)" : "");
}

static void
s_draw_totals(s_top_t *t, s_frame_t *f)
{
    char a[16], b[16];
    s_line(f, 2);
    if (!t->up) {
        if (t->last_ok) {
            s_text(f, NULL, "last answer at %s", s_clock(a, sizeof a, t->last_ok));
        }
        return;
    }
    uint64_t reps = 0, inflight = 0, queued = 0;
    double rps = 0, eps = 0;
    bool rates = t->rows.n > 0;
    for (size_t i = 0; i < t->rows.n; i++) {
        const s_row_t *r = &t->rows.v[i];
        reps += r->replicas;
        inflight += r->in_flight;
        queued += r->queued;
        rates = rates && r->rps >= 0 && r->eps >= 0;
        rps += r->rps;
        eps += r->eps;
    }
    s_text(f, NULL, "services %zu  replicas %llu  in-flight %llu  queued %llu  req/s %s  err/s %s",
           t->rows.n, (unsigned long long)reps, (unsigned long long)inflight,
           (unsigned long long)queued, s_qty(a, sizeof a, rates ? rps : -1, true),
           s_qty(b, sizeof b, rates ? eps : -1, true));
}

static int
s_name_width(const s_top_t *t)
{
    int w = 16;
    for (size_t i = 0; i < t->rows.n; i++) {
        int n = (int)strlen(t->rows.v[i].name);
        w = n > w ? n : w;
    }
    return w;
}

static void
s_draw_row(s_frame_t *f, const s_row_t *r, int name_w)
{
    char v[S_NCOLS][16];
    s_qty(v[0], sizeof v[0], (double)r->replicas, false);
    s_qty(v[1], sizeof v[1], (double)r->credit, false);
    s_qty(v[2], sizeof v[2], (double)r->in_flight, false);
    s_qty(v[3], sizeof v[3], (double)r->queued, false);
    s_qty(v[4], sizeof v[4], r->rps, true);
    s_qty(v[5], sizeof v[5], r->eps, true);
    s_lat(v[6], sizeof v[6], r->p50_us);
    s_lat(v[7], sizeof v[7], r->p99_us);
    s_qty(v[8], sizeof v[8], (double)r->requests, false);
    s_text(f, r->eps > 0 ? "31" : NULL, "%-*s", name_w, r->name);
    for (int c = 0; c < S_NCOLS; c++) {
        s_text(f, NULL, " %*s", s_cols[c].width, v[c]);
    }
}

/* Draws the whole screen into f. */
static void
s_draw(s_top_t *t, s_frame_t *f)
{
    int64_t now = s_now_ms();
    s_draw_header(t, f, now);
    s_draw_totals(t, f);
    int name_w = s_name_width(t);
    s_line(f, 4);
    s_text(f, t->sort == S_SORT_NAME ? "7;1" : "7", "%-*s", name_w, "SERVICE");
    for (int c = 0; c < S_NCOLS; c++) {
        bool on = s_cols[c].key == t->sort;
        s_text(f, "7", " ");
        s_text(f, on ? "7;1" : "7", "%*s", s_cols[c].width, s_cols[c].title);
    }
    int footer = f->plain ? 0 : f->height;
    int row = 5;
    if (!t->up) {
        char a[32];
        if (s_line(f, row++)) {
            if (t->answered) {
                s_text(f, "31", "no answer from the broker for %s (%s), attempt %u",
                       s_span(a, sizeof a, (int64_t)(time(NULL) - t->down_since) * 1000), t->why,
                       t->attempts);
            } else {
                s_text(f, NULL, "waiting for the broker's first answer");
            }
        }
    } else if (t->rows.n == 0) {
        if (s_line(f, row++)) {
            s_text(f, NULL, "no services");
        }
    }
    for (size_t i = 0; t->up && i < t->rows.n; i++) {
        if (footer && row >= footer - 1 && i + 1 < t->rows.n) {
            if (s_line(f, row++)) {
                s_text(f, NULL, "... %zu more", t->rows.n - i);
            }
            break;
        }
        if (!s_line(f, row++)) {
            break;
        }
        s_draw_row(f, &t->rows.v[i], name_w);
    }
    if (footer > row) {
        s_line(f, footer);
        s_text(f, "7", " q ");
        s_text(f, NULL, " quit ");
        s_text(f, "7", " s ");
        s_text(f, NULL, " sort ");
        s_text(f, "7", " r ");
        s_text(f, NULL, " reverse ");
        s_text(f, "7", " +/- ");
        s_text(f, NULL, " interval    data: $sys %s%s", t->use_stats ? "stats" : "services",
               t->use_stats ? " (old broker: no latency)" : "");
    }
    s_frame_end(f);
}

/* --- polling ----------------------------------------------------------------------------- */

/* Applies the outcome of call seq, sent at sent (reply NULL: it could not be sent, err says
 * why). */
static void
s_outcome(s_top_t *t, uint64_t seq, time_t sent, const yard_msg_t *reply, int err)
{
    int64_t now = s_now_ms();
    int status = reply ? yard_msg_status(reply) : err;
    if (status == YARD_E_SHUTDOWN) {
        return; /* top is closing its client */
    }
    if (status == YARD_E_BAD_REQUEST && !t->use_stats) {
        t->use_stats = true; /* a broker from before `$sys services` */
        t->next_poll = now;
        return;
    }
    if (seq <= t->applied) {
        return; /* a newer outcome is already shown */
    }
    t->applied = seq;
    t->answered = true;
    t->dirty = true;
    if (status == 0) {
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        s_rows_t next = {0};
        int64_t uptime = -1;
        int64_t dt = t->up && t->prev_at ? now - t->prev_at : 0;
        if (s_parse(body, size, t->use_stats, &t->prev, dt, &next, &uptime) == 0) {
            if (!t->up) {
                t->up = true;
                t->up_since = now;
                t->next_uptime = now; /* maybe another broker: ask its uptime at once */
            }
            if (uptime >= 0) {
                t->uptime_ms = uptime;
                t->uptime_at = now;
            }
            free(t->prev.v);
            t->prev = t->rows;
            t->prev_at = now;
            t->rows = next;
            t->attempts = 0;
            t->last_ok = time(NULL);
            s_sort(t);
            return;
        }
        free(next.v);
        snprintf(t->why, sizeof t->why, "a reply top cannot read");
    } else {
        snprintf(t->why, sizeof t->why, "%s", yard_err_name(status));
    }
    if (t->up || t->attempts == 0) {
        t->down_since = sent; /* it was down (or on its way) when that call went out */
    }
    if (t->up) {
        t->use_stats = false; /* the broker that comes back may be a newer one */
    }
    t->up = false;
    t->uptime_ms = -1;
    t->attempts++;
    t->rows.n = 0;
    t->prev.n = 0;
    t->prev_at = 0;
}

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_call_t *c = arg;
    c->top->inflight--;
    s_outcome(c->top, c->seq, c->sent, reply, 0);
    free(c);
}

/* Sends the next call; its outcome arrives through s_on_reply. */
static void
s_poll(s_top_t *t)
{
    s_call_t *c = malloc(sizeof *c);
    if (!c) {
        abort();
    }
    c->top = t;
    c->seq = ++t->seq;
    c->sent = time(NULL);
    /* Each call may take two intervals (at least a second) before it counts as lost; another
     * goes out every interval meanwhile, so retries keep the interval's pace. */
    uint32_t timeout = (uint32_t)(t->interval_ms * 2 > 1000 ? t->interval_ms * 2 : 1000);
    yard_call_opts_t opts = {.op = t->use_stats ? "stats" : "services", .timeout_ms = timeout};
    int rc = yard_client_call_async(t->client, "$sys", NULL, 0, &opts, s_on_reply, c);
    if (rc != 0) {
        time_t sent = c->sent;
        free(c);
        s_outcome(t, t->seq, sent, NULL, rc);
        return;
    }
    t->inflight++;
}

/* The answer to the `stats` call that asks the broker's uptime (`services` does not say). */
static void
s_on_uptime(const yard_msg_t *reply, void *arg)
{
    s_top_t *t = arg;
    t->uptime_pending = false;
    if (yard_msg_status(reply) != 0 || !t->up) {
        return;
    }
    size_t size = 0;
    const void *body = yard_msg_body(reply, &size);
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    msgpack_object root;
    double ms =
        yard_mp_decode(body, size, &zone, &root, NULL, 0) == 0 ? s_num(&root, "uptime_ms", -1) : -1;
    if (ms >= 0) {
        t->uptime_ms = (int64_t)ms;
        t->uptime_at = s_now_ms();
        t->dirty = true;
    }
    msgpack_zone_destroy(&zone);
}

/* With `services`, asks `stats` for the uptime when the broker comes up and every 10 s (a
 * broker restarted between two polls shows as a smaller uptime). */
static void
s_ask_uptime(s_top_t *t, int64_t now)
{
    if (!t->up || t->use_stats || t->uptime_pending || now < t->next_uptime) {
        return;
    }
    t->next_uptime = now + 10000;
    yard_call_opts_t opts = {.op = "stats", .timeout_ms = 1000};
    if (yard_client_call_async(t->client, "$sys", NULL, 0, &opts, s_on_uptime, t) == 0) {
        t->uptime_pending = true;
    }
}

/* --- the terminal ------------------------------------------------------------------------ */

typedef struct {
    bool raw;    /* stdin's termios was changed */
    bool screen; /* the alternate screen is on */
    struct termios saved;
} s_term_t;

static void
s_write_all(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return; /* the terminal is gone: nothing left to draw on */
        }
        s += w;
        n -= (size_t)w;
    }
}

static void
s_term_size(s_frame_t *f)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        f->width = ws.ws_col < S_LINE_MAX ? ws.ws_col : S_LINE_MAX - 1;
        f->height = ws.ws_row;
    } else {
        f->width = 80;
        f->height = 24;
    }
}

/* Raw keys (when stdin is a terminal) and the alternate screen with the cursor hidden. */
static void
s_term_enter(s_term_t *term)
{
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &term->saved) == 0) {
        struct termios raw = term->saved;
        raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
        raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG); /* Ctrl-C arrives as a key */
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        term->raw = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
    }
    static const char on[] = "\x1b[?1049h\x1b[?25l\x1b[2J";
    s_write_all(on, sizeof on - 1);
    term->screen = true;
}

static void
s_term_leave(s_term_t *term)
{
    if (term->screen) {
        static const char off[] = "\x1b[0m\x1b[?25h\x1b[?1049l";
        s_write_all(off, sizeof off - 1);
        term->screen = false;
    }
    if (term->raw) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &term->saved);
        term->raw = false;
    }
}

/* Applies the keys waiting on stdin. Returns false when one of them quits (or stdin ended). */
static bool
s_keys(s_top_t *t)
{
    char buf[64];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) {
        return false; /* the terminal hung up */
    }
    for (ssize_t i = 0; i < n; i++) {
        int idx = 0;
        switch (buf[i]) {
        case 'q':
        case 'Q':
        case 3: /* Ctrl-C */
            return false;
        case 0x1b:
            return true; /* an escape sequence (arrow keys, ...): none of them is bound */
        case 's':
            t->sort = (s_sort_t)((t->sort + 1) % S_SORT_N);
            t->reverse = false;
            break;
        case 'r':
            t->reverse = !t->reverse;
            break;
        case '+':
        case '=':
            while (idx < S_LADDER_N - 1 && s_ladder[idx] <= t->interval_ms) {
                idx++;
            }
            t->interval_ms = s_ladder[idx] > t->interval_ms ? s_ladder[idx] : t->interval_ms;
            break;
        case '-':
        case '_':
            idx = S_LADDER_N - 1;
            while (idx > 0 && s_ladder[idx] >= t->interval_ms) {
                idx--;
            }
            t->interval_ms = s_ladder[idx] < t->interval_ms ? s_ladder[idx] : t->interval_ms;
            t->next_poll = s_now_ms(); /* a shorter interval shows at once */
            break;
        default:
            continue;
        }
        s_sort(t);
        t->dirty = true;
    }
    return true;
}

/* SIGHUP or SIGWINCH if one is pending (taken), else 0. */
static int
s_other_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGWINCH);
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(&set, NULL, &zero);
    return sig > 0 ? sig : 0;
}

/* The live screen until a quit. Returns the exit code. */
static int
s_live(s_top_t *t)
{
    yard_log_set_level(YARD_LOG_OFF); /* a log line would tear the screen */
    s_term_t term = {0};
    s_frame_t f = {0};
    int code = YARD_EXIT_OK;
    bool keys = isatty(STDIN_FILENO);
    s_term_enter(&term);
    s_term_size(&f);
    t->next_poll = s_now_ms();
    time_t drawn_at = 0;
    for (;;) {
        int64_t now = s_now_ms();
        if (now >= t->next_poll) {
            if (t->inflight < S_MAX_INFLIGHT) {
                s_poll(t);
            }
            t->next_poll = now + t->interval_ms;
        }
        s_ask_uptime(t, now);
        if (t->dirty || time(NULL) != drawn_at) {
            f.len = 0;
            f.row = 0;
            s_draw(t, &f);
            s_write_all(f.buf, f.len);
            t->dirty = false;
            drawn_at = time(NULL);
        }
        /* Wake for the next poll, and at least every 100 ms for the signals, which are taken
         * synchronously, and the clock. */
        int64_t wait = t->next_poll - s_now_ms();
        wait = wait < 0 ? 0 : wait > 100 ? 100 : wait;
        bool key_ready = false;
        int rc = keys ? yard_client_dispatch_fd(t->client, (int)wait, STDIN_FILENO, &key_ready)
                      : yard_client_dispatch(t->client, (int)wait);
        if (rc < 0) {
            code = YARD_EXIT_ERROR; /* only when the client's context is gone */
            break;
        }
        if (key_ready && !s_keys(t)) {
            break;
        }
        if (yard_signal_wait(0) != 0) {
            break;
        }
        int sig = s_other_signal();
        if (sig == SIGHUP) {
            break;
        }
        if (sig == SIGWINCH) {
            s_term_size(&f);
            t->dirty = true;
        }
    }
    s_term_leave(&term);
    free(f.buf);
    return code;
}

/* One frame as plain text, for stdout that is not a terminal. Returns the exit code. */
static int
s_once(s_top_t *t)
{
    yard_msg_t *reply = NULL;
    for (int tries = 0; tries < 2; tries++) {
        yard_call_opts_t opts = {.op = t->use_stats ? "stats" : "services", .timeout_ms = 5000};
        yard_msg_destroy(&reply);
        int rc = yard_client_call(t->client, "$sys", NULL, 0, &opts, &reply);
        if (rc == YARD_E_BAD_REQUEST && !t->use_stats) {
            t->use_stats = true;
            continue;
        }
        if (rc != 0) {
            yard__print_error(rc, reply);
            yard_msg_destroy(&reply);
            return yard__exit_for(rc);
        }
        break;
    }
    s_outcome(t, ++t->seq, time(NULL), reply, 0);
    yard_msg_destroy(&reply);
    if (!t->up) {
        fprintf(stderr, "yard top: %s\n", t->why);
        return YARD_EXIT_ERROR;
    }
    s_frame_t f = {.plain = true};
    s_draw(t, &f);
    fputs(f.buf, stdout);
    free(f.buf);
    return YARD_EXIT_OK;
}

/* --- the command ------------------------------------------------------------------------- */

int
yard__cmd_top(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interval", required_argument, NULL, 'i'}, {"sort", required_argument, NULL, 's'},
        {"broker", required_argument, NULL, 'b'},   {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    s_top_t t = {.interval_ms = 1000, .sort = S_SORT_NAME, .uptime_ms = -1};
    const char *broker = NULL, *config = NULL;
    optind = 1;
    opterr = 0;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(s_usage, stdout);
            return YARD_EXIT_OK;
        case 'i':
            if (yard__parse_u64(optarg, 100, 60000, &v)) {
                yard__opt_bad_value("yard top", optarg, "--interval: 100..60000 ms");
                return YARD_EXIT_USAGE;
            }
            t.interval_ms = (int)v;
            break;
        case 's':
            if (s_sort_parse(optarg, &t.sort)) {
                yard__opt_bad_value("yard top", optarg, "--sort: name, rps, eps, p99 or inflight");
                return YARD_EXIT_USAGE;
            }
            break;
        case 'b':
            broker = optarg;
            break;
        case 'C':
            config = optarg;
            break;
        default:
            yard__opt_reject("yard top", c, argv[optind - 1], s_usage);
            return YARD_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        yard__opt_operand("yard top", argv[optind], s_usage);
        return YARD_EXIT_USAGE;
    }
    char err[512];
    if (yard__broker_resolve(broker, config, &t.endpoint, err, sizeof err)) {
        fprintf(stderr, "yard top: %s\n", err);
        return YARD_EXIT_USAGE;
    }
    /* Before the client starts ZeroMQ's threads, so that they inherit the mask. */
    yard_signal_block();
    sigset_t more;
    sigemptyset(&more);
    sigaddset(&more, SIGHUP);
    sigaddset(&more, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &more, NULL);
    int code;
    int rc = yard_client_new(t.endpoint, NULL, &t.client);
    if (rc) {
        fprintf(stderr, "yard top: broker '%s': %s\n", t.endpoint, yard_strerror(rc));
        code = yard__exit_for(rc);
    } else {
        code = isatty(STDOUT_FILENO) ? s_live(&t) : s_once(&t);
    }
    yard_client_destroy(&t.client); /* ends what is in flight (SHUTDOWN), freeing each s_call_t */
    free(t.rows.v);
    free(t.prev.v);
    free(t.endpoint);
    return code;
}
