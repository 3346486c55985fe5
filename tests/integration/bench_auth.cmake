# `yard bench auth` run as a user runs it: verify through an in-process broker and auth actor
# on the memory store, the echo baseline and the local signature check, as one JSON object.
yard_add_test(NAME test_bench_auth SOURCES test_bench_auth.c
              LABELS integration TIMEOUT 120)
# The test runs yard: building the test builds it.
add_dependencies(test_bench_auth yard_cli)
