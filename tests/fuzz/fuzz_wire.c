/* Fuzzes the wire codec's decoder (yard_wire_decode), the first code every byte from a bus
 * peer meets, and the BATCH reader (yard/batch.h) over the same bytes: every message it hands
 * out lies inside the frame and is at most a one-frame message long. Besides not crashing, a header
 * that decodes must encode again and decode to the same fields: the broker re-encodes what it
 * forwards, so a header it accepts but cannot write back (or writes back changed) would be a silent
 * corruption. */
#include "yard/batch.h"
#include "yard/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_BUF (YARD_WIRE_HEADER_MAX + 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check_str(yard_str_t a, yard_str_t b)
{
    if (!yard_str_eq(a, b)) {
        abort();
    }
}

static void
s_check_same(const yard_header_t *a, const yard_header_t *b)
{
    if (a->id != b->id || a->timeout_ms != b->timeout_ms || a->flags != b->flags ||
        a->error != b->error || a->credit != b->credit || a->heartbeat_ms != b->heartbeat_ms ||
        a->header_count != b->header_count) {
        abort();
    }
    s_check_str(a->service, b->service);
    s_check_str(a->op, b->op);
    s_check_str(a->error_text, b->error_text);
    s_check_str(a->app_error, b->app_error);
    s_check_str(a->replica, b->replica);
    s_check_str(a->store, b->store);
    for (uint32_t i = 0; i < a->header_count; i++) {
        s_check_str(a->headers[i].key, b->headers[i].key);
        s_check_str(a->headers[i].value, b->headers[i].value);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static yard_codec_t *codec, *codec2;
    static uint8_t buf[S_BUF];
    if (!codec) {
        codec = yard_codec_new();
        codec2 = yard_codec_new();
    }
    /* A copy of exactly size bytes, so ASan sees any read past the frame's end. */
    uint8_t *frame = malloc(size ? size : 1);
    memcpy(frame, data, size);
    const char *why = NULL;
    yard_cmd_t cmd;
    (void)yard_wire_parse_command(frame, size, &cmd, &why);
    yard_header_t h;
    if (yard_wire_decode(codec, frame, size, &cmd, &h, &why) == 0 &&
        size <= YARD_WIRE_HEADER_MAX) { /* the broker refuses bigger frames before decoding */
        (void)yard_cmd_name((int)cmd);
        int n = yard_wire_encode(cmd, &h, buf, sizeof buf);
        /* Empty strings are absent on the wire, so a decoded header always re-encodes. */
        if (n < 0) {
            abort();
        }
        yard_cmd_t cmd2;
        yard_header_t h2;
        if (yard_wire_decode(codec2, buf, (size_t)n, &cmd2, &h2, &why) != 0 || cmd2 != cmd) {
            abort();
        }
        s_check_same(&h, &h2);
    }
    yard_batch_reader_t rd;
    if (yard_batch_reader_init(&rd, frame, size, &why) == 0) {
        const void *m;
        size_t n;
        while (yard_batch_next(&rd, &m, &n, &why) == 1) {
            const uint8_t *mp = m;
            if (mp < frame || mp + n > frame + size || n > YARD_WIRE_HEADER_MAX + 1024) {
                abort();
            }
            yard_header_t hb;
            (void)yard_wire_decode(codec2, m, n, &cmd, &hb, &why);
        }
    }
    free(frame);
    return 0;
}
