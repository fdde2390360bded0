/* Handshake responses as received from the network: the device initiates
 * (for a TUN packet or a timer) and the harness answers with genuine,
 * altered, MAC-valid fuzzer or raw responses, replays them, or lets them
 * time out.
 * Runs on the world of session.h (device with a fake clock, socketpair
 * TUN, loopback sockets for the harness's peers); see there for the input
 * format and the invariants checked. */
#include "session.h"

static const uint8_t ops[] = {OP_RESP,	 OP_RESP,      OP_RESP,	  OP_MACFIX, OP_MACFIX, OP_RAW,
			      OP_REPLAY, OP_TUN,       OP_TUN,	  OP_TIME,   OP_TIME,	OP_FLUSH,
			      OP_INIT,	 OP_ESTABLISH, OP_COOKIE, OP_DATA};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	world_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return session_run(data, size, ops, sizeof(ops), WG_MSG_RESPONSE);
}
