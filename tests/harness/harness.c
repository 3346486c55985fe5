/* Test harness: free ports, temp dirs, child processes and a throwaway redis-server, so that
 * integration tests run real programs the way an operator would. Every wait polls with a
 * deadline; nothing here sleeps as synchronisation and nothing waits forever. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Poll interval for the waits below: short enough that tests stay fast. */
#define S_POLL_MS 5

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

long long
yh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

int
yh_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t alen = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &alen) == 0) {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

const char *
yh_endpoint(int port)
{
    static _Thread_local char buf[64];
    snprintf(buf, sizeof buf, "tcp://127.0.0.1:%d", port);
    return buf;
}

char *
yh_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0') {
        base = "/tmp";
    }
    size_t n = strlen(base) + sizeof "/yard-test.XXXXXX";
    char *path = malloc(n);
    if (path == NULL) {
        abort();
    }
    snprintf(path, n, "%s/yard-test.XXXXXX", base);
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int
s_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
yh_rmtree(const char *path)
{
    if (path == NULL || *path == '\0') {
        return;
    }
    nftw(path, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Resolves prog: a path with a '/' is used as given; a bare name is looked up in
 * $YARD_BIN_DIR first and, failing that, left for execvp() to find on $PATH (redis-server). */
static char *
s_resolve(const char *prog)
{
    if (strchr(prog, '/') != NULL) {
        return strdup(prog);
    }
    const char *bin = getenv("YARD_BIN_DIR");
    if (bin != NULL && *bin != '\0') {
        size_t n = strlen(bin) + strlen(prog) + 2;
        char *path = malloc(n);
        if (path == NULL) {
            abort();
        }
        snprintf(path, n, "%s/%s", bin, prog);
        if (access(path, X_OK) == 0) {
            return path;
        }
        free(path);
    }
    return strdup(prog);
}

/* yh_spawn() and yh_spawn_io(): fds[i] >= 0 becomes the child's fd i; logdir (when not NULL
 * and fds[2] is -1) takes its stderr. */
static pid_t
s_spawn(const char *prog, char *const argv[], char *const env[], const char *logdir,
        const int fds[3])
{
    char *path = s_resolve(prog);
    if (path == NULL) {
        return -1;
    }
    const char *base = strrchr(prog, '/');
    base = base != NULL ? base + 1 : prog;

    /* A close-on-exec pipe tells the parent whether exec failed: it reads EOF on success
     * and the child's errno otherwise. */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        free(path);
        return -1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        free(path);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        /* If the test dies (an assert, a sanitizer abort) before its teardown, its brokers
         * and actors must die with it: left running they hold ctest's pipes open, and a
         * failure turns into a hang until the test's TIMEOUT. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127); /* the parent was already gone before prctl took effect */
        }
        /* Tests may block or ignore signals; the child starts clean. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            const char *eq = strchr(env[i], '=');
            if (eq == NULL) {
                unsetenv(env[i]);
                continue;
            }
            char key[256];
            size_t klen = (size_t)(eq - env[i]);
            if (klen >= sizeof key) {
                continue;
            }
            memcpy(key, env[i], klen);
            key[klen] = '\0';
            setenv(key, eq + 1, 1);
        }
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0) {
                dup2(fds[i], i);
            }
        }
        if (logdir != NULL && fds[2] < 0) {
            char log[4096];
            snprintf(log, sizeof log, "%s/%s.%ld.log", logdir, base, (long)getpid());
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, STDERR_FILENO);
                close(fd);
            }
        }
        execvp(path, argv);
        int err = errno;
        ssize_t w = write(pfd[1], &err, sizeof err);
        (void)w;
        _exit(127);
    }
    close(pfd[1]);
    free(path);
    int child_err = 0;
    ssize_t r;
    do {
        r = read(pfd[0], &child_err, sizeof child_err);
    } while (r < 0 && errno == EINTR);
    close(pfd[0]);
    if (r > 0) {
        int status;
        waitpid(pid, &status, 0);
        errno = child_err;
        return -1;
    }
    return pid;
}

pid_t
yh_spawn(const char *prog, char *const argv[], char *const env[], const char *logdir)
{
    const int inherit[3] = {-1, -1, -1};
    return s_spawn(prog, argv, env, logdir, inherit);
}

pid_t
yh_spawn_io(const char *prog, char *const argv[], char *const env[], int in_fd, int out_fd,
            int err_fd)
{
    const int fds[3] = {in_fd, out_fd, err_fd};
    return s_spawn(prog, argv, env, NULL, fds);
}

int
yh_stop(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0) {
        return -1;
    }
    kill(pid, sig);
    long long deadline = yh_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 && errno != EINTR) {
            return -1; /* not our child, or already reaped */
        }
        if (yh_now_ms() >= deadline) {
            break;
        }
        s_sleep_ms(S_POLL_MS);
    }
    kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -1;
}

/* One connect attempt to 127.0.0.1:port; returns the connected fd or -1. */
static int
s_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool
yh_wait_port(int port, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    for (;;) {
        int fd = s_connect(port);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        if (yh_now_ms() >= deadline) {
            return false;
        }
        s_sleep_ms(S_POLL_MS);
    }
}

/* Sends an inline PING and waits (up to timeout_ms) for "+PONG". */
static bool
s_redis_ping(int port, int timeout_ms)
{
    int fd = s_connect(port);
    if (fd < 0) {
        return false;
    }
    bool ok = false;
    static const char ping[] = "PING\r\n";
    if (send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof ping - 1)) {
        char buf[64];
        size_t got = 0;
        long long deadline = yh_now_ms() + timeout_ms;
        while (got < sizeof buf - 1) {
            long long left = deadline - yh_now_ms();
            if (left <= 0) {
                break;
            }
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, (int)left) <= 0) {
                break;
            }
            ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
            buf[got] = '\0';
            if (strstr(buf, "\r\n") != NULL) {
                ok = strncmp(buf, "+PONG", 5) == 0;
                break;
            }
        }
    }
    close(fd);
    return ok;
}

static bool
s_on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (path == NULL) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    char buf[4096];
    while (*path != '\0') {
        const char *colon = strchr(path, ':');
        size_t n = colon != NULL ? (size_t)(colon - path) : strlen(path);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name);
        if (n > 0 && access(buf, X_OK) == 0) {
            return true;
        }
        if (colon == NULL) {
            break;
        }
        path = colon + 1;
    }
    return false;
}

pid_t
yh_redis_start(int *port, char **dir_out)
{
    if (!s_on_path("redis-server")) {
        return -1;
    }
    /* The free port can be taken between probe and bind: try a few. */
    for (int attempt = 0; attempt < 3; attempt++) {
        char *dir = yh_tmpdir();
        if (dir == NULL) {
            return -1;
        }
        int p = yh_free_port();
        char port_s[16];
        snprintf(port_s, sizeof port_s, "%d", p);
        char logfile[4096];
        snprintf(logfile, sizeof logfile, "%s/redis.log", dir);
        char *argv[] = {"redis-server", "--save", "",  "--appendonly", "no",        "--port",
                        port_s,         "--dir",  dir, "--bind",       "127.0.0.1", "--logfile",
                        logfile,        NULL};
        pid_t pid = yh_spawn("redis-server", argv, NULL, dir);
        if (pid > 0) {
            long long deadline = yh_now_ms() + 10000;
            while (yh_now_ms() < deadline) {
                if (s_redis_ping(p, 500)) {
                    *port = p;
                    if (dir_out != NULL) {
                        *dir_out = dir;
                    } else {
                        free(dir);
                    }
                    return pid;
                }
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                    pid = -1; /* exited: most likely the port was taken */
                    break;
                }
                s_sleep_ms(S_POLL_MS);
            }
            if (pid > 0) {
                yh_stop(pid, SIGKILL, 1000);
            }
        }
        yh_rmtree(dir);
        free(dir);
    }
    return -1;
}

void
yh_redis_stop(pid_t pid, char *dir)
{
    if (pid > 0) {
        yh_stop(pid, SIGTERM, 5000);
    }
    if (dir != NULL) {
        yh_rmtree(dir);
        free(dir);
    }
}

yard_config_t *
yh_config_write(const char *path, const char *text, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        snprintf(errbuf, errlen, "%s: write failed", path);
        return NULL;
    }
    yard_config_t *cfg = NULL;
    return yard_config_load(path, &cfg, errbuf, errlen) == 0 ? cfg : NULL;
}

void
yh_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    bool ok = f != NULL && fputs(text, f) >= 0;
    ok = (f == NULL || fclose(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "test harness: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}
