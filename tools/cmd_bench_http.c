/* yard bench http: requests/s and latency through the HTTP gateway, driven by wrk, next to a
 * bare libmicrohttpd server answering the same bytes without the bus (bench_http_baseline.c)
 * and nginx proxying to that bare server with upstream keep-alive (bench_nginx.c), in one
 * run, so the ratios compare figures taken seconds apart on the same machine.
 *
 * Without --url it starts, in this process, a broker on a free tcp loopback port, --replicas
 * replicas of the registry's echo actor (as `yard bench` does) and a gateway on 127.0.0.1:0
 * with its default settings (and /v1/{service} on for echo); for each --body-sizes size it asks
 * the gateway once (the first also waits for the replicas to register) and keeps the answer.
 * wrk (bench_wrk.c: a separate process, the load generator must not share our threads) then
 * drives the gateway for --duration seconds per size. The bus is stopped; then for each size
 * the bare server starts with the gateway's threads, connection limit and timeout and answers
 * the kept bytes, wrk drives it, nginx starts in front of it (as many workers as the gateway
 * has serving threads), is asked once (its answer must be the gateway's status) and wrk drives
 * it the same way. Without nginx its row says so and the run goes on, unless --require-nginx.
 * With --url wrk drives that URL only. */
#include "bench_bus.h"
#include "bench_http.h"
#include "bench_http_baseline.h"
#include "bench_nginx.h"
#include "bench_wrk.h"
#include "cli.h"

#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The command (yard.c dispatches `yard bench http` here). */
int yard__cmd_bench_http(int argc, char **argv);

#define S_PATH                 "/v1/echo"
#define S_WARMUP_MS            10000
#define S_WHO                  "yard bench http"
#define YARD__BENCH_HTTP_SIZES 8
#define S_GW_BODY              (1024u * 1024) /* the gateway's default body_limit */

static const char s_usage[] =
    "usage: yard bench http [--connections N] [--threads N] [--duration S] [--method GET|POST]\n"
    "                       [--body-sizes B,B,...] [--replicas N] [--http-threads N] [--tcp]\n"
    "                       [--nginx PATH] [--require-nginx] [--json] [--url URL]\n"
    "Drives wrk against " S_PATH " through an in-process HTTP gateway, broker and echo replicas,\n"
    "then against a bare libmicrohttpd server answering the same bytes without the bus, then\n"
    "against nginx proxying to that server with upstream keep-alive (what a user would run\n"
    "instead of the gateway), and prints requests/s, latency (p50, p75, p90, p99) and the\n"
    "ratios gateway / bare and gateway / nginx. Needs wrk on PATH; nginx is optional.\n"
    "The bus is wired as `yard up` wires it (one process: inproc); --tcp wires it as separate\n"
    "processes are (the gateway and replicas reach the broker over tcp loopback).\n"
    "  --connections N  open HTTP connections, each with one request outstanding (default 64)\n"
    "  --threads N      wrk threads (default 2)\n"
    "  --duration S     whole seconds of load for each side and size (default 10)\n"
    "  --method M       POST (a JSON body) or GET (default POST)\n"
    "  --body-sizes B,..  POST body sizes in bytes, 64..16777216, up to 8; a row per side and\n"
    "                   size (default 64; e.g. 64,4096,1048576)\n"
    "  --replicas N     echo replicas (default 2)\n"
    "  --http-threads N gateway and bare-server HTTP threads, nginx workers (default: the\n"
    "                   gateway's default)\n"
    "  --tcp            gateway and replicas reach the broker over tcp, each with its context\n"
    "  --nginx PATH     the nginx program (default: nginx on PATH, else /usr/sbin/nginx)\n"
    "  --require-nginx  fail (exit 1) without nginx instead of skipping its rows\n"
    "  --json           print one JSON object instead of a table\n"
    "  --url URL        drive an existing gateway at URL (e.g. http://127.0.0.1:8080" S_PATH ");\n"
    "                   nothing starts in-process; the bare server and nginx are skipped\n"
    "Exit status: 0 measured, 1 a side could not be measured, 2 usage.\n";

/* The gateway's config: its defaults plus the default route for echo, which is off unless a
 * config names the services it reaches, with a body limit that admits body_max bytes (only
 * when above the default limit). Loaded from a temp file (removed at once); NULL when
 * that cannot be written or read. Caller owns the result; free with yard_config_destroy(). */
static yard_config_t *
s_gateway_config(size_t body_max)
{
    const char *dir = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/yard-bench-http-XXXXXX.yaml", dir && dir[0] ? dir : "/tmp") < 0) {
        abort();
    }
    char text[128];
    int tlen =
        body_max > S_GW_BODY
            ? snprintf(text, sizeof text,
                       "gateway:\n  default_route: {services: [echo], body_limit: %zu}\n", body_max)
            : snprintf(text, sizeof text, "gateway:\n  default_route: {services: [echo]}\n");
    int fd = mkstemps(path, 5);
    yard_config_t *cfg = NULL;
    char err[256] = "";
    if (fd >= 0 && write(fd, text, (size_t)tlen) == (ssize_t)tlen) {
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
s_bus_start(s_bus_t *b, const yard_bench_http_opts_t *o, size_t body_max)
{
    memset(b, 0, sizeof *b);
    /* Credit for every connection's request (wrk keeps one outstanding per connection), so
     * the broker's queue does not set the pace. */
    yard_bench_replicas_t r = {.replicas = (int)o->replicas,
                               .credit = yard__bench_bus_credit(o->connections, (int)o->replicas),
                               .inproc = !o->tcp,
                               .fill = true};
    if (yard__bench_bus_start(&b->bus, &r, S_WHO)) {
        return -1;
    }
    /* The gateway at its defaults (as a user's `yard-gateway` gets them, environment
     * included) with /v1/{service} on for echo, on a free port: wired into the bus's context over
     * inproc like `yard up`, or with its own context over tcp like a separate yard-gateway. */
    char err[256] = "";
    yard_config_t *cfg = s_gateway_config(body_max);
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

/* Asks the server on port until it answers 2xx, for up to S_WARMUP_MS: replicas register
 * asynchronously, so the gateway's first requests can legitimately meet 503. Polling with a
 * short back-off is fine in a tool. Sets *answer (caller owns it) or returns -1 saying why. */
static int
s_warm_up(const char *what, uint16_t port, const char *body, yard_http_answer_t **answer)
{
    uint64_t deadline = yard__now_ns() + (uint64_t)S_WARMUP_MS * 1000000u;
    unsigned last = 0;
    do {
        if (yard__http_ask(port, body ? "POST" : "GET", S_PATH, body, answer) == 0) {
            last = yard__http_answer_status(*answer);
            if (last >= 200 && last < 300) {
                return 0;
            }
            yard__http_answer_destroy(answer);
        }
        yard__sleep_ms(20);
    } while (yard__now_ns() < deadline);
    if (last) {
        fprintf(stderr, "yard bench http: %s answers %s " S_PATH " with %u\n", what,
                body ? "POST" : "GET", last);
    } else {
        fprintf(stderr, "yard bench http: %s on port %u does not answer\n", what, port);
    }
    return -1;
}

/* --- the run -------------------------------------------------------------------------------- */

typedef struct {
    yard_bench_http_opts_t o;
    yard_bench_wrk_opts_t w;
    char *wrk, *nginx;
    char nginx_version[64];
    const char *nginx_skip; /* why nginx's rows are missing, or NULL */
    yard_bench_http_size_t sizes[YARD__BENCH_HTTP_SIZES];
    unsigned threads; /* the gateway's serving threads: the bare server's and nginx's too */
    s_bus_t bus;
    yard_http_baseline_t *bare;
    yard_bench_nginx_t *ngx;
} s_run_t;

static size_t
s_body_max(const s_run_t *r)
{
    size_t max = 0;
    for (unsigned i = 0; i < r->o.nsizes; i++) {
        max = r->sizes[i].bytes > max ? r->sizes[i].bytes : max;
    }
    return max;
}

/* Each size's body and wrk script. */
static int
s_prepare(s_run_t *r)
{
    for (unsigned i = 0; i < r->o.nsizes; i++) {
        yard_bench_http_size_t *z = &r->sizes[i];
        z->bytes = r->o.sizes[i];
        z->body = r->o.post ? yard__bench_wrk_body(z->bytes) : NULL;
        if (!(z->script = yard__bench_wrk_script(z->body))) {
            return -1;
        }
    }
    return 0;
}

static void
s_url(char *url, size_t cap, uint16_t port)
{
    snprintf(url, cap, "http://127.0.0.1:%u" S_PATH, port);
}

/* The gateway's rows: the bus up, one answer kept per size, wrk per size, the bus down (so
 * the bus never shares the CPU with the sides measured after it). */
static int
s_measure_gateway(s_run_t *r)
{
    if (s_bus_start(&r->bus, &r->o, s_body_max(r))) {
        return -1;
    }
    r->threads = r->bus.threads;
    char url[128];
    s_url(url, sizeof url, r->bus.port);
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < r->o.nsizes; i++) {
        rc = s_warm_up("the gateway", r->bus.port, r->sizes[i].body, &r->sizes[i].answer);
    }
    for (unsigned i = 0; rc == 0 && i < r->o.nsizes; i++) {
        rc = yard__bench_wrk_run(r->wrk, &r->w, r->sizes[i].script, url, &r->sizes[i].gw);
    }
    s_bus_stop(&r->bus);
    return rc;
}

/* nginx in front of the bare server on upstream_port: started, asked once (it must answer
 * what the gateway answered), driven by wrk, stopped. */
static int
s_measure_nginx(s_run_t *r, yard_bench_http_size_t *z, uint16_t upstream_port)
{
    yard_bench_nginx_opts_t no = {
        .workers = r->threads, .connections = r->o.connections, .body_max = s_body_max(r)};
    if (yard__bench_nginx_start(r->nginx, upstream_port, &no, &r->ngx)) {
        return -1;
    }
    yard_http_answer_t *check = NULL;
    int rc = s_warm_up("nginx", yard__bench_nginx_port(r->ngx), z->body, &check);
    if (rc == 0 && yard__http_answer_status(check) != yard__http_answer_status(z->answer)) {
        fprintf(stderr, "yard bench http: nginx answers %u where the gateway answered %u\n",
                yard__http_answer_status(check), yard__http_answer_status(z->answer));
        rc = -1;
    }
    yard__http_answer_destroy(&check);
    char url[128];
    s_url(url, sizeof url, yard__bench_nginx_port(r->ngx));
    if (rc == 0 && yard__bench_wrk_run(r->wrk, &r->w, z->script, url, &z->ngx) == 0) {
        z->have_ngx = true;
    } else {
        rc = -1;
    }
    yard__bench_nginx_stop(&r->ngx);
    return rc;
}

/* Per size: the bare server replaying the gateway's answer, then nginx in front of it. */
static int
s_measure_baselines(s_run_t *r)
{
    for (unsigned i = 0; i < r->o.nsizes; i++) {
        yard_bench_http_size_t *z = &r->sizes[i];
        if (yard__http_baseline_start(r->bus.threads, r->bus.connection_limit,
                                      r->bus.connection_timeout_ms, z->answer, &r->bare)) {
            return -1;
        }
        uint16_t port = yard__http_baseline_port(r->bare);
        char url[128];
        s_url(url, sizeof url, port);
        int rc = yard__bench_wrk_run(r->wrk, &r->w, z->script, url, &z->bare);
        z->have_bare = rc == 0;
        if (rc == 0 && r->nginx) {
            rc = s_measure_nginx(r, z, port);
        }
        yard__http_baseline_stop(&r->bare);
        if (rc) {
            return -1;
        }
    }
    return 0;
}

static void
s_run_free(s_run_t *r)
{
    yard__bench_nginx_stop(&r->ngx);
    s_bus_stop(&r->bus);
    yard__http_baseline_stop(&r->bare);
    for (unsigned i = 0; i < r->o.nsizes; i++) {
        yard_bench_http_size_t *z = &r->sizes[i];
        yard__http_answer_destroy(&z->answer);
        if (z->script) {
            unlink(z->script);
            free(z->script);
        }
        free(z->body);
    }
    free(r->wrk);
    free(r->nginx);
}

/* --- the command --------------------------------------------------------------------------- */

/* Parses "64,4096,1048576" into o->sizes. Returns 0, or -1 naming the bad element. */
static int
s_parse_sizes(const char *text, yard_bench_http_opts_t *o)
{
    o->nsizes = 0;
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[32];
        uint64_t v = 0;
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item - 1 ? len : sizeof item - 1),
                 p);
        if (o->nsizes == YARD__BENCH_HTTP_SIZES) {
            fprintf(stderr, S_WHO ": --body-sizes '%s': at most %d sizes\n", text,
                    YARD__BENCH_HTTP_SIZES);
            return -1;
        }
        if (len == 0 || len >= sizeof item ||
            yard__parse_u64(item, YARD__BENCH_BODY_MIN, YARD__BENCH_BODY_MAX, &v)) {
            fprintf(stderr,
                    S_WHO ": bad value '%s' in --body-sizes '%s': each size is whole bytes, "
                          "%u..%u (e.g. 64,4096,1048576)\n",
                    item, text, YARD__BENCH_BODY_MIN, YARD__BENCH_BODY_MAX);
            return -1;
        }
        o->sizes[o->nsizes++] = (size_t)v;
        if (!p[len]) {
            return 0;
        }
        p += len + 1;
    }
}

/* Checks what no single flag can: returns 0 or -1 saying why. */
static int
s_parse_check(const yard_bench_http_opts_t *o, bool sizes_given)
{
    if (o->threads > o->connections) {
        fprintf(stderr, S_WHO ": --threads (%u) must not exceed --connections (%u)\n", o->threads,
                o->connections);
        return -1;
    }
    if (sizes_given && !o->post) {
        fprintf(stderr, S_WHO ": --body-sizes needs --method POST (a GET has no body)\n");
        return -1;
    }
    return 0;
}

static int
s_parse(int argc, char **argv, yard_bench_http_opts_t *o)
{
    static const struct option longopts[] = {
        {"connections", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"method", required_argument, NULL, 'm'},
        {"body-sizes", required_argument, NULL, 'b'},
        {"replicas", required_argument, NULL, 'r'},
        {"http-threads", required_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"tcp", no_argument, NULL, 'T'},
        {"nginx", required_argument, NULL, 'n'},
        {"require-nginx", no_argument, NULL, 'N'},
        {"url", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (yard_bench_http_opts_t){.connections = 64,
                                  .threads = 2,
                                  .duration_s = 10,
                                  .replicas = 2,
                                  .post = true,
                                  .sizes = {64},
                                  .nsizes = 1};
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v = 0;
    bool sizes_given = false;
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
        case 'b':
            if (s_parse_sizes(optarg, o)) {
                return -1;
            }
            sizes_given = true;
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
        case 'n':
            o->nginx = optarg;
            break;
        case 'N':
            o->require_nginx = true;
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
    return s_parse_check(o, sizes_given);
}

/* Finds wrk (required) and nginx (optional unless --require-nginx; not looked for with
 * --url). Returns 0, or -1 saying what to install. */
static int
s_find_tools(s_run_t *r)
{
    if (!(r->wrk = yard__bench_which("wrk", NULL))) {
        fprintf(stderr, S_WHO ": wrk is not on PATH; install wrk (Debian: apt-get install wrk)\n");
        return -1;
    }
    if (r->o.url) {
        r->nginx_skip = "--url: only the existing gateway is measured";
        return 0;
    }
    r->nginx = yard__bench_nginx_find(r->o.nginx);
    if (!r->nginx) {
        r->nginx_skip = r->o.nginx ? "--nginx: not an executable program"
                                   : "nginx is not installed (Debian: apt-get install nginx)";
        if (r->o.require_nginx) {
            fprintf(stderr, S_WHO ": --require-nginx: %s%s%s\n", r->nginx_skip,
                    r->o.nginx ? ": " : "", r->o.nginx ? r->o.nginx : "");
            return -1;
        }
        return 0;
    }
    yard__bench_nginx_version(r->nginx, r->nginx_version, sizeof r->nginx_version);
    return 0;
}

int
yard__cmd_bench_http(int argc, char **argv)
{
    s_run_t r;
    memset(&r, 0, sizeof r);
    int p = s_parse(argc, argv, &r.o);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    r.w = (yard_bench_wrk_opts_t){r.o.threads, r.o.connections, r.o.duration_s};
    if (!yard_log_enabled(YARD_LOG_DEBUG)) {
        yard_log_set_level(YARD_LOG_WARN); /* keep the runtime's info lines out of the figures */
    }
    int code = YARD_EXIT_ERROR;
    if (s_find_tools(&r) || s_prepare(&r)) {
        goto cleanup;
    }
    if (r.o.url) {
        for (unsigned i = 0; i < r.o.nsizes; i++) {
            if (yard__bench_wrk_run(r.wrk, &r.w, r.sizes[i].script, r.o.url, &r.sizes[i].gw)) {
                goto cleanup;
            }
        }
    } else if (s_measure_gateway(&r) || s_measure_baselines(&r)) {
        goto cleanup;
    }
    code = YARD_EXIT_OK;
    char url[128];
    s_url(url, sizeof url, r.bus.port);
    yard_bench_http_report_t rep = {.o = &r.o,
                                    .sizes = r.sizes,
                                    .threads = r.threads,
                                    .url = r.o.url ? r.o.url : url,
                                    .nginx_version = r.nginx_version,
                                    .nginx_skip = r.nginx_skip};
    if (r.o.json) {
        yard__bench_http_print_json(&rep);
    } else {
        yard__bench_http_print_table(&rep);
    }
cleanup:
    s_run_free(&r);
    return code;
}
