/* Private to libyard: what the actor runtime (actor.c), the request and deferred-token code
 * (request.c) and the program entry (actor_main.c) share.
 *
 * A deferred token and its replica meet in a mailbox: a mutex, an eventfd the replica polls,
 * and a queue of completed tokens. Tokens and the replica each hold a reference on the
 * mailbox, and the runtime and the token's holder each hold one on the token, so whichever
 * side finishes last frees it. Who answers the broker is decided once, under the mailbox
 * lock, by the token's state: PENDING becomes COMPLETED (the holder won) or EXPIRED (the
 * deadline or the shutdown won). */
#ifndef YARD_ACTOR_INTERNAL_H
#define YARD_ACTOR_INTERNAL_H

#include "yard/actor.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct yard__rt_replica yard__rt_replica_t;

typedef struct {
    atomic_int refs;
    pthread_mutex_t lock;
    int efd;     /* eventfd: a completion or a stop request is waiting; -1 in test mode */
    bool closed; /* the replica is gone: completions are refused */
    atomic_bool stop;
    yard_deferred_t *head; /* completed tokens, in order */
    yard_deferred_t *tail;
    yard_request_t *test_req; /* test mode: completions land here */
} yard__mailbox_t;

enum { YARD__D_PENDING = 0, YARD__D_COMPLETED, YARD__D_EXPIRED };

struct yard_deferred {
    atomic_int refs;
    yard__mailbox_t *mbox;
    int state; /* under mbox->lock */
    int link;  /* the broker connection the request came on */
    uint64_t id;
    int64_t deadline;
    yard_deferred_t *prev, *next; /* the replica's list of held tokens (replica thread only) */
    yard_deferred_t *qnext;       /* the completion queue (under mbox->lock) */
    int err;                      /* 0: reply with body; else the failure */
    zmq_msg_t body;
    char *app_error;
    char *text;
};

enum { YARD__R_OPEN = 0, YARD__R_ANSWERED, YARD__R_DEFERRED };

struct yard_request {
    yard__rt_replica_t *rep; /* NULL in test mode */
    int link;
    uint64_t id;
    bool one_way;
    int64_t deadline;
    int state;
    const char *service;
    const char *op;
    const char **headers; /* key, value, ... */
    uint32_t header_count;
    const void *body;
    size_t body_size;
    msgpack_zone *zone;
    msgpack_object obj;
    int obj_state; /* 0 not decoded, 1 valid, -1 empty or invalid */
    /* test mode */
    yard__mailbox_t *t_mbox;
    int t_status; /* 1: nothing yet */
    char *t_body;
    size_t t_size;
    char *t_app_error;
    char *t_text;
    char *t_storage; /* service, op and body copies */
    msgpack_zone t_zone;
};

yard__mailbox_t *yard__mailbox_new(bool with_fd);
void yard__mailbox_unref(yard__mailbox_t **mb_p);

/* Sends the answer for (link, id) through the replica (replica thread only). */
void yard__rt_answer(yard__rt_replica_t *rep, int link, uint64_t id, int err, const char *app_error,
                     const char *text, zmq_msg_t *body);

/* Hands a new token to the replica's list (replica thread only). */
void yard__rt_hold(yard__rt_replica_t *rep, yard_deferred_t *d);

/* Drops one reference on d; frees it at zero. */
void yard__deferred_unref(yard_deferred_t *d);

#endif
