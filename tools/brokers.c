/* Asking every broker of a list (contract in brokers.h). */
#include "brokers.h"

#include "yard/client.h"
#include "yard/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
yard__brokers_split(const char *list, yard_broker_answers_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    const char *p = list;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        size_t n = strcspn(p, ",");
        size_t len = n;
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (len == 0) {
            snprintf(why, why_len, "broker list '%s' has an empty entry", list);
            return -1;
        }
        if (len >= sizeof out->a[0].endpoint) {
            snprintf(why, why_len, "broker endpoint '%.40s...' is over 255 bytes", p);
            return -1;
        }
        if (out->n == YARD_BROKERS_MAX) {
            snprintf(why, why_len, "broker list names more than %d brokers", YARD_BROKERS_MAX);
            return -1;
        }
        memcpy(out->a[out->n].endpoint, p, len);
        out->a[out->n++].endpoint[len] = '\0';
        if (p[n] == '\0') {
            return 0;
        }
        p += n + 1;
    }
}

typedef struct {
    yard_broker_answer_t *answer;
    const char *op;
    const void *body;
    size_t size;
    uint32_t timeout_ms;
    pthread_t thread;
} s_job_t;

static void *
s_ask(void *arg)
{
    s_job_t *j = arg;
    yard_client_opts_t copts = {.default_timeout_ms = j->timeout_ms};
    yard_client_t *client = NULL;
    j->answer->rc = yard_client_new(j->answer->endpoint, &copts, &client);
    if (j->answer->rc == 0) {
        yard_call_opts_t opts = {.op = j->op, .timeout_ms = j->timeout_ms};
        j->answer->rc =
            yard_client_call(client, "$sys", j->body, j->size, &opts, &j->answer->reply);
    }
    yard_client_destroy(&client);
    return NULL;
}

void
yard__brokers_call(yard_broker_answers_t *set, const char *op, const void *body, size_t size,
                   uint32_t timeout_ms)
{
    s_job_t jobs[YARD_BROKERS_MAX];
    for (int i = 0; i < set->n; i++) {
        jobs[i] = (s_job_t){&set->a[i], op, body, size, timeout_ms, 0};
        if (pthread_create(&jobs[i].thread, NULL, s_ask, &jobs[i])) {
            abort();
        }
    }
    for (int i = 0; i < set->n; i++) {
        pthread_join(jobs[i].thread, NULL);
    }
}

void
yard__brokers_free(yard_broker_answers_t *set)
{
    for (int i = 0; i < set->n; i++) {
        yard_msg_destroy(&set->a[i].reply);
    }
}
