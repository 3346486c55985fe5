/* A message received from the bus: a reply, an error, or a pub/sub delivery. It owns its
 * frames; every string accessor returns a NUL-terminated copy that lives as long as the
 * message. */
#ifndef YARD_MSG_H
#define YARD_MSG_H

#include <stddef.h>

typedef struct yard_msg yard_msg_t;

/* 0 for a reply or delivery, else the negative yard error (YARD_E_TIMEOUT, ...). A service's
 * own error is YARD_E_SERVICE with its name in yard_msg_app_error(). */
int yard_msg_status(const yard_msg_t *self);

/* The error's text, or "" when none. Borrowed; valid while the message lives. */
const char *yard_msg_error_text(const yard_msg_t *self);

/* The service-defined error name, or "" when none. Borrowed; valid while the message lives. */
const char *yard_msg_app_error(const yard_msg_t *self);

/* The msgpack body (may be empty). Borrowed; valid while the message lives. */
const void *yard_msg_body(const yard_msg_t *self, size_t *size);

/* The subject of a pub/sub delivery, or "". Borrowed; valid while the message lives. */
const char *yard_msg_subject(const yard_msg_t *self);

/* The value of header key, or NULL. Borrowed; valid while the message lives. */
const char *yard_msg_header(const yard_msg_t *self, const char *key);

/* The number of headers, and the i-th (0-based) in arrival order: 0 with *key and *value set
 * (borrowed; valid while the message lives), or YARD_E_INVALID past the end. */
size_t yard_msg_header_count(const yard_msg_t *self);
int yard_msg_header_at(const yard_msg_t *self, size_t i, const char **key, const char **value);

void yard_msg_destroy(yard_msg_t **self_p);

#endif
