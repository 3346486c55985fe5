/* Option values: parses the text of one value (duration, size, bool, integer, string,
 * choice) for an option of a table and stores it at the option's offset in the target.
 *
 * Invariant: nothing is written to the target unless the whole text parsed and passed the
 * option's range check; on failure the reason is written without its source, which the
 * caller adds. */
#include "alloc_internal.h"
#include "options_internal.h"
#include "yard/log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parses an unsigned decimal number at *p, advancing it. Returns false on no digits or
 * overflow. */
static bool
s_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static const char *
s_skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

/* The unit at *p ("ms", "s", "m", "h", "d", any case), advancing past it. Returns its
 * milliseconds, or 0 when *p holds no unit. "m" followed by "s" is milliseconds. */
static uint64_t
s_unit_ms(const char **p)
{
    const char *s = *p;
    char c = (char)tolower((unsigned char)s[0]);
    if (c == 'm' && tolower((unsigned char)s[1]) == 's') {
        *p = s + 2;
        return 1;
    }
    static const struct {
        char unit;
        uint64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (c == units[i].unit) {
            *p = s + 1;
            return units[i].ms;
        }
    }
    return 0;
}

/* "1500", "1500ms", "2s", "5m", "1h30m", "25d" -> milliseconds. A bare number is
 * milliseconds; compound forms add their parts, each part a number and a unit. */
static bool
s_parse_ms(const char *text, uint64_t *out, char *why, size_t whylen)
{
    static const char usage[] = "e.g. 1500, 1500ms, 30s, 5m, 1h30m, 25d";
    const char *p = s_skip_space(text);
    uint64_t total = 0;
    int parts = 0;
    for (;;) {
        uint64_t n;
        if (!s_digits(&p, &n)) {
            snprintf(why, whylen, "invalid duration '%s' (%s)", text, usage);
            return false;
        }
        p = s_skip_space(p);
        uint64_t mult = s_unit_ms(&p);
        if (mult == 0 && (parts > 0 || *s_skip_space(p) != '\0')) {
            snprintf(why, whylen, "invalid duration '%s' (units are ms, s, m, h, d; %s)", text,
                     usage);
            return false;
        }
        mult = mult == 0 ? 1 : mult;
        if (n > (UINT32_MAX - total) / mult) {
            snprintf(why, whylen, "duration '%s' is too large (at most %" PRIu32 " ms, 49d)", text,
                     UINT32_MAX);
            return false;
        }
        total += n * mult;
        parts++;
        p = s_skip_space(p);
        if (*p == '\0') {
            *out = total;
            return true;
        }
    }
}

/* "65536", "512B", "64KiB", "1MiB", "1GiB", "1TiB" (also K, M, G, T) -> bytes. */
static bool
s_parse_size(const char *text, uint64_t *out, char *why, size_t whylen)
{
    const char *p = s_skip_space(text);
    uint64_t n;
    if (!s_digits(&p, &n)) {
        snprintf(why, whylen, "invalid size '%s' (expected e.g. 65536, 512B, 64KiB, 1MiB, 1GiB)",
                 text);
        return false;
    }
    p = s_skip_space(p);
    size_t ulen = strlen(p);
    while (ulen > 0 && (p[ulen - 1] == ' ' || p[ulen - 1] == '\t')) {
        ulen--;
    }
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {{"", 0},     {"B", 0},  {"K", 10},   {"KiB", 10}, {"M", 20},
                 {"MiB", 20}, {"G", 30}, {"GiB", 30}, {"T", 40},   {"TiB", 40}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].unit) == ulen && strncasecmp(p, units[i].unit, ulen) == 0) {
            if (n > (UINT64_MAX >> units[i].shift)) {
                snprintf(why, whylen, "size '%s' is too large", text);
                return false;
            }
            *out = n << units[i].shift;
            return true;
        }
    }
    snprintf(why, whylen, "invalid size '%s' (units are B, KiB, MiB, GiB, TiB; e.g. 64KiB)", text);
    return false;
}

static bool
s_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    for (size_t i = 0; yes[i] != NULL; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool
s_parse_int(const char *text, int64_t *out)
{
    const char *p = s_skip_space(text);
    if (*p == '\0') {
        return false;
    }
    errno = 0;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (errno != 0 || end == p) {
        return false;
    }
    end = (char *)s_skip_space(end);
    if (*end != '\0') {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

void
yard__opt_range(const yard_option_t *o, char *buf, size_t len)
{
    const char *unit = o->type == YARD_OPT_MS ? " ms" : o->type == YARD_OPT_SIZE ? " bytes" : "";
    snprintf(buf, len, "[%" PRId64 ", %" PRId64 "]%s", o->min, o->max, unit);
}

void
yard__opt_url_redact(const char *url, char *buf, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme != NULL ? scheme + 3 : url;
    size_t auth_len = strcspn(host, "/?#");
    const char *at = NULL;
    for (const char *p = host; p < host + auth_len; p++) {
        if (*p == '@') {
            at = p; /* the last '@' ends the userinfo */
        }
    }
    if (at == NULL) {
        snprintf(buf, len, "%s", url);
        return;
    }
    const char *colon = memchr(host, ':', (size_t)(at - host));
    if (colon != NULL) {
        /* scheme://user:<secret>@rest */
        snprintf(buf, len, "%.*s<secret>%s", (int)(colon + 1 - url), url, at);
    } else {
        /* scheme://<secret>@rest: a lone userinfo is often a token or password itself */
        snprintf(buf, len, "%.*s<secret>%s", (int)(host - url), url, at);
    }
}

/* Registers the secret part of a value with the logger, so no line ever shows it. */
static void
s_register_secret(const yard_option_t *o, const char *text)
{
    if (o->flags & YARD_OPT_SECRET) {
        yard_log_add_secret(text);
        return;
    }
    if (!(o->flags & YARD_OPT_SECRET_URL)) {
        return;
    }
    const char *scheme = strstr(text, "://");
    const char *host = scheme != NULL ? scheme + 3 : text;
    size_t auth_len = strcspn(host, "/?#");
    const char *at = NULL;
    for (const char *p = host; p < host + auth_len; p++) {
        if (*p == '@') {
            at = p;
        }
    }
    if (at == NULL) {
        return;
    }
    const char *colon = memchr(host, ':', (size_t)(at - host));
    const char *start = colon != NULL ? colon + 1 : host;
    char secret[1024];
    size_t len = (size_t)(at - start);
    if (len < 4 || len >= sizeof secret) {
        /* Too short for the logger to redact alone (or oddly long): hide the whole URL. */
        yard_log_add_secret(text);
        return;
    }
    memcpy(secret, start, len);
    secret[len] = '\0';
    yard_log_add_secret(secret);
    memset(secret, 0, sizeof secret);
}

static bool s_store(const yard_option_t *o, void *target, const char *text, char *why,
                    size_t whylen);

/* Parses text for option o and stores it in target. On failure writes the reason (without
 * the source, and without the value when o is a secret) to why and returns false. */
bool
yard__opt_store(const yard_option_t *o, void *target, const char *text, char *why, size_t whylen)
{
    s_register_secret(o, text);
    if (s_store(o, target, text, why, whylen)) {
        return true;
    }
    if (o->flags & (YARD_OPT_SECRET | YARD_OPT_SECRET_URL)) {
        snprintf(why, whylen, "invalid value (not shown: the option is a secret)");
    }
    return false;
}

static bool
s_store(const yard_option_t *o, void *target, const char *text, char *why, size_t whylen)
{
    char *field = (char *)target + o->offset;
    bool ranged = o->min < o->max;
    char range[96];
    switch (o->type) {
    case YARD_OPT_STRING: {
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = yard__xstrdup(text);
        return true;
    }
    case YARD_OPT_BOOL: {
        bool b;
        if (!s_parse_bool(text, &b)) {
            snprintf(why, whylen,
                     "invalid boolean '%s' (expected true/false, yes/no, on/off or 1/0)", text);
            return false;
        }
        memcpy(field, &b, sizeof b);
        return true;
    }
    case YARD_OPT_INT: {
        int64_t v;
        if (!s_parse_int(text, &v)) {
            snprintf(why, whylen, "invalid integer '%s'", text);
            return false;
        }
        if (ranged && (v < o->min || v > o->max)) {
            yard__opt_range(o, range, sizeof range);
            snprintf(why, whylen, "%s is out of range %s", text, range);
            return false;
        }
        memcpy(field, &v, sizeof v);
        return true;
    }
    case YARD_OPT_MS: {
        uint64_t v;
        if (!s_parse_ms(text, &v, why, whylen)) {
            return false;
        }
        if (ranged && ((int64_t)v < o->min || (int64_t)v > o->max)) {
            yard__opt_range(o, range, sizeof range);
            snprintf(why, whylen, "%s (%" PRIu64 " ms) is out of range %s", text, v, range);
            return false;
        }
        uint32_t ms = (uint32_t)v;
        memcpy(field, &ms, sizeof ms);
        return true;
    }
    case YARD_OPT_SIZE: {
        uint64_t v;
        if (!s_parse_size(text, &v, why, whylen)) {
            return false;
        }
        if (ranged && (v > (uint64_t)INT64_MAX || (int64_t)v < o->min || (int64_t)v > o->max)) {
            yard__opt_range(o, range, sizeof range);
            snprintf(why, whylen, "%s (%" PRIu64 " bytes) is out of range %s", text, v, range);
            return false;
        }
        memcpy(field, &v, sizeof v);
        return true;
    }
    case YARD_OPT_NODE:
        snprintf(why, whylen, "a structured key takes a list or map, not a single value");
        return false;
    }
    snprintf(why, whylen, "option has an unknown type %d", (int)o->type);
    return false;
}
