/* yard bench: round trips per second and latency percentiles through the bus, next to raw
 * libzmq doing the same work, in one run (bench_baseline.c), so that the ratio compares figures
 * taken minutes apart on the same machine rather than across machines.
 *
 * Without --broker it starts, in this process, a broker on a free tcp loopback port and
 * --replicas replicas of a minimal echo actor on the shared runtime (the runtime is what we
 * measure; any actor's own code would only add noise), then puts the load of bench_load.h on
 * it: --clients threads, each with its own yard client, keeping --window async calls
 * outstanding for --duration seconds. With --sizes it runs that once per body size, with the
 * broker's body counters beside each row (bench_sizes.h). */
#include "bench_bus.h"
#include "bench_echo.h"
#include "bench_load.h"
#include "bench_scale.h"
#include "bench_sizes.h"
#include "cli.h"

#include "yard/error.h"
#include "yard/log.h"

#include <zmq.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WHO       "yard bench"
#define S_WARMUP_MS 10000

static const char s_usage[] =
    "usage: yard bench [--clients N] [--replicas N|LIST] [--window N] [--duration S] [--size "
    "BYTES]\n"
    "                  [--sizes LIST] [--handler-ms N [--serial]] [--credit N] [--fail-every N]\n"
    "                  [--spread] [--no-nats] [--json]\n"
    "                  [--broker URL --service NAME [--baseline]]\n"
    "Measures round trips/s and latency (p50, p99, p99.9) through the bus, then the same load\n"
    "through a raw libzmq zmq_proxy (ROUTER/DEALER), both on tcp loopback, and prints the ratio.\n"
    "The latency of failed calls (an error answer: TIMEOUT, WORKER_LOST, a service's error) is\n"
    "reported apart (count, p50, p99, max), next to the replies' and to all calls together.\n"
    "With a handler time or a list of replica counts it measures scaling instead: one round per\n"
    "count, each with fresh echo replicas that hold every request --handler-ms, reporting\n"
    "round trips/s, the speedup per replica over the first round, how evenly requests spread\n"
    "over the replicas (counts per replica from the broker, max/min, the largest deviation from\n"
    "the mean in %), and the same round through NATS queue groups (a nats-server child, as\n"
    "many responders each sleeping --handler-ms per request, one at a time) side by side.\n"
    "  --clients N      client threads, each with its own connection (default 4)\n"
    "  --replicas N     echo replicas, and baseline worker threads (default 4); a list\n"
    "                   (1,2,4,8,16) or range (1-4) runs one scaling round per value\n"
    "  --handler-ms N   echo replicas hold each request N ms (0..10000) without blocking their\n"
    "                   thread (a timer answers it), so --credit requests are held at once\n"
    "  --credit N       each echo replica's credit (default: 1 with --handler-ms, like a\n"
    "                   handler doing N ms of work; else enough for every outstanding call)\n"
    "  --serial         a replica works on one held request at a time (a handler doing\n"
    "                   --handler-ms of work; with --credit N, N-1 wait in it, a prefetch);\n"
    "                   default: all it holds are held at once (a handler waiting on I/O)\n"
    "  --fail-every N   every Nth request of each replica is answered ERROR INTERNAL\n"
    "  --spread         the echo replicas take the broker's default round-robin; without it\n"
    "                   they ask it to fill each one's credit before the next's (READY FILL,\n"
    "                   docs/protocol.md 6.1), as an actor whose handler answers at once\n"
    "                   should (the scaling rounds always spread)\n"
    "  --no-nats        scaling rounds without the NATS side\n"
    "  --window N       calls each client keeps outstanding (default 64)\n"
    "  --duration S     seconds of load for each side (default 5)\n"
    "  --size BYTES     request body size, 1..1048576 (default 64)\n"
    "  --sizes LIST     one row per body size (e.g. 64,4096,1048576; at most 8, each\n"
    "                   1..1048576): the bus and the proxy, MB/s, and what the broker did with\n"
    "                   the bodies per round trip ($sys stats: bytes copied, frames moved)\n"
    "  --json           print one JSON object instead of a table\n"
    "  --broker URL     drive an existing bus instead of an in-process one (needs --service);\n"
    "                   the baseline then runs only with --baseline\n"
    "Large bodies: each client's window is capped so that at most 16 MiB of bodies are in\n"
    "flight (clients x window x size), on both sides; the output gives the window used.\n"
    "JSON adds \"ok\", \"failed\" and \"all\", each {\"count\":N,\"p50_us\":X,\"p99_us\":X,\n"
    "\"max_us\":X} (p50_us, p99_us, p999_us, max_us cover replies only). Scaling JSON:\n"
    "{\"handler_ms\":N,\"serial\":B,\"credit\":N,...,\"rounds\":[{\"replicas\":N,\n"
    " \"yard\":{\"rt_per_s\":X,\"speedup\":X,\"ideal_rt_per_s\":X,\"sent\":N,\"replies\":N,\n"
    "  \"errors\":N,\"lost\":N,\"ok\":{..},\"failed\":{..},\"all\":{..},\"served\":[N,..],\n"
    "  \"spread\":{\"replicas_seen\":N,\"replicas\":N,\"min\":N,\"max\":N,\"mean\":X,\n"
    "  \"max_min_ratio\":X|null,\"max_dev_pct\":X}},\"nats\":{same}|null},...]}\n"
    "Sizes JSON: {\"clients\":N,...,\"inflight_max_bytes\":N,\"rows\":[{\"size\":N,\n"
    " \"window\":N,\"yard\":{\"rt_per_s\":X,\"mb_per_s\":X,\"p50_us\":X,\"p99_us\":X,\n"
    " \"sent\":N,\"replies\":N,\"errors\":N,\"lost\":N},\"baseline\":{same}|null,\n"
    " \"ratio\":X|null,\"broker\":{\"round_trips\":N,\"body_bytes_copied\":N,\n"
    " \"body_frames_moved\":N,\"body_bytes_moved\":N,\"copied_per_rt\":X,\n"
    " \"frames_moved_per_rt\":X,\"bytes_moved_per_rt\":X}|null},...]}\n"
    "Exit status: 0 measured, 1 the bus could not be measured, 2 usage.\n";

typedef struct {
    int clients, replicas, window;
    double duration_s;
    size_t size;
    bool json, baseline, no_nats, serial, spread;
    const char *broker, *service;
    int list[YARD_BENCH_ROUNDS_MAX]; /* --replicas as given; nlist > 1: scaling rounds */
    int nlist;
    uint32_t handler_ms, fail_every;
    int64_t credit;                     /* 0: not given */
    size_t sizes[YARD_BENCH_SIZES_MAX]; /* --sizes; nsizes 0: not given */
    int nsizes;
    int window_asked; /* window: capped for the body size (yard__bench_sizes_window) */
} s_opts_t;

/* --replicas: N, or a list of N and A-B ranges ("1,2,4,8,16", "1-4,8"), each 1..1024, at
 * most YARD_BENCH_ROUNDS_MAX values. Returns NULL, or what was wrong (in why). */
static const char *
s_parse_replicas(const char *text, s_opts_t *o, char *why, size_t why_len)
{
    o->nlist = 0;
    const char *p = text;
    for (;;) {
        size_t n = strcspn(p, ",");
        char item[32];
        if (n == 0 || n >= sizeof item) {
            snprintf(why, why_len, "--replicas: '%s' has an empty or overlong entry", text);
            return why;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *dash = strchr(item + 1, '-');
        uint64_t a = 0, b = 0;
        if (dash) {
            *dash = '\0';
        }
        if (yard__parse_u64(item, 1, 1024, &a) ||
            (dash && (yard__parse_u64(dash + 1, 1, 1024, &b) || b < a))) {
            if (dash) {
                *dash = '-';
            }
            snprintf(why, why_len,
                     "--replicas: '%s' is not a count 1..1024 or a range A-B (A <= B); "
                     "e.g. 4, or 1,2,4,8,16, or 1-4",
                     item);
            return why;
        }
        for (uint64_t v = a; v <= (dash ? b : a); v++) {
            if (o->nlist == YARD_BENCH_ROUNDS_MAX) {
                snprintf(why, why_len, "--replicas: more than %d rounds in '%s'",
                         YARD_BENCH_ROUNDS_MAX, text);
                return why;
            }
            o->list[o->nlist++] = (int)v;
        }
        if (p[n] == '\0') {
            break;
        }
        p += n + 1;
    }
    o->replicas = o->list[0];
    return NULL;
}

/* --- the bus side ------------------------------------------------------------------------- */

/* Runs the bus side against endpoint. Returns 0 or -1 (a client could not reach the service). */
static int
s_run_bus(const s_opts_t *o, const char *endpoint, yard_bench_result_t *out)
{
    return yard__bench_echo_load(endpoint, o->service, o->size, o->clients, o->window,
                                 o->duration_s, S_WARMUP_MS, out);
}

/* --- output ------------------------------------------------------------------------------- */

static void
s_print_json(const s_opts_t *o, const char *endpoint, const yard_bench_result_t *bus,
             const yard_bench_result_t *base)
{
    printf("{\"clients\":%d,\"replicas\":%d,\"window\":%d,\"duration_s\":%g,\"size\":%zu,",
           o->clients, o->replicas, o->window, o->duration_s, o->size);
    printf("\"in_process\":%s,", o->broker ? "false" : "true");
    printf("\"fill\":%s,", yard__bench_fill_json(o->broker, o->spread));
    (void)endpoint;
    printf("\"sent\":%llu,\"replies\":%llu,\"errors\":{", (unsigned long long)bus->sent,
           (unsigned long long)bus->replies);
    bool first = true;
    for (int k = 0; k < 32; k++) {
        if (bus->error_counts[k]) {
            printf("%s\"%s\":%llu", first ? "" : ",", yard__bench_error_name(k),
                   (unsigned long long)bus->error_counts[k]);
            first = false;
        }
    }
    printf("},\"lost\":%llu,\"rt_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"max_us\":%.1f",
           (unsigned long long)bus->lost, yard__bench_rate(bus), yard__bench_us(bus, 0.5),
           yard__bench_us(bus, 0.99), yard__bench_us(bus, 0.999), (double)bus->hist.max / 1000.0);
    putchar(',');
    yard__bench_latency_json(bus);
    if (base) {
        printf(",\"baseline_rt_per_s\":%.1f,\"baseline_p50_us\":%.1f,\"baseline_p99_us\":%.1f,"
               "\"baseline_p999_us\":%.1f,\"baseline_lost\":%llu,\"ratio\":%.3f",
               yard__bench_rate(base), yard__bench_us(base, 0.5), yard__bench_us(base, 0.99),
               yard__bench_us(base, 0.999), (unsigned long long)base->lost,
               yard__bench_rate(base) > 0 ? yard__bench_rate(bus) / yard__bench_rate(base) : 0);
    } else {
        printf(",\"baseline_rt_per_s\":null,\"baseline_p99_us\":null,\"ratio\":null");
    }
    printf("}\n");
}

static void
s_print_row(const char *name, const yard_bench_result_t *r)
{
    printf("%-16s %12.0f %10.1f %10.1f %10.1f %10llu %10llu %8llu %6llu\n", name,
           yard__bench_rate(r), yard__bench_us(r, 0.5), yard__bench_us(r, 0.99),
           yard__bench_us(r, 0.999), (unsigned long long)r->sent, (unsigned long long)r->replies,
           (unsigned long long)r->errors, (unsigned long long)r->lost);
}

static void
s_print_table(const s_opts_t *o, const char *endpoint, const yard_bench_result_t *bus,
              const yard_bench_result_t *base)
{
    printf("yard bench: %d clients x window %d, %d %s, %zu-byte bodies, %g s per side, %s\n",
           o->clients, o->window, o->replicas, yard__bench_replicas_label(o->broker, o->spread),
           o->size, o->duration_s, endpoint);
    if (o->window < o->window_asked) {
        printf("window capped from %d to %d: at most %u MiB of bodies in flight\n", o->window_asked,
               o->window, YARD_BENCH_INFLIGHT_MAX >> 20);
    }
    printf("%-16s %12s %10s %10s %10s %10s %10s %8s %6s\n", "path", "rt/s", "p50 us", "p99 us",
           "p99.9 us", "sent", "replies", "errors", "lost");
    s_print_row(o->broker ? "yard (existing)" : "yard broker", bus);
    if (base) {
        s_print_row("raw zmq_proxy", base);
        printf("ratio yard / zmq_proxy: %.3f (round trips/s)\n",
               yard__bench_rate(base) > 0 ? yard__bench_rate(bus) / yard__bench_rate(base) : 0);
    }
    for (int k = 0; k < 32; k++) {
        if (bus->error_counts[k]) {
            printf("errors %s: %llu\n", yard__bench_error_name(k),
                   (unsigned long long)bus->error_counts[k]);
        }
    }
    printf("%s:\n", o->broker ? "yard (existing)" : "yard broker");
    yard__bench_latency_text(bus);
}

/* --- the command -------------------------------------------------------------------------- */

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longopts[] = {
        {"clients", required_argument, NULL, 'c'}, {"replicas", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},  {"duration", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 's'},    {"json", no_argument, NULL, 'j'},
        {"broker", required_argument, NULL, 'b'},  {"service", required_argument, NULL, 'S'},
        {"baseline", no_argument, NULL, 'B'},      {"handler-ms", required_argument, NULL, 'H'},
        {"credit", required_argument, NULL, 'k'},  {"fail-every", required_argument, NULL, 'F'},
        {"no-nats", no_argument, NULL, 'N'},       {"serial", no_argument, NULL, 'P'},
        {"sizes", required_argument, NULL, 'Z'},   {"spread", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    *o = (s_opts_t){
        .clients = 4, .replicas = 4, .window = 64, .duration_s = 5, .size = 64, .nlist = 1};
    o->list[0] = 4;
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    char why[160];
    bool size_given = false;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *what = NULL;
        switch (ch) {
        case 'h':
            fputs(s_usage, stdout);
            return 1;
        case 'r':
            if (s_parse_replicas(optarg, o, why, sizeof why)) {
                fprintf(stderr, S_WHO ": %s\n", why);
                return -1;
            }
            break;
        case 'H':
            what = yard__parse_u64(optarg, 0, 10000, &v) ? "--handler-ms: 0..10000" : NULL;
            o->handler_ms = (uint32_t)v;
            break;
        case 'k':
            what = yard__parse_u64(optarg, 1, 100000, &v) ? "--credit: 1..100000" : NULL;
            o->credit = (int64_t)v;
            break;
        case 'F':
            what =
                yard__parse_u64(optarg, 1, 1000000000, &v) ? "--fail-every: 1..1000000000" : NULL;
            o->fail_every = (uint32_t)v;
            break;
        case 'N':
            o->no_nats = true;
            break;
        case 'P':
            o->serial = true;
            break;
        case 'R':
            o->spread = true;
            break;
        case 's':
            what = yard__parse_u64(optarg, 1, YARD_BENCH_SIZE_MAX, &v) ? "--size: 1..1048576 bytes"
                                                                       : NULL;
            o->size = (size_t)v;
            size_given = true;
            break;
        case 'Z':
            if (yard__bench_sizes_parse(optarg, o->sizes, &o->nsizes, why, sizeof why)) {
                fprintf(stderr, S_WHO ": %s\n", why);
                return -1;
            }
            break;
        case 'j':
            o->json = true;
            break;
        case 'b':
            o->broker = optarg;
            break;
        case 'S':
            o->service = optarg;
            break;
        case 'B':
            o->baseline = true;
            break;
        default:
            if (yard__bench_shape_opt(ch, optarg, &o->clients, &o->window, &o->duration_s, &what)) {
                break;
            }
            return yard__opt_reject(S_WHO, ch, argv[optind - 1], s_usage);
        }
        if (what) {
            return yard__opt_bad_value(S_WHO, optarg, what);
        }
    }
    if (optind < argc) {
        return yard__opt_operand(S_WHO, argv[optind], s_usage);
    }
    if (!o->broker != !o->service) {
        fprintf(stderr, "yard bench: --broker and --service go together\n%s", s_usage);
        return -1;
    }
    bool own_echo = o->handler_ms || o->fail_every || o->credit || o->nlist > 1;
    if (o->serial && !o->handler_ms) {
        fprintf(stderr, S_WHO ": --serial needs --handler-ms\n");
        return -1;
    }
    if (o->nsizes && (size_given || own_echo)) {
        fprintf(stderr, S_WHO ": --sizes runs the plain echo at each size: not with --size, "
                              "--handler-ms, --credit, --fail-every or a --replicas list\n");
        return -1;
    }
    if (o->broker && o->spread) {
        fprintf(stderr, S_WHO ": --spread shapes the bench's own echo replicas: not with "
                              "--broker\n");
        return -1;
    }
    if (o->broker && own_echo) {
        fprintf(stderr, S_WHO ": --handler-ms, --credit, --fail-every and a --replicas list "
                              "shape the bench's own echo replicas: not with --broker\n");
        return -1;
    }
    if (!o->broker) {
        o->service = "echo";
        o->baseline = !own_echo; /* the raw proxy has no handler time or failures to match */
    }
    o->window_asked = o->window; /* --sizes caps it for each row */
    o->window = yard__bench_sizes_window(o->window, o->clients, o->size);
    return 0;
}

int
yard__cmd_bench(int argc, char **argv)
{
    s_opts_t o;
    int p = s_parse(argc, argv, &o);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    if (!yard_log_enabled(YARD_LOG_DEBUG)) {
        yard_log_set_level(YARD_LOG_WARN); /* keep the runtime's info lines out of the figures */
    }
    if (o.nsizes) {
        yard_bench_sizes_t sz = {.clients = o.clients,
                                 .replicas = o.replicas,
                                 .window = o.window_asked,
                                 .duration_s = o.duration_s,
                                 .nsizes = o.nsizes,
                                 .json = o.json,
                                 .baseline = o.baseline,
                                 .spread = o.spread,
                                 .broker = o.broker,
                                 .service = o.service};
        memcpy(sz.sizes, o.sizes, sizeof o.sizes);
        return yard__bench_sizes(&sz);
    }
    if (o.nlist > 1 || o.handler_ms) {
        yard_bench_scale_t sc = {
            .rounds = o.nlist,
            .clients = o.clients,
            .window = o.window,
            .duration_s = o.duration_s,
            .size = o.size,
            .handler_ms = o.handler_ms,
            .fail_every = o.fail_every,
            .credit = o.credit       ? o.credit
                      : o.handler_ms ? 1
                                     : yard__bench_bus_credit((int64_t)o.clients * o.window, 1),
            .serial = o.serial,
            .nats = !o.no_nats,
            .json = o.json};
        memcpy(sc.replicas, o.list, sizeof o.list);
        return yard__bench_scale(&sc);
    }
    yard_bench_result_t *bus = calloc(1, sizeof *bus);
    yard_bench_result_t *base = calloc(1, sizeof *base);
    if (!bus || !base) {
        abort();
    }
    int code = YARD_EXIT_OK;
    /* Clients and replicas reach our broker over tcp loopback, as the baseline's reach the
     * proxy: the same transport on both sides. */
    yard_bench_bus_t own;
    memset(&own, 0, sizeof own);
    const char *endpoint = o.broker;
    if (!o.broker) {
        yard_bench_replicas_t r = {
            .replicas = o.replicas,
            .credit = o.credit ? o.credit
                               : yard__bench_bus_credit((int64_t)o.clients * o.window, o.replicas),
            .fill = !o.spread};
        yard_bench_echo_opts_t eo = {.fail_every = o.fail_every, .credit = (uint32_t)r.credit};
        int rc = o.fail_every || o.credit
                     ? yard__bench_bus_start_def(&own, &yard__bench_echo, &eo, &r, S_WHO)
                     : yard__bench_bus_start(&own, &r, S_WHO);
        if (rc) {
            yard__bench_bus_stop(&own);
            code = YARD_EXIT_ERROR;
            goto cleanup;
        }
        endpoint = own.tcp;
    }
    int rc = s_run_bus(&o, endpoint, bus);
    /* Stop our bus before the baseline runs, so the two never share the CPU. */
    yard__bench_bus_stop(&own);
    if (rc) {
        code = YARD_EXIT_ERROR;
        goto cleanup;
    }
    yard_bench_shape_t shape = {
        .clients = o.clients,
        .workers = o.replicas,
        .window = o.window,
        .duration_s = o.duration_s,
        .size = o.size,
    };
    bool have_base = o.baseline && yard__bench_baseline(&shape, base) == 0;
    if (o.json) {
        s_print_json(&o, endpoint, bus, have_base ? base : NULL);
    } else {
        s_print_table(&o, endpoint, bus, have_base ? base : NULL);
    }
cleanup:
    free(bus);
    free(base);
    return code;
}
