/* The checks from the config file: `health: {checks: [...]}`. Each item is a map with a name
 * and exactly one of http, bus or tcp; every key is checked here, and a bad one stops the
 * actor with the file, the line and the key (a monitor that quietly skips a check is worse
 * than one that does not start). */
#include "health_internal.h"

#include "yard/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_keys[] = {
    "name",          "http",     "bus",         "tcp",       "op",           "every", "timeout",
    "expect_status", "contains", "max_latency", "cert_days", "min_replicas", NULL};

const char *
hc_kind_name(hc_kind_t kind)
{
    return kind == HC_HTTP ? "http" : kind == HC_BUS ? "bus" : "tcp";
}

const char *
hc_state_name(hc_state_t state)
{
    return state == HC_UP ? "up" : state == HC_DOWN ? "down" : "unknown";
}

static int
s_err(char *err, size_t errlen, const yard_config_t *cfg, yard_config_node_t at, const char *fmt,
      ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%d: %s", yard_config_path(cfg) ? yard_config_path(cfg) : "config",
             yard_config_node_line(at), why);
    return YARD_E_CONFIG;
}

static bool
s_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HC_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* A scalar's text, or NULL (an error written) when the node is not one or is too long. */
static const char *
s_text(const yard_config_t *cfg, yard_config_node_t v, const char *key, size_t max, char *err,
       size_t errlen, int *rc)
{
    const char *t = yard_config_node_text(v);
    if (yard_config_node_kind(v) != YARD_CONFIG_SCALAR || !t || !t[0]) {
        *rc = s_err(err, errlen, cfg, v, "health.checks: %s must be a non-empty text", key);
        return NULL;
    }
    if (strlen(t) > max) {
        *rc = s_err(err, errlen, cfg, v, "health.checks: %s is over %zu bytes", key, max);
        return NULL;
    }
    return t;
}

static int
s_ms(const yard_config_t *cfg, yard_config_node_t v, const char *key, uint32_t min, uint32_t max,
     uint32_t *out, char *err, size_t errlen)
{
    int rc = 0;
    const char *t = s_text(cfg, v, key, 64, err, errlen, &rc);
    if (!t) {
        return rc;
    }
    char why[128];
    if (yard_option_parse(YARD_OPT_MS, t, out, why, sizeof why) != 0) {
        return s_err(err, errlen, cfg, v, "health.checks: %s: %s", key, why);
    }
    if (*out < min || *out > max) {
        return s_err(err, errlen, cfg, v, "health.checks: %s must be within %u..%u ms", key, min,
                     max);
    }
    return 0;
}

static int
s_int(const yard_config_t *cfg, yard_config_node_t v, const char *key, int64_t min, int64_t max,
      int64_t *out, char *err, size_t errlen)
{
    int rc = 0;
    const char *t = s_text(cfg, v, key, 32, err, errlen, &rc);
    if (!t) {
        return rc;
    }
    char why[128];
    if (yard_option_parse(YARD_OPT_INT, t, out, why, sizeof why) != 0 || *out < min || *out > max) {
        return s_err(err, errlen, cfg, v, "health.checks: %s must be an integer in %lld..%lld", key,
                     (long long)min, (long long)max);
    }
    return 0;
}

static int
s_statuses(const yard_config_t *cfg, yard_config_node_t v, hc_check_t *c, char *err, size_t errlen)
{
    bool list = yard_config_node_kind(v) == YARD_CONFIG_LIST;
    size_t n = list ? yard_config_node_len(v) : 1;
    if (n == 0 || n > HC_STATUSES_MAX) {
        return s_err(err, errlen, cfg, v, "health.checks: expect_status takes 1..%d statuses",
                     HC_STATUSES_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        int64_t st = 0;
        int rc = s_int(cfg, list ? yard_config_node_item(v, i) : v, "expect_status", 100, 599, &st,
                       err, errlen);
        if (rc != 0) {
            return rc;
        }
        c->statuses[c->n_statuses++] = (int)st;
    }
    return 0;
}

static char *
s_dup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        abort();
    }
    return d;
}

/* The kind and target: exactly one of http, bus, tcp. */
static int
s_kind(const yard_config_t *cfg, yard_config_node_t item, hc_check_t *c, char *err, size_t errlen)
{
    static const char *const kinds[] = {"http", "bus", "tcp"};
    int found = -1;
    for (int k = 0; k < 3; k++) {
        yard_config_node_t v = yard_config_node_get(item, kinds[k]);
        if (yard_config_node_kind(v) == YARD_CONFIG_ABSENT) {
            continue;
        }
        if (found >= 0) {
            return s_err(err, errlen, cfg, v,
                         "health.checks: check '%s' has both %s and %s (one kind per check)",
                         c->name, kinds[found], kinds[k]);
        }
        found = k;
        int rc = 0;
        const char *t = s_text(cfg, v, kinds[k], HC_TARGET_MAX, err, errlen, &rc);
        if (!t) {
            return rc;
        }
        c->kind = (hc_kind_t)k;
        c->target = s_dup(t);
        if (k == HC_HTTP && strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0) {
            return s_err(err, errlen, cfg, v,
                         "health.checks: http must be an http:// or https:// URL");
        }
        char host[256], port[16];
        if (k == HC_TCP && hc_split_host_port(t, host, sizeof host, port, sizeof port) != 0) {
            return s_err(err, errlen, cfg, v,
                         "health.checks: tcp must be host:port (port 1..65535)");
        }
    }
    if (found < 0) {
        return s_err(
            err, errlen, cfg, item,
            "health.checks: check '%s' needs one of http: URL, bus: SERVICE, tcp: HOST:PORT",
            c->name);
    }
    return 0;
}

/* The options of one kind only, refused on another. */
static int
s_kind_keys(const yard_config_t *cfg, yard_config_node_t item, const hc_check_t *c, char *err,
            size_t errlen)
{
    static const struct {
        const char *key;
        hc_kind_t kind;
    } only[] = {{"expect_status", HC_HTTP},
                {"contains", HC_HTTP},
                {"cert_days", HC_HTTP},
                {"op", HC_BUS},
                {"min_replicas", HC_BUS}};
    for (size_t i = 0; i < sizeof only / sizeof only[0]; i++) {
        yard_config_node_t v = yard_config_node_get(item, only[i].key);
        if (yard_config_node_kind(v) != YARD_CONFIG_ABSENT && c->kind != only[i].kind) {
            return s_err(err, errlen, cfg, v, "health.checks: %s is for %s checks only",
                         only[i].key, hc_kind_name(only[i].kind));
        }
    }
    return 0;
}

static int
s_options(const yard_config_t *cfg, yard_config_node_t item, hc_check_t *c, char *err,
          size_t errlen)
{
    yard_config_node_t v;
    int rc = 0;
    c->every_ms = 30000;
    if (yard_config_node_kind(v = yard_config_node_get(item, "every")) != YARD_CONFIG_ABSENT) {
        rc = s_ms(cfg, v, "every", HC_EVERY_MIN_MS, HC_EVERY_MAX_MS, &c->every_ms, err, errlen);
    }
    c->timeout_ms = c->every_ms < 10000 ? c->every_ms : 10000;
    if (!rc &&
        yard_config_node_kind(v = yard_config_node_get(item, "timeout")) != YARD_CONFIG_ABSENT) {
        rc = s_ms(cfg, v, "timeout", 10, c->every_ms, &c->timeout_ms, err, errlen);
        if (rc) {
            snprintf(err + strlen(err), errlen - strlen(err), " (at most the check's every)");
        }
    }
    if (!rc && yard_config_node_kind(v = yard_config_node_get(item, "max_latency")) !=
                   YARD_CONFIG_ABSENT) {
        rc = s_ms(cfg, v, "max_latency", 1, c->timeout_ms, &c->max_latency_ms, err, errlen);
    }
    if (!rc && yard_config_node_kind(v = yard_config_node_get(item, "expect_status")) !=
                   YARD_CONFIG_ABSENT) {
        rc = s_statuses(cfg, v, c, err, errlen);
    }
    if (!rc &&
        yard_config_node_kind(v = yard_config_node_get(item, "contains")) != YARD_CONFIG_ABSENT) {
        const char *t = s_text(cfg, v, "contains", HC_CONTAINS_MAX, err, errlen, &rc);
        c->contains = t ? s_dup(t) : NULL;
    }
    if (!rc &&
        yard_config_node_kind(v = yard_config_node_get(item, "cert_days")) != YARD_CONFIG_ABSENT) {
        rc = s_int(cfg, v, "cert_days", 1, 3650, &c->cert_days, err, errlen);
        if (!rc && strncmp(c->target, "https://", 8) != 0) {
            rc = s_err(err, errlen, cfg, v, "health.checks: cert_days needs an https:// URL");
        }
    }
    if (!rc && yard_config_node_kind(v = yard_config_node_get(item, "op")) != YARD_CONFIG_ABSENT) {
        const char *t = s_text(cfg, v, "op", 255, err, errlen, &rc);
        c->op = t ? s_dup(t) : NULL;
    }
    if (!rc && yard_config_node_kind(v = yard_config_node_get(item, "min_replicas")) !=
                   YARD_CONFIG_ABSENT) {
        rc = s_int(cfg, v, "min_replicas", 1, 10000, &c->min_replicas, err, errlen);
    }
    return rc;
}

static int
s_check(const yard_config_t *cfg, yard_config_node_t item, hc_checks_t *out, char *err,
        size_t errlen)
{
    if (yard_config_node_kind(item) != YARD_CONFIG_MAP) {
        return s_err(err, errlen, cfg, item, "health.checks: each check must be a map");
    }
    for (size_t i = 0; i < yard_config_node_len(item); i++) {
        int line = 0;
        const char *k = yard_config_node_key(item, i, NULL, &line);
        bool known = false;
        for (size_t j = 0; s_keys[j] && !known; j++) {
            known = strcmp(s_keys[j], k) == 0;
        }
        if (!known) {
            snprintf(err, errlen, "%s:%d: health.checks: unknown key '%s'", yard_config_path(cfg),
                     line, k);
            return YARD_E_CONFIG;
        }
    }
    yard_config_node_t nv = yard_config_node_get(item, "name");
    const char *name = yard_config_node_text(nv);
    if (!name || !s_name_ok(name)) {
        return s_err(err, errlen, cfg, yard_config_node_kind(nv) ? nv : item,
                     "health.checks: name is required: 1..%d letters, digits, '_' or '-'",
                     HC_NAME_MAX);
    }
    for (size_t i = 0; i < out->n; i++) {
        if (strcmp(out->checks[i].name, name) == 0) {
            return s_err(err, errlen, cfg, nv, "health.checks: two checks are named '%s'", name);
        }
    }
    hc_check_t *c = &out->checks[out->n++];
    snprintf(c->name, sizeof c->name, "%s", name);
    int rc = s_kind(cfg, item, c, err, errlen);
    if (rc == 0) {
        rc = s_kind_keys(cfg, item, c, err, errlen);
    }
    return rc ? rc : s_options(cfg, item, c, err, errlen);
}

int
hc_checks_load(const yard_config_t *cfg, hc_checks_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    yard_config_node_t list = yard_config_node(cfg, "health.checks");
    yard_config_kind_t kind = yard_config_node_kind(list);
    if (kind == YARD_CONFIG_ABSENT || kind == YARD_CONFIG_NULL) {
        return 0;
    }
    if (kind != YARD_CONFIG_LIST) {
        return s_err(err, errlen, cfg, list, "health.checks must be a list of checks");
    }
    size_t n = yard_config_node_len(list);
    if (n > HC_CHECKS_MAX) {
        return s_err(err, errlen, cfg, list, "health.checks: %zu checks; at most %d", n,
                     HC_CHECKS_MAX);
    }
    out->checks = calloc(n ? n : 1, sizeof *out->checks);
    if (!out->checks) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        int rc = s_check(cfg, yard_config_node_item(list, i), out, err, errlen);
        if (rc != 0) {
            hc_checks_free(out);
            return rc;
        }
    }
    return 0;
}

void
hc_checks_free(hc_checks_t *c)
{
    for (size_t i = 0; c->checks && i < c->n; i++) {
        free(c->checks[i].target);
        free(c->checks[i].op);
        free(c->checks[i].contains);
    }
    free(c->checks);
    memset(c, 0, sizeof *c);
}
