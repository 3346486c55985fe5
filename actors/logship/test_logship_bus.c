/* Bus lines: with log_publish: true (read by the program skeleton), a program's log lines are
 * published on log.<component> (yard/log_publish.h) and logship, subscribed to log.>, ships them
 * with log.subject and the decoded fields; a flood the bus cannot take is dropped and counted,
 * never waited for. */
#include "lst.h"

#include "fixture.h"
#include "yard/log.h"
#include "yard/log_publish.h"
#include "yard/program.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    yard_actor_test_t *t;
    es_fake_t *es;
    const char *needle;
    size_t n;
} s_wait_t;

static void
test_bus_lines(void **state)
{
    (void)state;
    int port = 0;
    yard_broker_t *broker = yh_broker_start(&port);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    /* the program skeleton reads log_publish from the top of the file and starts publishing,
     * as in yard-broker, yard-gateway and yard-actor */
    char progcfg[512];
    snprintf(progcfg, sizeof progcfg, "%s/program.yaml", lst_env.dir);
    char text[256];
    snprintf(text, sizeof text, "broker: %s\nlog_publish: true\n", endpoint);
    lst_append(progcfg, text);
    static const yard_program_def_t def = {.name = "test-program", .component = "main"};
    char *argv[] = {"test-program", "--config", progcfg, NULL};
    yard_program_t *prog = yard_program_new(&def, 3, argv);
    assert_int_equal(yard_program_configure(prog), 0);
    char *section = lst_config(&lst_env, NULL, "  bus: {subjects: [\"log.>\"]}\n", NULL, NULL);
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "broker: %s\n%s", endpoint, section);
    free(section);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_logship, cfg, &t), 0);
    /* the subscription is made on the replica's first turns: log until a line arrives */
    char buf[8192];
    for (int i = 0; i < 100 && lst_docs_with(lst_env.es, "bus warm-up", buf, sizeof buf) == 0;
         i++) {
        yard_log_record(YARD_LOG_INFO, "bus warm-up");
        lst_run_for(t, 50);
    }
    assert_true(lst_docs_with(lst_env.es, "bus warm-up", buf, sizeof buf) > 0);
    yard_log_set_context("billing", 2);
    for (int i = 0; i < 50; i++) {
        yard_log_record(YARD_LOG_WARN, "card declined", YF_INT("bus_seq", i));
    }
    yard_log_set_context(NULL, -1);
    size_t n = 0;
    for (int i = 0; i < 200 && (n = lst_docs_with(lst_env.es, "card declined", buf, 0)) < 50; i++) {
        lst_run_for(t, 20);
    }
    assert_int_equal(n, 50);
    assert_int_equal(lst_docs_with(lst_env.es, "\"bus_seq\":7,", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "\"log\":{\"subject\":\"log.billing\""));
    assert_non_null(strstr(buf, "\"message\":\"card declined\""));
    assert_non_null(strstr(buf, "\"service\":{\"name\":\"billing\"}"));
    assert_non_null(strstr(buf, "\"level\":\"warn\""));
    char *st = lst_status(t);
    assert_true(lst_json_num(st, "bus_lines") >= 51);
    free(st);
    yard_actor_test_destroy(&t);
    assert_int_equal(yard_program_end(&prog), 0); /* stops publishing */
    yard_broker_destroy(&broker);
}

static int64_t
s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 20,000 lines of 3 KB at once, 60 MB against a queue of 1 MiB: the logger never waits for
 * the bus, what did not fit is counted, and every line is either published or counted.
 * Whether the queue fills is a race between this thread and the publisher's, so the lines
 * are large: the publisher parses each one's JSON into msgpack and copies it twice, while
 * this thread only formats it and writes it to /dev/null (20,000 short lines once went
 * through with no drop). */
static void
test_flood_drops_counted(void **state)
{
    (void)state;
    yard_log_publish_t *pub = NULL;
    assert_int_equal(yard_log_publish_start("tcp://127.0.0.1:1", NULL, &pub), 0);
    static char big[3001];
    memset(big, 'x', sizeof big - 1);
    int saved = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO); /* 20,000 lines of noise */
    int64_t t0 = s_now_us();
    for (int i = 0; i < 20000; i++) {
        yard_log_record(YARD_LOG_INFO, "flood", YF_INT("i", i), YF_STR("pad", big));
    }
    int64_t took = s_now_us() - t0;
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(null);
    uint64_t dropped = yard_log_publish_dropped(pub);
    print_message("20000 lines logged in %lld us; dropped %llu\n", (long long)took,
                  (unsigned long long)dropped);
    assert_true(dropped > 0);
    assert_true(took < 5000000); /* nothing waited on the (absent) broker */
    /* What was queued leaves: each line ends published or counted (the client's own lines, if
     * it logs any meanwhile, pass through the queue too, hence at least). */
    int64_t until = s_now_us() + 10000000;
    while (yard_log_publish_sent(pub) + yard_log_publish_dropped(pub) < 20000 &&
           s_now_us() < until) {
        usleep(1000); /* polls a counter with a deadline */
    }
    assert_true(yard_log_publish_sent(pub) + yard_log_publish_dropped(pub) >= 20000);
    assert_true(yard_log_publish_sent(pub) > 0);
    yard_log_publish_stop(&pub);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bus_lines, lst_test_setup, lst_test_teardown),
        cmocka_unit_test(test_flood_drops_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
