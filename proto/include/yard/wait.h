/* Waiting on ZeroMQ sockets and plain file descriptors with one poll(2) call.
 *
 * Why not zmq_poll(): libzmq's zmq_poll() first asks every socket for ZMQ_EVENTS, and each
 * ask runs the socket's command processing, a poll(2) and a getpid(2); with a ROUTER, a
 * monitor socket and an eventfd, a loop paid seven system calls per wake-up, which on a
 * 2-core machine doubled the bus's cost per message. yard_wait() instead polls the sockets'
 * ZMQ_FD descriptors directly, which is correct for a loop that keeps this rule:
 *
 *   Before waiting, receive from each socket with ZMQ_DONTWAIT until EAGAIN. A socket's
 *   descriptor then becomes readable when a new message (or command) arrives.
 *
 * A send on the socket after that EAGAIN may consume the wake-up of a message that arrived
 * meanwhile, so the loop marks such a socket `dirty` and yard_wait() then asks ZMQ_EVENTS
 * for it (the one costly check, only where needed). A readable item may still turn out to
 * have no message: the caller's ZMQ_DONTWAIT receive just gets EAGAIN again. */
#ifndef YARD_WAIT_H
#define YARD_WAIT_H

#include <stdbool.h>

#define YARD_WAIT_MAX 128

typedef struct {
    void *socket;    /* a ZeroMQ socket, or NULL for fd */
    int fd;          /* a plain descriptor when socket is NULL */
    bool dirty;      /* in: sent on since the last EAGAIN (or never drained); cleared here */
    bool no_read;    /* in, fd only: do not wait for readability (e.g. a socket that only
                        waits to finish connecting) */
    bool want_write; /* in, fd only: also wake when fd is writable */
    bool readable;   /* out: worth a ZMQ_DONTWAIT receive (or a read of fd); also set on an
                        error or hang-up, so that the read finds out */
    bool writable;   /* out, fd with want_write only: a write will not block (or the fd has an
                        error or hung up) */
} yard_wait_item_t;

/* Waits up to timeout_ms (-1: forever, 0: just look) until an item is readable. Items with
 * neither a socket nor an fd >= 0 are ignored. Returns the number of readable items, 0 when
 * the time ran out, or YARD_E_SHUTDOWN when a socket's context is terminated. n is at most
 * YARD_WAIT_MAX. */
int yard_wait(yard_wait_item_t *items, int n, long timeout_ms);

#endif
