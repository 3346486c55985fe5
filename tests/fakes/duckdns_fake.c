/* The DuckDNS fake (duckdns_fake.h). */
#include "duckdns_fake.h"

#include "http_fake.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DOMAINS 16

typedef struct {
    char sub[128], ip[64], ipv6[64];
} s_dom_t;

struct yh_duckdns {
    yh_fake_srv_t srv;
    char token[256];
    s_dom_t doms[S_DOMAINS];
    size_t n;
};

static s_dom_t *
s_find(yh_duckdns_t *f, const char *sub)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->doms[i].sub, sub) == 0) {
            return &f->doms[i];
        }
    }
    return NULL;
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    yh_duckdns_t *f = arg;
    static _Thread_local char body[256];
    if (strcmp(req->path, "/update") != 0) {
        return false;
    }
    char domains[512], token[256], ip[64], ipv6[64], verbose[16];
    yh_http_query_param(req->query, "domains", domains, sizeof domains);
    yh_http_query_param(req->query, "token", token, sizeof token);
    yh_http_query_param(req->query, "ip", ip, sizeof ip);
    yh_http_query_param(req->query, "ipv6", ipv6, sizeof ipv6);
    yh_http_query_param(req->query, "verbose", verbose, sizeof verbose);
    pthread_mutex_lock(&f->srv.lock);
    bool ok = domains[0] && strcmp(token, f->token) == 0;
    bool changed = false;
    /* Every domain of the comma-separated list must be the account's. */
    for (char *save = NULL, *d = strtok_r(domains, ",", &save); ok && d;
         d = strtok_r(NULL, ",", &save)) {
        s_dom_t *dom = s_find(f, d);
        if (!dom) {
            ok = false;
            break;
        }
        bool is6 = strchr(ip, ':') != NULL;
        if (ip[0]) {
            char *slot = is6 ? dom->ipv6 : dom->ip;
            changed |= strcmp(slot, ip) != 0;
            snprintf(slot, 64, "%s", ip);
        }
        if (ipv6[0]) {
            changed |= strcmp(dom->ipv6, ipv6) != 0;
            snprintf(dom->ipv6, sizeof dom->ipv6, "%s", ipv6);
        }
    }
    if (!ok) {
        snprintf(body, sizeof body, "KO");
    } else if (strcmp(verbose, "true") == 0) {
        snprintf(body, sizeof body, "OK\n%s\n%s\n%s", strchr(ip, ':') ? "" : ip,
                 ipv6[0] ? ipv6 : (strchr(ip, ':') ? ip : ""), changed ? "UPDATED" : "NOCHANGE");
    } else {
        snprintf(body, sizeof body, "OK");
    }
    pthread_mutex_unlock(&f->srv.lock);
    reply->status = 200;
    reply->body = body;
    reply->headers = "Content-Type: text/plain";
    return true;
}

yh_duckdns_t *
yh_duckdns_start(const char *token)
{
    yh_duckdns_t *f = yh_http_fake_xcalloc(sizeof *f);
    snprintf(f->token, sizeof f->token, "%s", token);
    yh_fake_srv_start(&f->srv, "", s_handle, f);
    return f;
}

void
yh_duckdns_stop(yh_duckdns_t **f_p)
{
    if (!f_p || !*f_p) {
        return;
    }
    yh_fake_srv_stop(&(*f_p)->srv);
    free(*f_p);
    *f_p = NULL;
}

void
yh_duckdns_add_domain(yh_duckdns_t *f, const char *sub)
{
    pthread_mutex_lock(&f->srv.lock);
    if (f->n < S_DOMAINS) {
        snprintf(f->doms[f->n++].sub, sizeof f->doms[0].sub, "%s", sub);
    }
    pthread_mutex_unlock(&f->srv.lock);
}

const char *
yh_duckdns_url(yh_duckdns_t *f)
{
    return f->srv.url;
}

size_t
yh_duckdns_calls(yh_duckdns_t *f)
{
    return yh_http_fake_count(f->srv.http, "/update");
}

const char *
yh_duckdns_addr(yh_duckdns_t *f, const char *sub, int v6, char *buf, size_t len)
{
    pthread_mutex_lock(&f->srv.lock);
    s_dom_t *d = s_find(f, sub);
    snprintf(buf, len, "%s", d ? (v6 ? d->ipv6 : d->ip) : "");
    pthread_mutex_unlock(&f->srv.lock);
    return buf;
}

int
yh_duckdns_query(yh_duckdns_t *f, size_t i, char *buf, size_t len)
{
    const yh_http_fake_req_t *r = yh_http_fake_request(f->srv.http, i);
    if (!r) {
        return -1;
    }
    snprintf(buf, len, "%s", r->query);
    return 0;
}
