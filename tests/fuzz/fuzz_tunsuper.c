/* The TUN super-packet path: reads of an offloading TUN carrying a
 * virtio-net header with any flags, gso_type (ECN bit too), gso_size,
 * hdr_len, csum_start and csum_offset the kernel could hand over, decoded
 * and cut by the platform (wg_tun_read_batch), routed and sealed into trains
 * (inline or on the crypto worker threads) and sent with UDP GSO through
 * the platform's sendmmsg writer.
 *
 * First input byte: the run's mode (MODE_VNET12: 12-byte header;
 * MODE_THREADS: worker threads); then operations on the world of
 * session.h, mostly OP_SUPER. Besides its invariants: every datagram D
 * sends an actor under a shared session opens there (authentic, never
 * replayed) and carries a packet for an address the actor's peer owns;
 * when every segment of an operation's packets left at once, the actors
 * open exactly those segments, in order (segments add up). */
#include "session.h"

static const uint8_t ops[] = {
	OP_SUPER, OP_SUPER, OP_SUPER, OP_SUPER, OP_SUPER, OP_ESTABLISH, OP_ESTABLISH, OP_ESTABLISH,
	OP_TIME,  OP_TIME,  OP_DATA,  OP_FAULT, OP_INIT,  OP_RESP,	OP_FLUSH,     OP_TUN};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	world_init();
	if (wg_workers_create(1, &W.pool) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	return session_run_mode(data + 1, size - 1, ops, sizeof(ops), WG_MSG_DATA,
				(uint8_t)(data[0] | MODE_VNET));
}
