/* ChaCha20-Poly1305 (IETF, WireGuard's nonce, no associated data) on one
 * core, CPU time of the calling thread, so other load on the machine does
 * not count.
 *
 *   bench_crypto [bytes]
 *     libsodium and wgd's data-path AEAD (aead.h) sealing and opening
 *     packets of one size (default 1420 B, the default MTU): medians of 5
 *     runs of >= 0.5 s, one key=value line for bench/run.sh. Every
 *     tunnelled bit is sealed once and opened once, so 1 / (1/seal +
 *     1/open) is the most Gbit a pair of daemons can carry per CPU-second.
 *
 *   bench_crypto --libs [-r RUNS] [-t MS] [bytes...]
 *     The candidate libraries side by side (default 64 512 1420 B, 7
 *     runs of 300 ms): every (library, size, direction) once per round,
 *     rounds repeated RUNS times so drift hits all alike; the median of
 *     each in Gbit/s of payload. Contexts are made once and reused; per
 *     call only key and nonce are set, as a data path keyed per packet
 *     would ("key+iv"), or only the nonce, as one context per keypair
 *     would ("iv"). Each library's output is first checked against
 *     libsodium's byte for byte. */
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aead.h"
#include "wgd/wire.h"

#ifdef BENCH_OPENSSL
#include <openssl/evp.h>
#endif
#ifdef BENCH_GCRYPT
#include <gcrypt.h>
#endif
/* Before nettle: both name POLY1305_BLOCK_SIZE, nettle as a macro. */
#ifdef BENCH_WOLFSSL
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#endif
#ifdef BENCH_NETTLE
#include <nettle/chacha-poly1305.h>
#include <nettle/memops.h>
#endif
#ifdef BENCH_MBEDTLS
#include <mbedtls/chachapoly.h>
#endif

#define MAX_LEN 65535
#define TAG	16

static uint8_t key[32];
static uint8_t plain[MAX_LEN], sealed[MAX_LEN + TAG], out[MAX_LEN + TAG];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void nonce_for(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	wg_le64_put(nonce + 4, counter);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_crypto: %s\n", what);
	exit(1);
}

/* One library: seal plain[0..len) into sealed with the counter; open
 * sealed (made with counter 0) into out, 0 when the tag verified. */
struct lib {
	const char *name;
	void (*seal)(size_t len, uint64_t counter);
	int (*open)(size_t len);
};

static void sodium_seal(size_t len, uint64_t counter)
{
	uint8_t nonce[12];

	nonce_for(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt(sealed, NULL, plain, len, NULL, 0, NULL, nonce,
						  key);
}

static int sodium_open(size_t len)
{
	uint8_t nonce[12];

	nonce_for(nonce, 0);
	return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, sealed, len + TAG, NULL,
							 0, nonce, key);
}

static void wgd_seal(size_t len, uint64_t counter)
{
	wg_dp_aead_encrypt(sealed, plain, len, counter, key);
}

static int wgd_open(size_t len)
{
	return wg_dp_aead_decrypt(out, sealed, len + TAG, 0, key);
}

#ifdef BENCH_OPENSSL
static EVP_CIPHER_CTX *ossl_ctx;

static void ossl_init(void)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);

	ossl_ctx = EVP_CIPHER_CTX_new();
	if (!c || !ossl_ctx || !EVP_CipherInit_ex2(ossl_ctx, c, key, NULL, 1, NULL))
		die("openssl init");
	EVP_CIPHER_free(c); /* the context keeps its reference */
}

static void ossl_seal_with(size_t len, uint64_t counter, const uint8_t *k)
{
	uint8_t nonce[12];
	int n;

	nonce_for(nonce, counter);
	if (!EVP_CipherInit_ex2(ossl_ctx, NULL, k, nonce, 1, NULL) ||
	    !EVP_CipherUpdate(ossl_ctx, sealed, &n, plain, (int)len) ||
	    !EVP_CipherFinal_ex(ossl_ctx, sealed + n, &n) ||
	    !EVP_CIPHER_CTX_ctrl(ossl_ctx, EVP_CTRL_AEAD_GET_TAG, TAG, sealed + len))
		die("openssl seal");
}

static int ossl_open_with(size_t len, const uint8_t *k)
{
	uint8_t nonce[12];
	int n;

	nonce_for(nonce, 0);
	if (!EVP_CipherInit_ex2(ossl_ctx, NULL, k, nonce, 0, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(ossl_ctx, EVP_CTRL_AEAD_SET_TAG, TAG, sealed + len) ||
	    !EVP_CipherUpdate(ossl_ctx, out, &n, sealed, (int)len))
		return -1;
	return EVP_CipherFinal_ex(ossl_ctx, out + n, &n) == 1 ? 0 : -1;
}

static void ossl_seal(size_t len, uint64_t counter)
{
	ossl_seal_with(len, counter, key);
}

static int ossl_open(size_t len)
{
	return ossl_open_with(len, key);
}

static void ossl_seal_iv(size_t len, uint64_t counter)
{
	ossl_seal_with(len, counter, NULL);
}

static int ossl_open_iv(size_t len)
{
	return ossl_open_with(len, NULL);
}

/* What the first measurement did: a new context per packet. */
static void ossl_seal_fresh(size_t len, uint64_t counter)
{
	EVP_CIPHER_CTX *keep = ossl_ctx;

	ossl_ctx = EVP_CIPHER_CTX_new();
	if (!ossl_ctx || !EVP_EncryptInit_ex(ossl_ctx, EVP_chacha20_poly1305(), NULL, key, NULL))
		die("openssl fresh");
	ossl_seal_with(len, counter, NULL);
	EVP_CIPHER_CTX_free(ossl_ctx);
	ossl_ctx = keep;
}
#endif

#ifdef BENCH_GCRYPT
static gcry_cipher_hd_t gc_hd;

static void gc_init(void)
{
	if (!gcry_check_version(GCRYPT_VERSION) ||
	    gcry_cipher_open(&gc_hd, GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_POLY1305, 0) ||
	    gcry_cipher_setkey(gc_hd, key, 32))
		die("gcrypt init");
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

static void gc_seal_with(size_t len, uint64_t counter, const uint8_t *k)
{
	uint8_t nonce[12];

	nonce_for(nonce, counter);
	if ((k && gcry_cipher_setkey(gc_hd, k, 32)) || gcry_cipher_setiv(gc_hd, nonce, 12) ||
	    gcry_cipher_final(gc_hd) || gcry_cipher_encrypt(gc_hd, sealed, len, plain, len) ||
	    gcry_cipher_gettag(gc_hd, sealed + len, TAG))
		die("gcrypt seal");
}

static int gc_open_with(size_t len, const uint8_t *k)
{
	uint8_t nonce[12];

	nonce_for(nonce, 0);
	if ((k && gcry_cipher_setkey(gc_hd, k, 32)) || gcry_cipher_setiv(gc_hd, nonce, 12) ||
	    gcry_cipher_final(gc_hd) || gcry_cipher_decrypt(gc_hd, out, len, sealed, len))
		return -1;
	return gcry_cipher_checktag(gc_hd, sealed + len, TAG) ? -1 : 0;
}

static void gc_seal(size_t len, uint64_t counter)
{
	gc_seal_with(len, counter, key);
}

static int gc_open(size_t len)
{
	return gc_open_with(len, key);
}

static void gc_seal_iv(size_t len, uint64_t counter)
{
	gc_seal_with(len, counter, NULL);
}

static int gc_open_iv(size_t len)
{
	return gc_open_with(len, NULL);
}
#endif

#ifdef BENCH_NETTLE
static struct chacha_poly1305_ctx nettle_ctx;

static void nettle_seal(size_t len, uint64_t counter)
{
	uint8_t nonce[12];

	nonce_for(nonce, counter);
	chacha_poly1305_set_key(&nettle_ctx, key);
	chacha_poly1305_set_nonce(&nettle_ctx, nonce);
	chacha_poly1305_encrypt(&nettle_ctx, len, sealed, plain);
	chacha_poly1305_digest(&nettle_ctx, TAG, sealed + len);
}

static int nettle_open(size_t len)
{
	uint8_t nonce[12], tag[TAG];

	nonce_for(nonce, 0);
	chacha_poly1305_set_key(&nettle_ctx, key);
	chacha_poly1305_set_nonce(&nettle_ctx, nonce);
	chacha_poly1305_decrypt(&nettle_ctx, len, out, sealed);
	chacha_poly1305_digest(&nettle_ctx, TAG, tag);
	return memeql_sec(tag, sealed + len, TAG) ? 0 : -1;
}
#endif

#ifdef BENCH_WOLFSSL
static void wolf_seal(size_t len, uint64_t counter)
{
	uint8_t nonce[12];

	nonce_for(nonce, counter);
	if (wc_ChaCha20Poly1305_Encrypt(key, nonce, NULL, 0, plain, (word32)len, sealed,
					sealed + len))
		die("wolfssl seal");
}

static int wolf_open(size_t len)
{
	uint8_t nonce[12];

	nonce_for(nonce, 0);
	return wc_ChaCha20Poly1305_Decrypt(key, nonce, NULL, 0, sealed, (word32)len, sealed + len,
					   out)
		       ? -1
		       : 0;
}
#endif

#ifdef BENCH_MBEDTLS
static mbedtls_chachapoly_context mbed_ctx;

static void mbed_seal(size_t len, uint64_t counter)
{
	uint8_t nonce[12];

	nonce_for(nonce, counter);
	if (mbedtls_chachapoly_setkey(&mbed_ctx, key) ||
	    mbedtls_chachapoly_encrypt_and_tag(&mbed_ctx, len, nonce, NULL, 0, plain, sealed,
					       sealed + len))
		die("mbedtls seal");
}

static int mbed_open(size_t len)
{
	uint8_t nonce[12];

	nonce_for(nonce, 0);
	if (mbedtls_chachapoly_setkey(&mbed_ctx, key))
		return -1;
	return mbedtls_chachapoly_auth_decrypt(&mbed_ctx, len, nonce, NULL, 0, sealed + len, sealed,
					       out)
		       ? -1
		       : 0;
}
#endif

static const struct lib libs[] = {
	{"libsodium", sodium_seal, sodium_open},    {"wgd data path", wgd_seal, wgd_open},
#ifdef BENCH_OPENSSL
	{"openssl key+iv", ossl_seal, ossl_open},   {"openssl iv", ossl_seal_iv, ossl_open_iv},
	{"openssl new-ctx", ossl_seal_fresh, NULL},
#endif
#ifdef BENCH_GCRYPT
	{"libgcrypt key+iv", gc_seal, gc_open},	    {"libgcrypt iv", gc_seal_iv, gc_open_iv},
#endif
#ifdef BENCH_NETTLE
	{"nettle", nettle_seal, nettle_open},
#endif
#ifdef BENCH_WOLFSSL
	{"wolfssl", wolf_seal, wolf_open},
#endif
#ifdef BENCH_MBEDTLS
	{"mbedtls", mbed_seal, mbed_open},
#endif
};
#define N_LIBS (sizeof(libs) / sizeof(libs[0]))

static void init_libs(void)
{
#ifdef BENCH_OPENSSL
	ossl_init();
#endif
#ifdef BENCH_GCRYPT
	gc_init();
#endif
#ifdef BENCH_MBEDTLS
	mbedtls_chachapoly_init(&mbed_ctx);
#endif
}

/* Gbit/s of payload for one run of seal (open when open_fn is set) of at
 * least min_ns of CPU time. sealed holds a counter-0 message for open. */
static double one_run(const struct lib *l, int open, size_t len, uint64_t min_ns)
{
	uint64_t t0 = now_ns(), t, n = 0;

	do {
		for (int i = 0; i < 64; i++, n++) {
			if (!open)
				l->seal(len, n);
			else if (l->open(len) != 0)
				die("open failed");
		}
		t = now_ns() - t0;
	} while (t < min_ns);
	return (double)n * (double)len * 8.0 / (double)t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *r, int n)
{
	qsort(r, (size_t)n, sizeof(r[0]), cmp_double);
	return n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
}

/* Every library's seal equals libsodium's; its open takes libsodium's
 * message back and refuses one with a flipped tag bit. */
static void check_libs(size_t len)
{
	static uint8_t want[MAX_LEN + TAG];

	sodium_seal(len, 0);
	memcpy(want, sealed, len + TAG);
	for (size_t i = 0; i < N_LIBS; i++) {
		libs[i].seal(len, 0);
		if (memcmp(want, sealed, len + TAG) != 0)
			die(libs[i].name);
		memcpy(sealed, want, len + TAG);
		if (!libs[i].open)
			continue;
		if (libs[i].open(len) != 0 || memcmp(out, plain, len) != 0)
			die(libs[i].name);
		sealed[len] ^= 1;
		if (libs[i].open(len) == 0)
			die(libs[i].name);
		sealed[len] ^= 1;
	}
}

#define MAX_RUNS  31
#define MAX_SIZES 8

/* r[size][lib][dir][run] */
static double r[MAX_SIZES][N_LIBS][2][MAX_RUNS];

static void compare(const size_t *sizes, int n_sizes, int runs, uint64_t min_ns)
{
	for (int s = 0; s < n_sizes; s++)
		check_libs(sizes[s]);
	for (int run = 0; run < runs; run++)
		for (int s = 0; s < n_sizes; s++)
			for (size_t l = 0; l < N_LIBS; l++)
				for (int d = 0; d < 2; d++) {
					if (d && !libs[l].open)
						continue;
					sodium_seal(sizes[s], 0);
					r[s][l][d][run] = one_run(&libs[l], d, sizes[s], min_ns);
				}
	printf("%-18s %6s %10s %10s   (Gbit/s of payload, median of %d runs of %llu ms)\n",
	       "library", "bytes", "seal", "open", runs, (unsigned long long)(min_ns / 1000000));
	for (int s = 0; s < n_sizes; s++)
		for (size_t l = 0; l < N_LIBS; l++) {
			printf("%-18s %6zu %10.2f", libs[l].name, sizes[s],
			       median(r[s][l][0], runs));
			if (libs[l].open)
				printf(" %10.2f\n", median(r[s][l][1], runs));
			else
				printf(" %10s\n", "-");
		}
}

static int libs_main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES] = {64, 512, 1420};
	int n_sizes = 0, runs = 7;
	uint64_t ms = 300;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-r") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			ms = strtoull(argv[++i], NULL, 10);
		else if (n_sizes < MAX_SIZES)
			sizes[n_sizes++] = strtoul(argv[i], NULL, 10);
	}
	if (runs < 1 || runs > MAX_RUNS)
		die("runs: 1..31");
	for (int s = 0; s < (n_sizes ? n_sizes : 3); s++)
		if (sizes[s] == 0 || sizes[s] > MAX_LEN)
			die("bytes: 1..65535");
	compare(sizes, n_sizes ? n_sizes : 3, runs, ms * 1000000);
	return 0;
}

/* The one-line form bench/run.sh reads. */
static double median_rate(const struct lib *l, int open, size_t len)
{
	double v[5];

	for (int i = 0; i < 5; i++)
		v[i] = one_run(l, open, len, 500000000ull);
	return median(v, 5);
}

int main(int argc, char **argv)
{
	size_t len;
	double enc, dec;

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(plain, sizeof(plain));
	init_libs();
	if (argc > 1 && !strcmp(argv[1], "--libs"))
		return libs_main(argc, argv);
	len = argc > 1 ? strtoul(argv[1], NULL, 10) : 1420;
	if (len == 0 || len > MAX_LEN)
		return 1;
	check_libs(len);
	sodium_seal(len, 0);
	dec = median_rate(&libs[0], 1, len);
	enc = median_rate(&libs[0], 0, len);
	printf("bytes=%zu seal_gbps=%.2f open_gbps=%.2f bound_gbit_per_cpu_s=%.2f", len, enc, dec,
	       1.0 / (1.0 / enc + 1.0 / dec));
	sodium_seal(len, 0);
	dec = median_rate(&libs[1], 1, len);
	enc = median_rate(&libs[1], 0, len);
	printf(" wgd_seal_gbps=%.2f wgd_open_gbps=%.2f wgd_bound_gbit_per_cpu_s=%.2f wgd_aead=%s\n",
	       enc, dec, 1.0 / (1.0 / enc + 1.0 / dec), wg_dp_aead_impl());
	return 0;
}
