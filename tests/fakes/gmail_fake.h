/* A fake of the Gmail API v1 (developers.google.com/gmail/api/reference/rest) for the gmail
 * actor's tests, on tests/harness/http_fake.h: one mailbox ("me") served under
 * /gmail/v1/users/me/, with the paths the actor uses and the contract the reference documents:
 *
 *   GET  profile                 {emailAddress, messagesTotal, threadsTotal, historyId}
 *   GET  messages                q (only "is:unread" is understood), labelIds (all must be
 *                                on the message), maxResults (default 100, at most 500),
 *                                pageToken; newest first; {messages:[{id,threadId}],
 *                                nextPageToken, resultSizeEstimate}
 *   GET  messages/{id}           format=metadata (with metadataHeaders) or full (payload tree,
 *                                body.data in base64url); 404 for an unknown id
 *   POST messages/{id}/modify    {addLabelIds, removeLabelIds}; an unknown label is 400
 *   GET  history                 startHistoryId (required), historyTypes, maxResults (default
 *                                100, at most 500), pageToken; records after startHistoryId in
 *                                order; {history:[{id, messages, messagesAdded:[{message}]}],
 *                                nextPageToken, historyId}; a startHistoryId older than the
 *                                oldest kept (gm_fake_expire_history) is 404
 *   GET  labels, POST labels     system labels and user labels "Label_<n>"; a name that
 *                                exists is 409
 *
 * Errors have Google's shape: {"error":{"code","message","errors":[{"message","domain",
 * "reason"}],"status"}}: 401 authError/UNAUTHENTICATED for a missing or expired bearer token
 * (checked against google_oauth_fake.h), 429 rateLimitExceeded/RESOURCE_EXHAUSTED past the
 * per-user rate (gm_fake_rate_limit, in quota units per second over a sliding second, with
 * Gmail's per-method units), 404 notFound, 400 invalidArgument, and any failure a test
 * scripts (gm_fake_fail: 429, 403 userRateLimitExceeded, 500 backendError, ...).
 *
 * Every function is thread-safe. */
#ifndef GMAIL_FAKE_H
#define GMAIL_FAKE_H

#include "google_oauth_fake.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct gm_fake gm_fake_t;

/* Starts the fake; tokens are checked with auth (borrowed; NULL: any bearer token passes).
 * Caller owns the result; free with gm_fake_stop(). */
gm_fake_t *gm_fake_start(go_fake_t *auth);
void gm_fake_stop(gm_fake_t **f_p);

/* "http://127.0.0.1:<port>/gmail/v1": the actor's api_base. Borrowed; valid until stopped. */
const char *gm_fake_api_base(gm_fake_t *f);

/* Delivers a message (labels: comma-separated ids, e.g. "INBOX,UNREAD"; payload_json: the
 * MessagePart tree format=full gives, NULL for a text/plain part holding `body`, NULL: the
 * subject). A history record (messageAdded) is added with it. Copies the id into id_out (32
 * bytes; may be NULL). */
void gm_fake_add(gm_fake_t *f, const char *from, const char *subject, const char *labels,
                 const char *body, const char *payload_json, char *id_out);
/* Forgets the history so far: a startHistoryId before now gets 404. */
void gm_fake_expire_history(gm_fake_t *f);
/* Pages of messages.list and history.list hold at most n entries (0: as maxResults says). */
void gm_fake_page_size(gm_fake_t *f, int n);
/* The next n calls of method ("getProfile", "messages.list", "messages.get",
 * "messages.modify", "history.list", "labels.list", "labels.create") answer status with
 * reason (e.g. 429 "rateLimitExceeded", 403 "userRateLimitExceeded", 500 "backendError"). */
void gm_fake_fail(gm_fake_t *f, const char *method, int status, const char *reason, int n);
/* Every answer to method waits delay_ms first (0: none). */
void gm_fake_delay(gm_fake_t *f, const char *method, int delay_ms);
/* Per-user rate limit in quota units per second (0: none), as the real API's 429. */
void gm_fake_rate_limit(gm_fake_t *f, int units_per_s);

/* Calls of method so far (any outcome), answers with status, quota units spent. */
size_t gm_fake_calls(gm_fake_t *f, const char *method);
size_t gm_fake_answers(gm_fake_t *f, int status);
size_t gm_fake_units(gm_fake_t *f);
/* messages.get calls with format=full. */
size_t gm_fake_full_gets(gm_fake_t *f);
/* True when message id carries label (an id: "UNREAD", "Label_1"). */
bool gm_fake_has_label(gm_fake_t *f, const char *id, const char *label);
/* The id of the user label named name into buf (32 bytes), or NULL. */
const char *gm_fake_label_id(gm_fake_t *f, const char *name, char *buf);
/* The method of the i-th call received (from 0), or NULL. Static storage. */
const char *gm_fake_call_order(gm_fake_t *f, size_t i);
/* The most quota units spent within any one second so far. */
int gm_fake_peak_units(gm_fake_t *f);

#endif
