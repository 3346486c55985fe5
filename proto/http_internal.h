/* Private to libyard: what the outbound HTTP files share. http_req.c builds requests and
 * redacts their secrets, http_retry.c decides on retries and their waits, http.c runs the
 * engine's transfers on curl's multi handle, http_loop.c turns it as a loop source,
 * http_resp.c reads responses, http_ctx.c gives each replica its engine.
 *
 * Invariant: no text that leaves these files (a log line, an error text, a redacted URL) is
 * written without going through yard__http_redact() with the request it is about. */
#ifndef YARD_HTTP_INTERNAL_H
#define YARD_HTTP_INTERNAL_H

#include "yard/http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD__HTTP_MAX_ATTEMPTS  20
#define YARD__HTTP_ERR_MAX       512 /* bytes of an error text */
#define YARD__HTTP_URL_SHOWN_MAX 256 /* bytes of a redacted URL kept for texts */

typedef struct {
    char *line; /* "Name: value", as curl takes it */
    bool secret;
} yard__http_header_t;

struct yard_http_req {
    char method[17];
    char *url; /* the template, placeholders unfilled */
    unsigned placeholders;
    char *secrets[YARD_HTTP_MAX_SECRETS];
    bool fills[YARD_HTTP_MAX_SECRETS]; /* fills a placeholder (in order) or occurs in url */
    unsigned n_secrets, n_fills;
    yard__http_header_t headers[YARD_HTTP_MAX_HEADERS];
    unsigned n_headers;
    char *body;
    size_t body_len;
    bool has_body;
    uint32_t timeout_ms;
    bool certinfo; /* yard_http_req_certinfo(): a fresh connection, CURLOPT_CERTINFO */
    bool has_retry;
    yard_http_retry_t retry;
    char *retry_methods; /* owned copy of retry.methods (or NULL) */
};

/* The response a callback reads; lives in the transfer (http.c). */
struct yard_http_resp {
    int err;
    int status;
    uint32_t attempts;
    const char *method;
    const char *url_redacted;
    char *body;
    size_t body_len;
    char err_text[YARD__HTTP_ERR_MAX];
    CURL *easy; /* for curl_easy_header(); NULL when no response arrived */
};

/* One transfer: on h->xfers from yard_http_send() until its callback has run, in one of
 * three states: running inside curl's multi, waiting to retry, or done and queued for
 * delivery. h->n_xfers counts them all, and max_transfers bounds that count. */
typedef enum { YARD__HTTP_RUNNING, YARD__HTTP_WAITING, YARD__HTTP_DONE } yard__http_state_t;

typedef struct yard__http_xfer {
    struct yard__http_xfer *prev, *next; /* h->xfers */
    struct yard__http_xfer *done_next;   /* the delivery queue, while YARD__HTTP_DONE */
    yard_http_t *h;
    yard_http_req_t *req;
    CURL *easy;
    struct curl_slist *slist;
    char *url; /* filled: holds secrets */
    char url_shown[YARD__HTTP_URL_SHOWN_MAX];
    yard_http_done_fn *cb;
    void *arg;
    yard__http_state_t state;
    int64_t retry_at;
    size_t body_cap;
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];
    yard_http_resp_t resp;
} yard__http_xfer_t;

typedef struct {
    curl_socket_t fd;
    int what; /* CURL_POLL_IN / OUT / INOUT */
} yard__http_sock_t;

struct yard_http {
    CURLM *multi;
    char *ca_file;
    size_t max_body;
    uint32_t max_transfers, connect_timeout_ms;
    yard__http_xfer_t *xfers;
    uint32_t n_xfers;
    yard__http_xfer_t *done_head, **done_tail;
    yard__http_sock_t *socks;
    int n_socks, cap_socks;
    bool overflow;         /* prepare had fewer wait items than sockets */
    int64_t curl_deadline; /* when curl wants CURL_SOCKET_TIMEOUT; -1: never */
    bool draining;
    void **slot; /* a replica's slot that names this engine (http_ctx.c), cleared on destroy */
    uint64_t rng;
    char last_error[YARD__HTTP_ERR_MAX];
};

/* Zeroes s's bytes, then frees it (NULL is fine): for secrets and strings holding them. */
void yard__http_wipe_free(char *s);

/* The URL to send, placeholders filled. Returns 0 and *out (caller owns it; free with
 * yard__http_wipe_free()), or YARD_E_INVALID when a placeholder is left unfilled. */
int yard__http_req_url(const yard_http_req_t *req, char **out);

/* text with every secret of req (URL secrets, secret header values and their credentials
 * after the scheme) replaced by "<secret>", written into out (outlen bytes, NUL-terminated,
 * truncated). req may be NULL (text copied as is). */
void yard__http_redact(const yard_http_req_t *req, const char *text, char *out, size_t outlen);

/* The headers for curl, plus "Expect:" (no 100-continue round trip). Caller owns the list; it
 * holds secrets: free with yard__http_slist_wipe(). */
struct curl_slist *yard__http_req_slist(const yard_http_req_t *req);
void yard__http_slist_wipe(struct curl_slist *list);

/* True when req's policy allows another attempt after attempt number `attempts` ended with
 * status (0: no response; then err says why). */
bool yard__http_should_retry(const yard_http_req_t *req, uint32_t attempts, int status, int err);

/* The engine's steps that the loop source (http_loop.c) runs, in this order, in dispatch:
 * collect the attempts curl finished (retry them later or queue them done), start the retries
 * due at now, run the queued callbacks. */
void yard__http_collect(yard_http_t *h, int64_t now);
void yard__http_start_retries(yard_http_t *h, int64_t now);
void yard__http_deliver(yard_http_t *h);
/* Queues x for delivery by the next yard__http_deliver(). */
void yard__http_queue_done(yard_http_t *h, yard__http_xfer_t *x);

/* curl's CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION (http_loop.c), with h as data. */
int yard__http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
int yard__http_timer_cb(CURLM *multi, long timeout_ms, void *userp);

/* Names the slot that points at h (a replica's YARD__SLOT_HTTP): destroy sets it to NULL. */
void yard__http_set_slot(yard_http_t *h, void **slot);

#endif
