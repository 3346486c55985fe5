/* MIME decoding (gm_mime.h): base64url, quoted-printable, charsets through iconv, RFC 2047
 * encoded words, and the walk of a Gmail MessagePart tree to its text part. Invariant: every
 * output is valid UTF-8 (what the event writer requires), whatever bytes came in. */
#include "gm_mime.h"

#include "yard/mp.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MAX_DEPTH 12 /* nested multiparts walked */

static void *
s_alloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        abort(); /* allocation failure aborts in one place */
    }
    return p;
}

static int
s_b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-' || c == '+') {
        return 62;
    }
    if (c == '_' || c == '/') {
        return 63;
    }
    return -1;
}

char *
gm_b64_decode(const char *in, size_t len, size_t *out_len)
{
    char *out = s_alloc(len * 3 / 4 + 4);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '=' || isspace(c)) {
            continue;
        }
        int v = s_b64_value(c);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

static int
s_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

char *
gm_qp_decode(const char *in, size_t len, bool underscore_space, size_t *out_len)
{
    char *out = s_alloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '_' && underscore_space) {
            out[n++] = ' ';
        } else if (c == '=' && i + 1 < len && in[i + 1] == '\n') {
            i += 1; /* soft line break */
        } else if (c == '=' && i + 2 < len && in[i + 1] == '\r' && in[i + 2] == '\n') {
            i += 2;
        } else if (c == '=' && i + 2 < len && s_hex(in[i + 1]) >= 0 && s_hex(in[i + 2]) >= 0) {
            out[n++] = (char)(s_hex(in[i + 1]) * 16 + s_hex(in[i + 2]));
            i += 2;
        } else {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* Replaces invalid UTF-8 sequences of s (in place is not possible: they grow) with U+FFFD. */
static char *
s_utf8_clean(const char *in, size_t len)
{
    char *out = s_alloc(len * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        size_t need = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 0;
        bool ok = need > 0 && i + need <= len && c != 0xc0 && c != 0xc1 && c < 0xf5;
        for (size_t k = 1; ok && k < need; k++) {
            ok = ((unsigned char)in[i + k] & 0xc0) == 0x80;
        }
        if (ok && c == 0) {
            ok = false; /* a NUL would cut the C string */
        }
        if (ok) {
            memcpy(out + n, in + i, need);
            n += need;
            i += need;
        } else {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
            i += 1;
        }
    }
    out[n] = '\0';
    return out;
}

/* iconv's name for charset: ISO-8859-1 and US-ASCII are read as windows-1252, their superset
 * in practice (mail clients label cp1252 text as ISO-8859-1; the WHATWG encoding standard
 * does the same). */
static const char *
s_iconv_name(const char *charset)
{
    if (!charset || !*charset || strcasecmp(charset, "us-ascii") == 0 ||
        strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "utf8") == 0) {
        return NULL;
    }
    if (strcasecmp(charset, "iso-8859-1") == 0 || strcasecmp(charset, "latin1") == 0 ||
        strcasecmp(charset, "iso_8859-1") == 0) {
        return "WINDOWS-1252";
    }
    return charset;
}

char *
gm_to_utf8(const char *in, size_t len, const char *charset)
{
    const char *name = s_iconv_name(charset);
    iconv_t cd = name ? iconv_open("UTF-8", name) : (iconv_t)-1;
    if (cd == (iconv_t)-1) {
        return s_utf8_clean(in, len);
    }
    size_t cap = len * 4 + 16, left_out = cap;
    char *buf = s_alloc(cap + 1), *op = buf;
    char *ip = (char *)in;
    size_t left_in = len;
    while (left_in > 0) {
        if (iconv(cd, &ip, &left_in, &op, &left_out) != (size_t)-1) {
            break;
        }
        if (errno == E2BIG || left_out < 3) {
            break; /* cannot happen with 4x room; bounded either way */
        }
        memcpy(op, "\xef\xbf\xbd", 3); /* an unconvertible byte (0x81 in cp1252, ...) */
        op += 3;
        left_out -= 3;
        ip++;
        left_in--;
    }
    iconv_close(cd);
    char *out = s_utf8_clean(buf, (size_t)(op - buf));
    free(buf);
    return out;
}

/* Decodes one encoded word "=?cs?E?text?=" starting at p (end: one past its "?="). Returns
 * the UTF-8 text (caller frees) or NULL when p is no encoded word. */
static char *
s_encoded_word(const char *p, const char **end)
{
    if (p[0] != '=' || p[1] != '?') {
        return NULL;
    }
    const char *cs = p + 2, *q1 = strchr(cs, '?');
    if (!q1 || q1 - cs > 40 || !q1[1] || q1[2] != '?') {
        return NULL;
    }
    char enc = (char)toupper((unsigned char)q1[1]);
    const char *text = q1 + 3, *stop = strstr(text, "?=");
    if (!stop || (enc != 'B' && enc != 'Q')) {
        return NULL;
    }
    char charset[48];
    size_t cl = (size_t)(q1 - cs);
    memcpy(charset, cs, cl);
    charset[cl] = '\0';
    char *star = strchr(charset, '*'); /* RFC 2231 language suffix */
    if (star) {
        *star = '\0';
    }
    size_t rawlen = 0;
    char *raw = enc == 'B' ? gm_b64_decode(text, (size_t)(stop - text), &rawlen)
                           : gm_qp_decode(text, (size_t)(stop - text), true, &rawlen);
    if (!raw) {
        return NULL;
    }
    char *out = gm_to_utf8(raw, rawlen, charset);
    free(raw);
    *end = stop + 2;
    return out;
}

char *
gm_header_decode(const char *value)
{
    size_t len = strlen(value), cap = len * 3 + 1, n = 0;
    char *out = s_alloc(cap);
    bool last_word = false;
    for (const char *p = value; *p;) {
        const char *end = NULL;
        char *word = s_encoded_word(p, &end);
        if (word) {
            size_t wl = strlen(word);
            if (n + wl >= cap) {
                cap = (n + wl) * 2 + 1;
                char *grown = realloc(out, cap);
                if (!grown) {
                    abort();
                }
                out = grown;
            }
            memcpy(out + n, word, wl);
            n += wl;
            free(word);
            p = end;
            last_word = true;
            continue;
        }
        const char *ws = p;
        while (*ws == ' ' || *ws == '\t' || *ws == '\r' || *ws == '\n') {
            ws++;
        }
        if (last_word && ws != p && ws[0] == '=' && ws[1] == '?') {
            p = ws; /* white space between two encoded words is dropped */
            continue;
        }
        if (n + 1 >= cap) {
            cap = cap * 2 + 1;
            char *grown = realloc(out, cap);
            if (!grown) {
                abort();
            }
            out = grown;
        }
        out[n++] = *p++;
        last_word = false;
    }
    char *clean = s_utf8_clean(out, n);
    free(out);
    return clean;
}

/* --- the MessagePart tree ---------------------------------------------------------------- */

/* A header's value in part.headers (an array of {name, value}), copied into buf. */
static bool
s_part_header(const msgpack_object *part, const char *name, char *buf, size_t cap)
{
    const msgpack_object *hs = yard_mp_find(part, "headers");
    if (!hs || hs->type != MSGPACK_OBJECT_ARRAY) {
        return false;
    }
    for (uint32_t i = 0; i < hs->via.array.size; i++) {
        yard_str_t n, v;
        const msgpack_object *h = &hs->via.array.ptr[i];
        if (yard_mp_get_str(h, "name", &n, NULL, 0) == 0 &&
            yard_mp_get_str(h, "value", &v, NULL, 0) == 0 && n.len == strlen(name) &&
            strncasecmp(n.ptr, name, n.len) == 0) {
            size_t l = v.len < cap - 1 ? v.len : cap - 1;
            memcpy(buf, v.ptr, l);
            buf[l] = '\0';
            return true;
        }
    }
    return false;
}

/* The charset parameter of a Content-Type value, into out. */
static void
s_charset(const char *ctype, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strcasestr(ctype, "charset=");
    if (!p) {
        return;
    }
    p += 8;
    if (*p == '"') {
        p++;
    }
    size_t n = 0;
    while (p[n] && p[n] != '"' && p[n] != ';' && !isspace((unsigned char)p[n]) && n < cap - 1) {
        n++;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

/* True when text is valid quoted-printable that holds at least one '=' escape: the bytes
 * still carry the encoding. */
static bool
s_looks_qp(const char *s, size_t n)
{
    bool escape = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '=') {
            continue;
        }
        if (i + 1 < n &&
            (s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n'))) {
            escape = true;
        } else if (i + 2 < n && s_hex(s[i + 1]) >= 0 && s_hex(s[i + 2]) >= 0 &&
                   !islower((unsigned char)s[i + 1]) && !islower((unsigned char)s[i + 2])) {
            escape = true;
        } else {
            return false;
        }
    }
    return escape;
}

/* True when s is nothing but base64 characters and white space, in lines (still encoded). */
static bool
s_looks_b64(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (isspace(c)) {
            continue;
        }
        if (c != '=' && (s_b64_value(c) < 0 || c == '-' || c == '_')) {
            return false;
        }
        chars++;
    }
    return chars >= 4 && chars % 4 == 0;
}

/* The decoded text of one leaf part, or NULL. */
static char *
s_leaf_text(const msgpack_object *part)
{
    const msgpack_object *body = yard_mp_find(part, "body");
    yard_str_t data;
    if (!body || yard_mp_get_str(body, "data", &data, NULL, 0) != 0) {
        return NULL;
    }
    size_t n = 0;
    char *raw = gm_b64_decode(data.ptr, data.len, &n);
    if (!raw) {
        return NULL;
    }
    char cte[64] = "", ctype[256] = "", charset[48];
    s_part_header(part, "Content-Transfer-Encoding", cte, sizeof cte);
    s_part_header(part, "Content-Type", ctype, sizeof ctype);
    if (strcasecmp(cte, "quoted-printable") == 0 && s_looks_qp(raw, n)) {
        size_t m = 0;
        char *dec = gm_qp_decode(raw, n, false, &m);
        free(raw);
        raw = dec;
        n = m;
    } else if (strcasecmp(cte, "base64") == 0 && s_looks_b64(raw, n)) {
        size_t m = 0;
        char *dec = gm_b64_decode(raw, n, &m);
        if (dec) {
            free(raw);
            raw = dec;
            n = m;
        }
    }
    s_charset(ctype, charset, sizeof charset);
    char *text = gm_to_utf8(raw, n, charset);
    free(raw);
    return text;
}

/* The first leaf of mime type want (depth-first, in part order), decoded, or NULL. */
static char *
s_find(const msgpack_object *part, const char *want, int depth)
{
    if (!part || part->type != MSGPACK_OBJECT_MAP || depth > S_MAX_DEPTH) {
        return NULL;
    }
    yard_str_t mt = {0};
    yard_mp_get_str(part, "mimeType", &mt, NULL, 0);
    const msgpack_object *parts = yard_mp_find(part, "parts");
    if (parts && parts->type == MSGPACK_OBJECT_ARRAY && parts->via.array.size > 0) {
        for (uint32_t i = 0; i < parts->via.array.size; i++) {
            char *t = s_find(&parts->via.array.ptr[i], want, depth + 1);
            if (t) {
                return t;
            }
        }
        return NULL;
    }
    if (mt.len != strlen(want) || strncasecmp(mt.ptr, want, mt.len) != 0) {
        return NULL;
    }
    return s_leaf_text(part);
}

/* Cuts s at GM_MIME_MAX_TEXT bytes, on a character boundary. */
static void
s_cut(char *s)
{
    size_t n = strlen(s);
    if (n <= GM_MIME_MAX_TEXT) {
        return;
    }
    n = GM_MIME_MAX_TEXT;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
        n--;
    }
    s[n] = '\0';
}

char *
gm_payload_text(const msgpack_object *payload, bool *is_html)
{
    bool html = false;
    char *t = s_find(payload, "text/plain", 0);
    if (!t) {
        t = s_find(payload, "text/html", 0);
        html = t != NULL;
    }
    if (t) {
        s_cut(t);
    }
    if (is_html) {
        *is_html = html;
    }
    return t;
}
