# Options and config: YAML file, environment, flags, help.
yard_add_test(NAME test_options SOURCES test_options.c LABELS unit TIMEOUT 30)
# The program skeleton every main shares: --help, --config, flags, log_level, exit codes.
yard_add_test(NAME test_program SOURCES test_program.c LABELS unit TIMEOUT 30)
