/* Error codes: one table gives the C constant, the wire code, the name and the message.
 *
 * Every int-returning libyard function returns 0 or one of the negative YARD_E_* values.
 * The same numbers, positive, travel on the wire in an ERROR's header (docs/protocol.md
 * lists this table). A service may also fail a request with its own error name (a string);
 * that arrives as YARD_E_SERVICE with the name available through yard_msg_app_error(). */
#ifndef YARD_ERROR_H
#define YARD_ERROR_H

#include <stdint.h>

/* X(NAME, wire code, message). Wire codes are stable: append, never renumber. */
#define YARD_ERRORS(X)                                                                             \
    X(NO_SERVICE, 1, "no replica offers this service")                                             \
    X(TIMEOUT, 2, "the deadline passed before a reply")                                            \
    X(WORKER_LOST, 3, "the replica handling the request died before replying")                     \
    X(OVERLOADED, 4, "the service queue is full; retry later")                                     \
    X(BAD_REQUEST, 5, "the request is malformed")                                                  \
    X(TOO_LARGE, 6, "the message is over the size limit")                                          \
    X(UNREACHABLE, 7, "no broker answered")                                                        \
    X(SERVICE, 8, "the service answered with an error of its own")                                 \
    X(PROTOCOL, 9, "unknown protocol signature, version or command")                               \
    X(INTERNAL, 10, "internal error")                                                              \
    X(INVALID, 11, "invalid argument")                                                             \
    X(SHUTDOWN, 12, "shutting down")                                                               \
    X(NOT_FOUND, 13, "not found")                                                                  \
    X(CONFIG, 14, "invalid configuration")                                                         \
    X(IO, 15, "input/output error")                                                                \
    X(UNAUTHENTICATED, 16, "missing or invalid credentials")                                       \
    X(FORBIDDEN, 17, "not allowed")

typedef enum {
    YARD_OK = 0,
#define YARD_X_ENUM(name, code, msg) YARD_E_##name = -(code),
    YARD_ERRORS(YARD_X_ENUM)
#undef YARD_X_ENUM
} yard_err_t;

/* The message for err (0 or negative), or "unknown error". Borrowed; static storage. */
const char *yard_strerror(int err);

/* The table name for err, e.g. "NO_SERVICE"; "OK" for 0; "UNKNOWN" otherwise.
 * Borrowed; static storage. */
const char *yard_err_name(int err);

/* The code for a table name ("TIMEOUT" -> YARD_E_TIMEOUT), or 0 when the name is unknown. */
int yard_err_from_name(const char *name);

/* Wire code (positive) for err; 0 for YARD_OK. */
uint32_t yard_err_to_wire(int err);

/* err for a wire code; a code this build does not know maps to YARD_E_INTERNAL. */
int yard_err_from_wire(uint32_t code);

#endif
