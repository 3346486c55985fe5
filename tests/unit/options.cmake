# Options and config: YAML file, environment, flags, help.
yard_add_test(NAME test_options SOURCES test_options.c LABELS unit TIMEOUT 30)
