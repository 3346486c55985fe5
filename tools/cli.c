/* Helpers shared by the yard CLI's commands (contracts in cli.h): exit codes, error printing,
 * endpoints, clocks, free ports, option parsing and its messages, bench bodies and the latency
 * histogram. */
#include "cli.h"
#include "yard/curve.h"
#include "yard/options.h"

#include "yard/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int
yard__exit_for(int err)
{
    switch (err) {
    case 0:
        return YARD_EXIT_OK;
    case YARD_E_UNREACHABLE:
    case YARD_E_TIMEOUT:
        return YARD_EXIT_UNREACHABLE;
    case YARD_E_CONFIG:
    case YARD_E_INVALID:
        return YARD_EXIT_USAGE;
    default:
        return YARD_EXIT_ERROR;
    }
}

void
yard__print_error(int err, const yard_msg_t *reply)
{
    const char *name = yard_err_name(err);
    const char *text = yard_strerror(err);
    if (reply) {
        const char *app = yard_msg_app_error(reply);
        const char *etext = yard_msg_error_text(reply);
        if (err == YARD_E_SERVICE && app && app[0]) {
            name = app;
        }
        if (etext && etext[0]) {
            text = etext;
        }
    }
    fprintf(stderr, "error: %s: %s\n", name, text);
}

typedef struct {
    char *broker;
} s_broker_opts_t;

static const yard_option_t s_broker_table[] = {
    {"broker", YARD_OPT_STRING, YARD_CLI_DEFAULT_BROKER, offsetof(s_broker_opts_t, broker),
     "broker endpoints, comma-separated", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

static int s_curve_resolve(const yard_config_t *cfg, char *errbuf, size_t errlen);

/* The curve flags yard.c took out of argv (borrowed from it; NULL ended). */
static char **s_curve_flags;
static int s_ncurve_flags;

int
yard__curve_flags_take(int *argc, char **argv)
{
    static char *mine[64];
    int n = 0, rest = 1;
    for (int i = 1; i < *argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        bool ours = false;
        for (const yard_option_t *o = yard_curve_options; o->key && strncmp(arg, "--", 2) == 0;
             o++) {
            char flag[64], file[72];
            snprintf(flag, sizeof flag, "--%s", o->key);
            for (char *c = flag; *c; c++) {
                *c = *c == '_' ? '-' : *c;
            }
            snprintf(file, sizeof file, "%s-file", flag);
            ours |= (strlen(flag) == len && strncmp(arg, flag, len) == 0) ||
                    (strlen(file) == len && strncmp(arg, file, len) == 0);
        }
        if (!ours) {
            argv[rest++] = argv[i];
            continue;
        }
        if (n + 2 >= (int)(sizeof mine / sizeof mine[0])) {
            fprintf(stderr, "yard: too many --key/--broker-key flags\n");
            return -1;
        }
        mine[n++] = argv[i];
        if (!eq) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "yard: %s needs a value\n", arg);
                return -1;
            }
            mine[n++] = argv[++i];
        }
    }
    argv[rest] = NULL;
    *argc = rest;
    s_curve_flags = mine;
    s_ncurve_flags = n;
    /* Applied now for the commands that never resolve a broker (yard bench --broker ...);
     * yard__broker_resolve() applies them again over the config file. */
    char err[512];
    if (n > 0 && s_curve_resolve(NULL, err, sizeof err) != 0) {
        fprintf(stderr, "yard: %s\n", err);
        return -1;
    }
    return 0;
}

/* The bus keys every command's sockets use: file's curve: section < YARD_CURVE_* < flags. */
static int
s_curve_resolve(const yard_config_t *cfg, char *errbuf, size_t errlen)
{
    yard_curve_opts_t c = {0};
    int rc = yard_options_apply(yard_curve_options, &c, cfg, "curve", s_ncurve_flags, s_curve_flags,
                                errbuf, errlen);
    if (rc == 0) {
        rc = yard_curve_configure(&c, errbuf, errlen);
    }
    yard_options_free(yard_curve_options, &c);
    return rc;
}

int
yard__broker_resolve(const char *flag, const char *config, char **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    const char *path = config && config[0] ? config : getenv("YARD_CONFIG");
    yard_config_t *cfg = NULL;
    if (path && path[0]) {
        int rc = yard_config_load(path, &cfg, errbuf, errlen);
        if (rc) {
            return rc;
        }
    }
    /* The same table machinery as the programs: default < file < YARD_BROKER. */
    s_broker_opts_t o = {0};
    int rc = yard_options_apply(s_broker_table, &o, cfg, NULL, 0, NULL, errbuf, errlen);
    if (rc == 0) {
        rc = s_curve_resolve(cfg, errbuf, errlen);
    }
    yard_config_destroy(&cfg);
    if (rc) {
        yard_options_free(s_broker_table, &o);
        return rc;
    }
    if (flag && flag[0]) { /* the flag wins over the file and YARD_BROKER */
        free(o.broker);
        o.broker = strdup(flag);
        if (!o.broker) {
            abort();
        }
    }
    *out = o.broker; /* ownership moves to the caller */
    return 0;
}

uint64_t
yard__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
yard__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
yard__local_time(uint64_t ms, bool date, char *out, size_t cap)
{
    time_t sec = (time_t)(ms / 1000u);
    struct tm tm;
    localtime_r(&sec, &tm);
    char text[32];
    strftime(text, sizeof text, date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03u", text, (unsigned)(ms % 1000u));
}

void
yard__sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int
yard__free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}

int
yard__parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!text || text[0] < '0' || text[0] > '9') {
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int
yard__parse_double(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || *end || !(v >= min && v <= max)) { /* !(...) also rejects NaN */
        return -1;
    }
    *out = v;
    return 0;
}

int
yard__opt_reject(const char *who, int ch, const char *arg, const char *usage)
{
    if (ch == ':') {
        fprintf(stderr, "%s: %s needs a value\n%s", who, arg, usage);
    } else {
        fprintf(stderr, "%s: unknown option '%s'\n%s", who, arg, usage);
    }
    return -1;
}

int
yard__opt_bad_value(const char *who, const char *value, const char *what)
{
    fprintf(stderr, "%s: bad value '%s' for %s\n", who, value, what);
    return -1;
}

int
yard__opt_operand(const char *who, const char *arg, const char *usage)
{
    fprintf(stderr, "%s: unexpected argument '%s'\n%s", who, arg, usage);
    return -1;
}

void *
yard__bench_body(size_t size, size_t *payload_off)
{
    unsigned char *b = calloc(1, size ? size : 1);
    if (!b) {
        abort();
    }
    *payload_off = 0;
    if (size < 2) {
        b[0] = 0xc0; /* nil */
        *payload_off = 1;
        return b;
    }
    size_t hdr = size - 2 <= 0xff ? 2 : (size - 3 <= 0xffff ? 3 : 5);
    size_t n = size - hdr;
    if (hdr == 2) {
        b[0] = 0xc4;
        b[1] = (unsigned char)n;
    } else if (hdr == 3) {
        b[0] = 0xc5;
        b[1] = (unsigned char)(n >> 8);
        b[2] = (unsigned char)n;
    } else {
        b[0] = 0xc6;
        for (int i = 0; i < 4; i++) {
            b[1 + i] = (unsigned char)(n >> (24 - 8 * i));
        }
    }
    *payload_off = hdr;
    return b;
}

/* --- histogram --------------------------------------------------------------------------- */

static int
s_hist_index(uint64_t v)
{
    if (v < 128) {
        return (int)v;
    }
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6; /* v >> shift is in [64, 127] */
    return 128 + (shift - 1) * 64 + (int)((v >> shift) - 64);
}

static uint64_t
s_hist_mid(int i)
{
    if (i < 128) {
        return (uint64_t)i;
    }
    int shift = (i - 128) / 64 + 1;
    uint64_t low = (uint64_t)(64 + (i - 128) % 64) << shift;
    return low + ((uint64_t)1 << (shift - 1));
}

void
yard__hist_record(yard_hist_t *h, uint64_t ns)
{
    h->counts[s_hist_index(ns)]++;
    h->total++;
    if (ns > h->max) {
        h->max = ns;
    }
}

void
yard__hist_merge(yard_hist_t *into, const yard_hist_t *from)
{
    for (int i = 0; i < YARD_HIST_BUCKETS; i++) {
        into->counts[i] += from->counts[i];
    }
    into->total += from->total;
    if (from->max > into->max) {
        into->max = from->max;
    }
}

uint64_t
yard__hist_quantile(const yard_hist_t *h, double q)
{
    if (h->total == 0) {
        return 0;
    }
    /* The rank of the value at q, 1-based: the smallest value with at least q of all below
     * or at it. */
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.5);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > h->total) {
        rank = h->total;
    }
    uint64_t seen = 0;
    for (int i = 0; i < YARD_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t mid = s_hist_mid(i);
            return mid < h->max ? mid : h->max;
        }
    }
    return h->max;
}

bool
yard__bench_shape_opt(int ch, const char *arg, int *clients, int *window, double *duration_s,
                      const char **what)
{
    uint64_t v = 0;
    *what = NULL;
    if (ch == 'c' && clients) {
        *what = yard__parse_u64(arg, 1, 1024, &v) ? "--clients: 1..1024" : NULL;
        *clients = (int)v;
        return true;
    }
    if (ch == 'w' && window) {
        *what = yard__parse_u64(arg, 1, 100000, &v) ? "--window: 1..100000" : NULL;
        *window = (int)v;
        return true;
    }
    if (ch == 'd' && duration_s) {
        *what = yard__parse_double(arg, 0.1, 3600, duration_s) ? "--duration: seconds, 0.1..3600"
                                                               : NULL;
        return true;
    }
    return false;
}
