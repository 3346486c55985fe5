/* A fake of Elasticsearch's _bulk API (POST /_bulk and POST /<index>/_bulk) on
 * tests/harness/http_fake.h, following the documented contract (Elasticsearch reference, "Bulk
 * API"): an NDJSON body of action lines each followed by a source line, ended by a newline
 * (else 400 illegal_argument_exception), Content-Type application/json or
 * application/x-ndjson (else 406); HTTP 200 with {"took","errors","items":[...]}, one item per
 * action in order, each {"<action>":{"_index","_id","status",...}} with an "error" object
 * {"type","reason"} when it failed; `create` of an _id that exists is 409
 * version_conflict_engine_exception; a body over http.max_content_length is 413.
 *
 * Documents are kept by _id, so a test counts unique lines however often they were sent. Item
 * statuses can be scripted (201, 409, 429 es_rejected_execution_exception, 400
 * mapper_parsing_exception, 500/503), and the whole server can answer 503 (unavailable) or 429
 * (rejected) to every request. For "connection refused", point the client at
 * es_fake_closed_url(). Thread-safe. */
#ifndef ELASTICSEARCH_FAKE_H
#define ELASTICSEARCH_FAKE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct es_fake es_fake_t;

typedef enum {
    ES_FAKE_UP = 0,
    ES_FAKE_UNAVAILABLE, /* every request: 503 {"error":{"type":"cluster_block_exception"...}} */
    ES_FAKE_REJECTING,   /* every request: 429 es_rejected_execution_exception */
} es_fake_mode_t;

/* Starts the fake on a free port. Caller owns it; free with es_fake_stop(). */
es_fake_t *es_fake_start(void);
/* Like es_fake_start(), serving HTTPS with the harness's test certificate (yh_test_cert_pem, for
 * 127.0.0.1): es_fake_url() then gives an https:// URL. */
es_fake_t *es_fake_start_tls(void);
void es_fake_stop(es_fake_t **f_p);

/* "http://127.0.0.1:<port>" (https:// for TLS; no trailing slash), in a per-thread buffer. */
const char *es_fake_url(es_fake_t *f);
/* A URL on which nothing listens (a port bound and closed again): connection refused. */
const char *es_fake_closed_url(void);

void es_fake_mode(es_fake_t *f, es_fake_mode_t mode);
/* http.max_content_length: bodies over it get 413 (default and most: 4 MiB, the harness's). */
void es_fake_max_body(es_fake_t *f, size_t bytes);
/* The statuses of the next n items received (then 201 again): 201, 409, 429, 400, 500, 503. */
void es_fake_item_statuses(es_fake_t *f, const int *statuses, size_t n);
/* Holds each _bulk answer this long after the items were stored (0: none): a client killed
 * meanwhile never sees the acknowledgement of what Elasticsearch already has. */
void es_fake_delay(es_fake_t *f, int ms);
/* Requires this exact Authorization header (copied; NULL: none required); else 401. */
void es_fake_require_auth(es_fake_t *f, const char *authorization);

/* Unique documents stored, items received (every attempt), items answered 409 because their
 * _id existed, bulk requests received, and items answered with a scripted failure. */
size_t es_fake_docs(es_fake_t *f);
size_t es_fake_items(es_fake_t *f);
size_t es_fake_conflicts(es_fake_t *f);
size_t es_fake_requests(es_fake_t *f);

/* Calls fn for every stored document (its _id, _index and source line) under the fake's lock:
 * fn must not call the fake. */
void es_fake_each(es_fake_t *f,
                  void (*fn)(const char *id, const char *index, const char *doc, void *arg),
                  void *arg);

#endif
