/* IP packets as the data path sees them: header validation, the Internet
 * checksum (RFC 1071) and the ICMP "unreachable" error for a packet no
 * peer takes. Pure: no I/O, no allocation. Part of the protocol core. */
#ifndef WGD_IP_H
#define WGD_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validates an IPv4/IPv6 header: sets *family (AF_INET, AF_INET6),
 * *ip_len (the length the header claims, <= len) and *src / *dst
 * (pointers into pkt). 0 or -EINVAL. */
int wg_ip_parse(const uint8_t *pkt, size_t len, int *family, size_t *ip_len, const uint8_t **src,
		const uint8_t **dst);

/* --- checksums (RFC 1071) ---
 * Partial sums are 64-bit and byte-order neutral: sum native-order words,
 * fold, and store the 16-bit result in native order. A partial sum over a
 * piece that starts at an odd offset of the checksummed range is wrong:
 * keep pieces even-aligned (headers always are). */
uint64_t wg_csum_add(uint64_t sum, const void *p, size_t len);
/* Copies len bytes and returns sum plus their checksum contribution. */
uint64_t wg_csum_copy(uint64_t sum, void *dst, const void *src, size_t len);
/* Folds to 16 bits (not complemented); 0 only for an all-zero sum. */
uint16_t wg_csum_fold(uint64_t sum);
/* Pseudo-header sum for an L4 length and protocol; addresses from an IPv4
 * (family 4) or IPv6 (6) header at ip. */
uint64_t wg_csum_pseudo(const uint8_t *ip, int family, uint8_t proto, uint32_t l4_len);
/* Stores the complemented folded sum into a checksum field; a UDP
 * checksum of 0 means "none", so udp turns a computed 0 into ~0. */
void wg_csum_store(uint8_t *field, uint16_t folded_sum, bool udp);
/* Recomputes the IPv4 header checksum over the IHL the header gives (the
 * caller has checked that many bytes are there). */
void wg_ip4_header_csum(uint8_t *ip);

/* --- ICMP "unreachable" --- */

/* The largest error wg_icmp_unreachable builds: IPv6's minimum MTU
 * (RFC 4443); IPv4 errors stay within 576 bytes (RFC 1812). */
#define WG_ICMP_MAX_LEN 1280

/* Whether a parsed packet of family may be answered with an error: not a
 * later fragment, not from an unspecified or multicast source or to a
 * multicast destination, not itself an ICMP error (RFC 1122 3.2.2,
 * RFC 4443 2.4). */
bool wg_icmp_may_answer(int family, const uint8_t *pkt, size_t len);
/* Builds into out (WG_ICMP_MAX_LEN bytes) the host (IPv4) or address
 * (IPv6) unreachable error for a parsed packet of family, as the kernel's
 * WireGuard sends it: from the packet's destination to its source,
 * quoting as much of it as fits. Returns the error's length. */
size_t wg_icmp_unreachable(uint8_t *out, int family, const uint8_t *pkt, size_t len);

/* Multicast or limited broadcast destination (addr: 4 or 16 bytes). */
bool wg_ip_is_multicast(int family, const uint8_t *addr);

#endif
