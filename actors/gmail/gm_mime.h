/* MIME decoding for the gmail actor: what it takes to turn a Gmail message payload
 * (users.messages.get format=full) into UTF-8 text. Gmail gives each part's body as base64url
 * (RFC 4648 §5); a part whose bytes still carry the Content-Transfer-Encoding its headers name
 * (quoted-printable, RFC 2045 §6.7, or base64) is decoded once more; the part's charset is
 * converted to UTF-8 with iconv; header values may hold RFC 2047 encoded words
 * ("=?ISO-8859-1?Q?caf=E9?=").
 *
 * Every function is pure (no state) and bounded by its input size. */
#ifndef GM_MIME_H
#define GM_MIME_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

/* The largest text body kept (bytes of UTF-8); longer bodies are cut at a character
 * boundary. */
#define GM_MIME_MAX_TEXT (256u * 1024)

/* Decodes base64url (or standard base64: '+' '/' accepted too; padding and white space
 * ignored). Returns a malloc'd buffer (caller frees; NUL-terminated past *out_len), or NULL
 * when in holds a character outside the alphabet. */
char *gm_b64_decode(const char *in, size_t len, size_t *out_len);

/* Decodes quoted-printable (soft line breaks removed, "=XX" to the byte; a malformed '='
 * sequence is kept as it is). underscore_space: RFC 2047 "Q" encoding, where '_' is a space.
 * Returns a malloc'd buffer (caller frees; NUL-terminated past *out_len). */
char *gm_qp_decode(const char *in, size_t len, bool underscore_space, size_t *out_len);

/* Converts len bytes in charset (NULL or "": US-ASCII read as UTF-8) to UTF-8. An unknown
 * charset is read as windows-1252 when it is an ISO-8859-1 alias or unnamed, else as UTF-8;
 * bytes that do not convert become U+FFFD. Returns a malloc'd NUL-terminated string (caller
 * frees). */
char *gm_to_utf8(const char *in, size_t len, const char *charset);

/* Decodes the RFC 2047 encoded words of a header value into UTF-8 (white space between two
 * encoded words dropped, as the RFC says). Returns a malloc'd string (caller frees). */
char *gm_header_decode(const char *value);

/* The message's text: the first text/plain part of payload (a Gmail MessagePart as decoded
 * JSON), or, when there is none, the first text/html part, decoded to UTF-8 and cut at
 * GM_MIME_MAX_TEXT. Returns a malloc'd string (caller frees), or NULL when there is no text
 * part. *is_html says which kind it was (may be NULL). */
char *gm_payload_text(const msgpack_object *payload, bool *is_html);

#endif
