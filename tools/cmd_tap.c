/* yard tap: a live, read-only view of the messages flowing through the broker for the services
 * or subjects that match a pattern: requests and one-way sends, replies and errors (with their
 * latency when the broker measured it), publishes; bodies decoded from msgpack to JSON.
 *
 * It subscribes to `$tap.[@RATE.]PATTERN` (docs/protocol.md, "Taps and events"). The broker
 * answers the subscription with a `hello` notice (the rate it granted) or an `off` notice
 * (tapping switched off: exit 1); a broker that sends neither does not offer taps. Copies
 * beyond the rate are dropped by the broker, which says how many on the next copy or in a
 * `dropped` notice; they are shown as "(N dropped)". */
#include "cli.h"

#include "yard/client.h"
#include "yard/error.h"
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
#include <time.h>

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
    const char *broker, *config, *pattern;
    uint64_t rate; /* 0: the broker's default */
    bool json;
    uint64_t count;
    uint32_t timeout_ms;
} s_args_t;

typedef struct {
    const s_args_t *a;
    size_t prefix_len; /* of "$tap." or "$tap.@RATE.": the subject past it is the name */
    int hellos;        /* hello notices seen (more than one: re-attached after a restart) */
    bool off;
    uint64_t got;
} s_state_t;

/* Returns 0, 1 after --help, or -1 after a usage error. */
static int
s_parse(int argc, char **argv, s_args_t *a)
{
    static const struct option longopts[] = {
        {"rate", required_argument, NULL, 'r'},   {"json", no_argument, NULL, 'j'},
        {"count", required_argument, NULL, 'n'},  {"timeout", required_argument, NULL, 't'},
        {"broker", required_argument, NULL, 'b'}, {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->timeout_ms = 5000;
    optind = 1;
    opterr = 0;
    uint64_t v;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(s_usage, stdout);
            return 1;
        case 'r':
            if (yard__parse_u64(optarg, 1, S_RATE_MAX, &a->rate)) {
                return yard__opt_bad_value(S_WHO, optarg, "--rate: 1..10000 messages/s");
            }
            break;
        case 'j':
            a->json = true;
            break;
        case 'n':
            if (yard__parse_u64(optarg, 1, UINT64_MAX, &a->count)) {
                return yard__opt_bad_value(S_WHO, optarg, "--count: a positive number");
            }
            break;
        case 't':
            if (yard__parse_u64(optarg, 1, 3600000, &v)) {
                return yard__opt_bad_value(S_WHO, optarg, "--timeout: 1..3600000 ms");
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
            return yard__opt_reject(S_WHO, c, argv[optind - 1], s_usage);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, S_WHO ": missing SERVICE-OR-SUBJECT\n%s", s_usage);
        return -1;
    }
    if (optind + 1 < argc) {
        return yard__opt_operand(S_WHO, argv[optind + 1], s_usage);
    }
    a->pattern = argv[optind];
    if (!yard_subject_pattern_valid(yard_str(a->pattern)) ||
        strlen(a->pattern) > YARD_WIRE_NAME_MAX - 16) {
        fprintf(stderr,
                S_WHO ": '%s' is not a service name or subject pattern (tokens separated by "
                      "'.', '*' for one token, '>' for the rest)\n",
                a->pattern);
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

static uint64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "HH:MM:SS.mmm" local time. */
static void
s_clock(uint64_t ms, char *out, size_t cap)
{
    time_t sec = (time_t)(ms / 1000u);
    struct tm tm;
    localtime_r(&sec, &tm);
    char hms[16];
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03u", hms, (unsigned)(ms % 1000u));
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
 * dropped, body}, each only when it applies. body_ok: append the body's msgpack as it is. */
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
    bool has_body = !is_notice && strcmp(kind, "error") != 0;
    size_t n = 0;
    const void *body = yard_msg_body(msg, &n);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + !is_notice + (*op != 0) + has_id + has_client + has_lat +
                              (*error != 0) + (*text != 0) + has_drop + has_body);
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
    s_clock(ts, when, sizeof when);
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
    if (strcmp(kind, "error") == 0) {
        if (off < sizeof detail) {
            snprintf(detail + off, sizeof detail - off, "%s: %s", s_str(msg, "tap.error"),
                     s_str(msg, "tap.text"));
        }
        printf("%s  %-7s  %-24s  %s%s\n", when, kind, name, detail, drop);
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
            yard_log(YARD_LOG_INFO, "tap re-attached", YF_STR("pattern", s->a->pattern));
        }
        if (!s->a->json || s->hellos == 1) {
            fprintf(stderr, S_WHO ": tapping '%s' at up to %s messages/s\n", s->a->pattern,
                    s_str(msg, "tap.rate"));
        }
        return;
    }
    if (strcmp(kind, "off") == 0) {
        s->off = true;
        return;
    }
    if (s->a->count && s->got >= s->a->count) {
        return;
    }
    const char *subject = yard_msg_subject(msg);
    const char *name = strlen(subject) > s->prefix_len ? subject + s->prefix_len : subject;
    uint64_t ts = s_now_ms();
    if (s->a->json) {
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
        s->got++;
    }
}

/* Dispatches until the broker's first notice arrives or timeout_ms passes. */
static int
s_wait_hello(yard_client_t *client, s_state_t *s, uint32_t timeout_ms)
{
    uint64_t until = s_now_ms() + timeout_ms;
    while (s->hellos == 0 && !s->off && s_now_ms() < until) {
        int rc = yard_client_dispatch(client, 50);
        if (rc < 0) {
            return rc;
        }
        if (yard_signal_wait(0) != 0) {
            break;
        }
    }
    return 0;
}

int
yard__cmd_tap(int argc, char **argv)
{
    s_args_t a;
    int p = s_parse(argc, argv, &a);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    yard_signal_block(); /* before the client starts ZeroMQ's threads */
    char err[512];
    char *endpoint = NULL;
    int rc = yard__broker_resolve(a.broker, a.config, &endpoint, err, sizeof err);
    if (rc) {
        fprintf(stderr, S_WHO ": %s\n", err);
        return YARD_EXIT_USAGE;
    }
    yard_client_opts_t copts = {.default_timeout_ms = a.timeout_ms};
    yard_client_t *client = NULL;
    rc = yard_client_new(endpoint, &copts, &client);
    if (rc) {
        fprintf(stderr, S_WHO ": broker '%s': %s\n", endpoint, yard_strerror(rc));
        free(endpoint);
        return yard__exit_for(rc);
    }
    char prefix[32], pattern[YARD_WIRE_NAME_MAX + 1];
    if (a.rate) {
        snprintf(prefix, sizeof prefix, "$tap.@%llu.", (unsigned long long)a.rate);
    } else {
        snprintf(prefix, sizeof prefix, "$tap.");
    }
    snprintf(pattern, sizeof pattern, "%s%s", prefix, a.pattern);
    s_state_t s = {.a = &a, .prefix_len = strlen(prefix)};
    int code = YARD_EXIT_OK;
    rc = yard_client_subscribe(client, pattern, s_on_tap, &s);
    if (rc == 0) {
        /* The broker has the subscription (and sent its notice) once it answers a ping on
         * the same connection. */
        yard_call_opts_t po = {.op = "ping", .timeout_ms = a.timeout_ms};
        yard_msg_t *reply = NULL;
        rc = yard_client_call(client, "$sys", NULL, 0, &po, &reply);
        yard_msg_destroy(&reply);
    }
    if (rc == 0) {
        rc = s_wait_hello(client, &s, a.timeout_ms);
    }
    if (rc) {
        yard__print_error(rc, NULL);
        code = yard__exit_for(rc);
        goto cleanup;
    }
    if (s.off || s.hellos == 0) {
        fprintf(stderr, s.off ? S_WHO ": tapping is switched off in this broker (tap: false in its "
                                      "config, YARD_TAP=false or --no-tap)\n"
                              : S_WHO
                            ": the broker did not answer the tap: it does not offer taps\n");
        code = YARD_EXIT_ERROR;
        goto cleanup;
    }
    while (a.count == 0 || s.got < a.count) {
        rc = yard_client_dispatch(client, 200);
        if (rc < 0) {
            yard__print_error(rc, NULL);
            code = yard__exit_for(rc);
            break;
        }
        if (yard_signal_wait(0) != 0) {
            break;
        }
    }
cleanup:
    yard_client_destroy(&client);
    free(endpoint);
    return code;
}
