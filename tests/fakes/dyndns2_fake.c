/* The dyndns2 fake (dyndns2_fake.h). */
#include "dyndns2_fake.h"

#include "http_fake.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HOSTS  16
#define S_SCRIPT 16

typedef struct {
    char name[256];
    char addr[64];
    unsigned nochg;
    bool blocked;
} s_host_t;

struct yh_dyndns2 {
    yh_fake_srv_t srv;
    char auth[512]; /* "Basic <base64(user:password)>" */
    s_host_t hosts[S_HOSTS];
    size_t n_hosts;
    char script[S_SCRIPT][32];
    size_t n_script;
    unsigned abuse_after;
    bool hold;
};

static s_host_t *
s_find(yh_dyndns2_t *f, const char *name)
{
    for (size_t i = 0; i < f->n_hosts; i++) {
        if (strcmp(f->hosts[i].name, name) == 0) {
            return &f->hosts[i];
        }
    }
    return NULL;
}

/* The answer to one update, under the lock. */
static void
s_answer(yh_dyndns2_t *f, const char *auth, const char *host, const char *myip, char *out,
         size_t cap)
{
    if (f->n_script > 0) {
        snprintf(out, cap, "%s", f->script[0]);
        memmove(f->script[0], f->script[1], sizeof f->script[0] * (f->n_script - 1));
        f->n_script--;
        return;
    }
    if (strcmp(auth, f->auth) != 0) {
        snprintf(out, cap, "badauth");
        return;
    }
    if (!strchr(host, '.')) {
        snprintf(out, cap, "notfqdn");
        return;
    }
    s_host_t *h = s_find(f, host);
    if (!h) {
        snprintf(out, cap, "nohost");
        return;
    }
    if (h->blocked) {
        snprintf(out, cap, "abuse");
        return;
    }
    if (strcmp(h->addr, myip) == 0) {
        if (f->abuse_after && ++h->nochg >= f->abuse_after) {
            h->blocked = true;
        }
        snprintf(out, cap, "nochg %s", myip);
        return;
    }
    h->nochg = 0;
    snprintf(h->addr, sizeof h->addr, "%s", myip);
    snprintf(out, cap, "good %s", myip);
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    yh_dyndns2_t *f = arg;
    static _Thread_local char body[128];
    if (strcmp(req->path, "/nic/update") != 0) {
        return false;
    }
    char auth[512], host[256], myip[64];
    if (!yh_http_fake_header(req, "Authorization", auth, sizeof auth)) {
        auth[0] = '\0';
    }
    yh_http_query_param(req->query, "hostname", host, sizeof host);
    yh_http_query_param(req->query, "myip", myip, sizeof myip);
    pthread_mutex_lock(&f->srv.lock);
    s_answer(f, auth, host, myip, body, sizeof body);
    reply->hold = f->hold;
    pthread_mutex_unlock(&f->srv.lock);
    reply->status = 200;
    reply->body = body;
    reply->headers = "Content-Type: text/plain";
    return true;
}

yh_dyndns2_t *
yh_dyndns2_start(const char *user, const char *password)
{
    yh_dyndns2_t *f = yh_http_fake_xcalloc(sizeof *f);
    yh_http_basic_auth(user, password, f->auth, sizeof f->auth);
    yh_fake_srv_start(&f->srv, "", s_handle, f);
    return f;
}

void
yh_dyndns2_stop(yh_dyndns2_t **f_p)
{
    if (!f_p || !*f_p) {
        return;
    }
    yh_fake_srv_stop(&(*f_p)->srv);
    free(*f_p);
    *f_p = NULL;
}

void
yh_dyndns2_add_host(yh_dyndns2_t *f, const char *host)
{
    pthread_mutex_lock(&f->srv.lock);
    if (f->n_hosts < S_HOSTS) {
        snprintf(f->hosts[f->n_hosts++].name, sizeof f->hosts[0].name, "%s", host);
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
yh_dyndns2_script(yh_dyndns2_t *f, const char *const *codes, size_t n)
{
    pthread_mutex_lock(&f->srv.lock);
    for (size_t i = 0; i < n && f->n_script < S_SCRIPT; i++) {
        snprintf(f->script[f->n_script++], sizeof f->script[0], "%s", codes[i]);
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
yh_dyndns2_nochg_abuse_after(yh_dyndns2_t *f, unsigned n)
{
    pthread_mutex_lock(&f->srv.lock);
    f->abuse_after = n;
    pthread_mutex_unlock(&f->srv.lock);
}

void
yh_dyndns2_hold(yh_dyndns2_t *f, bool on)
{
    pthread_mutex_lock(&f->srv.lock);
    f->hold = on;
    pthread_mutex_unlock(&f->srv.lock);
}

void
yh_dyndns2_release(yh_dyndns2_t *f)
{
    yh_http_fake_release(f->srv.http);
}

size_t
yh_dyndns2_waiting(yh_dyndns2_t *f)
{
    return yh_http_fake_waiting(f->srv.http);
}

const char *
yh_dyndns2_url(yh_dyndns2_t *f)
{
    return f->srv.url;
}

size_t
yh_dyndns2_calls(yh_dyndns2_t *f)
{
    return yh_http_fake_count(f->srv.http, "/nic/update");
}

const char *
yh_dyndns2_addr(yh_dyndns2_t *f, const char *host, char *buf, size_t len)
{
    pthread_mutex_lock(&f->srv.lock);
    s_host_t *h = s_find(f, host);
    snprintf(buf, len, "%s", h ? h->addr : "");
    pthread_mutex_unlock(&f->srv.lock);
    return buf;
}

int
yh_dyndns2_request(yh_dyndns2_t *f, size_t i, char *host, char *myip, char *auth, size_t len)
{
    const yh_http_fake_req_t *req = yh_http_fake_request(f->srv.http, i);
    if (!req) {
        return -1;
    }
    if (host) {
        yh_http_query_param(req->query, "hostname", host, len);
    }
    if (myip) {
        yh_http_query_param(req->query, "myip", myip, len);
    }
    if (auth && !yh_http_fake_header(req, "Authorization", auth, len)) {
        auth[0] = '\0';
    }
    return 0;
}
