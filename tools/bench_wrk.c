/* yard bench http's load generator: wrk as a child process (bench_wrk.h). */
#include "bench_wrk.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_OUT_MAX 65536
/* The body's fixed part: what the old fixed body held, then padding up to the size asked. */
#define S_BODY_HEAD "{\"a\":1,\"b\":\"switchyard\",\"c\":[1,2,3],\"d\":\""
#define S_BODY_TAIL "\"}"

/* The full path of prog in the ':'-separated dirs, or NULL. */
static char *
s_which_in(const char *dirs, const char *prog)
{
    while (dirs && *dirs) {
        size_t len = strcspn(dirs, ":");
        char *full = NULL;
        if (asprintf(&full, "%.*s/%s", (int)(len ? len : 1), len ? dirs : ".", prog) < 0) {
            abort();
        }
        if (access(full, X_OK) == 0) {
            return full;
        }
        free(full);
        dirs += len + (dirs[len] == ':');
    }
    return NULL;
}

char *
yard__bench_which(const char *prog, const char *fallback)
{
    const char *path = getenv("PATH");
    char *full = s_which_in(path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin", prog);
    return full ? full : s_which_in(fallback, prog);
}

char *
yard__bench_wrk_body(size_t bytes)
{
    size_t fixed = strlen(S_BODY_HEAD S_BODY_TAIL);
    if (bytes < fixed) {
        bytes = fixed;
    }
    char *body = malloc(bytes + 1);
    if (!body) {
        abort();
    }
    memcpy(body, S_BODY_HEAD, strlen(S_BODY_HEAD));
    memset(body + strlen(S_BODY_HEAD), 'x', bytes - fixed);
    memcpy(body + bytes - strlen(S_BODY_TAIL), S_BODY_TAIL, strlen(S_BODY_TAIL) + 1);
    return body;
}

char *
yard__bench_wrk_script(const char *body)
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
    if (body) {
        /* A Lua long string: the body holds no "]==]", so its bytes are taken as they are. */
        fprintf(f,
                "wrk.method = \"POST\"\n"
                "wrk.body = [==[%s]==]\n"
                "wrk.headers[\"Content-Type\"] = \"application/json\"\n",
                body);
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
        fprintf(stderr, "yard bench http: cannot write %s: %s\n", path, strerror(errno));
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

/* Reads the child's output from fd until EOF or the deadline into buf (S_OUT_MAX, NUL
 * terminated). Returns true at EOF, false at the deadline. */
static bool
s_read_all(int fd, uint64_t deadline, char *buf)
{
    size_t len = 0;
    buf[0] = '\0';
    while (yard__now_ns() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return true;
        }
        size_t take = (size_t)n < S_OUT_MAX - 1 - len ? (size_t)n : S_OUT_MAX - 1 - len;
        memcpy(buf + len, tmp, take);
        len += take;
        buf[len] = '\0';
    }
    return false;
}

int
yard__bench_wrk_run(const char *wrk, const yard_bench_wrk_opts_t *o, const char *script,
                    const char *url, yard_bench_wrk_t *out)
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
    /* wrk ends by itself after the duration; allow it generous slack, then kill it. */
    uint64_t deadline = yard__now_ns() + (uint64_t)(o->duration_s + 30) * 1000000000ull;
    bool ended = s_read_all(pipefd[0], deadline, buf);
    close(pipefd[0]);
    if (!ended) {
        kill(pid, SIGKILL);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    int rc = -1;
    const char *line = strstr(buf, "yard-bench-http ");
    if (ended && WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && line &&
        sscanf(line, "yard-bench-http %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf",
               &out->requests, &out->duration_us, &out->bytes, &out->connect, &out->read,
               &out->write, &out->status, &out->timeout, &out->p50, &out->p75, &out->p90, &out->p99,
               &out->max) == 13) {
        rc = 0;
    } else if (!ended) {
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

double
yard__bench_wrk_rps(const yard_bench_wrk_t *w)
{
    return w->duration_us > 0 ? w->requests / (w->duration_us / 1e6) : 0;
}

double
yard__bench_wrk_errors(const yard_bench_wrk_t *w)
{
    return w->connect + w->read + w->write + w->status + w->timeout;
}
