/* One-time passwords for the auth actor's two-factor login: HOTP (RFC 4226) and TOTP
 * (RFC 6238) with HMAC-SHA-1 from GnuTLS (gnutls_hmac_fast), the base32 alphabet of RFC 4648
 * section 6 that authenticator apps read secrets in, and the otpauth:// key URI they scan
 * (Google Authenticator's "Key Uri Format", which every common app follows).
 *
 * Pure functions over caller buffers: no state, no allocation, no clock (the caller passes
 * the time), so every one is testable against the RFCs' tables. */
#ifndef AUTH_TOTP_H
#define AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_TOTP_SECRET_LEN 20 /* bytes: 160 bits, RFC 4226 section 4 R6's recommendation */
#define AUTH_TOTP_SECRET_MAX 64 /* bytes a decoded secret may have */
#define AUTH_TOTP_DIGITS_MIN 6  /* RFC 4226 section 5.3: at least 6 */
#define AUTH_TOTP_DIGITS_MAX 8
#define AUTH_TOTP_URI_MAX    512
/* Characters of n bytes in base32 without padding. */
#define AUTH_BASE32_LEN(n) (((n)*8 + 4) / 5)

/* The HOTP value of counter under key (RFC 4226 section 5.3: HMAC-SHA-1, dynamic
 * truncation, modulo 10^digits) into *code. digits is 6..8. Returns 0, or -1 for bad
 * arguments or when GnuTLS could not compute the HMAC. */
int auth_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits, uint32_t *code);

/* The TOTP time step of unix_s (RFC 6238 section 4.2: T = floor(unix_s / period), T0 = 0). */
int64_t auth_totp_step(int64_t unix_s, uint32_t period_s);

/* Checks code (exactly digits ASCII digits) against the steps now_step - drift .. now_step +
 * drift, skipping steps below min_step (ones already used). Every candidate is computed and
 * compared in constant time whatever matches, so timing tells nothing about which step or
 * digit was right. Returns true with the matched step in *step (now_step first, then the
 * earlier, then the later ones), false when none matches or code is malformed. */
bool auth_totp_match(const uint8_t *key, size_t keylen, int64_t now_step, int drift, int digits,
                     const char *code, int64_t min_step, int64_t *step);

/* Writes code as digits decimal digits with leading zeros into out (at least digits + 1). */
void auth_totp_format(uint32_t code, int digits, char *out, size_t cap);

/* Base32 (RFC 4648 section 6, upper case, no padding) of in[0..n) into out. Returns the
 * length written (not counting the NUL), or 0 when cap is under AUTH_BASE32_LEN(n) + 1. */
size_t auth_base32_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* Decodes base32 text: either case, '=' padding and spaces ignored. Returns 0 with the bytes
 * in out and their count in *n, or -1 for a character outside the alphabet, leftover bits that
 * are not zero, or more than cap bytes. */
int auth_base32_decode(const char *in, uint8_t *out, size_t cap, size_t *n);

/* The otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=D&period=P
 * URI, issuer and account percent-encoded (only RFC 3986 unreserved characters stay as they
 * are, so a ':' in an account name cannot split the label), into out. Returns 0, or -1 when
 * it does not fit in cap. */
int auth_totp_uri(char *out, size_t cap, const char *issuer, const char *account,
                  const char *secret_b32, int digits, uint32_t period_s);

#endif
