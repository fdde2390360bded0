/* ChaCha20-Poly1305 (RFC 8439) of data messages with libgcrypt, whose
 * assembly stitches ChaCha20 and Poly1305 (AVX2 and SSSE3 on x86-64, NEON
 * on aarch64; docs/design.md, "Data-path AEAD", has the measurements).
 *
 * One libgcrypt handle per thread, made on the thread's first packet and
 * closed (libgcrypt wipes it) when the thread exits (the main thread's
 * lives until the process ends): handles carry state, so threads cannot
 * share one, and data-path keys change per packet. The key is set for each
 * message and overwritten with zeros after it, so no thread holds a key
 * once its keypair is gone. Without a handle (libgcrypt refused, no
 * memory) the thread's messages go through libsodium: same bytes. */
#include "aead.h"

#include <errno.h>
#include <gcrypt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"

#define NEED_GCRYPT "1.8.0"

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static pthread_key_t hd_key;
static bool lib_ok;
static _Thread_local gcry_cipher_hd_t thread_hd;
static _Thread_local bool thread_tried;

static void close_hd(void *hd)
{
	gcry_cipher_close(hd);
}

/* libgcrypt wants one initialisation before any other call. wgd never uses
 * its secure memory (the keys live in wgd's own memory). */
static void lib_init(void)
{
	if (!gcry_check_version(NEED_GCRYPT))
		return;
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	lib_ok = pthread_key_create(&hd_key, close_hd) == 0;
}

static gcry_cipher_hd_t thread_handle(void)
{
	gcry_cipher_hd_t hd;

	if (thread_hd || thread_tried)
		return thread_hd;
	thread_tried = true;
	pthread_once(&lib_once, lib_init);
	if (!lib_ok ||
	    gcry_cipher_open(&hd, GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_POLY1305, 0) != 0)
		return NULL;
	if (pthread_setspecific(hd_key, hd) != 0) {
		gcry_cipher_close(hd);
		return NULL;
	}
	thread_hd = hd;
	return hd;
}

static void nonce_of(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	wg_le64_put(nonce + 4, counter);
}

static int start(gcry_cipher_hd_t hd, uint64_t counter, const uint8_t key[WG_KEY_LEN])
{
	uint8_t nonce[12];

	nonce_of(nonce, counter);
	if (gcry_cipher_setkey(hd, key, WG_KEY_LEN) ||
	    gcry_cipher_setiv(hd, nonce, sizeof(nonce)) || gcry_cipher_final(hd))
		return -1;
	return 0;
}

/* The handle's copies of the key (the cipher state and libgcrypt's saved
 * copy of it for gcry_cipher_reset) become a zero key's. */
static void forget_key(gcry_cipher_hd_t hd)
{
	static const uint8_t zero[WG_KEY_LEN];

	gcry_cipher_setkey(hd, zero, sizeof(zero));
}

/* Past start(), libgcrypt fails only on arguments wgd never passes (a
 * wrong tag length, overlapping buffers): a bug, and then no packet goes
 * out half sealed. */
void wg_dp_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
			const uint8_t key[WG_KEY_LEN])
{
	gcry_cipher_hd_t hd = thread_handle();

	if (!hd || start(hd, counter, key) != 0)
		wg_aead_encrypt(dst, src, len, NULL, 0, counter, key);
	else if (gcry_cipher_encrypt(hd, dst, len, src, len) ||
		 gcry_cipher_gettag(hd, dst + len, WG_AEAD_TAG_LEN))
		abort();
	if (hd)
		forget_key(hd);
}

/* libgcrypt decrypts before it checks the tag: a forgery's plaintext is
 * wiped, never handed on. */
int wg_dp_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
		       const uint8_t key[WG_KEY_LEN])
{
	gcry_cipher_hd_t hd = thread_handle();
	size_t n = len - WG_AEAD_TAG_LEN;
	int ret = 0;

	if (len < WG_AEAD_TAG_LEN)
		return -EBADMSG;
	if (!hd || start(hd, counter, key) != 0)
		ret = wg_aead_decrypt(dst, src, len, NULL, 0, counter, key);
	else if (gcry_cipher_decrypt(hd, dst, n, src, n))
		abort();
	else if (gcry_cipher_checktag(hd, src + n, WG_AEAD_TAG_LEN))
		ret = -EBADMSG;
	if (hd)
		forget_key(hd);
	if (ret)
		sodium_memzero(dst, n);
	return ret;
}

const char *wg_dp_aead_impl(void)
{
	return thread_handle() ? "libgcrypt" : "libsodium";
}

/* wg_noise_seal / wg_noise_open with this AEAD. */
int wg_dp_seal(struct wg_keypair *kp, struct wg_msg_data *msg, const uint8_t *plain,
	       size_t plain_len)
{
	uint64_t counter;
	int ret = wg_noise_seal_header(kp, msg, &counter);

	if (ret == 0)
		wg_dp_aead_encrypt(msg->payload, plain, plain_len, counter, kp->sending_key);
	return ret;
}

int wg_dp_open(const struct wg_keypair *kp, struct wg_msg_data *msg, size_t msg_len,
	       uint64_t *counter_out)
{
	uint64_t counter;

	if (wg_noise_open_header(msg, msg_len, &counter) ||
	    wg_dp_aead_decrypt(msg->payload, msg->payload, msg_len - WG_MSG_DATA_HEADER_LEN,
			       counter, kp->receiving_key))
		return -EBADMSG;
	if (counter_out)
		*counter_out = counter;
	return 0;
}
