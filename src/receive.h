/* Inbound: datagrams from the UDP sockets, the handshake backlog, and
 * decrypted packets written to the TUN. Engine-internal. */
#ifndef WGD_RECEIVE_H
#define WGD_RECEIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgd/addr.h"

struct wg_device;

void wg_receive_datagram(struct wg_device *dev, uint8_t *buf, size_t len,
			 const struct wg_endpoint *from);
/* Fast path: reads batches from fd, processes every datagram, writes the
 * decrypted packets to the TUN coalesced (wg_receive_flush). 0, or -errno
 * of a failed read. */
int wg_receive_batch(struct wg_device *dev, int fd);
void wg_receive_flush(struct wg_device *dev);
/* Processes one batch of the handshake backlog; true if more remain. */
bool wg_receive_handshake_batch(struct wg_device *dev);

#endif
