/* yard-bench-proxy: the baseline process of `yard bench memory` (cmd_bench_mem.c). What raw
 * ZeroMQ costs to hold the same peers as the broker, and nothing else: a ROUTER bound to
 * ENDPOINT, zmq_proxy() to a DEALER, and one echo worker behind it over inproc, so that each
 * peer's message comes back to it (a peer counts once answered, as on the broker). It links
 * libzmq alone, so its idle RSS is libzmq's and the C library's; it runs until killed.
 *
 *   yard-bench-proxy tcp://127.0.0.1:PORT */
#include <zmq.h>

#include <pthread.h>
#include <stdio.h>

#define S_BACKEND "inproc://yard-bench-proxy-echo"

/* Sends every message it gets back as it came ([routing id, frame...]). */
static void *
s_echo(void *sock)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            return NULL;
        }
        int more = zmq_msg_more(&m);
        if (zmq_msg_send(&m, sock, more ? ZMQ_SNDMORE : 0) < 0) {
            zmq_msg_close(&m);
            return NULL;
        }
    }
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: yard-bench-proxy ENDPOINT\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *front = zmq_socket(ctx, ZMQ_ROUTER);
    void *back = zmq_socket(ctx, ZMQ_DEALER);
    void *worker = zmq_socket(ctx, ZMQ_DEALER);
    if (!front || !back || !worker || zmq_bind(back, S_BACKEND) != 0 ||
        zmq_connect(worker, S_BACKEND) != 0 || zmq_bind(front, argv[1]) != 0) {
        fprintf(stderr, "yard-bench-proxy: cannot bind %s: %s\n", argv[1],
                zmq_strerror(zmq_errno()));
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, s_echo, worker) != 0) {
        fprintf(stderr, "yard-bench-proxy: cannot start the echo worker\n");
        return 1;
    }
    zmq_proxy(front, back, NULL); /* until the process is killed */
    return 0;
}
