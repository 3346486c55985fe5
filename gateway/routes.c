/* The route table: compiles each route's path pattern once, at load, into segments (literal
 * text or a {name} parameter), so that matching a request walks the path and the segments
 * side by side without allocating or copying anything but the resolved service name into the
 * caller's match. Config errors name the file and line of the offending key or item.
 *
 * Invariant: every route in a table has a valid pattern (starts with '/', balanced braces,
 * unique parameter names, at most YARD_GW_PARAMS_MAX of them), a valid method, a literal
 * service that is a valid service name or a "{param}" its pattern defines (then with a
 * non-empty allow-list of valid names, none starting with '$'), a non-NULL,
 * NULL-terminated scopes array, and at most YARD_GW_PASS_MAX pass headers, each a lower-case
 * HTTP token that is no credential (Authorization, Cookie), no always-forwarded header and
 * not listed twice. */
#include "xalloc.h"
#include "routes.h"

#include "yard/assert.h"
#include "yard/error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_SERVICE_MAX     255
#define S_DEFAULT         SIZE_MAX /* the route index s_err names as gateway.default_route */
#define S_DEFAULT_PATTERN "/v1/{service}"

typedef struct {
    const char *text; /* literal text or parameter name; NUL-terminated, in the route's segbuf */
    size_t len;
    bool param;
    char *key; /* parameters: "http.param.<name>", the bus header it travels as (owned) */
} s_seg_t;

typedef struct {
    yard_gw_route_t pub;
    char *segbuf; /* a copy of the pattern whose '/', '{' and '}' became NULs */
    s_seg_t *segs;
    size_t nsegs;
    int service_param; /* index in segs of the parameter that names the service; -1: literal */
    char **scopes;     /* owned; NULL-terminated (pub.scopes points here) */
    char **services;   /* owned allow-list, NULL-terminated, or NULL (pub.services) */
    bool is_default;   /* the default route: never takes a configured route's path */
    yard_gw_pass_t pass[YARD_GW_PASS_MAX]; /* pass_headers; name and key owned */
    size_t npass;
} s_route_t;

struct yard_gw_routes {
    s_route_t *routes;
    size_t count;
};

/* The route methods and their bits; the Allow header lists them in this order. */
static const struct {
    const char *name;
    unsigned bit;
} s_methods[] = {
    {"GET", YARD_GW_M_GET},     {"POST", YARD_GW_M_POST},     {"PUT", YARD_GW_M_PUT},
    {"PATCH", YARD_GW_M_PATCH}, {"DELETE", YARD_GW_M_DELETE}, {"*", YARD_GW_M_ANY},
};
#define S_NMETHODS (sizeof s_methods / sizeof s_methods[0])

static const char *const s_route_keys[] = {"method",   "path",         "service", "op",
                                           "timeout",  "body_limit",   "auth",    "scopes",
                                           "services", "pass_headers", NULL};
/* What the default route takes: its path and service are fixed. */
static const char *const s_default_keys[] = {"method", "timeout",  "body_limit",   "auth",
                                             "scopes", "services", "pass_headers", NULL};

const yard_gw_pass_t yard_gw_pass_always[YARD_GW_PASS_ALWAYS] = {
    {"content-type", "http.header.content-type"},
    {"accept", "http.header.accept"},
    {"user-agent", "http.header.user-agent"},
    {"x-forwarded-for", "http.header.x-forwarded-for"},
    {"origin", "http.header.origin"},
};

/* Credentials a route never forwards: the gateway's auth step checks the caller (auth:
 * bearer), and a service that saw these could act as the caller anywhere. */
static const char *const s_pass_refused[] = {"authorization", "proxy-authorization", "cookie",
                                             NULL};

static char *
s_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL) {
        abort();
    }
    return copy;
}

/* Where a route is in the config: "gateway.routes[i]", or "gateway.default_route". */
static void
s_where(size_t i, char *buf, size_t len)
{
    if (i == S_DEFAULT) {
        snprintf(buf, len, "gateway.default_route");
    } else {
        snprintf(buf, len, "gateway.routes[%zu]", i);
    }
}

/* "path:line: gateway.routes[i].key: reason" into errbuf. */
static int s_err(char *errbuf, size_t errlen, yard_config_node_t at, size_t i, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
s_err(char *errbuf, size_t errlen, yard_config_node_t at, size_t i, const char *key,
      const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0) {
        return YARD_E_CONFIG;
    }
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    char where[48];
    s_where(i, where, sizeof where);
    snprintf(errbuf, errlen, "%s:%d: %s%s%s: %s", yard_config_path(at.cfg),
             yard_config_node_line(at), where, key != NULL ? "." : "", key != NULL ? key : "", why);
    return YARD_E_CONFIG;
}

/* Service names as the bus takes them: non-empty, at most 255 bytes, printable ASCII with no
 * space. */
static bool
s_service_valid(const char *s, size_t len)
{
    if (len == 0 || len > S_SERVICE_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

static bool
s_name_valid(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Compiling a pattern */

/* prefix + name, built once here so that a request passes its parameters and headers to the
 * bus without formatting ("http.param.<name>", "http.header.<name>"). */
static char *
s_key(const char *prefix, const char *name)
{
    size_t p = strlen(prefix), n = strlen(name);
    char *key = malloc(p + n + 1);
    if (key == NULL) {
        abort();
    }
    memcpy(key, prefix, p);
    memcpy(key + p, name, n + 1);
    return key;
}

/* Splits r->pub.name into segments. Returns NULL, or the reason it is not a valid pattern
 * (static text or written into why). */
static const char *
s_compile(s_route_t *r, char *why, size_t whylen)
{
    const char *pattern = r->pub.name;
    if (pattern[0] != '/') {
        return "the path must start with '/'";
    }
    r->segbuf = s_strdup(pattern + 1);
    size_t n = 1;
    for (const char *c = r->segbuf; *c != '\0'; c++) {
        n += *c == '/';
    }
    r->segs = gw_xcalloc(n, sizeof *r->segs);
    size_t nparams = 0;
    char *seg = r->segbuf;
    for (size_t i = 0; i < n; i++) {
        char *slash = strchr(seg, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        size_t len = strlen(seg);
        s_seg_t *s = &r->segs[r->nsegs++];
        bool open = len > 0 && seg[0] == '{';
        if (open && seg[len - 1] == '}' && s_name_valid(seg + 1, len - 2)) {
            seg[len - 1] = '\0';
            *s = (s_seg_t){seg + 1, len - 2, true, s_key("http.param.", seg + 1)};
            for (size_t j = 0; j + 1 < r->nsegs; j++) {
                if (r->segs[j].param && strcmp(r->segs[j].text, s->text) == 0) {
                    snprintf(why, whylen, "duplicate parameter name '{%s}'", s->text);
                    return why;
                }
            }
            if (++nparams > YARD_GW_PARAMS_MAX) {
                snprintf(why, whylen, "more than %d parameters", YARD_GW_PARAMS_MAX);
                return why;
            }
        } else if (open || strchr(seg, '{') != NULL || strchr(seg, '}') != NULL) {
            snprintf(why, whylen,
                     "unbalanced braces or bad parameter in '%s' (a parameter is a whole "
                     "segment, {name} with letters, digits and '_')",
                     pattern);
            return why;
        } else {
            *s = (s_seg_t){seg, len, false, NULL};
        }
        seg = slash != NULL ? slash + 1 : seg + len;
    }
    return NULL;
}

/* The index of parameter name in r's segments, or -1. */
static int
s_param_index(const s_route_t *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->nsegs; i++) {
        if (r->segs[i].param && r->segs[i].len == len && memcmp(r->segs[i].text, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Sets r's service from text: a literal service name, or "{param}" of its pattern. */
static const char *
s_set_service(s_route_t *r, const char *text, char *why, size_t whylen)
{
    size_t len = strlen(text);
    r->pub.service = s_strdup(text);
    r->service_param = -1;
    if (len >= 2 && text[0] == '{' && text[len - 1] == '}') {
        r->service_param = s_param_index(r, text + 1, len - 2);
        if (r->service_param < 0) {
            snprintf(why, whylen, "'%s' is not a parameter of the path", text);
            return why;
        }
        return NULL;
    }
    if (!s_service_valid(text, len)) {
        snprintf(why, whylen,
                 "'%s' is not a valid service name (1 to 255 printable characters, no spaces)",
                 text);
        return why;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading one route from the config */

static char **
s_no_scopes(void)
{
    return gw_xcalloc(1, sizeof(char *));
}

static bool
s_known_key(const char *const *keys, const char *key)
{
    for (size_t i = 0; keys[i] != NULL; i++) {
        if (strcmp(key, keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The scalar text of node, or NULL after writing an error (a list, a map or nothing). */
static const char *
s_scalar(yard_config_node_t node, size_t i, const char *key, char *errbuf, size_t errlen)
{
    const char *text = yard_config_node_text(node);
    if (yard_config_node_kind(node) != YARD_CONFIG_SCALAR || text == NULL) {
        s_err(errbuf, errlen, node, i, key, "expected a single value");
        return NULL;
    }
    return text;
}

static int
s_read_method(s_route_t *r, yard_config_node_t node, size_t i, char *errbuf, size_t errlen)
{
    const char *text = s_scalar(node, i, "method", errbuf, errlen);
    if (text == NULL) {
        return YARD_E_CONFIG;
    }
    for (size_t m = 0; m < S_NMETHODS; m++) {
        if (strcasecmp(text, s_methods[m].name) == 0) {
            r->pub.method = s_methods[m].name;
            r->pub.methods = s_methods[m].bit;
            return 0;
        }
    }
    if (strcasecmp(text, "HEAD") == 0 || strcasecmp(text, "OPTIONS") == 0) {
        return s_err(errbuf, errlen, node, i, "method",
                     "'%s' is not a route method (HEAD is served by the path's GET route, "
                     "OPTIONS by the gateway itself)",
                     text);
    }
    return s_err(errbuf, errlen, node, i, "method",
                 "invalid method '%s' (expected GET, POST, PUT, PATCH, DELETE or *)", text);
}

static int
s_read_scopes(s_route_t *r, yard_config_node_t node, size_t i, char *errbuf, size_t errlen)
{
    if (yard_config_node_kind(node) != YARD_CONFIG_LIST) {
        return s_err(errbuf, errlen, node, i, "scopes", "expected a list of scope names");
    }
    size_t n = yard_config_node_len(node);
    free(r->scopes);
    r->scopes = gw_xcalloc(n + 1, sizeof(char *));
    for (size_t k = 0; k < n; k++) {
        yard_config_node_t item = yard_config_node_item(node, k);
        const char *text = yard_config_node_text(item);
        if (yard_config_node_kind(item) != YARD_CONFIG_SCALAR || text == NULL || *text == '\0') {
            return s_err(errbuf, errlen, item, i, "scopes",
                         "expected a list of scope names (item %zu is not one)", k);
        }
        r->scopes[k] = s_strdup(text);
    }
    return 0;
}

/* The allow-list of a route whose service comes from the path: service names by name (no
 * "*", none of the broker's own '$' services). */
static int
s_read_services(s_route_t *r, yard_config_node_t node, size_t i, char *errbuf, size_t errlen)
{
    size_t n = yard_config_node_len(node);
    if (yard_config_node_kind(node) != YARD_CONFIG_LIST || n == 0) {
        return s_err(errbuf, errlen, node, i, "services",
                     "expected a non-empty list of service names (the services this route "
                     "reaches)");
    }
    r->services = gw_xcalloc(n + 1, sizeof(char *));
    for (size_t k = 0; k < n; k++) {
        yard_config_node_t item = yard_config_node_item(node, k);
        const char *text = yard_config_node_text(item);
        if (yard_config_node_kind(item) != YARD_CONFIG_SCALAR || text == NULL ||
            !s_service_valid(text, strlen(text)) || text[0] == '$' || strcmp(text, "*") == 0) {
            return s_err(errbuf, errlen, item, i, "services",
                         "item %zu is not a service name (name each service; no '*', no "
                         "'$' services)",
                         k);
        }
        r->services[k] = s_strdup(text);
    }
    return 0;
}

/* An HTTP field name is a token (RFC 9110, 5.1 and 5.6.2): letters, digits and
 * !#$%&'*+-.^_`|~, here at most YARD_GW_PASS_NAME_MAX bytes. */
static bool
s_header_name_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > YARD_GW_PASS_NAME_MAX) {
        return false;
    }
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                     "!#$%&'*+-.^_`|~") == len;
}

/* Why a lower-case header name cannot be one of r's pass_headers, or NULL. */
static const char *
s_pass_refusal(const s_route_t *r, const char *name)
{
    for (size_t k = 0; s_pass_refused[k] != NULL; k++) {
        if (strcmp(name, s_pass_refused[k]) == 0) {
            return "is never forwarded: credentials are the gateway's auth step's (auth: "
                   "bearer), and every service on the route would get the caller's login";
        }
    }
    for (size_t k = 0; k < YARD_GW_PASS_ALWAYS; k++) {
        if (strcmp(name, yard_gw_pass_always[k].name) == 0) {
            return "is forwarded on every route already";
        }
    }
    for (size_t k = 0; k < r->npass; k++) {
        if (strcmp(name, r->pass[k].name) == 0) {
            return "is listed twice";
        }
    }
    return NULL;
}

/* pass_headers: the extra request headers the route forwards, kept lower-case with the bus
 * header each travels as ("http.header.<name>"), built once here. */
static int
s_read_pass(s_route_t *r, yard_config_node_t node, size_t i, char *errbuf, size_t errlen)
{
    size_t n = yard_config_node_len(node);
    if (yard_config_node_kind(node) != YARD_CONFIG_LIST) {
        return s_err(errbuf, errlen, node, i, "pass_headers",
                     "expected a list of request header names");
    }
    if (n > YARD_GW_PASS_MAX) {
        return s_err(errbuf, errlen, node, i, "pass_headers", "%zu headers; at most %d", n,
                     YARD_GW_PASS_MAX);
    }
    for (size_t k = 0; k < n; k++) {
        yard_config_node_t item = yard_config_node_item(node, k);
        const char *text = yard_config_node_text(item);
        if (yard_config_node_kind(item) != YARD_CONFIG_SCALAR || text == NULL ||
            !s_header_name_valid(text)) {
            return s_err(errbuf, errlen, item, i, "pass_headers",
                         "item %zu is not a header name (1 to %d letters, digits and "
                         "!#$%%&'*+-.^_`|~)",
                         k, YARD_GW_PASS_NAME_MAX);
        }
        char lower[YARD_GW_PASS_NAME_MAX + 1];
        size_t len = strlen(text);
        for (size_t c = 0; c <= len; c++) {
            lower[c] = (char)tolower((unsigned char)text[c]);
        }
        const char *refused = s_pass_refusal(r, lower);
        if (refused != NULL) {
            return s_err(errbuf, errlen, item, i, "pass_headers", "'%s' %s", text, refused);
        }
        r->pass[r->npass++] = (yard_gw_pass_t){s_strdup(lower), s_key("http.header.", lower)};
    }
    return 0;
}

/* One typed field (timeout, body_limit) through the options' own parser. */
static int
s_read_typed(yard_opt_type_t type, void *out, yard_config_node_t node, size_t i, const char *key,
             char *errbuf, size_t errlen)
{
    const char *text = s_scalar(node, i, key, errbuf, errlen);
    if (text == NULL) {
        return YARD_E_CONFIG;
    }
    char why[200];
    if (yard_option_parse(type, text, out, why, sizeof why) != 0) {
        return s_err(errbuf, errlen, node, i, key, "%s", why);
    }
    return 0;
}

static int
s_read_auth(s_route_t *r, yard_config_node_t node, size_t i, char *errbuf, size_t errlen)
{
    const char *text = s_scalar(node, i, "auth", errbuf, errlen);
    if (text == NULL) {
        return YARD_E_CONFIG;
    }
    if (strcmp(text, "none") == 0) {
        r->pub.auth = YARD_GW_AUTH_NONE;
    } else if (strcmp(text, "bearer") == 0) {
        r->pub.auth = YARD_GW_AUTH_BEARER;
    } else {
        return s_err(errbuf, errlen, node, i, "auth", "invalid auth '%s' (expected none or bearer)",
                     text);
    }
    return 0;
}

/* Reads one field of a route map. */
static int
s_read_field(s_route_t *r, const char *key, yard_config_node_t value, size_t i, char *errbuf,
             size_t errlen)
{
    if (strcmp(key, "method") == 0) {
        return s_read_method(r, value, i, errbuf, errlen);
    }
    if (strcmp(key, "op") == 0) {
        const char *text = s_scalar(value, i, key, errbuf, errlen);
        if (text == NULL) {
            return YARD_E_CONFIG;
        }
        r->pub.op = s_strdup(text);
        return 0;
    }
    if (strcmp(key, "timeout") == 0) {
        int rc = s_read_typed(YARD_OPT_MS, &r->pub.timeout_ms, value, i, key, errbuf, errlen);
        if (rc == 0 && r->pub.timeout_ms == 0) {
            return s_err(errbuf, errlen, value, i, key, "must be more than 0");
        }
        return rc;
    }
    if (strcmp(key, "body_limit") == 0) {
        return s_read_typed(YARD_OPT_SIZE, &r->pub.body_limit, value, i, key, errbuf, errlen);
    }
    if (strcmp(key, "auth") == 0) {
        return s_read_auth(r, value, i, errbuf, errlen);
    }
    if (strcmp(key, "scopes") == 0) {
        return s_read_scopes(r, value, i, errbuf, errlen);
    }
    if (strcmp(key, "services") == 0) {
        return s_read_services(r, value, i, errbuf, errlen);
    }
    if (strcmp(key, "pass_headers") == 0) {
        return s_read_pass(r, value, i, errbuf, errlen);
    }
    return 0; /* path and service are read first, by s_read_route */
}

/* Reads the required path and service. */
static int
s_read_target(s_route_t *r, yard_config_node_t map, size_t i, char *errbuf, size_t errlen)
{
    char why[256];
    yard_config_node_t path = yard_config_node_get(map, "path");
    if (yard_config_node_kind(path) == YARD_CONFIG_ABSENT) {
        return s_err(errbuf, errlen, map, i, NULL, "missing 'path'");
    }
    const char *text = s_scalar(path, i, "path", errbuf, errlen);
    if (text == NULL) {
        return YARD_E_CONFIG;
    }
    r->pub.name = s_strdup(text);
    const char *bad = s_compile(r, why, sizeof why);
    if (bad != NULL) {
        return s_err(errbuf, errlen, path, i, "path", "%s", bad);
    }
    yard_config_node_t service = yard_config_node_get(map, "service");
    if (yard_config_node_kind(service) == YARD_CONFIG_ABSENT) {
        return s_err(errbuf, errlen, map, i, NULL, "missing 'service'");
    }
    text = s_scalar(service, i, "service", errbuf, errlen);
    if (text == NULL) {
        return YARD_E_CONFIG;
    }
    bad = s_set_service(r, text, why, sizeof why);
    return bad != NULL ? s_err(errbuf, errlen, service, i, "service", "%s", bad) : 0;
}

/* Every key of map is one of keys (else an error listing them). */
static int
s_check_keys(yard_config_node_t map, const char *const *keys, size_t i, char *errbuf, size_t errlen)
{
    for (size_t k = 0; k < yard_config_node_len(map); k++) {
        int line;
        const char *key = yard_config_node_key(map, k, NULL, &line);
        if (key != NULL && !s_known_key(keys, key)) {
            char where[48], list[160] = "";
            s_where(i, where, sizeof where);
            for (size_t j = 0; keys[j] != NULL; j++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", keys[j]);
            }
            snprintf(errbuf, errlen, "%s:%d: %s: unknown key '%s' (expected %s)",
                     yard_config_path(map.cfg), line, where, key, list);
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

/* The fields after path and service, and the checks across them. */
static int
s_read_rest(s_route_t *r, yard_config_node_t map, size_t i, char *errbuf, size_t errlen)
{
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < yard_config_node_len(map); k++) {
        yard_config_node_t value;
        const char *key = yard_config_node_key(map, k, &value, NULL);
        rc = s_read_field(r, key, value, i, errbuf, errlen);
    }
    if (rc == 0 && r->scopes[0] != NULL && r->pub.auth != YARD_GW_AUTH_BEARER) {
        rc = s_err(errbuf, errlen, yard_config_node_get(map, "scopes"), i, "scopes",
                   "scopes need auth: bearer");
    }
    if (rc == 0 && r->service_param >= 0 && r->services == NULL) {
        rc = s_err(errbuf, errlen, map, i, NULL,
                   "missing 'services' (a route whose service comes from the path reaches "
                   "only the services it lists)");
    }
    if (rc == 0 && r->service_param < 0 && r->services != NULL) {
        rc = s_err(errbuf, errlen, yard_config_node_get(map, "services"), i, "services",
                   "only a route whose service is a {parameter} takes a services list");
    }
    return rc;
}

static int
s_read_route(s_route_t *r, yard_config_node_t map, size_t i, char *errbuf, size_t errlen)
{
    if (yard_config_node_kind(map) != YARD_CONFIG_MAP) {
        return s_err(errbuf, errlen, map, i, NULL,
                     "expected a map (method, path, service, op, ...)");
    }
    int rc = s_check_keys(map, s_route_keys, i, errbuf, errlen);
    rc = rc != 0 ? rc : s_read_target(r, map, i, errbuf, errlen);
    return rc != 0 ? rc : s_read_rest(r, map, i, errbuf, errlen);
}

/* ---------------------------------------------------------------------------------------- */
/* The table */

static void
s_route_init(s_route_t *r, uint32_t timeout_ms, uint64_t body_limit)
{
    memset(r, 0, sizeof *r);
    r->pub.method = "*";
    r->pub.methods = YARD_GW_M_ANY;
    r->pub.timeout_ms = timeout_ms;
    r->pub.body_limit = body_limit;
    r->pub.auth = YARD_GW_AUTH_NONE;
    r->scopes = s_no_scopes();
    r->service_param = -1;
}

static void
s_route_free(s_route_t *r)
{
    free((char *)r->pub.name);
    free((char *)r->pub.service);
    free((char *)r->pub.op);
    for (size_t k = 0; r->scopes != NULL && r->scopes[k] != NULL; k++) {
        free(r->scopes[k]);
    }
    free(r->scopes);
    for (size_t k = 0; r->services != NULL && r->services[k] != NULL; k++) {
        free(r->services[k]);
    }
    free(r->services);
    for (size_t k = 0; k < r->npass; k++) {
        free((char *)r->pass[k].name);
        free((char *)r->pass[k].key);
    }
    for (size_t i = 0; i < r->nsegs; i++) {
        free(r->segs[i].key);
    }
    free(r->segbuf);
    free(r->segs);
}

/* The default route, when gateway.default_route is a map: /v1/{service} to the services its
 * allow-list names, with the route settings it gives. false, null or no key: off. true is an
 * error rather than "every service": it once meant that, and a config written for it must not
 * silently expose less (or more) than its author thinks. */
static int
s_read_default(yard_gw_routes_t *self, const yard_config_t *cfg, uint32_t timeout_ms,
               uint64_t body_limit, char *errbuf, size_t errlen)
{
    yard_config_node_t node = yard_config_node(cfg, "gateway.default_route");
    yard_config_kind_t kind = yard_config_node_kind(node);
    const char *text = yard_config_node_text(node);
    if (kind == YARD_CONFIG_ABSENT || kind == YARD_CONFIG_NULL ||
        (kind == YARD_CONFIG_SCALAR && text != NULL &&
         (strcasecmp(text, "false") == 0 || strcasecmp(text, "off") == 0 ||
          strcasecmp(text, "no") == 0))) {
        return 0;
    }
    if (kind != YARD_CONFIG_MAP) {
        return s_err(errbuf, errlen, node, S_DEFAULT, NULL,
                     "expected a map with 'services' (the services /v1/{service} reaches), or "
                     "false; the default route no longer serves every service");
    }
    s_route_t *r = &self->routes[self->count++];
    s_route_init(r, timeout_ms, body_limit);
    r->is_default = true;
    r->pub.name = s_strdup(S_DEFAULT_PATTERN);
    char why[64];
    if (s_compile(r, why, sizeof why) != NULL || s_set_service(r, "{service}", why, sizeof why)) {
        abort(); /* a constant pattern: cannot fail */
    }
    int rc = s_check_keys(node, s_default_keys, S_DEFAULT, errbuf, errlen);
    return rc != 0 ? rc : s_read_rest(r, node, S_DEFAULT, errbuf, errlen);
}

/* The status page: GET /status to service health, op page, without auth, unless
 * gateway.status_page is false. It comes after the configured routes (and the default route),
 * never taking a path a configured route has, so a deployment can route /status elsewhere.
 * The health actor's page shows check names and states only (actors/health/README.md); a bus
 * without a health actor answers 503 NO_SERVICE there. */
static int
s_read_status(yard_gw_routes_t *self, const yard_config_t *cfg, uint32_t timeout_ms,
              uint64_t body_limit, char *errbuf, size_t errlen)
{
    yard_config_node_t node = yard_config_node(cfg, "gateway.status_page");
    yard_config_kind_t kind = yard_config_node_kind(node);
    const char *text = yard_config_node_text(node);
    bool on = kind == YARD_CONFIG_ABSENT || kind == YARD_CONFIG_NULL;
    bool off = false;
    if (kind == YARD_CONFIG_SCALAR && text != NULL) {
        on = strcasecmp(text, "true") == 0 || strcasecmp(text, "on") == 0 ||
             strcasecmp(text, "yes") == 0;
        off = strcasecmp(text, "false") == 0 || strcasecmp(text, "off") == 0 ||
              strcasecmp(text, "no") == 0;
    }
    if (!on && !off) {
        snprintf(errbuf, errlen, "%s:%d: gateway.status_page: expected true or false",
                 yard_config_path(cfg), yard_config_node_line(node));
        return YARD_E_CONFIG;
    }
    if (off) {
        return 0;
    }
    s_route_t *r = &self->routes[self->count++];
    s_route_init(r, timeout_ms, body_limit);
    r->is_default = true;
    r->pub.name = s_strdup("/status");
    r->pub.method = "GET";
    r->pub.methods = YARD_GW_M_GET;
    r->pub.op = s_strdup("page");
    char why[64];
    if (s_compile(r, why, sizeof why) != NULL || s_set_service(r, "health", why, sizeof why)) {
        abort(); /* constants: cannot fail */
    }
    return 0;
}

/* The route's steps, from its settings: the auth step first when it has one. */
static void
s_set_steps(yard_gw_route_t *route)
{
    route->nsteps = 0;
    if (route->auth == YARD_GW_AUTH_BEARER) {
        route->steps[route->nsteps++] = YARD_GW_STEP_VERIFY;
    }
    route->steps[route->nsteps++] = YARD_GW_STEP_CALL;
}

bool
yard_gw_route_has_step(const yard_gw_route_t *route, yard_gw_step_t step)
{
    for (size_t i = 0; route && i < route->nsteps; i++) {
        if (route->steps[i] == step) {
            return true;
        }
    }
    return false;
}

int
yard_gw_routes_new(const yard_config_t *cfg, uint32_t timeout_ms, uint64_t body_limit,
                   yard_gw_routes_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    yard_config_node_t list = yard_config_node(cfg, "gateway.routes");
    yard_config_kind_t kind = yard_config_node_kind(list);
    if (kind != YARD_CONFIG_ABSENT && kind != YARD_CONFIG_NULL && kind != YARD_CONFIG_LIST) {
        snprintf(errbuf, errlen, "%s:%d: gateway.routes: expected a list of routes",
                 yard_config_path(cfg), yard_config_node_line(list));
        return YARD_E_CONFIG;
    }
    size_t n = yard_config_node_len(list);
    yard_gw_routes_t *self = gw_xcalloc(1, sizeof *self);
    self->routes = gw_xcalloc(n + 2, sizeof *self->routes); /* + default route, status page */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        s_route_t *r = &self->routes[self->count++];
        s_route_init(r, timeout_ms, body_limit);
        rc = s_read_route(r, yard_config_node_item(list, i), i, errbuf, errlen);
    }
    if (rc == 0) {
        rc = s_read_default(self, cfg, timeout_ms, body_limit, errbuf, errlen);
    }
    if (rc == 0) {
        rc = s_read_status(self, cfg, timeout_ms, body_limit, errbuf, errlen);
    }
    for (size_t i = 0; i < self->count; i++) {
        s_route_t *r = &self->routes[i];
        r->pub.scopes = (const char *const *)r->scopes;
        r->pub.services = (const char *const *)r->services;
        r->pub.pass = r->pass;
        r->pub.npass = r->npass;
        s_set_steps(&r->pub);
    }
    if (rc != 0) {
        yard_gw_routes_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void
yard_gw_routes_destroy(yard_gw_routes_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    yard_gw_routes_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        s_route_free(&self->routes[i]);
    }
    free(self->routes);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Matching: no allocation; parameters point into path. */

/* Matches path against r's segments, filling m's params. */
static bool
s_match_path(const s_route_t *r, const char *path, yard_gw_match_t *m)
{
    if (path[0] != '/') {
        return false;
    }
    const char *p = path + 1;
    m->nparams = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        const char *end = strchr(p, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const s_seg_t *s = &r->segs[i];
        if (s->param) {
            if (len == 0) {
                return false;
            }
            m->params[m->nparams++] = (yard_gw_param_t){s->text, s->key, p, len};
        } else if (len != s->len || memcmp(p, s->text, len) != 0) {
            return false;
        }
        if (i + 1 < r->nsegs) {
            if (end == NULL) {
                return false;
            }
            p = end + 1;
        } else if (end != NULL) {
            return false; /* the path has more segments */
        }
    }
    return true;
}

static bool
s_listed(const char *const *list, const char *name, size_t len)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Resolves the service into m; false when a parameter does not make a valid name or names a
 * service the route's allow-list does not (a '$' name, the broker's own, is never listed). */
static bool
s_resolve(const s_route_t *r, yard_gw_match_t *m)
{
    const char *name = r->pub.service;
    size_t len = strlen(name);
    if (r->service_param >= 0) {
        const char *pname = r->segs[r->service_param].text;
        for (size_t i = 0; i < m->nparams; i++) {
            if (strcmp(m->params[i].name, pname) == 0) {
                name = m->params[i].value;
                len = m->params[i].value_len;
            }
        }
        if (!s_service_valid(name, len) || name[0] == '$' ||
            !s_listed(r->pub.services, name, len)) {
            return false;
        }
    }
    memcpy(m->service_buf, name, len);
    m->service_buf[len] = '\0';
    m->service = m->service_buf;
    return true;
}

unsigned
yard_gw_method_bit(const char *method)
{
    if (method == NULL) {
        return 0;
    }
    if (strcmp(method, "HEAD") == 0) {
        return YARD_GW_M_GET;
    }
    for (size_t i = 0; i + 1 < S_NMETHODS; i++) { /* not "*": no request has that method */
        if (strcmp(method, s_methods[i].name) == 0) {
            return s_methods[i].bit;
        }
    }
    return 0;
}

const char *
yard_gw_allow_text(unsigned allow, char *buf, size_t len)
{
    /* The longest, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", is 44 bytes: a shorter
     * buffer is the caller's bug, not the client's. */
    YARD_ASSERT(len >= YARD_GW_ALLOW_MAX);
    buf[0] = '\0';
    for (size_t i = 0; i + 1 < S_NMETHODS; i++) {
        if (allow & s_methods[i].bit) {
            strcat(buf, s_methods[i].bit == YARD_GW_M_GET ? "GET, HEAD, " : s_methods[i].name);
            strcat(buf, s_methods[i].bit == YARD_GW_M_GET ? "" : ", ");
        }
    }
    strcat(buf, "OPTIONS");
    return buf;
}

const yard_gw_route_t *
yard_gw_routes_match(const yard_gw_routes_t *self, const char *method, const char *path,
                     yard_gw_match_t *m)
{
    m->nparams = 0;
    m->service = NULL;
    m->service_buf[0] = '\0';
    m->method_not_allowed = false;
    m->allow = 0;
    if (method == NULL || path == NULL) {
        return NULL;
    }
    unsigned bit = yard_gw_method_bit(method);
    for (size_t i = 0; i < self->count; i++) {
        const s_route_t *r = &self->routes[i];
        if (r->is_default && m->allow != 0) {
            break; /* a configured route has this path: it is theirs, with any method */
        }
        if (!s_match_path(r, path, m) || !s_resolve(r, m)) {
            continue;
        }
        if ((r->pub.methods & bit) == 0) {
            m->allow |= r->pub.methods;
            continue;
        }
        m->allow |= r->pub.methods;
        return &r->pub;
    }
    m->method_not_allowed = m->allow != 0;
    m->nparams = 0;
    m->service = NULL;
    return NULL;
}
