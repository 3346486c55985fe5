/* The outbound HTTP engine's transfers (see yard/http.h): each request becomes a curl easy
 * handle on the engine's one multi handle (one connection cache, so connections are kept
 * alive and reused); an attempt that ends is retried on the engine's own timers or queued for
 * its callback. http_loop.c drives all of it from the owner's loop. Nothing here blocks: name
 * resolution runs on curl's resolver thread and every socket is non-blocking.
 *
 * Invariant: every transfer is on h->xfers from yard_http_send() until its callback has run
 * (see yard__http_xfer_t); h->n_xfers counts them all, and max_transfers bounds that count. */
#include "alloc_internal.h"
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

static size_t
s_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    yard__http_xfer_t *x = userp;
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
        char *grown = yard__xrealloc(x->resp.body, cap);
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
    yard_http_t *h = yard__xcalloc(1, sizeof *h);
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return YARD_E_INTERNAL;
    }
    h->max_transfers = opts->max_transfers ? opts->max_transfers : YARD_HTTP_MAX_TRANSFERS;
    h->max_body = opts->max_body ? opts->max_body : YARD_HTTP_MAX_BODY;
    h->connect_timeout_ms =
        opts->connect_timeout_ms ? opts->connect_timeout_ms : S_CONNECT_TIMEOUT_MS;
    h->ca_file = opts->ca_file ? yard__xstrdup(opts->ca_file) : NULL;
    h->curl_deadline = -1;
    h->done_tail = &h->done_head;
    if (getrandom(&h->rng, sizeof h->rng, GRND_NONBLOCK) != sizeof h->rng || h->rng == 0) {
        h->rng = (uint64_t)yard_loop_now_ms() * 0x9E3779B97F4A7C15ULL | 1;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, yard__http_socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, yard__http_timer_cb);
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
s_xfer_free(yard__http_xfer_t *x)
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
s_deliver_one(yard_http_t *h, yard__http_xfer_t *x)
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
void
yard__http_deliver(yard_http_t *h)
{
    while (h->done_head) {
        yard__http_xfer_t *x = h->done_head;
        h->done_head = x->done_next;
        if (!h->done_head) {
            h->done_tail = &h->done_head;
        }
        s_deliver_one(h, x);
    }
}

void
yard__http_queue_done(yard_http_t *h, yard__http_xfer_t *x)
{
    x->state = YARD__HTTP_DONE;
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
s_error_text(yard__http_xfer_t *x, CURLcode rc)
{
    char raw[YARD__HTTP_ERR_MAX + YARD__HTTP_URL_SHOWN_MAX + CURL_ERROR_SIZE];
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
s_retry_after(yard__http_xfer_t *x)
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
s_attempt_done(yard_http_t *h, yard__http_xfer_t *x, CURLcode rc, int64_t now)
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
        yard__http_queue_done(h, x);
        return;
    }
    uint32_t wait =
        yard_http_backoff_ms(&x->req->retry, x->resp.attempts, s_random(h), s_retry_after(x));
    yard_log(YARD_LOG_INFO, "http: retrying", YF_STR("method", x->req->method),
             YF_STR("url", x->url_shown), YF_INT("status", x->resp.status),
             YF_STR("error", x->resp.err_text), YF_UINT("attempt", x->resp.attempts),
             YF_UINT("wait_ms", wait));
    x->state = YARD__HTTP_WAITING;
    x->retry_at = now + wait;
}

void
yard__http_collect(yard_http_t *h, int64_t now)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        yard__http_xfer_t *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        s_attempt_done(h, x, msg->data.result, now);
    }
}

/* Starts the attempts whose wait is over. */
void
yard__http_start_retries(yard_http_t *h, int64_t now)
{
    for (yard__http_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state != YARD__HTTP_WAITING || x->retry_at > now) {
            continue;
        }
        x->resp.body_len = 0;
        if (x->resp.body) {
            x->resp.body[0] = '\0';
        }
        x->too_large = false;
        x->errbuf[0] = '\0';
        x->state = YARD__HTTP_RUNNING;
        if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
            x->resp.err = YARD_E_INTERNAL;
            snprintf(x->resp.err_text, sizeof x->resp.err_text, "%s %s: could not restart",
                     x->req->method, x->url_shown);
            yard__http_queue_done(h, x);
        }
    }
}

static void
s_set_error(yard_http_t *h, const yard_http_req_t *req, const char *fmt, const char *a)
{
    char raw[YARD__HTTP_ERR_MAX + YARD__HTTP_URL_SHOWN_MAX + CURL_ERROR_SIZE];
    snprintf(raw, sizeof raw, fmt, a);
    yard__http_redact(req, raw, h->last_error, sizeof h->last_error);
    yard_log(YARD_LOG_DEBUG, "http: request refused", YF_STR("error", h->last_error));
}

/* Applies the request's options to a new easy handle. Returns 0 or YARD_E_INTERNAL. */
static int
s_easy_setup(yard_http_t *h, yard__http_xfer_t *x)
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
    if (ok && req->certinfo) {
        /* the certificate is only seen at a handshake: never reuse, never keep */
        ok = curl_easy_setopt(e, CURLOPT_CERTINFO, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK;
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
s_xfer_new(yard_http_t *h, yard_http_req_t *req, yard__http_xfer_t **out)
{
    yard__http_xfer_t *x = yard__xcalloc(1, sizeof *x);
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
    yard__http_xfer_t *x = NULL;
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
    for (yard__http_xfer_t *x = h->xfers; x; x = x->next) {
        if (x->state == YARD__HTTP_DONE) {
            continue;
        }
        if (x->state == YARD__HTTP_RUNNING) {
            curl_multi_remove_handle(h->multi, x->easy);
            x->resp.status = 0;
        }
        x->resp.err = err;
        char raw[YARD__HTTP_ERR_MAX + YARD__HTTP_URL_SHOWN_MAX + CURL_ERROR_SIZE];
        snprintf(raw, sizeof raw, "%s %s: %s", x->req->method, x->url_shown, why);
        yard__http_redact(x->req, raw, x->resp.err_text, sizeof x->resp.err_text);
        yard__http_queue_done(h, x);
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
    yard__http_deliver(h);
    curl_multi_cleanup(h->multi);
    free(h->socks);
    free(h->ca_file);
    free(h);
    *h_p = NULL;
}
