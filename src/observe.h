/* What the engine records for metrics and `wgd diagnose` beyond a plain
 * device counter: per-peer counts and times that go with a device
 * counter, the ring of refused handshakes by source address, and ICMP
 * errors attributed to the peer whose endpoint drew them. All in the
 * event loop thread; times are dev->now_ns. Engine-internal. */
#ifndef WGD_OBSERVE_H
#define WGD_OBSERVE_H

#include <stddef.h>

#include "dev.h"
#include "peer.h"

void wg_obs_initiation_sent(struct wg_peer *peer);
void wg_obs_initiation_received(struct wg_peer *peer);
void wg_obs_response_sent(struct wg_peer *peer);
void wg_obs_response_received(struct wg_peer *peer);
void wg_obs_cookie_reply_received(struct wg_peer *peer);
/* A keypair was derived; a completed handshake ends the unanswered time. */
void wg_obs_session(struct wg_peer *peer);
void wg_obs_handshake_complete(struct wg_peer *peer);
/* An authenticated message from the peer; data says it carried a packet. */
void wg_obs_rx(struct wg_peer *peer, bool data);
void wg_obs_endpoint_changed(struct wg_peer *peer);
/* The host refused a send to the peer (err: -errno): nothing left. */
void wg_obs_send_failed(struct wg_peer *peer, int err);
/* A handshake message from `from` refused for reason (enum
 * wg_reject_reason): kept by (address, reason) in the device's ring. */
void wg_obs_reject(struct wg_device *dev, const union wg_sockaddr *from, int reason);
/* An ICMP error (kind WG_UDP_ICMP_*, wgd/platform/udp.h) about a datagram we sent to dest: counted
 * for the device, and for the peer whose endpoint that is. */
void wg_obs_icmp(struct wg_device *dev, const union wg_sockaddr *dest, int kind);
/* Takes the ICMP errors the UDP sockets collected (after receiving and
 * sending, which both empty the kernel's error queue) into wg_obs_icmp. */
void wg_obs_take_icmp(struct wg_device *dev);

#endif
