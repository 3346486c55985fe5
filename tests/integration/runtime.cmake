# The client and actor runtime against a real in-process broker (needs the broker library).
yard_add_test(NAME test_runtime SOURCES test_runtime.c LIBS yard_broker
              LABELS integration TIMEOUT 120)
# A replica against a fake broker (a raw ROUTER): bad input from the broker.
yard_add_test(NAME test_runtime_badinput SOURCES test_runtime_badinput.c LIBS yard_broker
              LABELS integration TIMEOUT 60)
# The replica context (timers, events, loop sources, drain) against a real in-process broker.
yard_add_test(NAME test_runtime_ctx SOURCES test_runtime_ctx.c LIBS yard_broker
              LABELS integration TIMEOUT 60)
# yard/bus.h: calls and subscriptions from inside a replica, and under the actor harness.
yard_add_test(NAME test_bus_ctx SOURCES test_bus_ctx.c LIBS yard_broker
              LABELS integration TIMEOUT 60)
