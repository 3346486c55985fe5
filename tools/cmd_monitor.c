/* yard monitor: not written yet (issue 6). */
#include "cli.h"

#include <stdio.h>

int
yard__cmd_monitor(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "yard: this command is not available yet\n");
    return YARD_EXIT_USAGE;
}
