/* Gateway routes: a route table from the config's gateway.routes and gateway.default_route,
 * matched per request with path parameters, service resolution (allow-lists), 405 detection
 * and the Allow header. Read as the usage example of gateway/routes.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "routes.h"
#include "yard/error.h"

typedef struct {
    char *dir;
    char *path;
    yard_config_t *cfg;
    yard_gw_routes_t *routes;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = yh_tmpdir();
    assert_non_null(f->dir);
    size_t n = strlen(f->dir) + 16;
    f->path = malloc(n);
    snprintf(f->path, n, "%s/yard.yaml", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    yard_gw_routes_destroy(&f->routes);
    yard_config_destroy(&f->cfg);
    yh_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

/* Loads text as the config file and builds routes from it; returns the rc, err the reason. */
static int
s_build(fixture_t *f, const char *text, char *err, size_t errlen)
{
    yard_gw_routes_destroy(&f->routes);
    yard_config_destroy(&f->cfg);
    char lerr[256];
    f->cfg = yh_config_write(f->path, text, lerr, sizeof lerr);
    if (f->cfg == NULL) {
        fail_msg("load: %s", lerr);
    }
    err[0] = '\0';
    return yard_gw_routes_new(f->cfg, 30000, 1 << 20, &f->routes, err, errlen);
}

static void
s_assert_has(const char *err, const char *want)
{
    if (strstr(err, want) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", want, err);
    }
}

/* Asserts that a route file fails with want in the error. */
static void
s_assert_bad(fixture_t *f, const char *text, const char *want)
{
    char err[512];
    assert_int_equal(s_build(f, text, err, sizeof err), YARD_E_CONFIG);
    assert_null(f->routes);
    s_assert_has(err, want);
}

static void
s_assert_param(const yard_gw_match_t *m, size_t i, const char *name, const char *value)
{
    assert_true(i < m->nparams);
    assert_string_equal(m->params[i].name, name);
    assert_int_equal(m->params[i].value_len, strlen(value));
    assert_memory_equal(m->params[i].value, value, strlen(value));
}

static void
test_default_route_only(void **state)
{
    fixture_t *f = *state;
    /* no config at all: no routes, /v1/{service} included (default closed) */
    char err[512];
    assert_int_equal(yard_gw_routes_new(NULL, 5000, 4096, &f->routes, err, sizeof err), 0);
    yard_gw_match_t m;
    assert_null(yard_gw_routes_match(f->routes, "POST", "/v1/echo", &m));
    assert_false(m.method_not_allowed);
    yard_gw_routes_destroy(&f->routes);

    /* switched on: the listed services only, any of the five methods */
    char text[600];
    char a255[256];
    memset(a255, 'a', 255);
    a255[255] = '\0';
    snprintf(text, sizeof text,
             "gateway:\n  default_route:\n    services: [echo, '$sys', 'a b', %s]\n", a255);
    assert_int_equal(s_build(f, text, err, sizeof err), YARD_E_CONFIG);
    s_assert_has(err, "gateway.default_route.services: item 1 is not a service name");
    snprintf(text, sizeof text, "gateway:\n  default_route:\n    services: [echo, %s]\n", a255);
    assert_int_equal(s_build(f, text, err, sizeof err), 0);
    yard_gw_routes_destroy(&f->routes);
    assert_int_equal(yard_gw_routes_new(f->cfg, 5000, 4096, &f->routes, err, sizeof err), 0);
    const yard_gw_route_t *r = yard_gw_routes_match(f->routes, "POST", "/v1/echo", &m);
    assert_non_null(r);
    assert_string_equal(r->name, "/v1/{service}");
    assert_string_equal(r->method, "*");
    assert_string_equal(m.service, "echo");
    assert_null(r->op);
    assert_int_equal(r->timeout_ms, 5000);
    assert_int_equal(r->body_limit, 4096);
    assert_int_equal(r->auth, YARD_GW_AUTH_NONE);
    assert_int_equal(r->nsteps, 1); /* the call alone */
    assert_int_equal(r->steps[0], YARD_GW_STEP_CALL);
    assert_false(yard_gw_route_has_step(r, YARD_GW_STEP_VERIFY));
    assert_null(r->scopes[0]);
    s_assert_param(&m, 0, "service", "echo");

    /* 404s: other shapes, empty or invalid names, the broker's own $ services */
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/echo/x", &m));
    assert_false(m.method_not_allowed);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v2/echo", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "v1/echo", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/$sys", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/a b", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/a\x01", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/scheduler", &m)); /* not listed */
    assert_false(m.method_not_allowed);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "/v1/", 4);
    longname[299] = '\0';
    assert_null(yard_gw_routes_match(f->routes, "GET", longname, &m));
    longname[4 + 255] = '\0'; /* exactly 255: allowed */
    assert_non_null(yard_gw_routes_match(f->routes, "GET", longname, &m));
    assert_int_equal(strlen(m.service), 255);
    longname[4 + 254] = '\0'; /* a valid name, but not on the list */
    assert_null(yard_gw_routes_match(f->routes, "GET", longname, &m));
}

static void
test_routes_from_config(void **state)
{
    fixture_t *f = *state;
    char err[256];
    int rc =
        s_build(f,
                "gateway:\n"
                "  routes:\n"
                "    - method: get\n"
                "      path: /v1/users/{id}\n"
                "      service: users\n"
                "      op: user.get\n"
                "      timeout: 2s\n"
                "      body_limit: 64KiB\n"
                "      auth: bearer\n"
                "      scopes: [users.read, users.admin]\n"
                "    - {method: DELETE, path: '/v1/users/{id}', service: users, op: user.del}\n"
                "    - {path: '/svc/{name}/ops/{op}', service: '{name}', services: [billing]}\n"
                "  default_route: {services: [echo]}\n",
                err, sizeof err);
    assert_int_equal(rc, 0);
    yard_gw_match_t m;
    const yard_gw_route_t *r = yard_gw_routes_match(f->routes, "GET", "/v1/users/42", &m);
    assert_non_null(r);
    assert_string_equal(r->name, "/v1/users/{id}");
    assert_string_equal(r->method, "GET");
    assert_string_equal(m.service, "users");
    assert_string_equal(r->op, "user.get");
    assert_int_equal(r->timeout_ms, 2000);
    assert_int_equal(r->body_limit, 65536);
    assert_int_equal(r->auth, YARD_GW_AUTH_BEARER);
    /* auth: bearer is a step of the route: verify, then the call */
    assert_int_equal(r->nsteps, 2);
    assert_int_equal(r->steps[0], YARD_GW_STEP_VERIFY);
    assert_int_equal(r->steps[1], YARD_GW_STEP_CALL);
    assert_true(yard_gw_route_has_step(r, YARD_GW_STEP_VERIFY));
    assert_string_equal(r->scopes[0], "users.read");
    assert_string_equal(r->scopes[1], "users.admin");
    assert_null(r->scopes[2]);
    assert_int_equal(m.nparams, 1);
    s_assert_param(&m, 0, "id", "42");

    /* the second route has the same path with another method; defaults apply */
    r = yard_gw_routes_match(f->routes, "DELETE", "/v1/users/7", &m);
    assert_non_null(r);
    assert_string_equal(r->op, "user.del");
    assert_int_equal(r->timeout_ms, 30000);
    assert_int_equal(r->body_limit, 1 << 20);

    /* the path exists but not for PUT: 405, not 404 */
    assert_null(yard_gw_routes_match(f->routes, "PUT", "/v1/users/7", &m));
    assert_true(m.method_not_allowed);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/users/7/x", &m));
    assert_false(m.method_not_allowed);

    /* several parameters, the service taken from one of them */
    r = yard_gw_routes_match(f->routes, "PATCH", "/svc/billing/ops/refund", &m);
    assert_non_null(r);
    assert_string_equal(m.service, "billing");
    assert_int_equal(m.nparams, 2);
    s_assert_param(&m, 0, "name", "billing");
    s_assert_param(&m, 1, "op", "refund");
    assert_null(yard_gw_routes_match(f->routes, "GET", "/svc//ops/refund", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/svc/users/ops/refund", &m));

    /* the default route comes last */
    r = yard_gw_routes_match(f->routes, "GET", "/v1/echo", &m);
    assert_non_null(r);
    assert_string_equal(r->name, "/v1/{service}");

    /* switched off: only the configured routes */
    assert_int_equal(s_build(f, "gateway:\n  routes: [{path: /a, service: a}]\n", err, sizeof err),
                     0);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/echo", &m));
    assert_non_null(yard_gw_routes_match(f->routes, "GET", "/a", &m));
    assert_string_equal(m.service, "a");
    assert_int_equal(m.nparams, 0);
}

static void
test_route_errors(void **state)
{
    fixture_t *f = *state;
    s_assert_bad(f, "gateway:\n  routes: {path: /a}\n",
                 "yard.yaml:2: gateway.routes: expected a list");
    s_assert_bad(f, "gateway:\n  routes:\n    - /a\n",
                 "yard.yaml:3: gateway.routes[0]: expected a map");
    s_assert_bad(f,
                 "gateway:\n  routes:\n    - {path: /a, service: a}\n"
                 "    - path: /b\n      service: b\n      tiemout: 1s\n",
                 "yard.yaml:6: gateway.routes[1]: unknown key 'tiemout'");
    s_assert_bad(f, "gateway:\n  routes:\n    - service: a\n",
                 "yard.yaml:3: gateway.routes[0]: missing 'path'");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a\n",
                 "yard.yaml:3: gateway.routes[0]: missing 'service'");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a\n      service: a\n      method: FETCH\n",
                 "yard.yaml:5: gateway.routes[0].method: invalid method 'FETCH'");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a\n      service: a\n      timeout: soon\n",
                 "yard.yaml:5: gateway.routes[0].timeout: invalid duration 'soon'");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a\n      service: a\n      timeout: 0\n",
                 "yard.yaml:5: gateway.routes[0].timeout: must be more than 0");
    s_assert_bad(f,
                 "gateway:\n  routes:\n    - path: /a\n      service: a\n      body_limit: big\n",
                 "yard.yaml:5: gateway.routes[0].body_limit: invalid size 'big'");
    s_assert_bad(f,
                 "gateway:\n  routes:\n    - path: /a\n      service: a\n      auth: bearer\n"
                 "      scopes: read\n",
                 "yard.yaml:6: gateway.routes[0].scopes: expected a list of scope names");
    s_assert_bad(f,
                 "gateway:\n  routes:\n    - path: /a\n      service: a\n      auth: bearer\n"
                 "      scopes: [read, [x]]\n",
                 "yard.yaml:6: gateway.routes[0].scopes: expected a list of scope names (item 1");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a\n      service: a\n      scopes: [read]\n",
                 "gateway.routes[0].scopes: scopes need auth: bearer");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a\n      service: a\n      auth: basic\n",
                 "yard.yaml:5: gateway.routes[0].auth: invalid auth 'basic'");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a/{id}/b/{id}\n      service: a\n",
                 "yard.yaml:3: gateway.routes[0].path: duplicate parameter name '{id}'");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a/{id\n      service: a\n",
                 "gateway.routes[0].path: unbalanced braces");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a/id}\n      service: a\n",
                 "unbalanced braces");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: '/a/x{id}'\n      service: a\n",
                 "unbalanced braces");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: '/a/{}'\n      service: a\n",
                 "unbalanced braces");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: a/b\n      service: a\n",
                 "yard.yaml:3: gateway.routes[0].path: the path must start with '/'");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: '/a/{id}'\n      service: '{name}'\n",
                 "yard.yaml:4: gateway.routes[0].service: '{name}' is not a parameter");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: /a\n      service: 'has space'\n",
                 "'has space' is not a valid service name");
    s_assert_bad(f, "gateway:\n  routes:\n    - path: [/a]\n      service: a\n",
                 "yard.yaml:3: gateway.routes[0].path: expected a single value");
    s_assert_bad(f,
                 "gateway:\n  routes:\n    - path: "
                 "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}\n"
                 "      service: a\n",
                 "more than 16 parameters");
}

static void
test_empty_routes_key(void **state)
{
    fixture_t *f = *state;
    char err[256];
    assert_int_equal(
        s_build(f, "gateway:\n  routes:\n  default_route: {services: [echo]}\n", err, sizeof err),
        0);
    yard_gw_match_t m;
    assert_non_null(yard_gw_routes_match(f->routes, "GET", "/v1/echo", &m));
    assert_int_equal(s_build(f, "gateway:\n  routes: []\n", err, sizeof err), 0);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/echo", &m));
    assert_null(yard_gw_routes_match(f->routes, NULL, "/v1/echo", &m));
}

/* The default route takes a route's settings; true alone, a missing or empty allow-list, and
 * keys a route would not take are errors naming the key. */
static void
test_default_route_settings(void **state)
{
    fixture_t *f = *state;
    char err[512];
    assert_int_equal(s_build(f,
                             "gateway:\n"
                             "  default_route:\n"
                             "    method: POST\n"
                             "    services: [echo, scheduler]\n"
                             "    auth: bearer\n"
                             "    scopes: [bus.call]\n"
                             "    timeout: 2s\n"
                             "    body_limit: 1KiB\n",
                             err, sizeof err),
                     0);
    yard_gw_match_t m;
    const yard_gw_route_t *r = yard_gw_routes_match(f->routes, "POST", "/v1/scheduler", &m);
    assert_non_null(r);
    assert_int_equal(r->auth, YARD_GW_AUTH_BEARER);
    /* auth: bearer is a step of the route: verify, then the call */
    assert_int_equal(r->nsteps, 2);
    assert_int_equal(r->steps[0], YARD_GW_STEP_VERIFY);
    assert_int_equal(r->steps[1], YARD_GW_STEP_CALL);
    assert_true(yard_gw_route_has_step(r, YARD_GW_STEP_VERIFY));
    assert_string_equal(r->scopes[0], "bus.call");
    assert_int_equal(r->timeout_ms, 2000);
    assert_int_equal(r->body_limit, 1024);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/scheduler", &m));
    assert_true(m.method_not_allowed);

    s_assert_bad(f, "gateway:\n  default_route: true\n",
                 "yard.yaml:2: gateway.default_route: expected a map with 'services'");
    s_assert_bad(f, "gateway:\n  default_route: {auth: bearer}\n",
                 "gateway.default_route: missing 'services'");
    s_assert_bad(f, "gateway:\n  default_route: {services: []}\n",
                 "gateway.default_route.services: expected a non-empty list");
    s_assert_bad(f, "gateway:\n  default_route: {services: ['*']}\n",
                 "gateway.default_route.services: item 0 is not a service name");
    s_assert_bad(f, "gateway:\n  default_route: {services: [a], path: /x}\n",
                 "gateway.default_route: unknown key 'path'");
    s_assert_bad(f, "gateway:\n  default_route: {services: [a], scopes: [x]}\n",
                 "gateway.default_route.scopes: scopes need auth: bearer");
    s_assert_bad(f, "gateway:\n  routes: [{path: '/x/{s}', service: '{s}'}]\n",
                 "gateway.routes[0]: missing 'services'");
    s_assert_bad(f, "gateway:\n  routes: [{path: '/x', service: x, services: [x]}]\n",
                 "only a route whose service is a {parameter} takes a services list");
    s_assert_bad(f, "gateway:\n  routes: [{path: '/x', service: x, method: HEAD}]\n",
                 "'HEAD' is not a route method");
    s_assert_bad(f, "gateway:\n  routes: [{path: '/x', service: x, method: OPTIONS}]\n",
                 "'OPTIONS' is not a route method");
    assert_int_equal(s_build(f, "gateway:\n  default_route: false\n", err, sizeof err), 0);
    assert_null(yard_gw_routes_match(f->routes, "POST", "/v1/echo", &m));
}

/* A configured route owns its path: the default route never takes it with another method, so
 * GET on a POST-only route is 405 with Allow, not the default route's service. HEAD is GET;
 * other methods never match but learn the path's methods. */
static void
test_owned_paths_and_allow(void **state)
{
    fixture_t *f = *state;
    char err[512];
    assert_int_equal(s_build(f,
                             "gateway:\n"
                             "  routes:\n"
                             "    - {method: POST, path: /v1/login, service: auth, op: login}\n"
                             "    - {method: DELETE, path: /v1/login, service: auth, op: logout}\n"
                             "    - {method: GET, path: /v1/things, service: things}\n"
                             "  default_route: {services: [login, echo]}\n",
                             err, sizeof err),
                     0);
    yard_gw_match_t m;
    assert_null(yard_gw_routes_match(f->routes, "GET", "/v1/login", &m));
    assert_true(m.method_not_allowed);
    char allow[64];
    assert_string_equal(yard_gw_allow_text(m.allow, allow, sizeof allow), "POST, DELETE, OPTIONS");
    const yard_gw_route_t *r = yard_gw_routes_match(f->routes, "HEAD", "/v1/things", &m);
    assert_non_null(r);
    assert_string_equal(m.service, "things");
    assert_null(yard_gw_routes_match(f->routes, "OPTIONS", "/v1/things", &m));
    assert_string_equal(yard_gw_allow_text(m.allow, allow, sizeof allow), "GET, HEAD, OPTIONS");
    assert_null(yard_gw_routes_match(f->routes, "TRACE", "/v1/echo", &m));
    assert_string_equal(yard_gw_allow_text(m.allow, allow, sizeof allow),
                        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    assert_null(yard_gw_routes_match(f->routes, "BREW", "/v1/echo", &m));
    assert_non_null(yard_gw_routes_match(f->routes, "PUT", "/v1/echo", &m));
    assert_null(yard_gw_routes_match(f->routes, "GET", "/nowhere", &m));
    assert_int_equal(m.allow, 0);
    assert_int_equal(yard_gw_method_bit("HEAD"), YARD_GW_M_GET);
    assert_int_equal(yard_gw_method_bit("OPTIONS"), 0);
}

/* GET /status reaches the health actor's page without auth by default (also with no config
 * at all); status_page: false turns it off; a configured route with the path keeps it. */
static void
test_status_page(void **state)
{
    fixture_t *f = *state;
    char err[512];
    yard_gw_match_t m;
    assert_int_equal(yard_gw_routes_new(NULL, 5000, 4096, &f->routes, err, sizeof err), 0);
    const yard_gw_route_t *r = yard_gw_routes_match(f->routes, "GET", "/status", &m);
    assert_non_null(r);
    assert_string_equal(m.service, "health");
    assert_string_equal(r->op, "page");
    assert_int_equal(r->auth, YARD_GW_AUTH_NONE);
    assert_int_equal(r->nsteps, 1); /* the call alone */
    assert_int_equal(r->steps[0], YARD_GW_STEP_CALL);
    assert_false(yard_gw_route_has_step(r, YARD_GW_STEP_VERIFY));
    assert_non_null(yard_gw_routes_match(f->routes, "HEAD", "/status", &m));
    assert_null(yard_gw_routes_match(f->routes, "POST", "/status", &m));
    assert_true(m.method_not_allowed);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/status/x", &m));
    yard_gw_routes_destroy(&f->routes);

    assert_int_equal(s_build(f, "gateway:\n  status_page: false\n", err, sizeof err), 0);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/status", &m));
    assert_false(m.method_not_allowed);
    assert_int_equal(s_build(f, "gateway:\n  status_page: true\n", err, sizeof err), 0);
    assert_non_null(yard_gw_routes_match(f->routes, "GET", "/status", &m));
    s_assert_bad(f, "gateway:\n  status_page: sometimes\n", "yard.yaml:2: gateway.status_page");

    /* a configured route owns the path, whatever its method */
    assert_int_equal(s_build(f,
                             "gateway:\n  routes:\n    - {method: POST, path: /status, service: "
                             "mine}\n",
                             err, sizeof err),
                     0);
    assert_null(yard_gw_routes_match(f->routes, "GET", "/status", &m));
    assert_true(m.method_not_allowed);
    r = yard_gw_routes_match(f->routes, "POST", "/status", &m);
    assert_non_null(r);
    assert_string_equal(m.service, "mine");
}

/* pass_headers: extra request headers a route forwards, lower-case, with their bus names. */
static void
test_pass_headers(void **state)
{
    fixture_t *f = *state;
    char err[512];
    assert_int_equal(s_build(f,
                             "gateway:\n  routes:\n"
                             "    - method: POST\n      path: /telegram/hook\n"
                             "      service: telegram\n      op: webhook\n      auth: none\n"
                             "      pass_headers: [X-Telegram-Bot-Api-Secret-Token, X-Hub-Sig]\n"
                             "    - {path: /plain, service: plain}\n"
                             "  default_route: {services: [echo], pass_headers: [x-trace]}\n",
                             err, sizeof err),
                     0);
    yard_gw_match_t m;
    const yard_gw_route_t *r = yard_gw_routes_match(f->routes, "POST", "/telegram/hook", &m);
    assert_non_null(r);
    assert_int_equal(r->npass, 2);
    assert_string_equal(r->pass[0].name, "x-telegram-bot-api-secret-token");
    assert_string_equal(r->pass[0].key, "http.header.x-telegram-bot-api-secret-token");
    assert_string_equal(r->pass[1].name, "x-hub-sig");
    assert_string_equal(r->pass[1].key, "http.header.x-hub-sig");
    r = yard_gw_routes_match(f->routes, "GET", "/plain", &m);
    assert_non_null(r);
    assert_int_equal(r->npass, 0); /* nothing but the headers every route forwards */
    r = yard_gw_routes_match(f->routes, "GET", "/v1/echo", &m);
    assert_non_null(r);
    assert_int_equal(r->npass, 1);
    assert_string_equal(r->pass[0].key, "http.header.x-trace");
    /* eight is the most; the tokens' odd characters are names too */
    assert_int_equal(
        s_build(f,
                "gateway:\n  routes:\n    - path: /a\n      service: a\n"
                "      pass_headers: [a1, a2, a3, a4, a5, a6, a7, \"x!#$%&'*+.^_`|~\"]\n",
                err, sizeof err),
        0);
    r = yard_gw_routes_match(f->routes, "GET", "/a", &m);
    assert_int_equal(r->npass, 8);
    assert_string_equal(r->pass[7].name, "x!#$%&'*+.^_`|~");
}

static void
test_pass_headers_errors(void **state)
{
    fixture_t *f = *state;
    const char *head = "gateway:\n  routes:\n    - path: /a\n      service: a\n";
    static const struct {
        const char *pass;
        const char *want;
    } bad[] = {
        {"pass_headers: X-Token\n", "yard.yaml:5: gateway.routes[0].pass_headers: expected a list"},
        {"pass_headers: {a: b}\n", "yard.yaml:5: gateway.routes[0].pass_headers: expected a list"},
        {"pass_headers: [a1, a2, a3, a4, a5, a6, a7, a8, a9]\n",
         "yard.yaml:5: gateway.routes[0].pass_headers: 9 headers; at most 8"},
        {"pass_headers: [\"X Token\"]\n",
         "yard.yaml:5: gateway.routes[0].pass_headers: item 0 is not a header name"},
        {"pass_headers:\n        - X-Ok\n        - \"X:Token\"\n",
         "yard.yaml:7: gateway.routes[0].pass_headers: item 1 is not a header name"},
        {"pass_headers: [\"\"]\n", "item 0 is not a header name"},
        {"pass_headers: [[x]]\n", "item 0 is not a header name"},
        {"pass_headers: [\"X-Caf\xc3\xa9\"]\n", "item 0 is not a header name"},
        {"pass_headers: [x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
         "item 0 is not a header name (1 to 64"},
        {"pass_headers: [Authorization]\n",
         "yard.yaml:5: gateway.routes[0].pass_headers: 'Authorization' is never forwarded"},
        {"pass_headers: [COOKIE]\n", "'COOKIE' is never forwarded"},
        {"pass_headers: [proxy-authorization]\n", "'proxy-authorization' is never forwarded"},
        {"pass_headers: [Content-Type]\n", "'Content-Type' is forwarded on every route already"},
        {"pass_headers: [User-Agent]\n", "'User-Agent' is forwarded on every route already"},
        {"pass_headers: [X-Sig, x-sig]\n", "'x-sig' is listed twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s      %s", head, bad[i].pass);
        s_assert_bad(f, text, bad[i].want);
    }
    /* the default route refuses them the same way */
    s_assert_bad(f,
                 "gateway:\n  default_route:\n    services: [echo]\n    pass_headers: [Cookie]\n",
                 "yard.yaml:4: gateway.default_route.pass_headers: 'Cookie' is never forwarded");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_route_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_from_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_routes_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_route_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owned_paths_and_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_headers_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
