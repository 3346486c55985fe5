# The broker's integration tests: an in-process broker on a free port, raw DEALER peers.
set(_tb ${CMAKE_CURRENT_SOURCE_DIR})
foreach(_t test_broker_route test_broker_pubsub test_broker_badinput test_broker_refuse
        test_broker_batch
        test_broker_tap_sensitive)
    yard_add_test(NAME ${_t} SOURCES ${_tb}/${_t}.c ${_tb}/test_broker_util.c
                  LIBS yard_broker LABELS integration TIMEOUT 30)
endforeach()
# The broker's RSS after floods of connections: a real yard-broker process, raw DEALERs.
yard_add_test(NAME test_broker_memory SOURCES ${_tb}/test_broker_memory.c
              ${_tb}/test_broker_util.c LIBS yard_broker LABELS integration TIMEOUT 120)
add_dependencies(test_broker_memory yard-broker)
# Errors that name what failed, as yard-broker, yard-actor and yard print them.
yard_add_test(NAME test_errors_named SOURCES ${_tb}/test_errors_named.c ${_tb}/test_broker_util.c
              LIBS yard_broker yard_actors LABELS integration TIMEOUT 120)
add_dependencies(test_errors_named yard-broker yard-actor yard_cli)
# The broker's Prometheus endpoint (--metrics) scraped with libcurl, its option refused when bad
# (runs bin/yard-broker), and the Grafana dashboard checked against a scrape.
yard_add_test(NAME test_broker_metrics SOURCES ${_tb}/test_broker_metrics.c
              ${_tb}/test_broker_util.c LIBS yard_broker PkgConfig::CURL PkgConfig::MSGPACK
              LABELS integration TIMEOUT 60)
add_dependencies(test_broker_metrics yard-broker)
# Several brokers: pub/sub across them, clients spread, a replica's credit shared, and
# publications kept while reconnecting.
yard_add_test(NAME test_brokers SOURCES ${_tb}/test_brokers.c ${_tb}/test_broker_util.c
              LIBS yard_broker LABELS integration TIMEOUT 120)
