# `yard bench http` run as a user runs it: wrk through the in-process gateway and the bare
# libmicrohttpd server (skipped without wrk, or while the tree has no gateway library).
yard_add_test(NAME test_bench_http SOURCES test_bench_http.c
              LABELS integration TIMEOUT 180)
target_compile_definitions(test_bench_http PRIVATE YARD_HAVE_GATEWAY) # the tree has one
# The test runs yard: building the test builds it.
add_dependencies(test_bench_http yard_cli)
