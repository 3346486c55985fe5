/* yard-gateway: HTTP/1.1 in front of the bus. Everything is in the yard_gateway library, so
 * that `yard up` and the tests start the very same gateway. */
#include "yard/gateway.h"

int
main(int argc, char **argv)
{
    return yard_gateway_main(argc, argv);
}
