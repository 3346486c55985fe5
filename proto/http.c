/* The outbound HTTP engine: libcurl's multi-socket interface driven by a loop source (see
 * yard/http.h for the contract, yard/loop.h for the loop's). curl tells us which sockets to
 * wait on (s_socket_cb) and when it next needs a turn (s_timer_cb); prepare turns both into
 * wait items and a wake time, dispatch hands back what poll saw, and completed attempts are
 * retried on the engine's own timers or delivered by callback. Nothing here blocks: name
 * resolution runs on curl's resolver thread and every socket is non-blocking.
 *
 * Invariant: every transfer is on h->xfers from yard_http_send() until its callback has run,
 * in one of three states (running inside curl's multi, waiting to retry, done and queued for
 * delivery); h->n_xfers counts them all, and max_transfers bounds that count. */
#include "http_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#ifndef YARD_VERSION
#error "YARD_VERSION must come from the build (CMake's PROJECT_VERSION)"
#endif

#define S_USER_AGENT         "switchyard/" YARD_VERSION
#define S_CONNECT_TIMEOUT_MS 10000
#define S_URL_SHOWN_MAX      256 /* bytes of a redacted URL kept for texts */

typedef enum { S_RUNNING, S_WAITING, S_DONE } s_state_t;

typedef struct s_xfer {
    struct s_xfer *prev, *next; /* h->xfers */
    struct s_xfer *done_next;   /* the delivery queue, while S_DONE */
    yard_http_t *h;
    yard_http_req_t *req;
    CURL *easy;
    struct curl_slist *slist;
    char *url; /* filled: holds secrets */
    char url_shown[S_URL_SHOWN_MAX];
    yard_http_done_fn *cb;
    void *arg;
    s_state_t state;
    int64_t retry_at;
    size_t body_cap;
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];
    yard_http_resp_t resp;
} s_xfer_t;

typedef struct {
    curl_socket_t fd;
    int what; /* CURL_POLL_IN / OUT / INOUT */
} s_sock_t;

struct yard_http {
    CURLM *multi;
    char *ca_file;
    size_t max_body;
    uint32_t max_transfers, connect_timeout_ms;
    s_xfer_t *xfers;
    uint32_t n_xfers;
    s_xfer_t *done_head, **done_tail;
    s_sock_t *socks;
    int n_socks, cap_socks;
    int64_t curl_deadline; /* when curl wants CURL_SOCKET_TIMEOUT; -1: never */
    bool draining;
    void **slot; /* a replica's slot that names this engine (http_ctx.c), cleared on destroy */
    uint64_t rng;
    char last_error[YARD__HTTP_ERR_MAX];
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void
s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* xorshift64*: jitter needs to be spread, not secret */
static uint64_t
s_random(yard_http_t *h)
{
    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    return h->rng * 0x2545F4914F6CDD1DULL;
}

/* --- curl's callbacks ---------------------------------------------------------------------- */

static int
s_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
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
            s_sock_t *grown = realloc(h->socks, (size_t)cap * sizeof *grown);
            if (!grown) {
                abort();
            }
            h->socks = grown;
            h->cap_socks = cap;
        }
        h->n_socks++;
    }
    h->socks[i] = (s_sock_t){.fd = fd, .what = what};
    return 0;
}

static int
s_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    yard_http_t *h = userp;
    h->curl_deadline = timeout_ms < 0 ? -1 : yard_loop_now_ms() + timeout_ms;
    return 0;
}

static size_t
s_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    s_xfer_t *x = userp;
    size_t n = size * nmemb, have = x->resp.body_len;
    if (n > x->h->max_body - have) {
        x->too_large = true;
        return 0; /* not n: curl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (have + n + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        while (cap < have + n + 1) {
            cap *= 2;
        }
        char *grown = realloc(x->resp.body, cap);
        if (!grown) {
            abort();
        }
        x->resp.body = grown;
        x->body_cap = cap;
    }
    memcpy(x->resp.body + have, data, n);
    x->resp.body_len = have + n;
    x->resp.body[x->resp.body_len] = '\0';
    return n;
}

/* --- the engine ---------------------------------------------------------------------------- */

int
yard_http_new(const yard_http_opts_t *opts, yard_http_t **out)
{
    static const yard_http_opts_t none = {0};
    opts = opts ? opts : &none;
    *out = NULL;
    if (opts->max_transfers > YARD_HTTP_MAX_TRANSFERS_UP) {
        yard_log(YARD_LOG_WARN, "http: max_transfers over the limit",
                 YF_UINT("max_transfers", opts->max_transfers),
                 YF_INT("limit", YARD_HTTP_MAX_TRANSFERS_UP));
        return YARD_E_INVALID;
    }
    pthread_once(&s_curl_once, s_curl_init);
    yard_http_t *h = yard__http_alloc(sizeof *h);
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return YARD_E_INTERNAL;
    }
    h->max_transfers = opts->max_transfers ? opts->max_transfers : YARD_HTTP_MAX_TRANSFERS;
    h->max_body = opts->max_body ? opts->max_body : YARD_HTTP_MAX_BODY;
    h->connect_timeout_ms =
        opts->connect_timeout_ms ? opts->connect_timeout_ms : S_CONNECT_TIMEOUT_MS;
    h->ca_file = opts->ca_file ? yard__http_strdup(opts->ca_file) : NULL;
    h->curl_deadline = -1;
    h->done_tail = &h->done_head;
    if (getrandom(&h->rng, sizeof h->rng, GRND_NONBLOCK) != sizeof h->rng || h->rng == 0) {
        h->rng = (uint64_t)yard_loop_now_ms() * 0x9E3779B97F4A7C15ULL | 1;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, s_socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, s_timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    *out = h;
    return 0;
}

void
yard__http_set_slot(yard_http_t *h, void **slot)
{
    h->slot = slot;
}

uint32_t
yard_http_in_flight(const yard_http_t *h)
{
    return h->n_xfers;
}

const char *
yard_http_last_error(const yard_http_t *h)
{
    return h->last_error;
}

static void
s_xfer_free(s_xfer_t *x)
{
    if (x->easy) {
        curl_easy_cleanup(x->easy);
    }
    yard__http_slist_wipe(x->slist);
    yard__http_wipe_free(x->url);
    yard_http_req_destroy(&x->req);
    free(x->resp.body);
    free(x);
}

/* Unlinks x from the transfers, runs its callback, frees it. */
static void
s_deliver_one(yard_http_t *h, s_xfer_t *x)
{
    if (x->prev) {
        x->prev->next = x->next;
    } else {
        h->xfers = x->next;
    }
    if (x->next) {
        x->next->prev = x->prev;
    }
    h->n_xfers--;
    x->resp.easy = x->resp.status > 0 ? x->easy : NULL;
    x->cb(&x->resp, x->arg);
    s_xfer_free(x);
}

/* Runs the queued callbacks. A callback may send new requests; those go on h->xfers, never on
 * this queue, so the loop ends. */
static void
s_deliver(yard_http_t *h)
{
    while (h->done_head) {
        s_xfer_t *x = h->done_head;
        h->done_head = x->done_next;
        if (!h->done_head) {
            h->done_tail = &h->done_head;
        }
        s_deliver_one(h, x);
    }
}

static void
s_queue_done(yard_http_t *h, s_xfer_t *x)
{
    x->state = S_DONE;
    x->done_next = NULL;
    *h->done_tail = x;
    h->done_tail = &x->done_next;
}

static int
s_err_from_curl(CURLcode rc, bool too_large)
{
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return YARD_E_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return YARD_E_UNREACHABLE;
    case CURLE_FILESIZE_EXCEEDED:
        return YARD_E_TOO_LARGE;
    case CURLE_WRITE_ERROR:
        return too_large ? YARD_E_TOO_LARGE : YARD_E_IO;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return YARD_E_INVALID;
    default:
        return YARD_E_IO;
    }
}

/* Fills x->resp.err_text: "METHOD url: reason", secrets redacted. */
static void
s_error_text(s_xfer_t *x, CURLcode rc)
{
    char raw[YARD__HTTP_ERR_MAX + S_URL_SHOWN_MAX + CURL_ERROR_SIZE];
    const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    char cap[96];
    if (x->resp.err == YARD_E_TOO_LARGE) {
        snprintf(cap, sizeof cap, "response body over max_body (%zu bytes)", x->h->max_body);
        why = cap;
    }
    snprintf(raw, sizeof raw, "%s %s: %s", x->req->method, x->url_shown, why);
    yard__http_redact(x->req, raw, x->resp.err_text, sizeof x->resp.err_text);
}

/* Reads the Retry-After of the attempt that just ended, in ms, or -1. */
static int64_t
s_retry_after(s_xfer_t *x)
{
    struct curl_header *hdr = NULL;
    int64_t ms = -1;
    if (curl_easy_header(x->easy, "Retry-After", 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK &&
        yard_http_retry_after_ms(hdr->value, time(NULL), &ms) != 0) {
        ms = -1;
    }
    return ms;
}

/* An attempt ended: record its outcome, then retry it later or queue it for delivery. */
static void
s_attempt_done(yard_http_t *h, s_xfer_t *x, CURLcode rc, int64_t now)
{
    curl_multi_remove_handle(h->multi, x->easy);
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    x->resp.attempts++;
    x->resp.status = (int)status;
    x->resp.err = s_err_from_curl(rc, x->too_large);
    x->resp.err_text[0] = '\0';
    if (x->resp.err != 0) {
        s_error_text(x, rc);
    }
    int seen = x->resp.err ? 0 : x->resp.status;
    if (h->draining || !yard__http_should_retry(x->req, x->resp.attempts, seen, x->resp.err)) {
        yard_log(YARD_LOG_DEBUG, "http: done", YF_STR("method", x->req->method),
                 YF_STR("url", x->url_shown), YF_INT("status", x->resp.status),
                 YF_STR("error", x->resp.err_text), YF_UINT("attempts", x->resp.attempts));
        s_queue_done(h, x);
        return;
    }
    uint32_t wait =
        yard_http_backoff_ms(&x->req->retry, x->resp.attempts, s_random(h), s_retry_after(x));
    yard_log(YARD_LOG_INFO, "http: retrying", YF_STR("method", x->req->method),
             YF_STR("url", x->url_shown), YF_INT("status", x->resp.status),
             YF_STR("error", x->resp.err_text), YF_UINT("attempt", x->resp.attempts),
             YF_UINT("wait_ms", wait));
    x->state = S_WAITING;
    x->retry_at = now + wait;
}

static void
s_collect(yard_http_t *h, int64_t now)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        s_xfer_t *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        s_attempt_done(h, x, msg->data.result, now);
    }
}

/* Starts the attempts whose wait is over. */
static void
s_start_retries(yard_http_t *h, int64_t now)
{
    for (s_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state != S_WAITING || x->retry_at > now) {
            continue;
        }
        x->resp.body_len = 0;
        if (x->resp.body) {
            x->resp.body[0] = '\0';
        }
        x->too_large = false;
        x->errbuf[0] = '\0';
        x->state = S_RUNNING;
        if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
            x->resp.err = YARD_E_INTERNAL;
            snprintf(x->resp.err_text, sizeof x->resp.err_text, "%s %s: could not restart",
                     x->req->method, x->url_shown);
            s_queue_done(h, x);
        }
    }
}

static void
s_set_error(yard_http_t *h, const yard_http_req_t *req, const char *fmt, const char *a)
{
    char raw[YARD__HTTP_ERR_MAX + S_URL_SHOWN_MAX + CURL_ERROR_SIZE];
    snprintf(raw, sizeof raw, fmt, a);
    yard__http_redact(req, raw, h->last_error, sizeof h->last_error);
    yard_log(YARD_LOG_DEBUG, "http: request refused", YF_STR("error", h->last_error));
}

/* Applies the request's options to a new easy handle. Returns 0 or YARD_E_INTERNAL. */
static int
s_easy_setup(yard_http_t *h, s_xfer_t *x)
{
    const yard_http_req_t *req = x->req;
    CURL *e = x->easy;
    uint32_t timeout = req->timeout_ms ? req->timeout_ms : YARD_HTTP_TIMEOUT_MS;
    bool ok =
        curl_easy_setopt(e, CURLOPT_URL, x->url) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write_cb) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_USERAGENT, S_USER_AGENT) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_timeout_ms) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist) == CURLE_OK;
    if (ok && h->ca_file) {
        ok = curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file) == CURLE_OK;
    }
    if (!ok) {
        return YARD_E_INTERNAL;
    }
    const char *m = req->method;
    if (strcmp(m, "GET") == 0 && !req->has_body) {
        ok = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    } else if (strcmp(m, "HEAD") == 0) {
        ok = curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
    } else {
        /* POSTFIELDS makes a POST; CUSTOMREQUEST renames it (PUT, PATCH, DELETE, ...) */
        if (req->has_body || strcmp(m, "POST") == 0) {
            ok = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) ==
                     CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") == CURLE_OK;
        }
        if (ok && strcmp(m, "POST") != 0) {
            ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m) == CURLE_OK;
        }
    }
    return ok ? 0 : YARD_E_INTERNAL;
}

/* Builds the transfer for req. Takes ownership of req, on success and on failure. Returns 0
 * and *out, or an error with last_error set. */
static int
s_xfer_new(yard_http_t *h, yard_http_req_t *req, s_xfer_t **out)
{
    s_xfer_t *x = yard__http_alloc(sizeof *x);
    x->h = h;
    x->req = req;
    int rc = yard__http_req_url(req, &x->url);
    if (rc != 0) {
        s_set_error(h, req, "%s: a {secret} placeholder has no value (yard_http_req_secret)",
                    req->method);
        s_xfer_free(x);
        return rc;
    }
    yard__http_redact(req, x->url, x->url_shown, sizeof x->url_shown);
    x->slist = yard__http_req_slist(req);
    x->easy = curl_easy_init();
    if (!x->slist || !x->easy || s_easy_setup(h, x) != 0) {
        s_set_error(h, req, "%s: curl could not set the request up", x->url_shown);
        s_xfer_free(x);
        return YARD_E_INTERNAL;
    }
    x->resp.method = req->method;
    x->resp.url_redacted = x->url_shown;
    *out = x;
    return 0;
}

/* Refuses a request when draining or full. Returns 0 or the error, with last_error set. */
static int
s_admit(yard_http_t *h, const yard_http_req_t *req)
{
    if (h->draining) {
        s_set_error(h, req, "%s: the HTTP engine is draining: no new requests", req->method);
        return YARD_E_SHUTDOWN;
    }
    if (h->n_xfers >= h->max_transfers) {
        char n[16];
        snprintf(n, sizeof n, "%u", h->max_transfers);
        s_set_error(h, req, "too many HTTP transfers in flight (max_transfers %s)", n);
        return YARD_E_OVERLOADED;
    }
    return 0;
}

int
yard_http_send(yard_http_t *h, yard_http_req_t **req_p, yard_http_done_fn *cb, void *arg)
{
    yard_http_req_t *req = *req_p;
    *req_p = NULL;
    h->last_error[0] = '\0';
    int rc = s_admit(h, req);
    if (rc != 0) {
        yard_http_req_destroy(&req);
        return rc;
    }
    s_xfer_t *x = NULL;
    if ((rc = s_xfer_new(h, req, &x)) != 0) {
        return rc; /* s_xfer_new took req */
    }
    x->cb = cb;
    x->arg = arg;
    if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
        s_set_error(h, x->req, "%s: curl refused the transfer", x->url_shown);
        s_xfer_free(x);
        return YARD_E_INTERNAL;
    }
    x->next = h->xfers;
    if (h->xfers) {
        h->xfers->prev = x;
    }
    h->xfers = x;
    h->n_xfers++;
    return 0;
}

/* Ends every transfer that is not done yet with err, queueing it for delivery. */
static void
s_abort_all(yard_http_t *h, int err, const char *why)
{
    for (s_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state == S_DONE) {
            continue;
        }
        if (x->state == S_RUNNING) {
            curl_multi_remove_handle(h->multi, x->easy);
            x->resp.status = 0;
        }
        x->resp.err = err;
        char raw[YARD__HTTP_ERR_MAX + S_URL_SHOWN_MAX + CURL_ERROR_SIZE];
        snprintf(raw, sizeof raw, "%s %s: %s", x->req->method, x->url_shown, why);
        yard__http_redact(x->req, raw, x->resp.err_text, sizeof x->resp.err_text);
        s_queue_done(h, x);
    }
}

void
yard_http_destroy(yard_http_t **h_p)
{
    yard_http_t *h = *h_p;
    if (!h) {
        return;
    }
    h->draining = true;
    if (h->slot) {
        *h->slot = NULL; /* callbacks below must not find the engine that is going away */
    }
    s_abort_all(h, YARD_E_SHUTDOWN, "the HTTP engine shut down before the transfer finished");
    s_deliver(h);
    curl_multi_cleanup(h->multi);
    free(h->socks);
    free(h->ca_file);
    free(h);
    *h_p = NULL;
}

/* --- the loop source ----------------------------------------------------------------------- */

static int
s_prepare(void *ctx, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    yard_http_t *h = ctx;
    int n = 0;
    for (int i = 0; i < h->n_socks; i++) {
        if (n == max) {
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
    for (s_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state == S_WAITING && x->retry_at < *wake_ms) {
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
    for (int i = n; i < h->n_socks; i++) {
        curl_multi_socket_action(h->multi, h->socks[i].fd, 0, &running);
    }
    if (h->curl_deadline >= 0 && h->curl_deadline <= now_ms) {
        h->curl_deadline = -1;
        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    s_collect(h, now_ms);
    s_start_retries(h, now_ms);
    s_deliver(h);
}

/* Drain: no new requests, no more retries: a transfer waiting to retry ends now with the
 * outcome of its last attempt; running ones finish (or destroy aborts them). */
static void
s_drain(void *ctx)
{
    yard_http_t *h = ctx;
    h->draining = true;
    for (s_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state == S_WAITING) {
            s_queue_done(h, x);
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
