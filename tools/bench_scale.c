/* `yard bench` over replica counts (contract in bench_scale.h). */
#include "bench_scale.h"
#include "bench_bus.h"
#include "bench_echo.h"
#include "bench_load.h"
#include "cli.h"
#ifdef YARD_BENCH_NATS
#include "bench_nats.h"
#include <nats/nats.h>
#endif

#include "yard/client.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <zmq.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WHO          "yard bench"
#define S_WARMUP_MS    10000
#define S_REGISTER_MS  10000
#define S_REPLICAS_MAX 1024
#define S_NAME_MAX     256

/* One system's round. */
typedef struct {
    bool ran;
    yard_bench_result_t *r; /* owned */
    uint64_t served[S_REPLICAS_MAX];
    int n;
} s_side_t;

typedef struct {
    int replicas;
    s_side_t yard, nats;
} s_round_t;

void
yard__bench_spread(const uint64_t *counts, int n, yard_bench_spread_t *out)
{
    memset(out, 0, sizeof *out);
    if (n <= 0) {
        return;
    }
    out->min = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        out->total += counts[i];
        out->min = counts[i] < out->min ? counts[i] : out->min;
        out->max = counts[i] > out->max ? counts[i] : out->max;
    }
    out->mean = (double)out->total / n;
    out->ratio = out->min ? (double)out->max / (double)out->min : 0;
    for (int i = 0; out->mean > 0 && i < n; i++) {
        double dev = fabs((double)counts[i] - out->mean) / out->mean * 100.0;
        out->dev_pct = dev > out->dev_pct ? dev : out->dev_pct;
    }
}

/* --- the broker's per-replica counts -------------------------------------------------------- */

typedef struct {
    char name[S_REPLICAS_MAX][S_NAME_MAX];
    uint64_t served[S_REPLICAS_MAX];
    int n;
} s_snapshot_t;

/* `$sys replicas {service: echo}` into *snap. Returns 0 or the call's error. */
static int
s_snapshot(yard_client_t *client, s_snapshot_t *snap)
{
    static const unsigned char body[] = {0x81, 0xa7, 's',  'e', 'r', 'v', 'i',
                                         'c',  'e',  0xa4, 'e', 'c', 'h', 'o'};
    yard_call_opts_t opts = {.op = "replicas", .timeout_ms = 2000};
    yard_msg_t *reply = NULL;
    snap->n = 0;
    int rc = yard_client_call(client, "$sys", body, sizeof body, &opts, &reply);
    if (rc) {
        yard_msg_destroy(&reply);
        return rc;
    }
    size_t size = 0;
    const void *data = yard_msg_body(reply, &size);
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 8192)) {
        abort();
    }
    msgpack_object root;
    const msgpack_object *reps = NULL;
    if (yard_mp_decode(data, size, &zone, &root, NULL, 0) == 0) {
        reps = yard_mp_find(&root, "replicas");
    }
    for (uint32_t i = 0; reps && reps->type == MSGPACK_OBJECT_ARRAY && i < reps->via.array.size &&
                         snap->n < S_REPLICAS_MAX;
         i++) {
        const msgpack_object *r = &reps->via.array.ptr[i];
        uint64_t served = 0;
        if (yard_mp_get_strbuf(r, "name", snap->name[snap->n], S_NAME_MAX, NULL, 0) == 0 &&
            yard_mp_get_uint(r, "served", &served, NULL, 0) == 0) {
            snap->served[snap->n++] = served;
        }
    }
    msgpack_zone_destroy(&zone);
    yard_msg_destroy(&reply);
    return 0;
}

/* Waits until echo has want replicas registered. Returns 0 or -1 (printed). */
static int
s_wait_registered(yard_client_t *client, s_snapshot_t *snap, int want)
{
    uint64_t deadline = yard__now_ns() + (uint64_t)S_REGISTER_MS * 1000000u;
    for (;;) {
        if (s_snapshot(client, snap) == 0 && snap->n >= want) {
            return 0;
        }
        if (yard__now_ns() >= deadline) {
            fprintf(stderr, S_WHO ": only %d of %d echo replicas registered in %d ms\n", snap->n,
                    want, S_REGISTER_MS);
            return -1;
        }
        yard__sleep_ms(20); /* a tool's polling back-off */
    }
}

/* Each replica's served count after the load less the one before (a replica missing from
 * the later list counts 0). */
static void
s_delta(const s_snapshot_t *before, const s_snapshot_t *after, s_side_t *side)
{
    side->n = after->n;
    for (int i = 0; i < after->n; i++) {
        uint64_t was = 0;
        for (int j = 0; j < before->n; j++) {
            if (strcmp(before->name[j], after->name[i]) == 0) {
                was = before->served[j];
                break;
            }
        }
        side->served[i] = after->served[i] - was;
    }
}

/* --- one round of each system --------------------------------------------------------------- */

static int
s_round_yard(const yard_bench_scale_t *s, int replicas, s_side_t *side)
{
    yard_bench_echo_opts_t eo = {.handler_ms = s->handler_ms,
                                 .fail_every = s->fail_every,
                                 .credit = (uint32_t)s->credit,
                                 .serial = s->serial};
    yard_bench_bus_t bus;
    s_snapshot_t *before = calloc(1, sizeof *before), *after = calloc(1, sizeof *after);
    void *cctx = zmq_ctx_new();
    if (!before || !after || !cctx) {
        abort();
    }
    yard_client_t *sys = NULL;
    size_t off = 0;
    void *body = yard__bench_body(s->size, &off);
    /* Round-robin (no fill): the rounds measure how evenly the broker spreads requests. */
    yard_bench_replicas_t r = {.replicas = replicas, .credit = s->credit};
    int rc = yard__bench_bus_start_def(&bus, &yard__bench_echo, &eo, &r, S_WHO);
    if (rc == 0) {
        yard_client_opts_t copts = {.zmq_context = cctx};
        rc = yard_client_new(bus.tcp, &copts, &sys) ? -1 : s_wait_registered(sys, before, replicas);
    }
    if (rc == 0) {
        yard_bench_load_t load = {.endpoint = bus.tcp,
                                  .zmq_ctx = cctx,
                                  .service = "echo",
                                  .body = body,
                                  .size = s->size,
                                  .clients = s->clients,
                                  .window = s->window,
                                  .duration_s = s->duration_s,
                                  .warmup_ms = S_WARMUP_MS};
        rc = yard__bench_load_run(&load, side->r);
        if (rc) {
            fprintf(stderr, S_WHO ": echo with %d replicas does not answer: %s\n", replicas,
                    yard_err_name(rc));
        }
    }
    if (rc == 0 && s_snapshot(sys, after) == 0) {
        s_delta(before, after, side);
    }
    side->ran = rc == 0;
    yard_client_destroy(&sys);
    yard__bench_bus_stop(&bus);
    zmq_ctx_term(cctx);
    free(body);
    free(before);
    free(after);
    return rc ? -1 : 0;
}

#ifdef YARD_BENCH_NATS
static void
s_round_nats(const yard_bench_scale_t *s, const char *url, int replicas, s_side_t *side)
{
    yard_bench_shape_t shape = {.clients = s->clients,
                                .workers = replicas,
                                .window = s->window,
                                .duration_s = s->duration_s,
                                .size = s->size,
                                .handler_ms = s->handler_ms,
                                .served = side->served};
    side->ran = yard__bench_nats(url, &shape, true, side->r, S_WHO) == 0;
    side->n = replicas;
}
#endif

/* --- output --------------------------------------------------------------------------------- */

/* The first round's rate per replica, the speedup's unit. */
static double
s_unit(const s_round_t *rounds, int n, bool nats)
{
    for (int i = 0; i < n; i++) {
        const s_side_t *side = nats ? &rounds[i].nats : &rounds[i].yard;
        if (side->ran) {
            return yard__bench_rate(side->r) / rounds[i].replicas;
        }
    }
    return 0;
}

/* The most round trips/s one replica can give: 1000 / handler_ms per request it works on at
 * once (a NATS responder and a serial replica: one; else its credit); 0 without a handler. */
static double
s_ideal(const yard_bench_scale_t *s, bool nats)
{
    if (!s->handler_ms) {
        return 0;
    }
    return 1000.0 / s->handler_ms * (nats || s->serial ? 1 : (double)s->credit);
}

static void
s_row_text(int replicas, const char *system, const s_side_t *side, double unit, double ideal)
{
    if (!side->ran) {
        printf("%8d  %-6s  (not measured)\n", replicas, system);
        return;
    }
    yard_bench_spread_t sp;
    yard__bench_spread(side->served, side->n, &sp);
    double rate = yard__bench_rate(side->r);
    char ratio[16], range[48];
    snprintf(ratio, sizeof ratio, sp.min ? "%.2f" : "inf", sp.ratio);
    snprintf(range, sizeof range, "%llu..%llu", (unsigned long long)sp.min,
             (unsigned long long)sp.max);
    yard_hist_t *all = calloc(1, sizeof *all);
    if (!all) {
        abort();
    }
    yard__hist_merge(all, &side->r->hist);
    yard__hist_merge(all, &side->r->fail_hist);
    printf("%8d  %-6s  %9.0f  %7.2fx  %7.1f%%  %17s  %7s  %7.1f%%  %8.2f  %8.2f  %8llu  %6llu\n",
           replicas, system, rate, unit > 0 ? rate / unit : 0,
           ideal > 0 ? rate / (ideal * replicas) * 100 : 0, range, ratio, sp.dev_pct,
           (double)yard__hist_quantile(all, 0.5) / 1e6,
           (double)yard__hist_quantile(all, 0.99) / 1e6, (unsigned long long)side->r->errors,
           (unsigned long long)side->r->lost);
    free(all);
}

static void
s_side_json(const s_side_t *side, double unit, double ideal, int replicas)
{
    if (!side->ran) {
        fputs("null", stdout);
        return;
    }
    yard_bench_spread_t sp;
    yard__bench_spread(side->served, side->n, &sp);
    double rate = yard__bench_rate(side->r);
    printf("{\"rt_per_s\":%.1f,\"speedup\":%.3f,\"ideal_rt_per_s\":%.1f,\"sent\":%llu,\"replies\":%"
           "llu,\"errors\":%llu,"
           "\"lost\":%llu,",
           rate, unit > 0 ? rate / unit : 0, ideal * replicas, (unsigned long long)side->r->sent,
           (unsigned long long)side->r->replies, (unsigned long long)side->r->errors,
           (unsigned long long)side->r->lost);
    yard__bench_latency_json(side->r);
    printf(",\"served\":[");
    for (int i = 0; i < side->n; i++) {
        printf("%s%llu", i ? "," : "", (unsigned long long)side->served[i]);
    }
    printf("],\"spread\":{\"replicas_seen\":%d,\"replicas\":%d,\"min\":%llu,\"max\":%llu,"
           "\"mean\":%.1f,",
           side->n, replicas, (unsigned long long)sp.min, (unsigned long long)sp.max, sp.mean);
    if (sp.min) {
        printf("\"max_min_ratio\":%.3f,", sp.ratio);
    } else {
        printf("\"max_min_ratio\":null,");
    }
    printf("\"max_dev_pct\":%.2f}}", sp.dev_pct);
}

static void
s_print(const yard_bench_scale_t *s, const s_round_t *rounds, bool nats)
{
    double uy = s_unit(rounds, s->rounds, false), un = s_unit(rounds, s->rounds, true);
    if (s->json) {
        printf("{\"handler_ms\":%u,\"serial\":%s,\"credit\":%lld,\"fail_every\":%u,\"clients\":%d,"
               "\"window\":%d,"
               "\"duration_s\":%g,\"size\":%zu,\"nats\":%s,\"rounds\":[",
               s->handler_ms, s->serial ? "true" : "false", (long long)s->credit, s->fail_every,
               s->clients, s->window, s->duration_s, s->size, nats ? "true" : "false");
        for (int i = 0; i < s->rounds; i++) {
            printf("%s{\"replicas\":%d,\"yard\":", i ? "," : "", rounds[i].replicas);
            s_side_json(&rounds[i].yard, uy, s_ideal(s, false), rounds[i].replicas);
            printf(",\"nats\":");
            s_side_json(&rounds[i].nats, un, s_ideal(s, true), rounds[i].replicas);
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("yard bench: handler %u ms%s, credit %lld per replica, %d clients x window %d, %g s "
           "per round, %zu-byte bodies%s\n",
           s->handler_ms, s->serial ? " (serial)" : "", (long long)s->credit, s->clients, s->window,
           s->duration_s, s->size,
           nats ? "; nats: queue group, one request at a time per responder" : "");
    printf("%8s  %-6s  %9s  %8s  %8s  %17s  %7s  %8s  %8s  %8s  %8s  %6s\n", "replicas", "system",
           "rt/s", "speedup", "of ideal", "served/replica", "max/min", "max dev", "p50 ms",
           "p99 ms", "failed", "lost");
    for (int i = 0; i < s->rounds; i++) {
        s_row_text(rounds[i].replicas, "yard", &rounds[i].yard, uy, s_ideal(s, false));
        if (nats) {
            s_row_text(rounds[i].replicas, "nats", &rounds[i].nats, un, s_ideal(s, true));
        }
    }
    printf("speedup: rt/s over the first round's rt/s per replica; of ideal: rt/s over "
           "replicas x 1000/handler-ms (x credit when held at once); max dev: the largest "
           "distance of a replica's count from the mean, in %% of the mean; p50/p99: all calls, "
           "failed ones included\n");
    for (int i = 0; i < s->rounds; i++) {
        if (rounds[i].yard.ran && rounds[i].yard.r->errors) {
            printf("yard, %d replica%s:\n", rounds[i].replicas, rounds[i].replicas == 1 ? "" : "s");
            fflush(stdout);
            yard__bench_latency_text(rounds[i].yard.r);
        }
    }
}

/* --- the command's rounds ------------------------------------------------------------------- */

int
yard__bench_scale(const yard_bench_scale_t *s)
{
    s_round_t *rounds = calloc((size_t)s->rounds, sizeof *rounds);
    if (!rounds) {
        abort();
    }
    for (int i = 0; i < s->rounds; i++) {
        rounds[i].replicas = s->replicas[i];
        rounds[i].yard.r = calloc(1, sizeof *rounds[i].yard.r);
        rounds[i].nats.r = calloc(1, sizeof *rounds[i].nats.r);
        if (!rounds[i].yard.r || !rounds[i].nats.r) {
            abort();
        }
    }
    bool nats = false;
#ifdef YARD_BENCH_NATS
    yard_nats_server_t server = {0};
    char program[512];
    if (s->nats) {
        if (yard__nats_server_find(program, sizeof program) != 0) {
            fprintf(stderr, S_WHO ": no nats-server (Debian package " YARD_NATS_SERVER_PACKAGE
                                  "): the NATS rounds are skipped\n");
        } else {
            nats = yard__nats_server_start(&server, program, S_WHO) == 0;
        }
    }
#else
    if (s->nats) {
        fprintf(stderr, S_WHO ": this build has no NATS client: the NATS rounds are skipped\n");
    }
#endif
    int code = YARD_EXIT_OK;
    for (int i = 0; i < s->rounds; i++) {
        if (s_round_yard(s, rounds[i].replicas, &rounds[i].yard)) {
            code = YARD_EXIT_ERROR;
        }
#ifdef YARD_BENCH_NATS
        if (nats) {
            s_round_nats(s, server.url, rounds[i].replicas, &rounds[i].nats);
        }
#endif
    }
#ifdef YARD_BENCH_NATS
    yard__nats_server_stop(&server);
    if (nats) {
        nats_Close();
    }
#endif
    s_print(s, rounds, nats);
    for (int i = 0; i < s->rounds; i++) {
        free(rounds[i].yard.r);
        free(rounds[i].nats.r);
    }
    free(rounds);
    return code;
}
