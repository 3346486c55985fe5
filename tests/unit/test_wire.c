/* The codec: round trips of every header field, and a table of malformed frames that must be
 * refused with a reason rather than crash or be half-read. Reads as a usage example of
 * yard/wire.h. */
#include "yard/error.h"
#include "yard/wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <msgpack.h>
#include <string.h>

/* Decodes msgpack header bytes behind a valid REQUEST prefix, as a head frame. */
static int
s_decode_raw(yard_codec_t *codec, const void *bytes, size_t size, yard_header_t *h,
             const char **why)
{
    static uint8_t frame[YARD_WIRE_HEADER_MAX + 64];
    assert_true(size + YARD_WIRE_CMD_SIZE <= sizeof frame);
    memcpy(frame, "YD\x03\x02", YARD_WIRE_CMD_SIZE);
    memcpy(frame + YARD_WIRE_CMD_SIZE, bytes, size);
    yard_cmd_t cmd;
    return yard_wire_decode(codec, frame, size + YARD_WIRE_CMD_SIZE, &cmd, h, why);
}

static void
test_command_round_trip(void **state)
{
    (void)state;
    yard_codec_t *codec = yard_codec_new();
    for (int c = YARD_CMD_READY; c <= YARD_CMD_MAX_; c++) {
        uint8_t buf[64];
        yard_header_t h = {.id = (uint64_t)c};
        int n = yard_wire_encode((yard_cmd_t)c, &h, buf, sizeof buf);
        assert_true(n > YARD_WIRE_CMD_SIZE);
        yard_cmd_t got = 0;
        const char *why = NULL;
        assert_int_equal(yard_wire_parse_command(buf, (size_t)n, &got, &why), 0);
        assert_int_equal(got, c);
        yard_header_t out;
        got = 0;
        assert_int_equal(yard_wire_decode(codec, buf, (size_t)n, &got, &out, &why), 0);
        assert_int_equal(got, c);
        assert_int_equal(out.id, c);
        assert_string_not_equal(yard_cmd_name(c), "UNKNOWN");
    }
    yard_codec_destroy(&codec);
}

static void
test_command_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t size;
        const char *why;
    } cases[] = {
        {"", 0, "head frame shorter than its 4-byte prefix"},
        {"YD\x02", 3, "head frame shorter than its 4-byte prefix"},
        {"XD\x01\x02\x80", 5, "bad protocol signature"},
        {"YD\x04\x02\x80", 5, "unsupported protocol version"},
        {"YD\x01\x02\x80", 5,
         "the peer speaks protocol YD/1, this one YD/3: upgrade libyard on both sides"},
        {"YD\x02\x02\x80", 5,
         "the peer speaks protocol YD/2, this one YD/3: upgrade libyard on both sides"},
        {"YD\x03\x00\x80", 5, "unknown command"},
        {"YD\x03\x63\x80", 5, "unknown command"},
    };
    yard_codec_t *codec = yard_codec_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        yard_cmd_t cmd;
        yard_header_t h;
        const char *why = NULL;
        assert_int_equal(yard_wire_parse_command(cases[i].bytes, cases[i].size, &cmd, &why),
                         YARD_E_PROTOCOL);
        assert_string_equal(why, cases[i].why);
        why = NULL;
        assert_int_equal(yard_wire_decode(codec, cases[i].bytes, cases[i].size, &cmd, &h, &why),
                         YARD_E_PROTOCOL);
        assert_string_equal(why, cases[i].why);
    }
    yard_codec_destroy(&codec);
}

static void
test_header_round_trip(void **state)
{
    (void)state;
    yard_kv_t kv[2] = {{yard_str("x-request-id"), yard_str("abc")},
                       {yard_str("trace"), yard_str("")}};
    yard_str_t ops[2] = {yard_str("login"), yard_str("user.*")};
    yard_header_t in = {
        .id = UINT64_MAX,
        .service = yard_str("echo"),
        .op = yard_str("user.get"),
        .timeout_ms = 2500,
        .flags = YARD_FLAG_IDEMPOTENT,
        .headers = kv,
        .header_count = 2,
        .error = yard_err_to_wire(YARD_E_SERVICE),
        .error_text = yard_str("no such user"),
        .app_error = yard_str("USER_NOT_FOUND"),
        .credit = 16,
        .heartbeat_ms = 1000,
        .replica = yard_str("host/42/0"),
        .store = yard_str("redis://cache:6379/0"),
        .sensitive = ops,
        .sensitive_count = 2,
    };
    uint8_t buf[YARD_WIRE_HEADER_MAX];
    int n = yard_wire_encode(YARD_CMD_ERROR, &in, buf, sizeof buf);
    assert_true(n > 0);

    yard_codec_t *codec = yard_codec_new();
    yard_header_t out;
    yard_cmd_t cmd = 0;
    const char *why = NULL;
    assert_int_equal(yard_wire_decode(codec, buf, (size_t)n, &cmd, &out, &why), 0);
    assert_int_equal(cmd, YARD_CMD_ERROR);
    assert_true(out.id == UINT64_MAX);
    assert_true(yard_str_eq_cstr(out.service, "echo"));
    assert_true(yard_str_eq_cstr(out.op, "user.get"));
    assert_int_equal(out.timeout_ms, 2500);
    assert_int_equal(out.flags, YARD_FLAG_IDEMPOTENT);
    assert_int_equal(out.header_count, 2);
    assert_true(yard_str_eq_cstr(out.headers[0].key, "x-request-id"));
    assert_true(yard_str_eq_cstr(out.headers[0].value, "abc"));
    assert_true(yard_str_eq_cstr(out.headers[1].value, ""));
    assert_int_equal(yard_err_from_wire(out.error), YARD_E_SERVICE);
    assert_true(yard_str_eq_cstr(out.error_text, "no such user"));
    assert_true(yard_str_eq_cstr(out.app_error, "USER_NOT_FOUND"));
    assert_int_equal(out.credit, 16);
    assert_int_equal(out.heartbeat_ms, 1000);
    assert_true(yard_str_eq_cstr(out.replica, "host/42/0"));
    assert_true(yard_str_eq_cstr(out.store, "redis://cache:6379/0"));
    assert_int_equal(out.sensitive_count, 2);
    assert_true(yard_str_eq_cstr(out.sensitive[0], "login"));
    assert_true(yard_str_eq_cstr(out.sensitive[1], "user.*"));
    /* Zero-copy: decoded strings point into the frame. */
    assert_true((const uint8_t *)out.service.ptr >= buf &&
                (const uint8_t *)out.service.ptr < buf + n);
    yard_codec_destroy(&codec);
    assert_null(codec);
}

static void
test_header_empty_fields_are_omitted(void **state)
{
    (void)state;
    yard_header_t in = {.id = 7};
    uint8_t buf[64];
    int n = yard_wire_encode(YARD_CMD_HEARTBEAT, &in, buf, sizeof buf);
    /* the prefix, then fixmap of 1, key 1, positive fixint 7 */
    assert_int_equal(n, YARD_WIRE_CMD_SIZE + 3);
    assert_memory_equal(buf, "YD\x03\x08", YARD_WIRE_CMD_SIZE);
    assert_int_equal(buf[4], 0x81);
}

static void
test_encode_overflow(void **state)
{
    (void)state;
    yard_header_t in = {.id = 1, .service = yard_str("a-service-name-that-is-long")};
    uint8_t buf[8];
    assert_int_equal(yard_wire_encode(YARD_CMD_REQUEST, &in, buf, sizeof buf), YARD_E_TOO_LARGE);
    assert_int_equal(yard_wire_encode(YARD_CMD_REQUEST, &in, buf, 2), YARD_E_TOO_LARGE);

    char big[YARD_WIRE_NAME_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    yard_header_t over = {.service = yard_str(big)};
    uint8_t large[YARD_WIRE_HEADER_MAX];
    assert_int_equal(yard_wire_encode(YARD_CMD_REQUEST, &over, large, sizeof large),
                     YARD_E_TOO_LARGE);
}

/* Packs a header map by hand so that the malformed cases below can be built exactly. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} s_pack_t;

static void
s_pack_init(s_pack_t *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void
test_decode_rejects(void **state)
{
    (void)state;
    yard_codec_t *codec = yard_codec_new();
    yard_header_t h;
    const char *why;
    uint8_t valid[] = {0x82, 0x01, 0x05, 0x02, 0xa4, 'e', 'c', 'h', 'o'};

    /* Truncated at every length short of the whole. */
    for (size_t n = 0; n < sizeof valid; n++) {
        why = NULL;
        assert_int_equal(s_decode_raw(codec, valid, n, &h, &why), YARD_E_BAD_REQUEST);
        assert_non_null(why);
    }
    assert_int_equal(s_decode_raw(codec, valid, sizeof valid, &h, &why), 0);
    assert_int_equal(h.id, 5);

    static const struct {
        const uint8_t bytes[16];
        size_t size;
        const char *why;
    } cases[] = {
        {{0x93, 0x01, 0x02, 0x03}, 4, "header is not a msgpack map"},
        {{0xc1}, 1, "header is not valid msgpack"},
        {{0x81, 0xa1, 'x', 0x01}, 4, "header key is not an unsigned integer"},
        {{0x81, 0x01, 0xa1, 'x'}, 4, "id is not an unsigned 64-bit integer"},
        {{0x81, 0x02, 0x05}, 3, "service is not a string of at most 255 bytes"},
        {{0x81, 0x04, 0xcf, 1, 0, 0, 0, 0, 0, 0, 0},
         11,
         "timeout_ms is not an unsigned 32-bit integer"},
        {{0x81, 0x04, 0xff}, 3, "timeout_ms is not an unsigned 32-bit integer"},
        {{0x81, 0x0e, 0xa1, 'x'}, 4, "sensitive is not an array"},
        {{0x81, 0x0e, 0x91, 0x05}, 4, "a sensitive op is not a string of 1 to 255 bytes"},
        {{0x81, 0x0e, 0x91, 0xa0}, 4, "a sensitive op is not a string of 1 to 255 bytes"},
        {{0x81, 0x06, 0x93, 1, 2, 3}, 6, "headers is not a map"},
        {{0x81, 0x06, 0x81, 0x01, 0xa1, 'v'},
         6,
         "header key or value is not a string or is too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why = NULL;
        assert_int_equal(s_decode_raw(codec, cases[i].bytes, cases[i].size, &h, &why),
                         YARD_E_BAD_REQUEST);
        assert_string_equal(why, cases[i].why);
    }

    static uint8_t huge[YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX + 1] = {
        'Y', 'D', YARD_WIRE_VERSION, YARD_CMD_REQUEST, 0x80};
    yard_cmd_t cmd;
    assert_int_equal(yard_wire_decode(codec, huge, sizeof huge, &cmd, &h, &why),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(why, "head frame over 16 KiB and an inline body");
    /* Bytes after the header are an inline body: at most YARD_WIRE_INLINE_MAX of them. */
    assert_int_equal(yard_wire_decode(codec, huge,
                                      YARD_WIRE_CMD_SIZE + 1 + YARD_WIRE_INLINE_MAX + 1, &cmd, &h,
                                      &why),
                     YARD_E_BAD_REQUEST);
    assert_string_equal(why, "inline body over 1 KiB: a larger body travels in its own frame");
    yard_codec_destroy(&codec);
}

static void
test_inline_body(void **state)
{
    (void)state;
    yard_codec_t *codec = yard_codec_new();
    uint8_t buf[YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX];
    yard_header_t in = {.id = 9, .service = yard_str("echo")};
    int n = yard_wire_encode_inline(YARD_CMD_REQUEST, &in,
                                    "¡"
                                    "a",
                                    4, buf, sizeof buf);
    assert_true(n > 4);
    yard_cmd_t cmd;
    yard_header_t h;
    const char *why = NULL;
    assert_int_equal(yard_wire_decode(codec, buf, (size_t)n, &cmd, &h, &why), 0);
    assert_int_equal(h.id, 9);
    assert_int_equal(h.inline_len, 4);
    assert_memory_equal(h.inline_body,
                        "¡"
                        "a",
                        4);
    /* One frame: the body is the inline one; two frames: bytes after the header are wrong,
     * and so are they for a command without a body. */
    assert_int_equal(yard_wire_inline(cmd, 1, &h, &why), 1);
    assert_int_equal(yard_wire_inline(cmd, 2, &h, &why), YARD_E_BAD_REQUEST);
    assert_string_equal(why, "bytes after the header of a message that has no inline body");
    assert_int_equal(yard_wire_inline(YARD_CMD_HEARTBEAT, 1, &h, &why), YARD_E_BAD_REQUEST);
    /* An empty inline body is a body. */
    n = yard_wire_encode_inline(YARD_CMD_REPLY, &in, NULL, 0, buf, sizeof buf);
    assert_int_equal(yard_wire_decode(codec, buf, (size_t)n, &cmd, &h, &why), 0);
    assert_int_equal(yard_wire_inline(cmd, 1, &h, &why), 1);
    assert_int_equal(h.inline_len, 0);
    /* Too large to go inline. */
    static uint8_t big[YARD_WIRE_INLINE_MAX + 1];
    assert_int_equal(yard_wire_encode_inline(YARD_CMD_REPLY, &in, big, sizeof big, buf, sizeof buf),
                     YARD_E_TOO_LARGE);
    yard_codec_destroy(&codec);
}

static void
test_decode_caps(void **state)
{
    (void)state;
    yard_codec_t *codec = yard_codec_new();
    yard_header_t h;
    const char *why = NULL;

    /* Too many headers. */
    s_pack_t p;
    s_pack_init(&p);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_uint8(&p.pk, YARD_KEY_HEADERS);
    msgpack_pack_map(&p.pk, YARD_WIRE_HEADERS_MAX + 1);
    for (int i = 0; i <= YARD_WIRE_HEADERS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        s_pack_str(&p.pk, k);
        s_pack_str(&p.pk, "v");
    }
    assert_int_equal(s_decode_raw(codec, p.sb.data, p.sb.size, &h, &why), YARD_E_BAD_REQUEST);
    assert_string_equal(why, "too many headers");
    msgpack_sbuffer_destroy(&p.sb);

    /* A service name one byte over the cap. */
    char name[YARD_WIRE_NAME_MAX + 2];
    memset(name, 's', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    s_pack_init(&p);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_uint8(&p.pk, YARD_KEY_SERVICE);
    s_pack_str(&p.pk, name);
    assert_int_equal(s_decode_raw(codec, p.sb.data, p.sb.size, &h, &why), YARD_E_BAD_REQUEST);
    msgpack_sbuffer_destroy(&p.sb);

    /* A store identity: up to its cap, not one byte over, and only a string. */
    char store[YARD_WIRE_STORE_MAX + 2];
    memset(store, 'm', sizeof store - 1);
    store[sizeof store - 1] = '\0';
    s_pack_init(&p);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_uint8(&p.pk, YARD_KEY_STORE);
    s_pack_str(&p.pk, store);
    assert_int_equal(s_decode_raw(codec, p.sb.data, p.sb.size, &h, &why), YARD_E_BAD_REQUEST);
    msgpack_sbuffer_destroy(&p.sb);
    store[YARD_WIRE_STORE_MAX] = '\0';
    s_pack_init(&p);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_uint8(&p.pk, YARD_KEY_STORE);
    s_pack_str(&p.pk, store);
    assert_int_equal(s_decode_raw(codec, p.sb.data, p.sb.size, &h, &why), 0);
    assert_int_equal(h.store.len, YARD_WIRE_STORE_MAX);
    msgpack_sbuffer_destroy(&p.sb);
    s_pack_init(&p);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_uint8(&p.pk, YARD_KEY_STORE);
    msgpack_pack_uint8(&p.pk, 7);
    assert_int_equal(s_decode_raw(codec, p.sb.data, p.sb.size, &h, &why), YARD_E_BAD_REQUEST);
    msgpack_sbuffer_destroy(&p.sb);
    yard_header_t over_store = {.service = yard_str("auth"), .store = yard_str(store)};
    uint8_t out[YARD_WIRE_HEADER_MAX];
    assert_true(yard_wire_encode(YARD_CMD_READY, &over_store, out, sizeof out) > 0);
    store[YARD_WIRE_STORE_MAX] = 'm';
    over_store.store = yard_str(store);
    assert_int_equal(yard_wire_encode(YARD_CMD_READY, &over_store, out, sizeof out),
                     YARD_E_TOO_LARGE);

    /* Unknown keys are skipped, known ones still read. */
    s_pack_init(&p);
    msgpack_pack_map(&p.pk, 2);
    msgpack_pack_uint8(&p.pk, 200);
    msgpack_pack_array(&p.pk, 0);
    msgpack_pack_uint8(&p.pk, YARD_KEY_ID);
    msgpack_pack_uint8(&p.pk, 9);
    assert_int_equal(s_decode_raw(codec, p.sb.data, p.sb.size, &h, &why), 0);
    assert_int_equal(h.id, 9);
    msgpack_sbuffer_destroy(&p.sb);
    yard_codec_destroy(&codec);
}

/* A wrong field still leaves the id readable, before it or after it, so that the broker's
 * BAD_REQUEST can name the request (docs/protocol.md section 8). */
static void
test_decode_keeps_the_id_of_a_bad_request(void **state)
{
    (void)state;
    yard_codec_t *codec = yard_codec_new();
    yard_header_t h;
    const char *why = NULL;
    /* {1: 42, 4: 2^32} and {4: -1, 2: "echo", 1: 43} */
    const uint8_t before[] = {0x82, 0x01, 0x2a, 0x04, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0};
    const uint8_t after[] = {0x83, 0x04, 0xff, 0x02, 0xa4, 'e', 'c', 'h', 'o', 0x01, 0x2b};
    assert_int_equal(s_decode_raw(codec, before, sizeof before, &h, &why), YARD_E_BAD_REQUEST);
    assert_string_equal(why, "timeout_ms is not an unsigned 32-bit integer");
    assert_int_equal(h.id, 42);
    assert_int_equal(s_decode_raw(codec, after, sizeof after, &h, &why), YARD_E_BAD_REQUEST);
    assert_string_equal(why, "timeout_ms is not an unsigned 32-bit integer");
    assert_int_equal(h.id, 43);
    /* An id that is itself wrong is not one. */
    const uint8_t bad_id[] = {0x82, 0x04, 0xff, 0x01, 0xa1, 'x'};
    assert_int_equal(s_decode_raw(codec, bad_id, sizeof bad_id, &h, &why), YARD_E_BAD_REQUEST);
    assert_int_equal(h.id, 0);
    yard_codec_destroy(&codec);
}

/* READY's sensitive ops: at most 64, each a non-empty string, both ways. */
static void
test_sensitive_caps(void **state)
{
    (void)state;
    yard_str_t ops[YARD_WIRE_SENSITIVE_MAX + 1];
    for (int i = 0; i <= YARD_WIRE_SENSITIVE_MAX; i++) {
        ops[i] = yard_str("op");
    }
    yard_header_t in = {
        .service = yard_str("auth"), .sensitive = ops, .sensitive_count = YARD_WIRE_SENSITIVE_MAX};
    uint8_t buf[YARD_WIRE_HEADER_MAX];
    assert_true(yard_wire_encode(YARD_CMD_READY, &in, buf, sizeof buf) > 0);
    in.sensitive_count++;
    assert_int_equal(yard_wire_encode(YARD_CMD_READY, &in, buf, sizeof buf), YARD_E_TOO_LARGE);
    in.sensitive_count = 1;
    in.sensitive = (yard_str_t[]){yard_str("")};
    assert_int_equal(yard_wire_encode(YARD_CMD_READY, &in, buf, sizeof buf), YARD_E_TOO_LARGE);

    s_pack_t p;
    s_pack_init(&p);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_uint8(&p.pk, YARD_KEY_SENSITIVE);
    msgpack_pack_array(&p.pk, YARD_WIRE_SENSITIVE_MAX + 1);
    for (int i = 0; i <= YARD_WIRE_SENSITIVE_MAX; i++) {
        s_pack_str(&p.pk, "op");
    }
    yard_codec_t *codec = yard_codec_new();
    yard_header_t h;
    const char *why = NULL;
    assert_int_equal(s_decode_raw(codec, p.sb.data, p.sb.size, &h, &why), YARD_E_BAD_REQUEST);
    assert_string_equal(why, "sensitive lists more than 64 ops");
    msgpack_sbuffer_destroy(&p.sb);
    yard_codec_destroy(&codec);
}

static void
test_error_table(void **state)
{
    (void)state;
    assert_string_equal(yard_err_name(YARD_E_NO_SERVICE), "NO_SERVICE");
    assert_int_equal(yard_err_from_name("TIMEOUT"), YARD_E_TIMEOUT);
    assert_int_equal(yard_err_from_name("nonsense"), 0);
    assert_int_equal(yard_err_to_wire(YARD_E_WORKER_LOST), 3);
    assert_int_equal(yard_err_from_wire(3), YARD_E_WORKER_LOST);
    assert_int_equal(yard_err_from_wire(9999), YARD_E_INTERNAL);
    assert_string_equal(yard_strerror(YARD_E_OVERLOADED), "the service queue is full; retry later");
    assert_string_equal(yard_err_name(-9999), "UNKNOWN");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_round_trip),
        cmocka_unit_test(test_command_rejects),
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_header_empty_fields_are_omitted),
        cmocka_unit_test(test_encode_overflow),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_inline_body),
        cmocka_unit_test(test_decode_caps),
        cmocka_unit_test(test_decode_keeps_the_id_of_a_bad_request),
        cmocka_unit_test(test_sensitive_caps),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
