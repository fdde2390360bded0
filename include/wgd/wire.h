/* On-the-wire message layouts. Every field is a byte array, so the structs
 * have no padding on any ABI and can overlay a received buffer directly.
 * Multi-byte integers are little-endian; use the wg_le* helpers. */
#ifndef WGD_WIRE_H
#define WGD_WIRE_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* Two Linux errno values the core returns, mapped where the OS lacks them
 * (FreeBSD, macOS) onto codes no caller of those paths otherwise sees. */
#ifndef ENOKEY
#define ENOKEY ENOENT
#endif
#ifndef EKEYEXPIRED
#define EKEYEXPIRED EOVERFLOW
#endif

#define WG_KEY_LEN 32
#define WG_HASH_LEN 32
#define WG_AEAD_TAG_LEN 16
#define WG_MAC_LEN 16
#define WG_COOKIE_LEN 16
#define WG_TAI64N_LEN 12
#define WG_XNONCE_LEN 24

enum wg_message_type {
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE_REPLY = 3,
	WG_MSG_DATA = 4,
};

struct wg_msg_macs {
	uint8_t mac1[WG_MAC_LEN];
	uint8_t mac2[WG_MAC_LEN];
};

struct wg_msg_initiation {
	uint8_t header[4]; /* type, 3 zero bytes */
	uint8_t sender[4];
	uint8_t ephemeral[WG_KEY_LEN];
	uint8_t static_enc[WG_KEY_LEN + WG_AEAD_TAG_LEN];
	uint8_t timestamp_enc[WG_TAI64N_LEN + WG_AEAD_TAG_LEN];
	struct wg_msg_macs macs;
};

struct wg_msg_response {
	uint8_t header[4];
	uint8_t sender[4];
	uint8_t receiver[4];
	uint8_t ephemeral[WG_KEY_LEN];
	uint8_t empty_enc[WG_AEAD_TAG_LEN];
	struct wg_msg_macs macs;
};

struct wg_msg_cookie_reply {
	uint8_t header[4];
	uint8_t receiver[4];
	uint8_t nonce[WG_XNONCE_LEN];
	uint8_t cookie_enc[WG_COOKIE_LEN + WG_AEAD_TAG_LEN];
};

struct wg_msg_data {
	uint8_t header[4];
	uint8_t receiver[4];
	uint8_t counter[8];
	uint8_t payload[]; /* ciphertext + tag */
};

#define WG_MSG_INITIATION_LEN 148
#define WG_MSG_RESPONSE_LEN 92
#define WG_MSG_COOKIE_REPLY_LEN 64
#define WG_MSG_DATA_HEADER_LEN 16
#define WG_MSG_DATA_MIN_LEN (WG_MSG_DATA_HEADER_LEN + WG_AEAD_TAG_LEN) /* keepalive */

_Static_assert(sizeof(struct wg_msg_initiation) == WG_MSG_INITIATION_LEN, "initiation size");
_Static_assert(sizeof(struct wg_msg_response) == WG_MSG_RESPONSE_LEN, "response size");
_Static_assert(sizeof(struct wg_msg_cookie_reply) == WG_MSG_COOKIE_REPLY_LEN, "cookie size");
_Static_assert(sizeof(struct wg_msg_data) == WG_MSG_DATA_HEADER_LEN, "data header size");

static inline void wg_le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t wg_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void wg_le64_put(uint8_t *p, uint64_t v)
{
	wg_le32_put(p, (uint32_t)v);
	wg_le32_put(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t wg_le64_get(const uint8_t *p)
{
	return (uint64_t)wg_le32_get(p) | (uint64_t)wg_le32_get(p + 4) << 32;
}

/* Writes the 4-byte header: type then three zero bytes. */
static inline void wg_msg_header_put(uint8_t header[4], enum wg_message_type type)
{
	wg_le32_put(header, (uint32_t)type);
}

/* Returns the message type if the 4-byte header is well-formed, else 0. */
static inline uint32_t wg_msg_header_type(const uint8_t header[4])
{
	uint32_t v = wg_le32_get(header);
	return v >= WG_MSG_INITIATION && v <= WG_MSG_DATA ? v : 0;
}

#endif
