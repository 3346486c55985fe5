/* CORS from config (section gateway, key cors: a map):
 *   cors: {origins: ["https://app.example.com"], methods: [GET, POST],
 *          headers: [Authorization, Content-Type], max_age: 600, credentials: false}
 * origins may hold "*". No cors key: CORS is off (no headers are added, preflights are
 * answered 404 like any unknown route). */
#ifndef YARD_GW_CORS_H
#define YARD_GW_CORS_H

#include "yard/options.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct yard_gw_cors yard_gw_cors_t;

/* Adds one response header; used to hand headers back without allocating. */
typedef void(yard_gw_header_fn)(void *arg, const char *name, const char *value);

/* Returns 0 and sets *out (NULL when CORS is off; caller owns it, free with
 * yard_gw_cors_destroy()), or YARD_E_CONFIG with errbuf "path:line: reason". */
int yard_gw_cors_new(const yard_config_t *cfg, yard_gw_cors_t **out, char *errbuf, size_t errlen);
void yard_gw_cors_destroy(yard_gw_cors_t **self_p);

/* For an actual request with an Origin header: adds the Access-Control-Allow-* headers when
 * the origin is allowed. origin may be NULL (no header: nothing added). */
void yard_gw_cors_apply(const yard_gw_cors_t *self, const char *origin, yard_gw_header_fn *add,
                        void *arg);

/* A preflight (OPTIONS with Access-Control-Request-Method): returns true and adds the
 * headers when allowed (answer 204), false when not (answer 403). */
bool yard_gw_cors_preflight(const yard_gw_cors_t *self, const char *origin,
                            const char *request_method, const char *request_headers,
                            yard_gw_header_fn *add, void *arg);

#endif
