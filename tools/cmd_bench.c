/* yard bench: round trips per second and latency percentiles through the bus, next to raw
 * libzmq doing the same work, in one run (bench_baseline.c), so that the ratio compares figures
 * taken minutes apart on the same machine rather than across machines.
 *
 * Without --broker it starts, in this process, a broker on a free tcp loopback port and
 * --replicas replicas of a minimal echo actor on the shared runtime (the runtime is what we
 * measure; any actor's own code would only add noise), then N client threads, each with its
 * own yard client, keeping --window async calls outstanding for --duration seconds. Every
 * call's send time rides in its callback slot; latencies go into per-thread log-linear
 * histograms merged at the end. After the duration each client drains what is outstanding
 * with a deadline; lost = sent - replies - errors counts calls that ended in neither.
 *
 * Invariant: a call's slot is free exactly when its callback has run, so `outstanding` is the
 * number of calls the client still owes us an outcome for. */
#include "bench_bus.h"
#include "cli.h"

#include "yard/actor.h"
#include "yard/registry.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"

#include <zmq.h>

#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_CALL_TIMEOUT_MS 5000
#define S_WARMUP_MS       10000

static const char s_usage[] =
    "usage: yard bench [--clients N] [--replicas N] [--window N] [--duration S] [--size BYTES]\n"
    "                  [--json] [--broker URL --service NAME [--baseline]]\n"
    "Measures round trips/s and latency (p50, p99, p99.9) through the bus, then the same load\n"
    "through a raw libzmq zmq_proxy (ROUTER/DEALER), both on tcp loopback, and prints the ratio.\n"
    "  --clients N      client threads, each with its own connection (default 4)\n"
    "  --replicas N     echo replicas, and baseline worker threads (default 4)\n"
    "  --window N       calls each client keeps outstanding (default 64)\n"
    "  --duration S     seconds of load for each side (default 5)\n"
    "  --size BYTES     request body size (default 64)\n"
    "  --json           print one JSON object instead of a table\n"
    "  --broker URL     drive an existing bus instead of an in-process one (needs --service);\n"
    "                   the baseline then runs only with --baseline\n"
    "Exit status: 0 measured, 1 the bus could not be measured, 2 usage.\n";

typedef struct {
    int clients, replicas, window;
    double duration_s;
    size_t size;
    bool json, baseline;
    const char *broker, *service;
} s_opts_t;

typedef struct s_client s_client_t;

typedef struct {
    uint64_t t0;
    s_client_t *owner;
    int next_free;
} s_slot_t;

struct s_client {
    const s_opts_t *o;
    const char *endpoint;
    void *zmq_ctx;
    const void *body;
    pthread_barrier_t *ready, *go;
    volatile uint64_t *start_ns;
    pthread_t thread;
    s_slot_t *slots;
    int free_head;
    uint64_t outstanding;
    uint64_t end_ns;
    bool closing;
    int setup_rc;
    yard_bench_result_t r;
};

/* --- client threads ----------------------------------------------------------------------- */

static void
s_count_error(yard_bench_result_t *r, int err)
{
    uint32_t code = yard_err_to_wire(err);
    r->errors++;
    r->error_counts[code < 32 ? code : 0]++;
}

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_slot_t *slot = arg;
    s_client_t *c = slot->owner;
    uint64_t now = yard__now_ns();
    c->outstanding--;
    slot->next_free = c->free_head;
    c->free_head = (int)(slot - c->slots);
    if (c->closing) {
        return; /* ended by yard_client_destroy() after the drain deadline: counted as lost */
    }
    int status = reply ? yard_msg_status(reply) : YARD_E_INTERNAL;
    if (status != 0) {
        s_count_error(&c->r, status);
        return;
    }
    c->r.replies++;
    if (now <= c->end_ns) {
        c->r.replies_in_window++;
    }
    yard__hist_record(&c->r.hist, now - slot->t0);
}

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the service answers: replicas register asynchronously, so the first calls can
 * legitimately meet NO_SERVICE. Polling with a short back-off is fine in a tool. */
static int
s_warm_up(yard_client_t *client, const char *service, const void *body, size_t size)
{
    uint64_t deadline = yard__now_ns() + (uint64_t)S_WARMUP_MS * 1000000u;
    yard_call_opts_t opts = {.timeout_ms = 2000};
    int rc;
    do {
        yard_msg_t *reply = NULL;
        rc = yard_client_call(client, service, body, size, &opts, &reply);
        yard_msg_destroy(&reply);
        if (rc == 0) {
            return 0;
        }
        s_sleep_ms(20);
    } while (yard__now_ns() < deadline);
    return rc;
}

static void *
s_client_thread(void *arg)
{
    s_client_t *c = arg;
    const s_opts_t *o = c->o;
    pthread_setname_np(pthread_self(), "bench-client");
    yard_client_t *client = NULL;
    yard_client_opts_t copts = {.zmq_context = c->zmq_ctx, .default_timeout_ms = S_CALL_TIMEOUT_MS};
    c->setup_rc = yard_client_new(c->endpoint, &copts, &client);
    if (c->setup_rc == 0) {
        c->setup_rc = s_warm_up(client, o->service, c->body, o->size);
    }
    c->slots = calloc((size_t)o->window, sizeof *c->slots);
    if (!c->slots) {
        abort();
    }
    for (int i = 0; i < o->window; i++) {
        c->slots[i].owner = c;
        c->slots[i].next_free = i + 1 < o->window ? i + 1 : -1;
    }
    c->free_head = 0;
    pthread_barrier_wait(c->ready);
    pthread_barrier_wait(c->go);
    c->end_ns = *c->start_ns + (uint64_t)(o->duration_s * 1e9);
    yard_call_opts_t opts = {.timeout_ms = S_CALL_TIMEOUT_MS};
    while (c->setup_rc == 0 && yard__now_ns() < c->end_ns) {
        while (c->free_head >= 0) {
            s_slot_t *slot = &c->slots[c->free_head];
            c->free_head = slot->next_free;
            slot->t0 = yard__now_ns();
            c->outstanding++;
            c->r.sent++;
            int rc = yard_client_call_async(client, o->service, c->body, o->size, &opts, s_on_reply,
                                            slot);
            if (rc) {
                /* The callback will never run: give the slot back ourselves. */
                c->outstanding--;
                slot->next_free = c->free_head;
                c->free_head = (int)(slot - c->slots);
                s_count_error(&c->r, rc);
                break;
            }
        }
        int rc = yard_client_dispatch(client, 10);
        if (rc < 0) {
            s_count_error(&c->r, rc);
        }
    }
    /* Drain: every call is due to end by its deadline plus a heartbeat; allow a second more. */
    uint64_t deadline = c->end_ns + (uint64_t)(S_CALL_TIMEOUT_MS + 2000) * 1000000u;
    while (c->setup_rc == 0 && c->outstanding > 0 && yard__now_ns() < deadline) {
        yard_client_dispatch(client, 50);
    }
    c->closing = true;
    yard_client_destroy(&client);
    c->r.lost = c->r.sent - c->r.replies - c->r.errors;
    c->r.seconds = o->duration_s;
    free(c->slots);
    c->slots = NULL;
    return NULL;
}

/* Runs the bus side against endpoint. Returns 0 or -1 (a client could not reach the service). */
static int
s_run_bus(const s_opts_t *o, const char *endpoint, yard_bench_result_t *out)
{
    memset(out, 0, sizeof *out);
    size_t off = 0;
    void *body = yard__bench_body(o->size, &off);
    void *cctx = zmq_ctx_new();
    s_client_t *clients = calloc((size_t)o->clients, sizeof *clients);
    if (!cctx || !clients) {
        abort();
    }
    pthread_barrier_t ready, go;
    pthread_barrier_init(&ready, NULL, (unsigned)o->clients + 1);
    pthread_barrier_init(&go, NULL, (unsigned)o->clients + 1);
    volatile uint64_t start_ns = 0;
    for (int i = 0; i < o->clients; i++) {
        s_client_t *c = &clients[i];
        c->o = o;
        c->endpoint = endpoint;
        c->zmq_ctx = cctx;
        c->body = body;
        c->ready = &ready;
        c->go = &go;
        c->start_ns = &start_ns;
        if (pthread_create(&c->thread, NULL, s_client_thread, c)) {
            abort();
        }
    }
    pthread_barrier_wait(&ready);
    start_ns = yard__now_ns();
    pthread_barrier_wait(&go);
    int rc = 0;
    for (int i = 0; i < o->clients; i++) {
        s_client_t *c = &clients[i];
        pthread_join(c->thread, NULL);
        if (c->setup_rc) {
            if (rc == 0) {
                fprintf(stderr, "yard bench: service '%s' at %s does not answer: %s: %s\n",
                        o->service, endpoint, yard_err_name(c->setup_rc),
                        yard_strerror(c->setup_rc));
            }
            rc = -1;
        }
        out->sent += c->r.sent;
        out->replies += c->r.replies;
        out->replies_in_window += c->r.replies_in_window;
        out->errors += c->r.errors;
        out->lost += c->r.lost;
        for (int k = 0; k < 32; k++) {
            out->error_counts[k] += c->r.error_counts[k];
        }
        yard__hist_merge(&out->hist, &c->r.hist);
    }
    out->seconds = o->duration_s;
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    free(clients);
    zmq_ctx_term(cctx);
    free(body);
    return rc;
}

/* --- the in-process bus ------------------------------------------------------------------- */

/* Requests each echo replica may hold: all the clients' windows spread over the replicas. */
static int64_t
s_credit(const s_opts_t *o)
{
    int64_t all = (int64_t)o->clients * o->window;
    int64_t each = (all + o->replicas - 1) / o->replicas;
    return each < 16 ? 16 : each;
}

/* --- output ------------------------------------------------------------------------------- */

static double
s_rate(const yard_bench_result_t *r)
{
    return r->seconds > 0 ? (double)r->replies_in_window / r->seconds : 0;
}

static double
s_us(const yard_bench_result_t *r, double q)
{
    return (double)yard__hist_quantile(&r->hist, q) / 1000.0;
}

static void
s_print_json(const s_opts_t *o, const char *endpoint, const yard_bench_result_t *bus,
             const yard_bench_result_t *base)
{
    printf("{\"clients\":%d,\"replicas\":%d,\"window\":%d,\"duration_s\":%g,\"size\":%zu,",
           o->clients, o->replicas, o->window, o->duration_s, o->size);
    printf("\"in_process\":%s,", o->broker ? "false" : "true");
    (void)endpoint;
    printf("\"sent\":%llu,\"replies\":%llu,\"errors\":{", (unsigned long long)bus->sent,
           (unsigned long long)bus->replies);
    bool first = true;
    for (int k = 0; k < 32; k++) {
        if (bus->error_counts[k]) {
            printf("%s\"%s\":%llu", first ? "" : ",",
                   k ? yard_err_name(yard_err_from_wire((uint32_t)k)) : "LOCAL",
                   (unsigned long long)bus->error_counts[k]);
            first = false;
        }
    }
    printf("},\"lost\":%llu,\"rt_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"max_us\":%.1f",
           (unsigned long long)bus->lost, s_rate(bus), s_us(bus, 0.5), s_us(bus, 0.99),
           s_us(bus, 0.999), (double)bus->hist.max / 1000.0);
    if (base) {
        printf(",\"baseline_rt_per_s\":%.1f,\"baseline_p50_us\":%.1f,\"baseline_p99_us\":%.1f,"
               "\"baseline_p999_us\":%.1f,\"baseline_lost\":%llu,\"ratio\":%.3f",
               s_rate(base), s_us(base, 0.5), s_us(base, 0.99), s_us(base, 0.999),
               (unsigned long long)base->lost, s_rate(base) > 0 ? s_rate(bus) / s_rate(base) : 0);
    } else {
        printf(",\"baseline_rt_per_s\":null,\"baseline_p99_us\":null,\"ratio\":null");
    }
    printf("}\n");
}

static void
s_print_row(const char *name, const yard_bench_result_t *r)
{
    printf("%-16s %12.0f %10.1f %10.1f %10.1f %10llu %10llu %8llu %6llu\n", name, s_rate(r),
           s_us(r, 0.5), s_us(r, 0.99), s_us(r, 0.999), (unsigned long long)r->sent,
           (unsigned long long)r->replies, (unsigned long long)r->errors,
           (unsigned long long)r->lost);
}

static void
s_print_table(const s_opts_t *o, const char *endpoint, const yard_bench_result_t *bus,
              const yard_bench_result_t *base)
{
    printf("yard bench: %d clients x window %d, %d %s, %zu-byte bodies, %g s per side, %s\n",
           o->clients, o->window, o->replicas, o->broker ? "(existing replicas)" : "replicas",
           o->size, o->duration_s, endpoint);
    printf("%-16s %12s %10s %10s %10s %10s %10s %8s %6s\n", "path", "rt/s", "p50 us", "p99 us",
           "p99.9 us", "sent", "replies", "errors", "lost");
    s_print_row(o->broker ? "yard (existing)" : "yard broker", bus);
    if (base) {
        s_print_row("raw zmq_proxy", base);
        printf("ratio yard / zmq_proxy: %.3f (round trips/s)\n",
               s_rate(base) > 0 ? s_rate(bus) / s_rate(base) : 0);
    }
    for (int k = 0; k < 32; k++) {
        if (bus->error_counts[k]) {
            printf("errors %s: %llu\n",
                   k ? yard_err_name(yard_err_from_wire((uint32_t)k)) : "LOCAL",
                   (unsigned long long)bus->error_counts[k]);
        }
    }
}

/* --- the command -------------------------------------------------------------------------- */

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longopts[] = {
        {"clients", required_argument, NULL, 'c'},
        {"replicas", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"duration", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"broker", required_argument, NULL, 'b'},
        {"service", required_argument, NULL, 'S'},
        {"baseline", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (s_opts_t){.clients = 4, .replicas = 4, .window = 64, .duration_s = 5, .size = 64};
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *what = NULL;
        switch (ch) {
        case 'h':
            fputs(s_usage, stdout);
            return 1;
        case 'c':
            what = yard__parse_u64(optarg, 1, 1024, &v) ? "--clients: 1..1024" : NULL;
            o->clients = (int)v;
            break;
        case 'r':
            what = yard__parse_u64(optarg, 1, 1024, &v) ? "--replicas: 1..1024" : NULL;
            o->replicas = (int)v;
            break;
        case 'w':
            what = yard__parse_u64(optarg, 1, 100000, &v) ? "--window: 1..100000" : NULL;
            o->window = (int)v;
            break;
        case 'd': {
            char *end = NULL;
            o->duration_s = strtod(optarg, &end);
            if (!end || *end || !(o->duration_s >= 0.1 && o->duration_s <= 3600)) {
                what = "--duration: seconds, 0.1..3600";
            }
            break;
        }
        case 's':
            what = yard__parse_u64(optarg, 1, 1048576, &v) ? "--size: 1..1048576 bytes" : NULL;
            o->size = (size_t)v;
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
        case ':':
            fprintf(stderr, "yard bench: %s needs a value\n%s", argv[optind - 1], s_usage);
            return -1;
        default:
            fprintf(stderr, "yard bench: unknown option '%s'\n%s", argv[optind - 1], s_usage);
            return -1;
        }
        if (what) {
            fprintf(stderr, "yard bench: bad value '%s' for %s\n", optarg, what);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "yard bench: unexpected argument '%s'\n%s", argv[optind], s_usage);
        return -1;
    }
    if (!o->broker != !o->service) {
        fprintf(stderr, "yard bench: --broker and --service go together\n%s", s_usage);
        return -1;
    }
    if (!o->broker) {
        o->service = "echo";
        o->baseline = true;
    }
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
        if (yard__bench_bus_start(&own, o.replicas, s_credit(&o), false, "yard bench")) {
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
