/* Gateway metrics: observe requests, set the broker's $sys stats, render, and parse the text
 * back as a Prometheus scraper would (every sample after its family's HELP and TYPE, label
 * values unescaped). Read as the usage example of gateway/metrics.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define MAX_SAMPLES 16384

typedef struct {
    char name[128];
    char labels[512]; /* unescaped, "k=v,k=v" in rendered order */
    double value;
} sample_t;

typedef struct {
    sample_t samples[MAX_SAMPLES];
    size_t n;
    char types[64][192]; /* "name type" */
    size_t ntypes;
} parsed_t;

/* The family a sample belongs to: histogram samples carry a suffix. */
static void
s_family_of(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s", name);
    static const char *const suffixes[] = {"_bucket", "_sum", "_count", NULL};
    for (size_t i = 0; suffixes[i] != NULL; i++) {
        size_t n = strlen(out), s = strlen(suffixes[i]);
        if (n > s && strcmp(out + n - s, suffixes[i]) == 0 &&
            strncmp(out, "http_request_duration_seconds", n - s) == 0) {
            out[n - s] = '\0';
        }
    }
}

/* Parses one sample line: name{k="v",...} value. */
static void
s_parse_sample(parsed_t *p, const char *line)
{
    assert_true(p->n < MAX_SAMPLES);
    sample_t *s = &p->samples[p->n++];
    const char *c = line;
    size_t i = 0;
    while (*c != '{' && *c != ' ') {
        s->name[i++] = *c++;
    }
    size_t l = 0;
    if (*c == '{') {
        c++;
        while (*c != '}') {
            while (*c != '=') {
                s->labels[l++] = *c++;
            }
            s->labels[l++] = *c++;
            assert_int_equal(*c++, '"');
            while (*c != '"') {
                if (*c == '\\') {
                    c++;
                    assert_true(*c == '\\' || *c == '"' || *c == 'n');
                    s->labels[l++] = *c == 'n' ? '\n' : *c;
                    c++;
                } else {
                    assert_true(*c != '\n');
                    s->labels[l++] = *c++;
                }
            }
            c++;
            if (*c == ',') {
                s->labels[l++] = *c++;
            }
        }
        c++;
    }
    assert_int_equal(*c, ' ');
    char *end;
    s->value = strtod(c + 1, &end);
    assert_true(end != c + 1 && *end == '\0');
    /* its family was declared before it */
    char family[128];
    s_family_of(s->name, family, sizeof family);
    bool declared = false;
    for (size_t t = 0; t < p->ntypes; t++) {
        declared = declared || (strncmp(p->types[t], family, strlen(family)) == 0 &&
                                p->types[t][strlen(family)] == ' ');
    }
    if (!declared) {
        fail_msg("sample %s before its # TYPE", s->name);
    }
}

static void
s_parse(parsed_t *p, char *text)
{
    memset(p, 0, sizeof *p);
    char *save = NULL;
    char last_help[128] = "";
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[128], type[32];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s", last_help), 1);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s %31s", name, type), 2);
            assert_string_equal(name, last_help); /* HELP then TYPE, same family */
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            for (size_t t = 0; t < p->ntypes; t++) {
                assert_true(strncmp(p->types[t], name, strlen(name)) != 0 ||
                            p->types[t][strlen(name)] != ' '); /* declared once */
            }
            snprintf(p->types[p->ntypes++], sizeof p->types[0], "%s %s", name, type);
        } else {
            assert_true(line[0] != '#');
            s_parse_sample(p, line);
        }
    }
}

/* The value of the sample name{labels}; fails when absent. */
static double
s_value(const parsed_t *p, const char *name, const char *labels)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->samples[i].name, name) == 0 && strcmp(p->samples[i].labels, labels) == 0) {
            return p->samples[i].value;
        }
    }
    fail_msg("no sample %s{%s}", name, labels);
    return -1;
}

static bool
s_has(const parsed_t *p, const char *name, const char *labels)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->samples[i].name, name) == 0 &&
            (labels == NULL || strcmp(p->samples[i].labels, labels) == 0)) {
            return true;
        }
    }
    return false;
}

static parsed_t *
s_render(yard_gw_metrics_t *m)
{
    size_t len = 0;
    char *text = yard_gw_metrics_render(m, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_int_equal(text[len - 1], '\n');
    parsed_t *p = malloc(sizeof *p);
    s_parse(p, text);
    free(text);
    return p;
}

static void
test_requests_and_histogram(void **state)
{
    (void)state;
    yard_gw_metrics_t *m = yard_gw_metrics_new();
    yard_gw_metrics_observe(m, "/v1/{service}", "GET", 200, 0.0005);
    yard_gw_metrics_observe(m, "/v1/{service}", "GET", 200, 0.003);
    yard_gw_metrics_observe(m, "/v1/{service}", "POST", 504, 30);
    yard_gw_metrics_observe(m, NULL, "BREW", 404, 0.01);
    yard_gw_metrics_observe(m, "/odd\"route\\\n", "GET", 999, -1);
    yard_gw_metrics_in_flight(m, 3);
    yard_gw_metrics_in_flight(m, -1);

    parsed_t *p = s_render(m);
    assert_int_equal(s_value(p, "http_requests_total", "route=/v1/{service},method=GET,code=200"),
                     2);
    assert_int_equal(s_value(p, "http_requests_total", "route=/v1/{service},method=POST,code=504"),
                     1);
    /* unknown methods and codes are folded, route NULL is "-" */
    assert_int_equal(s_value(p, "http_requests_total", "route=-,method=OTHER,code=404"), 1);
    /* escaping round-trips */
    assert_int_equal(s_value(p, "http_requests_total", "route=/odd\"route\\\n,method=GET,code=0"),
                     1);

    /* buckets are cumulative; +Inf equals the count */
    const char *b = "http_request_duration_seconds_bucket";
    assert_int_equal(s_value(p, b, "route=/v1/{service},le=0.001"), 1);
    assert_int_equal(s_value(p, b, "route=/v1/{service},le=0.0025"), 1);
    assert_int_equal(s_value(p, b, "route=/v1/{service},le=0.005"), 2);
    assert_int_equal(s_value(p, b, "route=/v1/{service},le=10"), 2);
    assert_int_equal(s_value(p, b, "route=/v1/{service},le=+Inf"), 3);
    assert_int_equal(s_value(p, "http_request_duration_seconds_count", "route=/v1/{service}"), 3);
    assert_float_equal(s_value(p, "http_request_duration_seconds_sum", "route=/v1/{service}"),
                       30.0035, 1e-9);
    assert_int_equal(s_value(p, b, "route=-,le=0.01"), 1); /* le is inclusive */
    assert_int_equal(s_value(p, b, "route=-,le=0.005"), 0);
    assert_int_equal(s_value(p, "http_requests_in_flight", ""), 2);
    /* no stats yet: the broker counts as down, no service series */
    assert_int_equal(s_value(p, "yard_broker_up", ""), 0);
    assert_false(s_has(p, "yard_service_replicas", NULL));
    free(p);
    yard_gw_metrics_destroy(&m);
    assert_null(m);
}

static void
test_label_cap(void **state)
{
    (void)state;
    yard_gw_metrics_t *m = yard_gw_metrics_new();
    char route[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(route, sizeof route, "/r/%d", i);
        yard_gw_metrics_observe(m, route, "GET", 200, 0.001);
    }
    parsed_t *p = s_render(m);
    size_t series = 0;
    double total = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->samples[i].name, "http_requests_total") == 0) {
            series++;
            total += p->samples[i].value;
        }
    }
    assert_true(series <= 1001);
    assert_int_equal(total, 5000); /* nothing lost: the overflow is counted as "other" */
    assert_int_equal(s_value(p, "http_requests_total", "route=other,method=GET,code=200"), 4000);
    assert_int_equal(s_value(p, "http_request_duration_seconds_count", "route=other"), 4800);
    free(p);
    yard_gw_metrics_destroy(&m);
}

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void
s_pack_service(msgpack_packer *pk, const char *name, uint64_t base)
{
    static const char *const keys[] = {"replicas", "credit",  "in_flight", "queued",
                                       "requests", "replies", "errors"};
    msgpack_pack_map(pk, 8);
    s_pack_str(pk, "name");
    s_pack_str(pk, name);
    for (size_t i = 0; i < 7; i++) {
        s_pack_str(pk, keys[i]);
        msgpack_pack_uint64(pk, base + i);
    }
}

static void
test_sys_stats(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4); /* as the broker's $sys stats (docs/protocol.md 6.6) */
    s_pack_str(&pk, "uptime_ms");
    msgpack_pack_uint64(&pk, 12500);
    s_pack_str(&pk, "services");
    msgpack_pack_array(&pk, 2);
    s_pack_service(&pk, "echo", 10);
    s_pack_service(&pk, "we\"ird", 100);
    s_pack_str(&pk, "counters");
    msgpack_pack_map(&pk, 0);
    s_pack_str(&pk, "peers");
    msgpack_pack_uint64(&pk, 3);

    yard_gw_metrics_t *m = yard_gw_metrics_new();
    yard_gw_metrics_set_sys(m, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb); /* copied */
    parsed_t *p = s_render(m);
    assert_int_equal(s_value(p, "yard_broker_up", ""), 1);
    assert_int_equal(s_value(p, "yard_service_replicas", "service=echo"), 10);
    assert_int_equal(s_value(p, "yard_service_credit", "service=echo"), 11);
    assert_int_equal(s_value(p, "yard_service_in_flight", "service=echo"), 12);
    assert_int_equal(s_value(p, "yard_service_queued", "service=echo"), 13);
    assert_int_equal(s_value(p, "yard_service_requests_total", "service=echo"), 14);
    assert_int_equal(s_value(p, "yard_service_replies_total", "service=echo"), 15);
    assert_int_equal(s_value(p, "yard_service_errors_total", "service=echo"), 16);
    assert_int_equal(s_value(p, "yard_service_queued", "service=we\"ird"), 103);
    assert_float_equal(s_value(p, "yard_broker_uptime_seconds", ""), 12.5, 1e-9);
    free(p);

    /* the broker went away */
    yard_gw_metrics_set_sys(m, NULL, 0);
    p = s_render(m);
    assert_int_equal(s_value(p, "yard_broker_up", ""), 0);
    assert_false(s_has(p, "yard_service_replicas", NULL));
    free(p);

    /* garbage is not trusted (and does not crash) */
    yard_gw_metrics_set_sys(m, "\xc1\xff\x00garbage", 10);
    p = s_render(m);
    assert_int_equal(s_value(p, "yard_broker_up", ""), 0);
    free(p);
    yard_gw_metrics_set_sys(m, "\x93\x01\x02\x03", 4); /* an array, not a map */
    p = s_render(m);
    assert_int_equal(s_value(p, "yard_broker_up", ""), 0);
    free(p);
    yard_gw_metrics_destroy(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_and_histogram),
        cmocka_unit_test(test_label_cap),
        cmocka_unit_test(test_sys_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
