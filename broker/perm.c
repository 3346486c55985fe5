/* Per-key permissions (docs/security.md), in the spirit of NATS's per-user permissions.
 *
 * With CURVE on, zauth copies the metadata of the client's certificate in keys_dir onto its
 * connection, so every frame the ROUTER receives from it answers zmq_msg_gets() for these
 * properties (`yard keygen --offer ... --call ...` writes them):
 *   offer      services the key may serve (READY)
 *   call       services it may call or send to (REQUEST, SEND)
 *   publish    subjects it may publish on
 *   subscribe  subject patterns it may subscribe to
 *   sys        yes/no: `$sys` calls but ping, and `$sys.` subscriptions (`yard services`,
 *              `yard monitor`)
 *   tap        yes/no: `$tap.` subscriptions (`yard tap`)
 * A list is comma-separated; an item is a name or a subject pattern (`*`, `>`); "" allows
 * nothing. A property the certificate does not have does not restrict. The directory is the
 * administrator's: the client never chooses its own permissions.
 *
 * A refusal is answered ERROR FORBIDDEN naming the permission, counted (permissions_refused),
 * published on `$sys.events` as permission_refused, and logged once per key and permission. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_LOGGED_BITS 8192u

/* True when item (a name, or a pattern when it has wildcard tokens) admits target. */
static bool
s_item_admits(yard_str_t item, yard_str_t target)
{
    if (yard_str_eq(item, target)) {
        return true;
    }
    return yard_subject_pattern_valid(item) && yard_subject_valid(target) &&
           yard_subject_match(item, target);
}

/* True when pattern `allowed` covers every subject pattern `wanted` can match: token by
 * token, `>` covers the rest, `*` covers one token that is not `>`, a literal only itself. */
static bool
s_covers(yard_str_t allowed, yard_str_t wanted)
{
    const char *a = allowed.ptr, *ae = a + allowed.len, *w = wanted.ptr, *we = w + wanted.len;
    while (a < ae && w < we) {
        const char *ad = memchr(a, '.', (size_t)(ae - a)), *wd = memchr(w, '.', (size_t)(we - w));
        size_t al = (size_t)((ad ? ad : ae) - a), wl = (size_t)((wd ? wd : we) - w);
        if (al == 1 && a[0] == '>') {
            return true;
        }
        bool wild_w = wl == 1 && (w[0] == '>' || w[0] == '*');
        if (al == 1 && a[0] == '*') {
            if (wl == 1 && w[0] == '>') {
                return false;
            }
        } else if (wild_w || al != wl || memcmp(a, w, al) != 0) {
            return false;
        }
        a = ad ? ad + 1 : ae;
        w = wd ? wd + 1 : we;
        if ((a == ae) != (w == we)) {
            return false;
        }
    }
    return a >= ae && w >= we;
}

/* True when the comma-separated list admits target (subscribe: covers the pattern). */
static bool
s_list_admits(const char *list, yard_str_t target, bool pattern)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && *p == ' ') {
            p++, n--;
        }
        while (n && p[n - 1] == ' ') {
            n--;
        }
        yard_str_t item = {p, n};
        if (n && (pattern ? s_covers(item, target) : s_item_admits(item, target))) {
            return true;
        }
        if (!end) {
            break;
        }
        p = end + 1;
    }
    return false;
}

static bool
s_yes(const char *v)
{
    return strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
}

static bool
s_has_prefix(yard_str_t s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

/* The permission cmd with target needs, or NULL when it needs none. *pattern: a subscription
 * (checked by coverage). *flag: a yes/no permission. */
static const char *
s_needed(yard_cmd_t cmd, const yard_header_t *h, bool *pattern, bool *flag)
{
    yard_str_t target = h->service;
    *pattern = *flag = false;
    switch (cmd) {
    case YARD_CMD_READY:
        return "offer";
    case YARD_CMD_REQUEST:
    case YARD_CMD_SEND:
        *flag = target.len && target.ptr[0] == '$';
        if (*flag && yard_str_eq_cstr(h->op, "ping")) {
            return NULL; /* tells nothing; `yard pub`, `sub` and `tap` confirm with it */
        }
        return *flag ? "sys" : "call";
    case YARD_CMD_PUBLISH:
        return "publish";
    case YARD_CMD_SUBSCRIBE:
        *flag = s_has_prefix(target, "$");
        *pattern = !*flag;
        return s_has_prefix(target, "$tap.") ? "tap" : *flag ? "sys" : "subscribe";
    default:
        return NULL;
    }
}

static uint32_t
s_hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *s = a; *s; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    for (const char *s = b; *s; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

/* Publishes {event: permission_refused, ts_ms, peer: key name, permission, target}. */
static void
s_event(yard_broker_t *b, const char *who, const char *perm, yard_str_t target)
{
    if (b->nsubscribers == 0) {
        return;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *keys[] = {"event", "peer", "permission", "service"};
    const char *vals[] = {"permission_refused", who, perm, NULL};
    msgpack_pack_map(&pk, 5);
    for (int i = 0; i < 4; i++) {
        msgpack_pack_str_with_body(&pk, keys[i], strlen(keys[i]));
        if (vals[i]) {
            msgpack_pack_str_with_body(&pk, vals[i], strlen(vals[i]));
        } else {
            msgpack_pack_str_with_body(&pk, target.ptr, target.len);
        }
    }
    msgpack_pack_str_with_body(&pk, "ts_ms", 5);
    msgpack_pack_uint64(&pk, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
    zmq_msg_t body;
    if (zmq_msg_init_size(&body, sb.size) != 0) {
        abort();
    }
    memcpy(zmq_msg_data(&body), sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    yard__publish(b, yard_str(YARD__SYS_EVENTS), NULL, &body);
    zmq_msg_close(&body);
}

bool
yard__perm_allows(yard_broker_t *b, zmq_msg_t *f, yard_cmd_t cmd, const yard_header_t *h)
{
    if (!b->keys) {
        return true;
    }
    bool pattern, flag;
    const char *perm = s_needed(cmd, h, &pattern, &flag);
    const char *value = perm ? zmq_msg_gets(&f[0], perm) : NULL;
    if (!value) {
        return true; /* not a checked command, or the key is not restricted there */
    }
    if (flag ? s_yes(value) : s_list_admits(value, h->service, pattern)) {
        return true;
    }
    const char *uid = zmq_msg_gets(&f[0], "User-Id");
    const char *name = zmq_msg_gets(&f[0], "name");
    const char *who = name && *name ? name : uid ? uid : "?";
    char text[YARD_WIRE_NAME_MAX + 160];
    snprintf(text, sizeof text, "permission '%s' refused: key %s may not %s '%.*s'", perm, who,
             cmd == YARD_CMD_READY       ? "offer"
             : cmd == YARD_CMD_PUBLISH   ? "publish on"
             : cmd == YARD_CMD_SUBSCRIBE ? "subscribe to"
                                         : "call",
             (int)h->service.len, h->service.ptr);
    b->counters[YARD__C_PERM_REFUSED]++;
    uint32_t bit = s_hash(uid ? uid : who, perm) % S_LOGGED_BITS;
    if (!(b->perm_logged[bit / 8] & (1u << (bit % 8)))) {
        b->perm_logged[bit / 8] |= (uint8_t)(1u << (bit % 8));
        yard_log(YARD_LOG_WARN, "permission refused", YF_STR("key", who),
                 YF_STR("permission", perm), YF_STR("why", text));
    }
    s_event(b, who, perm, h->service);
    yard__send_error(b, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), h->id, YARD_E_FORBIDDEN, text);
    return false;
}
