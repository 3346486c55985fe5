/* Helpers for the broker's integration tests: an in-process broker on a free port and raw
 * DEALER peers that speak the protocol through the codec, so the tests see exactly the wire. Every
 * receive has a deadline. */
#ifndef TEST_BROKER_UTIL_H
#define TEST_BROKER_UTIL_H

#include "yard/broker.h"
#include "yard/wire.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct {
    yard_broker_t *broker;
    void *ctx;
    char endpoint[64];
    yard_codec_t *codec;
} tb_env_t;

typedef struct {
    int cmd;
    int nframes;
    yard_header_t h; /* borrows hdr and env codec: valid until the next tb_recv */
    zmq_msg_t hdr;
    zmq_msg_t body;
} tb_msg_t;

/* Starts a broker with opts (NULL: defaults) on a free port. */
void tb_start(tb_env_t *env, yard_broker_opts_t *opts);
void tb_stop(tb_env_t *env);

/* A DEALER connected to the broker. Caller closes it with zmq_close. */
void *tb_peer(tb_env_t *env);

/* Sends cmd with header h and, when body is not NULL, a body of len bytes. */
void tb_send(void *sock, int cmd, const yard_header_t *h, const void *body, size_t len);

/* Sends n raw frames. */
void tb_send_raw(void *sock, const void *const *frames, const size_t *sizes, int n);

/* Receives one message within timeout_ms. Returns true when one came. */
bool tb_recv(tb_env_t *env, void *sock, tb_msg_t *m, int timeout_ms);
void tb_msg_close(tb_msg_t *m);

/* Sends READY with header h on sock and waits for the broker's READY answer, which it
 * returns (the credit the broker accepted). */
uint32_t tb_ready(tb_env_t *env, void *sock, const yard_header_t *h);

/* READY for service with credit and heartbeat; waits for the broker's READY. */
void *tb_replica(tb_env_t *env, const char *service, uint32_t credit, uint32_t heartbeat_ms);

/* A REQUEST from client. */
void tb_request(void *client, uint64_t id, const char *service, uint32_t timeout_ms, uint32_t flags,
                const char *body);

/* Expects cmd next on sock within timeout_ms (fails the test otherwise) and returns it. */
void tb_expect(tb_env_t *env, void *sock, int cmd, tb_msg_t *m, int timeout_ms);

/* Expects an ERROR for request id with error err (a yard error) within 2 s. */
void tb_expect_error(tb_env_t *env, void *sock, uint64_t id, int err);

/* A DEALER subscribed to each of patterns[0..n): it waits for a heartbeat's answer, and on one
 * connection the broker handles messages in order, so the subscriptions are in place when this
 * returns. Caller closes it with zmq_close. */
void *tb_subscriber(tb_env_t *env, const char *const *patterns, int n);

/* True when nothing arrives on sock within ms. */
bool tb_quiet(tb_env_t *env, void *sock, int ms);

/* Asks $sys stats and returns counter name (a key of `counters`), or of the service's map
 * when service is not NULL. */
uint64_t tb_stat(tb_env_t *env, void *client, const char *service, const char *name);

/* Polls tb_stat until it equals value or timeout_ms passes; returns the last value. */
uint64_t tb_wait_stat(tb_env_t *env, void *client, const char *service, const char *name,
                      uint64_t value, int timeout_ms);

bool tb_body_is(const tb_msg_t *m, const char *text);

#endif
