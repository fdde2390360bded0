/* An independent RFC 1071 sum for tests and fuzzers to check wgd's
 * checksum code against: big-endian 16-bit words, end-around carry,
 * folded, not complemented. Deliberately the slow, obvious form. */
#ifndef WGD_TEST_REF_CSUM_H
#define WGD_TEST_REF_CSUM_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t ref_csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

#endif
