/* `yard bench auth` from outside, as a user runs it: `yard` as a child with stdout and stderr
 * captured. A short run on the memory store must print one JSON object with real figures on
 * every side (verify through the bus, echo, the local signature check) and no errors or lost
 * calls; more than one replica on the memory store, and bad flags, are usage errors. */
#include "harness.h"

#include <jansson.h>

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define S_OUT_MAX 65536

typedef struct {
    int status; /* exit code, or 128 + signal, or -1 when it ran past the deadline */
    char out[S_OUT_MAX];
    char err[S_OUT_MAX];
} s_run_t;

static void
s_read_some(int fd, char *buf, size_t *len, bool *open)
{
    ssize_t n = read(fd, buf + *len, S_OUT_MAX - 1 - *len);
    if (n <= 0) {
        *open = false;
        return;
    }
    *len += (size_t)n;
    buf[*len] = '\0';
}

/* Runs `yard args...` (NULL ended) to completion: output is collected until both pipes close,
 * then the exit status, within timeout_ms (past it the child is killed and status is -1).
 * Caller frees the result. */
static s_run_t *
s_run(int timeout_ms, ...)
{
    char *argv[32] = {"yard"};
    int n = 1;
    va_list ap;
    va_start(ap, timeout_ms);
    while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL) {
        n++;
    }
    argv[n] = NULL;
    va_end(ap);
    const char *dir = getenv("YARD_BIN_DIR");
    char *prog = NULL;
    assert_true(asprintf(&prog, "%s/yard", dir ? dir : ".") > 0);
    s_run_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    int out[2], err[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(prog, argv);
        _exit(127);
    }
    free(prog);
    close(out[1]);
    close(err[1]);
    size_t olen = 0, elen = 0;
    bool out_open = true, err_open = true;
    long long deadline = yh_now_ms() + timeout_ms;
    while ((out_open || err_open) && yh_now_ms() < deadline) {
        struct pollfd p[2] = {{.fd = out_open ? out[0] : -1, .events = POLLIN},
                              {.fd = err_open ? err[0] : -1, .events = POLLIN}};
        int left = (int)(deadline - yh_now_ms());
        if (poll(p, 2, left > 0 ? left : 0) <= 0) {
            continue;
        }
        if (out_open && (p[0].revents & (POLLIN | POLLHUP))) {
            s_read_some(out[0], r->out, &olen, &out_open);
        }
        if (err_open && (p[1].revents & (POLLIN | POLLHUP))) {
            s_read_some(err[0], r->err, &elen, &err_open);
        }
    }
    close(out[0]);
    close(err[0]);
    int ws = yh_stop(pid, 0, (out_open || err_open) ? 1 : 5000);
    if (out_open || err_open || ws < 0) {
        r->status = -1;
    } else {
        r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    }
    return r;
}

static double
s_num(json_t *doc, const char *key)
{
    json_t *v = json_object_get(doc, key);
    if (!json_is_number(v)) {
        fail_msg("bench auth JSON: %s is not a number", key);
    }
    return json_number_value(v);
}

static void
test_bench_auth_json(void **state)
{
    (void)state;
    s_run_t *r = s_run(60000, "bench", "auth", "--duration", "1", "--json", NULL);
    if (r->status != 0) {
        fail_msg("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
    }
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    if (!doc) {
        fail_msg("bench auth output is not JSON (%s): %s", err.text, r->out);
    }
    assert_true(s_num(doc, "verify_rps") > 0);
    assert_true(s_num(doc, "verify_p50_us") > 0);
    assert_true(s_num(doc, "verify_p50_us") <= s_num(doc, "verify_p99_us"));
    assert_true(s_num(doc, "echo_rps") > 0);
    assert_true(s_num(doc, "local_verify_per_s") > 0);
    assert_true(s_num(doc, "ratio") > 0);
    assert_int_equal(s_num(doc, "errors"), 0);
    assert_int_equal(s_num(doc, "lost"), 0);
    assert_int_equal(s_num(doc, "replicas"), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "store")), "memory");
    json_decref(doc);
    free(r);
}

static void
test_bench_auth_usage(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--replicas", "2"}, /* auth keeps state: more than one replica needs redis */
        {"--store", "postgres://x"},
        {"--clients", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_run_t *r = s_run(10000, "bench", "auth", bad[i][0], bad[i][1], NULL);
        if (r->status != 2) {
            fail_msg("%s %s: exit %d, want 2 (stderr: %s)", bad[i][0], bad[i][1], r->status,
                     r->err);
        }
        free(r);
    }
    s_run_t *r = s_run(10000, "bench", "auth", "--help", NULL);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "--store"));
    free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_auth_usage),
        cmocka_unit_test(test_bench_auth_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
