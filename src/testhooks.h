/* Test and fuzzing hooks: feed the device input as if it had come from its
 * sockets, without an event loop. Used with an injected clock (the device
 * then never arms libevent timers) so a harness drives everything. */
#ifndef WGD_TESTHOOKS_H
#define WGD_TESTHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "wgd/addr.h"
#include "wgd/device.h"

/* One datagram received from `from`. buf is processed in place (a data
 * message is decrypted into it) and must hold len bytes; handshake messages
 * only join the backlog (see wg_device_run_handshakes). */
void wg_device_inject_udp(struct wg_device *dev, uint8_t *buf, size_t len,
			  const struct wg_endpoint *from);
/* Judges the whole handshake backlog, one batch after another as the event
 * loop would. Returns the number of batches run. */
size_t wg_device_run_handshakes(struct wg_device *dev);
/* One IP packet read from the TUN (truncated to the largest packet). */
void wg_device_inject_tun(struct wg_device *dev, const uint8_t *pkt, size_t len);
/* The TUN is readable: the device's TUN event (reads until drained, seals,
 * sends). 0, or -ENODEV once the interface is gone. */
int wg_device_read_tun(struct wg_device *dev);

#endif
