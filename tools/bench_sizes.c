/* `yard bench --sizes`: see bench_sizes.h.
 *
 * Each row: start the bus (in-process: a fresh broker and echo replicas whose credit covers
 * the row's window), read the broker's counters twice, run the load, read them a third time,
 * stop the bus, then run the baseline with the same shape, so that the two sides never share
 * the CPU. A `$sys stats` reply is packed before it is sent, so each read's own reply shows
 * in the next read: the first two reads, back to back, show how the broker sent one (its
 * body copied inline or its frame moved), and the second's reply, of known size, is taken off
 * the third's difference. What is left is the load's own traffic (warm-up calls included),
 * divided by the broker's count of replies to it: per round trip. */
#include "bench_sizes.h"
#include "bench_bus.h"
#include "bench_load.h"
#include "cli.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <zmq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WHO       "yard bench"
#define S_WARMUP_MS 10000
#define S_STATS_MS  5000

/* --- parsing ------------------------------------------------------------------------------ */

const char *
yard__bench_sizes_parse(const char *text, size_t *sizes, int *n, char *why, size_t why_len)
{
    *n = 0;
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[32];
        uint64_t v = 0;
        if (len == 0 || len >= sizeof item) {
            snprintf(why, why_len, "--sizes: '%s' has an empty or overlong entry", text);
            return why;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (yard__parse_u64(item, 1, YARD_BENCH_SIZE_MAX, &v)) {
            snprintf(why, why_len,
                     "--sizes: '%s' is not a body size 1..%u bytes; e.g. 64,4096,1048576", item,
                     YARD_BENCH_SIZE_MAX);
            return why;
        }
        if (*n == YARD_BENCH_SIZES_MAX) {
            snprintf(why, why_len, "--sizes: more than %d sizes in '%s'", YARD_BENCH_SIZES_MAX,
                     text);
            return why;
        }
        sizes[(*n)++] = (size_t)v;
        if (p[len] == '\0') {
            return NULL;
        }
        p += len + 1;
    }
}

int
yard__bench_sizes_window(int window, int clients, size_t size)
{
    uint64_t fit = YARD_BENCH_INFLIGHT_MAX / ((uint64_t)size * (uint64_t)clients);
    if (fit < 1) {
        fit = 1;
    }
    return (uint64_t)window > fit ? (int)fit : window;
}

/* --- the broker's counters ---------------------------------------------------------------- */

typedef struct {
    uint64_t copied, frames_moved, bytes_moved, replies;
    size_t reply_size; /* the size of the stats reply these came in */
} s_counters_t;

static const char *const s_counter_keys[] = {"body_bytes_copied", "body_frames_moved",
                                             "body_bytes_moved", "replies"};

/* Reads the counters of one `$sys stats` reply. Returns 0, or an error after printing why. */
static int
s_read_counters(yard_client_t *client, s_counters_t *out)
{
    yard_call_opts_t opts = {.op = "stats", .timeout_ms = S_STATS_MS};
    yard_msg_t *reply = NULL;
    int rc = yard_client_call(client, "$sys", NULL, 0, &opts, &reply);
    if (rc) {
        fprintf(stderr, S_WHO ": the broker's $sys stats: ");
        fflush(stderr);
        yard__print_error(rc, reply);
        yard_msg_destroy(&reply);
        return rc;
    }
    size_t size = 0;
    const void *body = yard_msg_body(reply, &size);
    out->reply_size = size;
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object root;
    const msgpack_object *counters = NULL;
    char why[160] = "";
    rc = yard_mp_decode(body, size, &zone, &root, why, sizeof why);
    if (rc == 0) {
        rc = yard_mp_get_map(&root, "counters", &counters, why, sizeof why);
    }
    uint64_t *slot[] = {&out->copied, &out->frames_moved, &out->bytes_moved, &out->replies};
    for (size_t i = 0; rc == 0 && i < sizeof slot / sizeof slot[0]; i++) {
        rc = yard_mp_get_uint(counters, s_counter_keys[i], slot[i], why, sizeof why);
    }
    if (rc) {
        fprintf(stderr,
                S_WHO ": the broker's $sys stats reply: %s (a broker from before the body "
                      "counters?)\n",
                why);
    }
    msgpack_zone_destroy(&zone);
    yard_msg_destroy(&reply);
    return rc;
}

static uint64_t
s_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* b - a, for each counter. */
static s_counters_t
s_minus(s_counters_t b, s_counters_t a)
{
    return (s_counters_t){s_sub(b.copied, a.copied), s_sub(b.frames_moved, a.frames_moved),
                          s_sub(b.bytes_moved, a.bytes_moved), s_sub(b.replies, a.replies), 0};
}

/* The load's own traffic from three reads: c[0] and c[1] back to back, c[2] after the load.
 * c[2] - c[1] holds the load and c[1]'s reply. Whether the broker copied that reply's body
 * (inline) or moved its frame shows in c[1] - c[0], which holds c[0]'s reply alone; its size
 * is c[1]'s own reply size (the counters grow, so it can differ by a few bytes from c[0]'s). */
static s_counters_t
s_load_of(const s_counters_t c[3])
{
    s_counters_t one = s_minus(c[1], c[0]);
    s_counters_t read = {.replies = 1};
    if (one.frames_moved) {
        read.frames_moved = 1;
        read.bytes_moved = c[1].reply_size;
    } else if (one.copied) {
        read.copied = c[1].reply_size;
    }
    return s_minus(s_minus(c[2], c[1]), read);
}

/* --- one row -------------------------------------------------------------------------------- */

typedef struct {
    size_t size;
    int window;
    yard_bench_result_t bus, base;
    bool have_base, have_counters;
    s_counters_t load; /* the load's own traffic through the broker */
} s_row_t;

/* The bus side of one row on endpoint, with the counters around it. Returns 0 or -1. */
static int
s_bus_side(const yard_bench_sizes_t *o, const char *endpoint, s_row_t *row)
{
    yard_client_t *stats = NULL;
    s_counters_t c[3];
    int rc = yard_client_new(endpoint, NULL, &stats);
    row->have_counters =
        rc == 0 && s_read_counters(stats, &c[0]) == 0 && s_read_counters(stats, &c[1]) == 0;
    rc = yard__bench_echo_load(endpoint, o->service, row->size, o->clients, row->window,
                               o->duration_s, S_WARMUP_MS, &row->bus);
    if (rc == 0 && row->have_counters && s_read_counters(stats, &c[2]) == 0) {
        row->load = s_load_of(c);
    } else {
        row->have_counters = false;
    }
    yard_client_destroy(&stats);
    return rc ? -1 : 0;
}

static int
s_row(const yard_bench_sizes_t *o, s_row_t *row)
{
    yard_bench_bus_t own;
    memset(&own, 0, sizeof own);
    const char *endpoint = o->broker;
    if (!o->broker) {
        yard_bench_replicas_t r = {
            .replicas = o->replicas,
            .credit = yard__bench_bus_credit((int64_t)o->clients * row->window, o->replicas),
            .fill = !o->spread};
        if (yard__bench_bus_start(&own, &r, S_WHO)) {
            yard__bench_bus_stop(&own);
            return -1;
        }
        endpoint = own.tcp;
    }
    int rc = s_bus_side(o, endpoint, row);
    yard__bench_bus_stop(&own); /* before the baseline: the two never share the CPU */
    if (rc) {
        return -1;
    }
    yard_bench_shape_t shape = {.clients = o->clients,
                                .workers = o->replicas,
                                .window = row->window,
                                .duration_s = o->duration_s,
                                .size = row->size};
    row->have_base = o->baseline && yard__bench_baseline(&shape, &row->base) == 0;
    return 0;
}

/* --- output --------------------------------------------------------------------------------- */

/* Body megabytes (10^6) per second, both ways: a round trip carries size bytes each way. */
static double
s_mb_per_s(const yard_bench_result_t *r, size_t size)
{
    return yard__bench_rate(r) * (double)size * 2.0 / 1e6;
}

static double
s_per_rt(uint64_t v, const s_row_t *row)
{
    return row->load.replies ? (double)v / (double)row->load.replies : 0;
}

static void
s_side_json(const char *key, const yard_bench_result_t *r, size_t size)
{
    printf("\"%s\":{\"rt_per_s\":%.1f,\"mb_per_s\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"sent\":%llu,\"replies\":%llu,\"errors\":%llu,\"lost\":%llu}",
           key, yard__bench_rate(r), s_mb_per_s(r, size), yard__bench_us(r, 0.5),
           yard__bench_us(r, 0.99), (unsigned long long)r->sent, (unsigned long long)r->replies,
           (unsigned long long)r->errors, (unsigned long long)r->lost);
}

static void
s_row_json(const s_row_t *row)
{
    printf("{\"size\":%zu,\"window\":%d,", row->size, row->window);
    s_side_json("yard", &row->bus, row->size);
    if (row->have_base) {
        putchar(',');
        s_side_json("baseline", &row->base, row->size);
        double b = yard__bench_rate(&row->base);
        printf(",\"ratio\":%.3f", b > 0 ? yard__bench_rate(&row->bus) / b : 0);
    } else {
        printf(",\"baseline\":null,\"ratio\":null");
    }
    if (row->have_counters) {
        const s_counters_t *l = &row->load;
        printf(",\"broker\":{\"round_trips\":%llu,\"body_bytes_copied\":%llu,"
               "\"body_frames_moved\":%llu,\"body_bytes_moved\":%llu,\"copied_per_rt\":%.1f,"
               "\"frames_moved_per_rt\":%.3f,\"bytes_moved_per_rt\":%.1f}",
               (unsigned long long)l->replies, (unsigned long long)l->copied,
               (unsigned long long)l->frames_moved, (unsigned long long)l->bytes_moved,
               s_per_rt(l->copied, row), s_per_rt(l->frames_moved, row),
               s_per_rt(l->bytes_moved, row));
    } else {
        printf(",\"broker\":null");
    }
    putchar('}');
}

static void
s_print_json(const yard_bench_sizes_t *o, const s_row_t *rows)
{
    printf("{\"clients\":%d,\"replicas\":%d,\"window\":%d,\"duration_s\":%g,"
           "\"inflight_max_bytes\":%u,\"in_process\":%s,\"fill\":%s,\"rows\":[",
           o->clients, o->replicas, o->window, o->duration_s, YARD_BENCH_INFLIGHT_MAX,
           o->broker ? "false" : "true", yard__bench_fill_json(o->broker, o->spread));
    for (int i = 0; i < o->nsizes; i++) {
        if (i) {
            putchar(',');
        }
        s_row_json(&rows[i]);
    }
    printf("]}\n");
}

static void
s_side_text(const yard_bench_result_t *r, size_t size)
{
    printf(" %10.0f %8.1f %8.1f %8.1f", yard__bench_rate(r), s_mb_per_s(r, size),
           yard__bench_us(r, 0.5), yard__bench_us(r, 0.99));
}

static void
s_print_table(const yard_bench_sizes_t *o, const s_row_t *rows)
{
    printf("yard bench: %d clients, %d %s, %g s per side per size; window %d, capped so that at "
           "most %u MiB of bodies are in flight\n",
           o->clients, o->replicas, yard__bench_replicas_label(o->broker, o->spread), o->duration_s,
           o->window, YARD_BENCH_INFLIGHT_MAX >> 20);
    printf("%-15s | %-37s | %-37s | %6s | %-26s\n", "",
           o->broker ? "yard (existing)" : "yard broker", "raw zmq_proxy", "",
           "broker, per round trip");
    printf("%-8s %6s | %10s %8s %8s %8s | %10s %8s %8s %8s | %6s | %8s %8s %8s\n", "size", "window",
           "rt/s", "MB/s", "p50 us", "p99 us", "rt/s", "MB/s", "p50 us", "p99 us", "ratio",
           "copied B", "frames", "lost");
    for (int i = 0; i < o->nsizes; i++) {
        const s_row_t *row = &rows[i];
        printf("%-8zu %6d |", row->size, row->window);
        s_side_text(&row->bus, row->size);
        printf(" |");
        if (row->have_base) {
            s_side_text(&row->base, row->size);
            double b = yard__bench_rate(&row->base);
            printf(" | %6.3f |", b > 0 ? yard__bench_rate(&row->bus) / b : 0);
        } else {
            printf(" %37s | %6s |", "-", "-");
        }
        if (row->have_counters) {
            printf(" %8.1f %8.3f", s_per_rt(row->load.copied, row),
                   s_per_rt(row->load.frames_moved, row));
        } else {
            printf(" %8s %8s", "-", "-");
        }
        printf(" %8llu\n", (unsigned long long)row->bus.lost);
    }
    printf("MB/s: body bytes both ways. ratio: yard rt/s / zmq_proxy rt/s. In the broker, per "
           "round trip: body bytes copied\n(inline bodies, up to the wire's inline limit) and "
           "body frames moved on by reference, never copied.\n");
    for (int i = 0; i < o->nsizes; i++) {
        if (rows[i].bus.errors) {
            printf("%zu-byte row: %llu calls ended in an error\n", rows[i].size,
                   (unsigned long long)rows[i].bus.errors);
        }
    }
}

/* --- the command -------------------------------------------------------------------------- */

int
yard__bench_sizes(const yard_bench_sizes_t *o)
{
    s_row_t *rows = calloc((size_t)o->nsizes, sizeof *rows);
    if (!rows) {
        abort();
    }
    int code = YARD_EXIT_OK;
    for (int i = 0; i < o->nsizes; i++) {
        rows[i].size = o->sizes[i];
        rows[i].window = yard__bench_sizes_window(o->window, o->clients, o->sizes[i]);
        if (s_row(o, &rows[i])) {
            code = YARD_EXIT_ERROR;
            break;
        }
    }
    if (code == YARD_EXIT_OK) {
        if (o->json) {
            s_print_json(o, rows);
        } else {
            s_print_table(o, rows);
        }
    }
    free(rows);
    return code;
}
