/* Cookie replies as received from the network: genuine ones for the
 * device's last initiation (bound to the right or a wrong address),
 * altered ones, and fuzzer bytes aimed at live receiver indices; then
 * retransmissions carry mac2.
 * Runs on the world of session.h (device with a fake clock, socketpair
 * TUN, loopback sockets for the harness's peers); see there for the input
 * format and the invariants checked. */
#include "session.h"

static const uint8_t ops[] = {OP_COOKIE,    OP_COOKIE, OP_COOKIE, OP_COOKIE, OP_RAW,  OP_REPLAY,
			      OP_TUN,	    OP_TIME,   OP_TIME,	  OP_FLOOD,  OP_INIT, OP_FLUSH,
			      OP_ESTABLISH, OP_RESP,   OP_DATA,	  OP_MACFIX};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	world_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return session_run(data, size, ops, sizeof(ops), WG_MSG_COOKIE_REPLY);
}
