/* Asking every broker of a list, each on its own: `yard ping` and `yard services` split the
 * comma-separated endpoint list and send one `$sys` call to each broker at once (one thread
 * and one client per broker), so that a dead broker costs one timeout, not one per broker,
 * and each broker's answer is told apart. Private to tools/.
 *
 * Ownership: a yard_broker_answer_t's reply is owned by the answer set; free the whole set
 * with yard__brokers_free(). */
#ifndef YARD_TOOLS_BROKERS_H
#define YARD_TOOLS_BROKERS_H

#include "yard/msg.h"

#include <stddef.h>
#include <stdint.h>

/* The most brokers one list may name (a bound on the threads a command starts). */
#define YARD_BROKERS_MAX 16

typedef struct {
    char endpoint[256];
    int rc;            /* 0: reply is the broker's answer; else the call's error */
    yard_msg_t *reply; /* the reply (rc 0), or the error's details, or NULL; owned */
} yard_broker_answer_t;

typedef struct {
    int n;
    yard_broker_answer_t a[YARD_BROKERS_MAX];
} yard_broker_answers_t;

/* Splits list ("tcp://a:5555,tcp://b:5555", spaces around commas allowed) into out->a's
 * endpoints. Returns 0, or -1 with why set (an empty entry, an endpoint over 255 bytes, more
 * than YARD_BROKERS_MAX). */
int yard__brokers_split(const char *list, yard_broker_answers_t *out, char *why, size_t why_len);

/* Calls `$sys` op (body of size bytes, may be NULL) on every endpoint of *set at once, each
 * through its own client, and waits for all (each within timeout_ms). Fills rc and reply. */
void yard__brokers_call(yard_broker_answers_t *set, const char *op, const void *body, size_t size,
                        uint32_t timeout_ms);

/* Frees every reply. */
void yard__brokers_free(yard_broker_answers_t *set);

#endif
