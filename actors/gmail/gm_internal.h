/* The gmail actor's parts and what they share (private to actors/gmail/):
 *   gmail.c     descriptor, options, init/fini, ops, the poll timer and leases
 *   gm_config.c accounts and rules from the config file (secrets from KEY_file)
 *   gm_api.c    one Gmail or token-endpoint call: quota, access token, 401, rate-limit retries
 *   gm_token.c  the OAuth2 refresh-token grant and the token cache in the store
 *   gm_sync.c   first and incremental sync, the cursor
 *   gm_msg.c    one message: fetch, claim, publish, mark processed
 *   gm_rules.c  rule matching and actions (with their retry set)
 *   gm_mime.c   MIME decoding (its own header)
 *
 * Invariant: each account runs at most one chain of work at a time on a replica (a sync, or
 * the action retries before it), and only while this replica holds the account's lease; a
 * chain is a sequence of callbacks, each step starting the next, that ends in gm_sync_end(). */
#ifndef GM_INTERNAL_H
#define GM_INTERNAL_H

#include "yard/actor.h"
#include "yard/http.h"
#include "yard/lease.h"
#include "yard/mp.h"
#include "yard/timer.h"

#include <msgpack.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MAX_ACCOUNTS 32
#define GM_MAX_RULES    64
#define GM_MAX_ACTIONS  8
#define GM_MAX_LABELS   8
#define GM_MAX_BATCH    2000 /* message ids handled in one sync cycle */
#define GM_ID_MAX       64   /* a Gmail message id (16 hex digits today) */
#define GM_NAME_MAX     48   /* an account name: a subject token */

/* Gmail's quota units per method (developers.google.com/gmail/api/reference/quota). */
#define GM_UNITS_PROFILE      1
#define GM_UNITS_HISTORY_LIST 2
#define GM_UNITS_LABELS_LIST  1
#define GM_UNITS_LABELS_NEW   5
#define GM_UNITS_MSG_LIST     5
#define GM_UNITS_MSG_GET      5
#define GM_UNITS_MSG_MODIFY   5

typedef struct {
    char *token_uri;
    char *api_base;
    uint32_t interval_ms;
    uint32_t lease_ms;
    uint32_t processed_ttl_ms;
    int64_t quota_rate;  /* units per second per account */
    int64_t quota_burst; /* units */
    uint32_t retry_base_ms;
    uint32_t retry_cap_ms;
    int64_t retry_tries;
    uint32_t http_timeout_ms;
    uint32_t call_timeout_ms; /* bus calls of notify and call actions */
} gm_opts_t;

typedef enum {
    GM_ACT_NOTIFY = 1,
    GM_ACT_PUBLISH,
    GM_ACT_CALL,
    GM_ACT_LABEL,
    GM_ACT_MARK_READ,
    GM_ACT_ARCHIVE,
} gm_act_kind_t;

typedef struct {
    gm_act_kind_t kind;
    char *arg; /* publish: subject; label: name; call/notify: service */
    char *op;  /* call/notify: op (NULL: none) */
} gm_action_t;

typedef struct {
    char *name;
    bool has_from, has_subject, has_label, has_body;
    regex_t from, subject, label, body;
    char *account; /* NULL: every account */
    bool fetch_body;
    gm_action_t actions[GM_MAX_ACTIONS];
    size_t n_actions;
} gm_rule_t;

typedef enum {
    GM_IDLE = 0,
    GM_SYNCING,
} gm_phase_t;

typedef struct gm_state gm_state_t;

/* One message being handled. */
typedef struct {
    char id[GM_ID_MAX];
    char thread[GM_ID_MAX];
    char history[32];
    char *from, *to, *subject, *date, *msgid, *snippet, *body;
    char *labels[32];
    size_t n_labels;
    bool matched[GM_MAX_RULES];
    void *event; /* msgpack, malloc'd */
    size_t event_size;
    size_t rule, action; /* the action being run */
    bool retry;          /* an action retry from the pending set, not a new message */
} gm_msg_t;

typedef struct gm_acct {
    gm_state_t *st;
    /* configuration */
    char name[GM_NAME_MAX];
    char *client_id, *client_secret, *refresh_token;
    char *refresh_token_file; /* re-read at each refresh, so reauth picks new credentials */
    char *query;
    char *labels[GM_MAX_LABELS];
    size_t n_labels;
    int64_t max_initial;
    /* runtime */
    yard_lease_t *lease;
    bool held;
    gm_phase_t phase;
    bool full;       /* this cycle is a full sync */
    bool incomplete; /* a message of the batch was not published: keep the cursor */
    char cursor[32];
    char new_cursor[32];
    char page[256];
    char (*ids)[GM_ID_MAX];
    size_t n_ids, at;
    char **pending; /* action retries of this cycle */
    size_t n_pending, pending_at;
    size_t pending_total; /* members of the retry set, as last read plus added since */
    gm_msg_t msg;
    /* status */
    int64_t last_sync_ms, last_ok_ms;
    uint64_t published, skipped, errors, syncs, resyncs, actions_failed;
    char last_error[256];
    yard_timer_t *wait; /* a delayed step (quota, token lock, rate limit) */
    yard_timer_fn *wait_fn;
    uint64_t gen;         /* bumped by gm_sync_abort(): completions of an older chain drop */
    struct gm_call *call; /* the API call in progress (gm_api.c) */
    uint32_t token_waits; /* polls of another replica's refresh */
    void (*token_cb)(struct gm_acct *a, const char *token, const char *err);
    void (*rules_done)(struct gm_acct *a);
    char label_name[256]; /* the label action's label, while it resolves */
} gm_acct_t;

struct gm_state {
    yard_ctx_t *ctx;
    yard_store_t *store;
    const gm_opts_t *o;
    gm_acct_t accts[GM_MAX_ACCOUNTS];
    size_t n_accts;
    gm_rule_t rules[GM_MAX_RULES];
    size_t n_rules;
    bool needs_body; /* some rule can need format=full */
    yard_timer_t *tick;
    char owner[64]; /* this replica's claim token */
};

/* --- gm_config.c -------------------------------------------------------------------------- */
/* Reads `gmail.accounts` and `gmail.rules` of cfg (may be NULL) into st. Returns 0, or
 * YARD_E_CONFIG with the reason ("path:line: ...") logged. */
int gm_config_load(gm_state_t *st, const yard_config_t *cfg);
void gm_config_free(gm_state_t *st);

/* --- gm_api.c ----------------------------------------------------------------------------- */
typedef struct {
    int err; /* 0: an HTTP answer (any status); else the transport's yard error */
    int status;
    const msgpack_object *json; /* the decoded body (points at obj), or NULL */
    msgpack_object obj;
    char reason[64]; /* error.errors[0].reason, or the OAuth "error" */
    char text[200];  /* a short description for status and logs (no secrets) */
} gm_resp_t;

typedef void(gm_api_fn)(gm_acct_t *a, const gm_resp_t *r);

/* Fills *r from an HTTP response: status, the JSON body decoded into zone (buffer *buf, the
 * caller frees), the error reason and a short text. */
void gm_resp_fill(const yard_http_resp_t *resp, gm_resp_t *r, msgpack_zone *zone, void **buf);
/* The account's retry policy (429, 5xx, transport; base, cap, tries from the options). */
void gm_retry_policy(const gm_opts_t *o, yard_http_retry_t *p);

/* Calls api_base + path (path holds the query) with method and optional JSON body, taking
 * units from the account's quota bucket first, with the account's access token; a 401 makes
 * one refresh and one retry; 429 and 5xx are retried by the HTTP engine, a 403 with a rate
 * limit reason here, both with exponential backoff and full jitter. cb runs exactly once. */
void gm_api(gm_acct_t *a, const char *method, const char *path, const char *json, int units,
            gm_api_fn *cb);
/* Forgets the call in progress (the chain was aborted); one the engine holds is freed by its
 * callback. */
void gm_api_abort(gm_acct_t *a);
/* Percent-encodes s for a query value into out. */
void gm_url_escape(const char *s, char *out, size_t cap);
/* Runs fn after ms on the account's wait timer (the account's one delayed step). */
void gm_later(gm_acct_t *a, uint32_t ms, yard_timer_fn *fn);

/* --- gm_token.c --------------------------------------------------------------------------- */
typedef void(gm_token_fn)(gm_acct_t *a, const char *token, const char *err);
/* Gets the account's access token from the store or, when it is not there, from the token
 * endpoint (one refresh in flight per account across replicas). cb runs exactly once: with
 * the token (borrowed for the call), or NULL and why. invalid_grant marks the account
 * needs_reauth (gm_token_needs_reauth) before cb. */
void gm_token_get(gm_acct_t *a, gm_token_fn *cb);
/* Drops the cached token when it still is `token` (after a 401). */
void gm_token_drop(gm_acct_t *a, const char *token);
/* True when the account waits for new credentials (shared through the store). */
bool gm_token_needs_reauth(gm_acct_t *a);
/* Clears needs_reauth and the cached token. */
void gm_token_reauth(gm_acct_t *a);

/* --- gm_sync.c ---------------------------------------------------------------------------- */
/* Starts a sync cycle of a (the lease is held, phase is IDLE). */
void gm_sync_start(gm_acct_t *a);
/* Ends the current cycle: err NULL for success. */
void gm_sync_end(gm_acct_t *a, const char *err);
/* After a message is handled: the next one, or the end of the batch. */
void gm_sync_next(gm_acct_t *a);
/* Stops whatever the account does (lease lost, drain): the callbacks in flight see it. */
void gm_sync_abort(gm_acct_t *a);
/* Store keys: "gmail:<account>:<what>". */
void gm_key(const gm_acct_t *a, const char *what, char *out, size_t cap);

/* --- gm_msg.c ----------------------------------------------------------------------------- */
/* Handles message id of the batch, then calls gm_sync_next(). */
void gm_msg_handle(gm_acct_t *a, const char *id);
void gm_msg_clear(gm_msg_t *m);
/* Publishes an event; body from a writer. Returns 0 or the publish error. */
int gm_publish(gm_acct_t *a, const char *subject, yard_mpw_t **w_p);

/* --- gm_rules.c --------------------------------------------------------------------------- */
/* Marks m->matched for every rule that matches m (from, subject, labels; body when fetched).
 * Returns true when a matched rule needs the body and m has none yet. */
bool gm_rules_match(gm_state_t *st, gm_acct_t *a, gm_msg_t *m);
/* Runs the actions of m's matched rules in order, then calls done. A failed action is put in
 * the account's retry set. */
void gm_rules_run(gm_acct_t *a, void (*done)(gm_acct_t *a));
/* Retries the actions in the account's retry set, then calls done. */
void gm_rules_retry(gm_acct_t *a, void (*done)(gm_acct_t *a));

#endif
