/* The parts of `yard bench memory` (cmd_bench_mem.c): a server process started on a free
 * loopback port (yard-broker, or yard-bench-proxy: a raw zmq_proxy whose backend echoes), its
 * memory read from /proc/PID/status, and N DEALER peers in this process that really talk to
 * it: each is answered before it counts. Private to tools/.
 *
 * Ownership: a server started with yard__mem_server_start() is the caller's to stop with
 * yard__mem_server_stop() (SIGTERM, then SIGKILL after 5 s, and reaped), whatever the start
 * returned. A peer set from yard__mem_peers_new() is freed with yard__mem_peers_destroy(). */
#ifndef YARD_TOOLS_BENCH_MEM_H
#define YARD_TOOLS_BENCH_MEM_H

#include <stddef.h>
#include <stdint.h>

/* The most peers one run may hold: each costs this process 2 file descriptors (its TCP
 * connection and its socket's mailbox) and the server one. */
#define YARD_MEM_PEERS_MAX 20000

typedef enum {
    YARD_MEM_BROKER, /* yard-broker, defaults but --bind and --max-peers */
    YARD_MEM_PROXY,  /* yard-bench-proxy: ROUTER <-> zmq_proxy <-> DEALER echo worker */
} yard_mem_kind_t;

/* One reading of /proc/PID/status, in KiB (-1: the line was missing). */
typedef struct {
    long rss_kib;  /* VmRSS: resident now */
    long hwm_kib;  /* VmHWM: the most resident so far */
    long anon_kib; /* RssAnon: heap, stacks, anonymous maps */
    long file_kib; /* RssFile: pages of the program and its shared libraries */
    int threads;
} yard_mem_sample_t;

/* Reads pid's status into *out. Returns 0, or -1 when the process is gone. */
int yard__mem_sample(int pid, yard_mem_sample_t *out);

typedef struct {
    yard_mem_kind_t kind;
    int pid;           /* 0 until started */
    char endpoint[64]; /* tcp://127.0.0.1:PORT */
    char log[256];     /* the child's stdout and stderr */
} yard_mem_server_t;

/* The program's name for kind ("yard-broker"). Static storage. */
const char *yard__mem_kind_program(yard_mem_kind_t kind);

/* Starts kind's program, found next to this one (/proc/self/exe), bound to a free port,
 * with stdout and stderr into a file under dir, and the YARD_* environment cleared (so the
 * broker runs with its defaults, whatever the caller's shell holds; MALLOC_* and the rest
 * pass through). A broker accepts max_peers tracked peers. Returns 0 once the port is
 * listening, or -1 with why (no program, it exited, not listening in 10 s). */
int yard__mem_server_start(yard_mem_server_t *s, yard_mem_kind_t kind, int max_peers,
                           const char *dir, char *why, size_t why_len);

/* Stops the server and reaps it. Safe on one never started. */
void yard__mem_server_stop(yard_mem_server_t *s);

/* N DEALER peers of one server. To a broker, the first half (rounded up) are clients (a
 * HEARTBEAT, answered) and the rest replicas (READY for service `bench_mem` with credit 1,
 * acknowledged); to the proxy each sends the same frames and gets them echoed back. */
typedef struct yard_mem_peers yard_mem_peers_t;

/* A set of n peers (1..YARD_MEM_PEERS_MAX) for a server of kind; none connected yet.
 * Returns NULL when out of memory or n is out of range. */
yard_mem_peers_t *yard__mem_peers_new(int n, yard_mem_kind_t kind);

/* Connects every peer to endpoint, 100 at a time (ZeroMQ's listen backlog), each batch
 * answered before the next. Returns 0 with *admit_ms the time it took, or -1 with why (a
 * socket could not be made, the server refused a peer with an ERROR, no answer in 10 s). */
int yard__mem_peers_connect(yard_mem_peers_t *p, const char *endpoint, int64_t *admit_ms, char *why,
                            size_t why_len);

/* Keeps the peers alive for ms: a HEARTBEAT from each every second (the broker's default
 * interval: replicas silent for 3 are dropped), and whatever comes back read. */
void yard__mem_peers_keep(yard_mem_peers_t *p, uint32_t ms);

/* Every replica sends DISCONNECT (a clean leave), then every socket is closed. */
void yard__mem_peers_close(yard_mem_peers_t *p);

void yard__mem_peers_destroy(yard_mem_peers_t **self_p);

#endif
