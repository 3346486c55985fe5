/* yard call, send, pub and sub: the bus from a shell. JSON in, msgpack on the wire (yard/json.h),
 * JSON out on stdout; errors as "error: NAME: text" on stderr with the exit codes of cli.h.
 *
 * send and pub are fire-and-forget on the wire, so each ends with a `$sys ping` through the
 * same connection: ZeroMQ keeps a connection's messages in order, so once the broker answers
 * the ping it has the message, and a broker that is not there shows up as exit 3 rather than
 * a silent loss when the process exits. sub does the same after SUBSCRIBE, and only then
 * reports on stderr that it is subscribed. */
#include "cli.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/signal.h"
#include "yard/wire.h"

#include <msgpack.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_POS 2

typedef struct {
    const char *broker;
    const char *config;
    const char *op;
    uint32_t timeout_ms;
    bool idempotent;
    uint64_t count;
    yard_kv_t headers[YARD_WIRE_HEADERS_MAX];
    uint32_t header_count;
    int npos;
    char *pos[S_MAX_POS];
} s_args_t;

/* Which flags a command takes. */
enum {
    S_F_OP = 1,
    S_F_TIMEOUT = 2,
    S_F_IDEMPOTENT = 4,
    S_F_COUNT = 8,
    S_F_HEADER = 16,
};

typedef struct {
    const char *name;
    const char *usage;
    int flags;
    int min_pos, max_pos;
} s_spec_t;

static const s_spec_t s_call_spec = {
    "call",
    "usage: yard call SERVICE [JSON|-] [--op OP] [--timeout MS] [--idempotent]\n"
    "                 [--header K=V]... [--broker URL]\n"
    "Calls SERVICE with the JSON body (none: an empty body; '-': read from stdin) and prints\n"
    "the reply as one line of JSON (an empty reply prints null).\n"
    "  --op OP        operation within the service\n"
    "  --timeout MS   deadline in milliseconds (default: 5000)\n"
    "  --idempotent   the call may be re-sent to another replica if its replica dies\n"
    "  --header K=V   an application header (repeatable)\n"
    "  --broker URL   broker endpoints, comma-separated (default: $YARD_BROKER, else the\n"
    "                 config file's broker key, else " YARD_CLI_DEFAULT_BROKER ")\n"
    "  --config FILE  the config file to read broker from (default: $YARD_CONFIG)\n"
    "Exit status: 0 reply, 1 error reply (printed as 'error: NAME: text'), 2 usage or bad\n"
    "JSON, 3 no broker answered or the deadline passed.\n",
    S_F_OP | S_F_TIMEOUT | S_F_IDEMPOTENT | S_F_HEADER,
    1,
    2,
};

static const s_spec_t s_send_spec = {
    "send",
    "usage: yard send SERVICE [JSON|-] [--op OP] [--timeout MS] [--header K=V]... [--broker URL]\n"
    "                 [--config FILE]\n"
    "Sends a one-way message to one replica of SERVICE; nothing is printed. Exits once the\n"
    "broker has it (confirmed with a $sys ping on the same connection).\n"
    "Exit status: 0 handed to the broker, 1 error, 2 usage or bad JSON, 3 no broker.\n",
    S_F_OP | S_F_TIMEOUT | S_F_HEADER,
    1,
    2,
};

static const s_spec_t s_pub_spec = {
    "pub",
    "usage: yard pub SUBJECT [JSON|-] [--timeout MS] [--broker URL] [--config FILE]\n"
    "Publishes the JSON body on SUBJECT (no wildcards). Delivery is at-most-once.\n"
    "Exit status: 0 handed to the broker, 1 error, 2 usage or bad JSON, 3 no broker.\n",
    S_F_TIMEOUT,
    1,
    2,
};

static const s_spec_t s_sub_spec = {
    "sub",
    "usage: yard sub PATTERN [--count N] [--timeout MS] [--broker URL] [--config FILE]\n"
    "Subscribes to PATTERN ('*' one token, '>' the rest) and prints one line of JSON per\n"
    "message: {\"subject\":...,\"body\":...}. Runs until SIGINT/SIGTERM, or N messages.\n"
    "  --count N      exit 0 after N messages\n"
    "  --timeout MS   how long to wait for the broker to confirm (default: 5000)\n"
    "Exit status: 0, 2 usage, 3 no broker.\n",
    S_F_COUNT | S_F_TIMEOUT,
    1,
    1,
};

/* Parses argv. Returns 0, 1 when --help was printed (exit 0), or -1 after printing a usage
 * error (exit 2). */
static int
s_parse(const s_spec_t *spec, int argc, char **argv, s_args_t *a)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"op", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 't'},
        {"idempotent", no_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'},
        {"header", required_argument, NULL, 'H'},
        {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int need = 0;
        switch (c) {
        case 'h':
            fputs(spec->usage, stdout);
            return 1;
        case 'b':
            a->broker = optarg;
            continue;
        case 'C':
            a->config = optarg;
            continue;
        case 'o':
            need = S_F_OP;
            a->op = optarg;
            break;
        case 't':
            need = S_F_TIMEOUT;
            if (yard__parse_u64(optarg, 1, 3600000, &v)) {
                fprintf(stderr,
                        "yard %s: --timeout: '%s' is not a number of milliseconds "
                        "(1..3600000)\n",
                        spec->name, optarg);
                return -1;
            }
            a->timeout_ms = (uint32_t)v;
            break;
        case 'i':
            need = S_F_IDEMPOTENT;
            a->idempotent = true;
            break;
        case 'n':
            need = S_F_COUNT;
            if (yard__parse_u64(optarg, 1, UINT64_MAX, &a->count)) {
                fprintf(stderr, "yard %s: --count: '%s' is not a positive number\n", spec->name,
                        optarg);
                return -1;
            }
            break;
        case 'H': {
            need = S_F_HEADER;
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || a->header_count >= YARD_WIRE_HEADERS_MAX) {
                fprintf(stderr, "yard %s: --header: expected K=V (at most %d), got '%s'\n",
                        spec->name, YARD_WIRE_HEADERS_MAX, optarg);
                return -1;
            }
            yard_kv_t *kv = &a->headers[a->header_count++];
            kv->key.ptr = optarg;
            kv->key.len = (uint32_t)(eq - optarg);
            kv->value.ptr = eq + 1;
            kv->value.len = (uint32_t)strlen(eq + 1);
            break;
        }
        case ':':
            fprintf(stderr, "yard %s: %s needs a value\n%s", spec->name, argv[optind - 1],
                    spec->usage);
            return -1;
        default:
            fprintf(stderr, "yard %s: unknown option '%s'\n%s", spec->name, argv[optind - 1],
                    spec->usage);
            return -1;
        }
        if (!(spec->flags & need)) {
            fprintf(stderr, "yard %s: option '%s' does not apply here\n%s", spec->name,
                    argv[optind - 1], spec->usage);
            return -1;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (a->npos >= spec->max_pos) {
            fprintf(stderr, "yard %s: unexpected argument '%s'\n%s", spec->name, argv[i],
                    spec->usage);
            return -1;
        }
        a->pos[a->npos++] = argv[i];
    }
    if (a->npos < spec->min_pos) {
        fprintf(stderr, "yard %s: missing argument\n%s", spec->name, spec->usage);
        return -1;
    }
    return 0;
}

/* Reads all of stdin. Caller owns the result; free with free(). */
static char *
s_read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        abort();
    }
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) {
                abort();
            }
        }
    }
    *len = n;
    return buf;
}

/* The msgpack body for the JSON argument (NULL: an empty body). Returns 0, or prints the
 * parse error with its position and returns -1. */
static int
s_body(const char *cmd, const char *json, void **body, size_t *size)
{
    *body = NULL;
    *size = 0;
    if (!json) {
        return 0;
    }
    char *in = NULL;
    size_t len = strlen(json);
    if (strcmp(json, "-") == 0) {
        in = s_read_stdin(&len);
        json = in;
    }
    char err[256];
    int rc = yard_json_to_msgpack(json, len, body, size, err, sizeof err);
    free(in);
    if (rc) {
        fprintf(stderr, "yard %s: bad JSON: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* Connects a client. Returns it, or NULL after printing why (*code: the exit code). */
static yard_client_t *
s_connect(const char *cmd, const s_args_t *a, int *code)
{
    yard_client_opts_t copts = {.default_timeout_ms = a->timeout_ms};
    yard_client_t *client = NULL;
    char *endpoint = NULL;
    char err[512];
    int rc = yard__broker_resolve(a->broker, a->config, &endpoint, err, sizeof err);
    if (rc) {
        fprintf(stderr, "yard %s: %s\n", cmd, err);
        *code = YARD_EXIT_USAGE;
        return NULL;
    }
    rc = yard_client_new(endpoint, &copts, &client);
    if (rc) {
        fprintf(stderr, "yard %s: broker '%s': %s\n", cmd, endpoint, yard_strerror(rc));
        *code = yard__exit_for(rc);
    }
    free(endpoint);
    return client;
}

/* Waits until the broker has everything sent before on this connection. Returns 0 or the
 * error of the ping; errors other than UNREACHABLE and TIMEOUT mean the broker answered. */
static int
s_barrier(yard_client_t *client, uint32_t timeout_ms)
{
    yard_call_opts_t opts = {.op = "ping", .timeout_ms = timeout_ms};
    yard_msg_t *reply = NULL;
    int rc = yard_client_call(client, "$sys", NULL, 0, &opts, &reply);
    yard_msg_destroy(&reply);
    if (rc == YARD_E_UNREACHABLE || rc == YARD_E_TIMEOUT) {
        return rc;
    }
    return 0;
}

/* Prints a body as one line of JSON. Returns 0, or prints why it cannot and returns -1. */
static int
s_print_body(const void *body, size_t size)
{
    if (size == 0) {
        puts("null");
        return 0;
    }
    char *text = NULL;
    char err[256];
    if (yard_json_from_msgpack(body, size, &text, NULL, err, sizeof err)) {
        fprintf(stderr, "error: BAD_REQUEST: the reply has no JSON form: %s\n", err);
        return -1;
    }
    puts(text);
    free(text);
    return 0;
}

/* What call, send and pub start with: parse argv, turn the JSON argument into the body and
 * connect. Returns the client (caller owns it and *body), or NULL with *code the exit code
 * (YARD_EXIT_OK after --help) and nothing to free. */
static yard_client_t *
s_begin(const s_spec_t *spec, int argc, char **argv, s_args_t *a, void **body, size_t *size,
        int *code)
{
    int p = s_parse(spec, argc, argv, a);
    if (p) {
        *code = p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
        return NULL;
    }
    if (s_body(spec->name, a->npos > 1 ? a->pos[1] : NULL, body, size)) {
        *code = YARD_EXIT_USAGE;
        return NULL;
    }
    yard_client_t *client = s_connect(spec->name, a, code);
    if (!client) {
        free(*body);
        *body = NULL;
    }
    return client;
}

int
yard__cmd_call(int argc, char **argv)
{
    s_args_t a;
    void *body = NULL;
    size_t size = 0;
    int code = YARD_EXIT_OK;
    yard_client_t *client = s_begin(&s_call_spec, argc, argv, &a, &body, &size, &code);
    if (!client) {
        return code;
    }
    yard_call_opts_t opts = {
        .op = a.op,
        .timeout_ms = a.timeout_ms,
        .flags = a.idempotent ? YARD_FLAG_IDEMPOTENT : 0,
        .headers = a.headers,
        .header_count = a.header_count,
    };
    yard_msg_t *reply = NULL;
    int rc = yard_client_call(client, a.pos[0], body, size, &opts, &reply);
    if (rc) {
        yard__print_error(rc, reply);
        code = yard__exit_for(rc);
    } else {
        size_t n = 0;
        const void *rb = yard_msg_body(reply, &n);
        code = s_print_body(rb, n) ? YARD_EXIT_ERROR : YARD_EXIT_OK;
    }
    yard_msg_destroy(&reply);
    yard_client_destroy(&client);
    free(body);
    return code;
}

int
yard__cmd_send(int argc, char **argv)
{
    s_args_t a;
    void *body = NULL;
    size_t size = 0;
    int code = YARD_EXIT_OK;
    yard_client_t *client = s_begin(&s_send_spec, argc, argv, &a, &body, &size, &code);
    if (!client) {
        return code;
    }
    yard_call_opts_t opts = {
        .op = a.op,
        .timeout_ms = a.timeout_ms,
        .headers = a.headers,
        .header_count = a.header_count,
    };
    int rc = yard_client_send(client, a.pos[0], body, size, &opts);
    if (rc == 0) {
        rc = s_barrier(client, a.timeout_ms);
    }
    if (rc) {
        yard__print_error(rc, NULL);
        code = yard__exit_for(rc);
    }
    yard_client_destroy(&client);
    free(body);
    return code;
}

int
yard__cmd_pub(int argc, char **argv)
{
    s_args_t a;
    void *body = NULL;
    size_t size = 0;
    int code = YARD_EXIT_OK;
    yard_client_t *client = s_begin(&s_pub_spec, argc, argv, &a, &body, &size, &code);
    if (!client) {
        return code;
    }
    int rc = yard_client_publish(client, a.pos[0], body, size);
    if (rc == 0) {
        rc = s_barrier(client, a.timeout_ms);
    }
    if (rc) {
        yard__print_error(rc, NULL);
        code = yard__exit_for(rc);
    }
    yard_client_destroy(&client);
    free(body);
    return code;
}

typedef struct {
    uint64_t want; /* 0: unlimited */
    uint64_t got;
} s_sub_t;

static void
s_on_message(const yard_msg_t *msg, void *arg)
{
    s_sub_t *s = arg;
    if (s->want && s->got >= s->want) {
        return; /* more arrived in the same dispatch than --count asked for */
    }
    if (yard_msg_status(msg) != 0) {
        yard__print_error(yard_msg_status(msg), msg);
        return;
    }
    /* {"subject": S, "body": B} as msgpack, then one conversion: the body's bytes are
     * appended as they are, so it is decoded exactly once. */
    const char *subject = yard_msg_subject(msg);
    size_t n = 0;
    const void *body = yard_msg_body(msg, &n);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "subject", 7);
    msgpack_pack_str_with_body(&pk, subject, strlen(subject));
    msgpack_pack_str_with_body(&pk, "body", 4);
    if (n == 0) {
        msgpack_pack_nil(&pk);
    } else {
        msgpack_sbuffer_write(&sbuf, body, n);
    }
    char *text = NULL;
    char err[256];
    if (yard_json_from_msgpack(sbuf.data, sbuf.size, &text, NULL, err, sizeof err)) {
        fprintf(stderr, "error: BAD_REQUEST: message on '%s' has no JSON form: %s\n", subject, err);
    } else {
        puts(text);
        fflush(stdout);
        free(text);
    }
    msgpack_sbuffer_destroy(&sbuf);
    s->got++;
}

int
yard__cmd_sub(int argc, char **argv)
{
    s_args_t a;
    int p = s_parse(&s_sub_spec, argc, argv, &a);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    yard_signal_block(); /* before the client starts ZeroMQ's threads */
    int code = YARD_EXIT_OK;
    yard_client_t *client = s_connect("sub", &a, &code);
    if (!client) {
        return code;
    }
    s_sub_t s = {.want = a.count};
    int rc = yard_client_subscribe(client, a.pos[0], s_on_message, &s);
    if (rc == 0) {
        rc = s_barrier(client, a.timeout_ms);
    }
    if (rc) {
        yard__print_error(rc, NULL);
        yard_client_destroy(&client);
        return yard__exit_for(rc);
    }
    yard_log(YARD_LOG_INFO, "subscribed", YF_STR("pattern", a.pos[0]));
    while (s.want == 0 || s.got < s.want) {
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
    yard_client_destroy(&client);
    return code;
}
