/* The Redis store: one synchronous hiredis connection per store, guarded by a mutex, so calls
 * from many threads are serialised on it. A broken connection is replaced on the next call:
 * when a command fails because the connection broke (EOF, reset, broken pipe), the store
 * reconnects and sends it once more; a command that timed out is not resent (Redis may still
 * run it, and INCRBY is not idempotent), the connection is dropped and the call answers
 * UNREACHABLE. Keys and values travel as %b / %s arguments, so values are binary-safe. */
#include "alloc_internal.h"
#include "store_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define S_CONNECT_TIMEOUT_MS 1000
#define S_COMMAND_TIMEOUT_MS 2000

/* Compare-and-delete, atomic on the server. */
static const char s_del_if_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
    "else return 0 end";

/* Compare-and-pexpire (the lease renewal), atomic on the server. */
static const char s_pexpire_if_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) "
    "else return 0 end";

/* Token bucket take, atomic on the server; the same steps as yard__store_bucket_take(). The
 * bucket is a hash {tokens, ts}; ARGV: rate per second, burst, TTL ms, now ms (0: the
 * server's TIME, one clock for every replica whatever their hosts' clocks say), tokens to take.
 * Scripts that call TIME before writing need effects replication: the default since Redis 5, asked
 * for explicitly where the call exists. Returns {allowed, retry_after_ms}. */
static const char s_take_token_script[] =
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local rate = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local now = tonumber(ARGV[4])\n"
    "if now == 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "end\n"
    "local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
    "local tokens = tonumber(b[1])\n"
    "local ts = tonumber(b[2])\n"
    "if tokens == nil or ts == nil then tokens = burst; ts = now end\n"
    "if now > ts then\n"
    "  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)\n"
    "  ts = now\n"
    "end\n"
    "local n = tonumber(ARGV[5])\n"
    "local allowed = 0\n"
    "local retry = 0\n"
    "if tokens >= n then\n"
    "  tokens = tokens - n\n"
    "  allowed = 1\n"
    "else\n"
    "  retry = math.max(1, math.ceil((n - tokens) * 1000 / rate))\n"
    "end\n"
    "redis.call('HMSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', "
    "string.format('%d', ts))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return {allowed, retry}\n";

typedef struct {
    pthread_mutex_t mu;
    redisContext *ctx; /* NULL while disconnected */
    char *host;
    int port;
    int db;
} s_redis_t;

static struct timeval
s_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void
s_disconnect(s_redis_t *self)
{
    if (self->ctx != NULL) {
        redisFree(self->ctx);
        self->ctx = NULL;
    }
}

/* Connects and selects the db. Caller holds the mutex. Returns 0 or YARD_E_UNREACHABLE. */
static int
s_connect(s_redis_t *self)
{
    s_disconnect(self);
    redisContext *ctx = redisConnectWithTimeout(self->host, self->port, s_tv(S_CONNECT_TIMEOUT_MS));
    if (ctx == NULL || ctx->err != 0) {
        yard_log(YARD_LOG_WARN, "store: cannot connect to redis", YF_STR("host", self->host),
                 YF_INT("port", self->port),
                 YF_STR("error", ctx != NULL ? ctx->errstr : "out of memory"));
        if (ctx != NULL) {
            redisFree(ctx);
        }
        return YARD_E_UNREACHABLE;
    }
    redisSetTimeout(ctx, s_tv(S_COMMAND_TIMEOUT_MS));
    redisEnableKeepAlive(ctx);
    if (self->db != 0) {
        redisReply *r = redisCommand(ctx, "SELECT %d", self->db);
        bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (!ok) {
            yard_log(
                YARD_LOG_WARN, "store: redis SELECT failed", YF_INT("db", self->db),
                YF_STR("error", r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : ctx->errstr));
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
        if (!ok) {
            redisFree(ctx);
            return YARD_E_UNREACHABLE;
        }
    }
    self->ctx = ctx;
    return 0;
}

/* True when the context's error was a timeout rather than a broken connection. */
static bool
s_timed_out(const redisContext *ctx, int err_no)
{
    return ctx->err == REDIS_ERR_IO && (err_no == EAGAIN || err_no == EWOULDBLOCK);
}

/* One command, either printf-style (fmt, args) or as an argument vector (argc > 0). */
typedef struct {
    const char *fmt;
    va_list *args;
    int argc;
    const char **argv;
    const size_t *argvlen;
} s_cmd_t;

/* Runs one command: connects when needed, and on a broken connection reconnects and tries
 * once more. Caller holds the mutex (s_run takes it). Returns the reply (caller frees) or NULL:
 * unreachable.
 *
 * SIGPIPE is blocked around the call (hiredis writes with write(2)), so a dead server cannot
 * kill a process that did not ignore SIGPIPE; a SIGPIPE raised here is consumed. */
static redisReply *
s_command(s_redis_t *self, const s_cmd_t *cmd)
{
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE) == 1;

    redisReply *reply = NULL;
    for (int attempt = 0; attempt < 2 && reply == NULL; attempt++) {
        if (self->ctx == NULL && s_connect(self) != 0) {
            break;
        }
        errno = 0;
        if (cmd->argc > 0) {
            reply = redisCommandArgv(self->ctx, cmd->argc, cmd->argv, cmd->argvlen);
        } else {
            va_list ap;
            va_copy(ap, *cmd->args); /* a retry formats the command again */
            reply = redisvCommand(self->ctx, cmd->fmt, ap);
            va_end(ap);
        }
        int err_no = errno;
        if (reply != NULL) {
            break;
        }
        bool timeout = s_timed_out(self->ctx, err_no);
        yard_log(YARD_LOG_WARN, "store: redis command failed", YF_STR("host", self->host),
                 YF_INT("port", self->port), YF_STR("error", self->ctx->errstr),
                 YF_BOOL("retry", !timeout && attempt == 0));
        s_disconnect(self);
        if (timeout) {
            break;
        }
    }

    if (!was_pending) {
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) == 1) {
            struct timespec zero = {0, 0};
            sigtimedwait(&pipe_set, NULL, &zero);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return reply;
}

/* Maps an error reply to a code: a non-integer or overflow for INCRBY, and WRONGTYPE (a set
 * where a plain value is wanted, or the reverse) are the caller's INVALID; anything else
 * (LOADING, READONLY, OOM...) is logged and answered UNREACHABLE. */
static int
s_reply_error(const redisReply *r)
{
    if (strstr(r->str, "not an integer") != NULL || strstr(r->str, "overflow") != NULL ||
        strstr(r->str, "WRONGTYPE") != NULL) {
        return YARD_E_INVALID;
    }
    yard_log(YARD_LOG_WARN, "store: redis answered an error", YF_STR("error", r->str));
    return YARD_E_UNREACHABLE;
}

/* Runs one command under the connection's lock (one hiredis context serves every thread). */
static redisReply *
s_run(s_redis_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_cmd_t cmd = {.fmt = fmt, .args = &ap};
    pthread_mutex_lock(&self->mu);
    redisReply *r = s_command(self, &cmd);
    pthread_mutex_unlock(&self->mu);
    va_end(ap);
    return r;
}

/* True when r is a reply of type want (the caller reads it, then frees it). Otherwise frees r
 * and sets *rc: UNREACHABLE for no reply, the mapped code for an error reply, INTERNAL for a
 * reply of another type. A NIL reply is left to the caller when want is REDIS_REPLY_NIL. */
static bool
s_expect(redisReply *r, int want, int *rc)
{
    if (r != NULL && r->type == want) {
        return true;
    }
    *rc = r == NULL                      ? YARD_E_UNREACHABLE
          : r->type == REDIS_REPLY_ERROR ? s_reply_error(r)
                                         : YARD_E_INTERNAL;
    if (r != NULL) {
        freeReplyObject(r);
    }
    return false;
}

static void
s_destroy(void *impl)
{
    s_redis_t *self = impl;
    s_disconnect(self);
    free(self->host);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

static int
s_get(void *impl, const char *key, char **val, size_t *len)
{
    redisReply *r = s_run(impl, "GET %s", key);
    if (r != NULL && r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return YARD_E_NOT_FOUND;
    }
    int rc = 0;
    if (!s_expect(r, REDIS_REPLY_STRING, &rc)) {
        return rc;
    }
    *val = yard__store_dup(r->str, r->len);
    *len = r->len;
    freeReplyObject(r);
    return 0;
}

/* SET with optional NX and PX; returns 1 when set, 0 when NX found the key. */
static int
s_set_common(s_redis_t *self, const char *key, const void *val, size_t len, uint32_t ttl_ms,
             bool nx)
{
    unsigned ttl = ttl_ms;
    redisReply *r;
    if (nx && ttl != 0) {
        r = s_run(self, "SET %s %b NX PX %u", key, val, len, ttl);
    } else if (nx) {
        r = s_run(self, "SET %s %b NX", key, val, len);
    } else if (ttl != 0) {
        r = s_run(self, "SET %s %b PX %u", key, val, len, ttl);
    } else {
        r = s_run(self, "SET %s %b", key, val, len);
    }
    if (r != NULL && r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r); /* NX found the key */
        return 0;
    }
    int rc = 1;
    if (s_expect(r, REDIS_REPLY_STATUS, &rc)) {
        freeReplyObject(r);
    }
    return rc;
}

static int
s_set(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    int rc = s_set_common(impl, key, val, len, ttl_ms, false);
    return rc == 1 ? 0 : rc < 0 ? rc : YARD_E_INTERNAL;
}

static int
s_set_nx(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    return s_set_common(impl, key, val, len, ttl_ms, true);
}

/* Reads an integer-count reply: 1 when positive, 0 when not, or an error. Frees r. */
static int
s_count_reply(redisReply *r)
{
    int rc = 0;
    if (s_expect(r, REDIS_REPLY_INTEGER, &rc)) {
        rc = r->integer > 0 ? 1 : 0;
        freeReplyObject(r);
    }
    return rc;
}

static int
s_del(void *impl, const char *key)
{
    return s_count_reply(s_run(impl, "DEL %s", key));
}

static int
s_del_if(void *impl, const char *key, const void *val, size_t len)
{
    return s_count_reply(s_run(impl, "EVAL %s 1 %s %b", s_del_if_script, key, val, len));
}

static int
s_pexpire_if(void *impl, const char *key, const void *val, size_t len, uint32_t ttl_ms)
{
    unsigned ttl = ttl_ms;
    return s_count_reply(
        s_run(impl, "EVAL %s 1 %s %b %u", s_pexpire_if_script, key, val, len, ttl));
}

static int
s_incr(void *impl, const char *key, int64_t by, int64_t *out)
{
    long long n = by;
    redisReply *r = s_run(impl, "INCRBY %s %lld", key, n);
    int rc = 0;
    if (s_expect(r, REDIS_REPLY_INTEGER, &rc)) {
        *out = (int64_t)r->integer;
        freeReplyObject(r);
    }
    return rc;
}

static int
s_take_token(void *impl, const char *key, double rate_per_s, uint32_t burst, uint32_t n,
             uint64_t now_ms, int *allowed, uint32_t *retry_after_ms)
{
    char rate[40], now[32];
    snprintf(rate, sizeof rate, "%.17g", rate_per_s);
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms);
    unsigned b = burst, ttl = yard__store_bucket_ttl_ms(rate_per_s, burst);
    redisReply *r =
        s_run(impl, "EVAL %s 1 %s %s %u %u %s %u", s_take_token_script, key, rate, b, ttl, now, n);
    int rc = 0;
    if (!s_expect(r, REDIS_REPLY_ARRAY, &rc)) {
        return rc;
    }
    if (r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return YARD_E_INTERNAL;
    }
    long long retry = r->element[1]->integer;
    *allowed = r->element[0]->integer == 1 ? 1 : 0;
    *retry_after_ms = retry < 0 ? 0 : retry > UINT32_MAX ? UINT32_MAX : (uint32_t)retry;
    freeReplyObject(r);
    return 0;
}

/* SADD and SREM answer how many members they added or removed: one here. */
/* MGET: one round trip for every key (what a token check needs on its hot path). */
static int
s_mget(void *impl, const char *const *keys, size_t n, char **vals, size_t *lens)
{
    s_redis_t *self = impl;
    const char **argv = malloc((n + 1) * sizeof *argv);
    size_t *argvlen = malloc((n + 1) * sizeof *argvlen);
    if (argv == NULL || argvlen == NULL) {
        abort();
    }
    argv[0] = "MGET";
    argvlen[0] = 4;
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = keys[i];
        argvlen[i + 1] = strlen(keys[i]);
    }
    s_cmd_t cmd = {.argc = (int)n + 1, .argv = argv, .argvlen = argvlen};
    pthread_mutex_lock(&self->mu);
    redisReply *r = s_command(self, &cmd);
    pthread_mutex_unlock(&self->mu);
    free(argv);
    free(argvlen);
    int rc = 0;
    if (!s_expect(r, REDIS_REPLY_ARRAY, &rc)) {
        return rc;
    }
    if (r->elements != n) {
        freeReplyObject(r);
        return YARD_E_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING) {
            vals[i] = yard__store_dup(e->str, e->len);
            lens[i] = e->len;
        }
    }
    freeReplyObject(r);
    return 0;
}

static int
s_sadd(void *impl, const char *key, const char *member)
{
    return s_count_reply(s_run(impl, "SADD %s %s", key, member));
}

static int
s_srem(void *impl, const char *key, const char *member)
{
    return s_count_reply(s_run(impl, "SREM %s %s", key, member));
}

static int
s_smembers(void *impl, const char *key, char ***members, size_t *count)
{
    redisReply *r = s_run(impl, "SMEMBERS %s", key);
    int rc = 0;
    if (!s_expect(r, REDIS_REPLY_ARRAY, &rc)) {
        return rc;
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            return YARD_E_INTERNAL;
        }
    }
    char **out = yard__store_members_new(r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        out[i] = yard__store_dup(r->element[i]->str, r->element[i]->len);
    }
    *members = out;
    *count = r->elements;
    freeReplyObject(r);
    return 0;
}

static const yard__store_ops_t s_ops = {
    .name = "redis",
    .shared = true,
    .destroy = s_destroy,
    .get = s_get,
    .set = s_set,
    .set_nx = s_set_nx,
    .del = s_del,
    .del_if = s_del_if,
    .pexpire_if = s_pexpire_if,
    .incr = s_incr,
    .take_token = s_take_token,
    .mget = s_mget,
    .sadd = s_sadd,
    .srem = s_srem,
    .smembers = s_smembers,
};

int
yard__store_redis_open(const char *host, int port, int db, const yard__store_ops_t **ops,
                       void **impl)
{
    s_redis_t *self = yard__xcalloc(1, sizeof *self);
    pthread_mutex_init(&self->mu, NULL);
    self->host = yard__store_dup(host, strlen(host));
    self->port = port;
    self->db = db;
    /* Open answers whether Redis is there: connect and PING now. */
    int rc = 0;
    redisReply *r = s_run(self, "PING");
    if (s_expect(r, REDIS_REPLY_STATUS, &rc)) {
        freeReplyObject(r);
    }
    if (rc != 0) {
        s_destroy(self);
        return YARD_E_UNREACHABLE;
    }
    *ops = &s_ops;
    *impl = self;
    return 0;
}
