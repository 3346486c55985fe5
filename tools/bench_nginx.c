/* yard bench http's nginx side: nginx as a child process with a generated config
 * (bench_nginx.h).
 *
 * The config gives nginx its best for this load, as a user tuning a reverse proxy would:
 * upstream keep-alive (`keepalive` with `proxy_http_version 1.1` and an empty Connection
 * header, or nginx opens a connection per request), keep-alive requests without a practical
 * limit on both sides (nginx's default, 1000, would make wrk and nginx reconnect), no access
 * log, and bodies and answers held in memory (never written to its temp files). */
#include "bench_nginx.h"

#include "bench_wrk.h"
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_START_MS 10000 /* nginx starts in milliseconds; this is a generous bound */
#define S_STOP_MS  5000  /* SIGTERM's fast shutdown, then SIGKILL */
#define S_TRIES    3     /* a free port taken by someone else before nginx binds it */
#define S_LOG_MAX  4096  /* how much of nginx's logs a failure shows */

struct yard_bench_nginx {
    pid_t pid; /* the master; also its process group, which holds the workers */
    uint16_t port;
    char *dir; /* config, pid file, logs, temp paths */
};

char *
yard__bench_nginx_find(const char *path)
{
    if (path) {
        return access(path, X_OK) == 0 ? strdup(path) : NULL;
    }
    return yard__bench_which("nginx", "/usr/sbin:/sbin");
}

void
yard__bench_nginx_version(const char *nginx, char *out, size_t cap)
{
    out[0] = '\0';
    char *cmd = NULL;
    if (asprintf(&cmd, "'%s' -v 2>&1", nginx) < 0) {
        abort();
    }
    FILE *p = strchr(nginx, '\'') ? NULL : popen(cmd, "r");
    free(cmd);
    if (!p) {
        return;
    }
    char line[256] = "";
    const char *v = NULL;
    if (fgets(line, sizeof line, p) && (v = strstr(line, "nginx/"))) {
        snprintf(out, cap, "%.*s", (int)strcspn(v, " \r\n"), v);
    }
    pclose(p);
}

/* A port nobody listens on now: bound and released, so another process may take it before
 * nginx does (start retries then). 0 when none can be had. */
static uint16_t
s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static int
s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void
s_rmtree(const char *dir)
{
    nftw(dir, s_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes dir/nginx.conf. Returns 0 or -1 with the reason on stderr. */
static int
s_write_conf(const char *dir, uint16_t port, uint16_t upstream_port,
             const yard_bench_nginx_opts_t *o)
{
    char *path = NULL;
    if (asprintf(&path, "%s/nginx.conf", dir) < 0) {
        abort();
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "yard bench http: cannot write %s: %s\n", path, strerror(errno));
        free(path);
        return -1;
    }
    unsigned workers = o->workers ? o->workers : 1;
    /* Each client connection may hold an upstream one; nginx counts both. */
    unsigned worker_connections = 2 * o->connections + 64;
    size_t body = o->body_max + 4096;
    /* Enough 16 KiB buffers for the largest answer (allocated as an answer needs them), and
     * never fewer than nginx's default 8, which its busy-buffers rule needs. */
    unsigned buffers = (unsigned)(body / 16384) + 2;
    buffers = buffers < 8 ? 8 : buffers;
    fprintf(f,
            "# yard bench http: nginx as a reverse proxy in front of the bare server\n"
            "daemon off;\n"
            "master_process on;\n"
            "worker_processes %u;\n"
            "pid %s/nginx.pid;\n"
            "error_log %s/error.log warn;\n"
            "events { worker_connections %u; }\n"
            "http {\n"
            "    access_log off;\n"
            "    client_body_temp_path %s/client_body;\n"
            "    proxy_temp_path %s/proxy;\n"
            "    fastcgi_temp_path %s/fastcgi;\n"
            "    uwsgi_temp_path %s/uwsgi;\n"
            "    scgi_temp_path %s/scgi;\n"
            "    keepalive_requests 1000000;\n"
            "    client_max_body_size %zu;\n"
            "    client_body_buffer_size %zu;\n"
            "    proxy_buffer_size 16k;\n"
            "    proxy_buffers %u 16k;\n"
            "    proxy_max_temp_file_size 0;\n"
            "    upstream bare {\n"
            "        server 127.0.0.1:%u;\n"
            "        keepalive %u;\n"
            "        keepalive_requests 1000000;\n"
            "    }\n"
            "    server {\n"
            "        listen 127.0.0.1:%u;\n"
            "        location / {\n"
            "            proxy_pass http://bare;\n"
            "            proxy_http_version 1.1;\n"
            "            proxy_set_header Connection \"\";\n"
            "        }\n"
            "    }\n"
            "}\n",
            workers, dir, dir, worker_connections, dir, dir, dir, dir, dir, body, body, buffers,
            upstream_port, o->connections, port);
    int rc = fclose(f) == 0 ? 0 : -1;
    if (rc) {
        fprintf(stderr, "yard bench http: cannot write %s: %s\n", path, strerror(errno));
    }
    free(path);
    return rc;
}

/* Prints the tail of dir/name (nginx's logs) to stderr; true when it holds needle. */
static bool
s_show_log(const char *dir, const char *name, const char *needle)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        abort();
    }
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) {
        return false;
    }
    char buf[S_LOG_MAX + 1];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > S_LOG_MAX ? size - S_LOG_MAX : 0, SEEK_SET);
    size_t n = fread(buf, 1, S_LOG_MAX, f);
    fclose(f);
    buf[n] = '\0';
    if (n) {
        fprintf(stderr, "nginx's %s:\n%s%s", name, buf, buf[n - 1] == '\n' ? "" : "\n");
    }
    return needle && strstr(buf, needle);
}

/* The child: its own process group (so stop reaches the workers), SIGTERM when the bench
 * dies (the master then stops its workers), output into dir/stderr.log. Never returns. */
static void
s_exec(const char *nginx, const char *dir)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    char *conf = NULL, *errlog = NULL, *out = NULL;
    if (asprintf(&conf, "%s/nginx.conf", dir) < 0 || asprintf(&errlog, "%s/error.log", dir) < 0 ||
        asprintf(&out, "%s/stderr.log", dir) < 0) {
        _exit(127);
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0) {
        _exit(127);
    }
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    /* -p: the prefix for relative paths; -e: the log before the config is read, which would
     * otherwise be /var/log/nginx/error.log. */
    char *const argv[] = {(char *)nginx, "-p", (char *)dir, "-c", conf, "-e", errlog, NULL};
    execv(nginx, argv);
    fprintf(stderr, "exec %s: %s\n", nginx, strerror(errno));
    _exit(127);
}

static bool
s_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* Waits until nginx accepts on its port (0) or exits (-1, *exited set) or the deadline. */
static int
s_wait_ready(yard_bench_nginx_t *self, bool *exited)
{
    uint64_t deadline = yard__now_ns() + (uint64_t)S_START_MS * 1000000u;
    *exited = false;
    while (yard__now_ns() < deadline) {
        int ws = 0;
        if (waitpid(self->pid, &ws, WNOHANG) == self->pid) {
            *exited = true;
            self->pid = 0;
            return -1;
        }
        if (s_accepts(self->port)) {
            return 0;
        }
        yard__sleep_ms(10);
    }
    fprintf(stderr, "yard bench http: nginx did not listen within %d ms\n", S_START_MS);
    return -1;
}

/* Signals the master, waits for it to exit within S_STOP_MS, kills what is left of its
 * process group while the master's pid is still held (not yet reaped), then reaps it. */
static void
s_kill(yard_bench_nginx_t *self)
{
    if (self->pid <= 0) {
        return;
    }
    kill(self->pid, SIGTERM);
    uint64_t deadline = yard__now_ns() + (uint64_t)S_STOP_MS * 1000000u;
    siginfo_t si;
    for (;;) {
        memset(&si, 0, sizeof si);
        int rc = waitid(P_PID, (id_t)self->pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if ((rc == 0 && si.si_pid == self->pid) || (rc < 0 && errno != EINTR)) {
            break;
        }
        if (yard__now_ns() >= deadline) {
            break;
        }
        yard__sleep_ms(10);
    }
    killpg(self->pid, SIGKILL);
    int ws;
    while (waitpid(self->pid, &ws, 0) < 0 && errno == EINTR) {
    }
    self->pid = 0;
}

/* One attempt on a fresh port. Returns 0, 1 when worth another try (the port was taken),
 * or -1. */
static int
s_try_start(yard_bench_nginx_t *self, const char *nginx, uint16_t upstream_port,
            const yard_bench_nginx_opts_t *o)
{
    self->port = s_free_port();
    if (!self->port || s_write_conf(self->dir, self->port, upstream_port, o)) {
        return -1;
    }
    fflush(NULL);
    self->pid = fork();
    if (self->pid < 0) {
        fprintf(stderr, "yard bench http: fork: %s\n", strerror(errno));
        self->pid = 0;
        return -1;
    }
    if (self->pid == 0) {
        s_exec(nginx, self->dir);
    }
    bool exited = false;
    if (s_wait_ready(self, &exited) == 0) {
        return 0;
    }
    s_kill(self);
    fprintf(stderr, "yard bench http: nginx (%s) did not start%s\n", nginx,
            exited ? ": it exited" : "");
    bool taken = s_show_log(self->dir, "error.log", "Address already in use");
    taken |= s_show_log(self->dir, "stderr.log", "Address already in use");
    return taken ? 1 : -1;
}

int
yard__bench_nginx_start(const char *nginx, uint16_t upstream_port, const yard_bench_nginx_opts_t *o,
                        yard_bench_nginx_t **out)
{
    *out = NULL;
    yard_bench_nginx_t *self = calloc(1, sizeof *self);
    const char *tmp = getenv("TMPDIR");
    if (!self ||
        asprintf(&self->dir, "%s/yard-bench-nginx-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") < 0) {
        abort();
    }
    if (!mkdtemp(self->dir)) {
        fprintf(stderr, "yard bench http: cannot make %s: %s\n", self->dir, strerror(errno));
        free(self->dir);
        free(self);
        return -1;
    }
    /* Workers started by a root master run as nobody: let them reach their temp paths. */
    chmod(self->dir, 0711);
    int rc = 1;
    for (int i = 0; i < S_TRIES && rc == 1; i++) {
        rc = s_try_start(self, nginx, upstream_port, o);
    }
    if (rc) {
        yard__bench_nginx_stop(&self);
        return -1;
    }
    *out = self;
    return 0;
}

uint16_t
yard__bench_nginx_port(const yard_bench_nginx_t *self)
{
    return self->port;
}

void
yard__bench_nginx_stop(yard_bench_nginx_t **self_p)
{
    yard_bench_nginx_t *self = *self_p;
    if (!self) {
        return;
    }
    s_kill(self);
    s_rmtree(self->dir);
    free(self->dir);
    free(self);
    *self_p = NULL;
}
