/* Handshake initiations as received from the network: genuine ones from
 * known and unknown peers (timestamps, indices, cookies chosen by the
 * input, optionally altered), MAC-valid fuzzer bodies, raw bytes, replays
 * and floods that put the device under load.
 * Runs on the world of session.h (device with a fake clock, socketpair
 * TUN, loopback sockets for the harness's peers); see there for the input
 * format and the invariants checked. */
#include "session.h"

static const uint8_t ops[] = {OP_INIT,	 OP_INIT,   OP_INIT, OP_MACFIX, OP_MACFIX, OP_RAW,
			      OP_REPLAY, OP_FLOOD,  OP_TIME, OP_TIME,	OP_FLUSH,  OP_ESTABLISH,
			      OP_TUN,	 OP_COOKIE, OP_DATA, OP_BATCH};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	world_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return session_run(data, size, ops, sizeof(ops), WG_MSG_INITIATION);
}
