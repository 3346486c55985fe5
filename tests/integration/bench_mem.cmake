# `yard bench memory` run as a user runs it, with 20 peers and short settles (a few seconds):
# the broker and the raw proxy as processes, their RSS idle, with peers and after, as JSON.
yard_add_test(NAME test_bench_mem SOURCES test_bench_mem.c
              LABELS integration TIMEOUT 60)
# The test runs yard, which runs yard-broker and yard-bench-proxy: building the test builds them.
add_dependencies(test_bench_mem yard_cli yard-broker yard-bench-proxy)
