# Client, message and request test API (no broker needed).
yard_add_test(NAME test_client SOURCES test_client.c LABELS unit TIMEOUT 30)
yard_add_test(NAME test_actor SOURCES test_actor.c LABELS unit TIMEOUT 30)
yard_add_test(NAME test_actor_harness SOURCES test_actor_harness.c LABELS unit TIMEOUT 30)
yard_add_test(NAME test_timer SOURCES test_timer.c LABELS unit TIMEOUT 30)
yard_add_test(NAME test_actor_config SOURCES test_actor_config.c LABELS unit TIMEOUT 30)
yard_add_test(NAME test_actor_credit SOURCES test_actor_credit.c LABELS unit TIMEOUT 60)
