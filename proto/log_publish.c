/* The log publisher (yard/log_publish.h): a line sink that copies each line into a bounded
 * queue, and a thread that owns a bus client and publishes the queued lines. The sink takes the
 * queue's mutex only to append (no I/O, no waiting on the bus), so logging stays as fast as the
 * write(2) it already does; when the queue is full the line is counted as dropped instead. */
#include "alloc_internal.h"
#include "yard/log_publish.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_COMPONENT_MAX 64
#define S_REPORT_S      10

typedef struct s_line {
    struct s_line *next;
    char subject[S_COMPONENT_MAX + 8];
    size_t len;
    char text[]; /* the JSON line */
} s_line_t;

struct yard_log_publish {
    yard_client_t *client;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    s_line_t *head, *tail;
    size_t lines, bytes;
    bool stop;
    atomic_uint_least64_t sent, dropped;
};

int
yard_log_publish_enabled(const yard_config_t *cfg, bool *on, char *err, size_t errlen)
{
    *on = false;
    yard_config_node_t n = yard_config_node(cfg, "log_publish");
    const char *text = yard_config_node_text(n);
    const char *env = getenv("YARD_LOG_PUBLISH");
    const char *src = env != NULL && env[0] != '\0' ? env : text;
    if (src == NULL) {
        return 0;
    }
    char why[128];
    if (yard_option_parse(YARD_OPT_BOOL, src, on, why, sizeof why) != 0) {
        if (src == env) {
            snprintf(err, errlen, "YARD_LOG_PUBLISH: %s", why);
        } else {
            snprintf(err, errlen, "%s:%d: log_publish: %s", yard_config_path(cfg),
                     yard_config_node_line(n), why);
        }
        return YARD_E_CONFIG;
    }
    return 0;
}

const char *
yard_log_publish_broker(const yard_config_t *cfg)
{
    const char *b = yard_config_node_text(yard_config_node(cfg, "broker"));
    const char *env = getenv("YARD_BROKER");
    if (env != NULL && env[0] != '\0') {
        return env;
    }
    return b != NULL && b[0] != '\0' ? b : YARD_OPT_DEFAULT_BROKER;
}

/* log.<component>, with characters a subject token cannot hold replaced by '_'. */
static void
s_subject(char *out, const char *component)
{
    size_t o = 0;
    memcpy(out, "log.", 4);
    o = 4;
    for (const char *c = component; *c && o < S_COMPONENT_MAX + 4; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
        out[o++] = ok ? *c : '_';
    }
    if (o == 4) {
        out[o++] = '_';
    }
    out[o] = '\0';
}

/* The sink: runs on every logging thread; appends or counts a drop. Never logs. */
static void
s_sink(const char *component, const char *line, size_t len, void *arg)
{
    yard_log_publish_t *self = arg;
    pthread_mutex_lock(&self->lock);
    bool full = self->lines >= YARD_LOG_PUBLISH_QUEUE ||
                self->bytes + len > YARD_LOG_PUBLISH_BYTES || self->stop;
    if (!full) {
        s_line_t *l = malloc(sizeof *l + len + 1);
        if (l == NULL) {
            full = true;
        } else {
            l->next = NULL;
            s_subject(l->subject, component);
            l->len = len;
            memcpy(l->text, line, len);
            l->text[len] = '\0';
            if (self->tail) {
                self->tail->next = l;
            } else {
                self->head = l;
            }
            self->tail = l;
            self->lines++;
            self->bytes += len;
            pthread_cond_signal(&self->cond);
        }
    }
    pthread_mutex_unlock(&self->lock);
    if (full) {
        atomic_fetch_add(&self->dropped, 1);
    }
}

static void
s_publish(yard_log_publish_t *self, s_line_t *l)
{
    void *mp = NULL;
    size_t size = 0;
    int rc = yard_json_to_msgpack(l->text, l->len, &mp, &size, NULL, 0);
    if (rc == 0) {
        rc = yard_client_publish(self->client, l->subject, mp, size);
    }
    free(mp);
    atomic_fetch_add(rc == 0 ? &self->sent : &self->dropped, 1);
}

/* Takes the whole queue; waits up to 1 s for a line. Returns NULL when stopping and empty. */
static s_line_t *
s_take(yard_log_publish_t *self, bool *stop)
{
    pthread_mutex_lock(&self->lock);
    if (self->head == NULL && !self->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&self->cond, &self->lock, &ts);
    }
    s_line_t *all = self->head;
    self->head = self->tail = NULL;
    self->lines = self->bytes = 0;
    *stop = self->stop;
    pthread_mutex_unlock(&self->lock);
    return all;
}

static void *
s_run(void *arg)
{
    yard_log_publish_t *self = arg;
    yard_log_set_context("log_publish", -1);
    uint64_t reported = 0;
    time_t last = time(NULL);
    for (;;) {
        bool stop = false;
        s_line_t *l = s_take(self, &stop);
        while (l != NULL) {
            s_line_t *next = l->next;
            s_publish(self, l);
            free(l);
            l = next;
        }
        yard_client_dispatch(self->client, 0); /* heartbeats, reconnects */
        uint64_t dropped = atomic_load(&self->dropped);
        if (dropped != reported && time(NULL) - last >= S_REPORT_S) {
            yard_log(YARD_LOG_WARN, "log_publish: lines dropped (the bus was slower than the log)",
                     YF_UINT("dropped", dropped - reported), YF_UINT("total", dropped));
            reported = dropped;
            last = time(NULL);
        }
        if (stop) {
            return NULL;
        }
    }
}

int
yard_log_publish_start(const char *endpoints, void *zmq_context, yard_log_publish_t **out)
{
    yard_log_publish_t *self = yard__xcalloc(1, sizeof *self);
    yard_client_opts_t co = {.zmq_context = zmq_context};
    int rc = yard_client_new(endpoints, &co, &self->client);
    if (rc != 0) {
        free(self);
        return rc;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->cond, NULL);
    atomic_init(&self->sent, 0);
    atomic_init(&self->dropped, 0);
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        yard_client_destroy(&self->client);
        pthread_mutex_destroy(&self->lock);
        pthread_cond_destroy(&self->cond);
        free(self);
        return YARD_E_INTERNAL;
    }
    yard_log_set_sink(s_sink, self);
    *out = self;
    return 0;
}

void
yard_log_publish_stop(yard_log_publish_t **self_p)
{
    yard_log_publish_t *self = self_p ? *self_p : NULL;
    if (self == NULL) {
        return;
    }
    yard_log_set_sink(NULL, NULL); /* from here no logging thread touches self */
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->cond);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    yard_client_destroy(&self->client);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->cond);
    free(self);
    *self_p = NULL;
}

uint64_t
yard_log_publish_sent(yard_log_publish_t *self)
{
    return atomic_load(&self->sent);
}

uint64_t
yard_log_publish_dropped(yard_log_publish_t *self)
{
    return atomic_load(&self->dropped);
}
