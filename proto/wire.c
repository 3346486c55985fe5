/* The YD/3 codec. Decoding uses msgpack-c's unpacker over a zone that is reset, not freed,
 * between messages, so a steady stream of headers costs no heap allocation after warm-up.
 * msgpack_unpack() leaves str objects pointing into the input, which is what makes the
 * decoded header zero-copy. Encoding packs into the caller's fixed buffer. */
#include "mp_internal.h"
#include "yard/wire.h"
#include "yard/error.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define S_ZONE_CHUNK 4096

struct yard_codec {
    msgpack_zone zone;
};

yard_codec_t *
yard_codec_new(void)
{
    yard_codec_t *self = calloc(1, sizeof *self);
    if (!self || !msgpack_zone_init(&self->zone, S_ZONE_CHUNK)) {
        abort();
    }
    return self;
}

void
yard_codec_destroy(yard_codec_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    msgpack_zone_destroy(&(*self_p)->zone);
    free(*self_p);
    *self_p = NULL;
}

static const char *const s_cmd_names[] = {
    [YARD_CMD_READY] = "READY",
    [YARD_CMD_REQUEST] = "REQUEST",
    [YARD_CMD_REPLY] = "REPLY",
    [YARD_CMD_SEND] = "SEND",
    [YARD_CMD_PUBLISH] = "PUBLISH",
    [YARD_CMD_SUBSCRIBE] = "SUBSCRIBE",
    [YARD_CMD_UNSUBSCRIBE] = "UNSUBSCRIBE",
    [YARD_CMD_HEARTBEAT] = "HEARTBEAT",
    [YARD_CMD_DISCONNECT] = "DISCONNECT",
    [YARD_CMD_ERROR] = "ERROR",
    [YARD_CMD_DRAIN] = "DRAIN",
    [YARD_CMD_BATCH] = "BATCH",
};

const char *
yard_cmd_name(int cmd)
{
    if (cmd < 1 || cmd > YARD_CMD_MAX_) {
        return "UNKNOWN";
    }
    return s_cmd_names[cmd];
}

int
yard_wire_parse_command(const void *data, size_t size, yard_cmd_t *cmd, const char **why)
{
    const uint8_t *b = data;
    if (size < YARD_WIRE_CMD_SIZE) {
        *why = "head frame shorter than its 4-byte prefix";
        return YARD_E_PROTOCOL;
    }
    if (b[0] != YARD_WIRE_SIG0 || b[1] != YARD_WIRE_SIG1) {
        *why = "bad protocol signature";
        return YARD_E_PROTOCOL;
    }
    if (b[2] != YARD_WIRE_VERSION) {
        *why = b[2] == 1   ? "the peer speaks protocol YD/1, this one YD/3: upgrade libyard on "
                             "both sides"
               : b[2] == 2 ? "the peer speaks protocol YD/2, this one YD/3: upgrade libyard on "
                             "both sides"
                           : "unsupported protocol version";
        return YARD_E_PROTOCOL;
    }
    if (b[3] < 1 || b[3] > YARD_CMD_MAX_) {
        *why = "unknown command";
        return YARD_E_PROTOCOL;
    }
    *cmd = (yard_cmd_t)b[3];
    return 0;
}

/* --- decoding --------------------------------------------------------------------------- */

static int
s_get_uint(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max) {
        return -1;
    }
    *out = o->via.u64;
    return 0;
}

static int
s_get_str(const msgpack_object *o, uint32_t max, yard_str_t *out)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max) {
        return -1;
    }
    out->ptr = o->via.str.ptr;
    out->len = o->via.str.size;
    return 0;
}

static int
s_get_headers(yard_codec_t *codec, const msgpack_object *o, yard_header_t *out, const char **why)
{
    if (o->type != MSGPACK_OBJECT_MAP) {
        *why = "headers is not a map";
        return -1;
    }
    uint32_t n = o->via.map.size;
    if (n > YARD_WIRE_HEADERS_MAX) {
        *why = "too many headers";
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    yard_kv_t *kv = msgpack_zone_malloc(&codec->zone, n * sizeof *kv);
    if (!kv) {
        abort();
    }
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *p = &o->via.map.ptr[i];
        if (s_get_str(&p->key, YARD_WIRE_NAME_MAX, &kv[i].key) ||
            s_get_str(&p->val, YARD_WIRE_VALUE_MAX, &kv[i].value)) {
            *why = "header key or value is not a string or is too long";
            return -1;
        }
    }
    out->headers = kv;
    out->header_count = n;
    return 0;
}

/* READY's sensitive ops: an array of at most YARD_WIRE_SENSITIVE_MAX strings. */
static int
s_get_sensitive(yard_codec_t *codec, const msgpack_object *o, yard_header_t *out, const char **why)
{
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        *why = "sensitive is not an array";
        return -1;
    }
    uint32_t n = o->via.array.size;
    if (n > YARD_WIRE_SENSITIVE_MAX) {
        *why = "sensitive lists more than 64 ops";
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    yard_str_t *ops = msgpack_zone_malloc(&codec->zone, n * sizeof *ops);
    if (!ops) {
        abort();
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s_get_str(&o->via.array.ptr[i], YARD_WIRE_NAME_MAX, &ops[i]) || ops[i].len == 0) {
            *why = "a sensitive op is not a string of 1 to 255 bytes";
            return -1;
        }
    }
    out->sensitive = ops;
    out->sensitive_count = n;
    return 0;
}

/* What is wrong with a field of the given key that failed its type or cap check. */
static const char *
s_field_why(uint64_t key)
{
    static const char *const whys[] = {
        [YARD_KEY_ID] = "id is not an unsigned 64-bit integer",
        [YARD_KEY_SERVICE] = "service is not a string of at most 255 bytes",
        [YARD_KEY_OP] = "op is not a string of at most 255 bytes",
        [YARD_KEY_TIMEOUT_MS] = "timeout_ms is not an unsigned 32-bit integer",
        [YARD_KEY_FLAGS] = "flags is not an unsigned 32-bit integer",
        [YARD_KEY_ERROR] = "error is not an unsigned 32-bit integer",
        [YARD_KEY_ERROR_TEXT] = "error_text is not a string of at most 1024 bytes",
        [YARD_KEY_APP_ERROR] = "app_error is not a string of at most 255 bytes",
        [YARD_KEY_CREDIT] = "credit is not an unsigned 32-bit integer",
        [YARD_KEY_HEARTBEAT_MS] = "heartbeat_ms is not an unsigned 32-bit integer",
        [YARD_KEY_REPLICA] = "replica is not a string of at most 255 bytes",
        [YARD_KEY_STORE] = "store is not a string of at most 512 bytes",
    };
    if (key < sizeof whys / sizeof whys[0] && whys[key]) {
        return whys[key];
    }
    return "header field has the wrong type or is too long";
}

static int
s_decode_field(yard_codec_t *codec, uint64_t key, const msgpack_object *v, yard_header_t *h,
               const char **why)
{
    uint64_t u = 0;
    int rc = 0;
    switch (key) {
    case YARD_KEY_ID:
        rc = s_get_uint(v, UINT64_MAX, &h->id);
        break;
    case YARD_KEY_SERVICE:
        rc = s_get_str(v, YARD_WIRE_NAME_MAX, &h->service);
        break;
    case YARD_KEY_OP:
        rc = s_get_str(v, YARD_WIRE_NAME_MAX, &h->op);
        break;
    case YARD_KEY_TIMEOUT_MS:
        rc = s_get_uint(v, UINT32_MAX, &u);
        h->timeout_ms = (uint32_t)u;
        break;
    case YARD_KEY_FLAGS:
        rc = s_get_uint(v, UINT32_MAX, &u);
        h->flags = (uint32_t)u;
        break;
    case YARD_KEY_HEADERS:
        return s_get_headers(codec, v, h, why);
    case YARD_KEY_ERROR:
        rc = s_get_uint(v, UINT32_MAX, &u);
        h->error = (uint32_t)u;
        break;
    case YARD_KEY_ERROR_TEXT:
        rc = s_get_str(v, YARD_WIRE_TEXT_MAX, &h->error_text);
        break;
    case YARD_KEY_APP_ERROR:
        rc = s_get_str(v, YARD_WIRE_NAME_MAX, &h->app_error);
        break;
    case YARD_KEY_CREDIT:
        rc = s_get_uint(v, UINT32_MAX, &u);
        h->credit = (uint32_t)u;
        break;
    case YARD_KEY_HEARTBEAT_MS:
        rc = s_get_uint(v, UINT32_MAX, &u);
        h->heartbeat_ms = (uint32_t)u;
        break;
    case YARD_KEY_REPLICA:
        rc = s_get_str(v, YARD_WIRE_NAME_MAX, &h->replica);
        break;
    case YARD_KEY_STORE:
        rc = s_get_str(v, YARD_WIRE_STORE_MAX, &h->store);
        break;
    case YARD_KEY_SENSITIVE:
        return s_get_sensitive(codec, v, h, why);
    default:
        return 0; /* a newer peer's field: skip it */
    }
    if (rc) {
        *why = s_field_why(key);
    }
    return rc;
}

static int
s_decode_header(yard_codec_t *codec, const void *data, size_t size, yard_header_t *out,
                const char **why)
{
    msgpack_zone_clear(&codec->zone);
    /* The bounded scan first (mp.c): msgpack-c allocates a container's elements from its
     * claimed count, and the 16 KiB cap on the frame does not bound what a count claims. */
    char reason[96] = "";
    size_t end = 0;
    if (yard__mp_scan(data, size, &end, NULL, reason, sizeof reason) != 0) {
        *why = strstr(reason, "truncated") ? "header is truncated msgpack"
                                           : "header is not valid msgpack";
        return YARD_E_BAD_REQUEST;
    }
    if (end + YARD_WIRE_CMD_SIZE > YARD_WIRE_HEADER_MAX) {
        *why = "header over 16 KiB";
        return YARD_E_BAD_REQUEST;
    }
    if (size - end > YARD_WIRE_INLINE_MAX) {
        *why = "inline body over 1 KiB: a larger body travels in its own frame";
        return YARD_E_BAD_REQUEST;
    }
    out->inline_body = (const uint8_t *)data + end;
    out->inline_len = (uint32_t)(size - end);
    msgpack_object root;
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack(data, end, &off, &codec->zone, &root);
    if (ur == MSGPACK_UNPACK_CONTINUE) {
        *why = "header is truncated msgpack";
        return YARD_E_BAD_REQUEST;
    }
    if (ur != MSGPACK_UNPACK_SUCCESS) {
        *why = ur == MSGPACK_UNPACK_EXTRA_BYTES ? "trailing bytes after header"
                                                : "header is not valid msgpack";
        return YARD_E_BAD_REQUEST;
    }
    if (root.type != MSGPACK_OBJECT_MAP) {
        *why = "header is not a msgpack map";
        return YARD_E_BAD_REQUEST;
    }
    int rc = 0;
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        const msgpack_object_kv *kv = &root.via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            if (rc == 0) {
                *why = "header key is not an unsigned integer";
                rc = YARD_E_BAD_REQUEST;
            }
            continue;
        }
        if (rc != 0) { /* past the first wrong field, only the id is still of use */
            if (kv->key.via.u64 == YARD_KEY_ID && s_get_uint(&kv->val, UINT64_MAX, &out->id)) {
                out->id = 0;
            }
            continue;
        }
        if (s_decode_field(codec, kv->key.via.u64, &kv->val, out, why)) {
            rc = YARD_E_BAD_REQUEST;
        }
    }
    return rc;
}

int
yard_wire_decode(yard_codec_t *codec, const void *data, size_t size, yard_cmd_t *cmd,
                 yard_header_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    int rc = yard_wire_parse_command(data, size, cmd, why);
    if (rc != 0) {
        return rc;
    }
    if (size > YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX) {
        *why = "head frame over 16 KiB and an inline body";
        return YARD_E_BAD_REQUEST;
    }
    return s_decode_header(codec, (const uint8_t *)data + YARD_WIRE_CMD_SIZE,
                           size - YARD_WIRE_CMD_SIZE, out, why);
}

/* --- encoding --------------------------------------------------------------------------- */

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
} s_fixed_buf_t;

static int
s_fixed_write(void *data, const char *buf, size_t len)
{
    s_fixed_buf_t *fb = data;
    if (fb->overflow || len > fb->cap - fb->len) {
        fb->overflow = true;
        return -1;
    }
    if (len) { /* an empty string (a header's empty key) may come with a NULL buf */
        memcpy(fb->buf + fb->len, buf, len);
    }
    fb->len += len;
    return 0;
}

static void
s_pack_str(msgpack_packer *pk, yard_str_t s)
{
    msgpack_pack_str(pk, s.len);
    msgpack_pack_str_body(pk, s.ptr, s.len);
}

static bool
s_str_ok(yard_str_t s, uint32_t max)
{
    return s.len <= max && (s.len == 0 || s.ptr != NULL);
}

static uint32_t
s_field_count(const yard_header_t *h)
{
    return (h->id != 0) + (h->service.len != 0) + (h->op.len != 0) + (h->timeout_ms != 0) +
           (h->flags != 0) + (h->header_count != 0) + (h->error != 0) + (h->error_text.len != 0) +
           (h->app_error.len != 0) + (h->credit != 0) + (h->heartbeat_ms != 0) +
           (h->replica.len != 0) + (h->store.len != 0) + (h->sensitive_count != 0);
}

static bool
s_header_fits_caps(const yard_header_t *h)
{
    if (!s_str_ok(h->service, YARD_WIRE_NAME_MAX) || !s_str_ok(h->op, YARD_WIRE_NAME_MAX) ||
        !s_str_ok(h->error_text, YARD_WIRE_TEXT_MAX) ||
        !s_str_ok(h->app_error, YARD_WIRE_NAME_MAX) || !s_str_ok(h->replica, YARD_WIRE_NAME_MAX) ||
        !s_str_ok(h->store, YARD_WIRE_STORE_MAX) || h->header_count > YARD_WIRE_HEADERS_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < h->header_count; i++) {
        if (!s_str_ok(h->headers[i].key, YARD_WIRE_NAME_MAX) ||
            !s_str_ok(h->headers[i].value, YARD_WIRE_VALUE_MAX)) {
            return false;
        }
    }
    if (h->sensitive_count > YARD_WIRE_SENSITIVE_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < h->sensitive_count; i++) {
        if (h->sensitive[i].len == 0 || !s_str_ok(h->sensitive[i], YARD_WIRE_NAME_MAX)) {
            return false;
        }
    }
    return true;
}

static void
s_pack_uint_field(msgpack_packer *pk, int key, uint64_t v)
{
    if (v) {
        msgpack_pack_uint8(pk, (uint8_t)key);
        msgpack_pack_uint64(pk, v);
    }
}

static void
s_pack_str_field(msgpack_packer *pk, int key, yard_str_t s)
{
    if (s.len) {
        msgpack_pack_uint8(pk, (uint8_t)key);
        s_pack_str(pk, s);
    }
}

int
yard_wire_encode(yard_cmd_t cmd, const yard_header_t *h, void *buf, size_t cap)
{
    if (!s_header_fits_caps(h) || cap < YARD_WIRE_CMD_SIZE) {
        return YARD_E_TOO_LARGE;
    }
    uint8_t *b = buf;
    b[0] = YARD_WIRE_SIG0;
    b[1] = YARD_WIRE_SIG1;
    b[2] = YARD_WIRE_VERSION;
    b[3] = (uint8_t)cmd;
    s_fixed_buf_t fb = {.buf = b, .cap = cap, .len = YARD_WIRE_CMD_SIZE};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &fb, s_fixed_write);
    msgpack_pack_map(&pk, s_field_count(h));
    s_pack_uint_field(&pk, YARD_KEY_ID, h->id);
    s_pack_str_field(&pk, YARD_KEY_SERVICE, h->service);
    s_pack_str_field(&pk, YARD_KEY_OP, h->op);
    s_pack_uint_field(&pk, YARD_KEY_TIMEOUT_MS, h->timeout_ms);
    s_pack_uint_field(&pk, YARD_KEY_FLAGS, h->flags);
    if (h->header_count) {
        msgpack_pack_uint8(&pk, YARD_KEY_HEADERS);
        msgpack_pack_map(&pk, h->header_count);
        for (uint32_t i = 0; i < h->header_count; i++) {
            s_pack_str(&pk, h->headers[i].key);
            s_pack_str(&pk, h->headers[i].value);
        }
    }
    s_pack_uint_field(&pk, YARD_KEY_ERROR, h->error);
    s_pack_str_field(&pk, YARD_KEY_ERROR_TEXT, h->error_text);
    s_pack_str_field(&pk, YARD_KEY_APP_ERROR, h->app_error);
    s_pack_uint_field(&pk, YARD_KEY_CREDIT, h->credit);
    s_pack_uint_field(&pk, YARD_KEY_HEARTBEAT_MS, h->heartbeat_ms);
    s_pack_str_field(&pk, YARD_KEY_REPLICA, h->replica);
    s_pack_str_field(&pk, YARD_KEY_STORE, h->store);
    if (h->sensitive_count) {
        msgpack_pack_uint8(&pk, YARD_KEY_SENSITIVE);
        msgpack_pack_array(&pk, h->sensitive_count);
        for (uint32_t i = 0; i < h->sensitive_count; i++) {
            s_pack_str(&pk, h->sensitive[i]);
        }
    }
    if (fb.overflow) {
        return YARD_E_TOO_LARGE;
    }
    return (int)fb.len;
}

int
yard_wire_encode_inline(yard_cmd_t cmd, const yard_header_t *h, const void *body, size_t size,
                        void *buf, size_t cap)
{
    int n = yard_wire_encode(cmd, h, buf, cap);
    if (n < 0) {
        return n;
    }
    if (size > YARD_WIRE_INLINE_MAX || (size_t)n + size > cap) {
        return YARD_E_TOO_LARGE;
    }
    if (size) {
        memcpy((uint8_t *)buf + n, body, size);
    }
    return n + (int)size;
}

bool
yard_cmd_has_body(yard_cmd_t cmd)
{
    return cmd == YARD_CMD_REQUEST || cmd == YARD_CMD_REPLY || cmd == YARD_CMD_SEND ||
           cmd == YARD_CMD_PUBLISH;
}

int
yard_wire_inline(yard_cmd_t cmd, int frames, const yard_header_t *h, const char **why)
{
    bool may = frames == 1 && yard_cmd_has_body(cmd);
    if (h->inline_len && !may) {
        *why = "bytes after the header of a message that has no inline body";
        return YARD_E_BAD_REQUEST;
    }
    return may;
}

/* --- strings ---------------------------------------------------------------------------- */

yard_str_t
yard_str(const char *s)
{
    yard_str_t r = {s ? s : "", s ? (uint32_t)strlen(s) : 0};
    return r;
}

bool
yard_str_eq(yard_str_t a, yard_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool
yard_str_eq_cstr(yard_str_t s, const char *c)
{
    return yard_str_eq(s, yard_str(c));
}
