/* yard-broker: the broker daemon; everything lives in the yard_broker library. */
#include "yard/broker.h"

int
main(int argc, char **argv)
{
    return yard_broker_main(argc, argv);
}
