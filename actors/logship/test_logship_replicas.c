/* Two shippers on one Redis store tail the same folder (a shared volume): each file is read
 * under its lease by one of them only, so every line arrives once and nothing is sent twice;
 * when the holder stops, the other takes its files over from the offset and id in the store.
 * Skips without redis-server. */
#include "lst.h"

#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lst_env_t s_env;

static yard_actor_test_t *
s_shipper(int redis_port, const char *host)
{
    char files[1024], extra[512];
    snprintf(files, sizeof files, "    - {paths: [\"%s/logs/*.log\"]}\n", s_env.dir);
    snprintf(extra, sizeof extra, "  lease_ttl: 2s\n");
    char *section = lst_config(&s_env, files, extra, NULL, NULL);
    /* host_name decides the spool folder: one each, as two hosts would have */
    char *h = strstr(section, "host_name: testhost");
    assert_non_null(h);
    char cfg[8192];
    snprintf(cfg, sizeof cfg, "store: redis://127.0.0.1:%d/0\n%.*shost_name: %s%s", redis_port,
             (int)(h - section), section, host, h + strlen("host_name: testhost"));
    free(section);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship, cfg, &t), 0);
    return t;
}

static long long
s_held(yard_actor_test_t *t)
{
    char *st = lst_status(t);
    long long n = 0;
    for (const char *p = st; (p = strstr(p, "\"held\":true")) != NULL; p++) {
        n++;
    }
    free(st);
    return n;
}

static void
test_two_shippers_one_volume(void **state)
{
    (void)state;
    int port = 0;
    char *rdir = NULL;
    pid_t redis = yh_redis_start(&port, &rdir);
    if (redis < 0) {
        skip();
    }
    lst_setup(&s_env);
    const unsigned per = 2000;
    for (unsigned f = 0; f < 4; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/logs/f%u.log", s_env.dir, f);
        lst_write_lines(path, f * per, per, 100);
    }
    yard_actor_test_t *a = s_shipper(port, "host-a");
    yard_actor_test_t *b = s_shipper(port, "host-b");
    for (int i = 0; i < 1000 && es_fake_docs(s_env.es) < 4 * per; i++) {
        lst_run_for(a, 10);
        lst_run_for(b, 10);
    }
    long long ha = s_held(a), hb = s_held(b);
    print_message("files held: host-a %lld, host-b %lld\n", ha, hb);
    assert_int_equal(ha + hb, 4);
    size_t docs = 0;
    assert_int_equal(lst_found(s_env.es, 4 * per, &docs), 4 * per);
    assert_int_equal(docs, 4 * per);
    assert_int_equal(es_fake_conflicts(s_env.es), 0); /* nothing was sent twice */
    /* a stops (its leases are released); b takes its files over and ships what comes next */
    yard_actor_test_destroy(&a);
    for (unsigned f = 0; f < 4; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/logs/f%u.log", s_env.dir, f);
        lst_write_lines(path, 4 * per + f * 100, 100, 100);
    }
    for (int i = 0; i < 1000 && es_fake_docs(s_env.es) < 4 * per + 400; i++) {
        lst_run_for(b, 20);
    }
    assert_int_equal(s_held(b), 4);
    assert_int_equal(lst_found(s_env.es, 4 * per + 400, &docs), 4 * per + 400);
    assert_int_equal(docs, 4 * per + 400);
    print_message("sent again after the takeover: %zu\n", es_fake_conflicts(s_env.es));
    assert_int_equal(es_fake_conflicts(s_env.es), 0);
    yard_actor_test_destroy(&b);
    lst_teardown(&s_env);
    yh_redis_stop(redis, rdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_shippers_one_volume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
