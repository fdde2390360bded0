/* A place in the device's peer list that survives peers coming and going
 * between the steps of a streamed walk (a get, a metrics scrape): it
 * remembers the last peer passed by key and creation serial, not by
 * pointer, so nothing has to tell it about changes. It is linked into
 * dev->dumps so that a device going away detaches it (dev becomes NULL and
 * the walk ends). Engine-internal; implemented in device_config.c. */
#ifndef WGD_PEER_CURSOR_H
#define WGD_PEER_CURSOR_H

#include <stdint.h>

#include "dev.h"

struct wg_device_dump {
	struct wg_device *dev;			      /* NULL once the device is gone */
	uint64_t last_serial;			      /* 0: none passed yet */
	uint8_t last_key[WG_KEY_LEN];		      /* public key of that peer */
	struct wg_device_dump *prev_dump, *next_dump; /* in dev->dumps */
};

/* Starts before the first peer and links c into dev->dumps. */
void wg_peer_cursor_open(struct wg_device_dump *c, struct wg_device *dev);
/* The next peer: the one after the last passed or, if that one is gone,
 * the first created after it. NULL at the end or once the device is gone. */
struct wg_peer *wg_peer_cursor_peek(const struct wg_device_dump *c);
/* p (as peek returned it) has been written. */
void wg_peer_cursor_pass(struct wg_device_dump *c, const struct wg_peer *p);
/* Back before the first peer (another pass over all of them). */
void wg_peer_cursor_rewind(struct wg_device_dump *c);
/* Unlinks c from its device (if any). */
void wg_peer_cursor_close(struct wg_device_dump *c);

#endif
