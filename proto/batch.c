/* Batches (yard/batch.h). The buffer holds the frame as it will be sent: the prefix, then each
 * message behind its bin 32 head, so sending is one call with no assembly; a lone message is
 * sent from its own offset, without the prefix and its entry head. */
#include "alloc_internal.h"
#include "yard/batch.h"
#include "yard/error.h"

#include <stdlib.h>
#include <string.h>

#define S_ONE_MAX   (YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX)
#define S_FIRST_CAP 4096

void
yard_batch_fini(yard_batch_t *self)
{
    if (self) {
        free(self->buf);
        *self = (yard_batch_t){0};
    }
}

void
yard_batch_clear(yard_batch_t *self, size_t keep)
{
    if (self->cap > keep) {
        yard_batch_fini(self); /* one large turn must not pin its buffer for good */
        return;
    }
    self->len = 0;
    self->count = 0;
}

static void
s_reserve(yard_batch_t *self, size_t need)
{
    if (need <= self->cap) {
        return;
    }
    size_t cap = self->cap ? self->cap : S_FIRST_CAP;
    while (cap < need) {
        cap *= 2;
    }
    self->buf = yard__xrealloc(self->buf, cap);
    self->cap = cap;
}

static void
s_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t
s_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
yard_batch_add(yard_batch_t *self, const void *msg, size_t size)
{
    const uint8_t *m = msg;
    if (size < YARD_WIRE_CMD_SIZE || size > S_ONE_MAX || m[3] == YARD_CMD_BATCH) {
        return YARD_E_INVALID;
    }
    size_t start = self->len ? self->len : YARD_WIRE_CMD_SIZE;
    size_t end = start + YARD_BATCH_ENTRY_HEAD + size;
    if (self->count && (end > YARD_BATCH_BYTES_MAX || self->count == YARD_BATCH_COUNT_MAX)) {
        return 1;
    }
    s_reserve(self, end);
    if (!self->len) {
        memcpy(self->buf, m, 3); /* the signature and version of what it carries */
        self->buf[3] = YARD_CMD_BATCH;
    }
    self->buf[start] = 0xc6;
    s_put_be32(self->buf + start + 1, (uint32_t)size);
    memcpy(self->buf + start + YARD_BATCH_ENTRY_HEAD, m, size);
    self->len = end;
    self->count++;
    return 0;
}

const void *
yard_batch_frame(const yard_batch_t *self, size_t *size)
{
    if (self->count == 0) {
        *size = 0;
        return NULL;
    }
    if (self->count == 1) {
        size_t skip = YARD_WIRE_CMD_SIZE + YARD_BATCH_ENTRY_HEAD;
        *size = self->len - skip;
        return self->buf + skip;
    }
    *size = self->len;
    return self->buf;
}

bool
yard_batch_is(const void *frame, size_t size)
{
    const uint8_t *b = frame;
    return size >= YARD_WIRE_CMD_SIZE && b[0] == YARD_WIRE_SIG0 && b[1] == YARD_WIRE_SIG1 &&
           b[2] == YARD_WIRE_VERSION && b[3] == YARD_CMD_BATCH;
}

int
yard_batch_reader_init(yard_batch_reader_t *self, const void *frame, size_t size, const char **why)
{
    const uint8_t *b = frame;
    *self = (yard_batch_reader_t){0};
    if (!yard_batch_is(b, size)) {
        *why = "not a BATCH frame";
        return YARD_E_PROTOCOL;
    }
    if (size > YARD_BATCH_BYTES_MAX) {
        *why = "BATCH frame over 64 KiB";
        return YARD_E_PROTOCOL;
    }
    self->next = b + YARD_WIRE_CMD_SIZE;
    self->left = size - YARD_WIRE_CMD_SIZE;
    return 0;
}

static int
s_bad(yard_batch_reader_t *self, const char **why, const char *text)
{
    self->left = 0; /* nothing after a malformed entry can be trusted to start where it seems */
    *why = text;
    return YARD_E_PROTOCOL;
}

int
yard_batch_next(yard_batch_reader_t *self, const void **msg, size_t *size, const char **why)
{
    if (self->left == 0) {
        return 0;
    }
    if (self->seen == YARD_BATCH_COUNT_MAX) {
        return s_bad(self, why, "more than 1024 messages in a BATCH");
    }
    if (self->left < YARD_BATCH_ENTRY_HEAD || self->next[0] != 0xc6) {
        return s_bad(self, why, "a BATCH entry is not a msgpack bin 32");
    }
    uint32_t n = s_get_be32(self->next + 1);
    if (n > self->left - YARD_BATCH_ENTRY_HEAD) {
        return s_bad(self, why, "a BATCH entry is truncated");
    }
    if (n < YARD_WIRE_CMD_SIZE || n > S_ONE_MAX) {
        return s_bad(self, why, "a BATCH entry is shorter than a prefix or over 17 KiB");
    }
    const uint8_t *m = self->next + YARD_BATCH_ENTRY_HEAD;
    if (m[3] == YARD_CMD_BATCH) {
        return s_bad(self, why, "a BATCH inside a BATCH");
    }
    *msg = m;
    *size = n;
    self->next = m + n;
    self->left -= YARD_BATCH_ENTRY_HEAD + n;
    self->seen++;
    return 1;
}
