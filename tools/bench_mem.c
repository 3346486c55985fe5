/* The parts of `yard bench memory` (contract in bench_mem.h). */
#include "bench_mem.h"

#include "cli.h"
#include "yard/wire.h"

#include <zmq.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define S_BATCH        100   /* peers connecting at once: ZeroMQ's listen backlog */
#define S_ANSWER_MS    10000 /* for one batch's answers */
#define S_LISTEN_MS    10000 /* for a started server to listen */
#define S_HEARTBEAT    1000  /* ms: the broker's default interval */
#define S_SERVICE      "bench_mem"
#define S_STOP_MS      5000 /* SIGTERM to SIGKILL */
#define S_CLOSE_LINGER 500  /* ms a closed replica's DISCONNECT may take to leave */

static int64_t
s_now_ms(void)
{
    return (int64_t)(yard__now_ns() / 1000000u);
}

/* --- /proc ---------------------------------------------------------------------------------- */

int
yard__mem_sample(int pid, yard_mem_sample_t *out)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    *out = (yard_mem_sample_t){-1, -1, -1, -1, 0};
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {{"VmRSS:", offsetof(yard_mem_sample_t, rss_kib)},
                {"VmHWM:", offsetof(yard_mem_sample_t, hwm_kib)},
                {"RssAnon:", offsetof(yard_mem_sample_t, anon_kib)},
                {"RssFile:", offsetof(yard_mem_sample_t, file_kib)}};
    while (fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            size_t n = strlen(keys[i].key);
            if (strncmp(line, keys[i].key, n) == 0) {
                *(long *)((char *)out + keys[i].off) = strtol(line + n, NULL, 10);
            }
        }
        if (strncmp(line, "Threads:", 8) == 0) {
            out->threads = (int)strtol(line + 8, NULL, 10);
        }
    }
    fclose(f);
    return out->rss_kib < 0 ? -1 : 0; /* a zombie has no VmRSS */
}

/* Whether a TCP socket listens on port in pid's network namespace (/proc/PID/net/tcp, IPv4):
 * the port was free a moment before pid was started to bind it, so the socket is pid's. */
static bool
s_listening(int pid, int port)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/net/tcp", pid);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned addr, lport, st;
        /* "  0: 0100007F:1F90 00000000:0000 0A ...": 0A is LISTEN */
        if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X", &addr, &lport, &st) == 3) {
            found = (int)lport == port && st == 0x0A;
        }
    }
    if (f) {
        fclose(f);
    }
    return found;
}

/* --- the server process --------------------------------------------------------------------- */

const char *
yard__mem_kind_program(yard_mem_kind_t kind)
{
    return kind == YARD_MEM_BROKER ? "yard-broker" : "yard-bench-proxy";
}

/* program's path next to this one into out. Returns 0, or -1 when it is not there. */
static int
s_program_path(const char *program, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
    }
    int w = snprintf(out, len, "%s/%s", exe, program);
    return w > 0 && (size_t)w < len && access(out, X_OK) == 0 ? 0 : -1;
}

/* In the child: no YARD_* variable reaches the server (its options' environment layer). */
static void
s_clear_yard_env(void)
{
    for (bool again = true; again;) {
        again = false;
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "YARD_", 5) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)(n < 255 ? n : 255), *e);
                unsetenv(name);
                again = true; /* environ changed under us: start over */
                break;
            }
        }
    }
}

static void
s_exec(const yard_mem_server_t *s, const char *program, int max_peers)
{
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    s_clear_yard_env();
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* a killed `yard` leaves no server behind */
    char peers[32];
    snprintf(peers, sizeof peers, "%d", max_peers);
    if (s->kind == YARD_MEM_BROKER) {
        execl(program, program, "--bind", s->endpoint, "--max-peers", peers, "--log-level", "warn",
              (char *)NULL);
    } else {
        execl(program, program, s->endpoint, (char *)NULL);
    }
    fprintf(stderr, "exec %s: %s\n", program, strerror(errno));
    _exit(127);
}

int
yard__mem_server_start(yard_mem_server_t *s, yard_mem_kind_t kind, int max_peers, const char *dir,
                       char *why, size_t why_len)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    const char *name = yard__mem_kind_program(kind);
    char program[PATH_MAX + 64];
    if (s_program_path(name, program, sizeof program) != 0) {
        snprintf(why, why_len, "no %s program next to this one (%s): build its target", name,
                 program);
        return -1;
    }
    int port = yard__free_port();
    if (port < 0) {
        snprintf(why, why_len, "no free port on 127.0.0.1");
        return -1;
    }
    snprintf(s->endpoint, sizeof s->endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(s->log, sizeof s->log, "%s/%s.log", dir, name);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        s_exec(s, program, max_peers);
    }
    s->pid = pid;
    for (int64_t end = s_now_ms() + S_LISTEN_MS; !s_listening(pid, port);) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            s->pid = 0;
            snprintf(why, why_len, "%s exited at start (its output: %s)", name, s->log);
            return -1;
        }
        if (s_now_ms() > end) {
            snprintf(why, why_len, "%s not listening on %s after %d s (its output: %s)", name,
                     s->endpoint, S_LISTEN_MS / 1000, s->log);
            return -1;
        }
        yard__sleep_ms(10); /* polling /proc for the listening socket */
    }
    return 0;
}

void
yard__mem_server_stop(yard_mem_server_t *s)
{
    if (s->pid <= 0) {
        return;
    }
    kill(s->pid, SIGTERM);
    for (int64_t end = s_now_ms() + S_STOP_MS; waitpid(s->pid, NULL, WNOHANG) != s->pid;) {
        if (s_now_ms() > end) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            break;
        }
        yard__sleep_ms(10); /* polling for its exit */
    }
    s->pid = 0;
}

/* --- the peers ------------------------------------------------------------------------------ */

struct yard_mem_peers {
    yard_mem_kind_t kind;
    int n, connected;
    void *ctx;
    void **socks;
    yard_codec_t *codec;
    uint8_t hello_client[64], hello_replica[128], heartbeat[64], bye[64];
    int hello_client_len, hello_replica_len, heartbeat_len, bye_len;
};

static bool
s_is_replica(const yard_mem_peers_t *p, int i)
{
    return i >= (p->n + 1) / 2;
}

yard_mem_peers_t *
yard__mem_peers_new(int n, yard_mem_kind_t kind)
{
    if (n < 1 || n > YARD_MEM_PEERS_MAX) {
        return NULL;
    }
    yard_mem_peers_t *p = calloc(1, sizeof *p);
    if (!p || !(p->socks = calloc((size_t)n, sizeof *p->socks)) || !(p->codec = yard_codec_new())) {
        yard__mem_peers_destroy(&p);
        return NULL;
    }
    p->kind = kind;
    p->n = n;
    yard_header_t hb = {.heartbeat_ms = S_HEARTBEAT};
    yard_header_t ready = {
        .service = yard_str(S_SERVICE), .credit = 1, .heartbeat_ms = S_HEARTBEAT};
    yard_header_t none = {0};
    p->hello_client_len =
        yard_wire_encode(YARD_CMD_HEARTBEAT, &hb, p->hello_client, sizeof p->hello_client);
    p->hello_replica_len =
        yard_wire_encode(YARD_CMD_READY, &ready, p->hello_replica, sizeof p->hello_replica);
    p->heartbeat_len = yard_wire_encode(YARD_CMD_HEARTBEAT, &hb, p->heartbeat, sizeof p->heartbeat);
    p->bye_len = yard_wire_encode(YARD_CMD_DISCONNECT, &none, p->bye, sizeof p->bye);
    if (p->hello_client_len <= 0 || p->hello_replica_len <= 0 || p->heartbeat_len <= 0 ||
        p->bye_len <= 0) {
        abort(); /* fixed headers that always fit */
    }
    p->ctx = zmq_ctx_new();
    if (!p->ctx || zmq_ctx_set(p->ctx, ZMQ_MAX_SOCKETS, n + 16) != 0) {
        yard__mem_peers_destroy(&p);
    }
    return p;
}

/* Reads everything waiting on peer i. Returns 1 when something counted as its answer came,
 * 0 when nothing did, -1 with why when the broker refused it. From a broker the answer is any
 * valid message but ERROR: it sends a peer nothing before answering its first message (and
 * may fold the answer into a batch); from the proxy, its own frame echoed. */
static int
s_drain(yard_mem_peers_t *p, int i, char *why, size_t why_len)
{
    int answered = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, p->socks[i], ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return answered;
        }
        yard_cmd_t cmd = 0;
        yard_header_t h;
        const char *reason = NULL;
        if (p->kind == YARD_MEM_PROXY) {
            answered = 1;
        } else if (yard_wire_parse_command(zmq_msg_data(&m), zmq_msg_size(&m), &cmd, &reason)) {
            snprintf(why, why_len, "peer %d: the broker sent a bad frame (%s)", i, reason);
            answered = -1;
        } else if (cmd == YARD_CMD_ERROR) {
            int rc =
                yard_wire_decode(p->codec, zmq_msg_data(&m), zmq_msg_size(&m), &cmd, &h, &reason);
            snprintf(why, why_len, "peer %d (%s): the broker refused it: %.*s", i,
                     s_is_replica(p, i) ? "replica" : "client", rc ? 0 : (int)h.error_text.len,
                     rc ? "" : h.error_text.ptr);
            answered = -1;
        } else if (answered == 0) {
            answered = 1;
        }
        while (zmq_msg_more(&m)) { /* a body frame */
            zmq_msg_recv(&m, p->socks[i], ZMQ_DONTWAIT);
        }
        zmq_msg_close(&m);
        if (answered < 0) {
            return -1;
        }
    }
}

static int
s_open(yard_mem_peers_t *p, int i, const char *endpoint, char *why, size_t why_len)
{
    void *s = zmq_socket(p->ctx, ZMQ_DEALER);
    int zero = 0;
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(s, endpoint) != 0) {
        snprintf(why, why_len, "peer %d: cannot connect a DEALER to %s: %s", i, endpoint,
                 zmq_strerror(zmq_errno()));
        if (s) {
            zmq_close(s);
        }
        return -1;
    }
    p->socks[i] = s;
    p->connected = i + 1;
    bool replica = s_is_replica(p, i);
    if (zmq_send(s, replica ? p->hello_replica : p->hello_client,
                 (size_t)(replica ? p->hello_replica_len : p->hello_client_len),
                 ZMQ_DONTWAIT) < 0) {
        snprintf(why, why_len, "peer %d: cannot send: %s", i, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* Waits until each peer of [from, to) has been answered. */
static int
s_await(yard_mem_peers_t *p, int from, int to, char *why, size_t why_len)
{
    zmq_pollitem_t items[S_BATCH];
    bool done[S_BATCH] = {false};
    int left = to - from;
    int64_t deadline = s_now_ms() + S_ANSWER_MS;
    while (left > 0) {
        int k = 0;
        for (int i = from; i < to; i++) {
            if (!done[i - from]) {
                items[k++] = (zmq_pollitem_t){.socket = p->socks[i], .events = ZMQ_POLLIN};
            }
        }
        int64_t wait = deadline - s_now_ms();
        if (wait <= 0) {
            snprintf(why, why_len, "%d of peers %d..%d had no answer in %d s", left, from, to - 1,
                     S_ANSWER_MS / 1000);
            return -1;
        }
        if (zmq_poll(items, k, (long)wait) < 0) {
            snprintf(why, why_len, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        for (int i = from; i < to; i++) {
            int rc = done[i - from] ? 0 : s_drain(p, i, why, why_len);
            if (rc < 0) {
                return -1;
            }
            if (rc > 0) {
                done[i - from] = true;
                left--;
            }
        }
    }
    return 0;
}

int
yard__mem_peers_connect(yard_mem_peers_t *p, const char *endpoint, int64_t *admit_ms, char *why,
                        size_t why_len)
{
    int64_t t0 = s_now_ms();
    for (int from = 0; from < p->n; from += S_BATCH) {
        int to = from + S_BATCH < p->n ? from + S_BATCH : p->n;
        for (int i = from; i < to; i++) {
            if (s_open(p, i, endpoint, why, why_len) != 0) {
                return -1;
            }
        }
        if (s_await(p, from, to, why, why_len) != 0) {
            return -1;
        }
    }
    *admit_ms = s_now_ms() - t0;
    return 0;
}

void
yard__mem_peers_keep(yard_mem_peers_t *p, uint32_t ms)
{
    char why[512]; /* s_drain names what went wrong; here it is only read */
    int64_t end = s_now_ms() + ms, next = 0;
    for (int64_t now = s_now_ms(); now < end; now = s_now_ms()) {
        for (int i = 0; i < p->connected; i++) {
            if (now >= next) {
                zmq_send(p->socks[i], p->heartbeat, (size_t)p->heartbeat_len, ZMQ_DONTWAIT);
            }
            s_drain(p, i, why, sizeof why); /* what comes back is only read */
        }
        if (now >= next) {
            next = now + S_HEARTBEAT;
        }
        yard__sleep_ms(20); /* paces the sweep: heartbeats are due once a second */
    }
}

void
yard__mem_peers_close(yard_mem_peers_t *p)
{
    int linger = S_CLOSE_LINGER;
    for (int i = 0; i < p->connected; i++) {
        if (s_is_replica(p, i)) {
            zmq_setsockopt(p->socks[i], ZMQ_LINGER, &linger, sizeof linger);
            zmq_send(p->socks[i], p->bye, (size_t)p->bye_len, ZMQ_DONTWAIT);
        }
        zmq_close(p->socks[i]);
        p->socks[i] = NULL;
    }
    p->connected = 0;
}

void
yard__mem_peers_destroy(yard_mem_peers_t **self_p)
{
    yard_mem_peers_t *p = *self_p;
    if (!p) {
        return;
    }
    if (p->socks) {
        yard__mem_peers_close(p);
    }
    if (p->ctx) {
        zmq_ctx_term(p->ctx); /* waits out the replicas' DISCONNECT linger */
    }
    yard_codec_destroy(&p->codec);
    free(p->socks);
    free(p);
    *self_p = NULL;
}
