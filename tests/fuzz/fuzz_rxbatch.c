/* The batched receive path: datagrams queue for D's sockets and are read
 * by wg_receive_batch through the platform's recvmmsg reader, alone or as
 * GRO trains (segments of the datagrams' own size, as the kernel
 * coalesces, or of any size, so segments cut across messages), then
 * opened inline or on the crypto worker threads, coalesced (GRO) and
 * written to a socketpair TUN (which refuses super-packets: they are cut
 * again) or an offloading TUN (virtio-net header).
 *
 * First input byte: the run's mode (MODE_* of session.h: offloading TUN,
 * its header size, worker threads); then operations on the world of
 * session.h. Besides its invariants: every packet a batch delivers whole is
 * the plaintext of an authentic message of that batch, each at most once,
 * from a source its peer owns; the TUN gets exactly one packet (coalesced
 * ones counted per segment) per data packet D counts as received. */
#include "session.h"

static const uint8_t ops[] = {OP_BATCH, OP_TRAIN, OP_TRAIN,	OP_DATA,      OP_DATA, OP_DATA,
			      OP_DATA,	OP_RAW,	  OP_ESTABLISH, OP_ESTABLISH, OP_TIME, OP_REPLAY,
			      OP_FAULT, OP_INIT,  OP_RESP,	OP_FLUSH};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	world_init();
	/* One worker besides the caller: the batch splits across both. Idle
	 * (blocked on its condition variable) between runs. */
	if (wg_workers_create(1, &W.pool) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	return session_run_mode(data + 1, size - 1, ops, sizeof(ops), WG_MSG_DATA, data[0]);
}
