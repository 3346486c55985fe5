/* What the gateway accepts from a client (inputs.h): pure functions over header values and the
 * request target. Invariant: nothing here allocates except the bearer token's copy, reads past
 * a NUL, or quotes a secret; each refusal's text names the header or setting that was wrong. */
#include "inputs.h"

#include "yard/error.h"
#include "yard/wire.h"
#include "yard/utf8.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MEDIA_MAX 128 /* a media type longer than this is no type we accept */

gw_method_class_t
gw_method_class(const char *method)
{
    static const char *const routed[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", NULL};
    for (size_t i = 0; routed[i] != NULL; i++) {
        if (strcmp(method, routed[i]) == 0) {
            return GW_METHOD_ROUTED;
        }
    }
    if (strcmp(method, "OPTIONS") == 0) {
        return GW_METHOD_OPTIONS;
    }
    if (strcmp(method, "TRACE") == 0 || strcmp(method, "CONNECT") == 0) {
        return GW_METHOD_REFUSED;
    }
    return GW_METHOD_UNKNOWN;
}

/* --- media types ---------------------------------------------------------------------------- */

/* s without leading and trailing spaces and tabs: start in *start, length returned. */
static size_t
s_trim(const char *s, size_t n, const char **start)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    *start = s;
    return n;
}

static bool
s_ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static bool
s_is_json(const char *t, size_t n)
{
    static const char app[] = "application/";
    return s_ieq(t, n, "application/json") ||
           (n > sizeof app - 1 + 5 && strncasecmp(t, app, sizeof app - 1) == 0 &&
            strncasecmp(t + n - 5, "+json", 5) == 0);
}

static bool
s_is_msgpack(const char *t, size_t n)
{
    return s_ieq(t, n, "application/msgpack") || s_ieq(t, n, "application/x-msgpack") ||
           s_ieq(t, n, "application/vnd.msgpack");
}

/* The value of parameter name in params (";a=b; c=d"), unquoted, into out; false when absent. */
static bool
s_param(const char *params, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *end = params + n;
    for (const char *p = params; p < end;) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi != NULL ? semi : end;
        const char *t;
        size_t len = s_trim(p, (size_t)(stop - p), &t);
        if (len > nl && t[nl] == '=' && strncasecmp(t, name, nl) == 0) {
            const char *v = t + nl + 1;
            size_t vl = len - nl - 1;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return true;
        }
        p = stop + 1;
    }
    return false;
}

gw_body_kind_t
gw_body_kind(const char *content_type, const char *content_encoding, char *why, size_t whylen)
{
    const char *t;
    if (content_encoding != NULL) {
        size_t n = s_trim(content_encoding, strlen(content_encoding), &t);
        if (n > 0 && !s_ieq(t, n, "identity")) {
            snprintf(why, whylen,
                     "Content-Encoding '%.*s' is not accepted; send the body uncompressed",
                     (int)(n < 32 ? n : 32), t);
            return GW_BODY_REFUSED;
        }
    }
    if (content_type == NULL) {
        snprintf(why, whylen, "a body needs Content-Type: application/json or application/msgpack");
        return GW_BODY_REFUSED;
    }
    size_t all = strlen(content_type);
    const char *semi = memchr(content_type, ';', all);
    size_t n = s_trim(content_type, semi ? (size_t)(semi - content_type) : all, &t);
    const char *params = semi ? semi + 1 : content_type + all;
    size_t plen = (size_t)(content_type + all - params);
    if (n <= S_MEDIA_MAX && s_is_msgpack(t, n)) {
        return GW_BODY_MSGPACK;
    }
    if (n <= S_MEDIA_MAX && s_is_json(t, n)) {
        char cs[32];
        if (!s_param(params, plen, "charset", cs, sizeof cs) || strcasecmp(cs, "utf-8") == 0 ||
            strcasecmp(cs, "utf8") == 0) {
            return GW_BODY_JSON;
        }
        snprintf(why, whylen, "JSON bodies are UTF-8; charset '%s' is not accepted", cs);
        return GW_BODY_REFUSED;
    }
    snprintf(why, whylen,
             "Content-Type '%.*s' is not accepted (application/json or application/msgpack)",
             (int)(n < 64 ? n : 64), t);
    return GW_BODY_REFUSED;
}

/* The q of a media range's parameters: 1 when absent, 0 when unreadable or 0. */
static double
s_quality(const char *params, size_t n)
{
    char q[16];
    if (!s_param(params, n, "q", q, sizeof q)) {
        return 1.0;
    }
    char *end = NULL;
    double v = strtod(q, &end);
    return end != q && v > 0 && v <= 1 ? v : 0;
}

bool
gw_accepts_msgpack(const char *accept)
{
    if (accept == NULL) {
        return false;
    }
    double mp = 0, json = 0;
    const char *end = accept + strlen(accept);
    for (const char *p = accept; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        const char *semi = memchr(p, ';', (size_t)(stop - p));
        const char *t;
        size_t n = s_trim(p, (size_t)((semi ? semi : stop) - p), &t);
        double q = semi ? s_quality(semi + 1, (size_t)(stop - semi - 1)) : 1.0;
        if (s_is_msgpack(t, n) && q > mp) {
            mp = q;
        } else if (s_is_json(t, n) && q > json) {
            json = q;
        }
        p = stop + 1;
    }
    return mp > 0 && mp >= json;
}

/* --- UTF-8 and the request target -------------------------------------------------------- */

size_t
gw_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    size_t cut = max;
    /* back over continuation bytes to the start of the sequence the cut falls in */
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80) {
        cut--;
    }
    return cut;
}

static int
s_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool
gw_uri_valid(const char *raw_uri, char *why, size_t whylen)
{
    size_t all = strlen(raw_uri);
    const char *q = memchr(raw_uri, '?', all);
    size_t plen = q ? (size_t)(q - raw_uri) : all;
    /* The path percent-decoded, as the routes and the service see it (into a bounded copy:
     * decoding never makes it longer). */
    unsigned char *dec = malloc(plen + 1);
    if (dec == NULL) {
        abort();
    }
    size_t n = 0;
    for (size_t i = 0; i < plen; i++) {
        int hi, lo;
        if (raw_uri[i] == '%' && i + 2 < plen && (hi = s_hex(raw_uri[i + 1])) >= 0 &&
            (lo = s_hex(raw_uri[i + 2])) >= 0) {
            dec[n++] = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else {
            dec[n++] = (unsigned char)raw_uri[i];
        }
    }
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        if (dec[i] < 0x20 || dec[i] == 0x7f) {
            snprintf(why, whylen, "the path has a control character (byte 0x%02x)", dec[i]);
            ok = false;
        }
    }
    if (ok && !yard_utf8_valid((const char *)dec, n)) {
        snprintf(why, whylen, "the path is not valid UTF-8 (after percent-decoding)");
        ok = false;
    }
    free(dec);
    if (ok && q != NULL && !yard_utf8_valid(q + 1, all - plen - 1)) {
        snprintf(why, whylen, "the query string is not valid UTF-8");
        ok = false;
    }
    return ok;
}

/* --- bearer tokens --------------------------------------------------------------------------- */

gw_bearer_t
gw_bearer_parse(const char *authorization, char **token, char *why, size_t whylen)
{
    *token = NULL;
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0) {
        snprintf(why, whylen, "a bearer token is required (Authorization: Bearer ...)");
        return GW_BEARER_MISSING;
    }
    const char *t = authorization + 7;
    while (*t == ' ') {
        t++;
    }
    size_t n = strlen(t);
    if (n == 0) {
        snprintf(why, whylen, "a bearer token is required (Authorization: Bearer ...)");
        return GW_BEARER_MISSING;
    }
    if (n > YARD_BEARER_MAX) {
        snprintf(why, whylen, "the bearer token is %zu bytes; the limit is %u", n,
                 (unsigned)YARD_BEARER_MAX);
        return GW_BEARER_TOO_LONG;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] > 0x7e) {
            snprintf(why, whylen, "the bearer token has a byte a token cannot hold (at offset %zu)",
                     i);
            return GW_BEARER_BAD;
        }
    }
    *token = strndup(t, n);
    if (*token == NULL) {
        abort();
    }
    return GW_BEARER_OK;
}

/* --- the listen address ---------------------------------------------------------------------- */

#define S_LISTEN_NAME "--listen (gateway.listen)"

int
gw_listen_split(const char *listen, char *host, size_t hostlen, char *port, size_t portlen,
                char *errbuf, size_t errlen)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (colon == NULL) {
        snprintf(errbuf, errlen, S_LISTEN_NAME ": '%s' is not host:port (e.g. 127.0.0.1:8080)",
                 listen ? listen : "");
        return YARD_E_CONFIG;
    }
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl) != NULL) {
        snprintf(errbuf, errlen, S_LISTEN_NAME ": '%s': an IPv6 host goes in brackets ([::1]:8080)",
                 listen);
        return YARD_E_CONFIG;
    }
    if (hl >= hostlen) {
        snprintf(errbuf, errlen, S_LISTEN_NAME ": the host is longer than %zu bytes", hostlen - 1);
        return YARD_E_CONFIG;
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    unsigned long v = 0;
    for (size_t i = 0; i < pl && i < 6; i++) {
        v = isdigit((unsigned char)p[i]) ? v * 10 + (unsigned long)(p[i] - '0') : 1000000;
    }
    if (pl == 0 || pl > 5 || v > 65535 || pl >= portlen) {
        snprintf(errbuf, errlen,
                 S_LISTEN_NAME ": '%s': the port must be a number from 0 to 65535 (0: any free "
                               "port)",
                 listen);
        return YARD_E_CONFIG;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return 0;
}
