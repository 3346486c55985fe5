/* The route table: method + path pattern -> service + op, with per-route timeout, body limit
 * and auth. Patterns are literal segments and {name} parameters, one path segment each
 * ("/v1/users/{id}"); a service of "{service}" takes the path parameter of that name. The
 * default route "/v1/{service}" (any method) is appended unless the config switches it off.
 * Routes are tried in file order; the first whose pattern and method match wins.
 *
 * Config (section gateway, key routes: a list of maps):
 *   routes:
 *     - {method: GET, path: '/v1/users/{id}', service: users, op: user.get,
 *        timeout: 2s, body_limit: 64KiB, auth: bearer, scopes: [users.read]}
 * method: GET/POST/PUT/PATCH/DELETE/HEAD/OPTIONS or "*" (default "*"); path and service are
 * required; auth: none (default) or bearer. Bad routes are config errors naming the file
 * and line of the offending key. In a flow map ({...}) a path with {param} must be quoted.
 * A "{param}" service must resolve to a valid name not starting with '$' (the broker's own). */
#ifndef YARD_GW_ROUTES_H
#define YARD_GW_ROUTES_H

#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_GW_PARAMS_MAX 16

typedef enum { YARD_GW_AUTH_NONE = 0, YARD_GW_AUTH_BEARER = 1 } yard_gw_auth_t;

typedef struct {
    const char *name;    /* the pattern as written, for metrics and logs ("/v1/{service}") */
    const char *method;  /* "*" or an upper-case method */
    const char *service; /* a service name, or "{param}" */
    const char *op;      /* NULL: none */
    uint32_t timeout_ms; /* resolved: the route's or the gateway default */
    uint64_t body_limit; /* resolved likewise */
    yard_gw_auth_t auth;
    const char *const *scopes; /* required scopes (bearer), NULL-terminated */
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
} yard_gw_match_t;

typedef struct yard_gw_routes yard_gw_routes_t;

/* Builds the table from cfg's gateway.routes (cfg may be NULL), with the defaults for
 * routes that do not set their own. Returns 0 and sets *out (caller owns it; free with
 * yard_gw_routes_destroy()), or YARD_E_CONFIG with errbuf "path:line: reason". */
int yard_gw_routes_new(const yard_config_t *cfg, bool default_route, uint32_t timeout_ms,
                       uint64_t body_limit, yard_gw_routes_t **out, char *errbuf, size_t errlen);
void yard_gw_routes_destroy(yard_gw_routes_t **self_p);

/* Matches method and path (without the query string). Returns the route (borrowed; valid
 * while the table lives) and fills *m, or NULL (m->method_not_allowed tells 405 from 404).
 * A resolved service name that is not a valid service name gives NULL too. */
const yard_gw_route_t *yard_gw_routes_match(const yard_gw_routes_t *self, const char *method,
                                            const char *path, yard_gw_match_t *m);

#endif
