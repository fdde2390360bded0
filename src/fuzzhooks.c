/* Test hooks (testhooks.h): the event callbacks of device.c without the
 * event loop, so fuzzers and tests can inject datagrams and TUN packets. */
#include "testhooks.h"

#include <string.h>

#include "datapath.h"
#include "dev.h"
#include "receive.h"
#include "send.h"

void wg_device_inject_udp(struct wg_device *dev, uint8_t *buf, size_t len,
			  const struct wg_endpoint *from)
{
	wg_dev_tick(dev);
	wg_receive_datagram(dev, buf, len, from);
	wg_dev_rearm_timer(dev);
}

size_t wg_device_run_handshakes(struct wg_device *dev)
{
	size_t batches = 0;

	wg_dev_tick(dev);
	while (dev->hsq_len) {
		wg_receive_handshake_batch(dev);
		batches++;
	}
	wg_dev_rearm_timer(dev);
	return batches;
}

void wg_device_inject_tun(struct wg_device *dev, const uint8_t *pkt, size_t len)
{
	struct wg_pkt p = {dev->dp->rd, len};

	wg_dev_tick(dev);
	if (len > WG_MAX_PACKET)
		p.len = len = WG_MAX_PACKET;
	/* Where the TUN event reads to: a batch of one. */
	memcpy(dev->dp->rd, pkt, len);
	dev->stats.tun_rx_packets++;
	dev->dp->in_batch++;
	wg_send_packets(dev, &p, 1);
	wg_send_flush(dev);
	dev->dp->in_batch--;
	wg_dev_rearm_timer(dev);
}

int wg_device_read_tun(struct wg_device *dev)
{
	int ret;

	wg_dev_tick(dev);
	ret = wg_send_read_tun(dev);
	wg_dp_busy(dev);
	wg_dev_rearm_timer(dev);
	return ret;
}
