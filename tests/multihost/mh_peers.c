/* mh_peers: what N connected peers cost a running yard-broker, for docs/architecture.md
 * ("Sizing past one machine"). Not a test: a measuring tool, run by hand.
 *
 *   mh_peers --endpoint tcp://127.0.0.1:PORT --pid BROKER_PID --kind replica|subscriber|client
 *            [--counts 0,1000,5000] [--heartbeat-ms 1000] [--settle-ms 3000]
 *
 * For each count in turn it grows its set of raw DEALER peers to that count (100 at a time,
 * each acknowledged before the next batch: a replica's READY, a subscriber's or a client's
 * first heartbeat answered), keeps every peer heartbeating at --heartbeat-ms for --settle-ms,
 * then prints one line: how long admitting the new peers took (connect, handshake, READY
 * answered: what a READY storm after a broker restart costs, 100 in flight at a time), the
 * broker's VmRSS (/proc/PID/status), and its CPU time over the settle window (utime + stime
 * from /proc/PID/stat), i.e. what keeping that many peers alive costs it. A replica offers service
 * `sizing` with credit 1; a subscriber subscribes to `sizing.<i>`; a client only heartbeats (a
 * caller between calls). Needs file descriptors: about 2 per peer here (ulimit -n). */
#include "yard/wire.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_MAX_PEERS 20000
#define S_BATCH     100

typedef enum { S_REPLICA, S_SUBSCRIBER, S_CLIENT } s_kind_t;

typedef struct {
    const char *endpoint;
    int pid;
    s_kind_t kind;
    int counts[16], n_counts;
    uint32_t hb_ms, settle_ms;
    void *ctx;
    void *peers[S_MAX_PEERS];
    int n;
    yard_codec_t *codec;
} s_run_t;

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_send(void *sock, yard_cmd_t cmd, const yard_header_t *h)
{
    uint8_t head[YARD_WIRE_HEADER_MAX];
    int n = yard_wire_encode(cmd, h, head, sizeof head);
    if (n <= 0 || zmq_send(sock, head, (size_t)n, ZMQ_DONTWAIT) < 0) {
        fprintf(stderr, "mh_peers: cannot send (%s)\n", zmq_strerror(zmq_errno()));
        exit(1);
    }
}

/* Reads everything waiting on sock; returns how many messages of cmd were among them. */
static int
s_drain(s_run_t *r, void *sock, yard_cmd_t want)
{
    int got = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return got;
        }
        yard_cmd_t cmd;
        yard_header_t h;
        const char *why = NULL;
        if (yard_wire_decode(r->codec, zmq_msg_data(&m), zmq_msg_size(&m), &cmd, &h, &why) == 0 &&
            cmd == want) {
            got++;
        }
        while (zmq_msg_more(&m)) { /* a body frame */
            zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
        }
        zmq_msg_close(&m);
    }
}

static void
s_hello(s_run_t *r, void *sock, int i)
{
    char name[32];
    yard_header_t h = {.heartbeat_ms = r->hb_ms};
    if (r->kind == S_REPLICA) {
        h.service = yard_str("sizing");
        h.credit = 1;
        s_send(sock, YARD_CMD_READY, &h);
        return;
    }
    if (r->kind == S_SUBSCRIBER) {
        snprintf(name, sizeof name, "sizing.%d", i);
        yard_header_t sub = {.service = yard_str(name), .heartbeat_ms = r->hb_ms};
        s_send(sock, YARD_CMD_SUBSCRIBE, &sub);
    }
    s_send(sock, YARD_CMD_HEARTBEAT, &h);
}

/* Grows the set to count, S_BATCH at a time, each batch acknowledged. */
static void
s_grow(s_run_t *r, int count)
{
    yard_cmd_t ack = r->kind == S_REPLICA ? YARD_CMD_READY : YARD_CMD_HEARTBEAT;
    while (r->n < count) {
        int from = r->n, to = r->n + S_BATCH < count ? r->n + S_BATCH : count;
        for (int i = from; i < to; i++) {
            void *s = zmq_socket(r->ctx, ZMQ_DEALER);
            int zero = 0;
            zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
            if (!s || zmq_connect(s, r->endpoint) != 0) {
                fprintf(stderr, "mh_peers: socket %d: %s\n", i, zmq_strerror(zmq_errno()));
                exit(1);
            }
            r->peers[i] = s;
            s_hello(r, s, i);
        }
        int64_t deadline = s_now_ms() + 10000;
        for (int i = from; i < to; i++) {
            zmq_pollitem_t it = {.socket = r->peers[i], .events = ZMQ_POLLIN};
            while (s_drain(r, r->peers[i], ack) == 0) {
                if (s_now_ms() > deadline) {
                    fprintf(stderr, "mh_peers: peer %d never acknowledged\n", i);
                    exit(1);
                }
                zmq_poll(&it, 1, 100);
            }
        }
        r->n = to;
    }
}

/* Heartbeats every peer each interval for ms, reading what the broker sends. */
static void
s_keep_alive(s_run_t *r, uint32_t ms)
{
    int64_t end = s_now_ms() + ms, next = 0;
    while (s_now_ms() < end) {
        if (s_now_ms() >= next) {
            yard_header_t h = {.heartbeat_ms = r->hb_ms};
            for (int i = 0; i < r->n; i++) {
                s_send(r->peers[i], YARD_CMD_HEARTBEAT, &h);
            }
            next = s_now_ms() + r->hb_ms;
        }
        for (int i = 0; i < r->n; i++) {
            s_drain(r, r->peers[i], YARD_CMD_HEARTBEAT);
        }
        zmq_poll(NULL, 0, 20); /* paces the sweep: the peers' heartbeats are due per interval */
    }
}

static long
s_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

/* utime + stime of pid, in clock ticks. */
static long long
s_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    long long ut = 0, st = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut, &st) != 2) {
        return -1;
    }
    return ut + st;
}

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: mh_peers --endpoint EP --pid PID --kind replica|subscriber|client\n"
            "                [--counts 0,1000,5000] [--heartbeat-ms MS] [--settle-ms MS]\n");
    exit(2);
}

static void
s_options(s_run_t *r, int argc, char **argv)
{
    static const struct option opts[] = {{"endpoint", 1, 0, 'e'},
                                         {"pid", 1, 0, 'p'},
                                         {"kind", 1, 0, 'k'},
                                         {"counts", 1, 0, 'c'},
                                         {"heartbeat-ms", 1, 0, 'h'},
                                         {"settle-ms", 1, 0, 's'},
                                         {0, 0, 0, 0}};
    const char *counts = "0,1000,5000", *kind = "replica";
    r->hb_ms = 1000;
    r->settle_ms = 3000;
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (o) {
        case 'e':
            r->endpoint = optarg;
            break;
        case 'p':
            r->pid = atoi(optarg);
            break;
        case 'k':
            kind = optarg;
            break;
        case 'c':
            counts = optarg;
            break;
        case 'h':
            r->hb_ms = (uint32_t)atoi(optarg);
            break;
        case 's':
            r->settle_ms = (uint32_t)atoi(optarg);
            break;
        default:
            s_usage();
        }
    }
    r->kind = strcmp(kind, "subscriber") == 0 ? S_SUBSCRIBER
              : strcmp(kind, "client") == 0   ? S_CLIENT
                                              : S_REPLICA;
    for (const char *c = counts; *c && r->n_counts < 16;
         c = strchr(c, ',') ? strchr(c, ',') + 1 : "") {
        int v = atoi(c);
        if (v < 0 || v > S_MAX_PEERS) {
            s_usage();
        }
        r->counts[r->n_counts++] = v;
    }
    if (!r->endpoint || r->pid <= 0 || r->hb_ms < 10 || r->n_counts == 0) {
        s_usage();
    }
}

int
main(int argc, char **argv)
{
    static s_run_t r;
    s_options(&r, argc, argv);
    r.ctx = zmq_ctx_new();
    zmq_ctx_set(r.ctx, ZMQ_MAX_SOCKETS, S_MAX_PEERS + 64);
    r.codec = yard_codec_new();
    long hz = sysconf(_SC_CLK_TCK);
    printf("kind peers admit_ms broker_rss_kib kib_per_peer_vs_first "
           "broker_cpu_pct_while_heartbeating\n");
    long first_kb = -1;
    int first_n = 0;
    for (int k = 0; k < r.n_counts; k++) {
        int64_t g0 = s_now_ms();
        int before = r.n;
        s_grow(&r, r.counts[k]);
        long long admit_ms = (long long)(s_now_ms() - g0);
        s_keep_alive(&r, r.hb_ms * 2); /* let the arrival's allocations settle */
        long long t0 = s_cpu_ticks(r.pid);
        int64_t w0 = s_now_ms();
        s_keep_alive(&r, r.settle_ms);
        double cpu = 100.0 * (double)(s_cpu_ticks(r.pid) - t0) / (double)hz /
                     ((double)(s_now_ms() - w0) / 1000.0);
        long kb = s_rss_kb(r.pid);
        if (first_kb < 0) {
            first_kb = kb;
            first_n = r.n;
        }
        double per = r.n > first_n ? (double)(kb - first_kb) / (r.n - first_n) : 0;
        const char *kind = r.kind == S_REPLICA      ? "replica"
                           : r.kind == S_SUBSCRIBER ? "subscriber"
                                                    : "client";
        printf("%s %d %lld %ld %.2f %.1f\n", kind, r.n, r.n > before ? admit_ms : 0, kb, per, cpu);
        fflush(stdout);
    }
    for (int i = 0; i < r.n; i++) {
        zmq_close(r.peers[i]);
    }
    yard_codec_destroy(&r.codec);
    zmq_ctx_term(r.ctx);
    return 0;
}
