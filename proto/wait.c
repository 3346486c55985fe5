/* yard_wait(): see yard/wait.h for the rule that makes polling ZMQ_FD correct. */
#include "yard/wait.h"
#include "yard/assert.h"
#include "yard/error.h"
#include "yard/loop.h"
#include "msg_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

/* Asks a dirty socket whether a message is already waiting. Returns 1, 0, or an error. */
static int
s_check_events(void *socket)
{
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &len) != 0) {
        return zmq_errno() == ETERM ? YARD_E_SHUTDOWN : 0;
    }
    return (events & ZMQ_POLLIN) != 0;
}

int
yard_wait(yard_wait_item_t *items, int n, long timeout_ms)
{
    YARD_ASSERT(n >= 0 && n <= YARD_WAIT_MAX);
    struct pollfd pfd[YARD_WAIT_MAX];
    int index[YARD_WAIT_MAX];
    int npfd = 0, ready = 0;
    for (int i = 0; i < n; i++) {
        yard_wait_item_t *it = &items[i];
        it->readable = it->writable = false;
        int fd = it->fd;
        if (it->socket) {
            if (it->dirty) {
                int rc = s_check_events(it->socket);
                if (rc < 0) {
                    return rc;
                }
                it->dirty = false;
                it->readable = rc == 1;
                ready += rc;
            }
            size_t len = sizeof fd;
            if (zmq_getsockopt(it->socket, ZMQ_FD, &fd, &len) != 0) {
                return zmq_errno() == ETERM ? YARD_E_SHUTDOWN : YARD_E_INTERNAL;
            }
        }
        if (fd < 0) {
            continue;
        }
        short events = it->socket || !it->no_read ? POLLIN : 0;
        if (!it->socket && it->want_write) {
            events |= POLLOUT;
        }
        pfd[npfd] = (struct pollfd){.fd = fd, .events = events};
        index[npfd++] = i;
    }
    if (ready > 0) {
        timeout_ms = 0; /* still look at the others, but do not block */
    }
    int rc = poll(pfd, (nfds_t)npfd, timeout_ms < 0 ? -1 : (int)timeout_ms);
    if (rc < 0) {
        return errno == EINTR ? ready : YARD_E_INTERNAL;
    }
    for (int k = 0; k < npfd && rc > 0; k++) {
        yard_wait_item_t *it = &items[index[k]];
        short rev = pfd[k].revents;
        if (!rev) {
            continue;
        }
        bool fail = (rev & (POLLERR | POLLHUP | POLLNVAL)) != 0;
        bool was = it->readable;
        it->readable = was || (rev & POLLIN) || (fail && (pfd[k].events & POLLIN));
        it->writable = (pfd[k].events & POLLOUT) && ((rev & POLLOUT) || fail);
        if (!was && (it->readable || it->writable)) {
            ready++;
        }
    }
    return ready;
}

int64_t
yard_loop_now_ms(void)
{
    return yard__clock_ms();
}
