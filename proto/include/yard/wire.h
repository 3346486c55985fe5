/* The wire codec: the frames of protocol YD/3 (docs/protocol.md is the normative text).
 *
 * A message is one or two ZeroMQ frames: the head frame (a 4-byte prefix 'Y' 'D' version
 * command, then the header as a msgpack map with small integer keys), and for REQUEST, REPLY,
 * SEND and PUBLISH the body: after the header in the head frame when it is small (at most
 * YARD_WIRE_INLINE_MAX bytes: the message is then one frame), else a body frame of opaque
 * msgpack that brokers forward without decoding or copying. libzmq's cost is per frame: the
 * command shares the header's frame, and a small body shares it too.
 *
 * Decoding is zero-copy: the strings of a decoded header point into the frame's bytes and the
 * header-map array lives in the codec's scratch zone, so a decoded header is valid only while
 * both the frame and the codec are unchanged. Nothing received is trusted: every length and
 * type is checked and capped before use, and a bad frame yields YARD_E_BAD_REQUEST or
 * YARD_E_PROTOCOL with a reason, never an abort. */
#ifndef YARD_WIRE_H
#define YARD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_WIRE_SIG0     'Y'
#define YARD_WIRE_SIG1     'D'
#define YARD_WIRE_VERSION  3
#define YARD_WIRE_CMD_SIZE 4

/* Caps on what a peer can make us hold. */
#define YARD_WIRE_NAME_MAX      255   /* service, subject, op, replica, app error, header key */
#define YARD_WIRE_VALUE_MAX     8192  /* one header value: a bearer token fits (auth.token) */
#define YARD_WIRE_TEXT_MAX      1024  /* error text */
#define YARD_WIRE_HEADERS_MAX   64    /* entries in the headers map */
#define YARD_WIRE_HEADER_MAX    16384 /* the whole header frame */
#define YARD_WIRE_STORE_MAX     512   /* a replica's store identity (READY) */
#define YARD_WIRE_SENSITIVE_MAX 64    /* ops a READY marks sensitive (never tapped) */
#define YARD_WIRE_INLINE_MAX    1024  /* a body this small travels in the head frame */

/* The longest bearer token: the gateway forwards at most this (as the auth.token header) and
 * the auth service accepts at most this, so a token is never refused by one and not the other. */
#define YARD_BEARER_MAX YARD_WIRE_VALUE_MAX

typedef enum {
    YARD_CMD_READY = 1, /* replica -> broker: offer a service with credit; broker -> replica: ack */
    YARD_CMD_REQUEST = 2, /* client -> broker -> replica; expects exactly one REPLY or ERROR */
    YARD_CMD_REPLY = 3,   /* replica -> broker -> client */
    YARD_CMD_SEND = 4,    /* one-way: client -> broker -> one replica; the replica's REPLY is
                             consumed by the broker */
    YARD_CMD_PUBLISH = 5, /* any peer -> broker -> every matching subscriber */
    YARD_CMD_SUBSCRIBE = 6,
    YARD_CMD_UNSUBSCRIBE = 7,
    YARD_CMD_HEARTBEAT = 8, /* both ways; the broker answers each peer's heartbeat */
    YARD_CMD_DISCONNECT = 9,
    YARD_CMD_ERROR = 10,
    YARD_CMD_DRAIN = 11, /* replica -> broker: finish what you sent me, send nothing new */
    YARD_CMD_BATCH = 12, /* both ways: several one-frame messages in one frame (yard/batch.h) */
    YARD_CMD_MAX_ = YARD_CMD_BATCH
} yard_cmd_t;

/* Header flags. */
#define YARD_FLAG_IDEMPOTENT 0x1u /* may be re-sent to another replica if the first dies */
/* READY: fill this replica's credit before the next replica's (docs/protocol.md 6.1). */
#define YARD_FLAG_FILL 0x2u

/* Header map keys (stable: append, never renumber). */
enum {
    YARD_KEY_ID = 1,
    YARD_KEY_SERVICE = 2, /* service name, or subject / pattern for pub/sub */
    YARD_KEY_OP = 3,
    YARD_KEY_TIMEOUT_MS = 4,
    YARD_KEY_FLAGS = 5,
    YARD_KEY_HEADERS = 6,
    YARD_KEY_ERROR = 7,
    YARD_KEY_ERROR_TEXT = 8,
    YARD_KEY_APP_ERROR = 9,
    YARD_KEY_CREDIT = 10,
    YARD_KEY_HEARTBEAT_MS = 11,
    YARD_KEY_REPLICA = 12,
    YARD_KEY_STORE = 13,     /* READY: the identity of a stateful replica's state store */
    YARD_KEY_SENSITIVE = 14, /* READY: the ops whose bodies taps must never copy */
};

/* A length-counted string; not NUL-terminated when it points into a frame. */
typedef struct {
    const char *ptr;
    uint32_t len;
} yard_str_t;

typedef struct {
    yard_str_t key;
    yard_str_t value;
} yard_kv_t;

/* A decoded (or to-be-encoded) header. A field that is zero or empty is absent on the wire. */
typedef struct {
    uint64_t id;
    yard_str_t service;
    yard_str_t op;
    uint32_t timeout_ms;
    uint32_t flags;
    const yard_kv_t *headers;
    uint32_t header_count;
    uint32_t error; /* wire code, see yard/error.h */
    yard_str_t error_text;
    yard_str_t app_error;
    uint32_t credit;
    uint32_t heartbeat_ms;
    yard_str_t replica;
    yard_str_t store; /* READY of a stateful replica: yard_store_identity() of its store */
    /* READY: op names or patterns (`*` one token, `>` the rest, as subjects) whose request and
     * reply bodies the broker never copies to a tap; at most YARD_WIRE_SENSITIVE_MAX. */
    const yard_str_t *sensitive;
    uint32_t sensitive_count;
    /* Decoding only: the bytes after the header in the head frame (the inline body of a
     * one-frame message; empty otherwise). */
    const void *inline_body;
    uint32_t inline_len;
} yard_header_t;

/* Reusable decoding scratch. Caller owns the result; free with yard_codec_destroy(). */
typedef struct yard_codec yard_codec_t;
yard_codec_t *yard_codec_new(void);
void yard_codec_destroy(yard_codec_t **self_p);

/* Encodes cmd and h as a head frame into buf of cap bytes: the 4-byte prefix, then the
 * header. Returns the size written, or YARD_E_TOO_LARGE when it does not fit or a field is
 * over its cap. */
int yard_wire_encode(yard_cmd_t cmd, const yard_header_t *h, void *buf, size_t cap);

/* Like yard_wire_encode, then the body (at most YARD_WIRE_INLINE_MAX bytes) after the header:
 * a one-frame message. Returns the size written, or YARD_E_TOO_LARGE. */
int yard_wire_encode_inline(yard_cmd_t cmd, const yard_header_t *h, const void *body, size_t size,
                            void *buf, size_t cap);

/* Whether cmd carries a body (REQUEST, REPLY, SEND, PUBLISH). */
bool yard_cmd_has_body(yard_cmd_t cmd);

/* For a message of `frames` frames (head, and a body frame when 2) whose head decoded into h:
 * returns 1 when its body is the inline one (h->inline_body), 0 when it has no inline body,
 * or YARD_E_BAD_REQUEST with *why when bytes follow the header of a message that may not
 * have them (a body frame too, or a command without a body). */
int yard_wire_inline(yard_cmd_t cmd, int frames, const yard_header_t *h, const char **why);

/* Reads the command from a head frame's 4-byte prefix. Returns 0 and sets *cmd, or
 * YARD_E_PROTOCOL with *why set to a static reason (frame too short, bad signature,
 * unsupported version, unknown command). */
int yard_wire_parse_command(const void *data, size_t size, yard_cmd_t *cmd, const char **why);

/* Decodes a head frame: the command (YARD_E_PROTOCOL as above) and the header into *out
 * (YARD_E_BAD_REQUEST for truncated or invalid msgpack, a wrong type, a value over its cap,
 * more than YARD_WIRE_INLINE_MAX bytes after the header; the bytes after it are left in
 * out->inline_body: whether they may be there is the caller's to say, by the frame count),
 * with *why set to a static reason on error (naming the field when one is wrong). Strings in
 * *out borrow data; the headers and sensitive arrays borrow codec's scratch, valid until the
 * next decode with codec. Unknown header keys are skipped so that newer peers can add fields.
 * When a field is wrong, out->id still holds the id if it was readable (so that the answer
 * can name the request); the other fields of *out are then unspecified. */
int yard_wire_decode(yard_codec_t *codec, const void *data, size_t size, yard_cmd_t *cmd,
                     yard_header_t *out, const char **why);

/* The command's name ("REQUEST"), or "UNKNOWN". Borrowed; static storage. */
const char *yard_cmd_name(int cmd);

/* A yard_str_t over a NUL-terminated string (NULL gives the empty string). */
yard_str_t yard_str(const char *s);

/* True when a and b hold the same bytes; and when s equals the C string c. */
bool yard_str_eq(yard_str_t a, yard_str_t b);
bool yard_str_eq_cstr(yard_str_t s, const char *c);

#endif
