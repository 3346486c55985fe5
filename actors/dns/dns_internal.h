/* The dns actor's pieces, shared between its files (not a public API). One replica keeps a
 * dns_t: the records and address sources read from the config at init, and the cycle that
 * is running. What must survive a restart or be shared with other replicas (the address set
 * per record, the last error, holds, Cloudflare ids) lives in the store (state.c), never
 * only here.
 *
 * Files: dns.c (descriptor, options, ops), conf.c (records and sources from the config),
 * discover.c (addresses from web / interface / command / static), state.c (a record's state
 * in the store), cycle.c (one cycle: discover, decide, update, record), provider.c with
 * dyndns2.c, cloudflare.c and duckdns.c (one update request each). */
#ifndef DNS_INTERNAL_H
#define DNS_INTERNAL_H

#include "addr.h"

#include "yard/actor.h"
#include "yard/http.h"
#include "yard/lease.h"
#include "yard/mp.h"
#include "yard/timer.h"

#include <stdbool.h>
#include <stdint.h>

#define DNS_RECORDS_MAX 64   /* records one actor keeps */
#define DNS_WEB_MAX     8    /* web sources per family */
#define DNS_ERR_MAX     256  /* an error text kept in the state */
#define DNS_ID_MAX      64   /* a Cloudflare id (32 hex digits today) */
#define DNS_FP_MAX      33   /* a configuration fingerprint: 32 hex digits */
#define DNS_CMD_OUT_MAX 4096 /* bytes of a command's output read */
#define DNS_ECHO_MAX    256  /* bytes of an IP-echo answer looked at */
#define DNS_LEASE_MARGIN_MS                                                                        \
    30000u                          /* a record's update lease outlasts its longest update by this \
                                     */
#define DNS_RETRY_CAP_MS      5000u /* the longest backoff before a retry of a request */
#define DNS_NOCHG_WARN        2     /* this many nochg in a row are logged as a warning */
#define DNS_HOLD_911_MS       600000 /* dyndns2 911 / dnserr: no sooner than 10 minutes */
#define DNS_HOLD_429_MS       300000 /* Cloudflare 429 without Retry-After: its documented 5 min */
#define DNS_FORCE_WAITING_MAX 8      /* force requests waiting for one cycle */

/* --- options ------------------------------------------------------------------------------ */

typedef struct {
    uint32_t interval;
    uint32_t min_interval;
    uint32_t min_error_interval;
    uint32_t max_interval;
    bool allow_private;
    uint32_t http_timeout;
    uint32_t command_timeout;
    int64_t http_attempts;
} dns_opts_t;

/* --- configuration (conf.c) --------------------------------------------------------------- */

typedef enum {
    DNS_SRC_NONE = 0,
    DNS_SRC_WEB,
    DNS_SRC_INTERFACE,
    DNS_SRC_COMMAND,
    DNS_SRC_STATIC
} dns_src_kind_t;

typedef struct {
    dns_src_kind_t kind;
    char *web[DNS_WEB_MAX];
    size_t n_web;
    uint32_t verify; /* web: sources that must agree */
    char *iface;
    char *command;
    char addr[DNS_ADDR_MAX]; /* static */
} dns_source_t;

typedef enum { DNS_PROV_DYNDNS2 = 0, DNS_PROV_CLOUDFLARE, DNS_PROV_DUCKDNS } dns_prov_t;

typedef struct {
    char *name;
    dns_fam_t fam; /* A: v4, AAAA: v6 */
    dns_prov_t prov;
    char *base;     /* dyndns2 server, Cloudflare or DuckDNS api_base, without a trailing / */
    char *zone;     /* Cloudflare */
    char *username; /* dyndns2 */
    char *secret;   /* dyndns2 password, Cloudflare or DuckDNS token: never shown */
    bool create;    /* Cloudflare: create the record when missing */
    int64_t ttl;    /* Cloudflare create: 1 = automatic */
    bool proxied;   /* Cloudflare create */
    uint32_t min_interval, min_error_interval, max_interval;
    char key[600];       /* its state's store key */
    char lease[620];     /* its lease's name */
    char fp[DNS_FP_MAX]; /* fingerprint of what the provider sees: a change lifts a hold */
    int line;
} dns_record_t;

typedef struct {
    dns_source_t src[2]; /* by dns_fam_t */
    dns_record_t *rec;
    size_t n_rec;
} dns_conf_t;

/* Reads `dns.ip` and `dns.records` from cfg (may be NULL: nothing configured), with the
 * options' intervals as the records' defaults. Returns 0, or YARD_E_CONFIG with err naming
 * the file, line and key. Secrets (password, token, KEY_file) are registered with the logger
 * so no line shows them. Free with dns_conf_free() either way. */
int dns_conf_load(const yard_config_t *cfg, const dns_opts_t *o, dns_conf_t *out, char *err,
                  size_t errlen);
void dns_conf_free(dns_conf_t *c);

const char *dns_prov_name(dns_prov_t p);
const char *dns_rec_type(const dns_record_t *r);

/* --- state in the store (state.c) --------------------------------------------------------- */

typedef struct {
    char addr[DNS_ADDR_MAX]; /* the address the provider confirmed; "" none */
    int64_t set_ms;          /* last confirmed update (wall ms); 0 never */
    int64_t change_ms;       /* last change of addr */
    int64_t check_ms;        /* last cycle that looked at the record */
    int64_t err_ms;          /* last failed update */
    char code[32];           /* its code ("badauth", "9109", "http 503", ...) */
    char err[DNS_ERR_MAX];   /* its message (never a secret) */
    char held[32];           /* "" none; "config": until the configuration changes; else a
                                reason held until held_until */
    int64_t held_until;
    uint32_t nochg;                              /* dyndns2 nochg in a row */
    char cf_zone[DNS_ID_MAX], cf_id[DNS_ID_MAX]; /* Cloudflare ids, cached */
    char fp[DNS_FP_MAX];                         /* the configuration the state was written under */
    char noted[64]; /* the last hold a dns.held event told ("why@until"): told once */
} dns_state_t;

/* Reads r's state. A configuration change since it was written (another fingerprint) lifts
 * a "config" hold and forgets cached ids. Returns 0 (a record never written reads empty) or
 * YARD_E_UNREACHABLE. */
int dns_state_load(yard_store_t *st, const dns_record_t *r, dns_state_t *out);
/* Same from a value already fetched (NULL: none). */
void dns_state_decode(const char *val, size_t len, const dns_record_t *r, dns_state_t *out);
int dns_state_save(yard_store_t *st, const dns_record_t *r, const dns_state_t *s);

/* --- discovery (discover.c) --------------------------------------------------------------- */

/* ok: addr holds the address; else err names the source and what was wrong. */
typedef void(dns_disc_fn)(yard_ctx_t *ctx, dns_fam_t fam, bool ok, const char *addr,
                          const char *err, void *arg);

/* Finds fam's address from src. Calls cb exactly once (maybe before this returns, for
 * interface, command and static sources). */
void dns_discover(yard_ctx_t *ctx, const dns_source_t *src, dns_fam_t fam, const dns_opts_t *o,
                  dns_disc_fn *cb, void *arg);

/* --- providers (provider.c, dyndns2.c, cloudflare.c, duckdns.c) ---------------------------- */

typedef enum {
    DNS_UP_OK = 0,     /* the provider confirmed the address */
    DNS_UP_RETRY,      /* failed; try again after min_error_interval (or hold_until) */
    DNS_UP_HOLD_CONFIG /* failed in a way only a configuration change fixes */
} dns_up_kind_t;

typedef struct {
    dns_up_kind_t kind;
    bool nochg;      /* dyndns2 nochg / DuckDNS NOCHANGE */
    int64_t hold_ms; /* RETRY: wait at least this long (911, 429 Retry-After); 0: default */
    char code[32];
    char msg[DNS_ERR_MAX];
    char cf_zone[DNS_ID_MAX], cf_id[DNS_ID_MAX]; /* Cloudflare: ids learnt */
    uint32_t calls; /* provider HTTP requests made (attempts counted) */
} dns_up_result_t;

typedef void(dns_up_fn)(yard_ctx_t *ctx, const dns_up_result_t *res, void *arg);

/* One update of r to addr. st holds cached Cloudflare ids (read only). Calls cb exactly once,
 * later, from the HTTP engine, or before this returns when the request cannot even start. */
void dns_provider_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r,
                         const dns_state_t *st, const char *addr, dns_up_fn *cb, void *arg);

/* Shared by the providers: a request with the actor's timeout and retry policy (5xx, and
 * transport failures, with backoff and full jitter, for the methods that are safe to repeat). */
int dns_http_req(const dns_opts_t *o, const char *method, const char *url, yard_http_req_t **out);
yard_http_t *dns_http(yard_ctx_t *ctx);
void dns_dyndns2_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r,
                        const char *addr, dns_up_fn *cb, void *arg);
void dns_cloudflare_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r,
                           const dns_state_t *st, const char *addr, dns_up_fn *cb, void *arg);
void dns_duckdns_update(yard_ctx_t *ctx, const dns_opts_t *o, const dns_record_t *r,
                        const char *addr, dns_up_fn *cb, void *arg);
/* Fills res for a transfer that got no usable answer (transport error, 5xx, 429). Returns
 * true when it did (res is final), false when the response is the provider's to parse. */
bool dns_http_failed(const yard_http_resp_t *resp, dns_up_result_t *res);

/* Reads a one-request provider's answer (status and body; never a transport error, 5xx or
 * 429, which dns_http_failed() took) into res. */
typedef void(dns_answer_fn)(const char *body, size_t len, int status, dns_up_result_t *res);

/* A one-request update (dyndns2, DuckDNS): sends *hr_p on h, taking it (also on error; NULL
 * when building it failed with build_rc), and calls cb exactly once with parse's reading of
 * the answer, or with RETRY naming why the request could not be sent. h NULL: the replica is
 * stopping. */
void dns_send_update(yard_ctx_t *ctx, yard_http_t *h, yard_http_req_t **hr_p, int build_rc,
                     dns_answer_fn *parse, dns_up_fn *cb, void *arg);

/* --- the replica (dns.c, cycle.c) --------------------------------------------------------- */

typedef struct {
    char addr[DNS_ADDR_MAX];
    char err[DNS_ERR_MAX];
    int64_t at_ms;
    bool ok;
} dns_disc_last_t;

typedef struct dns_cycle dns_cycle_t;

typedef struct dns dns_t;

struct dns {
    dns_conf_t conf;
    const dns_opts_t *o;
    yard_timer_t *timer;
    dns_cycle_t *cycle;      /* the running cycle, or NULL */
    dns_disc_last_t last[2]; /* the last discovery per family */
    int64_t last_cycle_ms;   /* wall ms */
    uint64_t cycles;         /* cycles finished */
    uint64_t provider_calls; /* HTTP requests to providers */
    /* force requests that came while a cycle ran: one forced cycle serves them all when it
     * ends (dns.c) */
    yard_deferred_t *waiting[DNS_FORCE_WAITING_MAX];
    char *waiting_name[DNS_FORCE_WAITING_MAX];
    bool waiting_resend[DNS_FORCE_WAITING_MAX];
    size_t n_waiting;
    void (*after_cycle)(yard_ctx_t *ctx, dns_t *s);
};

/* What happened to one record in a cycle. */
typedef struct {
    const char *outcome; /* "updated", "unchanged", "held", "error", "skipped", "busy" */
    char msg[DNS_ERR_MAX];
} dns_rec_outcome_t;

/* Called when a cycle ends, with one outcome per record (n = conf.n_rec). */
typedef void(dns_cycle_done_fn)(yard_ctx_t *ctx, const dns_rec_outcome_t *out, size_t n, void *arg);

/* What a cycle may do: the timer's cycle, a forced one (past min_interval), or a forced one
 * that also re-sends addresses the provider already has (to repair a record changed behind
 * the actor's back). */
typedef enum { DNS_CYCLE_NORMAL = 0, DNS_CYCLE_FORCE, DNS_CYCLE_RESEND } dns_cycle_mode_t;

/* Starts a cycle unless one runs (returns YARD_E_OVERLOADED). only (NULL: every record)
 * limits it to the records of that name. done (may be NULL) runs once when it ends. */
int dns_cycle_start(yard_ctx_t *ctx, dns_t *s, dns_cycle_mode_t mode, const char *only,
                    dns_cycle_done_fn *done, void *arg);

typedef enum { DNS_DO_UPDATE, DNS_DO_NOTHING, DNS_DO_HOLD } dns_do_t;

/* What a cycle does with r for the discovered addr given its state, at wall time now:
 * update it, nothing (the provider has it and max_interval has not passed), or hold it (why
 * says which rule; until is when the hold ends, 0 for "until the configuration changes").
 * force bypasses min_interval only. */
dns_do_t dns_decide(const dns_record_t *r, const dns_state_t *st, const char *addr, int64_t now,
                    bool force, const char **why, int64_t *until);

/* "2026-01-01T00:05:00Z" into buf (at least 24 bytes). */
const char *dns_iso(int64_t wall_ms, char *buf, size_t len);

#endif
