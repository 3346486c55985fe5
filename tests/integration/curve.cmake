# CURVE and per-key permissions (issue 11) against real yard-broker, yard-actor and yard
# processes: refused handshakes, FORBIDDEN per permission, yard monitor, the safe-bind rule.
yard_add_test(NAME test_curve SOURCES test_curve.c LABELS integration TIMEOUT 180)
add_dependencies(test_curve yard_cli yard-broker yard-actor)

# The main scenarios again with CURVE on everywhere: one key pair (made by `yard keygen` in
# a setup test) is the broker's and every client's, and its public half is keys_dir's only
# certificate, so the environment alone turns CURVE on in every process the tests start.
# test_runtime: routing, pub/sub fan-out, a broker restart and client failover (in-process
# brokers); test_yard_tap: tap and monitor through yard-broker and yard-actor processes;
# test_guarantee: replicas SIGKILLed under load (processes); test_gateway: HTTP to the bus.
set(_curve_dir ${CMAKE_BINARY_DIR}/curve-test-keys)
add_test(NAME curve_keys_setup
         COMMAND sh -c "rm -rf '${_curve_dir}' && mkdir -p '${_curve_dir}/keys' && \
'${CMAKE_BINARY_DIR}/bin/yard' keygen '${_curve_dir}/shared' && \
cp '${_curve_dir}/shared' '${_curve_dir}/keys/'")
set_tests_properties(curve_keys_setup PROPERTIES FIXTURES_SETUP curve_keys LABELS integration)
foreach(_t test_runtime test_yard_tap test_guarantee test_gateway)
    add_test(NAME ${_t}_curve COMMAND ${_t})
    get_test_property(${_t} TIMEOUT _timeout)
    get_test_property(${_t} RUN_SERIAL _serial)
    if(NOT _serial)
        set(_serial FALSE)
    endif()
    set_tests_properties(${_t}_curve PROPERTIES TIMEOUT ${_timeout} LABELS integration
        RUN_SERIAL ${_serial}
        FIXTURES_REQUIRED curve_keys
        ENVIRONMENT "YARD_BIN_DIR=${CMAKE_BINARY_DIR}/bin;YARD_SOURCE_DIR=${CMAKE_SOURCE_DIR};\
YARD_CURVE_KEY=${_curve_dir}/shared_secret;YARD_CURVE_BROKER_KEY=${_curve_dir}/shared;\
YARD_CURVE_KEYS_DIR=${_curve_dir}/keys")
endforeach()
