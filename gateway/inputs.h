/* What the gateway accepts from a client, decided in one place without I/O, so that the request
 * state machine (gateway.c) only asks and answers, and the fuzzer and the unit tests reach every
 * rule directly: which methods are served, which bodies (Content-Type, Content-Encoding), which
 * paths and queries (UTF-8, no NUL even percent-encoded), which bearer tokens (YARD_BEARER_MAX,
 * the limit the auth service shares), which replies a client wants as msgpack, and which
 * --listen values are a host:port. Every refusal comes with a reason naming what was wrong. */
#ifndef YARD_GW_INPUTS_H
#define YARD_GW_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    GW_METHOD_ROUTED = 0, /* GET, HEAD, POST, PUT, PATCH, DELETE: matched against the routes */
    GW_METHOD_OPTIONS,    /* answered by the gateway: CORS preflight or Allow */
    GW_METHOD_REFUSED,    /* TRACE, CONNECT: known, never served (405) */
    GW_METHOD_UNKNOWN,    /* anything else (501) */
} gw_method_class_t;

gw_method_class_t gw_method_class(const char *method);

typedef enum {
    GW_BODY_JSON = 0, /* application/json, application/<x>+json; charset utf-8 if any */
    GW_BODY_MSGPACK,  /* application/msgpack (x-msgpack, vnd.msgpack): passed through as is */
    GW_BODY_REFUSED,  /* anything else, no Content-Type, or a Content-Encoding: 415 */
} gw_body_kind_t;

/* The kind of a non-empty request body from its Content-Type and Content-Encoding headers
 * (either may be NULL). GW_BODY_REFUSED comes with the reason in why. */
gw_body_kind_t gw_body_kind(const char *content_type, const char *content_encoding, char *why,
                            size_t whylen);

/* True when an Accept header asks for msgpack (a msgpack type with q > 0, not ranked below
 * application/json). NULL: false. */
bool gw_accepts_msgpack(const char *accept);

/* The longest prefix of s[0..n) of at most max bytes that does not end inside a UTF-8
 * sequence. */
size_t gw_utf8_cut(const char *s, size_t n, size_t max);

/* Checks the request target as received (raw_uri, query included): the path, percent-decoded,
 * must be UTF-8 without control characters (a %00 included), the query as sent UTF-8.
 * Returns true, or false with the reason in why. */
bool gw_uri_valid(const char *raw_uri, char *why, size_t whylen);

typedef enum {
    GW_BEARER_OK = 0,
    GW_BEARER_MISSING, /* no Authorization header, or not "Bearer <token>" */
    GW_BEARER_TOO_LONG,
    GW_BEARER_BAD, /* a byte a token cannot hold (controls, spaces, non-ASCII) */
} gw_bearer_t;

/* Reads "Bearer <token>" from an Authorization value (may be NULL). On GW_BEARER_OK *token is
 * a copy (caller owns it; free()); otherwise *token is NULL and why says what was wrong
 * (the token's size when too long; never the token). */
gw_bearer_t gw_bearer_parse(const char *authorization, char **token, char *why, size_t whylen);

/* Splits a listen value "host:port" ("[v6]:port"; host empty or "*" for every address; port
 * 0..65535, digits only) into host and port. Returns 0, or YARD_E_CONFIG with errbuf naming
 * the setting (--listen, gateway.listen) and what was wrong. */
int gw_listen_split(const char *listen, char *host, size_t hostlen, char *port, size_t portlen,
                    char *errbuf, size_t errlen);

#endif
