/* Batches (yard/batch.h): what goes in comes out, in order and byte for byte; a lone message
 * is sent as itself; a full batch says so; and a malformed BATCH frame is refused with a
 * reason at the entry where it goes wrong, never read past. */
#include "yard/batch.h"
#include "yard/error.h"
#include "yard/wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

/* A REQUEST with id and an inline body of size bytes of 'b', encoded into buf. */
static size_t
s_request(uint64_t id, size_t size, uint8_t *buf, size_t cap)
{
    uint8_t body[YARD_WIRE_INLINE_MAX];
    memset(body, 'b', sizeof body);
    yard_header_t h = {.id = id, .service = yard_str("echo"), .timeout_ms = 1000};
    int n = yard_wire_encode_inline(YARD_CMD_REQUEST, &h, body, size, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static void
test_round_trip_in_order(void **state)
{
    (void)state;
    yard_batch_t b = {0};
    uint8_t msgs[10][YARD_WIRE_INLINE_MAX + 64];
    size_t sizes[10];
    for (int i = 0; i < 10; i++) {
        sizes[i] = s_request((uint64_t)i + 1, (size_t)i * 100, msgs[i], sizeof msgs[i]);
        assert_int_equal(yard_batch_add(&b, msgs[i], sizes[i]), 0);
    }
    size_t size;
    const void *frame = yard_batch_frame(&b, &size);
    assert_true(yard_batch_is(frame, size));
    yard_batch_reader_t rd;
    const char *why = NULL;
    assert_int_equal(yard_batch_reader_init(&rd, frame, size, &why), 0);
    yard_codec_t *codec = yard_codec_new();
    for (int i = 0; i < 10; i++) {
        const void *m;
        size_t n;
        assert_int_equal(yard_batch_next(&rd, &m, &n, &why), 1);
        assert_int_equal(n, sizes[i]);
        assert_memory_equal(m, msgs[i], n);
        yard_cmd_t cmd;
        yard_header_t h;
        assert_int_equal(yard_wire_decode(codec, m, n, &cmd, &h, &why), 0);
        assert_int_equal(h.id, (uint64_t)i + 1);
        assert_int_equal(h.inline_len, (uint32_t)i * 100);
    }
    const void *m;
    size_t n;
    assert_int_equal(yard_batch_next(&rd, &m, &n, &why), 0);
    yard_codec_destroy(&codec);
    yard_batch_fini(&b);
}

static void
test_lone_message_goes_as_itself(void **state)
{
    (void)state;
    yard_batch_t b = {0};
    size_t size;
    assert_null(yard_batch_frame(&b, &size));
    assert_int_equal(size, 0);
    uint8_t msg[256];
    size_t n = s_request(7, 64, msg, sizeof msg);
    assert_int_equal(yard_batch_add(&b, msg, n), 0);
    const void *frame = yard_batch_frame(&b, &size);
    assert_int_equal(size, n);
    assert_memory_equal(frame, msg, n);
    assert_false(yard_batch_is(frame, size));
    /* cleared, it is empty again and keeps no more than asked */
    yard_batch_clear(&b, 0);
    assert_null(yard_batch_frame(&b, &size));
    assert_null(b.buf);
    yard_batch_fini(&b);
}

static void
test_full_batch_says_so(void **state)
{
    (void)state;
    yard_batch_t b = {0};
    uint8_t msg[YARD_WIRE_INLINE_MAX + 64];
    size_t n = s_request(1, YARD_WIRE_INLINE_MAX, msg, sizeof msg);
    int added = 0;
    while (yard_batch_add(&b, msg, n) == 0) {
        added++;
        assert_true(added < 1000);
    }
    size_t size;
    yard_batch_frame(&b, &size);
    assert_true(size <= YARD_BATCH_BYTES_MAX);
    assert_true(size + YARD_BATCH_ENTRY_HEAD + n > YARD_BATCH_BYTES_MAX);
    /* small messages stop at the count cap instead */
    yard_batch_clear(&b, SIZE_MAX);
    uint8_t small[64];
    yard_header_t h = {.heartbeat_ms = 1000};
    int sn = yard_wire_encode(YARD_CMD_HEARTBEAT, &h, small, sizeof small);
    for (int i = 0; i < YARD_BATCH_COUNT_MAX; i++) {
        assert_int_equal(yard_batch_add(&b, small, (size_t)sn), 0);
    }
    assert_int_equal(yard_batch_add(&b, small, (size_t)sn), 1);
    /* a batch never goes inside a batch */
    const void *frame = yard_batch_frame(&b, &size);
    yard_batch_t outer = {0};
    assert_int_equal(yard_batch_add(&outer, frame, 64), YARD_E_INVALID);
    yard_batch_fini(&outer);
    yard_batch_fini(&b);
}

/* Reads frame to its end; returns the messages read and the last result. */
static int
s_read_all(const void *frame, size_t size, int *last, const char **why)
{
    yard_batch_reader_t rd;
    *last = yard_batch_reader_init(&rd, frame, size, why);
    if (*last) {
        return 0;
    }
    int got = 0;
    const void *m;
    size_t n;
    while ((*last = yard_batch_next(&rd, &m, &n, why)) == 1) {
        got++;
    }
    return got;
}

static void
test_malformed_frames_refused(void **state)
{
    (void)state;
    uint8_t buf[512];
    memcpy(buf, "YD\x03\x0c", 4);
    uint8_t msg[128];
    size_t n = s_request(1, 8, msg, sizeof msg);
    /* entry 1 good, then what each case appends */
    buf[4] = 0xc6;
    buf[5] = buf[6] = buf[7] = 0;
    buf[8] = (uint8_t)n;
    memcpy(buf + 9, msg, n);
    size_t good = 9 + n;
    static const struct {
        const char *tail;
        size_t len;
        const char *why;
    } cases[] = {
        {"\xc4\x04YD\x03\x08", 6, "a BATCH entry is not a msgpack bin 32"},
        {"\xc6\x00\x00\x01\x00YD", 7, "a BATCH entry is truncated"},
        {"\xc6\x00\x00\x00\x02YD", 7, "a BATCH entry is shorter than a prefix or over 17 KiB"},
        {"\xc6\x00\x00\x00\x04YD\x03\x0c", 9, "a BATCH inside a BATCH"},
        {"\xc6\x00", 2, "a BATCH entry is not a msgpack bin 32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf + good, cases[i].tail, cases[i].len);
        int last;
        const char *why = NULL;
        assert_int_equal(s_read_all(buf, good + cases[i].len, &last, &why), 1);
        assert_int_equal(last, YARD_E_PROTOCOL);
        assert_string_equal(why, cases[i].why);
    }
    /* not a BATCH of this version, or over its size */
    int last;
    const char *why = NULL;
    buf[2] = 2;
    assert_int_equal(s_read_all(buf, good, &last, &why), 0);
    assert_int_equal(last, YARD_E_PROTOCOL);
    buf[2] = 3;
    uint8_t *big = calloc(1, YARD_BATCH_BYTES_MAX + 1);
    memcpy(big, buf, good);
    assert_int_equal(s_read_all(big, YARD_BATCH_BYTES_MAX + 1, &last, &why), 0);
    assert_string_equal(why, "BATCH frame over 64 KiB");
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_in_order),
        cmocka_unit_test(test_lone_message_goes_as_itself),
        cmocka_unit_test(test_full_batch_says_so),
        cmocka_unit_test(test_malformed_frames_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
