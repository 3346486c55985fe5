# `yard bench compare` run as a user runs it: Switchyard, NATS and a raw zmq_proxy on every
# row, as one JSON object; skipped (a pass) where nats-server is not installed.
yard_add_test(NAME test_bench_compare SOURCES test_bench_compare.c LIBS PkgConfig::JANSSON
              LABELS integration TIMEOUT 240)
# The test runs yard: building the test builds it.
add_dependencies(test_bench_compare yard_cli)
