/* yard services and yard replicas: the broker's view of its services (`$sys services`) and of
 * one service's replicas (`$sys replicas`), as an aligned table with units for people or, with
 * --json, as the broker's reply converted to one JSON document for scripts (the shapes are in
 * docs/protocol.md, section "The $sys service", and in each command's --help).
 *
 * Both are one call through a fresh client; exit codes are cli.h's: 0 shown, 1 the broker
 * answered with an error (NOT_FOUND for an unknown service), 2 usage, 3 no broker in time. */
#include "brokers.h"
#include "cli.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <msgpack.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_COLS     12
#define S_CELL     64
#define S_ROWS_MAX 4096

static const char s_services_usage[] =
    "usage: yard services [--json] [--timeout MS] [--broker URL] [--config FILE]\n"
    "Lists the services the broker knows: replicas, credit (sum of the replicas' credit),\n"
    "requests in flight and queued, totals since the broker started, and over the last\n"
    "complete 5 s window the request and error rates and the p50/p99 latency from the\n"
    "broker accepting a request to its answer. Then one line per broker: its endpoint, up\n"
    "or down, the clients connected to it, replicas registered, connections and subscribers.\n"
    "With several brokers in the list each is asked (at once) and shows its own services.\n"
    "  --json         print one JSON document (the `$sys services` reply):\n"
    "                 {\"ts_ms\":N,\"clients\":N,\"connections\":N,\"replica_peers\":N,\n"
    "                  \"subscribers\":N,\"services\":[{\"name\":S,\"replicas\":N,\"credit\":N,\n"
    "                  \"in_flight\":N,\"queued\":N,\"requests\":N,\"replies\":N,\"errors\":N,\n"
    "                  \"rps\":X,\"eps\":X,\"p50_us\":N,\"p99_us\":N},...]}\n"
    "                 ts_ms: the broker's wall clock (ms since 1970); rps, eps: requests and\n"
    "                 errors per second; requests, replies, errors: totals since start.\n"
    "                 With several brokers: {\"brokers\":[{\"endpoint\":S,\"up\":true,<the\n"
    "                 reply's keys>} or {\"endpoint\":S,\"up\":false,\"error\":NAME},...]}\n"
    "  --timeout MS   how long to wait for the broker (default: 5000)\n"
    "  --broker URL   broker endpoints, comma-separated (default: $YARD_BROKER, else the\n"
    "                 config file's broker key, else " YARD_CLI_DEFAULT_BROKER ")\n"
    "  --config FILE  the config file to read broker from (default: $YARD_CONFIG)\n"
    "Exit status: 0 listed (at least one broker answered; each down one is named on\n"
    "stderr), 1 the broker answered with an error, 2 usage, 3 no broker answered in time.\n";

static const char s_replicas_usage[] =
    "usage: yard replicas SERVICE [--json] [--timeout MS] [--broker URL] [--config FILE]\n"
    "Lists the replicas of SERVICE: name (host/pid/index for the actor runtime), uptime since\n"
    "its READY, answers it gave, requests it holds, its credit, when the broker last heard\n"
    "from it and its heartbeat interval, and whether it is draining (or asked for fill).\n"
    "  --json         print one JSON document (the `$sys replicas` reply):\n"
    "                 {\"service\":S,\"replicas\":[{\"name\":S,\"host\":S,\"pid\":N,\"index\":N,\n"
    "                  \"uptime_ms\":N,\"served\":N,\"in_flight\":N,\"credit\":N,\n"
    "                  \"last_heartbeat_ms_ago\":N,\"heartbeat_ms\":N,\"draining\":B,\n"
    "                  \"fill\":B},...]}\n"
    "                 host, pid and index are null when the name is not host/pid/index\n"
    "  --timeout MS   how long to wait for the broker (default: 5000)\n"
    "  --broker URL   broker endpoints, comma-separated (default: $YARD_BROKER, else the\n"
    "                 config file's broker key, else " YARD_CLI_DEFAULT_BROKER ")\n"
    "  --config FILE  the config file to read broker from (default: $YARD_CONFIG)\n"
    "Exit status: 0 listed, 1 the broker answered with an error (NOT_FOUND: no such\n"
    "service), 2 usage, 3 no broker answered in time.\n";

typedef struct {
    const char *broker, *config, *service;
    uint32_t timeout_ms;
    bool json;
} s_args_t;

/* Parses argv. Returns 0, 1 after --help (exit 0), or -1 after a usage error (exit 2). */
static int
s_parse(const char *who, const char *usage, bool wants_service, int argc, char **argv, s_args_t *a)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},         {"timeout", required_argument, NULL, 't'},
        {"broker", required_argument, NULL, 'b'}, {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage, stdout);
            return 1;
        case 'j':
            a->json = true;
            break;
        case 't':
            if (yard__parse_u64(optarg, 1, 3600000, &v)) {
                return yard__opt_bad_value(who, optarg, "--timeout: milliseconds, 1..3600000");
            }
            a->timeout_ms = (uint32_t)v;
            break;
        case 'b':
            a->broker = optarg;
            break;
        case 'C':
            a->config = optarg;
            break;
        default:
            return yard__opt_reject(who, c, argv[optind - 1], usage);
        }
    }
    if (wants_service && optind < argc) {
        a->service = argv[optind++];
    }
    if (optind < argc) {
        return yard__opt_operand(who, argv[optind], usage);
    }
    if (wants_service && (!a->service || !*a->service)) {
        fprintf(stderr, "%s: missing SERVICE\n%s", who, usage);
        return -1;
    }
    return 0;
}

/* Calls `$sys` op with body. Returns the exit code; on 0 *reply is the reply (caller owns it;
 * free with yard_msg_destroy()). Errors are printed. */
static int
s_call(const char *who, const s_args_t *a, const char *op, const void *body, size_t size,
       yard_msg_t **reply)
{
    *reply = NULL;
    char *endpoint = NULL;
    char err[512];
    int rc = yard__broker_resolve(a->broker, a->config, &endpoint, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", who, err);
        return YARD_EXIT_USAGE;
    }
    yard_client_opts_t copts = {.default_timeout_ms = a->timeout_ms};
    yard_client_t *client = NULL;
    rc = yard_client_new(endpoint, &copts, &client);
    if (rc) {
        fprintf(stderr, "%s: broker '%s': %s\n", who, endpoint, yard_strerror(rc));
        free(endpoint);
        return yard__exit_for(rc);
    }
    free(endpoint);
    yard_call_opts_t opts = {.op = op, .timeout_ms = a->timeout_ms};
    rc = yard_client_call(client, "$sys", body, size, &opts, reply);
    int code = YARD_EXIT_OK;
    if (rc) {
        yard__print_error(rc, *reply);
        yard_msg_destroy(reply);
        code = yard__exit_for(rc);
    }
    yard_client_destroy(&client);
    return code;
}

/* Prints the reply's body as one line of JSON. Returns the exit code. */
static int
s_print_json(const yard_msg_t *reply)
{
    size_t n = 0;
    const void *body = yard_msg_body(reply, &n);
    char *text = NULL;
    char err[256];
    if (yard_json_from_msgpack(body, n, &text, NULL, err, sizeof err)) {
        fprintf(stderr, "error: BAD_REQUEST: the reply has no JSON form: %s\n", err);
        return YARD_EXIT_ERROR;
    }
    puts(text);
    free(text);
    return YARD_EXIT_OK;
}

/* --- reading the reply -------------------------------------------------------------------- */

static double
s_num(const msgpack_object *map, const char *key)
{
    double v;
    return yard_mp_get_double(map, key, &v, NULL, 0) == 0 ? v : 0;
}

static bool
s_is_nil(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = yard_mp_find(map, key);
    return !o || o->type == MSGPACK_OBJECT_NIL;
}

/* Copies the string at key into out ("-" when absent or not a string). */
static void
s_str(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    const msgpack_object *o = yard_mp_find(map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR) {
        snprintf(out, cap, "-");
        return;
    }
    size_t n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;
    memcpy(out, o->via.str.ptr, n);
    out[n] = '\0';
}

/* --- units ---------------------------------------------------------------------------------- */

/* 987, 12.3k, 4.5M, 6.7G: exact below 10000. */
static void
s_fmt_count(char *out, size_t cap, double v)
{
    if (v < 10000) {
        snprintf(out, cap, "%.0f", v);
    } else if (v < 1e6) {
        snprintf(out, cap, "%.1fk", v / 1e3);
    } else if (v < 1e9) {
        snprintf(out, cap, "%.1fM", v / 1e6);
    } else {
        snprintf(out, cap, "%.1fG", v / 1e9);
    }
}

/* 0, 0.4, 12, 987, 12.3k, 4.5M followed by unit. */
static void
s_fmt_rate(char *out, size_t cap, double v, const char *unit)
{
    char num[32];
    if (v <= 0) {
        snprintf(num, sizeof num, "0");
    } else if (v < 10) {
        snprintf(num, sizeof num, "%.1f", v);
    } else if (v < 1000) {
        snprintf(num, sizeof num, "%.0f", v);
    } else if (v < 1e6) {
        snprintf(num, sizeof num, "%.1fk", v / 1e3);
    } else {
        snprintf(num, sizeof num, "%.1fM", v / 1e6);
    }
    snprintf(out, cap, "%s %s", num, unit);
}

/* 85 µs, 1.2 ms, 123 ms, 2.5 s; "-" for 0 (nothing measured). */
static void
s_fmt_us(char *out, size_t cap, double us)
{
    if (us <= 0) {
        snprintf(out, cap, "-");
    } else if (us < 1000) {
        snprintf(out, cap, "%.0f µs", us);
    } else if (us < 100000) {
        snprintf(out, cap, "%.1f ms", us / 1e3);
    } else if (us < 1e6) {
        snprintf(out, cap, "%.0f ms", us / 1e3);
    } else {
        snprintf(out, cap, "%.1f s", us / 1e6);
    }
}

/* 850 ms, 42s, 3m12s, 2h05m, 3d04h. */
static void
s_fmt_duration(char *out, size_t cap, double ms)
{
    uint64_t s = (uint64_t)(ms / 1000);
    if (ms < 1000) {
        snprintf(out, cap, "%.0f ms", ms);
    } else if (s < 60) {
        snprintf(out, cap, "%llus", (unsigned long long)s);
    } else if (s < 3600) {
        snprintf(out, cap, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    } else if (s < 86400) {
        snprintf(out, cap, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60));
    } else {
        snprintf(out, cap, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s / 3600 % 24));
    }
}

/* --- tables --------------------------------------------------------------------------------- */

typedef struct {
    int ncols, nrows;
    const char *right; /* per column: 'r' right-aligned (numbers), else left */
    char (*cells)[S_COLS][S_CELL];
} s_table_t;

static size_t
s_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) {
        w += ((unsigned char)*s & 0xC0) != 0x80; /* UTF-8: count code points */
    }
    return w;
}

static void
s_row(s_table_t *t)
{
    if (t->nrows % 64 == 0) {
        t->cells = realloc(t->cells, (size_t)(t->nrows + 64) * sizeof *t->cells);
        if (!t->cells) {
            abort();
        }
    }
    memset(t->cells[t->nrows], 0, sizeof t->cells[t->nrows]);
    t->nrows++;
}

static void
s_set(s_table_t *t, int col, const char *text)
{
    snprintf(t->cells[t->nrows - 1][col], S_CELL, "%s", text);
}

static void
s_table_print(s_table_t *t)
{
    size_t w[S_COLS] = {0};
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            size_t n = s_width(t->cells[r][c]);
            w[c] = n > w[c] ? n : w[c];
        }
    }
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r][c];
            size_t pad = w[c] - s_width(cell);
            bool last = c == t->ncols - 1;
            if (t->right[c] == 'r') {
                printf("%*s%s", (int)pad, "", cell);
            } else {
                printf("%s%*s", cell, last ? 0 : (int)pad, "");
            }
            fputs(last ? "\n" : "  ", stdout);
        }
    }
    free(t->cells);
    t->cells = NULL;
}

static void
s_header(s_table_t *t, const char *const *names)
{
    s_row(t);
    for (int c = 0; c < t->ncols; c++) {
        s_set(t, c, names[c]);
    }
}

/* Decodes the reply's body (a peer's bytes: the bounded decoder) into root, allocating from
 * zone. Returns root, or NULL after printing why. */
static const msgpack_object *
s_root(const yard_msg_t *reply, msgpack_zone *zone, msgpack_object *root)
{
    size_t n = 0;
    const void *body = yard_msg_body(reply, &n);
    char why[160];
    if (yard_mp_decode(body, n, zone, root, why, sizeof why) != 0) {
        fprintf(stderr, "error: BAD_REQUEST: the broker's reply is not msgpack: %s\n", why);
        return NULL;
    }
    if (root->type != MSGPACK_OBJECT_MAP) {
        fprintf(stderr, "error: BAD_REQUEST: the broker's reply is not a msgpack map\n");
        return NULL;
    }
    return root;
}

/* The array at key (NULL when absent), with *n its length (capped). */
static const msgpack_object *
s_array(const msgpack_object *root, const char *key, uint32_t *n)
{
    const msgpack_object *o = yard_mp_find(root, key);
    *n = 0;
    if (!o || o->type != MSGPACK_OBJECT_ARRAY) {
        return NULL;
    }
    *n = o->via.array.size < S_ROWS_MAX ? o->via.array.size : S_ROWS_MAX;
    return o->via.array.ptr;
}

static int
s_print_services(const yard_msg_t *reply)
{
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object obj;
    const msgpack_object *root = s_root(reply, &zone, &obj);
    if (!root) {
        msgpack_zone_destroy(&zone);
        return YARD_EXIT_ERROR;
    }
    static const char *const names[] = {"SERVICE",  "REPLICAS", "CREDIT", "IN FLIGHT",
                                        "QUEUED",   "REQUESTS", "ERRORS", "REQ RATE",
                                        "ERR RATE", "P50",      "P99"};
    s_table_t t = {.ncols = 11, .right = "lrrrrrrrrrr"};
    s_header(&t, names);
    uint32_t n = 0;
    const msgpack_object *svcs = s_array(root, "services", &n);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *s = &svcs[i];
        char cell[S_CELL];
        s_row(&t);
        s_str(s, "name", cell, sizeof cell);
        s_set(&t, 0, cell);
        static const char *const counts[] = {"replicas", "credit",   "in_flight",
                                             "queued",   "requests", "errors"};
        for (int k = 0; k < 6; k++) {
            s_fmt_count(cell, sizeof cell, s_num(s, counts[k]));
            s_set(&t, 1 + k, cell);
        }
        s_fmt_rate(cell, sizeof cell, s_num(s, "rps"), "req/s");
        s_set(&t, 7, cell);
        s_fmt_rate(cell, sizeof cell, s_num(s, "eps"), "err/s");
        s_set(&t, 8, cell);
        s_fmt_us(cell, sizeof cell, s_num(s, "p50_us"));
        s_set(&t, 9, cell);
        s_fmt_us(cell, sizeof cell, s_num(s, "p99_us"));
        s_set(&t, 10, cell);
    }
    s_table_print(&t);
    if (n == 0) {
        puts("(no services)");
    }
    msgpack_zone_destroy(&zone);
    return YARD_EXIT_OK;
}

static int
s_print_replicas(const yard_msg_t *reply)
{
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object obj;
    const msgpack_object *root = s_root(reply, &zone, &obj);
    if (!root) {
        msgpack_zone_destroy(&zone);
        return YARD_EXIT_ERROR;
    }
    char service[S_CELL];
    s_str(root, "service", service, sizeof service);
    uint32_t n = 0;
    const msgpack_object *reps = s_array(root, "replicas", &n);
    printf("%s: %u replica%s\n", service, n, n == 1 ? "" : "s");
    static const char *const names[] = {"REPLICA",    "HOST",      "PID",       "INDEX",
                                        "UP",         "SERVED",    "IN FLIGHT", "CREDIT",
                                        "LAST HEARD", "HEARTBEAT", "STATE"};
    s_table_t t = {.ncols = 11, .right = "llrrrrrrrrl"};
    s_header(&t, names);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *r = &reps[i];
        char cell[S_CELL];
        s_row(&t);
        s_str(r, "name", cell, sizeof cell);
        s_set(&t, 0, cell);
        s_str(r, "host", cell, sizeof cell);
        s_set(&t, 1, cell);
        static const char *const ids[] = {"pid", "index"};
        for (int k = 0; k < 2; k++) {
            if (s_is_nil(r, ids[k])) {
                snprintf(cell, sizeof cell, "-");
            } else {
                snprintf(cell, sizeof cell, "%.0f", s_num(r, ids[k]));
            }
            s_set(&t, 2 + k, cell);
        }
        s_fmt_duration(cell, sizeof cell, s_num(r, "uptime_ms"));
        s_set(&t, 4, cell);
        static const char *const counts[] = {"served", "in_flight", "credit"};
        for (int k = 0; k < 3; k++) {
            s_fmt_count(cell, sizeof cell, s_num(r, counts[k]));
            s_set(&t, 5 + k, cell);
        }
        char d[32];
        s_fmt_duration(d, sizeof d, s_num(r, "last_heartbeat_ms_ago"));
        snprintf(cell, sizeof cell, "%s ago", d);
        s_set(&t, 8, cell);
        s_fmt_duration(cell, sizeof cell, s_num(r, "heartbeat_ms"));
        s_set(&t, 9, cell);
        const msgpack_object *dr = yard_mp_find(r, "draining");
        bool draining = dr && dr->type == MSGPACK_OBJECT_BOOLEAN && dr->via.boolean;
        const msgpack_object *fi = yard_mp_find(r, "fill");
        bool fill = fi && fi->type == MSGPACK_OBJECT_BOOLEAN && fi->via.boolean;
        s_set(&t, 10, draining ? "draining" : fill ? "ready, fill" : "ready");
    }
    s_table_print(&t);
    msgpack_zone_destroy(&zone);
    return YARD_EXIT_OK;
}

/* One row per broker: endpoint, up or down, and its peer counts. */
static void
s_print_brokers(const yard_broker_answers_t *set)
{
    static const char *const names[] = {"BROKER",   "STATE",       "CLIENTS",
                                        "REPLICAS", "CONNECTIONS", "SUBSCRIBERS"};
    s_table_t t = {.ncols = 6, .right = "llrrrr"};
    s_header(&t, names);
    for (int i = 0; i < set->n; i++) {
        const yard_broker_answer_t *a = &set->a[i];
        s_row(&t);
        s_set(&t, 0, a->endpoint);
        msgpack_zone zone;
        if (!msgpack_zone_init(&zone, 4096)) {
            abort();
        }
        msgpack_object obj;
        size_t n = 0;
        const void *body = a->rc == 0 ? yard_msg_body(a->reply, &n) : NULL;
        bool ok = body && yard_mp_decode(body, n, &zone, &obj, NULL, 0) == 0 &&
                  obj.type == MSGPACK_OBJECT_MAP;
        char cell[S_CELL];
        snprintf(cell, sizeof cell, "up");
        if (a->rc) {
            snprintf(cell, sizeof cell, "down (%s)", yard_err_name(a->rc));
        }
        s_set(&t, 1, cell);
        static const char *const keys[] = {"clients", "replica_peers", "connections",
                                           "subscribers"};
        for (int k = 0; k < 4; k++) {
            if (ok && !s_is_nil(&obj, keys[k])) {
                s_fmt_count(cell, sizeof cell, s_num(&obj, keys[k]));
            } else {
                snprintf(cell, sizeof cell, "-");
            }
            s_set(&t, 2 + k, cell);
        }
        msgpack_zone_destroy(&zone);
    }
    s_table_print(&t);
}

/* --json with several brokers: {"brokers":[{"endpoint":E,"up":true,<the reply's keys>} or
 * {"endpoint":E,"up":false,"error":NAME}, ...]} on one line. */
static int
s_print_brokers_json(const yard_broker_answers_t *set)
{
    fputs("{\"brokers\":[", stdout);
    for (int i = 0; i < set->n; i++) {
        const yard_broker_answer_t *a = &set->a[i];
        char *text = NULL;
        size_t n = 0;
        const void *body = a->rc == 0 ? yard_msg_body(a->reply, &n) : NULL;
        if (body && yard_json_from_msgpack(body, n, &text, NULL, NULL, 0) == 0 && text[0] == '{') {
            printf("%s{\"endpoint\":\"%s\",\"up\":true%s%s", i ? "," : "", a->endpoint,
                   text[1] == '}' ? "" : ",", text + 1);
        } else {
            printf("%s{\"endpoint\":\"%s\",\"up\":false,\"error\":\"%s\"}", i ? "," : "",
                   a->endpoint, a->rc ? yard_err_name(a->rc) : "BAD_REQUEST");
        }
        free(text);
    }
    puts("]}");
    return YARD_EXIT_OK;
}

/* Asks every broker of the list for `$sys services`. Returns the exit code: 0 when at least
 * one answered (each down one is also told on stderr), else the first one's. */
static int
s_services_each(const s_args_t *a, yard_broker_answers_t *set)
{
    char *list = NULL;
    char err[512];
    memset(set, 0, sizeof *set);
    if (yard__broker_resolve(a->broker, a->config, &list, err, sizeof err)) {
        fprintf(stderr, "yard services: %s\n", err);
        return YARD_EXIT_USAGE;
    }
    int rc = yard__brokers_split(list, set, err, sizeof err);
    free(list);
    if (rc) {
        fprintf(stderr, "yard services: --broker: %s\n", err);
        return YARD_EXIT_USAGE;
    }
    yard__brokers_call(set, "services", NULL, 0, a->timeout_ms ? a->timeout_ms : 5000);
    int code = -1;
    for (int i = 0; i < set->n; i++) {
        const yard_broker_answer_t *b = &set->a[i];
        if (b->rc == YARD_E_CONFIG) {
            fprintf(stderr, "yard services: --broker: '%s' is not an endpoint\n", b->endpoint);
            return YARD_EXIT_USAGE;
        }
        if (b->rc == 0) {
            code = YARD_EXIT_OK;
            continue;
        }
        fprintf(stderr, "yard services: broker %s: ", b->endpoint);
        fflush(stderr);
        yard__print_error(b->rc, b->reply);
        if (code != YARD_EXIT_OK) {
            code = yard__exit_for(b->rc);
        }
    }
    return code;
}

int
yard__cmd_services(int argc, char **argv)
{
    s_args_t a;
    int p = s_parse("yard services", s_services_usage, false, argc, argv, &a);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    yard_broker_answers_t set;
    int code = s_services_each(&a, &set);
    if (code == YARD_EXIT_OK && a.json) {
        /* One broker: its reply as it is (the shape scripts already read). */
        code = set.n == 1 ? s_print_json(set.a[0].reply) : s_print_brokers_json(&set);
    } else if (code == YARD_EXIT_OK) {
        for (int i = 0; i < set.n && code == YARD_EXIT_OK; i++) {
            if (set.a[i].rc == 0) {
                if (set.n > 1) {
                    printf("%s%s:\n", i ? "\n" : "", set.a[i].endpoint);
                }
                code = s_print_services(set.a[i].reply);
            }
        }
        putchar('\n');
        s_print_brokers(&set);
    }
    yard__brokers_free(&set);
    return code;
}

int
yard__cmd_replicas(int argc, char **argv)
{
    s_args_t a;
    int p = s_parse("yard replicas", s_replicas_usage, true, argc, argv, &a);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "service", 7);
    msgpack_pack_str_with_body(&pk, a.service, strlen(a.service));
    yard_msg_t *reply = NULL;
    int code = s_call("yard replicas", &a, "replicas", sb.data, sb.size, &reply);
    msgpack_sbuffer_destroy(&sb);
    if (code == YARD_EXIT_OK) {
        code = a.json ? s_print_json(reply) : s_print_replicas(reply);
    }
    yard_msg_destroy(&reply);
    return code;
}
