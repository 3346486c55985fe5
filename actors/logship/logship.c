/* logship: ships log lines from files (and, with log_publish, from the bus) to Elasticsearch's
 * _bulk API, at least once and without losing any: offsets are committed only once a line is
 * acknowledged or safe in the spool on disk, and every _id is derived from the line's source
 * and offset, so a resend is a duplicate Elasticsearch refuses (README.md).
 *
 * The whole pipeline (scan, read, batch, send, spool, commit) is one loop source on the
 * replica's thread: the replica's loop turns it together with the outbound HTTP engine it owns,
 * so it runs in real time under yard/actor_test.h as in a replica, and draining it on SIGTERM
 * flushes the queue within drain_ms before the rest is spooled and the offsets persisted. */
#include "ls.h"
#include "ls_bus.h"

#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/registry.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static const yard_option_t s_options[] = {
    {"files", YARD_OPT_NODE, NULL, 0, "files to tail: [{paths, exclude, multiline, service}]", 0, 0,
     0},
    {"bus", YARD_OPT_NODE, NULL, 0, "bus subjects to ship: {subjects: [\"log.>\"]}", 0, 0, 0},
    {"elasticsearch", YARD_OPT_NODE, NULL, 0,
     "{url, index, api_key_file | username + password_file, batch, timeout, backoff, "
     "dead_letter}",
     0, 0, 0},
    {"refresh", YARD_OPT_MS, "10s", offsetof(ls_opts_t, refresh_ms),
     "how often the globs are scanned again", 100, 86400000, 0},
    {"poll", YARD_OPT_MS, "250ms", offsetof(ls_opts_t, poll_ms),
     "how often idle files are checked for new lines", 10, 60000, 0},
    {"max_line", YARD_OPT_SIZE, "32KiB", offsetof(ls_opts_t, max_line),
     "longer lines (and multiline events) are truncated and counted", 256, 16 << 20, 0},
    {"spool_dir", YARD_OPT_STRING, "/var/lib/yard/logship", offsetof(ls_opts_t, spool_dir),
     "offsets, the spool and the dead-letter file (a folder per host and replica)", 0, 0, 0},
    {"spool_max", YARD_OPT_SIZE, "1GiB", offsetof(ls_opts_t, spool_max),
     "spool bytes on disk (0: no spool); when full the oldest is dropped and counted", 0, 1ll << 40,
     0},
    {"memory_limit", YARD_OPT_SIZE, "64MiB", offsetof(ls_opts_t, memory_limit),
     "bytes of batches held in memory", 1 << 20, 1ll << 36, 0},
    {"output", YARD_OPT_STRING, "elasticsearch", offsetof(ls_opts_t, output),
     "elasticsearch, stdout, or file:PATH", 0, 0, 0},
    {"host_name", YARD_OPT_STRING, NULL, offsetof(ls_opts_t, host_name),
     "host.name in every record (default: the host's name)", 0, 0, 0},
    {"lease_ttl", YARD_OPT_MS, "30s", offsetof(ls_opts_t, lease_ttl_ms),
     "lease on each file, so replicas on a shared volume never ship one twice", 1000, 3600000, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

static int
s_mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* --- the loop source ---------------------------------------------------------------------- */

static bool
s_backlog(const ls_t *ls)
{
    for (const ls_file_t *f = ls->files; f; f = f->next) {
        if (f->held && f->pos < f->size) {
            return true;
        }
    }
    return false;
}

static int
s_prepare(void *arg, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    ls_t *ls = arg;
    int n = ls->http_src.prepare ? ls->http_src.prepare(ls->http_src.ctx, items, max, wake_ms) : 0;
    int64_t now = yard_loop_now_ms();
    int64_t next = now + ls->o->poll_ms;
    if (!ls->draining && s_backlog(ls) && !ls_queue_files_full(ls)) {
        next = now;
    }
    if (!ls->draining && ls->next_scan_ms < next) {
        next = ls->next_scan_ms; /* a poll longer than refresh must not delay the scan */
    }
    for (const ls_file_t *f = ls->files; f; f = f->next) {
        if (f->held && f->lease && f->renew_ms < next) {
            next = f->renew_ms; /* nor a lease renewal */
        }
    }
    if (ls->building && ls->building->first_ms + (int64_t)ls->cfg.flush_ms < next) {
        next = ls->building->first_ms + (int64_t)ls->cfg.flush_ms;
    }
    if (!ls->sending && (ls->inflight || ls->head || ls->nsegs > 0)) {
        next = ls->retry_at_ms > now ? (ls->retry_at_ms < next ? ls->retry_at_ms : next) : now;
    }
    if (next < *wake_ms) {
        *wake_ms = next;
    }
    return n;
}

static void
s_dispatch(void *arg, yard_wait_item_t *items, int n, int64_t now)
{
    ls_t *ls = arg;
    if (ls->http_src.dispatch) {
        ls->http_src.dispatch(ls->http_src.ctx, items, n, now);
    }
    if (now >= ls->next_scan_ms && !ls->draining) {
        ls_tail_scan(ls, now);
        ls->next_scan_ms = now + ls->o->refresh_ms;
    }
    ls_tail_renew(ls, now);
    if (!ls->draining) {
        ls_tail_read(ls, now, LS_READ_BUDGET);
        ls_tail_flush_events(ls, now, false);
    }
    ls_queue_close(ls, now, ls->draining);
    ls_out_pump(ls, now);
    ls_offsets_save(ls);
}

static void
s_drain(void *arg)
{
    ls_t *ls = arg;
    ls->draining = true;
    int64_t now = yard_loop_now_ms();
    ls_tail_flush_events(ls, now, true);
    ls_queue_close(ls, now, true);
    yard_log(YARD_LOG_INFO, "logship: draining", YF_UINT("queued_batches", ls->queued_batches),
             YF_BOOL("elasticsearch_down", ls->down));
}

static bool
s_busy(void *arg)
{
    ls_t *ls = arg;
    if (ls->down || ls->cfg.out != LS_OUT_ES) {
        return false; /* nothing will go out now: the rest is spooled at destroy */
    }
    return ls->sending || ls->inflight || ls->head;
}

/* Stop: what is still in memory goes to the spool, and the offsets are written. */
static void
s_destroy(void *arg)
{
    ls_t *ls = arg;
    ls_out_stop(ls);
    if (ls->inflight) {
        ls_batch_t *b = ls->inflight;
        ls->inflight = NULL;
        if (b->segment != 0 && b->attempts == 0) {
            ls_batch_free(&b); /* still whole on disk */
        } else if (ls_spool_write(ls, b) != 0) {
            ls_batch_free(&b); /* no spool: its lines are read again after a restart */
        }
    }
    ls_queue_spool_all(ls);
    ls_offsets_save(ls);
    yard_log(YARD_LOG_INFO, "logship: stopped", YF_UINT("shipped", ls->st.shipped),
             YF_UINT("spooled_items", ls->spool_items), YF_UINT("dropped", ls->st.dropped));
    ls_queue_free(ls);
    ls_tail_free(ls);
}

/* --- init / fini --------------------------------------------------------------------------- */

static int
s_output(ls_t *ls)
{
    const char *out = ls->o->output ? ls->o->output : "elasticsearch";
    if (strcmp(out, "elasticsearch") == 0) {
        ls->cfg.out = LS_OUT_ES;
    } else if (strcmp(out, "stdout") == 0) {
        ls->cfg.out = LS_OUT_STDOUT;
    } else if (strncmp(out, "file:", 5) == 0 && out[5] != '\0') {
        ls->cfg.out = LS_OUT_FILE;
        ls->cfg.out_path = strdup(out + 5);
    } else {
        yard_log(YARD_LOG_ERROR, "logship: output must be elasticsearch, stdout or file:PATH",
                 YF_STR("output", out));
        return YARD_E_CONFIG;
    }
    return 0;
}

static int
s_dirs(ls_t *ls)
{
    snprintf(ls->dir, sizeof ls->dir, "%s/%s.%d", ls->o->spool_dir, ls->host, ls->replica);
    if (s_mkdirs(ls->dir) != 0) {
        yard_log(YARD_LOG_ERROR, "logship: cannot create spool_dir", YF_STR("path", ls->dir),
                 YF_STR("error", strerror(errno)));
        return YARD_E_CONFIG;
    }
    if (ls->cfg.dead_letter == NULL) {
        char p[1100];
        snprintf(p, sizeof p, "%s/dead-letter.ndjson", ls->dir);
        ls->cfg.dead_letter = strdup(p);
    }
    int rc = ls_offsets_load(ls);
    return rc ? rc : ls_spool_open(ls);
}

static void
s_fini(void *state)
{
    ls_t *ls = state;
    ls_queue_free(ls); /* nothing left after the source's destroy; init failures leave some */
    ls_tail_free(ls);
    ls_out_stop(ls); /* after the source's destroy: nothing left to stop */
    ls_config_free(&ls->cfg);
    free(ls->rbuf);
    ls->rbuf = NULL;
}

/* init up to the loop source; on failure what it made is freed here (fini does not run). */
static int
s_init_parts(ls_t *ls, const yard_actor_env_t *env)
{
    char err[1024] = "";
    int rc = ls_config_read(env->config, &ls->cfg, err, sizeof err);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "logship: bad configuration", YF_STR("error", err));
        return rc;
    }
    if ((rc = s_output(ls)) != 0) {
        return rc;
    }
    ls->active = ls->cfg.ninputs > 0 || ls->cfg.nsubjects > 0;
    if (!ls->active) {
        yard_log(YARD_LOG_INFO, "logship: nothing to ship (no files, no bus subjects): idle");
        return 0;
    }
    if (ls->o->host_name && ls->o->host_name[0]) {
        snprintf(ls->host, sizeof ls->host, "%s", ls->o->host_name);
    } else if (gethostname(ls->host, sizeof ls->host - 1) != 0) {
        snprintf(ls->host, sizeof ls->host, "localhost");
    }
    if (getrandom(&ls->boot, sizeof ls->boot, 0) != (ssize_t)sizeof ls->boot) {
        ls->boot = (uint64_t)yard_ctx_wall_ms(ls->ctx);
    }
    if ((rc = s_dirs(ls)) != 0 || (rc = ls_out_start(ls)) != 0) {
        return rc;
    }
    ls->rbuf = malloc(LS_READ_CHUNK);
    yard_loop_source_t src = {ls, s_prepare, s_dispatch, s_drain, s_busy, s_destroy};
    return yard_ctx_add_source(ls->ctx, &src);
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    ls_t *ls = state;
    ls->ctx = env->ctx;
    ls->o = env->options;
    ls->replica = env->replica;
    ls->out_fd = -1;
    int rc = s_init_parts(ls, env);
    if (rc != 0) {
        s_fini(ls);
        return rc;
    }
    if (ls->active && ls_bus_start(ls) != 0) {
        yard_log(YARD_LOG_ERROR, "logship: the bus input could not start; files still ship");
    }
    return 0;
}

/* --- status ------------------------------------------------------------------------------- */

static void
s_status_files(yard_mpw_t *w, const ls_t *ls)
{
    yard_mpw_key(w, "files");
    yard_mpw_array(w);
    for (const ls_file_t *f = ls->files; f; f = f->next) {
        yard_mpw_map(w);
        yard_mpw_kstr(w, "path", f->path);
        yard_mpw_kuint(w, "size", f->size);
        yard_mpw_kuint(w, "read", f->pos);
        yard_mpw_kuint(w, "committed", f->committed);
        yard_mpw_kuint(w, "lag_bytes", f->size > f->committed ? f->size - f->committed : 0);
        yard_mpw_kuint(w, "lines", f->lines);
        yard_mpw_kuint(w, "truncated", f->truncated);
        yard_mpw_kbool(w, "held", f->held);
        yard_mpw_kbool(w, "rotated", f->gone);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
}

static int
s_status(yard_request_t *req, void *state)
{
    const ls_t *ls = state;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kbool(w, "active", ls->active);
    yard_mpw_kstr(w, "output", ls->o && ls->o->output ? ls->o->output : "elasticsearch");
    yard_mpw_kbool(w, "elasticsearch_down", ls->down);
    yard_mpw_key(w, "inputs");
    yard_mpw_array(w);
    for (size_t i = 0; i < ls->cfg.ninputs; i++) {
        yard_mpw_strs(w, (const char *const *)ls->cfg.inputs[i].paths, ls->cfg.inputs[i].npaths);
    }
    yard_mpw_end(w);
    yard_mpw_key(w, "subjects");
    yard_mpw_strs(w, (const char *const *)ls->cfg.subjects, ls->cfg.nsubjects);
    s_status_files(w, ls);
    uint64_t queued = ls->building ? ls->building->nitems : 0;
    for (const ls_batch_t *b = ls->head; b; b = b->next) {
        queued += b->nitems;
    }
    queued += ls->inflight ? ls->inflight->nitems : 0;
    yard_mpw_kuint(w, "queued", queued);
    yard_mpw_kuint(w, "queued_bytes", ls->queued_bytes);
    yard_mpw_kuint(w, "spooled", ls->spool_items);
    yard_mpw_kuint(w, "spool_bytes", ls->spool_bytes);
    yard_mpw_kuint(w, "read", ls->st.read_lines);
    yard_mpw_kuint(w, "bus_lines", ls->st.bus_lines);
    yard_mpw_kuint(w, "shipped", ls->st.shipped);
    yard_mpw_kuint(w, "retried", ls->st.retried);
    yard_mpw_kuint(w, "dead_lettered", ls->st.dead);
    yard_mpw_kuint(w, "dropped", ls->st.dropped + ls->st.bus_dropped);
    yard_mpw_kuint(w, "truncated", ls->st.truncated);
    yard_mpw_kuint(w, "requests", ls->st.requests);
    yard_mpw_kuint(w, "failures", ls->st.failures);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

static const yard_handler_def_t s_handlers[] = {
    {"status", s_status,
     "inputs, per-file lag, queued, spooled, shipped, retried, dead-lettered, dropped"},
    {NULL, NULL, NULL},
};

const yard_actor_def_t yard_actor_logship = {
    .name = "logship",
    .description = "ships log files and bus log lines to Elasticsearch, at least once",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(ls_opts_t),
    .state_size = sizeof(ls_t),
    .init = s_init,
    .fini = s_fini,
};
