/* Writes the fuzzers' seed corpora: tests/fuzz/corpus/<target>/seed-*, generated from the
 * product's own encoders (wire frames, msgpack, signed tokens) and the inputs the unit tests
 * use, so that mutation starts from valid inputs and reaches the deep checks. Run after a
 * change to a format: `build-fuzz/fuzz/fuzz_seeds tests/fuzz/corpus`. Files named seed-*
 * are this program's; crash-* files (regressions) are written by hand and never touched. */
#include "jwt.h"
#include "keyset.h"
#include "yard/json.h"
#include "yard/batch.h"
#include "yard/wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_keys.h"

static const char *s_root;

static void
s_write(const char *target, int n, const void *data, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/seed-%02d", s_root, target, n);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

static void
s_write_str(const char *target, int n, const char *s)
{
    s_write(target, n, s, strlen(s));
}

/* --- wire and broker --------------------------------------------------------------------- */

static size_t
s_head(yard_cmd_t cmd, const yard_header_t *h, uint8_t *buf, size_t cap)
{
    int n = yard_wire_encode(cmd, h, buf, cap);
    if (n < 0) {
        abort();
    }
    return (size_t)n;
}

/* Appends one broker-fuzzer message (see fuzz_broker.c) to seq. */
static void
s_msg(uint8_t *seq, size_t *len, int peer, int frames_sel, int step, yard_cmd_t cmd,
      const yard_header_t *h, const char *body)
{
    uint8_t head[1024];
    size_t hn = s_head(cmd, h, head, sizeof head);
    size_t bn = body ? strlen(body) : 0;
    seq[(*len)++] = (uint8_t)(peer | frames_sel << 2 | step << 4);
    seq[(*len)++] = (uint8_t)(hn & 0xff);
    seq[(*len)++] = (uint8_t)(hn >> 8);
    memcpy(seq + *len, head, hn);
    *len += hn;
    seq[(*len)++] = (uint8_t)bn;
    if (bn) {
        memcpy(seq + *len, body, bn);
    }
    *len += bn;
}

/* Appends one broker-fuzzer message whose head is raw bytes (a BATCH frame), without a body
 * frame. */
static void
s_raw(uint8_t *seq, size_t *len, int peer, int step, const void *head, size_t hn)
{
    seq[(*len)++] = (uint8_t)(peer | 0 << 2 | step << 4); /* 2 frames: routing id and head */
    seq[(*len)++] = (uint8_t)(hn & 0xff);
    seq[(*len)++] = (uint8_t)(hn >> 8);
    memcpy(seq + *len, head, hn);
    *len += hn;
    seq[(*len)++] = 0;
}

/* A BATCH of the one-frame messages cmds[i] with headers hs[i] and inline bodies bodies[i]
 * (NULL: none) into b (cleared first). Returns the frame, borrowed from b. */
static const void *
s_batch(yard_batch_t *b, int n, const yard_cmd_t *cmds, const yard_header_t *const *hs,
        const char *const *bodies, size_t *size)
{
    yard_batch_clear(b, SIZE_MAX);
    for (int i = 0; i < n; i++) {
        uint8_t one[2048];
        int k = bodies[i] ? yard_wire_encode_inline(cmds[i], hs[i], bodies[i], strlen(bodies[i]),
                                                    one, sizeof one)
                          : yard_wire_encode(cmds[i], hs[i], one, sizeof one);
        if (k < 0 || yard_batch_add(b, one, (size_t)k) != 0) {
            abort();
        }
    }
    return yard_batch_frame(b, size);
}

#define S_REQ_ID(idx) ((uint64_t)1 << 32 | (idx)) /* the broker's first id for slot idx */

static void
s_broker_seeds(void)
{
    static const yard_kv_t kv[] = {{{"trace", 5}, {"abc", 3}}, {{"http.param.id", 13}, {"7", 1}}};
    const char *mp_body = "\x81\xa1"
                          "a\x01"; /* {"a": 1} */
    yard_header_t ready = {
        .service = yard_str("echo"), .credit = 2, .heartbeat_ms = 1000, .replica = yard_str("r1")};
    yard_header_t ready_st = {
        .service = yard_str("kv"), .credit = 1, .store = yard_str("redis://127.0.0.1:6379/0")};
    yard_header_t req = {.id = 1,
                         .service = yard_str("echo"),
                         .op = yard_str("echo"),
                         .timeout_ms = 500,
                         .flags = YARD_FLAG_IDEMPOTENT,
                         .headers = kv,
                         .header_count = 2};
    yard_header_t rep = {.id = S_REQ_ID(0)};
    yard_header_t err = {.id = S_REQ_ID(0),
                         .error = 5,
                         .error_text = yard_str("nope"),
                         .app_error = yard_str("app.bad")};
    yard_header_t sub = {.service = yard_str("news.>")};
    yard_header_t tap = {.service = yard_str("$tap.echo")};
    yard_header_t pub = {.service = yard_str("news.sport")};
    yard_header_t hb = {.heartbeat_ms = 500};
    yard_header_t hb_credit = {.credit = 3};
    yard_header_t sys_stats = {.id = 9, .service = yard_str("$sys"), .op = yard_str("stats")};
    yard_header_t sys_repl = {.id = 10, .service = yard_str("$sys"), .op = yard_str("replicas")};
    yard_header_t drain = {0};
    yard_header_t none = {0};

    /* wire seeds: each command's head frame alone */
    uint8_t buf[1024];
    int w = 0;
    const struct {
        yard_cmd_t cmd;
        const yard_header_t *h;
    } heads[] = {
        {YARD_CMD_READY, &ready},     {YARD_CMD_READY, &ready_st}, {YARD_CMD_REQUEST, &req},
        {YARD_CMD_REPLY, &rep},       {YARD_CMD_ERROR, &err},      {YARD_CMD_SUBSCRIBE, &sub},
        {YARD_CMD_PUBLISH, &pub},     {YARD_CMD_HEARTBEAT, &hb},   {YARD_CMD_DRAIN, &drain},
        {YARD_CMD_DISCONNECT, &none}, {YARD_CMD_SEND, &sys_stats}, {YARD_CMD_UNSUBSCRIBE, &tap}};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        s_write("fuzz_wire", w++, buf, s_head(heads[i].cmd, heads[i].h, buf, sizeof buf));
    }

    /* a BATCH of three messages */
    yard_batch_t batch = {0};
    size_t bsize;
    const yard_cmd_t bcmds[] = {YARD_CMD_REQUEST, YARD_CMD_HEARTBEAT, YARD_CMD_PUBLISH};
    const yard_header_t *bhs[] = {&req, &hb, &pub};
    const char *const bbodies[] = {"\x81\xa1x\x01", NULL, "\xa3hey"};
    const void *bf = s_batch(&batch, 3, bcmds, bhs, bbodies, &bsize);
    s_write("fuzz_wire", w++, bf, bsize);

    /* broker seeds: whole conversations */
    static uint8_t seq[8192];
    size_t n;
    int b = 0;
    for (int mode = 0; mode < 2; mode++) {
        /* a replica, a request routed to it, its reply, a late reply, a disconnect */
        n = 0;
        seq[n++] = (uint8_t)mode;
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_READY, &ready, NULL);
        s_msg(seq, &n, 1, 1, 0, YARD_CMD_REQUEST, &req, mp_body);
        s_msg(seq, &n, 0, 1, 1, YARD_CMD_REPLY, &rep, mp_body);
        s_msg(seq, &n, 0, 1, 0, YARD_CMD_REPLY, &rep, mp_body);
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_DISCONNECT, &none, NULL);
        s_write("fuzz_broker", b++, seq, n);
        /* requests queued, the replica drains, deadlines pass */
        n = 0;
        seq[n++] = (uint8_t)mode;
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_READY, &ready, NULL);
        for (int i = 0; i < 4; i++) {
            req.id = (uint64_t)i + 1;
            s_msg(seq, &n, 1 + i % 2, 1, 0, YARD_CMD_REQUEST, &req, mp_body);
        }
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_ERROR, &err, NULL);
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_DRAIN, &drain, NULL);
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_HEARTBEAT, &hb_credit, NULL);
        s_msg(seq, &n, 3, 0, 15, YARD_CMD_HEARTBEAT, &hb, NULL);
        s_msg(seq, &n, 3, 0, 15, YARD_CMD_HEARTBEAT, &hb, NULL);
        s_write("fuzz_broker", b++, seq, n);
        /* pub/sub and tap */
        n = 0;
        seq[n++] = (uint8_t)mode;
        s_msg(seq, &n, 2, 0, 0, YARD_CMD_SUBSCRIBE, &sub, NULL);
        s_msg(seq, &n, 3, 0, 0, YARD_CMD_SUBSCRIBE, &tap, NULL);
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_READY, &ready, NULL);
        req.id = 1;
        s_msg(seq, &n, 1, 1, 0, YARD_CMD_REQUEST, &req, mp_body);
        s_msg(seq, &n, 0, 1, 0, YARD_CMD_REPLY, &rep, mp_body);
        s_msg(seq, &n, 1, 1, 0, YARD_CMD_PUBLISH, &pub, mp_body);
        s_msg(seq, &n, 2, 0, 0, YARD_CMD_UNSUBSCRIBE, &sub, NULL);
        s_msg(seq, &n, 3, 0, 4, YARD_CMD_UNSUBSCRIBE, &tap, NULL);
        s_write("fuzz_broker", b++, seq, n);
        /* $sys, stateful replicas on different stores, bad frame counts */
        n = 0;
        seq[n++] = (uint8_t)mode;
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_READY, &ready_st, NULL);
        ready_st.store = yard_str("redis://127.0.0.1:6380/0");
        s_msg(seq, &n, 1, 0, 0, YARD_CMD_READY, &ready_st, NULL);
        ready_st.store = yard_str("redis://127.0.0.1:6379/0");
        s_msg(seq, &n, 2, 1, 0, YARD_CMD_REQUEST, &sys_stats, "\x80");
        s_msg(seq, &n, 2, 1, 0, YARD_CMD_REQUEST, &sys_repl, "\x81\xa7service\xa2kv");
        s_msg(seq, &n, 2, 2, 0, YARD_CMD_REQUEST, &sys_repl, NULL);
        s_msg(seq, &n, 2, 3, 0, YARD_CMD_PUBLISH, &pub, NULL);
        s_write("fuzz_broker", b++, seq, n);
        /* batches: two requests from a client in one frame, two replies in one frame */
        n = 0;
        seq[n++] = (uint8_t)mode;
        s_msg(seq, &n, 0, 0, 0, YARD_CMD_READY, &ready, NULL);
        yard_header_t r1 = req, r2 = req;
        r1.id = 1;
        r2.id = 2;
        const yard_cmd_t two_req[] = {YARD_CMD_REQUEST, YARD_CMD_REQUEST};
        const yard_header_t *reqs[] = {&r1, &r2};
        const char *const bodies[] = {"\x80", "\x81\xa1k\x02"};
        const void *f = s_batch(&batch, 2, two_req, reqs, bodies, &bsize);
        s_raw(seq, &n, 1, 0, f, bsize);
        yard_header_t a1 = rep, a2 = rep;
        a1.id = S_REQ_ID(0);
        a2.id = S_REQ_ID(1);
        const yard_cmd_t two_rep[] = {YARD_CMD_REPLY, YARD_CMD_REPLY};
        const yard_header_t *reps[] = {&a1, &a2};
        f = s_batch(&batch, 2, two_rep, reps, bodies, &bsize);
        s_raw(seq, &n, 0, 1, f, bsize);
        s_write("fuzz_broker", b++, seq, n);
    }
    yard_batch_fini(&batch);
}

/* --- JSON and msgpack -------------------------------------------------------------------- */

static const char *const s_json[] = {
    "{}",
    "[]",
    "null",
    "{\"name\":\"ada\",\"age\":36,\"ok\":true,\"tags\":[\"a\",\"b\"],\"pi\":3.25}",
    "[1,-1,0,18446744073709551615,-9223372036854775808,1.5e300,-0.0,1e-7]",
    "\"\\u0000\\u00e9\\ud83d\\ude00\\n\\\"\"",
    "{\"a\":{\"b\":{\"c\":[[[[{\"d\":null}]]]]}}}",
    "{\"id\":\"7\",\"a\":[\"x\",\"y\"],\"name\":\"\"}",
    "  {\"k\" : [ 1 , 2 ] }  ",
    "{\"sub\":\"a\",\"sub\":\"b\"}",
};

static void
s_json_seeds(void)
{
    for (size_t i = 0; i < sizeof s_json / sizeof s_json[0]; i++) {
        s_write_str("fuzz_json", (int)i, s_json[i]);
        void *mp;
        size_t n;
        char err[128];
        if (yard_json_to_msgpack(s_json[i], strlen(s_json[i]), &mp, &n, err, sizeof err) != 0) {
            fprintf(stderr, "seed %zu: %s\n", i, err);
            exit(1);
        }
        s_write("fuzz_msgpack", (int)i, mp, n);
        free(mp);
    }
    /* what JSON cannot say: binary, an extension, float32, integer keys */
    s_write("fuzz_msgpack", 20,
            "\xc4\x03"
            "abc",
            5);
    s_write("fuzz_msgpack", 21, "\xd4\x01\x02", 3);
    s_write("fuzz_msgpack", 22, "\xca\x3f\xc0\x00\x00", 5);
    s_write("fuzz_msgpack", 23, "\x81\x01\xa1x", 4);
}

/* --- routes, cron, config ---------------------------------------------------------------- */

static void
s_text_seeds(void)
{
    s_write_str("fuzz_routes", 0, "GET /v1/users/42\nPOST /v1/users\nGET /v1/echo\n");
    s_write_str("fuzz_routes", 1, "PUT /v1/svc/echo/echo\nDELETE /v1/a/1/b/2/c\nGET /\n");
    s_write_str("fuzz_routes", 2, "GET /v1/users/%00\nGET //v1//users\nHEAD /v1/$sys\n");
    static const char cfg[] = "gateway:\n  routes:\n"
                              "    - {method: GET, path: '/x/{a}/{b}', service: '{a}', op: o,\n"
                              "       services: [echo]}\n"
                              "    - method: POST\n      path: /y\n      service: y\n"
                              "      timeout: 250ms\n      body_limit: 1KiB\n";
    char buf[512];
    size_t n = strlen(cfg);
    memcpy(buf, cfg, n);
    buf[n++] = '\0';
    static const char req[] = "GET /x/echo/1\nPOST /y\nGET /v1/echo";
    memcpy(buf + n, req, sizeof req - 1);
    s_write("fuzz_routes", 3, buf, n + sizeof req - 1);

    static const char *const framing[] = {
        "HTTP/1.1\n/v1/echo\nHost:localhost\nContent-Length:7\nContent-Type:application/json",
        "HTTP/1.1\n/v1/echo\nHost:a\nContent-Length:7\nContent-Length:8",
        "HTTP/1.1\n/v1/echo\nHost:a\nContent-Length :7",
        "HTTP/1.1\n/v1/echo\nHost:a\nTransfer-Encoding:chunked",
        "HTTP/1.1\n/v1/echo\nHost:a\nTransfer-Encoding:gzip, chunked\nContent-Length:3",
        "HTTP/1.0\n/v1/echo\nContent-Length:0",
        "HTTP/1.1\n/v1/echo?x=1\nHost:a\nHost:b",
        "HTTP/1.1\nhttp://a/v1/echo\nHost:a\nContent-Length0:3\nContent-Length:+7",
        "HTTP/2.0\n*\n",
    };
    for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++) {
        s_write_str("fuzz_framing", (int)i, framing[i]);
    }

    static const char *const cron[] = {
        "* * * * *",        "*/10 * * * * *",
        "0 0 1,L * *",      "0 0 13 * fri",
        "0 12 1 JUN-aug *", "5/15 * * * *",
        "0 0 * * fri-sun",  "0 9-17 * * mon-fri",
        "@hourly",          "@yearly",
        "0 0 29 2 *",       "59 59 23 31 12 *",
        "30 2 * * *",       "0 6,18 * jan,jul mon,thu",
    };
    for (size_t i = 0; i < sizeof cron / sizeof cron[0]; i++) {
        s_write_str("fuzz_cron", (int)i, cron[i]);
    }

    s_write_str("fuzz_config", 0,
                "bind: tcp://127.0.0.1:5555\nheartbeat_ms: 1000\n"
                "max_body: 1MiB\ntap: false\nlog_level: info\n");
    s_write_str("fuzz_config", 1,
                "broker: tcp://127.0.0.1:5555\nauth:\n  issuer: x\n"
                "  admin_password_file: /nonexistent\n"
                "scheduler:\n  jobs:\n    - {name: a, cron: '* * * * *'}\n");
    s_write_str("fuzz_config", 2, "a: &x [1, 2, {b: c}]\nb: *x\nc: !!str 3\nd: |\n  text\n");
    s_write_str("fuzz_config", 3, "---\n- 1\n- 2\n");
    s_write_str("fuzz_config", 4,
                "queue_max: -1\nmax_peers: 99999999999999999999\n"
                "default_timeout_ms: 1h\nunknown_key: 1\n");
}

/* --- tokens ------------------------------------------------------------------------------ */

static void
s_jwt_seeds(void)
{
    auth_keyset_t *ks = fuzz_keyset();
    static const char *const scopes[] = {"users.read", "users.write"};
    auth_claims_in_t c = {.iss = FUZZ_ISS,
                          .aud = FUZZ_AUD,
                          .sub = "u1",
                          .jti = "j1",
                          .typ = "access",
                          .fam = "f1",
                          .scopes = scopes,
                          .nscopes = 2,
                          .iat = FUZZ_NOW - 10,
                          .exp = FUZZ_NOW + 600,
                          .gen = 3};
    const char *kids[] = {"fuzz-ed", "fuzz-hs"};
    int n = 0;
    for (int k = 0; k < 2; k++) {
        const auth_key_t *key = auth_keyset_find(ks, kids[k], FUZZ_NOW);
        if (!key) {
            abort();
        }
        char *tok;
        for (int v = 0; v < 3; v++) {
            c.typ = v == 1 ? "refresh" : "access";
            c.exp = v == 2 ? FUZZ_NOW - 100 : FUZZ_NOW + 600; /* v 2: expired */
            c.nbf = v == 1 ? FUZZ_NOW - 5 : 0;
            if (auth_jwt_sign(key, &c, &tok) != 0) {
                abort();
            }
            s_write_str("fuzz_jwt", n++, tok);
            free(tok);
        }
    }
    /* alg none, and a header that is not JSON */
    s_write_str("fuzz_jwt", n++, "eyJhbGciOiJub25lIiwia2lkIjoiZnV6ei1lZCJ9.e30.");
    s_write_str("fuzz_jwt", n++, "e30.e30.e30");
    auth_keyset_destroy(&ks);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
        return 2;
    }
    s_root = argv[1];
    if (mkdir(s_root, 0755) != 0 && errno != EEXIST) {
        perror(s_root);
        return 1;
    }
    s_broker_seeds();
    s_json_seeds();
    s_text_seeds();
    s_jwt_seeds();
    return 0;
}
