/* Request routing: a REQUEST or SEND goes at once to the next replica (round-robin) with
 * free credit, or waits in its service's bounded queue; an answer returns the credit and
 * pulls the next queued request. Every accepted REQUEST is answered exactly once: by the
 * replica's REPLY/ERROR, or by TIMEOUT at its deadline (queued or held), WORKER_LOST when
 * its replica dies (unless IDEMPOTENT and in time: then it is re-sent), NO_SERVICE after a
 * grace, SHUTDOWN at stop. A replica's answer after TIMEOUT is dropped but frees its credit. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"

/* Round-robin, except that a replica that asked for FILL keeps the turn once taken, while it
 * has credit: its handlers answer at once or defer, so requests waiting in it cost it nothing,
 * and one replica woken for many requests costs less than many woken for a few each. */
static yard__peer_t *
s_pick(yard__service_t *s)
{
    if (s->filling && s->filling->fill && yard__contrib(s->filling) > 0) {
        return s->filling;
    }
    s->filling = NULL;
    for (uint32_t i = 0; i < s->nreps; i++) {
        uint32_t k = (s->rr + i) % s->nreps;
        yard__peer_t *p = s->reps[k];
        if (yard__contrib(p) > 0) {
            s->rr = (k + 1) % s->nreps;
            s->filling = p->fill ? p : NULL;
            return p;
        }
    }
    return NULL;
}

static void
s_hold(yard_broker_t *b, yard__req_t *r, yard__peer_t *p)
{
    yard__service_t *s = p->svc;
    s->free_credit -= yard__contrib(p);
    yard__list_push_back(&b->pool, &p->held, r);
    s->free_credit += yard__contrib(p);
    r->replica = p;
    r->state = YARD__REQ_HELD;
}

static void
s_unhold(yard_broker_t *b, yard__req_t *r)
{
    yard__peer_t *p = r->replica;
    yard__service_t *s = p->svc;
    if (s) {
        s->free_credit -= yard__contrib(p);
    }
    yard__list_remove(&b->pool, &p->held, r);
    if (s) {
        s->free_credit += yard__contrib(p);
    }
    r->replica = NULL;
}

/* Sends r to p with header h (the client's). body is consumed on success: moved to the
 * replica, or (IDEMPOTENT) referenced and kept in r->body for a re-send. On failure the
 * caller still owns body. */
static int
s_forward(yard_broker_t *b, yard__req_t *r, yard__peer_t *p, const yard_header_t *h,
          zmq_msg_t *body)
{
    bool keep = r->flags & YARD_FLAG_IDEMPOTENT;
    uint64_t left = r->deadline > b->now ? r->deadline - b->now : 1;
    yard_header_t out = {.id = yard__req_id(r),
                         .service = h->service,
                         .op = h->op,
                         .timeout_ms = (uint32_t)left,
                         .flags = h->flags,
                         .headers = h->headers,
                         .header_count = h->header_count};
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    if (keep) {
        zmq_msg_copy(&frame, body);
    } else {
        zmq_msg_move(&frame, body);
    }
    int rc = yard__send(b, p->id, p->id_len, (yard_cmd_t)r->cmd, &out, &frame);
    if (rc && !keep) {
        zmq_msg_move(body, &frame);
    }
    zmq_msg_close(&frame);
    if (rc) {
        return rc;
    }
    if (keep && body != &r->body) {
        zmq_msg_move(&r->body, body);
    }
    s_hold(b, r, p);
    return 0;
}

/* Tries the replicas with free credit until one takes r. Returns 0 (sent), or 1 (nobody
 * could: queue it), or YARD_E_TOO_LARGE. A replica found gone is removed on the way. */
static int
s_try_send(yard_broker_t *b, yard__service_t *s, yard__req_t *r, const yard_header_t *h,
           zmq_msg_t *body)
{
    while (s->free_credit > 0) {
        yard__peer_t *p = s_pick(s);
        int rc = s_forward(b, r, p, h, body);
        if (rc == 0 || rc == YARD_E_TOO_LARGE) {
            return rc;
        }
        if (rc != YARD_E_UNREACHABLE) {
            return 1; /* its pipe is full: wait for credit */
        }
        yard__peer_gone(b, p, "replica_dead");
    }
    return 1;
}

void
yard__dispatch(yard_broker_t *b, yard__service_t *s)
{
    while (s->queue.count && s->free_credit) {
        yard__req_t *r = yard__list_head(&b->pool, &s->queue);
        yard__list_remove(&b->pool, &s->queue, r);
        yard_header_t h;
        const char *why = NULL;
        yard_cmd_t cmd;
        yard_wire_decode(b->requeue_codec, zmq_msg_data(&r->hdr), zmq_msg_size(&r->hdr), &cmd, &h,
                         &why);
        int rc = s_try_send(b, s, r, &h, &r->body);
        if (rc == 0) {
            if (!(r->flags & YARD_FLAG_IDEMPOTENT)) {
                zmq_msg_close(&r->hdr);
                zmq_msg_init(&r->hdr);
            }
            continue;
        }
        if (rc == YARD_E_TOO_LARGE) {
            yard__req_finish(b, r, rc, "header too large to forward");
            continue;
        }
        yard__list_push_front(&b->pool, &s->queue, r);
        break;
    }
}

void
yard__req_finish(yard_broker_t *b, yard__req_t *r, int err, const char *text)
{
    if (r->cmd == YARD_CMD_REQUEST) {
        yard__send_error(b, zmq_msg_data(&r->rid), zmq_msg_size(&r->rid), r->client_id, err, text);
        if (r->svc) {
            r->svc->errors++;
        }
    }
    if (r->svc) {
        yard__stats_answered(b, r, false);
    }
    yard__req_free(&b->pool, r);
}

/* A request started waiting: a replica that gave this broker no credit (its credit is in use
 * at another broker) hears it now rather than at its next heartbeat, and moves credit here. */
static void
s_tell_demand(yard_broker_t *b, yard__service_t *s)
{
    for (uint32_t i = 0; i < s->nreps; i++) {
        yard__peer_t *p = s->reps[i];
        if (p->credit == 0 && !p->draining) {
            /* No heartbeat_ms: it answers nothing, so a draining replica cannot take it
             * for the answer to its last HEARTBEAT. */
            yard_header_t h = {.credit = 1};
            yard__send(b, p->id, p->id_len, YARD_CMD_HEARTBEAT, &h, NULL);
        }
    }
}

static uint32_t
s_timeout(const yard_broker_t *b, uint32_t asked)
{
    uint32_t t = asked ? asked : b->o.default_timeout_ms;
    return t > b->o.max_timeout_ms ? b->o.max_timeout_ms : t;
}

/* Queues r with the frames it needs to be sent later. */
static int
s_enqueue(yard_broker_t *b, yard__service_t *s, yard__req_t *r, zmq_msg_t *frames)
{
    if (s->queue.count >= (uint64_t)b->o.queue_max) {
        return YARD_E_OVERLOADED;
    }
    zmq_msg_move(&r->hdr, &frames[1]);
    zmq_msg_move(&r->body, &frames[2]);
    r->state = YARD__REQ_QUEUED;
    yard__list_push_back(&b->pool, &s->queue, r);
    if (s->queue.count == 1) {
        s_tell_demand(b, s);
    }
    return 0;
}

static void
s_accept(yard_broker_t *b, yard__service_t *s, yard_cmd_t cmd, zmq_msg_t *frames,
         const yard_header_t *h, bool sensitive)
{
    yard__req_t *r = yard__req_alloc(&b->pool);
    if (!r) {
        yard__fault(b, zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]), NULL, YARD__F_LIMIT,
                    "too many requests in flight", cmd == YARD_CMD_REQUEST ? YARD_E_OVERLOADED : 0,
                    h->id);
        return;
    }
    r->cmd = (uint8_t)cmd;
    r->sensitive = sensitive;
    r->client_id = h->id;
    r->flags = h->flags;
    r->svc = s;
    r->deadline = b->now + s_timeout(b, h->timeout_ms);
    r->state = YARD__REQ_QUEUED;
    yard__stats_accepted(b, r);
    int rc = s_try_send(b, s, r, h, &frames[2]);
    if (rc == 1) {
        rc = s_enqueue(b, s, r, frames);
    } else if (rc == 0 && (r->flags & YARD_FLAG_IDEMPOTENT)) {
        zmq_msg_move(&r->hdr, &frames[1]); /* h is not used past this point */
    }
    zmq_msg_move(&r->rid, &frames[0]);
    if (rc) {
        yard__req_finish(b, r, rc,
                         rc == YARD_E_OVERLOADED ? "service queue full"
                                                 : "header too large to forward");
        return;
    }
    yard__heap_push(&b->pool, r);
}

void
yard__on_request(yard_broker_t *b, yard_cmd_t cmd, zmq_msg_t *frames, const yard_header_t *h)
{
    const void *rid = zmq_msg_data(&frames[0]);
    size_t len = zmq_msg_size(&frames[0]);
    bool req = cmd == YARD_CMD_REQUEST;
    if ((req && h->id == 0) || h->service.len == 0) {
        yard__fault(b, rid, len, NULL, YARD__F_MISSING, "REQUEST needs id and service",
                    YARD_E_BAD_REQUEST, h->id);
        return;
    }
    b->counters[req ? YARD__C_REQUESTS : YARD__C_SENDS]++;
    if (yard_str_eq_cstr(h->service, YARD__SYS_SERVICE)) {
        if (req) {
            yard__on_sys(b, rid, len, h, &frames[2]);
        }
        return;
    }
    yard__service_t *s = yard__service_find(b, h->service);
    if (!s) {
        s = yard__service_expect(b, h->service);
    }
    if (!s) {
        if (req) {
            yard__send_error(b, rid, len, h->id, YARD_E_NO_SERVICE,
                             "no replica offers this service");
        }
        return;
    }
    s->requests++;
    /* Decided at arrival: a tap that starts while it is held still never sees its answer. */
    bool sensitive = (s->nsensitive || s->all_sensitive) && yard__service_sensitive(s, h->op);
    yard__tap_request(b, h->service, cmd, frames, h, sensitive);
    s_accept(b, s, cmd, frames, h, sensitive);
}

/* A replica's REPLY or ERROR for r: forward it to the client with the client's id. */
static void
s_answer_client(yard_broker_t *b, yard__req_t *r, yard_cmd_t cmd, zmq_msg_t *frames,
                const yard_header_t *h)
{
    /* Headers travel with errors too: a service's failure can say how to present it (the
     * gateway reads http.status from either). */
    yard_header_t out = {
        .id = r->client_id, .headers = h->headers, .header_count = h->header_count};
    const void *rid = zmq_msg_data(&r->rid);
    size_t len = zmq_msg_size(&r->rid);
    yard__stats_answered(b, r, cmd == YARD_CMD_REPLY);
    yard__tap_answer(b, r, cmd, &frames[2], h);
    if (cmd == YARD_CMD_REPLY) {
        r->svc->replies++;
        b->counters[YARD__C_REPLIES]++;
        yard__send(b, rid, len, YARD_CMD_REPLY, &out, &frames[2]);
        return;
    }
    out.error = h->error ? h->error : yard_err_to_wire(YARD_E_INTERNAL);
    out.error_text = h->error_text;
    out.app_error = h->app_error;
    r->svc->errors++;
    if (out.error < YARD__ERR_CODES) {
        b->errors_sent[out.error]++;
    }
    yard__send(b, rid, len, YARD_CMD_ERROR, &out, NULL);
}

void
yard__on_answer(yard_broker_t *b, yard_cmd_t cmd, yard__peer_t *p, zmq_msg_t *frames,
                const yard_header_t *h)
{
    yard__req_t *r = yard__req_by_id(&b->pool, h->id);
    if (!r || r->replica != p) {
        yard__fault(b, p->id, p->id_len, p, YARD__F_UNKNOWN_ID, "answer for an unknown id", 0, 0);
        return;
    }
    yard__service_t *s = r->svc;
    p->served++;
    s_unhold(b, r);
    if (r->state == YARD__REQ_EXPIRED) {
        b->counters[YARD__C_LATE_REPLIES]++;
    } else if (r->cmd == YARD_CMD_REQUEST) {
        s_answer_client(b, r, cmd, frames, h);
    }
    yard__req_free(&b->pool, r);
    yard__dispatch(b, s);
}

/* p is leaving: each request it held is re-queued at the front if IDEMPOTENT and in time,
 * else answered WORKER_LOST. The caller removes p from its service, then dispatches. */
void
yard__replica_lost(yard_broker_t *b, yard__peer_t *p)
{
    yard__service_set_credit(p, p->credit, true); /* contributes nothing from now on */
    yard__service_t *s = p->svc;
    while (p->held.count) {
        yard__req_t *r = yard__req_at(&b->pool, p->held.tail);
        s_unhold(b, r);
        if (r->state == YARD__REQ_EXPIRED) {
            yard__req_free(&b->pool, r);
        } else if ((r->flags & YARD_FLAG_IDEMPOTENT) && r->deadline > b->now) {
            r->state = YARD__REQ_QUEUED;
            yard__list_push_front(&b->pool, &s->queue, r);
            b->counters[YARD__C_RETRIES]++;
        } else {
            yard__req_finish(b, r, YARD_E_WORKER_LOST, "the replica died before replying");
        }
    }
}

void
yard__expire(yard_broker_t *b)
{
    yard__req_t *r;
    while ((r = yard__heap_top(&b->pool)) && r->deadline <= b->now) {
        yard__heap_remove(&b->pool, r);
        if (r->state == YARD__REQ_QUEUED) {
            yard__list_remove(&b->pool, &r->svc->queue, r);
            yard__req_finish(b, r, YARD_E_TIMEOUT, "the deadline passed while queued");
            continue;
        }
        /* held: answer now, keep the slot until the replica answers (its credit) */
        if (r->cmd == YARD_CMD_REQUEST) {
            yard__send_error(b, zmq_msg_data(&r->rid), zmq_msg_size(&r->rid), r->client_id,
                             YARD_E_TIMEOUT, "the deadline passed while a replica held it");
            r->svc->errors++;
        }
        yard__stats_answered(b, r, false);
        r->state = YARD__REQ_EXPIRED;
        zmq_msg_close(&r->rid);
        zmq_msg_init(&r->rid);
        zmq_msg_close(&r->hdr);
        zmq_msg_init(&r->hdr);
        zmq_msg_close(&r->body);
        zmq_msg_init(&r->body);
    }
}

void
yard__shutdown_requests(yard_broker_t *b)
{
    for (uint32_t i = 0; i < b->pool.cap; i++) {
        yard__req_t *r = yard__req_at(&b->pool, i);
        if ((r->state == YARD__REQ_QUEUED || r->state == YARD__REQ_HELD) &&
            r->cmd == YARD_CMD_REQUEST) {
            yard__send_error(b, zmq_msg_data(&r->rid), zmq_msg_size(&r->rid), r->client_id,
                             YARD_E_SHUTDOWN, "the broker is shutting down");
        }
    }
}
