/* yard bench compare in a build without libnats (YARD_WITH_NATS=OFF, or AUTO with no libnats
 * found): the command stays in `yard --help` so that it is discoverable, and says plainly why
 * it cannot run and how to get a build that can, instead of "unknown command". */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int
yard__cmd_bench_compare(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: yard bench compare [--duration S] [--json]\n"
                   "This yard was built without NATS: install libnats-dev and rebuild\n"
                   "(cmake -DYARD_WITH_NATS=ON) to compare Switchyard with NATS.\n");
            return YARD_EXIT_OK;
        }
    }
    fprintf(stderr, "yard bench compare: this yard was built without NATS; install the Debian "
                    "package libnats-dev and rebuild (cmake -DYARD_WITH_NATS=ON)\n");
    return YARD_EXIT_ERROR;
}
