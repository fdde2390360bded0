/* ChaCha20-Poly1305 of WireGuard data messages (nonce = 4 zero bytes ||
 * LE64 counter, no associated data), with the bytes and errors of
 * wg_aead_encrypt/wg_aead_decrypt and of wg_noise_seal/wg_noise_open, but
 * with an AVX2 ChaCha20 where the CPU has one (libsodium's otherwise). */
#ifndef WGD_AEAD_H
#define WGD_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgd/noise.h"
#include "wgd/wire.h"

/* dst receives len + 16 bytes (ciphertext, tag); dst may equal src. */
void wg_dp_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
			const uint8_t key[WG_KEY_LEN]);
/* src holds len bytes of ciphertext + tag; dst receives len - 16 bytes,
 * written only once the tag verified. 0 or -EBADMSG. */
int wg_dp_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
		       const uint8_t key[WG_KEY_LEN]);
/* wg_noise_seal and wg_noise_open with this AEAD. */
int wg_dp_seal(struct wg_keypair *kp, struct wg_msg_data *msg, const uint8_t *plain,
	       size_t plain_len);
int wg_dp_open(const struct wg_keypair *kp, struct wg_msg_data *msg, size_t msg_len,
	       uint64_t *counter_out);
/* The Poly1305 tag of a data message: over ct zero-padded to 16 bytes,
 * then le64(0) le64(len); key is the one-time key. simd allows AVX2. */
void wg_poly1305_data(uint8_t tag[16], const uint8_t *ct, size_t len, const uint8_t key[32],
		      bool simd);
/* Whether the SIMD ChaCha20 is in use; off forces libsodium (tests,
 * measurements). */
bool wg_dp_aead_simd(void);
void wg_dp_aead_set_simd(bool on);

#endif
