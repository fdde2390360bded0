/* Data messages as received from the network: sealed by the harness's peers
 * under live sessions with chosen counters (in order, reordered, old,
 * at the limits) and chosen inner packets (own, foreign and outside
 * sources, bad headers, beyond the MTU), altered, replayed, or raw bytes
 * aimed at live receiver indices.
 * Runs on the world of session.h (device with a fake clock, socketpair
 * TUN, loopback sockets for the harness's peers); see there for the input
 * format and the invariants checked. */
#include "session.h"

static const uint8_t ops[] = {OP_DATA, OP_DATA,	  OP_DATA,	OP_DATA,      OP_BATCH, OP_RAW,
			      OP_RAW,  OP_REPLAY, OP_ESTABLISH, OP_ESTABLISH, OP_TUN,	OP_TIME,
			      OP_TIME, OP_INIT,	  OP_RESP,	OP_FLUSH};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	world_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return session_run(data, size, ops, sizeof(ops), WG_MSG_DATA);
}
