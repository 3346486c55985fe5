# `yard ping` (exit codes, per-broker lines, replica name prefixes) and `yard services` over
# several brokers (a line per broker, client counts) against real yard-broker / yard-actor
# processes.
yard_add_test(NAME test_yard_ping SOURCES test_yard_ping.c LABELS integration TIMEOUT 120)
add_dependencies(test_yard_ping yard_cli yard-broker yard-actor) # the test runs these
# `yard bench`: failed calls' latency, --replicas lists, the spread over replicas (in-process
# bus; the NATS side where nats-server is installed).
yard_add_test(NAME test_yard_bench_scale SOURCES test_yard_bench_scale.c
              LABELS integration TIMEOUT 180)
add_dependencies(test_yard_bench_scale yard_cli) # the test runs yard
# `yard bench --sizes`: bad lists, a row per body size, the broker's body counters (inline
# 64-byte bodies copied, 1 MiB frames moved and never copied), the window cap for large bodies.
yard_add_test(NAME test_yard_bench_sizes SOURCES test_yard_bench_sizes.c
              LABELS integration TIMEOUT 180)
add_dependencies(test_yard_bench_sizes yard_cli) # the test runs yard
