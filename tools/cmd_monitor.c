/* yard monitor: the broker's events (`$sys.events`) as a live stream, one line each: the
 * connections it accepted and lost, failed handshakes, and its replicas registering,
 * draining, falling silent and being declared dead.
 *
 * It is a plain subscriber, so it follows the broker as every client does: through a restart
 * (the client renews its subscriptions when it reconnects) and through failover to the next
 * endpoint of --broker. Nothing is buffered: each line is flushed as it is printed. */
#include "cli.h"
#include "stream.h"

#include "yard/client.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/mp.h"

#include <msgpack.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WHO "yard monitor"

static const char s_usage[] =
    "usage: yard monitor [--kind K,...] [--json] [--count N] [--timeout MS] [--broker URL]\n"
    "                    [--config FILE]\n"
    "Streams the broker's events ($sys.events), one line each with its time and peer.\n"
    "  --kind K,...   only these kinds (default: all): accepted, connected, disconnected,\n"
    "                 handshake_failed, heartbeat_lost, replica_ready (or registered),\n"
    "                 replica_drained (or drained), replica_dead (or dead),\n"
    "                 replica_refused (or refused: a stateful replica on another store),\n"
    "                 permission_refused (or forbidden: a key without the permission)\n"
    "  --json         one JSON object per line, as the broker sent it\n"
    "  --count N      exit 0 after N events\n"
    "  --timeout MS   how long to wait for the broker at the start (default: 5000)\n"
    "  --broker URL   broker endpoints, comma-separated (default: $YARD_BROKER, else the\n"
    "                 config file's broker key, else " YARD_CLI_DEFAULT_BROKER ")\n"
    "  --config FILE  the config file to read broker from (default: $YARD_CONFIG)\n"
    "Runs until SIGINT/SIGTERM, following the broker through restarts and failover.\n"
    "Exit status: 0, 2 usage, 3 no broker.\n";

/* The kinds the broker publishes, with what a line says about each. */
static const struct {
    const char *kind, *alias, *what;
} s_kinds[] = {
    {"accepted", NULL, "connection accepted"},
    {"connected", NULL, "connected"},
    {"disconnected", NULL, "connection closed"},
    {"handshake_failed", NULL, "handshake failed"},
    {"heartbeat_lost", NULL, "no heartbeat for 3 intervals"},
    {"replica_ready", "registered", "replica registered"},
    {"replica_drained", "drained", "replica drained and left"},
    {"replica_dead", "dead", "replica declared dead"},
    {"replica_refused", "refused", "replica refused: its store is not the service's"},
    {"permission_refused", "forbidden", "refused: the key lacks the permission"},
};
#define S_NKINDS (sizeof s_kinds / sizeof s_kinds[0])

typedef struct {
    yard_stream_t st;
    uint32_t kinds; /* bit i: s_kinds[i]; 0: all */
} s_state_t;

static int
s_kind_index(const char *k, size_t n)
{
    for (size_t i = 0; i < S_NKINDS; i++) {
        if ((strlen(s_kinds[i].kind) == n && strncmp(s_kinds[i].kind, k, n) == 0) ||
            (s_kinds[i].alias && strlen(s_kinds[i].alias) == n &&
             strncmp(s_kinds[i].alias, k, n) == 0)) {
            return (int)i;
        }
    }
    return -1;
}

static int
s_parse_kinds(const char *list, uint32_t *out)
{
    *out = 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int i = s_kind_index(p, n);
        if (i < 0) {
            fprintf(stderr, S_WHO ": --kind: unknown kind '%.*s' (see --help)\n", (int)n, p);
            return -1;
        }
        *out |= 1u << i;
        if (!comma) {
            return 0;
        }
        p = comma + 1;
    }
}

/* --kind, the one option of monitor's own (yard_stream_opt_fn). */
static int
s_on_opt(int c, const char *arg, void *ctx)
{
    s_state_t *s = ctx;
    (void)c;
    return s_parse_kinds(arg, &s->kinds);
}

/* The value of key in a msgpack map (a string or an unsigned integer) written into buf, or
 * "" when absent. Returns buf. */
static const char *
s_field(const msgpack_object *obj, const char *key, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (obj->type != MSGPACK_OBJECT_MAP) {
        return buf;
    }
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_kv *kv = &obj->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != klen ||
            memcmp(kv->key.via.str.ptr, key, klen) != 0) {
            continue;
        }
        if (kv->val.type == MSGPACK_OBJECT_STR) {
            snprintf(buf, cap, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
        } else if (kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            snprintf(buf, cap, "%llu", (unsigned long long)kv->val.via.u64);
        }
    }
    return buf;
}

/* One aligned line: time, kind, peer, what happened. */
static void
s_print_human(const msgpack_object *ev, const char *kind, int k)
{
    char buf[5][288];
    const char *ts = s_field(ev, "ts_ms", buf[0], sizeof buf[0]);
    const char *peer = s_field(ev, "peer", buf[1], sizeof buf[1]);
    const char *endpoint = s_field(ev, "endpoint", buf[2], sizeof buf[2]);
    const char *service = s_field(ev, "service", buf[3], sizeof buf[3]);
    const char *replica = s_field(ev, "replica", buf[4], sizeof buf[4]);
    char when[40], who[600];
    uint64_t ts_ms = strtoull(ts, NULL, 10);
    yard__local_time(ts_ms ? ts_ms : yard__wall_ms(), true, when, sizeof when);
    if (*service) {
        snprintf(who, sizeof who, "%s %s", service, *replica ? replica : "-");
    } else {
        snprintf(who, sizeof who, "%s", *peer ? peer : *endpoint ? endpoint : "-");
    }
    const char *what = k >= 0 ? s_kinds[k].what : "";
    /* replica_refused names both stores */
    char store[YARD_WIRE_STORE_MAX + 1], expected[YARD_WIRE_STORE_MAX + 1];
    char extra[2 * YARD_WIRE_STORE_MAX + 64] = "";
    char perm[64];
    if (*s_field(ev, "permission", perm, sizeof perm)) { /* permission_refused: key and what */
        snprintf(who, sizeof who, "%s", *peer ? peer : "-");
        snprintf(extra, sizeof extra, " (%s %s)", perm, service);
    } else if (*s_field(ev, "store", store, sizeof store)) {
        snprintf(extra, sizeof extra, " (its store %s, the service's %s)", store,
                 s_field(ev, "expected", expected, sizeof expected));
    }
    printf("%s  %-16s  %-32s  %s%s\n", when, kind, who, what, extra);
}

static void
s_on_event(const yard_msg_t *msg, void *arg)
{
    s_state_t *s = arg;
    if (s->st.count && s->st.got >= s->st.count) {
        return;
    }
    size_t n = 0;
    const void *body = yard_msg_body(msg, &n);
    if (yard_msg_status(msg) != 0) {
        return; /* not an event: nothing to show */
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    msgpack_object ev;
    char kbuf[64];
    const char *kind = yard_mp_decode(body, n, &zone, &ev, NULL, 0) == 0
                           ? s_field(&ev, "event", kbuf, sizeof kbuf)
                           : NULL;
    int k = kind ? s_kind_index(kind, strlen(kind)) : -1;
    if (!kind || (s->kinds && (k < 0 || !(s->kinds & (1u << k))))) {
        msgpack_zone_destroy(&zone);
        return; /* not an event (or not a kind asked for): nothing to show */
    }
    if (s->st.json) {
        char *text = NULL;
        if (yard_json_from_msgpack(body, n, &text, NULL, NULL, 0) == 0) {
            puts(text);
            free(text);
        }
    } else {
        s_print_human(&ev, kind, k);
    }
    fflush(stdout);
    msgpack_zone_destroy(&zone);
    s->st.got++;
}

/* Logs that the stream started (yard_stream_ready_fn). */
static int
s_ready(yard_client_t *client, const char *endpoint, void *ctx)
{
    (void)client;
    (void)ctx;
    yard_log(YARD_LOG_INFO, "monitoring", YF_STR("broker", endpoint));
    return 0;
}

int
yard__cmd_monitor(int argc, char **argv)
{
    static const struct option own[] = {
        {"kind", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    s_state_t s = {.st = {.who = S_WHO, .usage = s_usage}};
    int p = yard__stream_parse(&s.st, argc, argv, own, s_on_opt, &s, NULL, NULL);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    return yard__stream_run(&s.st, "$sys.events", s_on_event, s_ready, &s);
}
