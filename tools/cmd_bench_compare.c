/* yard bench compare: request/reply through Switchyard, NATS and a raw zmq_proxy, in one run
 * on one machine, so that the ratios compare figures taken seconds apart rather than across
 * machines or days.
 *
 * Four rows: 1 and 4 responders, each pipelined (4 clients x 64 outstanding) and one at a
 * time (1 client, 1 outstanding). For each row the three systems run one after the other,
 * never at once, with the same body size and duration: Switchyard as `yard bench` runs it
 * (bench_bus.c, bench_load.c: an in-process broker and echo replicas on tcp loopback), NATS
 * with a nats-server child and the NATS C client (bench_nats.c), and the raw libzmq baseline
 * (bench_baseline.c). Running the three per row, rather than all of one system first, spreads
 * the host's minute-to-minute drift over all three alike. */
#include "bench_bus.h"
#include "bench_load.h"
#include "bench_nats.h"
#include "cli.h"

#include "yard/error.h"
#include "yard/log.h"

#include <nats/nats.h>
#include <zmq.h>

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WHO       "yard bench compare"
#define S_WARMUP_MS 10000
#define S_SIZE      64
#define S_SYSTEMS   4 /* yard, nats (default), nats (send asap), zmq_proxy */

static const char s_usage[] =
    "usage: yard bench compare [--duration S] [--json]\n"
    "Measures request/reply round trips/s and p50/p99 latency, 64-byte bodies, tcp loopback,\n"
    "through Switchyard (an in-process broker and echo replicas), NATS (a nats-server child\n"
    "process; responders are NATS C client queue subscribers) and a raw libzmq zmq_proxy, for\n"
    "1 and 4 responders, each pipelined (4 clients x 64 outstanding) and one at a time\n"
    "(1 client, 1 outstanding). The systems take turns; they never run at once.\n"
    "  --duration S   seconds of load for each system and row (default 3)\n"
    "  --json         print one JSON object instead of a table:\n"
    "      {\"duration_s\":3,\"size\":64,\"rows\":[{\"responders\":1,\"mode\":\"pipelined\",\n"
    "        \"clients\":4,\"window\":64,\n"
    "        \"yard\":{\"rt_per_s\":..,\"p50_us\":..,\"p99_us\":..,\"sent\":..,\"replies\":..,\n"
    "                \"errors\":..,\"lost\":..},\n"
    "        \"nats\":{same keys, \"send_asap\":true|false},\n"
    "        \"nats_default\":{same keys},\"nats_send_asap\":{same keys},\n"
    "        \"zmq_proxy\":{same keys},\"ratio_yard_nats\":..}, ...]}\n"
    "      mode is \"pipelined\" or \"one\". NATS runs twice per row, with the C client's\n"
    "      defaults (publishes are written by a flusher thread that waits up to 1 ms to batch)\n"
    "      and with natsOptions_SetSendAsap(); \"nats\" is the better (more rt/s) of the two,\n"
    "      and ratio_yard_nats is yard rt/s over its rt/s.\n"
    "Needs nats-server (Debian package nats-server) on PATH or in /usr/sbin, or named by\n"
    "$YARD_NATS_SERVER.\n"
    "Exit status: 0 measured, 1 nats-server missing or a system could not be measured,\n"
    "2 usage.\n";

typedef struct {
    int responders, clients, window;
    const char *mode;
} s_row_t;

static const s_row_t s_rows[] = {
    {1, 4, 64, "pipelined"},
    {1, 1, 1, "one"},
    {4, 4, 64, "pipelined"},
    {4, 1, 1, "one"},
};
#define S_ROWS ((int)(sizeof s_rows / sizeof s_rows[0]))

enum { S_YARD, S_NATS, S_NATS_ASAP, S_ZMQ };
static const char *const s_system_names[S_SYSTEMS] = {"yard", "nats_default", "nats_send_asap",
                                                      "zmq_proxy"};

typedef struct {
    double duration_s;
    bool json;
} s_opts_t;

/* --- the three systems -------------------------------------------------------------------- */

/* Switchyard, as `yard bench` measures it: a fresh broker and echo replicas for the row. */
static int
s_run_yard(const s_row_t *row, double duration_s, yard_bench_result_t *out)
{
    yard_bench_replicas_t r = {.replicas = row->responders,
                               .credit = yard__bench_bus_credit((int64_t)4 * 64, row->responders),
                               .fill = true};
    yard_bench_bus_t bus;
    int rc = yard__bench_bus_start(&bus, &r, S_WHO);
    if (rc == 0) {
        size_t off = 0;
        void *body = yard__bench_body(S_SIZE, &off);
        void *cctx = zmq_ctx_new(); /* the clients' own, apart from the bus's */
        if (!cctx) {
            abort();
        }
        yard_bench_load_t load = {.endpoint = bus.tcp,
                                  .zmq_ctx = cctx,
                                  .service = "echo",
                                  .body = body,
                                  .size = S_SIZE,
                                  .clients = row->clients,
                                  .window = row->window,
                                  .duration_s = duration_s,
                                  .warmup_ms = S_WARMUP_MS};
        int err = yard__bench_load_run(&load, out);
        if (err) {
            fprintf(stderr, "%s: echo does not answer: %s: %s\n", S_WHO, yard_err_name(err),
                    yard_strerror(err));
            rc = -1;
        }
        zmq_ctx_term(cctx);
        free(body);
    }
    yard__bench_bus_stop(&bus);
    return rc;
}

static int
s_run_row(const s_row_t *row, const s_opts_t *o, const char *nats_url,
          yard_bench_result_t *res /* [S_SYSTEMS] */)
{
    yard_bench_shape_t shape = {.clients = row->clients,
                                .workers = row->responders,
                                .window = row->window,
                                .duration_s = o->duration_s,
                                .size = S_SIZE};
    if (s_run_yard(row, o->duration_s, &res[S_YARD])) {
        return -1;
    }
    if (yard__bench_nats(nats_url, &shape, false, &res[S_NATS], S_WHO) ||
        yard__bench_nats(nats_url, &shape, true, &res[S_NATS_ASAP], S_WHO)) {
        return -1;
    }
    if (yard__bench_baseline(&shape, &res[S_ZMQ])) {
        return -1;
    }
    return 0;
}

/* --- output ------------------------------------------------------------------------------- */

static double
s_ratio(const yard_bench_result_t *a, const yard_bench_result_t *b)
{
    return yard__bench_rate(b) > 0 ? yard__bench_rate(a) / yard__bench_rate(b) : 0;
}

/* NATS at its best for the row: the client configuration with more round trips/s. */
static int
s_nats_best(const yard_bench_result_t *res)
{
    return yard__bench_rate(&res[S_NATS_ASAP]) > yard__bench_rate(&res[S_NATS]) ? S_NATS_ASAP
                                                                                : S_NATS;
}

static void
s_print_system(const char *name, const yard_bench_result_t *r, const char *extra)
{
    printf(",\"%s\":{\"rt_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"sent\":%llu,"
           "\"replies\":%llu,\"errors\":%llu,\"lost\":%llu%s}",
           name, yard__bench_rate(r), yard__bench_us(r, 0.5), yard__bench_us(r, 0.99),
           (unsigned long long)r->sent, (unsigned long long)r->replies,
           (unsigned long long)r->errors, (unsigned long long)r->lost, extra);
}

static void
s_print_json(const s_opts_t *o, const yard_bench_result_t (*res)[S_SYSTEMS])
{
    printf("{\"duration_s\":%g,\"size\":%d,\"rows\":[", o->duration_s, S_SIZE);
    for (int i = 0; i < S_ROWS; i++) {
        const s_row_t *row = &s_rows[i];
        int best = s_nats_best(res[i]);
        printf("%s{\"responders\":%d,\"mode\":\"%s\",\"clients\":%d,\"window\":%d", i ? "," : "",
               row->responders, row->mode, row->clients, row->window);
        s_print_system("yard", &res[i][S_YARD], "");
        s_print_system("nats", &res[i][best],
                       best == S_NATS_ASAP ? ",\"send_asap\":true" : ",\"send_asap\":false");
        for (int s = S_NATS; s < S_SYSTEMS; s++) {
            s_print_system(s_system_names[s], &res[i][s], "");
        }
        printf(",\"ratio_yard_nats\":%.3f}", s_ratio(&res[i][S_YARD], &res[i][best]));
    }
    printf("]}\n");
}

static void
s_print_cells(const yard_bench_result_t *r)
{
    printf(" | %9.0f %7.1f %7.1f", yard__bench_rate(r), yard__bench_us(r, 0.5),
           yard__bench_us(r, 0.99));
}

static void
s_print_table(const s_opts_t *o, const yard_bench_result_t (*res)[S_SYSTEMS])
{
    printf("yard bench compare: %d-byte bodies, %g s per system and row, tcp loopback\n", S_SIZE,
           o->duration_s);
    printf("nats: the better of the NATS C client's defaults and send-asap (the 'asap' column)\n");
    printf("%-4s %-15s | %9s %7s %7s | %9s %7s %7s %4s | %9s %7s %7s | %9s\n", "resp", "mode",
           "yard rt/s", "p50 us", "p99 us", "nats rt/s", "p50 us", "p99 us", "asap", "zmq rt/s",
           "p50 us", "p99 us", "yard/nats");
    for (int i = 0; i < S_ROWS; i++) {
        const s_row_t *row = &s_rows[i];
        int best = s_nats_best(res[i]);
        char mode[32];
        snprintf(mode, sizeof mode, "%dx%d %s", row->clients, row->window, row->mode);
        printf("%-4d %-15s", row->responders, mode);
        s_print_cells(&res[i][S_YARD]);
        s_print_cells(&res[i][best]);
        printf(" %4s", best == S_NATS_ASAP ? "yes" : "no");
        s_print_cells(&res[i][S_ZMQ]);
        printf(" | %9.2f\n", s_ratio(&res[i][S_YARD], &res[i][best]));
    }
    for (int i = 0; i < S_ROWS; i++) {
        int other = s_nats_best(res[i]) == S_NATS ? S_NATS_ASAP : S_NATS;
        printf("row %d, nats %s: %.0f rt/s, p50 %.1f us, p99 %.1f us\n", i + 1,
               other == S_NATS ? "defaults" : "send-asap", yard__bench_rate(&res[i][other]),
               yard__bench_us(&res[i][other], 0.5), yard__bench_us(&res[i][other], 0.99));
    }
    for (int i = 0; i < S_ROWS; i++) {
        for (int s = 0; s < S_SYSTEMS; s++) {
            const yard_bench_result_t *r = &res[i][s];
            if (r->errors || r->lost) {
                printf("row %d (%d responders, %s), %s: %llu errors, %llu lost\n", i + 1,
                       s_rows[i].responders, s_rows[i].mode, s_system_names[s],
                       (unsigned long long)r->errors, (unsigned long long)r->lost);
            }
        }
    }
}

/* --- the command -------------------------------------------------------------------------- */

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longopts[] = {
        {"duration", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (s_opts_t){.duration_s = 3};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *what = NULL;
        switch (ch) {
        case 'h':
            fputs(s_usage, stdout);
            return 1;
        case 'j':
            o->json = true;
            break;
        default:
            if (yard__bench_shape_opt(ch, optarg, NULL, NULL, &o->duration_s, &what)) {
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
    return 0;
}

int
yard__cmd_bench_compare(int argc, char **argv)
{
    s_opts_t o;
    int p = s_parse(argc, argv, &o);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    char program[PATH_MAX];
    if (yard__nats_server_find(program, sizeof program)) {
        fprintf(stderr,
                "%s: nats-server not found (looked at $YARD_NATS_SERVER, else PATH, "
                "/usr/local/sbin, /usr/sbin, /sbin): install the Debian package %s "
                "(apt-get install %s, or scripts/install-deps.sh)\n",
                S_WHO, YARD_NATS_SERVER_PACKAGE, YARD_NATS_SERVER_PACKAGE);
        return YARD_EXIT_ERROR;
    }
    if (!yard_log_enabled(YARD_LOG_DEBUG)) {
        yard_log_set_level(YARD_LOG_WARN); /* keep the runtime's info lines out of the figures */
    }
    yard_bench_result_t(*res)[S_SYSTEMS] = calloc(S_ROWS, sizeof *res);
    if (!res) {
        abort();
    }
    int code = YARD_EXIT_OK;
    yard_nats_server_t server;
    if (yard__nats_server_start(&server, program, S_WHO)) {
        code = YARD_EXIT_ERROR;
        goto cleanup;
    }
    for (int i = 0; i < S_ROWS; i++) {
        if (s_run_row(&s_rows[i], &o, server.url, res[i])) {
            code = YARD_EXIT_ERROR;
            goto cleanup;
        }
    }
    if (o.json) {
        s_print_json(&o, (const yard_bench_result_t(*)[S_SYSTEMS])res);
    } else {
        s_print_table(&o, (const yard_bench_result_t(*)[S_SYSTEMS])res);
    }
cleanup:
    yard__nats_server_stop(&server);
    nats_CloseAndWait(2000);
    free(res);
    return code;
}
