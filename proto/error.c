/* The error table's lookups. The table itself lives in yard/error.h so that the enum, the
 * names and the wire codes can never drift apart. */
#include "yard/error.h"

#include <string.h>

const char *
yard_strerror(int err)
{
    switch (err) {
    case YARD_OK:
        return "ok";
#define YARD_X_MSG(name, code, msg)                                                                \
    case YARD_E_##name:                                                                            \
        return msg;
        YARD_ERRORS(YARD_X_MSG)
#undef YARD_X_MSG
    default:
        return "unknown error";
    }
}

const char *
yard_err_name(int err)
{
    switch (err) {
    case YARD_OK:
        return "OK";
#define YARD_X_NAME(name, code, msg)                                                               \
    case YARD_E_##name:                                                                            \
        return #name;
        YARD_ERRORS(YARD_X_NAME)
#undef YARD_X_NAME
    default:
        return "UNKNOWN";
    }
}

int
yard_err_from_name(const char *name)
{
    if (!name) {
        return 0;
    }
#define YARD_X_LOOKUP(ename, code, msg)                                                            \
    if (strcmp(name, #ename) == 0) {                                                               \
        return YARD_E_##ename;                                                                     \
    }
    YARD_ERRORS(YARD_X_LOOKUP)
#undef YARD_X_LOOKUP
    return 0;
}

uint32_t
yard_err_to_wire(int err)
{
    return err < 0 ? (uint32_t)(-err) : 0;
}

int
yard_err_from_wire(uint32_t code)
{
    switch (code) {
    case 0:
        return YARD_OK;
#define YARD_X_WIRE(name, c, msg)                                                                  \
    case c:                                                                                        \
        return YARD_E_##name;
        YARD_ERRORS(YARD_X_WIRE)
#undef YARD_X_WIRE
    default:
        return YARD_E_INTERNAL;
    }
}
