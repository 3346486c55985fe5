# `yard top` on a real terminal: yard-broker and yard-actor processes, `yard top` inside a
# private tmux server, read back with capture-pane. Serial: it stops and restarts a broker on
# a fixed port and drives a terminal, so it keeps out of the other tests' way and their load.
yard_add_test(NAME test_yard_top SOURCES test_yard_top.c LABELS integration TIMEOUT 300)
set_tests_properties(test_yard_top PROPERTIES RUN_SERIAL TRUE)
# The test runs these programs: building the test builds them.
add_dependencies(test_yard_top yard_cli yard-broker yard-actor)
