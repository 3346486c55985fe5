/* yard tap: a live, read-only view of the messages flowing through the broker for the services
 * or subjects that match a pattern: requests and one-way sends, replies and errors (with their
 * latency when the broker measured it), publishes; bodies decoded from msgpack to JSON.
 *
 * It subscribes to `$tap.[@RATE.]PATTERN` (docs/protocol.md, "Taps and events"). The broker
 * answers the subscription with a `hello` notice (the rate it granted) or an `off` notice
 * (tapping switched off: exit 1); a broker that sends neither does not offer taps. Copies
 * beyond the rate are dropped by the broker, which says how many on the next copy or in a
 * `dropped` notice; they are shown as "(N dropped)". The bodies of a service's sensitive ops
 * (passwords, tokens) never reach a tapper: the broker sends their size instead, shown as
 * "<sensitive: N bytes not shown>". */
#include "cli.h"
#include "stream.h"

#include "yard/client.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/signal.h"
#include "yard/subject.h"
#include "yard/wire.h"

#include <msgpack.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WHO      "yard tap"
#define S_RATE_MAX 10000

static const char s_usage[] =
    "usage: yard tap SERVICE-OR-SUBJECT [--rate N] [--json] [--count N] [--timeout MS]\n"
    "                [--broker URL] [--config FILE]\n"
    "Shows the messages that flow through the broker for the matching services or subjects\n"
    "('*' one token, '>' the rest): requests and sends (service, op, id, body), replies and\n"
    "errors (with latency), publishes (subject, body). Read-only: the bus is not slowed; the\n"
    "broker copies at most --rate messages per second here and counts the rest as dropped.\n"
    "  --rate N       copies per second to ask for (default 200; the broker caps it)\n"
    "  --json         one JSON object per line\n"
    "  --count N      exit 0 after N messages\n"
    "  --timeout MS   how long to wait for the broker at the start (default: 5000)\n"
    "  --broker URL   broker endpoints, comma-separated (default: $YARD_BROKER, else the\n"
    "                 config file's broker key, else " YARD_CLI_DEFAULT_BROKER ")\n"
    "  --config FILE  the config file to read broker from (default: $YARD_CONFIG)\n"
    "Runs until SIGINT/SIGTERM, following the broker through restarts and failover.\n"
    "Exit status: 0, 1 tapping is off in the broker, 2 usage, 3 no broker.\n";

typedef struct {
    yard_stream_t st;
    const char *pattern;
    uint64_t rate;     /* 0: the broker's default */
    size_t prefix_len; /* of "$tap." or "$tap.@RATE.": the subject past it is the name */
    int hellos;        /* hello notices seen (more than one: re-attached after a restart) */
    bool off;
} s_state_t;

/* --rate, the one option of tap's own (yard_stream_opt_fn). */
static int
s_on_opt(int c, const char *arg, void *ctx)
{
    s_state_t *s = ctx;
    (void)c;
    if (yard__parse_u64(arg, 1, S_RATE_MAX, &s->rate)) {
        return yard__opt_bad_value(S_WHO, arg, "--rate: 1..10000 messages/s");
    }
    return 0;
}

/* Returns 0, 1 after --help, or -1 after a usage error. */
static int
s_parse(int argc, char **argv, s_state_t *s)
{
    static const struct option own[] = {
        {"rate", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int p =
        yard__stream_parse(&s->st, argc, argv, own, s_on_opt, s, "SERVICE-OR-SUBJECT", &s->pattern);
    if (p) {
        return p;
    }
    if (!yard_subject_pattern_valid(yard_str(s->pattern)) ||
        strlen(s->pattern) > YARD_WIRE_NAME_MAX - 16) {
        fprintf(stderr,
                S_WHO ": '%s' is not a service name or subject pattern (tokens separated by "
                      "'.', '*' for one token, '>' for the rest)\n",
                s->pattern);
        return -1;
    }
    return 0;
}

static uint64_t
s_num(const yard_msg_t *msg, const char *key, bool *has)
{
    const char *v = yard_msg_header(msg, key);
    if (has) {
        *has = v != NULL;
    }
    return v ? strtoull(v, NULL, 10) : 0;
}

static const char *
s_str(const yard_msg_t *msg, const char *key)
{
    const char *v = yard_msg_header(msg, key);
    return v ? v : "";
}

/* The body as JSON text: "null" when empty, a note when it is not msgpack with a JSON form.
 * Caller owns the result; free with free(). */
static char *
s_body_json(const yard_msg_t *msg)
{
    size_t n = 0;
    const void *body = yard_msg_body(msg, &n);
    char *text = NULL;
    if (n == 0) {
        text = strdup("null");
    } else if (yard_json_from_msgpack(body, n, &text, NULL, NULL, 0) != 0) {
        if (asprintf(&text, "<%zu bytes with no JSON form>", n) < 0) {
            text = NULL;
        }
    }
    if (!text) {
        abort();
    }
    return text;
}

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* One JSON object: {ts_ms, kind, service|subject, op, id, client, latency_us, error, text,
 * dropped, body | hidden and size}, each only when it applies. body_ok: append the body's
 * msgpack as it is. */
static char *
s_json_line(const yard_msg_t *msg, const char *kind, const char *name, uint64_t ts, bool body_ok)
{
    bool has_id, has_lat, has_drop, has_client;
    uint64_t id = s_num(msg, "tap.id", &has_id);
    uint64_t lat = s_num(msg, "tap.latency_us", &has_lat);
    uint64_t dropped = s_num(msg, "tap.dropped", &has_drop);
    uint64_t client = s_num(msg, "tap.client", &has_client);
    const char *op = s_str(msg, "tap.op");
    const char *error = s_str(msg, "tap.error");
    const char *text = s_str(msg, "tap.text");
    bool is_notice = strcmp(kind, "dropped") == 0;
    const char *hidden = s_str(msg, "tap.hidden");
    bool has_size;
    uint64_t size = s_num(msg, "tap.size", &has_size);
    bool has_body = !is_notice && strcmp(kind, "error") != 0 && !*hidden;
    size_t n = 0;
    const void *body = yard_msg_body(msg, &n);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + !is_notice + (*op != 0) + has_id + has_client + has_lat +
                              (*error != 0) + (*text != 0) + has_drop + has_body + (*hidden != 0) +
                              (*hidden && has_size));
    s_pack_str(&pk, "ts_ms");
    msgpack_pack_uint64(&pk, ts);
    s_pack_str(&pk, "kind");
    s_pack_str(&pk, kind);
    if (!is_notice) {
        s_pack_str(&pk, strcmp(kind, "publish") == 0 ? "subject" : "service");
        s_pack_str(&pk, name);
    }
    if (*op) {
        s_pack_str(&pk, "op");
        s_pack_str(&pk, op);
    }
    if (has_id) {
        s_pack_str(&pk, "id");
        msgpack_pack_uint64(&pk, id);
    }
    if (has_client) {
        s_pack_str(&pk, "client");
        msgpack_pack_uint64(&pk, client);
    }
    if (has_lat) {
        s_pack_str(&pk, "latency_us");
        msgpack_pack_uint64(&pk, lat);
    }
    if (*error) {
        s_pack_str(&pk, "error");
        s_pack_str(&pk, error);
    }
    if (*text) {
        s_pack_str(&pk, "text");
        s_pack_str(&pk, text);
    }
    if (has_drop) {
        s_pack_str(&pk, "dropped");
        msgpack_pack_uint64(&pk, dropped);
    }
    if (*hidden) {
        s_pack_str(&pk, "hidden");
        s_pack_str(&pk, hidden);
    }
    if (*hidden && has_size) {
        s_pack_str(&pk, "size");
        msgpack_pack_uint64(&pk, size);
    }
    if (has_body) {
        s_pack_str(&pk, "body");
        if (n == 0) {
            msgpack_pack_nil(&pk);
        } else if (body_ok) {
            msgpack_sbuffer_write(&sb, body, n); /* decoded once, with the rest */
        } else {
            char note[64];
            snprintf(note, sizeof note, "<%zu bytes with no JSON form>", n);
            s_pack_str(&pk, note);
        }
    }
    char *out = NULL;
    int rc = yard_json_from_msgpack(sb.data, sb.size, &out, NULL, NULL, 0);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0 && body_ok) {
        return s_json_line(msg, kind, name, ts, false);
    }
    return out;
}

static void
s_print_human(const yard_msg_t *msg, const char *kind, const char *name, uint64_t ts)
{
    char when[32], detail[320] = "", drop[48] = "";
    yard__local_time(ts, false, when, sizeof when);
    bool has_id, has_lat, has_drop;
    uint64_t id = s_num(msg, "tap.id", &has_id);
    uint64_t lat = s_num(msg, "tap.latency_us", &has_lat);
    uint64_t dropped = s_num(msg, "tap.dropped", &has_drop);
    if (has_drop) {
        snprintf(drop, sizeof drop, "  (%llu dropped)", (unsigned long long)dropped);
    }
    if (strcmp(kind, "dropped") == 0) {
        printf("%s  (%llu dropped)\n", when, (unsigned long long)dropped);
        return;
    }
    size_t off = 0;
    const char *op = s_str(msg, "tap.op");
    if (*op) {
        off += (size_t)snprintf(detail + off, sizeof detail - off, "op=%s ", op);
    }
    if (has_id) {
        off +=
            (size_t)snprintf(detail + off, sizeof detail - off, "id=%llu ", (unsigned long long)id);
    }
    if (has_lat && off < sizeof detail) {
        off += (size_t)snprintf(detail + off, sizeof detail - off, "%.2fms ", (double)lat / 1e3);
    }
    bool hidden = *s_str(msg, "tap.hidden") != 0;
    if (strcmp(kind, "error") == 0) {
        if (off < sizeof detail) {
            snprintf(detail + off, sizeof detail - off, "%s: %s", s_str(msg, "tap.error"),
                     hidden ? "<sensitive: text not shown>" : s_str(msg, "tap.text"));
        }
        printf("%s  %-7s  %-24s  %s%s\n", when, kind, name, detail, drop);
        return;
    }
    if (hidden) {
        printf("%s  %-7s  %-24s  %s<sensitive: %llu bytes not shown>%s\n", when, kind, name, detail,
               (unsigned long long)s_num(msg, "tap.size", NULL), drop);
        return;
    }
    char *body = s_body_json(msg);
    printf("%s  %-7s  %-24s  %s%s%s\n", when, kind, name, detail, body, drop);
    free(body);
}

static void
s_on_tap(const yard_msg_t *msg, void *arg)
{
    s_state_t *s = arg;
    if (yard_msg_status(msg) != 0) {
        return;
    }
    const char *kind = s_str(msg, "tap.kind");
    if (strcmp(kind, "hello") == 0) {
        if (++s->hellos > 1) {
            yard_log(YARD_LOG_INFO, "tap re-attached", YF_STR("pattern", s->pattern));
        }
        if (!s->st.json || s->hellos == 1) {
            fprintf(stderr, S_WHO ": tapping '%s' at up to %s messages/s\n", s->pattern,
                    s_str(msg, "tap.rate"));
        }
        return;
    }
    if (strcmp(kind, "off") == 0) {
        s->off = true;
        return;
    }
    if (s->st.count && s->st.got >= s->st.count) {
        return;
    }
    const char *subject = yard_msg_subject(msg);
    const char *name = strlen(subject) > s->prefix_len ? subject + s->prefix_len : subject;
    uint64_t ts = yard__wall_ms();
    if (s->st.json) {
        char *line = s_json_line(msg, kind, name, ts, true);
        if (line) {
            puts(line);
            free(line);
        }
    } else {
        s_print_human(msg, kind, name, ts);
    }
    fflush(stdout);
    if (strcmp(kind, "dropped") != 0) {
        s->st.got++;
    }
}

/* Dispatches until the broker's first notice arrives or --timeout passes, then streams only
 * when it was a hello (yard_stream_ready_fn). */
static int
s_ready(yard_client_t *client, const char *endpoint, void *ctx)
{
    s_state_t *s = ctx;
    (void)endpoint;
    uint64_t until = yard__wall_ms() + s->st.timeout_ms;
    while (s->hellos == 0 && !s->off && yard__wall_ms() < until) {
        int rc = yard_client_dispatch(client, 50);
        if (rc < 0) {
            return rc;
        }
        if (yard_signal_wait(0) != 0) {
            break;
        }
    }
    if (s->off || s->hellos == 0) {
        fprintf(stderr, s->off ? S_WHO ": tapping is switched off in this broker (tap: false in "
                                       "its config, YARD_TAP=false or --no-tap)\n"
                               : S_WHO
                            ": the broker did not answer the tap: it does not offer taps\n");
        return YARD_EXIT_ERROR;
    }
    return 0;
}

int
yard__cmd_tap(int argc, char **argv)
{
    s_state_t s = {.st = {.who = S_WHO, .usage = s_usage}};
    int p = s_parse(argc, argv, &s);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    char prefix[32], pattern[YARD_WIRE_NAME_MAX + 1];
    if (s.rate) {
        snprintf(prefix, sizeof prefix, "$tap.@%llu.", (unsigned long long)s.rate);
    } else {
        snprintf(prefix, sizeof prefix, "$tap.");
    }
    snprintf(pattern, sizeof pattern, "%s%s", prefix, s.pattern);
    s.prefix_len = strlen(prefix);
    return yard__stream_run(&s.st, pattern, s_on_tap, s_ready, &s);
}
