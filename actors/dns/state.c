/* A record's state in the store, one msgpack map per record under its key
 * ("dns:rec:<provider>:<type>:<name>"), so that a restart, or another replica, knows what
 * the provider already has and never updates it again for nothing. Fields the reader does
 * not know are ignored and missing ones read as empty, so the format can grow. */
#include "dns_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdlib.h>
#include <string.h>

static void
s_get_str(const msgpack_object *m, const char *key, char *buf, size_t cap)
{
    if (yard_mp_get_strbuf(m, key, buf, cap, NULL, 0) != 0) {
        buf[0] = '\0';
    }
}

static int64_t
s_get_int(const msgpack_object *m, const char *key)
{
    int64_t v = 0;
    return yard_mp_get_int(m, key, &v, NULL, 0) == 0 ? v : 0;
}

void
dns_state_decode(const char *val, size_t len, const dns_record_t *r, dns_state_t *out)
{
    memset(out, 0, sizeof *out);
    if (val && len > 0) {
        msgpack_zone zone;
        msgpack_zone_init(&zone, 1024);
        msgpack_object m;
        if (yard_mp_decode(val, len, &zone, &m, NULL, 0) == 0 && m.type == MSGPACK_OBJECT_MAP) {
            s_get_str(&m, "addr", out->addr, sizeof out->addr);
            out->set_ms = s_get_int(&m, "set");
            out->change_ms = s_get_int(&m, "change");
            out->check_ms = s_get_int(&m, "check");
            out->err_ms = s_get_int(&m, "err_at");
            s_get_str(&m, "code", out->code, sizeof out->code);
            s_get_str(&m, "err", out->err, sizeof out->err);
            s_get_str(&m, "held", out->held, sizeof out->held);
            out->held_until = s_get_int(&m, "held_until");
            out->nochg = (uint32_t)s_get_int(&m, "nochg");
            s_get_str(&m, "cf_zone", out->cf_zone, sizeof out->cf_zone);
            s_get_str(&m, "cf_id", out->cf_id, sizeof out->cf_id);
            s_get_str(&m, "fp", out->fp, sizeof out->fp);
            s_get_str(&m, "noted", out->noted, sizeof out->noted);
        } else {
            yard_log(YARD_LOG_WARN, "dns: a record's stored state is unreadable; starting afresh",
                     YF_STR("key", r->key));
        }
        msgpack_zone_destroy(&zone);
    }
    if (out->fp[0] && strcmp(out->fp, r->fp) != 0) {
        /* The configuration changed: what only a change could fix may work now (at once: the
         * last error was the old configuration's), and cached ids may belong to another zone
         * or account. A provider's own hold (911, 429) stays. */
        if (strcmp(out->held, "config") == 0) {
            out->held[0] = '\0';
            out->held_until = 0;
        }
        out->err_ms = 0;
        out->code[0] = out->err[0] = out->noted[0] = '\0';
        out->cf_zone[0] = out->cf_id[0] = '\0';
        out->nochg = 0;
    }
    memcpy(out->fp, r->fp, sizeof out->fp);
}

int
dns_state_load(yard_store_t *st, const dns_record_t *r, dns_state_t *out)
{
    char *val = NULL;
    size_t len = 0;
    int rc = yard_store_get(st, r->key, &val, &len);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    dns_state_decode(val, len, r, out);
    free(val);
    return 0;
}

int
dns_state_save(yard_store_t *st, const dns_record_t *r, const dns_state_t *s)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "addr", s->addr);
    yard_mpw_kint(w, "set", s->set_ms);
    yard_mpw_kint(w, "change", s->change_ms);
    yard_mpw_kint(w, "check", s->check_ms);
    yard_mpw_kint(w, "err_at", s->err_ms);
    yard_mpw_kstr(w, "code", s->code);
    yard_mpw_kstr(w, "err", s->err);
    yard_mpw_kstr(w, "held", s->held);
    yard_mpw_kint(w, "held_until", s->held_until);
    yard_mpw_kint(w, "nochg", s->nochg);
    yard_mpw_kstr(w, "cf_zone", s->cf_zone);
    yard_mpw_kstr(w, "cf_id", s->cf_id);
    yard_mpw_kstr(w, "fp", r->fp);
    yard_mpw_kstr(w, "noted", s->noted);
    yard_mpw_end(w);
    const void *data = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &data, &size);
    if (rc == 0) {
        rc = yard_store_set(st, r->key, data, size, 0);
    }
    yard_mpw_destroy(&w);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "dns: cannot save a record's state", YF_STR("key", r->key),
                 YF_STR("error", yard_err_name(rc)));
    }
    return rc;
}
