/* Private to libyard: the message's layout and the helpers that the client and the actor
 * runtime share (the monotonic clock, sending one YD/3 message). A yard_msg_t can live
 * embedded in its owner and be refilled many times: its string arena and header array keep
 * their capacity, and the body is a zmq_msg_t moved in from the socket, so delivering a reply
 * to a callback costs no heap allocation in steady state. */
#ifndef YARD_MSG_INTERNAL_H
#define YARD_MSG_INTERNAL_H

#include "yard/msg.h"
#include "yard/wire.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

struct yard_msg {
    int status;
    zmq_msg_t body;
    char *arena; /* NUL-terminated copies of the strings below */
    size_t arena_cap;
    const char **headers; /* key, value, key, value, ... into arena */
    uint32_t header_cap;
    uint32_t header_count;
    const char *error_text;
    const char *app_error;
    const char *subject;
};

void yard__msg_init(yard_msg_t *m);
void yard__msg_fini(yard_msg_t *m);

/* Refills m: status (0 or a negative error), the strings of h (copied; subject is h->service
 * when is_delivery), and body (moved into m and left empty; NULL: no body). */
void yard__msg_set(yard_msg_t *m, int status, const yard_header_t *h, bool is_delivery,
                   zmq_msg_t *body);

/* Refills m with a local outcome: status and an error text (may be NULL). */
void yard__msg_set_local(yard_msg_t *m, int status, const char *text);

/* Moves m's contents into a new message and leaves m empty and reusable. Caller owns the
 * result; free with yard_msg_destroy(). */
yard_msg_t *yard__msg_take(yard_msg_t *m);

/* True when m carries details worth handing to a caller with an error. */
bool yard__msg_has_details(const yard_msg_t *m);

/* Milliseconds on a monotonic clock. */
int64_t yard__clock_ms(void);

/* Sends one YD/3 message: command, header, and the body when body is not NULL (inline in the
 * head frame when small, else its own frame; consumed on success and on failure). Never
 * blocks. Returns 0, YARD_E_TOO_LARGE when
 * the header does not encode, or YARD_E_OVERLOADED when the socket would block. */
int yard__bus_send(void *sock, yard_cmd_t cmd, const yard_header_t *h, zmq_msg_t *body);

/* Makes *m (initialised) a message holding a copy of size bytes. */
void yard__msg_set_bytes(zmq_msg_t *m, const void *data, size_t size);

/* A zmq_socket_monitor on sock for CONNECTED, DISCONNECTED and failed handshakes (each kind
 * of failure logged once per process, naming the CURVE setting to check), read through a PAIR
 * socket returned in *pair. Returns 0 or YARD_E_INTERNAL. */
int yard__bus_monitor_open(void *ctx, void *sock, void **pair);

/* Opens a DEALER to a broker with the bus's settings (reconnect every 100 ms, backing off to
 * 1 s; high-water marks of 100000; linger_ms), opens its monitor into *mon, and connects it
 * to endpoint. Returns the socket (caller owns it and *mon; close with yard__bus_close()), or
 * NULL with the reason logged and nothing left open. */
void *yard__bus_open(void *ctx, const char *endpoint, int linger_ms, void **mon);

/* Whether libzmq reports connections to endpoint through a socket monitor: not for inproc,
 * whose peer is in this process and whose messages wait for its bind. */
bool yard__endpoint_monitored(const char *endpoint);

/* Closes *sock and its monitor *mon, and sets both to NULL. */
void yard__bus_close(void **sock, void **mon);
void yard__bus_monitor_close(void *sock, void **pair);

/* Reads one monitor event without blocking. Returns the ZMQ_EVENT_* number, or 0 when none. */
int yard__bus_monitor_read(void *pair);

/* Splits a comma-separated endpoint list ("tcp://a:1,tcp://b:2"; spaces around commas
 * allowed). Returns 0 and sets *out (caller owns it; free with yard__endpoints_free()) and *n,
 * or YARD_E_CONFIG when the list is empty or an endpoint is not transport://address. */
int yard__endpoints_parse(const char *list, char ***out, size_t *n);
void yard__endpoints_free(char **list, size_t n);

#endif
