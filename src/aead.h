/* ChaCha20-Poly1305 of WireGuard data messages (nonce = 4 zero bytes ||
 * LE64 counter, no associated data), with the bytes and errors of
 * wg_aead_encrypt/wg_aead_decrypt and of wg_noise_seal/wg_noise_open, by
 * libgcrypt (its assembly for the CPU at hand); thread-safe. */
#ifndef WGD_AEAD_H
#define WGD_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "wgd/noise.h"
#include "wgd/wire.h"

/* dst receives len + 16 bytes (ciphertext, tag); dst may equal src. */
void wg_dp_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
			const uint8_t key[WG_KEY_LEN]);
/* src holds len bytes of ciphertext + tag; dst receives len - 16 bytes and
 * dst may equal src. 0, or -EBADMSG with dst's len - 16 bytes zeroed: no
 * unauthenticated plaintext is left. */
int wg_dp_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
		       const uint8_t key[WG_KEY_LEN]);
/* "libgcrypt", or "libsodium" where this thread could get no libgcrypt
 * handle (then every message goes through libsodium). */
const char *wg_dp_aead_impl(void);
/* wg_noise_seal and wg_noise_open with this AEAD. */
int wg_dp_seal(struct wg_keypair *kp, struct wg_msg_data *msg, const uint8_t *plain,
	       size_t plain_len);
int wg_dp_open(const struct wg_keypair *kp, struct wg_msg_data *msg, size_t msg_len,
	       uint64_t *counter_out);

#endif
