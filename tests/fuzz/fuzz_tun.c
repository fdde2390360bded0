/* The outbound path: IP packets read from the TUN. First the header parser
 * alone (wg_ip_parse) on the whole input as one packet, in an exact-size
 * buffer; then the input as operations on the world of session.h with
 * mostly TUN packets (to peers with and without sessions or endpoints, to
 * no peer so an ICMP error comes back, beyond the MTU) between handshakes,
 * timers and data. */
#include "session.h"

static const uint8_t ops[] = {OP_TUN,	    OP_TUN,    OP_TUN,	OP_TUN,	 OP_GSO,  OP_ESTABLISH,
			      OP_ESTABLISH, OP_DATA,   OP_TIME, OP_TIME, OP_RESP, OP_INIT,
			      OP_FLUSH,	    OP_COOKIE, OP_RAW,	OP_GSO};

static void check_ip_parse(const uint8_t *data, size_t size)
{
	uint8_t *pkt = malloc(size ? size : 1);
	const uint8_t *src = NULL, *dst = NULL;
	size_t ip_len = 0;
	int family = 0;

	if (!pkt)
		abort();
	memcpy(pkt, data, size);
	if (wg_ip_parse(pkt, size, &family, &ip_len, &src, &dst) == 0) {
		size_t alen = family == AF_INET ? 4 : 16;
		FUZZ_CHECK(family == AF_INET || family == AF_INET6);
		FUZZ_CHECK(ip_len <= size && ip_len >= (family == AF_INET ? 20u : 40u));
		FUZZ_CHECK(src >= pkt && src + alen <= pkt + ip_len);
		FUZZ_CHECK(dst >= pkt && dst + alen <= pkt + ip_len);
		FUZZ_CHECK((pkt[0] >> 4) == (family == AF_INET ? 4 : 6));
	}
	free(pkt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	world_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_ip_parse(data, size);
	return session_run(data, size, ops, sizeof(ops), WG_MSG_DATA);
}
