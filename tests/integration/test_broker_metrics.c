/* The broker's own Prometheus endpoint (option `metrics`, broker/metrics.h), scraped with
 * libcurl as Prometheus would: the numbers after calls, NO_SERVICE and TIMEOUT; a service name
 * that needs escaping; GET /metrics only; bounded connections; bad values refused naming the
 * option (in-process, flag, environment, file); off by default (the program listens on its bus
 * port only); and the Grafana dashboard in deploy/grafana/ asks only for metrics a scrape has.
 * Every wait polls with a deadline: a scrape is up to a second old by design. */
#include "harness.h"
#include "json_doc.h"
#include "run.h"
#include "test_broker_util.h"
#include "yard/error.h"

#include <curl/curl.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT   3000
#define SCRAPE 5000 /* ms to wait for a snapshot to show something (it renders every 1 s) */
/* A service name is printable ASCII (docs/protocol.md), quotes and backslashes included. */
#define WEIRD    "we\"ird\\svc"
#define WEIRD_RX "we\\\"ird\\\\svc" /* the same, as a label value is written */

/* --- HTTP ------------------------------------------------------------------------------- */

typedef struct {
    long status; /* 0: no HTTP answer (refused, closed) */
    char *body;
    size_t len;
    char allow[64], type[96];
} s_http_t;

static size_t
s_body_cb(char *p, size_t size, size_t n, void *ud)
{
    s_http_t *r = ud;
    size_t add = size * n;
    r->body = realloc(r->body, r->len + add + 1);
    assert_non_null(r->body);
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static void
s_header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t k = strlen(name);
    if (n > k && strncasecmp(line, name, k) == 0) {
        const char *v = line + k;
        size_t vn = n - k;
        while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n')) {
            vn--;
        }
        snprintf(out, outlen, "%.*s", (int)vn, v);
    }
}

static size_t
s_hdr_cb(char *p, size_t size, size_t n, void *ud)
{
    s_http_t *r = ud;
    s_header_value(p, size * n, "Allow: ", r->allow, sizeof r->allow);
    s_header_value(p, size * n, "Content-Type: ", r->type, sizeof r->type);
    return size * n;
}

static void
s_http(const char *method, int port, const char *path, s_http_t *r)
{
    memset(r, 0, sizeof *r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
    curl_easy_cleanup(c);
}

static void
s_http_free(s_http_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* --- reading a scrape ------------------------------------------------------------------ */

/* The value of the sample written exactly as series ("name{labels}"), or NAN when absent. */
static double
s_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            return strtod(line + n + 1, NULL);
        }
    }
    return NAN;
}

/* Scrapes until series equals want or SCRAPE ms pass. Returns the last scrape (caller frees);
 * fails the test, printing it, when the value never came. */
static char *
s_wait_value(int port, const char *series, double want)
{
    long long until = yh_now_ms() + SCRAPE;
    s_http_t r = {0};
    for (;;) {
        s_http("GET", port, "/metrics", &r);
        if (r.status == 200 && s_value(r.body, series) == want) {
            return r.body;
        }
        if (yh_now_ms() > until) {
            fprintf(stderr, "%s never became %g; last scrape (%ld):\n%s\n", series, want, r.status,
                    r.body ? r.body : "");
            fail();
        }
        s_http_free(&r);
        struct timespec ts = {0, 50 * 1000 * 1000}; /* a poll interval, not a synchronisation */
        nanosleep(&ts, NULL);
    }
}

/* True when family name has a TYPE line in text; a histogram's name_bucket, name_sum and
 * name_count belong to a family name typed histogram. */
static bool
s_has_family(const char *text, const char *name)
{
    char want[200];
    snprintf(want, sizeof want, "# TYPE %s ", name);
    if (strstr(text, want) != NULL) {
        return true;
    }
    const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    size_t n = strlen(name);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            snprintf(want, sizeof want, "# TYPE %.*s histogram\n", (int)(n - k), name);
            if (strstr(text, want) != NULL) {
                return true;
            }
        }
    }
    return false;
}

/* A label set: only the format's escapes inside quoted values. Returns the end, or NULL. */
static const char *
s_labels_end(const char *p)
{
    while (*p != '}') {
        while (*p >= 'a' && *p <= 'z') {
            p++;
        }
        if (p[0] != '=' || p[1] != '"') {
            return NULL;
        }
        for (p += 2; *p != '"'; p++) {
            if (*p == '\n' || *p == '\0') {
                return NULL;
            }
            if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == 'n')) {
                p++;
            } else if (*p == '\\') {
                return NULL;
            }
        }
        p++;
        if (*p == ',') {
            p++;
        }
    }
    return p + 1;
}

/* Every line is a HELP, a TYPE, or a sample of a family typed above it with a number. */
static void
s_check_format(const char *text)
{
    int samples = 0;
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        assert_non_null(strchr(line, '\n'));
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            continue;
        }
        char name[160];
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_");
        assert_true(n > 0 && n < sizeof name);
        snprintf(name, sizeof name, "%.*s", (int)n, line);
        if (!s_has_family(text, name)) {
            fprintf(stderr, "sample without a TYPE: %s\n", name);
            fail();
        }
        const char *p = line + n;
        if (*p == '{') {
            p = s_labels_end(p + 1);
            assert_non_null(p);
        }
        assert_int_equal(*p, ' ');
        char *end = NULL;
        strtod(p + 1, &end);
        assert_true(end > p + 1 && *end == '\n');
        samples++;
    }
    assert_true(samples > 20);
}

/* --- a broker with metrics on ---------------------------------------------------------- */

static int
s_start(tb_env_t *env, yard_broker_opts_t *o)
{
    char spec[64];
    int port = yh_free_port();
    snprintf(spec, sizeof spec, "127.0.0.1:%d", port);
    o->metrics = spec;
    tb_start(env, o);
    return port;
}

static void
s_serve(tb_env_t *env, void *replica)
{
    tb_msg_t m;
    tb_expect(env, replica, YARD_CMD_REQUEST, &m, WAIT);
    yard_header_t r = {.id = m.h.id};
    tb_msg_close(&m);
    tb_send(replica, YARD_CMD_REPLY, &r, "ok", 2);
}

static void
test_scrape_counts_calls_errors_and_latency(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {.grace_ms = 50};
    int port = s_start(&env, &o);
    void *echo = tb_replica(&env, "echo", 4, 10000);
    void *slow = tb_replica(&env, "slow", 1, 10000);
    void *weird = tb_replica(&env, WEIRD, 2, 10000);
    void *client = tb_peer(&env);

    for (uint64_t id = 1; id <= 3; id++) {
        tb_request(client, id, "echo", 0, 0, "BODY-7f3a");
        s_serve(&env, echo);
        tb_msg_t m;
        tb_expect(&env, client, YARD_CMD_REPLY, &m, WAIT);
        tb_msg_close(&m);
    }
    tb_request(client, 4, "nobody", 0, 0, "x"); /* NO_SERVICE once the 50 ms grace is over */
    tb_expect_error(&env, client, 4, YARD_E_NO_SERVICE);
    tb_request(client, 5, "slow", 100, 0, "x"); /* held by a replica that never answers */
    tb_msg_t held;
    tb_expect(&env, slow, YARD_CMD_REQUEST, &held, WAIT);
    tb_msg_close(&held);
    tb_expect_error(&env, client, 5, YARD_E_TIMEOUT);

    char *text = s_wait_value(port, "yard_broker_errors_total{code=\"TIMEOUT\"}", 1);
    s_check_format(text);
    assert_true(s_value(text, "yard_broker_errors_total{code=\"NO_SERVICE\"}") == 1);
    assert_true(s_value(text, "yard_broker_errors_total{code=\"WORKER_LOST\"}") == 0);
    assert_true(s_value(text, "yard_broker_requests_total") == 5);
    assert_true(s_value(text, "yard_broker_replies_total") == 3);
    assert_true(s_value(text, "yard_broker_replicas") == 3);
    assert_true(s_value(text, "yard_broker_up") == 1);
    assert_true(s_value(text, "yard_broker_uptime_seconds") > 0);
    assert_true(s_value(text, "yard_service_requests_total{service=\"echo\"}") == 3);
    assert_true(s_value(text, "yard_service_replies_total{service=\"echo\"}") == 3);
    assert_true(s_value(text, "yard_service_errors_total{service=\"echo\"}") == 0);
    assert_true(s_value(text, "yard_service_replicas{service=\"echo\"}") == 1);
    assert_true(s_value(text, "yard_service_credit{service=\"echo\"}") == 4);
    assert_true(s_value(text, "yard_service_queued{service=\"echo\"}") == 0);
    assert_true(s_value(text, "yard_service_requests_total{service=\"slow\"}") == 1);
    assert_true(s_value(text, "yard_service_errors_total{service=\"slow\"}") == 1);
    /* The name is the peer's bytes: escaped, and it cannot end the label early. */
    assert_true(s_value(text, "yard_service_replicas{service=\"" WEIRD_RX "\"}") == 1);
    assert_true(s_value(text, "yard_service_credit{service=\"" WEIRD_RX "\"}") == 2);
    double p50 = s_value(text, "yard_service_latency_seconds{service=\"echo\",quantile=\"0.5\"}");
    double p99 = s_value(text, "yard_service_latency_seconds{service=\"echo\",quantile=\"0.99\"}");
    assert_true(p50 > 0 && p50 <= p99 && p99 < 5);
    /* The timed-out call waited its 100 ms deadline. */
    assert_true(s_value(text, "yard_service_latency_seconds{service=\"slow\",quantile=\"0.99\"}") >=
                0.09);
    /* The histogram since the first request: echo's three answers, slow's 100 ms TIMEOUT. */
#define DUR "yard_service_request_duration_seconds"
    assert_true(s_value(text, DUR "_count{service=\"echo\"}") == 3);
    assert_true(s_value(text, DUR "_bucket{service=\"echo\",le=\"+Inf\"}") == 3);
    assert_true(s_value(text, DUR "_bucket{service=\"slow\",le=\"0.05\"}") == 0);
    assert_true(s_value(text, DUR "_bucket{service=\"slow\",le=\"0.25\"}") == 1);
    assert_true(s_value(text, DUR "_sum{service=\"slow\"}") >= 0.09);
    assert_true(s_value(text, DUR "_count{service=\"" WEIRD_RX "\"}") == 0);
    assert_null(strstr(text, "BODY-7f3a")); /* no bodies */
    free(text);

    /* A queue shows as queue depth: slow's one credit is held by the expired request. */
    tb_request(client, 6, "slow", 5000, 0, "x");
    text = s_wait_value(port, "yard_service_queued{service=\"slow\"}", 1);
    free(text);

    zmq_close(echo);
    zmq_close(slow);
    zmq_close(weird);
    zmq_close(client);
    tb_stop(&env);
}

static void
test_serves_get_metrics_only(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {0};
    int port = s_start(&env, &o);
    s_http_t r;
    s_http("GET", port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
    s_http_free(&r);
    s_http("HEAD", port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    s_http_free(&r);
    const char *const refused[] = {"POST", "PUT", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        s_http(refused[i], port, "/metrics", &r);
        assert_int_equal(r.status, 405);
        assert_string_equal(r.allow, "GET, HEAD");
        s_http_free(&r);
    }
    const char *const paths[] = {"/", "/metrics/", "/metricsx", "/status", "/metrics?x"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        s_http("GET", port, paths[i], &r);
        /* A query string is not part of the path: /metrics?x is /metrics. */
        assert_int_equal(r.status, strcmp(paths[i], "/metrics?x") == 0 ? 200 : 404);
        s_http_free(&r);
    }
    tb_stop(&env);
}

static void
test_connections_are_bounded(void **state)
{
    (void)state;
    tb_env_t env;
    yard_broker_opts_t o = {0};
    int port = s_start(&env, &o);
    /* 16 idle connections take every slot: a scrape finds none until they close. */
    int fds[16];
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 16; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0);
    }
    s_http_t r;
    long long until = yh_now_ms() + WAIT;
    do { /* the server accepts them asynchronously; once all 16 are held, one more is refused */
        s_http("GET", port, "/metrics", &r);
        s_http_free(&r);
    } while (r.status == 200 && yh_now_ms() < until);
    assert_int_equal(r.status, 0);
    for (int i = 0; i < 16; i++) {
        close(fds[i]);
    }
    until = yh_now_ms() + WAIT;
    do {
        s_http("GET", port, "/metrics", &r);
        s_http_free(&r);
    } while (r.status != 200 && yh_now_ms() < until);
    assert_int_equal(r.status, 200);
    tb_stop(&env);
}

/* --- bad values ------------------------------------------------------------------------ */

static void
test_bad_values_fail_in_process(void **state)
{
    (void)state;
    const char *const bad[] = {
        "nohost",     "127.0.0.1:70000", "127.0.0.1:0", "127.0.0.1:abc",
        "127.0.0.1:", ":9555",           "::1:9555",    "no.such.host.invalid:9555"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yard_broker_opts_t o = {.bind = (char *)yh_endpoint(yh_free_port()),
                                .metrics = (char *)bad[i]};
        yard_broker_t *b = NULL;
        int rc = yard_broker_new(&o, NULL, &b);
        if (rc != YARD_E_CONFIG) {
            fprintf(stderr, "metrics %s: %d\n", bad[i], rc);
        }
        assert_int_equal(rc, YARD_E_CONFIG);
        assert_null(b);
    }
    /* A taken port is not the operator's typo: YARD_E_IO. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%d", ntohs(sa.sin_port));
    yard_broker_opts_t o = {.bind = (char *)yh_endpoint(yh_free_port()), .metrics = spec};
    yard_broker_t *b = NULL;
    assert_int_equal(yard_broker_new(&o, NULL, &b), YARD_E_IO);
    close(fd);
}

/* yard-broker fails to start, and its stderr names the option and what was wrong. */
static void
s_expect_refused(yh_run_t *r, const char *why)
{
    if (r->status == 0 || strstr(r->err, "metrics") == NULL || strstr(r->err, why) == NULL) {
        fprintf(stderr, "status %d, stderr:\n%s\n", r->status, r->err);
        fail();
    }
}

static void
test_bad_values_fail_the_program_naming_the_option(void **state)
{
    (void)state;
    char bind[64];
    snprintf(bind, sizeof bind, "%s", yh_endpoint(yh_free_port()));
    yh_run_t *r = yh_runl("yard-broker", NULL, 10000, "--bind", bind, "--metrics", "nohost", NULL);
    s_expect_refused(r, "no port");
    yh_run_destroy(&r);
    char *const env[] = {"YARD_METRICS=127.0.0.1:70000", NULL};
    r = yh_runl("yard-broker", env, 10000, "--bind", bind, NULL);
    s_expect_refused(r, "out of range");
    yh_run_destroy(&r);
    char *dir = yh_tmpdir();
    char path[4096], cfg[4096];
    snprintf(path, sizeof path, "%s/yard.yaml", dir);
    snprintf(cfg, sizeof cfg, "bind: %s\nmetrics: \"127.0.0.1:abc\"\n", bind);
    yh_write_file(path, cfg);
    r = yh_runl("yard-broker", NULL, 10000, "--config", path, NULL);
    s_expect_refused(r, "not a number");
    yh_run_destroy(&r);
    r = yh_runl("yard-broker", NULL, 10000, "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "--metrics"));
    yh_run_destroy(&r);
    yh_rmtree(dir);
    free(dir);
}

/* --- off by default -------------------------------------------------------------------- */

static bool
s_is_socket_of(const char *inode, pid_t pid)
{
    char dir[64], link[PATH_MAX], target[128], want[96];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof want, "socket:[%s]", inode);
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    for (struct dirent *e = readdir(d); e && !found; e = readdir(d)) {
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strcmp(target, want) == 0;
        }
    }
    closedir(d);
    return found;
}

/* The TCP ports pid listens on (IPv4 and IPv6), as a count written into ports. */
static int
s_listening(pid_t pid, int *ports, int max)
{
    int n = 0;
    const char *const tables[] = {"tcp", "tcp6"};
    for (int t = 0; t < 2; t++) {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, tables[t]);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof line, f) != NULL) {
            char local[128], st[8], inode[32];
            if (sscanf(line, " %*s %127s %*s %7s %*s %*s %*s %*s %*s %31s", local, st, inode) !=
                    3 ||
                strcmp(st, "0A") != 0 || !s_is_socket_of(inode, pid)) {
                continue;
            }
            const char *colon = strrchr(local, ':');
            if (colon != NULL && n < max) {
                ports[n++] = (int)strtol(colon + 1, NULL, 16);
            }
        }
        fclose(f);
    }
    return n;
}

static void
test_off_by_default(void **state)
{
    (void)state;
    int bus = yh_free_port();
    char bind[64];
    snprintf(bind, sizeof bind, "%s", yh_endpoint(bus));
    char *const argv[] = {"yard-broker", "--bind", bind, NULL};
    pid_t pid = yh_spawn("yard-broker", argv, NULL, NULL);
    assert_true(pid > 0);
    assert_true(yh_wait_port(bus, 10000));
    int ports[8];
    int n = s_listening(pid, ports, 8);
    assert_int_equal(n, 1); /* its bus port, nothing else */
    assert_int_equal(ports[0], bus);
    assert_int_equal(yh_stop(pid, SIGTERM, 10000), 0);

    /* With the option: the bus port and the metrics port. */
    int mport = yh_free_port();
    bus = yh_free_port();
    snprintf(bind, sizeof bind, "%s", yh_endpoint(bus));
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%d", mport);
    char *const argv2[] = {"yard-broker", "--bind", bind, "--metrics", spec, NULL};
    pid = yh_spawn("yard-broker", argv2, NULL, NULL);
    assert_true(pid > 0);
    assert_true(yh_wait_port(bus, 10000));
    n = s_listening(pid, ports, 8);
    assert_int_equal(n, 2);
    assert_true((ports[0] == bus && ports[1] == mport) || (ports[0] == mport && ports[1] == bus));
    s_http_t r;
    s_http("GET", mport, "/metrics", &r);
    assert_int_equal(r.status, 200);
    s_http_free(&r);
    assert_int_equal(yh_stop(pid, SIGTERM, 10000), 0);
}

/* --- the dashboard cannot drift from the endpoint -------------------------------------- */

typedef struct {
    char names[64][96];
    int n;
} s_names_t;

/* Adds every yard_* metric name in a PromQL expression. */
static void
s_names_in(const char *expr, s_names_t *out)
{
    for (const char *p = strstr(expr, "yard_"); p; p = strstr(p, "yard_")) {
        size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        bool known = false;
        for (int i = 0; i < out->n && !known; i++) {
            known = strlen(out->names[i]) == len && strncmp(out->names[i], p, len) == 0;
        }
        if (!known && out->n < 64 && len < sizeof out->names[0]) {
            snprintf(out->names[out->n++], sizeof out->names[0], "%.*s", (int)len, p);
        }
        p += len;
    }
}

/* Walks the dashboard for panel queries (expr) and variable queries (definition). */
static void
s_walk(const msgpack_object *o, s_names_t *out)
{
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            s_walk(&o->via.array.ptr[i], out);
        }
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
            bool query = k->type == MSGPACK_OBJECT_STR &&
                         ((k->via.str.size == 4 && memcmp(k->via.str.ptr, "expr", 4) == 0) ||
                          (k->via.str.size == 10 && memcmp(k->via.str.ptr, "definition", 10) == 0));
            if (query && v->type == MSGPACK_OBJECT_STR) {
                s_names_in(v->via.str.ptr, out); /* NUL-terminated (json_doc.h) */
            }
            s_walk(v, out);
        }
    }
}

static char *
s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        fail();
    }
    char *text = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        text = realloc(text, cap += 65536);
        assert_non_null(text);
        size_t got = fread(text + *len, 1, cap - *len - 1, f);
        *len += got;
        if (got == 0) {
            break;
        }
    }
    text[*len] = '\0';
    fclose(f);
    return text;
}

static void
test_dashboard_asks_only_for_served_metrics(void **state)
{
    (void)state;
    const char *src = getenv("YARD_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/deploy/grafana/yard-brokers.json", src);
    size_t len = 0;
    char *json = s_read(path, &len);
    yh_json_t *doc = yh_json_parse(json, len);
    assert_non_null(doc); /* the dashboard is JSON */
    const msgpack_object *root = yh_json_root(doc);
    assert_true(yh_json_count(root, "panels") >= 8);
    s_names_t names = {0};
    s_walk(root, &names);
    assert_true(names.n >= 10); /* the walk found the queries: the check below is not vacuous */

    tb_env_t env;
    yard_broker_opts_t o = {0};
    int port = s_start(&env, &o);
    s_http_t r;
    s_http("GET", port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    for (int i = 0; i < names.n; i++) {
        if (!s_has_family(r.body, names.names[i])) {
            fprintf(stderr, "the dashboard asks for %s, which /metrics does not serve\n",
                    names.names[i]);
            fail();
        }
    }
    s_http_free(&r);
    tb_stop(&env);
    yh_json_destroy(&doc);
    free(json);

    /* The scrape config is YAML (the loader the programs use). */
    snprintf(path, sizeof path, "%s/deploy/grafana/prometheus.yml", src);
    char err[512];
    yard_config_t *cfg = NULL;
    if (yard_config_load(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        fail();
    }
    yard_config_destroy(&cfg);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape_counts_calls_errors_and_latency),
        cmocka_unit_test(test_serves_get_metrics_only),
        cmocka_unit_test(test_connections_are_bounded),
        cmocka_unit_test(test_bad_values_fail_in_process),
        cmocka_unit_test(test_bad_values_fail_the_program_naming_the_option),
        cmocka_unit_test(test_off_by_default),
        cmocka_unit_test(test_dashboard_asks_only_for_served_metrics),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
