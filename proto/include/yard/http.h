/* Outbound HTTP that never blocks the thread that owns it: an engine on libcurl's multi-socket
 * interface, driven as a loop source (yard/loop.h) by a replica's loop or a test's. Many
 * transfers run at once; each completes by a callback on the owning thread, from which a
 * deferred bus request can be answered (yard_deferred_reply()).
 *
 * One engine keeps one connection cache, so requests to the same host reuse kept-alive
 * connections. TLS peers are verified (ca_file changes the trusted bundle); proxies come from
 * the usual environment variables (http_proxy, https_proxy, no_proxy, as curl reads them); only
 * http and https URLs are accepted; the User-Agent is "switchyard/<version>" unless the request
 * sets its own.
 *
 * Secrets never reach a log line or an error text: a URL may carry a "{secret}" placeholder
 * that yard_http_req_secret() fills at send time (or name a secret substring already in it),
 * and Authorization, Proxy-Authorization, Cookie and any header added with
 * yard_http_req_header_secret() are secret too. Every text this module writes shows each
 * secret as "<secret>".
 *
 * Threading: an engine and its requests belong to one thread (the one running its loop); none
 * of these functions is thread-safe. Callbacks run inside dispatch (or destroy) on that thread
 * and must not destroy the engine. */
#ifndef YARD_HTTP_H
#define YARD_HTTP_H

#include "yard/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct yard_http yard_http_t;
typedef struct yard_http_req yard_http_req_t;
typedef struct yard_http_resp yard_http_resp_t;

#define YARD_HTTP_MAX_TRANSFERS    64                  /* default max_transfers */
#define YARD_HTTP_MAX_BODY         (8u * 1024 * 1024)  /* default max_body, bytes */
#define YARD_HTTP_TIMEOUT_MS       30000               /* default per-attempt timeout */
#define YARD_HTTP_MAX_HEADERS      64                  /* request headers per request */
#define YARD_HTTP_MAX_REQUEST_BODY (64u * 1024 * 1024) /* request body bytes */
#define YARD_HTTP_MAX_SECRETS      8                   /* secrets marked per request */
#define YARD_HTTP_MAX_STATUSES     8                   /* retry_statuses entries */
#define YARD_HTTP_MAX_TRANSFERS_UP 4096                /* the largest max_transfers accepted */

typedef struct {
    uint32_t max_transfers;      /* in flight or waiting to retry; 0: YARD_HTTP_MAX_TRANSFERS */
    size_t max_body;             /* response body bytes; 0: YARD_HTTP_MAX_BODY */
    uint32_t connect_timeout_ms; /* 0: 10000 */
    const char *ca_file;         /* PEM bundle of trusted CAs; NULL: the system's. Copied. */
} yard_http_opts_t;

/* Creates an engine. opts may be NULL (all defaults). Returns 0 and sets *out (caller owns
 * it; free with yard_http_destroy(), or hand it to a loop with yard_http_source()), or
 * YARD_E_INVALID (max_transfers over YARD_HTTP_MAX_TRANSFERS_UP) or YARD_E_INTERNAL (curl
 * could not start). */
int yard_http_new(const yard_http_opts_t *opts, yard_http_t **out);

/* Aborts every transfer still running or waiting to retry, calling each callback with
 * YARD_E_SHUTDOWN, closes the connections, frees *h_p and sets it to NULL. NULL is fine. */
void yard_http_destroy(yard_http_t **h_p);

/* The engine as a loop source: prepare waits on curl's sockets and wakes for curl's and the
 * retries' timers; dispatch moves the transfers and runs completion callbacks; drain refuses
 * new requests (YARD_E_SHUTDOWN); busy is true while transfers run or wait to retry; destroy
 * is yard_http_destroy(). A loop that registers the source owns the engine from then on. */
yard_loop_source_t yard_http_source(yard_http_t *h);

/* Transfers running or waiting to retry. */
uint32_t yard_http_in_flight(const yard_http_t *h);

/* Why the last yard_http_send() on h failed, with secrets replaced; "" after a success.
 * Borrowed; valid until the next call on h. */
const char *yard_http_last_error(const yard_http_t *h);

/* --- a replica's engine ------------------------------------------------------------------ */

typedef struct yard_ctx yard_ctx_t; /* yard/actor.h */

/* The replica's engine, made on first use and turned by the replica's own loop together with
 * its broker links and timers; at stop the runtime drains it (within drain_ms) and destroys
 * it before fini. yard_ctx_http_with() gives the options for the first use (NULL: defaults);
 * once the engine exists they are ignored. Either way a NULL ca_file means the operator's
 * http_ca_file of the actor's section (then the system's bundle). Returns NULL (with the reason
 * logged) when the replica's sources are already closed (in fini) or the engine cannot be made.
 * Borrowed; valid until the replica's sources are destroyed (before fini); replica thread only. */
yard_http_t *yard_ctx_http(yard_ctx_t *ctx);
yard_http_t *yard_ctx_http_with(yard_ctx_t *ctx, const yard_http_opts_t *opts);

/* The operator's CA bundle for the actor's outbound HTTPS (the section's http_ca_file), or
 * NULL for the system's: for an actor that runs an engine of its own (yard_http_new(), e.g.
 * one that must keep sending while the replica drains) and should trust what the operator
 * configured. Borrowed; valid until the actor stops. */
const char *yard_ctx_http_ca_file(const yard_ctx_t *ctx);

/* --- building a request ------------------------------------------------------------------ */

/* Which failed attempts are tried again. A response whose status is listed is retried, and so
 * is a transfer that failed without a response (connection refused, reset, timed out) when
 * retry_transport is set (timed out, unreachable, reset: not a too-large body or a bad URL),
 * but only for the listed methods. Waits grow exponentially with full
 * jitter: before retry k (from 1) the engine waits a uniformly random time in
 * [0, min(cap_ms, base_ms * 2^(k-1))], or the response's Retry-After when that is longer
 * (capped at cap_ms too). The last attempt's outcome is what the callback gets. */
typedef struct {
    uint32_t max_attempts; /* attempts in all, first included; 0 or 1: no retries; max 20 */
    uint32_t base_ms;      /* 0: 200 */
    uint32_t cap_ms;       /* 0: 30000 */
    int statuses[YARD_HTTP_MAX_STATUSES]; /* e.g. {429, 502, 503, 504}; 0 ends the list */
    const char *methods; /* comma-separated, e.g. "GET,PUT"; NULL: the idempotent ones,
                            "GET,HEAD,PUT,DELETE,OPTIONS". Copied. */
    bool retry_transport;
} yard_http_retry_t;

/* Starts a request. method is an HTTP token of capital letters ("GET", "POST", ...); url is an
 * http:// or https:// URL that may hold "{secret}" placeholders. Returns 0 and sets *out
 * (caller owns it: hand it to yard_http_send() or free it with yard_http_req_destroy()), or
 * YARD_E_INVALID for a bad method or URL. */
int yard_http_req_new(const char *method, const char *url, yard_http_req_t **out);
void yard_http_req_destroy(yard_http_req_t **req_p);

/* Marks secret as a secret: it fills the URL's next unfilled "{secret}" placeholder, or, when
 * none is left, must already occur in the URL. Either way it is shown as "<secret>" in every
 * text. Copied (and wiped when freed). Returns 0, or YARD_E_INVALID (empty, holding a space or
 * control character, not in the URL, or past YARD_HTTP_MAX_SECRETS). */
int yard_http_req_secret(yard_http_req_t *req, const char *secret);

/* Adds a header (copied). Returns 0, or YARD_E_INVALID for a name that is not an HTTP token,
 * a value holding CR, LF or NUL, or past YARD_HTTP_MAX_HEADERS. Authorization,
 * Proxy-Authorization and Cookie values are always treated as secrets. */
int yard_http_req_header(yard_http_req_t *req, const char *name, const char *value);
/* Like yard_http_req_header, with the value treated as a secret. */
int yard_http_req_header_secret(yard_http_req_t *req, const char *name, const char *value);

/* Sets the body (copied) and its Content-Type (NULL: application/octet-stream). Returns 0,
 * YARD_E_TOO_LARGE past YARD_HTTP_MAX_REQUEST_BODY, or YARD_E_INVALID (content type with CR or
 * LF). */
int yard_http_req_body(yard_http_req_t *req, const void *data, size_t len,
                       const char *content_type);
/* Sets a JSON body from JSON text (checked: YARD_E_BAD_REQUEST naming line and column when
 * invalid, in the engine's log at debug only) or from one msgpack object (converted with
 * yard_json_from_msgpack()); Content-Type application/json. */
int yard_http_req_json(yard_http_req_t *req, const char *json, size_t len);
int yard_http_req_json_msgpack(yard_http_req_t *req, const void *mp, size_t size);

/* Per-attempt timeout, connection included; 0: YARD_HTTP_TIMEOUT_MS. Long polls set it above
 * the server's hold time. */
void yard_http_req_timeout(yard_http_req_t *req, uint32_t timeout_ms);

/* Asks for the peer's TLS certificate, for yard_http_resp_cert_expiry() (a monitor that warns
 * before a certificate runs out). The transfer then opens a fresh connection and does not keep
 * it: a reused connection had its handshake, and so its certificate, earlier. No effect on a
 * plain http:// URL. */
void yard_http_req_certinfo(yard_http_req_t *req);

/* Retries on the policy (copied). Returns 0, or YARD_E_INVALID for max_attempts over 20 or a
 * status outside 100..599. */
int yard_http_req_retry(yard_http_req_t *req, const yard_http_retry_t *policy);

/* --- sending ----------------------------------------------------------------------------- */

/* resp is borrowed: valid during the call only. */
typedef void(yard_http_done_fn)(const yard_http_resp_t *resp, void *arg);

/* Starts the transfer. Takes ownership of *req_p, on success and on failure, and sets *req_p
 * to NULL. Calls cb exactly once, on the engine's thread from its dispatch or destroy, unless
 * this returns an error, in which case cb is never called. Errors: YARD_E_OVERLOADED
 * (max_transfers already in flight), YARD_E_SHUTDOWN (draining), YARD_E_INVALID (a
 * "{secret}" placeholder left unfilled); yard_http_last_error() says which. */
int yard_http_send(yard_http_t *h, yard_http_req_t **req_p, yard_http_done_fn *cb, void *arg);

/* --- reading a response (in the callback) ------------------------------------------------ */

/* 0 when an HTTP response arrived (whatever its status), else why not: YARD_E_TIMEOUT,
 * YARD_E_UNREACHABLE (could not resolve or connect), YARD_E_TOO_LARGE (body over max_body),
 * YARD_E_SHUTDOWN (engine destroyed first), YARD_E_IO (anything else: TLS, reset, ...). */
int yard_http_resp_error(const yard_http_resp_t *resp);
/* "METHOD <url with secrets as <secret>>: reason" when the error is not 0, else "". Borrowed;
 * valid during the callback. */
const char *yard_http_resp_error_text(const yard_http_resp_t *resp);
/* The HTTP status, or 0 when no response arrived. */
int yard_http_resp_status(const yard_http_resp_t *resp);
/* The last value of a response header, by name in any case, or NULL. Borrowed; valid during
 * the callback. */
const char *yard_http_resp_header(const yard_http_resp_t *resp, const char *name);
/* The body (NUL-terminated past *len for convenience; *len may be NULL). Borrowed; valid
 * during the callback. */
const char *yard_http_resp_body(const yard_http_resp_t *resp, size_t *len);
/* The body parsed as JSON into msgpack (yard_json_to_msgpack()): caller owns *out; free with
 * free(). Returns 0 or YARD_E_BAD_REQUEST with the reason in err. */
int yard_http_resp_json(const yard_http_resp_t *resp, void **out, size_t *size, char *err,
                        size_t errlen);
/* When the peer's leaf certificate expires (its notAfter, seconds since the Unix epoch), for
 * a request marked with yard_http_req_certinfo() that got a response over https. Returns 0
 * and sets *not_after, or YARD_E_NOT_FOUND (no response, plain http, not asked for, or a date
 * curl's TLS backend wrote in a form this does not read). */
int yard_http_resp_cert_expiry(const yard_http_resp_t *resp, int64_t *not_after);
/* Attempts made, 1 when it was not retried. */
uint32_t yard_http_resp_attempts(const yard_http_resp_t *resp);
/* The request's method, and its URL with secrets shown as "<secret>". Borrowed; valid during
 * the callback. */
const char *yard_http_resp_method(const yard_http_resp_t *resp);
const char *yard_http_resp_url_redacted(const yard_http_resp_t *resp);

/* --- helpers ----------------------------------------------------------------------------- */

/* Parses a Retry-After value: delta-seconds ("120") or an HTTP-date, relative to now (wall
 * clock). Sets *ms to the wait (0 for a date in the past). Returns 0 or YARD_E_INVALID. */
int yard_http_retry_after_ms(const char *value, time_t now, int64_t *ms);

/* The wait before retry k (from 1) under policy p, given 64 random bits rnd and the
 * response's Retry-After in ms (-1 when none): see yard_http_retry_t. */
uint32_t yard_http_backoff_ms(const yard_http_retry_t *p, uint32_t retry, uint64_t rnd,
                              int64_t retry_after_ms);

#endif
