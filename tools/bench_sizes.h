/* `yard bench --sizes 64,4096,1048576`: one row per body size, each the bus and the raw
 * zmq_proxy baseline in the same run (the same load as plain `yard bench`), with what the
 * broker did with the bodies: its `$sys stats` counters body_bytes_copied, body_frames_moved
 * and body_bytes_moved, read before and after the row's bus side and given per round trip.
 * A body up to the wire's inline limit travels in the head frame (the broker copies it); a
 * larger one keeps its own frame, which the broker moves on by reference and never copies:
 * 0 bytes copied and 2 frames moved (request and reply) per round trip.
 *
 * Large bodies would put clients x window x size bytes in flight (4 x 64 x 1 MiB = 256 MiB):
 * each row's window is capped so that at most YARD_BENCH_INFLIGHT_MAX body bytes are
 * outstanding on either side (yard__bench_sizes_window), and the rows print the window used.
 * Private to tools/. */
#ifndef YARD_TOOLS_BENCH_SIZES_H
#define YARD_TOOLS_BENCH_SIZES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_BENCH_SIZES_MAX    8                     /* sizes in one --sizes list */
#define YARD_BENCH_SIZE_MAX     (1024u * 1024u)       /* a body, as --size */
#define YARD_BENCH_INFLIGHT_MAX (16u * 1024u * 1024u) /* body bytes outstanding, all clients */

/* --sizes LIST: comma-separated body sizes, each 1..YARD_BENCH_SIZE_MAX bytes, at most
 * YARD_BENCH_SIZES_MAX of them, into sizes[] and *n. Returns NULL, or why (written into why,
 * naming the bad entry or the list). */
const char *yard__bench_sizes_parse(const char *text, size_t *sizes, int *n, char *why,
                                    size_t why_len);

/* The window each of clients keeps outstanding for size-byte bodies: window, or less so
 * that clients x window x size <= YARD_BENCH_INFLIGHT_MAX, at least 1. */
int yard__bench_sizes_window(int window, int clients, size_t size);

typedef struct {
    int clients, replicas, window; /* window: as asked; each row caps it for its size */
    double duration_s;
    size_t sizes[YARD_BENCH_SIZES_MAX];
    int nsizes;
    bool json;
    bool baseline;       /* run the raw zmq_proxy side too */
    bool spread;         /* the echo replicas do not ask for FILL (yard_bench_replicas_t) */
    const char *broker;  /* NULL: an in-process broker and echo replicas, fresh for each row */
    const char *service; /* the echo service to call */
} yard_bench_sizes_t;

/* Runs every row and prints the table (or one JSON object). Returns the exit status:
 * YARD_EXIT_OK, or YARD_EXIT_ERROR after saying why on stderr. */
int yard__bench_sizes(const yard_bench_sizes_t *o);

#endif
