/* Copies of the traffic through the broker for `yard tap`, rate-limited so that tapping never
 * slows the bus. Not written yet: the hooks are in place and do nothing. */
#include "broker_priv.h"

void
yard__tap_request(yard_broker_t *b, yard_str_t service, yard_cmd_t cmd, const zmq_msg_t *frames,
                  const yard_header_t *h)
{
    (void)b;
    (void)service;
    (void)cmd;
    (void)frames;
    (void)h;
}

void
yard__tap_answer(yard_broker_t *b, const yard__req_t *r, yard_cmd_t cmd, const zmq_msg_t *body,
                 const yard_header_t *h)
{
    (void)b;
    (void)r;
    (void)cmd;
    (void)body;
    (void)h;
}

void
yard__tap_publish(yard_broker_t *b, yard_str_t subject, const yard_header_t *h,
                  const zmq_msg_t *body)
{
    (void)b;
    (void)subject;
    (void)h;
    (void)body;
}
