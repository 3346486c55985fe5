/* The ROUTER's ZeroMQ monitor: libzmq writes socket events to an inproc PAIR that the loop
 * polls with the ROUTER, and each interesting one is published on `$sys.events`. A monitor
 * message is two frames: 6 bytes (uint16 event, uint32 value, host order) and the endpoint. */
#include "broker_priv.h"
#include "yard/log.h"

#include <stdio.h>
#include <string.h>

#define S_EVENTS                                                                                   \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |                           \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

int
yard__monitor_open(yard_broker_t *b)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://yard-broker-monitor-%p", (void *)b);
    if (zmq_socket_monitor(b->router, ep, S_EVENTS) != 0) {
        return -1;
    }
    b->mon = zmq_socket(b->ctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt(b->mon, ZMQ_LINGER, &zero, sizeof zero);
    if (!b->mon || zmq_connect(b->mon, ep) != 0) {
        return -1;
    }
    return 0;
}

static const char *
s_event_name(uint16_t ev)
{
    switch (ev) {
    case ZMQ_EVENT_CONNECTED:
        return "connected";
    case ZMQ_EVENT_ACCEPTED:
        return "accepted";
    case ZMQ_EVENT_DISCONNECTED:
        return "disconnected";
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        return "handshake_failed";
    default:
        return NULL;
    }
}

/* Reads every pending monitor message (non-blocking). */
void
yard__monitor_read(yard_broker_t *b)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&ev, b->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            zmq_msg_close(&addr);
            return;
        }
        if (zmq_msg_more(&ev)) {
            zmq_msg_recv(&addr, b->mon, 0);
        }
        uint16_t code = 0;
        if (zmq_msg_size(&ev) >= 2) {
            memcpy(&code, zmq_msg_data(&ev), sizeof code);
        }
        const char *name = s_event_name(code);
        if (name) {
            char endpoint[256];
            size_t n =
                zmq_msg_size(&addr) < sizeof endpoint ? zmq_msg_size(&addr) : sizeof endpoint - 1;
            memcpy(endpoint, zmq_msg_data(&addr), n);
            endpoint[n] = '\0';
            yard__event(b, name, endpoint, NULL, NULL);
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
    }
}

void
yard__monitor_close(yard_broker_t *b)
{
    if (b->router) {
        zmq_socket_monitor(b->router, NULL, 0);
    }
    if (b->mon) {
        zmq_close(b->mon);
        b->mon = NULL;
    }
}
