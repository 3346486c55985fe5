# The client and actor runtime against a real in-process broker (needs the broker library).
yard_add_test(NAME test_runtime SOURCES test_runtime.c LIBS yard_broker
              LABELS integration TIMEOUT 120)
