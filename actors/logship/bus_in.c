/* The bus input (ls_bus.h). Bus lines exist nowhere else, so when memory is full they go to the
 * spool rather than wait, and are dropped (and counted) only when there is no spool. Their _id is
 * (this run's random boot id, a sequence), so a resend from the spool is a 409, never a copy. */
#include "ls_bus.h"

#include "yard/bus.h"
#include "yard/json.h"
#include "yard/log.h"

#include <stdlib.h>
#include <string.h>

void
ls_bus_line(ls_t *ls, const char *subject, const char *text, size_t n)
{
    int64_t now = yard_loop_now_ms();
    if (ls_queue_full(ls)) {
        ls_queue_spool_all(ls); /* Elasticsearch is slow: make room on disk */
    }
    if (ls_queue_full(ls) && ls->o->spool_max == 0) {
        ls->st.bus_dropped++;
        yard_log(YARD_LOG_WARN, "logship: memory full, bus line dropped",
                 YF_UINT("dropped", ls->st.bus_dropped));
        return;
    }
    const char *service = strncmp(subject, "log.", 4) == 0 ? subject + 4 : subject;
    uint64_t seq = ++ls->bus_seq;
    ls_line_t l = {.line = text,
                   .len = n,
                   .subject = subject,
                   .offset = seq,
                   .service = service,
                   .id_hi = ls->boot,
                   .id_lo = ls_hash(&seq, sizeof seq, ls->boot),
                   .wall_ms = yard_ctx_wall_ms(ls->ctx)};
    ls_record_add(ls_queue_building(ls, now), &l, ls->cfg.es_index, ls->host, ls->index_cache,
                  &ls->index_day);
    ls->st.bus_lines++;
    ls_queue_close(ls, now, false);
}

static void
s_event(yard_ctx_t *ctx, const yard_msg_t *msg, void *arg)
{
    (void)ctx;
    ls_t *ls = arg;
    size_t size = 0;
    const char *body = yard_msg_body(msg, &size);
    const char *subject = yard_msg_subject(msg);
    if (body == NULL || size == 0 || subject == NULL) {
        return;
    }
    if (body[0] == '{' || (unsigned char)body[0] < 0x80) {
        ls_bus_line(ls, subject, body, size); /* JSON text (log_publish) or a plain line */
        return;
    }
    char *json = NULL;
    size_t len = 0;
    if (yard_json_from_msgpack(body, size, &json, &len, NULL, 0) == 0) {
        ls_bus_line(ls, subject, json, len); /* an event published as msgpack */
    }
    free(json);
}

static void
s_lease(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg)
{
    (void)lease;
    ls_t *ls = arg;
    for (size_t i = 0; i < ls->cfg.nsubjects; i++) {
        int rc = held ? yard_bus_subscribe(ctx, ls->cfg.subjects[i], s_event, ls)
                      : yard_bus_unsubscribe(ctx, ls->cfg.subjects[i]);
        if (rc != 0 && held) {
            yard_log(YARD_LOG_ERROR, "logship: cannot subscribe",
                     YF_STR("subject", ls->cfg.subjects[i]), YF_INT("error", rc));
        }
    }
    yard_log(YARD_LOG_INFO, held ? "logship: shipping bus lines" : "logship: bus lease lost",
             YF_UINT("subjects", ls->cfg.nsubjects));
}

int
ls_bus_start(ls_t *ls)
{
    if (ls->cfg.nsubjects == 0) {
        return 0;
    }
    return yard_ctx_lease(ls->ctx, "logship:bus", ls->o->lease_ttl_ms, s_lease, ls, NULL);
}
