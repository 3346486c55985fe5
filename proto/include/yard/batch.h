/* Batches: the one-frame messages ready for one peer in one turn of a loop, sent as one
 * ZeroMQ frame (protocol YD/3, section 3.1; docs/protocol.md is the normative text).
 *
 * libzmq's cost is per frame, not per byte: a batch of n messages costs the sender, the
 * broker and the receiver one frame operation instead of n. Nothing waits for a batch to
 * fill: a loop adds what it sends during a turn and sends the batch at the end of the turn,
 * so a message that is alone goes out as itself, as soon as it would have without batching.
 *
 * The frame is the 4-byte prefix 'Y' 'D' version BATCH, then each message as a msgpack bin 32
 * (0xc6, a 4-byte big-endian length, the bytes) holding its whole one-frame encoding: prefix,
 * header and inline body. A message with a body frame of its own (over YARD_WIRE_INLINE_MAX)
 * is never batched; a sender sends the batch first, then that message, to keep the order. */
#ifndef YARD_BATCH_H
#define YARD_BATCH_H

#include "yard/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_BATCH_BYTES_MAX  (64 * 1024) /* one batch frame, prefix included */
#define YARD_BATCH_COUNT_MAX  1024        /* messages in one batch */
#define YARD_BATCH_ENTRY_HEAD 5           /* bin 32: 0xc6 and a 4-byte length */

/* A batch being filled. Zero-initialised is an empty batch; the buffer grows as needed and
 * stays for the next turn. Owner frees it with yard_batch_fini(). */
typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
    uint32_t count;
} yard_batch_t;

void yard_batch_fini(yard_batch_t *self);

/* Empties the batch (after it was sent), keeping its buffer unless it grew past keep bytes. */
void yard_batch_clear(yard_batch_t *self, size_t keep);

/* Appends one encoded one-frame message (yard_wire_encode / _inline output: prefix, header,
 * inline body). Returns 0, or 1 when it does not fit (the batch is full: send it, clear it
 * and add again; an empty batch always takes a message of up to YARD_WIRE_HEADER_MAX +
 * YARD_WIRE_INLINE_MAX bytes), or YARD_E_INVALID for a message that is not one. */
int yard_batch_add(yard_batch_t *self, const void *msg, size_t size);

/* The frame to send, and its size (0 when empty): the BATCH frame, or the message itself when
 * the batch holds only one, so that a lone message costs nothing. Borrowed from self. */
const void *yard_batch_frame(const yard_batch_t *self, size_t *size);

/* Whether frame (a head frame) is a BATCH of this version. */
bool yard_batch_is(const void *frame, size_t size);

/* Reading a received BATCH frame, message by message, without copying. */
typedef struct {
    const uint8_t *next;
    size_t left;
    uint32_t seen;
} yard_batch_reader_t;

/* Starts reading frame (a head frame whose command is BATCH). Returns 0, or YARD_E_PROTOCOL
 * with *why when it is over YARD_BATCH_BYTES_MAX or not a BATCH frame of this version. The
 * reader borrows frame. */
int yard_batch_reader_init(yard_batch_reader_t *self, const void *frame, size_t size,
                           const char **why);

/* The next message: returns 1 with *msg and *size set (borrowed from the frame), 0 after the
 * last one, or YARD_E_PROTOCOL with *why for a batch that is malformed from here on (an entry
 * that is not a bin 32, is truncated, empty or over YARD_WIRE_HEADER_MAX +
 * YARD_WIRE_INLINE_MAX bytes, a batch inside the batch, or more than YARD_BATCH_COUNT_MAX
 * messages). What came before stands: each message is its own, as if sent alone. */
int yard_batch_next(yard_batch_reader_t *self, const void **msg, size_t *size, const char **why);

#endif
