/* The bench's baseline: what raw libzmq does with the same load and none of the bus's work.
 *
 * A zmq_proxy joins a ROUTER frontend and a DEALER backend on tcp loopback. Clients are DEALERs
 * sending one-frame requests; the ROUTER prepends the client's routing id, the backend DEALER
 * hands [id, body] to a worker (round-robin), the worker sends the same two frames back, and
 * the ROUTER routes the reply to the client by the id, which it strips. There is no empty
 * delimiter frame because nobody is a REQ or REP. Each body starts with the client's send
 * timestamp, so latency needs no bookkeeping. The proxy and the workers share one context and
 * the clients another, as the bus side does; zmq_ctx_shutdown() ends the proxy and the workers. */
#include "bench_load.h"
#include "cli.h"

#include <zmq.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    void *ctx;
    char endpoint[64];
    const yard_bench_shape_t *shape;
    yard_bench_gate_t *gate; /* the bus side's start gate: both sides start alike */
    pthread_t thread;
    int setup_rc;
    yard_bench_result_t r;
} s_client_t;

typedef struct {
    void *sock;
    pthread_t thread;
} s_side_t;

static void *
s_proxy_thread(void *arg)
{
    void **socks = arg;
    pthread_setname_np(pthread_self(), "base-proxy");
    zmq_proxy(socks[0], socks[1], NULL); /* returns at zmq_ctx_shutdown() */
    zmq_close(socks[0]);
    zmq_close(socks[1]);
    return NULL;
}

static void *
s_worker_thread(void *arg)
{
    s_side_t *w = arg;
    pthread_setname_np(pthread_self(), "base-worker");
    zmq_msg_t frames[8];
    for (;;) {
        int n = 0;
        int more = 1;
        /* Receive one whole message ([id, body]; more frames are echoed as they came). */
        while (more && n < 8) {
            zmq_msg_init(&frames[n]);
            if (zmq_msg_recv(&frames[n], w->sock, 0) < 0) {
                for (int i = 0; i <= n; i++) {
                    zmq_msg_close(&frames[i]);
                }
                goto done;
            }
            more = zmq_msg_more(&frames[n]);
            n++;
        }
        for (int i = 0; i < n; i++) {
            if (zmq_msg_send(&frames[i], w->sock, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
                for (int j = i; j < n; j++) {
                    zmq_msg_close(&frames[j]);
                }
                goto done;
            }
        }
    }
done:
    zmq_close(w->sock);
    return NULL;
}

static void *
s_client_thread(void *arg)
{
    s_client_t *c = arg;
    pthread_setname_np(pthread_self(), "base-client");
    const yard_bench_shape_t *shape = c->shape;
    size_t size = shape->size < 8 ? 8 : shape->size;
    unsigned char *body = calloc(1, size);
    unsigned char *in = malloc(size + 64);
    void *sock = zmq_socket(c->ctx, ZMQ_DEALER);
    int linger = 0;
    if (!body || !in || !sock) {
        abort();
    }
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    c->setup_rc = zmq_connect(sock, c->endpoint);
    if (c->setup_rc == 0) {
        /* Warm up: one round trip proves the path is there before the clock starts. */
        uint64_t zero = 0;
        memcpy(body, &zero, sizeof zero);
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_send(sock, body, size, 0) < 0 || zmq_poll(&it, 1, 5000) <= 0 ||
            zmq_recv(sock, in, size + 64, 0) < 0) {
            c->setup_rc = -1;
        }
    }
    uint64_t end = yard__bench_gate_pass(c->gate, shape->duration_s);
    uint64_t outstanding = 0;
    uint64_t now = yard__now_ns();
    while (c->setup_rc == 0 && now < end) {
        while (outstanding < (uint64_t)shape->window) {
            now = yard__now_ns();
            memcpy(body, &now, sizeof now);
            if (zmq_send(sock, body, size, ZMQ_DONTWAIT) < 0) {
                break; /* HWM reached: wait for replies */
            }
            c->r.sent++;
            outstanding++;
        }
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        zmq_poll(&it, 1, 10);
        int n;
        while ((n = zmq_recv(sock, in, size + 64, ZMQ_DONTWAIT)) >= 8) {
            uint64_t t0;
            memcpy(&t0, in, sizeof t0);
            now = yard__now_ns();
            yard__hist_record(&c->r.hist, now - t0);
            c->r.replies++;
            if (now <= end) {
                c->r.replies_in_window++;
            }
            outstanding--;
        }
        now = yard__now_ns();
    }
    /* Drain what is still on its way, with a deadline. */
    uint64_t deadline = end + 2000000000ull;
    while (c->setup_rc == 0 && outstanding > 0 && (now = yard__now_ns()) < deadline) {
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        zmq_poll(&it, 1, 50);
        while (zmq_recv(sock, in, size + 64, ZMQ_DONTWAIT) >= 8) {
            uint64_t t0;
            memcpy(&t0, in, sizeof t0);
            yard__hist_record(&c->r.hist, yard__now_ns() - t0);
            c->r.replies++;
            outstanding--;
        }
    }
    c->r.lost = c->r.sent - c->r.replies;
    zmq_close(sock);
    free(body);
    free(in);
    return NULL;
}

static void *
s_bind(void *ctx, int type, char *endpoint, size_t len)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    int port = yard__free_port();
    snprintf(endpoint, len, "tcp://127.0.0.1:%d", port);
    if (port < 0 || zmq_bind(s, endpoint) != 0) {
        fprintf(stderr, "yard bench: baseline: cannot bind %s: %s\n", endpoint,
                zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

int
yard__bench_baseline(const yard_bench_shape_t *shape, yard_bench_result_t *out)
{
    memset(out, 0, sizeof *out);
    void *sctx = zmq_ctx_new();
    void *cctx = zmq_ctx_new();
    char front_ep[64], back_ep[64];
    void *socks[2];
    socks[0] = s_bind(sctx, ZMQ_ROUTER, front_ep, sizeof front_ep);
    socks[1] = socks[0] ? s_bind(sctx, ZMQ_DEALER, back_ep, sizeof back_ep) : NULL;
    if (!socks[1]) {
        if (socks[0]) {
            zmq_close(socks[0]);
        }
        zmq_ctx_term(sctx);
        zmq_ctx_term(cctx);
        return -1;
    }
    pthread_t proxy;
    if (pthread_create(&proxy, NULL, s_proxy_thread, socks)) {
        abort();
    }
    s_side_t *workers = calloc((size_t)shape->workers, sizeof *workers);
    s_client_t *clients = calloc((size_t)shape->clients, sizeof *clients);
    if (!workers || !clients) {
        abort();
    }
    for (int i = 0; i < shape->workers; i++) {
        workers[i].sock = zmq_socket(sctx, ZMQ_DEALER);
        int linger = 0;
        zmq_setsockopt(workers[i].sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect(workers[i].sock, back_ep);
        if (pthread_create(&workers[i].thread, NULL, s_worker_thread, &workers[i])) {
            abort();
        }
    }
    yard_bench_gate_t gate;
    yard__bench_gate_init(&gate, shape->clients);
    for (int i = 0; i < shape->clients; i++) {
        s_client_t *c = &clients[i];
        c->ctx = cctx;
        snprintf(c->endpoint, sizeof c->endpoint, "%s", front_ep);
        c->shape = shape;
        c->gate = &gate;
        if (pthread_create(&c->thread, NULL, s_client_thread, c)) {
            abort();
        }
    }
    yard__bench_gate_open(&gate);
    int rc = 0;
    for (int i = 0; i < shape->clients; i++) {
        pthread_join(clients[i].thread, NULL);
        if (clients[i].setup_rc) {
            rc = -1;
        }
        yard__bench_result_add(out, &clients[i].r); /* no errors here: those counts stay 0 */
    }
    out->seconds = shape->duration_s;
    if (rc) {
        fprintf(stderr, "yard bench: baseline: a client got no warm-up reply in 5 s\n");
    }
    zmq_ctx_shutdown(sctx);
    pthread_join(proxy, NULL);
    for (int i = 0; i < shape->workers; i++) {
        pthread_join(workers[i].thread, NULL);
    }
    zmq_ctx_term(sctx);
    zmq_ctx_term(cctx);
    yard__bench_gate_destroy(&gate);
    free(workers);
    free(clients);
    return rc;
}
