/* yard bench http: requests/s and latency through the HTTP gateway, driven by wrk, next to a
 * bare libmicrohttpd server answering the same bytes without the bus (bench_http_baseline.c),
 * in one run, so the ratio compares figures taken a few seconds apart on the same machine.
 *
 * Without --url it starts, in this process, a broker on a free tcp loopback port, --replicas
 * replicas of the registry's echo actor (as `yard bench` does) and a gateway on 127.0.0.1:0
 * with its default settings (and /v1/{service} on for echo); it asks the gateway once (which also
 * waits for the replicas to register) and keeps the answer. wrk (a separate process: the load
 * generator must not share our threads) then drives the gateway for --duration seconds; the bus is
 * stopped, the bare server starts with the gateway's threads, connection limit and timeout and
 * answers the kept bytes, and wrk drives it the same way. With --url wrk drives that URL only.
 *
 * wrk runs a Lua script written to a temp file: it sets the method, the JSON body and its
 * Content-Type, and its `done` hook prints one line of counts and latency percentiles that we
 * parse, so nothing depends on the layout of wrk's human-readable report. */
#include "bench_bus.h"
#include "cli.h"

#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/gateway.h"

#include <zmq.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The command (yard.c dispatches `yard bench http` here) and the baseline
 * (bench_http_baseline.c, which declares the same). */
int yard__cmd_bench_http(int argc, char **argv);

typedef struct yard_http_answer yard_http_answer_t;
typedef struct yard_http_baseline yard_http_baseline_t;
int yard__http_ask(uint16_t port, const char *method, const char *path, const char *json_body,
                   yard_http_answer_t **out);
unsigned yard__http_answer_status(const yard_http_answer_t *self);
void yard__http_answer_destroy(yard_http_answer_t **self_p);
int yard__http_baseline_start(unsigned threads, unsigned connection_limit,
                              uint32_t connection_timeout_ms, const yard_http_answer_t *answer,
                              yard_http_baseline_t **out);
uint16_t yard__http_baseline_port(const yard_http_baseline_t *self);
void yard__http_baseline_stop(yard_http_baseline_t **self_p);

#define S_PATH      "/v1/echo"
#define S_BODY      "{\"a\":1,\"b\":\"switchyard\",\"c\":[1,2,3],\"d\":true}"
#define S_WARMUP_MS 10000
#define S_WHO       "yard bench http"
#define S_OUT_MAX   65536

static const char s_usage[] =
    "usage: yard bench http [--connections N] [--threads N] [--duration S] [--method GET|POST]\n"
    "                       [--replicas N] [--http-threads N] [--tcp] [--json] [--url URL]\n"
    "Drives wrk against " S_PATH " through an in-process HTTP gateway, broker and echo replicas,\n"
    "then against a bare libmicrohttpd server answering the same bytes without the bus, and\n"
    "prints requests/s, latency (p50, p75, p90, p99) and the ratio. Needs wrk on PATH.\n"
    "The bus is wired as `yard up` wires it (one process: inproc); --tcp wires it as separate\n"
    "processes are (the gateway and replicas reach the broker over tcp loopback).\n"
    "  --connections N  open HTTP connections, each with one request outstanding (default 64)\n"
    "  --threads N      wrk threads (default 2)\n"
    "  --duration S     whole seconds of load for each side (default 10)\n"
    "  --method M       POST (a small JSON body) or GET (default POST)\n"
    "  --replicas N     echo replicas (default 2)\n"
    "  --http-threads N gateway and bare-server HTTP threads (default: the gateway's default)\n"
    "  --tcp            gateway and replicas reach the broker over tcp, each with its context\n"
    "  --json           print one JSON object instead of a table\n"
    "  --url URL        drive an existing gateway at URL (e.g. http://127.0.0.1:8080" S_PATH ");\n"
    "                   nothing starts in-process and the baseline is skipped\n"
    "Exit status: 0 measured, 1 the gateway could not be measured, 2 usage.\n";

typedef struct {
    unsigned connections, threads, duration_s, replicas, http_threads;
    bool post, json, tcp;
    const char *url;
} s_opts_t;

/* What wrk's done hook reported for one side. */
typedef struct {
    double requests, duration_us, bytes;
    double connect, read, write, status, timeout; /* wrk's error counts */
    double p50, p75, p90, p99, max;               /* microseconds */
} s_wrk_t;

/* --- wrk --------------------------------------------------------------------------------- */

/* The full path of prog found on $PATH, or NULL. Caller owns the result; free with free(). */
static char *
s_which(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !path[0]) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    while (*path) {
        size_t len = strcspn(path, ":");
        char *full = NULL;
        if (asprintf(&full, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", prog) < 0) {
            abort();
        }
        if (access(full, X_OK) == 0) {
            return full;
        }
        free(full);
        path += len + (path[len] == ':');
    }
    return NULL;
}

/* The gateway's config: its defaults plus the default route for echo, which is off unless a
 * config names the services it reaches. Loaded from a temp file (removed at once); NULL when
 * that cannot be written or read. Caller owns the result; free with yard_config_destroy(). */
static yard_config_t *
s_gateway_config(void)
{
    const char *dir = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/yard-bench-http-XXXXXX.yaml", dir && dir[0] ? dir : "/tmp") < 0) {
        abort();
    }
    static const char text[] = "gateway:\n  default_route: {services: [echo]}\n";
    int fd = mkstemps(path, 5);
    yard_config_t *cfg = NULL;
    char err[256] = "";
    if (fd >= 0 && write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1)) {
        yard_config_load(path, &cfg, err, sizeof err);
    }
    if (!cfg) {
        fprintf(stderr, "yard bench http: cannot write the gateway's config %s: %s\n", path,
                err[0] ? err : strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(path);
    return cfg;
}

/* Writes the wrk script to a temp file; returns its path (caller unlinks and frees) or NULL. */
static char *
s_write_script(bool post)
{
    const char *dir = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/yard-bench-http-XXXXXX.lua", dir && dir[0] ? dir : "/tmp") < 0) {
        abort();
    }
    int fd = mkstemps(path, 4);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "yard bench http: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        free(path);
        return NULL;
    }
    if (post) {
        fprintf(f, "wrk.method = \"POST\"\n"
                   "wrk.body = '" S_BODY "'\n"
                   "wrk.headers[\"Content-Type\"] = \"application/json\"\n");
    } else {
        fprintf(f, "wrk.method = \"GET\"\n");
    }
    fprintf(f, "done = function(s, latency, requests)\n"
               "  local e = s.errors\n"
               "  io.write(string.format(\"yard-bench-http %%.0f %%.0f %%.0f %%.0f %%.0f %%.0f "
               "%%.0f %%.0f %%.0f %%.0f %%.0f %%.0f %%.0f\\n\",\n"
               "    s.requests, s.duration, s.bytes, e.connect, e.read, e.write, e.status,\n"
               "    e.timeout, latency:percentile(50), latency:percentile(75),\n"
               "    latency:percentile(90), latency:percentile(99), latency.max))\n"
               "end\n");
    if (fclose(f) != 0) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

/* Runs wrk against url and parses its done line into *out. Returns 0, or -1 with wrk's own
 * output on stderr. */
static int
s_run_wrk(const s_opts_t *o, const char *wrk, const char *script, const char *url, s_wrk_t *out)
{
    memset(out, 0, sizeof *out);
    char threads[16], conns[16], duration[16];
    snprintf(threads, sizeof threads, "%u", o->threads);
    snprintf(conns, sizeof conns, "%u", o->connections);
    snprintf(duration, sizeof duration, "%us", o->duration_s);
    char *const argv[] = {(char *)wrk, "-t", threads, "-c",           conns,       "-d", duration,
                          "--timeout", "5s", "-s",    (char *)script, (char *)url, NULL};
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        fprintf(stderr, "yard bench http: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "yard bench http: fork: %s\n", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        execv(wrk, argv);
        _exit(127);
    }
    close(pipefd[1]);
    char *buf = malloc(S_OUT_MAX);
    if (!buf) {
        abort();
    }
    size_t len = 0;
    buf[0] = '\0';
    /* wrk ends by itself after the duration; allow it generous slack, then kill it. */
    uint64_t deadline = yard__now_ns() + (uint64_t)(o->duration_s + 30) * 1000000000ull;
    bool open = true;
    while (open && yard__now_ns() < deadline) {
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        char tmp[4096];
        ssize_t n = read(pipefd[0], tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            open = false;
            break;
        }
        size_t take = (size_t)n < S_OUT_MAX - 1 - len ? (size_t)n : S_OUT_MAX - 1 - len;
        memcpy(buf + len, tmp, take);
        len += take;
        buf[len] = '\0';
    }
    close(pipefd[0]);
    if (open) {
        kill(pid, SIGKILL);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    int rc = -1;
    const char *line = strstr(buf, "yard-bench-http ");
    if (!open && WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && line &&
        sscanf(line, "yard-bench-http %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf",
               &out->requests, &out->duration_us, &out->bytes, &out->connect, &out->read,
               &out->write, &out->status, &out->timeout, &out->p50, &out->p75, &out->p90, &out->p99,
               &out->max) == 13) {
        rc = 0;
    } else if (open) {
        fprintf(stderr, "yard bench http: wrk did not finish in %u s; killed\n",
                o->duration_s + 30);
    } else {
        fprintf(stderr, "yard bench http: wrk against %s failed (%s %d):\n%s", url,
                WIFEXITED(ws) ? "exit status" : "signal",
                WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws), buf);
    }
    free(buf);
    return rc;
}

static double
s_rps(const s_wrk_t *w)
{
    return w->duration_us > 0 ? w->requests / (w->duration_us / 1e6) : 0;
}

static double
s_errors(const s_wrk_t *w)
{
    return w->connect + w->read + w->write + w->status + w->timeout;
}

/* --- the in-process bus and gateway -------------------------------------------------------- */

typedef struct {
    yard_bench_bus_t bus;
    yard_gateway_t *gateway;
    uint16_t port;
    /* What the bare server copies from the gateway. */
    unsigned threads, connection_limit;
    uint32_t connection_timeout_ms;
} s_bus_t;

static int
s_bus_start(s_bus_t *b, const s_opts_t *o)
{
    memset(b, 0, sizeof *b);
    /* Credit for every connection's request (wrk keeps one outstanding per connection), so
     * the broker's queue does not set the pace. */
    int64_t credit = yard__bench_bus_credit(o->connections, (int)o->replicas);
    if (yard__bench_bus_start(&b->bus, (int)o->replicas, credit, !o->tcp, S_WHO)) {
        return -1;
    }
    /* The gateway at its defaults (as a user's `yard-gateway` gets them, environment
     * included) with /v1/{service} on for echo, on a free port: wired into the bus's context over
     * inproc like `yard up`, or with its own context over tcp like a separate yard-gateway. */
    char err[256] = "";
    yard_config_t *cfg = s_gateway_config();
    if (!cfg) {
        return -1;
    }
    yard_gateway_opts_t gopts;
    int rc = yard_gateway_opts_fill(&gopts, cfg, 0, NULL, err, sizeof err);
    if (rc == 0) {
        free(gopts.listen);
        gopts.listen = strdup("127.0.0.1:0");
        free(gopts.broker);
        gopts.broker = strdup(o->tcp ? b->bus.tcp : b->bus.inproc);
        free(gopts.log_level);
        gopts.log_level = strdup("warn");
        if (o->http_threads) {
            gopts.threads = o->http_threads;
        }
        b->threads = gopts.threads > 0 ? (unsigned)gopts.threads : 1;
        b->connection_limit = gopts.connection_limit > 0 ? (unsigned)gopts.connection_limit : 0;
        b->connection_timeout_ms = gopts.connection_timeout_ms;
        rc =
            yard_gateway_new(&gopts, cfg, o->tcp ? NULL : b->bus.ctx, &b->gateway, err, sizeof err);
    }
    yard_gateway_opts_free(&gopts);
    yard_config_destroy(&cfg);
    if (rc == 0) {
        rc = yard_gateway_start(b->gateway);
    }
    if (rc) {
        fprintf(stderr, "yard bench http: gateway: %s%s%s\n", yard_strerror(rc), err[0] ? ": " : "",
                err);
        return -1;
    }
    b->port = yard_gateway_port(b->gateway);
    return 0;
}

static void
s_bus_stop(s_bus_t *b)
{
    if (b->gateway) {
        yard_gateway_stop(b->gateway);
        yard_gateway_destroy(&b->gateway);
    }
    yard__bench_bus_stop(&b->bus);
}

/* Asks the gateway until it answers 2xx: replicas register asynchronously, so the first
 * requests can legitimately meet 503. Polling with a short back-off is fine in a tool. */
static int
s_warm_up(uint16_t port, bool post, yard_http_answer_t **answer)
{
    uint64_t deadline = yard__now_ns() + (uint64_t)S_WARMUP_MS * 1000000u;
    unsigned last = 0;
    do {
        if (yard__http_ask(port, post ? "POST" : "GET", S_PATH, post ? S_BODY : NULL, answer) ==
            0) {
            last = yard__http_answer_status(*answer);
            if (last >= 200 && last < 300) {
                return 0;
            }
            yard__http_answer_destroy(answer);
        }
        yard__sleep_ms(20);
    } while (yard__now_ns() < deadline);
    if (last) {
        fprintf(stderr, "yard bench http: the gateway answers %s " S_PATH " with %u\n",
                post ? "POST" : "GET", last);
    } else {
        fprintf(stderr, "yard bench http: the gateway on port %u does not answer\n", port);
    }
    return -1;
}

/* --- output -------------------------------------------------------------------------------- */

static void
s_json_side(const char *prefix, const s_wrk_t *w)
{
    printf("\"%srequests\":%.0f,\"%srps\":%.1f,\"%sp50_us\":%.0f,\"%sp75_us\":%.0f,"
           "\"%sp90_us\":%.0f,\"%sp99_us\":%.0f,\"%smax_us\":%.0f,\"%serrors\":{\"connect\":%.0f,"
           "\"read\":%.0f,\"write\":%.0f,\"status\":%.0f,\"timeout\":%.0f}",
           prefix, w->requests, prefix, s_rps(w), prefix, w->p50, prefix, w->p75, prefix, w->p90,
           prefix, w->p99, prefix, w->max, prefix, w->connect, w->read, w->write, w->status,
           w->timeout);
}

static void
s_print_json(const s_opts_t *o, unsigned http_threads, const s_wrk_t *gw, const s_wrk_t *base)
{
    printf("{\"connections\":%u,\"threads\":%u,\"duration_s\":%u,\"method\":\"%s\",",
           o->connections, o->threads, o->duration_s, o->post ? "POST" : "GET");
    printf("\"in_process\":%s,", o->url ? "false" : "true");
    if (!o->url) {
        printf("\"replicas\":%u,\"http_threads\":%u,\"wiring\":\"%s\",", o->replicas, http_threads,
               o->tcp ? "tcp" : "inproc");
    }
    s_json_side("", gw);
    if (base) {
        printf(",");
        s_json_side("baseline_", base);
        printf(",\"ratio\":%.3f,\"p99_ratio\":%.3f", s_rps(base) > 0 ? s_rps(gw) / s_rps(base) : 0,
               base->p99 > 0 ? gw->p99 / base->p99 : 0);
    } else {
        printf(",\"baseline_rps\":null,\"baseline_p99_us\":null,\"ratio\":null");
    }
    printf("}\n");
}

static void
s_print_row(const char *name, const s_wrk_t *w)
{
    printf("%-20s %10.0f %9.0f %9.0f %9.0f %9.0f %11.0f %7.0f\n", name, s_rps(w), w->p50, w->p75,
           w->p90, w->p99, w->requests, s_errors(w));
}

static void
s_print_table(const s_opts_t *o, const char *url, unsigned http_threads, const s_wrk_t *gw,
              const s_wrk_t *base)
{
    printf("yard bench http: wrk -t%u -c%u -d%us, %s %s", o->threads, o->connections, o->duration_s,
           o->post ? "POST" : "GET", url);
    if (!o->url) {
        printf(", %u echo replicas, %u HTTP thread%s", o->replicas, http_threads,
               http_threads == 1 ? "" : "s");
    }
    printf("\n%-20s %10s %9s %9s %9s %9s %11s %7s\n", "path", "req/s", "p50 us", "p75 us", "p90 us",
           "p99 us", "requests", "errors");
    s_print_row(o->url ? "gateway (existing)" : "gateway + bus", gw);
    if (base) {
        s_print_row("bare libmicrohttpd", base);
        printf("ratio gateway / bare: %.3f (requests/s), p99 %.2fx\n",
               s_rps(base) > 0 ? s_rps(gw) / s_rps(base) : 0,
               base->p99 > 0 ? gw->p99 / base->p99 : 0);
    }
    const s_wrk_t *sides[2] = {gw, base};
    for (int i = 0; i < 2; i++) {
        const s_wrk_t *w = sides[i];
        if (w && s_errors(w) > 0) {
            printf("errors (%s): connect %.0f, read %.0f, write %.0f, non-2xx %.0f, timeout %.0f\n",
                   i ? "bare" : "gateway", w->connect, w->read, w->write, w->status, w->timeout);
        }
    }
}

/* --- the command --------------------------------------------------------------------------- */

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longopts[] = {
        {"connections", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"method", required_argument, NULL, 'm'},
        {"replicas", required_argument, NULL, 'r'},
        {"http-threads", required_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"tcp", no_argument, NULL, 'T'},
        {"url", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (s_opts_t){.connections = 64, .threads = 2, .duration_s = 10, .replicas = 2, .post = true};
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v = 0;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *what = NULL;
        switch (ch) {
        case 'h':
            fputs(s_usage, stdout);
            return 1;
        case 'c':
            what = yard__parse_u64(optarg, 1, 100000, &v) ? "--connections: 1..100000" : NULL;
            o->connections = (unsigned)v;
            break;
        case 't':
            what = yard__parse_u64(optarg, 1, 256, &v) ? "--threads: 1..256" : NULL;
            o->threads = (unsigned)v;
            break;
        case 'd':
            what =
                yard__parse_u64(optarg, 1, 3600, &v) ? "--duration: whole seconds, 1..3600" : NULL;
            o->duration_s = (unsigned)v;
            break;
        case 'm':
            if (strcasecmp(optarg, "POST") == 0 || strcasecmp(optarg, "GET") == 0) {
                o->post = strcasecmp(optarg, "POST") == 0;
            } else {
                what = "--method: GET or POST";
            }
            break;
        case 'r':
            what = yard__parse_u64(optarg, 1, 64, &v) ? "--replicas: 1..64" : NULL;
            o->replicas = (unsigned)v;
            break;
        case 'H':
            what = yard__parse_u64(optarg, 1, 256, &v) ? "--http-threads: 1..256" : NULL;
            o->http_threads = (unsigned)v;
            break;
        case 'j':
            o->json = true;
            break;
        case 'T':
            o->tcp = true;
            break;
        case 'u':
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                what = "--url: http://host:port/path";
            }
            o->url = optarg;
            break;
        default:
            return yard__opt_reject(S_WHO, ch, argv[optind - 1], s_usage);
        }
        if (what) {
            return yard__opt_bad_value(S_WHO, optarg, what);
        }
    }
    if (optind < argc) {
        return yard__opt_operand(S_WHO, argv[optind], s_usage);
    }
    if (o->threads > o->connections) {
        fprintf(stderr, "yard bench http: --threads (%u) must not exceed --connections (%u)\n",
                o->threads, o->connections);
        return -1;
    }
    return 0;
}

int
yard__cmd_bench_http(int argc, char **argv)
{
    s_opts_t o;
    int p = s_parse(argc, argv, &o);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    char *wrk = s_which("wrk");
    if (!wrk) {
        fprintf(stderr, "yard bench http: wrk is not on PATH; install wrk (Debian: apt-get "
                        "install wrk)\n");
        return YARD_EXIT_ERROR;
    }
    if (!yard_log_enabled(YARD_LOG_DEBUG)) {
        yard_log_set_level(YARD_LOG_WARN); /* keep the runtime's info lines out of the figures */
    }
    int code = YARD_EXIT_ERROR;
    char *script = s_write_script(o.post);
    s_bus_t bus;
    memset(&bus, 0, sizeof bus);
    yard_http_answer_t *answer = NULL;
    yard_http_baseline_t *bare = NULL;
    s_wrk_t gw, base;
    char url[128];
    if (!script) {
        goto cleanup;
    }
    if (o.url) {
        if (s_run_wrk(&o, wrk, script, o.url, &gw) == 0) {
            code = YARD_EXIT_OK;
            if (o.json) {
                s_print_json(&o, 0, &gw, NULL);
            } else {
                s_print_table(&o, o.url, 0, &gw, NULL);
            }
        }
        goto cleanup;
    }
    if (s_bus_start(&bus, &o) || s_warm_up(bus.port, o.post, &answer)) {
        goto cleanup;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%u" S_PATH, bus.port);
    int rc = s_run_wrk(&o, wrk, script, url, &gw);
    /* Stop our bus before the baseline runs, so the two never share the CPU. */
    s_bus_stop(&bus);
    if (rc) {
        goto cleanup;
    }
    if (yard__http_baseline_start(bus.threads, bus.connection_limit, bus.connection_timeout_ms,
                                  answer, &bare)) {
        goto cleanup;
    }
    char burl[128];
    snprintf(burl, sizeof burl, "http://127.0.0.1:%u" S_PATH, yard__http_baseline_port(bare));
    rc = s_run_wrk(&o, wrk, script, burl, &base);
    yard__http_baseline_stop(&bare);
    if (rc) {
        goto cleanup;
    }
    code = YARD_EXIT_OK;
    if (o.json) {
        s_print_json(&o, bus.threads, &gw, &base);
    } else {
        s_print_table(&o, url, bus.threads, &gw, &base);
    }
cleanup:
    s_bus_stop(&bus);
    yard__http_baseline_stop(&bare);
    yard__http_answer_destroy(&answer);
    if (script) {
        unlink(script);
        free(script);
    }
    free(wrk);
    return code;
}
