/* The gateway's HTTP framing and header deadline, from outside: yard-gateway runs as its own
 * process (no broker behind it: every answer here comes before the bus), and a raw socket
 * sends the exact bytes a smuggling attempt or a slow client would. Each framing case must be
 * answered 400 (501 for a transfer coding other than chunked) with the connection closed, and
 * a request pipelined behind it never served; 50 clients sending a byte every 100 ms get 408
 * and are closed at the header deadline while a normal request is still served, and the
 * gateway's connections and memory come back (printed). Every wait is a poll with a deadline. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_HEADER_MS 1000 /* the gateway's header_timeout_ms here */
#define S_SLOW      50   /* slow clients at once */

static struct {
    char *dir;
    int port;
    pid_t gw;
} F;

static int
s_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Reads into buf (NUL-terminated) until the peer closes or timeout_ms passes. Returns true
 * when the peer closed. */
static bool
s_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t used = 0;
    long long until = yh_now_ms() + timeout_ms;
    buf[0] = '\0';
    for (;;) {
        long long left = until - yh_now_ms();
        if (left <= 0) {
            return false;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        char tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) {
            return true; /* EOF, or a reset: closed either way */
        }
        size_t take = (size_t)n < cap - 1 - used ? (size_t)n : cap - 1 - used;
        memcpy(buf + used, tmp, take);
        used += take;
        buf[used] = '\0';
    }
}

/* Sends raw bytes on a fresh connection; the answer in buf; returns whether it was closed
 * within timeout_ms. */
static bool
s_exchange(const char *raw, size_t len, char *buf, size_t cap, int timeout_ms)
{
    int fd = s_connect();
    assert_int_equal(send(fd, raw, len, MSG_NOSIGNAL), (ssize_t)len);
    bool closed = s_read_all(fd, buf, cap, timeout_ms);
    close(fd);
    return closed;
}

static int
s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* One bad request with a valid one pipelined behind it: the status line, Connection: close,
 * the connection closed, and exactly one response (the second request never ran; each of the
 * gateway's responses carries one X-Request-Id). */
static void
s_refused(const char *raw, const char *status_line)
{
    char buf[8192];
    bool closed = s_exchange(raw, strlen(raw), buf, sizeof buf, 3000);
    if (strncmp(buf, status_line, strlen(status_line)) != 0 || !closed) {
        fprintf(stderr, "sent:\n%s\ngot (closed=%d):\n%s\n", raw, closed, buf);
    }
    assert_true(closed);
    assert_memory_equal(buf, status_line, strlen(status_line));
    assert_int_equal(s_count(buf, "\r\nX-Request-Id: "), 1);
}

#define S_PIPELINED "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

static void
test_duplicate_content_length(void **state)
{
    (void)state;
    s_refused("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n"
              "\r\nabc" S_PIPELINED,
              "HTTP/1.1 400 ");
}

static void
test_space_before_colon(void **state)
{
    (void)state;
    s_refused("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length : 7\r\n\r\n" S_PIPELINED,
              "HTTP/1.1 400 ");
    /* an obs-fold line after Content-Length (libmicrohttpd folds it into the name) */
    s_refused("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n 0\r\n\r\nabc" S_PIPELINED,
              "HTTP/1.1 400 ");
}

/* libmicrohttpd refuses this one itself before the gateway sees the request: 400 and closed.
 * 0.9.75 writes that answer's header block twice (its bug; see docs/security.md), so the test
 * asserts the status, the close and that nothing was served, not the exact bytes. */
static void
test_invalid_content_length(void **state)
{
    (void)state;
    char buf[8192];
    const char *raw =
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc" S_PIPELINED;
    bool closed = s_exchange(raw, strlen(raw), buf, sizeof buf, 3000);
    assert_true(closed);
    assert_memory_equal(buf, "HTTP/1.1 400 ", 13);
    assert_null(strstr(buf, " 200 "));
    raw = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\nabc";
    s_refused(raw, "HTTP/1.1 400 "); /* libmicrohttpd's "length unknown": would read forever */
}

static void
test_http11_without_host(void **state)
{
    (void)state;
    s_refused("GET /healthz HTTP/1.1\r\n\r\n" S_PIPELINED, "HTTP/1.1 400 ");
    s_refused("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400 ");
    char buf[4096]; /* HTTP/1.0 needs none */
    const char *ok = "GET /healthz HTTP/1.0\r\n\r\n";
    assert_true(s_exchange(ok, strlen(ok), buf, sizeof buf, 3000));
    assert_non_null(strstr(buf, " 200 OK\r\n"));
}

static void
test_unknown_transfer_encoding(void **state)
{
    (void)state;
    long long t0 = yh_now_ms();
    /* no body follows: before, the gateway waited for one until the client gave up */
    s_refused("POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
              "HTTP/1.1 501 ");
    assert_true(yh_now_ms() - t0 < 2000);
    s_refused("POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
              "Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n" S_PIPELINED,
              "HTTP/1.1 400 ");
}

/* The gateway process's open descriptors and resident memory (kB). */
static int
s_fd_count(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)F.gw);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static long
s_rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)F.gw);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

static void
test_slow_headers(void **state)
{
    (void)state;
    static const char line[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
    int base_fds = s_fd_count();
    long rss0 = s_rss_kb();
    int fd[S_SLOW];
    size_t sent[S_SLOW];
    long long closed_at[S_SLOW];
    char got[S_SLOW][512];
    long long t0 = yh_now_ms();
    for (int i = 0; i < S_SLOW; i++) {
        fd[i] = s_connect();
        sent[i] = 0;
        closed_at[i] = 0;
        got[i][0] = '\0';
    }
    assert_true(s_fd_count() <= base_fds + S_SLOW);
    bool normal_done = false;
    int open = S_SLOW;
    long long next_byte = t0;
    while (open > 0 && yh_now_ms() - t0 < S_HEADER_MS + 4000) {
        long long now = yh_now_ms();
        if (now >= next_byte) { /* a byte every 100 ms on each: never idle, never finished */
            for (int i = 0; i < S_SLOW; i++) {
                if (!closed_at[i] && sent[i] < sizeof line - 1) {
                    (void)send(fd[i], line + sent[i], 1, MSG_NOSIGNAL);
                    sent[i]++;
                }
            }
            next_byte = now + 100;
        }
        if (!normal_done && now - t0 >= 300) { /* a normal request meanwhile */
            char buf[4096];
            const char *ok = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            assert_true(s_exchange(ok, strlen(ok), buf, sizeof buf, 2000));
            assert_memory_equal(buf, "HTTP/1.1 200 ", 13);
            assert_true(yh_now_ms() - now < 1000);
            normal_done = true;
        }
        struct pollfd p[S_SLOW];
        for (int i = 0; i < S_SLOW; i++) {
            p[i] = (struct pollfd){closed_at[i] ? -1 : fd[i], POLLIN, 0};
        }
        if (poll(p, S_SLOW, 20) <= 0) {
            continue;
        }
        for (int i = 0; i < S_SLOW; i++) {
            if (closed_at[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            size_t used = strlen(got[i]);
            ssize_t n = recv(fd[i], got[i] + used, sizeof got[i] - 1 - used, 0);
            if (n > 0) {
                got[i][used + (size_t)n] = '\0';
                continue;
            }
            closed_at[i] = yh_now_ms();
            open--;
        }
    }
    assert_true(normal_done);
    long long last = 0;
    for (int i = 0; i < S_SLOW; i++) {
        if (!closed_at[i] || strncmp(got[i], "HTTP/1.1 408 ", 13) != 0) {
            fprintf(stderr, "slow client %d: closed=%lld got: %s\n", i, closed_at[i], got[i]);
        }
        assert_true(closed_at[i] > 0);
        assert_memory_equal(got[i], "HTTP/1.1 408 ", 13);
        assert_true(closed_at[i] - t0 >= S_HEADER_MS - 50);
        last = closed_at[i] - t0 > last ? closed_at[i] - t0 : last;
        close(fd[i]);
    }
    assert_true(last < S_HEADER_MS + 1500);
    /* the gateway let go of every one of them */
    long long until = yh_now_ms() + 3000;
    while (s_fd_count() > base_fds && yh_now_ms() < until) {
        struct pollfd none = {-1, 0, 0};
        poll(&none, 1, 20);
    }
    int fds = s_fd_count();
    long rss1 = s_rss_kb();
    fprintf(stderr,
            "[ slow     ] %d clients at 10 bytes/s: all 408 and closed by %lld ms (deadline %d "
            "ms); gateway fds %d -> %d, RSS %ld -> %ld kB\n",
            S_SLOW, last, S_HEADER_MS, base_fds, fds, rss0, rss1);
    assert_true(fds <= base_fds);
    char buf[8192];
    const char *m = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_true(s_exchange(m, strlen(m), buf, sizeof buf, 2000));
    unsigned long long timeouts = 0;
    const char *t = strstr(buf, "\nhttp_header_timeouts_total ");
    assert_non_null(t);
    assert_int_equal(sscanf(t, "\nhttp_header_timeouts_total %llu", &timeouts), 1);
    assert_true(timeouts >= S_SLOW);
    assert_non_null(strstr(buf, "\nhttp_connections_open 1\n")); /* this request's own */
}

/* On a kept-alive connection the clock runs again for each request: after a served request,
 * a second whose headers stall is answered 408 one header deadline after its request line. */
static void
test_slow_headers_keep_alive(void **state)
{
    (void)state;
    int fd = s_connect();
    const char *first = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, first, strlen(first), MSG_NOSIGNAL), (ssize_t)strlen(first));
    char buf[4096] = "";
    size_t used = 0;
    long long until = yh_now_ms() + 3000;
    while (!strstr(buf, "{\"status\":\"ok\"}") && yh_now_ms() < until) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
            assert_true(n > 0); /* kept alive */
            used += (size_t)n;
            buf[used] = '\0';
        }
    }
    assert_memory_equal(buf, "HTTP/1.1 200 ", 13);
    const char *second = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a";
    long long t0 = yh_now_ms();
    assert_int_equal(send(fd, second, strlen(second), MSG_NOSIGNAL), (ssize_t)strlen(second));
    assert_true(s_read_all(fd, buf, sizeof buf, 4000));
    long long took = yh_now_ms() - t0;
    assert_memory_equal(buf, "HTTP/1.1 408 ", 13);
    assert_true(took >= S_HEADER_MS - 50 && took < S_HEADER_MS + 1500);
    close(fd);
}

static int
s_setup(void **state)
{
    (void)state;
    F.dir = yh_tmpdir();
    F.port = yh_free_port();
    char listen[64], broker[64];
    snprintf(listen, sizeof listen, "--listen=127.0.0.1:%d", F.port);
    snprintf(broker, sizeof broker, "--broker=%s", yh_endpoint(yh_free_port())); /* nobody */
    char *argv[] = {"yard-gateway", listen, broker, "--header-timeout-ms=1000",
                    "--threads=2",  NULL};
    F.gw = yh_spawn("yard-gateway", argv, NULL, F.dir);
    if (F.gw < 0 || !yh_wait_port(F.port, 10000)) {
        fprintf(stderr, "yard-gateway did not start (logs in %s)\n", F.dir);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    int st = F.gw > 0 ? yh_stop(F.gw, SIGTERM, 10000) : -1;
    bool clean = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0; /* drained; no leak (ASan) */
    if (!clean) {
        fprintf(stderr, "yard-gateway did not exit cleanly (status %d); its log:\n", st);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "cat %s/*.log >&2", F.dir);
        (void)system(cmd);
    }
    yh_rmtree(F.dir);
    free(F.dir);
    return clean ? 0 : -1;
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicate_content_length),
        cmocka_unit_test(test_space_before_colon),
        cmocka_unit_test(test_invalid_content_length),
        cmocka_unit_test(test_http11_without_host),
        cmocka_unit_test(test_unknown_transfer_encoding),
        cmocka_unit_test(test_slow_headers),
        cmocka_unit_test(test_slow_headers_keep_alive),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
