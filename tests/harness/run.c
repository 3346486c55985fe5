/* Running a program with its output captured and a deadline on all of it (see run.h). Every
 * wait is a poll with a deadline; a child that outlives it is killed, never waited on. */
#include "run.h"

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Arguments a varargs call may pass, argv[0] included. */
#define S_ARGS_MAX 64

/* How long a child that closed both pipes gets to exit, past the deadline if need be. */
#define S_EXIT_GRACE_MS 2000

static void *
s_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (p == NULL) {
        abort();
    }
    return p;
}

static yh_run_t *
s_new(const char *prog)
{
    yh_run_t *r = s_alloc(sizeof *r);
    r->pid = -1;
    r->out_fd = -1;
    r->err_fd = -1;
    r->out = s_alloc(YH_RUN_MAX);
    r->err = s_alloc(YH_RUN_MAX);
    r->prog = strdup(prog);
    if (r->prog == NULL) {
        abort();
    }
    return r;
}

yh_run_t *
yh_run_start(const char *prog, char *const argv[], char *const env[])
{
    yh_run_t *r = s_new(prog);
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in >= 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0) {
        r->pid = yh_spawn_io(prog, argv, env, in, out[1], err[1]);
    }
    int spawn_errno = errno;
    int ends[] = {in, out[1], err[1]};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        if (ends[i] >= 0) {
            close(ends[i]);
        }
    }
    if (r->pid < 0) {
        if (out[0] >= 0) {
            close(out[0]);
        }
        if (err[0] >= 0) {
            close(err[0]);
        }
        r->status = 127;
        r->err_len = (size_t)snprintf(r->err, YH_RUN_MAX, "yh_run: cannot run %s: %s\n", prog,
                                      strerror(spawn_errno));
        return r;
    }
    r->out_fd = out[0];
    r->err_fd = err[0];
    return r;
}

/* Collects the NULL-ended arguments after the last named one into argv (argv[0] = prog). */
static void
s_argv(const char *prog, va_list ap, char *argv[S_ARGS_MAX])
{
    int n = 0;
    argv[n++] = (char *)prog;
    while (n < S_ARGS_MAX - 1 && (argv[n] = va_arg(ap, char *)) != NULL) {
        n++;
    }
    argv[n] = NULL;
}

yh_run_t *
yh_run_startl(const char *prog, char *const env[], ...)
{
    char *argv[S_ARGS_MAX];
    va_list ap;
    va_start(ap, env);
    s_argv(prog, ap, argv);
    va_end(ap);
    return yh_run_start(prog, argv, env);
}

/* Reads what is there on *fd into buf (keeping at most YH_RUN_MAX - 1 bytes); closes it and
 * sets it to -1 at EOF. */
static void
s_read(int *fd, char *buf, size_t *len)
{
    char chunk[65536];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    size_t room = YH_RUN_MAX - 1 - *len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(buf + *len, chunk, take);
    *len += take;
    buf[*len] = '\0';
}

bool
yh_run_pump(yh_run_t *r, int timeout_ms)
{
    if (r->out_fd < 0 && r->err_fd < 0) {
        return false;
    }
    struct pollfd p[2] = {{.fd = r->out_fd, .events = POLLIN}, {.fd = r->err_fd, .events = POLLIN}};
    if (poll(p, 2, timeout_ms > 0 ? timeout_ms : 0) <= 0) {
        return true;
    }
    if (r->out_fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        s_read(&r->out_fd, r->out, &r->out_len);
    }
    if (r->err_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        s_read(&r->err_fd, r->err, &r->err_len);
    }
    return r->out_fd >= 0 || r->err_fd >= 0;
}

/* Closes whichever pipes are still open. */
static void
s_close(yh_run_t *r)
{
    if (r->out_fd >= 0) {
        close(r->out_fd);
        r->out_fd = -1;
    }
    if (r->err_fd >= 0) {
        close(r->err_fd);
        r->err_fd = -1;
    }
}

int
yh_run_wait(yh_run_t *r, int timeout_ms)
{
    if (r->pid < 0) {
        return r->status;
    }
    long long deadline = yh_now_ms() + timeout_ms;
    for (long long left = timeout_ms; left > 0; left = deadline - yh_now_ms()) {
        if (!yh_run_pump(r, (int)left)) {
            break;
        }
    }
    bool open = r->out_fd >= 0 || r->err_fd >= 0;
    s_close(r);
    long long left = deadline - yh_now_ms();
    int ws = yh_stop(r->pid, 0, open ? 1 : (int)(left > S_EXIT_GRACE_MS ? left : S_EXIT_GRACE_MS));
    r->pid = -1;
    if (open || ws < 0) {
        r->status = -1;
        r->timed_out = true;
        fprintf(stderr, "yh_run: %s did not finish within %d ms: killed\n", r->prog, timeout_ms);
    } else if (WIFEXITED(ws)) {
        r->status = WEXITSTATUS(ws);
    } else {
        r->status = 128 + WTERMSIG(ws);
    }
    return r->status;
}

yh_run_t *
yh_run(const char *prog, char *const argv[], char *const env[], int timeout_ms)
{
    yh_run_t *r = yh_run_start(prog, argv, env);
    yh_run_wait(r, timeout_ms);
    return r;
}

yh_run_t *
yh_runl(const char *prog, char *const env[], int timeout_ms, ...)
{
    char *argv[S_ARGS_MAX];
    va_list ap;
    va_start(ap, timeout_ms);
    s_argv(prog, ap, argv);
    va_end(ap);
    return yh_run(prog, argv, env, timeout_ms);
}

void
yh_run_destroy(yh_run_t **r_p)
{
    yh_run_t *r = *r_p;
    if (r == NULL) {
        return;
    }
    s_close(r);
    if (r->pid > 0) {
        yh_stop(r->pid, SIGKILL, 2000);
    }
    free(r->out);
    free(r->err);
    free(r->prog);
    free(r);
    *r_p = NULL;
}
