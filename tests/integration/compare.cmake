# `yard bench compare` run as a user runs it. With NATS (YARD_HAVE_NATS): Switchyard, NATS and
# a raw zmq_proxy on every row, as one JSON object; the measured run is skipped (a pass) where
# nats-server is not installed. Without NATS: the command says it was built without NATS.
# Either way one test covers the command, so it is never left untested.
if(YARD_HAVE_NATS)
    yard_add_test(NAME test_bench_compare SOURCES test_bench_compare.c
                  LABELS integration TIMEOUT 240)
    add_dependencies(test_bench_compare yard_cli) # the test runs yard
    yard_test_not_built(test_bench_compare_off.c "this build has NATS")
else()
    yard_test_not_built(test_bench_compare.c "yard bench compare needs libnats")
    yard_add_test(NAME test_bench_compare_off SOURCES test_bench_compare_off.c
                  LABELS integration TIMEOUT 30)
    add_dependencies(test_bench_compare_off yard_cli) # the test runs yard
endif()
