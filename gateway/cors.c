/* CORS: which browser origins may call the gateway, read once from gateway.cors, and the
 * Access-Control-* headers for actual requests and preflights. Headers are handed to a
 * callback as borrowed strings (the joined lists are built at load), so answering a request
 * allocates nothing.
 *
 * Invariants: with credentials on, the allowed origin is always echoed, never "*" (browsers
 * refuse "*" with credentials); whenever the answer depends on the Origin header, Vary:
 * Origin is sent, so a shared cache never serves one origin's answer to another. Method and
 * header names compare case-insensitively. */
#include "cors.h"

#include "yard/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MAX_AGE_MAX 86400

/* Response headers a browser script may read: the ones the gateway itself sets. */
static const char s_expose[] = "X-Request-Id, X-Process-Time, Retry-After";

typedef struct {
    char **items; /* owned, NULL-terminated */
    char *joined; /* "A, B, C" for the response header */
    bool any;     /* the list held "*" */
} s_list_t;

struct yard_gw_cors {
    s_list_t origins;
    s_list_t methods;
    s_list_t headers;
    char max_age[16];
    bool credentials;
};

static const char *const s_keys[] = {"origins", "methods",     "headers",
                                     "max_age", "credentials", NULL};

static int s_err(char *errbuf, size_t errlen, yard_config_node_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_err(char *errbuf, size_t errlen, yard_config_node_t at, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (errbuf != NULL && errlen > 0) {
        snprintf(errbuf, errlen, "%s:%d: gateway.cors.%s", yard_config_path(at.cfg),
                 yard_config_node_line(at), why);
    }
    return YARD_E_CONFIG;
}

static void
s_list_free(s_list_t *l)
{
    for (size_t i = 0; l->items != NULL && l->items[i] != NULL; i++) {
        free(l->items[i]);
    }
    free(l->items);
    free(l->joined);
    memset(l, 0, sizeof *l);
}

/* Fills l from a NULL-terminated array of names and joins them. */
static void
s_list_set(s_list_t *l, const char *const *names, size_t n)
{
    s_list_free(l);
    l->items = calloc(n + 1, sizeof *l->items);
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        total += strlen(names[i]) + 2;
    }
    l->joined = calloc(1, total);
    if (l->items == NULL || l->joined == NULL) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        l->items[i] = strdup(names[i]);
        if (l->items[i] == NULL) {
            abort();
        }
        l->any = l->any || strcmp(names[i], "*") == 0;
        if (i > 0) {
            strcat(l->joined, ", ");
        }
        strcat(l->joined, names[i]);
    }
}

static bool
s_list_has(const s_list_t *l, const char *name, size_t len)
{
    for (size_t i = 0; l->items[i] != NULL; i++) {
        if (strlen(l->items[i]) == len && strncasecmp(l->items[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

/* An origin as browsers send it: "*", or scheme://host[:port] with no path. */
static bool
s_origin_valid(const char *o)
{
    if (strcmp(o, "*") == 0) {
        return true;
    }
    const char *sep = strstr(o, "://");
    return sep != NULL && sep != o && sep[3] != '\0' && strchr(sep + 3, '/') == NULL &&
           strpbrk(o, " \t\r\n,") == NULL;
}

/* A list of names from node, each checked by valid (may be NULL). */
static int
s_read_list(s_list_t *l, yard_config_node_t node, const char *key, bool (*valid)(const char *),
            char *errbuf, size_t errlen)
{
    if (yard_config_node_kind(node) != YARD_CONFIG_LIST) {
        return s_err(errbuf, errlen, node, "%s: expected a list", key);
    }
    size_t n = yard_config_node_len(node);
    const char **names = calloc(n + 1, sizeof *names);
    if (names == NULL) {
        abort();
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        yard_config_node_t item = yard_config_node_item(node, i);
        names[i] = yard_config_node_text(item);
        if (yard_config_node_kind(item) != YARD_CONFIG_SCALAR || names[i] == NULL ||
            names[i][0] == '\0' || strpbrk(names[i], " \t\r\n,") != NULL ||
            (valid != NULL && !valid(names[i]))) {
            rc = s_err(errbuf, errlen, item, "%s: invalid item '%s'", key,
                       names[i] != NULL ? names[i] : "(not a single value)");
        }
    }
    if (rc == 0) {
        s_list_set(l, names, n);
    }
    free(names);
    return rc;
}

static int
s_read_scalar(yard_config_node_t node, const char *key, yard_opt_type_t type, void *out,
              char *errbuf, size_t errlen)
{
    const char *text = yard_config_node_text(node);
    char why[200];
    if (yard_config_node_kind(node) != YARD_CONFIG_SCALAR || text == NULL) {
        return s_err(errbuf, errlen, node, "%s: expected a single value", key);
    }
    if (yard_option_parse(type, text, out, why, sizeof why) != 0) {
        return s_err(errbuf, errlen, node, "%s: %s", key, why);
    }
    return 0;
}

static int
s_check_keys(yard_config_node_t map, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < yard_config_node_len(map); i++) {
        yard_config_node_t value;
        const char *key = yard_config_node_key(map, i, &value, NULL);
        bool known = false;
        for (size_t k = 0; key != NULL && s_keys[k] != NULL; k++) {
            known = known || strcmp(key, s_keys[k]) == 0;
        }
        if (!known) {
            int line = 0;
            yard_config_node_key(map, i, NULL, &line);
            snprintf(errbuf, errlen,
                     "%s:%d: gateway.cors: unknown key '%s' (expected origins, methods, headers, "
                     "max_age, credentials)",
                     yard_config_path(map.cfg), line, key != NULL ? key : "?");
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

static int
s_read(yard_gw_cors_t *self, yard_config_node_t map, char *errbuf, size_t errlen)
{
    int rc = s_check_keys(map, errbuf, errlen);
    yard_config_node_t origins = yard_config_node_get(map, "origins");
    if (rc == 0 && yard_config_node_kind(origins) == YARD_CONFIG_ABSENT) {
        return s_err(errbuf, errlen, map, "origins: missing (a list of origins, or [\"*\"])");
    }
    rc = rc != 0 ? rc
                 : s_read_list(&self->origins, origins, "origins", s_origin_valid, errbuf, errlen);
    yard_config_node_t node = yard_config_node_get(map, "methods");
    if (rc == 0 && yard_config_node_kind(node) != YARD_CONFIG_ABSENT) {
        rc = s_read_list(&self->methods, node, "methods", NULL, errbuf, errlen);
    }
    node = yard_config_node_get(map, "headers");
    if (rc == 0 && yard_config_node_kind(node) != YARD_CONFIG_ABSENT) {
        rc = s_read_list(&self->headers, node, "headers", NULL, errbuf, errlen);
    }
    int64_t max_age = 600;
    node = yard_config_node_get(map, "max_age");
    if (rc == 0 && yard_config_node_kind(node) != YARD_CONFIG_ABSENT) {
        rc = s_read_scalar(node, "max_age", YARD_OPT_INT, &max_age, errbuf, errlen);
        if (rc == 0 && (max_age < 0 || max_age > S_MAX_AGE_MAX)) {
            rc = s_err(errbuf, errlen, node, "max_age: %lld is out of range [0, %d] seconds",
                       (long long)max_age, S_MAX_AGE_MAX);
        }
    }
    snprintf(self->max_age, sizeof self->max_age, "%lld", (long long)max_age);
    node = yard_config_node_get(map, "credentials");
    if (rc == 0 && yard_config_node_kind(node) != YARD_CONFIG_ABSENT) {
        rc = s_read_scalar(node, "credentials", YARD_OPT_BOOL, &self->credentials, errbuf, errlen);
    }
    return rc;
}

int
yard_gw_cors_new(const yard_config_t *cfg, yard_gw_cors_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    yard_config_node_t map = yard_config_node(cfg, "gateway.cors");
    yard_config_kind_t kind = yard_config_node_kind(map);
    if (kind == YARD_CONFIG_ABSENT || kind == YARD_CONFIG_NULL) {
        return 0;
    }
    if (kind != YARD_CONFIG_MAP) {
        snprintf(errbuf, errlen, "%s:%d: gateway.cors: expected a map (origins, methods, ...)",
                 yard_config_path(cfg), yard_config_node_line(map));
        return YARD_E_CONFIG;
    }
    yard_gw_cors_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        abort();
    }
    static const char *const methods[] = {"GET", "HEAD", "POST"};
    static const char *const headers[] = {"Content-Type", "Authorization", "X-Request-Id"};
    s_list_set(&self->methods, methods, 3);
    s_list_set(&self->headers, headers, 3);
    int rc = s_read(self, map, errbuf, errlen);
    if (rc != 0) {
        yard_gw_cors_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void
yard_gw_cors_destroy(yard_gw_cors_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    yard_gw_cors_t *self = *self_p;
    s_list_free(&self->origins);
    s_list_free(&self->methods);
    s_list_free(&self->headers);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Answering */

static bool
s_origin_allowed(const yard_gw_cors_t *self, const char *origin)
{
    return self->origins.any || s_list_has(&self->origins, origin, strlen(origin));
}

/* Access-Control-Allow-Origin (and Vary, credentials) for an allowed origin. */
static void
s_allow_origin(const yard_gw_cors_t *self, const char *origin, yard_gw_header_fn *add, void *arg)
{
    if (self->origins.any && !self->credentials) {
        add(arg, "Access-Control-Allow-Origin", "*");
        return;
    }
    add(arg, "Access-Control-Allow-Origin", origin);
    if (self->credentials) {
        add(arg, "Access-Control-Allow-Credentials", "true");
    }
}

/* The answer depends on Origin unless every origin gets "*". */
static void
s_vary(const yard_gw_cors_t *self, yard_gw_header_fn *add, void *arg)
{
    if (!self->origins.any || self->credentials) {
        add(arg, "Vary", "Origin");
    }
}

void
yard_gw_cors_apply(const yard_gw_cors_t *self, const char *origin, yard_gw_header_fn *add,
                   void *arg)
{
    if (self == NULL || origin == NULL) {
        return;
    }
    s_vary(self, add, arg);
    if (!s_origin_allowed(self, origin)) {
        return;
    }
    s_allow_origin(self, origin, add, arg);
    add(arg, "Access-Control-Expose-Headers", s_expose);
}

/* True when every name of the comma-separated list is an allowed header. */
static bool
s_headers_allowed(const yard_gw_cors_t *self, const char *list)
{
    if (list == NULL || self->headers.any) {
        return true;
    }
    const char *p = list;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        const char *start = p;
        while (*p != '\0' && *p != ',') {
            p++;
        }
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if (end > start && !s_list_has(&self->headers, start, (size_t)(end - start))) {
            return false;
        }
    }
    return true;
}

bool
yard_gw_cors_preflight(const yard_gw_cors_t *self, const char *origin, const char *request_method,
                       const char *request_headers, yard_gw_header_fn *add, void *arg)
{
    if (self == NULL || origin == NULL || request_method == NULL) {
        return false;
    }
    s_vary(self, add, arg);
    if (!s_origin_allowed(self, origin) ||
        (!self->methods.any &&
         !s_list_has(&self->methods, request_method, strlen(request_method))) ||
        !s_headers_allowed(self, request_headers)) {
        return false;
    }
    s_allow_origin(self, origin, add, arg);
    add(arg, "Access-Control-Allow-Methods",
        self->methods.any ? request_method : self->methods.joined);
    if (self->headers.any) {
        if (request_headers != NULL && request_headers[0] != '\0') {
            add(arg, "Access-Control-Allow-Headers", request_headers);
        }
    } else {
        add(arg, "Access-Control-Allow-Headers", self->headers.joined);
    }
    add(arg, "Access-Control-Max-Age", self->max_age);
    return true;
}
