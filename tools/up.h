/* yard up as a function of the actors it may run (private to tools/ and its tests): the
 * command passes the registry; a test passes the registry's actors plus one that needs a
 * setting, to see it skipped. */
#ifndef YARD_TOOLS_UP_H
#define YARD_TOOLS_UP_H

#include "yard/actor.h"

/* Runs `yard up` (argv[0] is the command's name) choosing among all (NULL ended; borrowed).
 * Returns the exit code: 0 after a signal or --help, 1 when something could not start, 2 for
 * a bad flag or config file. */
int yard__up_main(int argc, char **argv, const yard_actor_def_t *const *all);

#endif
