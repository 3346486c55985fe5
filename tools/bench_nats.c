/* The NATS side of `yard bench compare` (contract in bench_nats.h): a nats-server child and
 * the bus benches' load through it, driven the way the NATS C client's documentation drives
 * request/reply: responders are async queue subscribers that publish to msg reply subjects,
 * requesters use natsConnection_Request() one at a time or PublishRequest() to their own
 * inbox when pipelining. Every connection keeps the client's default options (a flusher
 * thread batches writes), as every yard client keeps its defaults.
 *
 * Invariant: in a pipelined requester slot i is outstanding exactly when a request with reply
 * subject <inbox>.<i> was published and its reply has not come back, so `outstanding` is the
 * number of replies the server still owes us. */
#include "bench_nats.h"
#include "bench_load.h"

#include <nats/nats.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_SUBJECT         "yard.bench.echo"
#define S_QUEUE           "echo"
#define S_CALL_TIMEOUT_MS 5000
#define S_START_MS        10000

/* --- the server ----------------------------------------------------------------------------- */

int
yard__nats_server_find(char *path, size_t len)
{
    const char *env = getenv("YARD_NATS_SERVER");
    if (env && env[0]) {
        snprintf(path, len, "%s", env);
        return access(path, X_OK) == 0 ? 0 : -1;
    }
    const char *p = getenv("PATH");
    char *dirs = NULL;
    if (asprintf(&dirs, "%s:/usr/local/sbin:/usr/sbin:/sbin", p ? p : "") < 0) {
        abort();
    }
    int rc = -1;
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && rc; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, len, "%s/nats-server", d);
        rc = access(path, X_OK) == 0 ? 0 : -1;
    }
    free(dirs);
    return rc;
}

/* Whether something accepts tcp connections on 127.0.0.1:port now. */
static bool
s_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static pid_t
s_spawn(const char *program, int port)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    /* The child: die with the bench, whatever ends it; keep the bench's output clean. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127);
    }
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    execl(program, program, "-a", "127.0.0.1", "-p", port_s, (char *)NULL);
    _exit(127);
}

int
yard__nats_server_start(yard_nats_server_t *s, const char *program, const char *who)
{
    memset(s, 0, sizeof *s);
    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = yard__free_port();
        if (s->port < 0) {
            fprintf(stderr, "%s: no free tcp port on 127.0.0.1\n", who);
            return -1;
        }
        s->pid = s_spawn(program, s->port);
        if (s->pid < 0) {
            s->pid = 0;
            fprintf(stderr, "%s: cannot start %s: %s\n", who, program, strerror(errno));
            return -1;
        }
        uint64_t deadline = yard__now_ns() + (uint64_t)S_START_MS * 1000000u;
        int status = 0;
        while (yard__now_ns() < deadline) {
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                s->pid = 0; /* it exited: most likely the port was taken meanwhile */
                break;
            }
            if (s_accepts(s->port)) {
                snprintf(s->url, sizeof s->url, "nats://127.0.0.1:%d", s->port);
                return 0;
            }
            yard__sleep_ms(10); /* polling with a short back-off is fine in a tool */
        }
        if (s->pid) {
            fprintf(stderr, "%s: %s does not accept connections on 127.0.0.1:%d after %d s\n", who,
                    program, s->port, S_START_MS / 1000);
            return -1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
            fprintf(stderr, "%s: cannot run %s\n", who, program);
            return -1;
        }
    }
    fprintf(stderr, "%s: %s exited at start three times (ports taken?)\n", who, program);
    return -1;
}

void
yard__nats_server_stop(yard_nats_server_t *s)
{
    if (s->pid <= 0) {
        return;
    }
    kill(s->pid, SIGTERM);
    uint64_t deadline = yard__now_ns() + 5000000000ull;
    while (waitpid(s->pid, NULL, WNOHANG) == 0) {
        if (yard__now_ns() >= deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            break;
        }
        yard__sleep_ms(10);
    }
    s->pid = 0;
}

/* --- responders ----------------------------------------------------------------------------- */

typedef struct {
    natsConnection *nc;
    natsSubscription *sub;
    uint32_t handler_ms;
    uint64_t served; /* counted by the delivery thread (atomics: read once the load ended) */
} s_responder_t;

/* Runs on the subscription's delivery thread (one per subscription, so a responder serves one
 * request at a time, as a replica with credit 1): after handler_ms of "work" (a sleep, as a
 * NATS responder's callback would spend it), the body goes back as it came. */
static void
s_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    s_responder_t *r = closure;
    if (r->handler_ms) {
        struct timespec ts = {.tv_sec = r->handler_ms / 1000,
                              .tv_nsec = (long)(r->handler_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    __atomic_fetch_add(&r->served, 1, __ATOMIC_RELAXED);
    const char *reply = natsMsg_GetReply(msg);
    if (reply) {
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    }
    natsMsg_Destroy(msg);
}

/* A connection to url with the client's default options, but for send_asap. */
static natsStatus
s_connect(natsConnection **nc, const char *url, bool send_asap)
{
    natsOptions *opts = NULL;
    natsStatus st = natsOptions_Create(&opts);
    if (st == NATS_OK) {
        st = natsOptions_SetURL(opts, url);
    }
    if (st == NATS_OK) {
        st = natsOptions_SetSendAsap(opts, send_asap);
    }
    if (st == NATS_OK) {
        st = natsConnection_Connect(nc, opts);
    }
    natsOptions_Destroy(opts);
    return st;
}

static natsStatus
s_responder_start(s_responder_t *r, const char *url, bool send_asap)
{
    natsStatus st = s_connect(&r->nc, url, send_asap);
    if (st == NATS_OK) {
        st = natsConnection_QueueSubscribe(&r->sub, r->nc, S_SUBJECT, S_QUEUE, s_on_request, r);
    }
    if (st == NATS_OK) {
        st = natsConnection_Flush(r->nc); /* the server has the subscription when this returns */
    }
    return st;
}

static void
s_responder_stop(s_responder_t *r)
{
    if (r->sub) {
        natsSubscription_Unsubscribe(r->sub);
        natsSubscription_Destroy(r->sub);
        r->sub = NULL;
    }
    if (r->nc) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
        r->nc = NULL;
    }
}

/* --- requesters ----------------------------------------------------------------------------- */

typedef struct {
    const char *url;
    bool send_asap;
    const yard_bench_shape_t *shape;
    yard_bench_gate_t *gate;
    int index;
    pthread_t thread;
    natsStatus setup_st;
    yard_bench_result_t r;
} s_client_t;

static void
s_count_error(yard_bench_result_t *r)
{
    r->errors++;
    r->error_counts[0]++;
}

static void
s_record(yard_bench_result_t *r, uint64_t t0, uint64_t end)
{
    uint64_t now = yard__now_ns();
    r->replies++;
    if (now <= end) {
        r->replies_in_window++;
    }
    yard__hist_record(&r->hist, now - t0);
}

/* One request at a time with natsConnection_Request(). */
static void
s_run_one(s_client_t *c, natsConnection *nc, const void *body, int size, uint64_t end)
{
    while (c->setup_st == NATS_OK && yard__now_ns() < end) {
        natsMsg *reply = NULL;
        uint64_t t0 = yard__now_ns();
        c->r.sent++;
        natsStatus st =
            natsConnection_Request(&reply, nc, S_SUBJECT, body, size, S_CALL_TIMEOUT_MS);
        if (st == NATS_OK) {
            s_record(&c->r, t0, end);
        } else {
            s_count_error(&c->r);
            yard__hist_record(&c->r.fail_hist, yard__now_ns() - t0);
        }
        natsMsg_Destroy(reply);
    }
}

/* A reply's slot: the number after the inbox prefix, or -1. */
static int
s_slot_of(const natsMsg *m, size_t prefix_len, int window)
{
    const char *subj = natsMsg_GetSubject(m);
    if (!subj || strlen(subj) <= prefix_len) {
        return -1;
    }
    char *stop = NULL;
    long i = strtol(subj + prefix_len, &stop, 10);
    return (*stop == '\0' && i >= 0 && i < window) ? (int)i : -1;
}

/* Keeps window requests outstanding, each with reply subject <inbox>.<slot>. */
static void
s_run_window(s_client_t *c, natsConnection *nc, natsSubscription *sub, const char *inbox,
             const void *body, int size, uint64_t end)
{
    int window = c->shape->window;
    uint64_t *t0 = calloc((size_t)window, sizeof *t0);
    bool *busy = calloc((size_t)window, sizeof *busy);
    if (!t0 || !busy) {
        abort();
    }
    size_t prefix_len = strlen(inbox) + 1;
    char reply[128];
    int outstanding = 0;
    int next = 0; /* slots are taken round-robin; replies come back in any order */
    while (yard__now_ns() < end) {
        while (outstanding < window) {
            while (busy[next]) {
                next = (next + 1) % window;
            }
            snprintf(reply, sizeof reply, "%s.%d", inbox, next);
            t0[next] = yard__now_ns();
            c->r.sent++;
            if (natsConnection_PublishRequest(nc, S_SUBJECT, reply, body, size) != NATS_OK) {
                s_count_error(&c->r);
                break;
            }
            busy[next] = true;
            outstanding++;
        }
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 10) != NATS_OK) {
            continue;
        }
        int slot = s_slot_of(m, prefix_len, window);
        if (slot >= 0 && busy[slot]) {
            busy[slot] = false;
            outstanding--;
            s_record(&c->r, t0[slot], end);
        }
        natsMsg_Destroy(m);
    }
    /* Drain with a deadline; what does not come back is counted as lost. */
    uint64_t deadline = end + (uint64_t)(S_CALL_TIMEOUT_MS + 2000) * 1000000u;
    while (outstanding > 0 && yard__now_ns() < deadline) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 50) != NATS_OK) {
            continue;
        }
        int slot = s_slot_of(m, prefix_len, window);
        if (slot >= 0 && busy[slot]) {
            busy[slot] = false;
            outstanding--;
            s_record(&c->r, t0[slot], end);
        }
        natsMsg_Destroy(m);
    }
    free(t0);
    free(busy);
}

static void *
s_client_thread(void *arg)
{
    s_client_t *c = arg;
    pthread_setname_np(pthread_self(), "nats-client");
    const yard_bench_shape_t *shape = c->shape;
    int size = (int)shape->size;
    void *body = calloc(1, shape->size ? shape->size : 1);
    if (!body) {
        abort();
    }
    char inbox[64];
    snprintf(inbox, sizeof inbox, "_INBOX.yardbench.%ld.%d", (long)getpid(), c->index);
    char wildcard[80];
    snprintf(wildcard, sizeof wildcard, "%s.*", inbox);
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *reply = NULL;
    c->setup_st = s_connect(&nc, c->url, c->send_asap);
    if (c->setup_st == NATS_OK && shape->window > 1) {
        c->setup_st = natsConnection_SubscribeSync(&sub, nc, wildcard);
        if (c->setup_st == NATS_OK) {
            /* The default pending limit (65,536 messages) is far above any window we keep. */
            c->setup_st = natsConnection_Flush(nc);
        }
    }
    if (c->setup_st == NATS_OK) {
        /* Warm up: one round trip proves the path is there before the clock starts. */
        c->setup_st = natsConnection_Request(&reply, nc, S_SUBJECT, body, size, S_CALL_TIMEOUT_MS);
        natsMsg_Destroy(reply);
    }
    uint64_t end = yard__bench_gate_pass(c->gate, shape->duration_s);
    if (c->setup_st == NATS_OK) {
        if (shape->window > 1) {
            s_run_window(c, nc, sub, inbox, body, size, end);
        } else {
            s_run_one(c, nc, body, size, end);
        }
    }
    c->r.lost = c->r.sent - c->r.replies - c->r.errors;
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    if (nc) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
    free(body);
    return NULL;
}

/* --- the load ------------------------------------------------------------------------------- */

int
yard__bench_nats(const char *url, const yard_bench_shape_t *shape, bool send_asap,
                 yard_bench_result_t *out, const char *who)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    s_responder_t *resp = calloc((size_t)shape->workers, sizeof *resp);
    s_client_t *clients = calloc((size_t)shape->clients, sizeof *clients);
    if (!resp || !clients) {
        abort();
    }
    for (int i = 0; i < shape->workers; i++) {
        resp[i].handler_ms = shape->handler_ms;
        natsStatus st = s_responder_start(&resp[i], url, send_asap);
        if (st != NATS_OK) {
            fprintf(stderr, "%s: nats: responder at %s: %s\n", who, url, natsStatus_GetText(st));
            rc = -1;
            goto cleanup;
        }
    }
    yard_bench_gate_t gate;
    yard__bench_gate_init(&gate, shape->clients);
    for (int i = 0; i < shape->clients; i++) {
        clients[i].url = url;
        clients[i].send_asap = send_asap;
        clients[i].shape = shape;
        clients[i].gate = &gate;
        clients[i].index = i;
        if (pthread_create(&clients[i].thread, NULL, s_client_thread, &clients[i])) {
            abort();
        }
    }
    yard__bench_gate_open(&gate);
    for (int i = 0; i < shape->clients; i++) {
        pthread_join(clients[i].thread, NULL);
        if (clients[i].setup_st != NATS_OK && rc == 0) {
            fprintf(stderr, "%s: nats: requester at %s: %s\n", who, url,
                    natsStatus_GetText(clients[i].setup_st));
            rc = -1;
        }
        yard__bench_result_add(out, &clients[i].r);
    }
    out->seconds = shape->duration_s;
    yard__bench_gate_destroy(&gate);
cleanup:
    for (int i = 0; i < shape->workers; i++) {
        s_responder_stop(&resp[i]); /* joins the delivery thread: served is final */
        if (shape->served) {
            shape->served[i] = __atomic_load_n(&resp[i].served, __ATOMIC_RELAXED);
        }
    }
    free(resp);
    free(clients);
    return rc;
}
