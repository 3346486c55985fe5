/* The outbound HTTP engine as a loop source (see yard/http.h and yard/loop.h): curl says which
 * sockets to wait on (yard__http_socket_cb) and when it next needs a turn (yard__http_timer_cb);
 * prepare turns both, and the retries' timers, into wait items and a wake time; dispatch hands
 * back what poll saw, then collects finished attempts, starts due retries and runs the
 * completion callbacks (http.c). */
#include "alloc_internal.h"
#include "http_internal.h"

#include <stdlib.h>

int
yard__http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    yard_http_t *h = userp;
    int i = 0;
    while (i < h->n_socks && h->socks[i].fd != fd) {
        i++;
    }
    if (what == CURL_POLL_REMOVE) {
        if (i < h->n_socks) {
            h->socks[i] = h->socks[--h->n_socks];
        }
        return 0;
    }
    if (i == h->n_socks) {
        if (h->n_socks == h->cap_socks) {
            int cap = h->cap_socks ? h->cap_socks * 2 : 16;
            yard__http_sock_t *grown = yard__xrealloc(h->socks, (size_t)cap * sizeof *grown);
            h->socks = grown;
            h->cap_socks = cap;
        }
        h->n_socks++;
    }
    h->socks[i] = (yard__http_sock_t){.fd = fd, .what = what};
    return 0;
}

int
yard__http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    yard_http_t *h = userp;
    h->curl_deadline = timeout_ms < 0 ? -1 : yard_loop_now_ms() + timeout_ms;
    return 0;
}

/* --- the loop source ----------------------------------------------------------------------- */

static int
s_prepare(void *ctx, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    yard_http_t *h = ctx;
    int n = 0;
    h->overflow = false;
    for (int i = 0; i < h->n_socks; i++) {
        if (n == max) {
            h->overflow = true;
            /* more sockets than wait items: look at the rest on a short timer */
            int64_t soon = yard_loop_now_ms() + 5;
            *wake_ms = soon < *wake_ms ? soon : *wake_ms;
            break;
        }
        int what = h->socks[i].what;
        items[n++] = (yard_wait_item_t){.fd = h->socks[i].fd,
                                        .no_read = !(what & CURL_POLL_IN),
                                        .want_write = (what & CURL_POLL_OUT) != 0};
    }
    if (h->curl_deadline >= 0 && h->curl_deadline < *wake_ms) {
        *wake_ms = h->curl_deadline;
    }
    for (yard__http_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state == YARD__HTTP_WAITING && x->retry_at < *wake_ms) {
            *wake_ms = x->retry_at;
        }
    }
    if (h->done_head && yard_loop_now_ms() < *wake_ms) {
        *wake_ms = yard_loop_now_ms(); /* callbacks to run */
    }
    return n;
}

static void
s_dispatch(void *ctx, yard_wait_item_t *items, int n, int64_t now_ms)
{
    yard_http_t *h = ctx;
    int running = 0;
    for (int i = 0; i < n; i++) {
        int mask =
            (items[i].readable ? CURL_CSELECT_IN : 0) | (items[i].writable ? CURL_CSELECT_OUT : 0);
        if (mask) {
            curl_multi_socket_action(h->multi, items[i].fd, mask, &running);
        }
    }
    /* the sockets that got no wait item: mask 0 has curl look at each itself (the table may
     * have changed meanwhile; an fd curl no longer knows is ignored) */
    for (int i = n; h->overflow && i < h->n_socks; i++) {
        curl_multi_socket_action(h->multi, h->socks[i].fd, 0, &running);
    }
    if (h->curl_deadline >= 0 && h->curl_deadline <= now_ms) {
        h->curl_deadline = -1;
        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    yard__http_collect(h, now_ms);
    yard__http_start_retries(h, now_ms);
    yard__http_deliver(h);
}

/* Drain: no new requests, no more retries: a transfer waiting to retry ends now with the
 * outcome of its last attempt; running ones finish (or destroy aborts them). */
static void
s_drain(void *ctx)
{
    yard_http_t *h = ctx;
    h->draining = true;
    for (yard__http_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state == YARD__HTTP_WAITING) {
            yard__http_queue_done(h, x);
        }
    }
}

static bool
s_busy(void *ctx)
{
    return ((yard_http_t *)ctx)->n_xfers > 0;
}

static void
s_destroy(void *ctx)
{
    yard_http_t *h = ctx;
    yard_http_destroy(&h);
}

yard_loop_source_t
yard_http_source(yard_http_t *h)
{
    return (yard_loop_source_t){.ctx = h,
                                .prepare = s_prepare,
                                .dispatch = s_dispatch,
                                .drain = s_drain,
                                .busy = s_busy,
                                .destroy = s_destroy};
}
