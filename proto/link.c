/* A link's traffic (link_internal.h). */
#include "link_internal.h"
#include "msg_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <string.h>

#define S_ONE_MAX (YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX)
/* A batch buffer that grew past this for one busy turn is freed after it: links are many,
 * busy turns rare. */
#define S_KEEP (16 * 1024)

void
yard__link_init(yard__link_t *l)
{
    *l = (yard__link_t){0};
    zmq_msg_init(&l->in);
}

void
yard__link_reset(yard__link_t *l)
{
    yard_batch_clear(&l->out, S_KEEP);
    zmq_msg_close(&l->in);
    zmq_msg_init(&l->in);
    l->rd = (yard_batch_reader_t){0};
}

void
yard__link_fini(yard__link_t *l)
{
    yard_batch_fini(&l->out);
    zmq_msg_close(&l->in);
    l->rd = (yard_batch_reader_t){0};
}

/* --- sending ----------------------------------------------------------------------------- */

int
yard__link_flush(yard__link_t *l, void *sock)
{
    size_t size;
    const void *frame = yard_batch_frame(&l->out, &size);
    if (!frame) {
        return 0;
    }
    int rc = zmq_send(sock, frame, size, ZMQ_DONTWAIT) < 0 ? YARD_E_OVERLOADED : 1;
    if (rc < 0 && !l->dropped_logged) {
        l->dropped_logged = true;
        yard_log(YARD_LOG_WARN, "a batch was dropped: the link to the broker is full",
                 YF_UINT("messages", l->out.count));
    }
    yard_batch_clear(&l->out, S_KEEP);
    return rc;
}

int
yard__link_send_frame(yard__link_t *l, void *sock, bool hold, const void *frame, size_t size)
{
    if (!hold) {
        int rc = yard__link_flush(l, sock);
        if (rc < 0) {
            return rc;
        }
        return zmq_send(sock, frame, size, ZMQ_DONTWAIT) < 0 ? YARD_E_OVERLOADED : 0;
    }
    int rc = yard_batch_add(&l->out, frame, size);
    if (rc == 1) { /* full: what it holds goes now, and this starts the next */
        rc = yard__link_flush(l, sock);
        if (rc >= 0) {
            rc = yard_batch_add(&l->out, frame, size);
        }
    }
    return rc == YARD_E_INVALID ? YARD_E_TOO_LARGE : rc;
}

int
yard__link_send(yard__link_t *l, void *sock, bool hold, yard_cmd_t cmd, const yard_header_t *h,
                zmq_msg_t *body)
{
    if (body && zmq_msg_size(body) > YARD_WIRE_INLINE_MAX) {
        /* A frame of its own, never copied: what is batched goes first. */
        int rc = yard__link_flush(l, sock);
        if (rc < 0) {
            zmq_msg_close(body);
            return rc;
        }
        return yard__bus_send(sock, cmd, h, body);
    }
    uint8_t frame[S_ONE_MAX];
    int n = body ? yard_wire_encode_inline(cmd, h, zmq_msg_data(body), zmq_msg_size(body), frame,
                                           sizeof frame)
                 : yard_wire_encode(cmd, h, frame, sizeof frame);
    if (body) {
        zmq_msg_close(body);
    }
    if (n < 0) {
        return n;
    }
    return yard__link_send_frame(l, sock, hold, frame, (size_t)n);
}

/* --- receiving --------------------------------------------------------------------------- */

/* Decodes a one-frame message's head (data, size) into *cmd and *h; an inline body is copied
 * into f[1]. Returns as yard__link_recv. */
static int
s_decode(yard__link_t *l, const void *data, size_t size, int frames, zmq_msg_t f[2],
         yard_codec_t *codec, yard_cmd_t *cmd, yard_header_t *h)
{
    const char *why = NULL;
    int in = -1;
    *cmd = 0; /* a prefix that does not parse leaves it unset */
    if (yard_wire_decode(codec, data, size, cmd, h, &why) == 0) {
        in = *cmd == YARD_CMD_BATCH ? (why = "a BATCH inside a BATCH", -1)
                                    : yard_wire_inline(*cmd, frames, h, &why);
    }
    if (in == 1) { /* the body frame the rest of the code expects */
        yard__msg_set_bytes(&f[1], h->inline_body, h->inline_len);
        return 2;
    }
    if (in == 0) {
        return frames;
    }
    yard_log(YARD_LOG_WARN, "malformed message from broker", YF_STR("why", why),
             YF_INT("frames", frames));
    l->why = why; /* *cmd and h->id stay as far as they were read */
    return -1;
}

/* A malformed message whose command and id were not read. */
static int
s_unread(yard__link_t *l, yard_cmd_t *cmd, yard_header_t *h, const char *why)
{
    *cmd = 0;
    h->id = 0;
    l->why = why;
    return -1;
}

/* The next message of the batch being read; 0 when it is done. */
static int
s_next_batched(yard__link_t *l, zmq_msg_t f[2], yard_codec_t *codec, yard_cmd_t *cmd,
               yard_header_t *h)
{
    const void *msg;
    size_t size;
    const char *why = NULL;
    int rc = yard_batch_next(&l->rd, &msg, &size, &why);
    if (rc == 1) {
        zmq_msg_close(&f[1]);
        zmq_msg_init(&f[1]);
        return s_decode(l, msg, size, 1, f, codec, cmd, h);
    }
    if (rc < 0) {
        yard_log(YARD_LOG_WARN, "malformed batch from broker", YF_STR("why", why));
    }
    zmq_msg_close(&l->in);
    zmq_msg_init(&l->in);
    return rc < 0 ? s_unread(l, cmd, h, why) : 0;
}

/* Receives one whole ZeroMQ message: the head into f[0], a body frame into f[1]. Returns the
 * frame count (extra frames are read and dropped, and counted), or 0. */
static int
s_recv_frames(void *sock, zmq_msg_t f[2])
{
    if (zmq_msg_recv(&f[0], sock, ZMQ_DONTWAIT) < 0) {
        return 0;
    }
    int n = 1;
    zmq_msg_close(&f[1]);
    zmq_msg_init(&f[1]);
    if (zmq_msg_more(&f[0])) {
        zmq_msg_recv(&f[1], sock, 0);
        n = 2;
        for (bool more = zmq_msg_more(&f[1]); more; n++) { /* extra frames: drop them */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, sock, 0);
            more = zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
    }
    return n;
}

int
yard__link_recv(yard__link_t *l, void *sock, zmq_msg_t f[2], yard_codec_t *codec, yard_cmd_t *cmd,
                yard_header_t *h)
{
    for (;;) {
        if (l->rd.left) {
            int rc = s_next_batched(l, f, codec, cmd, h);
            if (rc != 0) {
                return rc;
            }
        }
        int n = s_recv_frames(sock, f);
        if (n == 0) {
            return 0;
        }
        if (n > 2) {
            yard_log(YARD_LOG_WARN, "malformed message from broker",
                     YF_STR("why", "more than 2 frames"), YF_INT("frames", n));
            return s_unread(l, cmd, h, "more than 2 frames");
        }
        if (!(n == 1 && yard_batch_is(zmq_msg_data(&f[0]), zmq_msg_size(&f[0])))) {
            return s_decode(l, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), n, f, codec, cmd, h);
        }
        const char *why = NULL;
        zmq_msg_move(&l->in, &f[0]);
        if (yard_batch_reader_init(&l->rd, zmq_msg_data(&l->in), zmq_msg_size(&l->in), &why)) {
            yard_log(YARD_LOG_WARN, "malformed batch from broker", YF_STR("why", why));
            zmq_msg_close(&l->in);
            zmq_msg_init(&l->in);
            return s_unread(l, cmd, h, why);
        }
    }
}

bool
yard__link_pending(const yard__link_t *l, void *sock)
{
    if (yard__link_reading(l)) {
        return true;
    }
    int events = 0;
    size_t size = sizeof events;
    return sock && zmq_getsockopt(sock, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLIN);
}
