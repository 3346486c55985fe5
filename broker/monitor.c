/* The ROUTER's ZeroMQ monitor: libzmq writes socket events to an inproc PAIR that the loop
 * polls with the ROUTER, and each interesting one is published on `$sys.events`. A monitor
 * message is two frames: 6 bytes (uint16 event, uint32 value, host order) and the endpoint.
 *
 * The endpoint is the broker's own (the bound one), so the peer comes from elsewhere: for
 * ACCEPTED and DISCONNECTED the value is the connection's descriptor, and the remote address
 * read at ACCEPTED (getpeername) is kept by descriptor until its DISCONNECTED.
 *
 * A failed handshake (with CURVE: no key, an unknown key, a wrong broker key) carries no
 * descriptor, so it is told with the address of the last connection accepted (its own in all
 * but a race of simultaneous handshakes), counted (handshakes_failed) and logged once per
 * remote host. */
#include "broker_priv.h"
#include "yard/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define S_FD_MAX 1048576u /* descriptors above this get no remembered address */

#define S_EVENTS                                                                                   \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |                           \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

int
yard__monitor_open(yard_broker_t *b)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://yard-broker-monitor-%p", (void *)b);
    b->mon_last_fd = UINT32_MAX;
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

/* "host:port" of fd's remote end ("[v6]:port", "ipc" for a unix socket), or "" when unknown. */
static void
s_peer_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    char host[INET6_ADDRSTRLEN] = "";
    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0) {
        return;
    }
    if (sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else if (sa.ss_family == AF_UNIX) {
        snprintf(out, cap, "ipc");
    }
}

/* The remote address for the descriptor of an ACCEPTED or DISCONNECTED event: read and kept
 * at ACCEPTED, given back and forgotten at DISCONNECTED. */
static void
s_track(yard_broker_t *b, uint16_t code, uint32_t fd, char *peer, size_t cap)
{
    peer[0] = '\0';
    if (fd >= S_FD_MAX) {
        return;
    }
    if (code == ZMQ_EVENT_ACCEPTED) {
        if (fd >= b->mon_peer_cap) {
            uint32_t old = b->mon_peer_cap;
            yard__grow((void **)&b->mon_peer, &b->mon_peer_cap, fd + 1, sizeof *b->mon_peer);
            memset(b->mon_peer + old, 0, (size_t)(b->mon_peer_cap - old) * sizeof *b->mon_peer);
        }
        s_peer_name((int)fd, b->mon_peer[fd], sizeof b->mon_peer[fd]);
        snprintf(peer, cap, "%s", b->mon_peer[fd]);
        b->mon_last_fd = fd;
    } else if (code == ZMQ_EVENT_DISCONNECTED && fd < b->mon_peer_cap) {
        snprintf(peer, cap, "%s", b->mon_peer[fd]);
        b->mon_peer[fd][0] = '\0';
    }
}

/* Connections open (trim.c watches them fall after a flood). */
static void
s_count(yard_broker_t *b, uint16_t code)
{
    if (code == ZMQ_EVENT_ACCEPTED) {
        b->conns++;
    } else if (code == ZMQ_EVENT_DISCONNECTED && b->conns > 0) {
        b->conns--;
    }
}

static const char *
s_handshake_why(uint16_t code, uint32_t value)
{
    if (code == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return value == 400 ? "key refused (not in keys_dir)" : "ZAP refused the peer";
    }
    if (code == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        return "security mechanism mismatch or bad handshake (a peer without CURVE?)";
    }
    return "handshake failed (a wrong broker key, or no CURVE on the peer?)";
}

/* Counts a failed handshake, names its likely peer into peer, logs once per remote host. */
static void
s_handshake_failed(yard_broker_t *b, uint16_t code, uint32_t value, char *peer, size_t cap)
{
    b->counters[YARD__C_HANDSHAKES_FAILED]++;
    peer[0] = '\0';
    if (b->mon_last_fd < b->mon_peer_cap) {
        snprintf(peer, cap, "%s", b->mon_peer[b->mon_last_fd]);
    }
    uint32_t h = 2166136261u;
    for (const char *c = peer; *c && *c != ':'; c++) { /* the host, without the port */
        h = (h ^ (uint8_t)*c) * 16777619u;
    }
    h %= 8u * sizeof b->handshake_logged;
    if (!(b->handshake_logged[h / 8] & (1u << (h % 8)))) {
        b->handshake_logged[h / 8] |= (uint8_t)(1u << (h % 8));
        yard_log(YARD_LOG_WARN, "handshake failed", YF_STR("peer", *peer ? peer : "?"),
                 YF_STR("why", s_handshake_why(code, value)));
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
        uint32_t value = UINT32_MAX;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&code, zmq_msg_data(&ev), sizeof code);
            memcpy(&value, (const char *)zmq_msg_data(&ev) + 2, sizeof value);
        }
        const char *name = s_event_name(code);
        if (name) {
            char endpoint[256];
            size_t n =
                zmq_msg_size(&addr) < sizeof endpoint ? zmq_msg_size(&addr) : sizeof endpoint - 1;
            memcpy(endpoint, zmq_msg_data(&addr), n);
            endpoint[n] = '\0';
            char peer[64];
            if (strcmp(name, "handshake_failed") == 0) {
                s_handshake_failed(b, code, value, peer, sizeof peer);
            } else {
                s_track(b, code, value, peer, sizeof peer);
            }
            yard__event_peer(b, name, endpoint, peer);
        }
        s_count(b, code);
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
    }
    yard__trim_note(b);
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
    free(b->mon_peer);
    b->mon_peer = NULL;
    b->mon_peer_cap = 0;
}
