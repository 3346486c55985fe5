/* The IP-echo fake (ipecho_fake.h): one handler answering every path with the current
 * status and body, which the test changes at any time. */
#include "ipecho_fake.h"

#include "http_fake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct yh_ipecho {
    yh_fake_srv_t srv;
    int status;
    char body[1024];
};

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    yh_ipecho_t *e = arg;
    static _Thread_local char body[1024]; /* the server copies the reply when we return */
    (void)req;
    pthread_mutex_lock(&e->srv.lock);
    memcpy(body, e->body, sizeof body);
    reply->status = e->status ? e->status : 200;
    pthread_mutex_unlock(&e->srv.lock);
    reply->body = body;
    reply->body_len = strlen(body);
    reply->headers = "Content-Type: text/plain";
    return true;
}

yh_ipecho_t *
yh_ipecho_start(void)
{
    yh_ipecho_t *e = yh_http_fake_xcalloc(sizeof *e);
    snprintf(e->body, sizeof e->body, "1.2.3.4\n");
    yh_fake_srv_start(&e->srv, "/", s_handle, e);
    return e;
}

void
yh_ipecho_stop(yh_ipecho_t **e_p)
{
    if (!e_p || !*e_p) {
        return;
    }
    yh_fake_srv_stop(&(*e_p)->srv);
    free(*e_p);
    *e_p = NULL;
}

void
yh_ipecho_set(yh_ipecho_t *e, int status, const char *body)
{
    pthread_mutex_lock(&e->srv.lock);
    e->status = status;
    snprintf(e->body, sizeof e->body, "%s", body ? body : "");
    pthread_mutex_unlock(&e->srv.lock);
}

const char *
yh_ipecho_url(yh_ipecho_t *e)
{
    return e->srv.url;
}

size_t
yh_ipecho_count(yh_ipecho_t *e)
{
    return yh_http_fake_count(e->srv.http, NULL);
}
