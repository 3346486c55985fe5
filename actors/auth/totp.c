/* HOTP / TOTP, base32 and the otpauth:// URI (totp.h). The HMAC is GnuTLS's: nothing here
 * hashes by hand. */
#include "totp.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <stdio.h>
#include <string.h>

static const uint32_t s_pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

int
auth_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits, uint32_t *code)
{
    if (!key || keylen == 0 || digits < AUTH_TOTP_DIGITS_MIN || digits > AUTH_TOTP_DIGITS_MAX) {
        return -1;
    }
    uint8_t msg[8], mac[20];
    for (int i = 7; i >= 0; i--) { /* the counter, big-endian (RFC 4226 section 5.1) */
        msg[i] = (uint8_t)(counter & 0xff);
        counter >>= 8;
    }
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA1, key, keylen, msg, sizeof msg, mac) != 0) {
        return -1;
    }
    /* Dynamic truncation (RFC 4226 section 5.3): the low nibble of the last byte picks four
     * bytes, the top bit of which is dropped. */
    int off = mac[19] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    *code = bin % s_pow10[digits];
    memset(mac, 0, sizeof mac);
    return 0;
}

int64_t
auth_totp_step(int64_t unix_s, uint32_t period_s)
{
    if (period_s == 0) {
        return 0;
    }
    /* floor, also before 1970 (never in practice, but defined) */
    int64_t p = (int64_t)period_s;
    return unix_s >= 0 ? unix_s / p : -((-unix_s + p - 1) / p);
}

void
auth_totp_format(uint32_t code, int digits, char *out, size_t cap)
{
    snprintf(out, cap, "%0*u", digits, code);
}

bool
auth_totp_match(const uint8_t *key, size_t keylen, int64_t now_step, int drift, int digits,
                const char *code, int64_t min_step, int64_t *step)
{
    if (!code || digits < AUTH_TOTP_DIGITS_MIN || digits > AUTH_TOTP_DIGITS_MAX || drift < 0 ||
        drift > 10 || strlen(code) != (size_t)digits) {
        return false;
    }
    for (int i = 0; i < digits; i++) {
        if (code[i] < '0' || code[i] > '9') {
            return false;
        }
    }
    bool found = false;
    /* Order of preference: the current step, then earlier, then later ones. */
    for (int k = 0; k <= 2 * drift; k++) {
        int d = k == 0 ? 0 : (k % 2 ? -((k + 1) / 2) : k / 2);
        int64_t s = now_step + d;
        uint32_t want = 0;
        char text[AUTH_TOTP_DIGITS_MAX + 1];
        if (s < 0 || auth_hotp(key, keylen, (uint64_t)s, digits, &want) != 0) {
            continue;
        }
        auth_totp_format(want, digits, text, sizeof text);
        unsigned diff = 0;
        for (int i = 0; i < digits; i++) {
            diff |= (unsigned)(text[i] ^ code[i]);
        }
        bool hit = diff == 0 && s >= min_step;
        if (hit && !found) {
            found = true;
            *step = s;
        }
    }
    return found;
}

static const char s_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t
auth_base32_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = AUTH_BASE32_LEN(n);
    if (cap < need + 1) {
        return 0;
    }
    size_t o = 0;
    uint32_t buf = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buf = (buf << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = s_b32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) {
        out[o++] = s_b32[(buf << (5 - bits)) & 31];
    }
    out[o] = '\0';
    return o;
}

static int
s_b32_value(char c)
{
    if (c >= 'a' && c <= 'z') {
        return c - 'a';
    }
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= '2' && c <= '7') {
        return c - '2' + 26;
    }
    return -1;
}

int
auth_base32_decode(const char *in, uint8_t *out, size_t cap, size_t *n)
{
    uint32_t buf = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '=' || *p == ' ') {
            continue;
        }
        int v = s_b32_value(*p);
        if (v < 0) {
            return -1;
        }
        buf = (buf << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            if (o == cap) {
                return -1;
            }
            out[o++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
        buf &= (1u << bits) - 1; /* keep only the bits not yet written */
    }
    if (bits >= 5 || buf != 0) {
        return -1; /* a whole extra character, or non-zero leftover bits: not canonical */
    }
    *n = o;
    return 0;
}

/* Appends s percent-encoded (RFC 3986: only unreserved characters as they are). */
static bool
s_pct(char *out, size_t cap, size_t *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (*o + (plain ? 1 : 3) >= cap) {
            return false;
        }
        if (plain) {
            out[(*o)++] = (char)*p;
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = hex[*p >> 4];
            out[(*o)++] = hex[*p & 15];
        }
    }
    out[*o] = '\0';
    return true;
}

static bool
s_cat(char *out, size_t cap, size_t *o, const char *s)
{
    size_t n = strlen(s);
    if (*o + n >= cap) {
        return false;
    }
    memcpy(out + *o, s, n + 1);
    *o += n;
    return true;
}

int
auth_totp_uri(char *out, size_t cap, const char *issuer, const char *account,
              const char *secret_b32, int digits, uint32_t period_s)
{
    char tail[64];
    snprintf(tail, sizeof tail, "&algorithm=SHA1&digits=%d&period=%u", digits, period_s);
    size_t o = 0;
    if (cap == 0) {
        return -1;
    }
    out[0] = '\0';
    bool ok = s_cat(out, cap, &o, "otpauth://totp/") && s_pct(out, cap, &o, issuer) &&
              s_cat(out, cap, &o, ":") && s_pct(out, cap, &o, account) &&
              s_cat(out, cap, &o, "?secret=") && s_cat(out, cap, &o, secret_b32) &&
              s_cat(out, cap, &o, "&issuer=") && s_pct(out, cap, &o, issuer) &&
              s_cat(out, cap, &o, tail);
    if (!ok) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
