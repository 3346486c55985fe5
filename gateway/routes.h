/* The route table: method + path pattern -> service + op, with per-route timeout, body limit
 * and auth. Patterns are literal segments and {name} parameters, one path segment each
 * ("/v1/users/{id}"); a service of "{service}" takes the path parameter of that name, and
 * such a route reaches only the services its `services` list names (an explicit allow-list:
 * nothing is exposed by accident). Routes are tried in file order; the first whose pattern,
 * service and method match wins.
 *
 * Config (section gateway, key routes: a list of maps):
 *   routes:
 *     - {method: GET, path: '/v1/users/{id}', service: users, op: user.get,
 *        timeout: 2s, body_limit: 64KiB, auth: bearer, scopes: [users.read]}
 * method: GET/POST/PUT/PATCH/DELETE or "*" (default "*": those five); path and service are
 * required; services is required when service is a "{param}"; auth: none (default) or bearer.
 * HEAD is served by a path's GET route and OPTIONS by the gateway itself, so neither is a
 * route method. Bad routes are config errors naming the file and line of the offending key.
 * In a flow map ({...}) a path with {param} must be quoted.
 *
 * pass_headers: [X-Telegram-Bot-Api-Secret-Token] names up to 8 more request headers (HTTP
 * tokens, case-insensitive) the route forwards as bus headers "http.header.<lower-case name>",
 * for a service that authenticates its caller with a header of its own (Telegram's webhook
 * secret). Authorization, Proxy-Authorization and Cookie are refused: the caller's credentials
 * are the gateway's auth step's business (auth: bearer), and forwarding them would hand every
 * service on the route the caller's login. A header every route forwards already, a name
 * twice, or a name that is not an HTTP token is a config error too.
 *
 * The default route "/v1/{service}" is off unless the config turns it on (key default_route:
 * a map with services, and optionally method, auth, scopes, timeout and body_limit, read as
 * a route's). It comes after the configured routes and never takes a path that a configured
 * route has (with any method): that path answers 405, not the default route's service. */
#ifndef YARD_GW_ROUTES_H
#define YARD_GW_ROUTES_H

#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_GW_PARAMS_MAX 16

/* Request headers a service sees, beyond the always-forwarded ones: a route's pass_headers
 * (config), at most YARD_GW_PASS_MAX, each name at most YARD_GW_PASS_NAME_MAX bytes. */
#define YARD_GW_PASS_MAX      8
#define YARD_GW_PASS_NAME_MAX 64

/* A forwarded request header: its lower-case HTTP name and the bus header it travels as. */
typedef struct {
    const char *name; /* "x-telegram-bot-api-secret-token" */
    const char *key;  /* "http.header.x-telegram-bot-api-secret-token" */
} yard_gw_pass_t;

/* The headers every route forwards (content-type, accept, user-agent, x-forwarded-for,
 * origin): YARD_GW_PASS_ALWAYS entries. A route's pass_headers may not repeat them. */
#define YARD_GW_PASS_ALWAYS 5
extern const yard_gw_pass_t yard_gw_pass_always[YARD_GW_PASS_ALWAYS];

/* Method bits, for the methods a path takes (the Allow header). */
enum {
    YARD_GW_M_GET = 1u << 0, /* GET and HEAD */
    YARD_GW_M_POST = 1u << 1,
    YARD_GW_M_PUT = 1u << 2,
    YARD_GW_M_PATCH = 1u << 3,
    YARD_GW_M_DELETE = 1u << 4,
    YARD_GW_M_ANY = (1u << 5) - 1, /* "*" */
};

typedef enum { YARD_GW_AUTH_NONE = 0, YARD_GW_AUTH_BEARER = 1 } yard_gw_auth_t;

/* What a request on a route goes through on the bus, in order (gateway/steps.h runs each):
 * VERIFY asks the auth service ("auth", op "verify") for the caller's identity and scopes
 * and adds them to the request's bus headers; CALL is the route's own service and op, whose
 * reply is the answer. Every route ends with CALL; `auth: bearer` puts VERIFY before it. */
typedef enum { YARD_GW_STEP_VERIFY = 1, YARD_GW_STEP_CALL = 2 } yard_gw_step_t;
#define YARD_GW_STEPS_MAX 2

typedef struct {
    const char *name;    /* the pattern as written, for metrics and logs ("/v1/{service}") */
    const char *method;  /* "*" or an upper-case method */
    unsigned methods;    /* YARD_GW_M_* bits of method */
    const char *service; /* a service name, or "{param}" */
    const char *const *services; /* "{param}" service: the allow-list, NULL-terminated; else
                                    NULL */
    const char *op;              /* NULL: none */
    uint32_t timeout_ms;         /* resolved: the route's or the gateway default */
    uint64_t body_limit;         /* resolved likewise */
    yard_gw_auth_t auth;
    const char *const *scopes;  /* required scopes (bearer), NULL-terminated */
    const yard_gw_pass_t *pass; /* the route's pass_headers (npass of them), owned by the table */
    size_t npass;
    yard_gw_step_t steps[YARD_GW_STEPS_MAX]; /* nsteps of them, the last one CALL */
    size_t nsteps;
} yard_gw_route_t;

/* A path parameter: borrowed from the matched path, not NUL-terminated. */
typedef struct {
    const char *name;
    const char *key; /* "http.param.<name>", owned by the route table */
    const char *value;
    size_t value_len;
} yard_gw_param_t;

typedef struct {
    yard_gw_param_t params[YARD_GW_PARAMS_MAX];
    size_t nparams;
    const char *service; /* resolved service name (NUL-terminated copy in service_buf) */
    char service_buf[256];
    bool method_not_allowed; /* no route matched, but a path did with another method */
    unsigned allow;          /* YARD_GW_M_* bits: the methods routes take on this path */
} yard_gw_match_t;

typedef struct yard_gw_routes yard_gw_routes_t;

/* Builds the table from cfg's gateway.routes and gateway.default_route (cfg may be NULL: no
 * routes), with the defaults for routes that do not set their own. Returns 0 and sets *out
 * (caller owns it; free with yard_gw_routes_destroy()), or YARD_E_CONFIG with errbuf
 * "path:line: reason". */
int yard_gw_routes_new(const yard_config_t *cfg, uint32_t timeout_ms, uint64_t body_limit,
                       yard_gw_routes_t **out, char *errbuf, size_t errlen);
void yard_gw_routes_destroy(yard_gw_routes_t **self_p);

/* Matches method and path (without the query string). Returns the route (borrowed; valid
 * while the table lives) and fills *m, or NULL (m->method_not_allowed tells 405 from 404,
 * m->allow lists the methods the path takes). HEAD matches as GET; any method other than
 * GET, HEAD, POST, PUT, PATCH and DELETE never matches (it only fills m->allow). A resolved
 * service name that is not a valid service name or not on the route's allow-list gives NULL
 * too (404: which services exist is not told). */
const yard_gw_route_t *yard_gw_routes_match(const yard_gw_routes_t *self, const char *method,
                                            const char *path, yard_gw_match_t *m);

/* The Allow header for allow (YARD_GW_M_* bits), e.g. "GET, HEAD, POST, OPTIONS" (OPTIONS
 * always: the gateway answers it). Writes into buf (len at least YARD_GW_ALLOW_MAX) and
 * returns it. */
#define YARD_GW_ALLOW_MAX 64
const char *yard_gw_allow_text(unsigned allow, char *buf, size_t len);

/* True when route runs step (a bearer route: YARD_GW_STEP_VERIFY). */
bool yard_gw_route_has_step(const yard_gw_route_t *route, yard_gw_step_t step);

/* The YARD_GW_M_* bit of a method the routes take ("HEAD" is GET's), or 0 for any other. */
unsigned yard_gw_method_bit(const char *method);

#endif
