/* platform/bsd's TUN framing (FreeBSD TUNSIFHEAD, macOS utun): the 4-byte
 * address family header is added on write and stripped on read, without
 * copying the packet. Built into this test on every OS (it is plain POSIX
 * readv/writev) so CI on Linux exercises it against a socketpair that
 * stands in for the TUN descriptor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The file under test, compiled here: on Linux it is not in wgengine. */
#include "../../platform/bsd/tun_afhdr.c"

struct pair {
	int dev; /* the descriptor wgd holds */
	int os;	 /* the kernel's side of the TUN */
};

static int setup(void **state)
{
	static struct pair p;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	p.dev = sv[0];
	p.os = sv[1];
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	close(p->dev);
	close(p->os);
	return 0;
}

static void test_write_adds_family(void **state)
{
	struct pair *p = *state;
	uint8_t v4[20] = {0x45}, v6[40] = {0x60}, got[64];
	uint32_t af;

	assert_int_equal(wg_bsd_tun_write(p->dev, v4, sizeof(v4)), sizeof(v4));
	assert_int_equal(read(p->os, got, sizeof(got)), 4 + sizeof(v4));
	memcpy(&af, got, 4);
	assert_int_equal(ntohl(af), AF_INET);
	assert_memory_equal(got + 4, v4, sizeof(v4));

	assert_int_equal(wg_bsd_tun_write(p->dev, v6, sizeof(v6)), sizeof(v6));
	assert_int_equal(read(p->os, got, sizeof(got)), 4 + sizeof(v6));
	memcpy(&af, got, 4);
	assert_int_equal(ntohl(af), AF_INET6);
	assert_memory_equal(got + 4, v6, sizeof(v6));
}

static void test_write_refuses_non_ip(void **state)
{
	struct pair *p = *state;
	uint8_t junk[20] = {0x50};

	assert_int_equal(wg_bsd_tun_write(p->dev, junk, sizeof(junk)), -EINVAL);
	assert_int_equal(wg_bsd_tun_write(p->dev, junk, 0), -EINVAL);
	assert_int_equal(recv(p->os, junk, sizeof(junk), MSG_DONTWAIT), -1); /* nothing sent */
}

static void test_read_strips_family(void **state)
{
	struct pair *p = *state;
	uint8_t frame[4 + 28] = {0, 0, 0, 2, 0x45, 1, 2, 3}, buf[64];

	assert_int_equal(write(p->os, frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(wg_bsd_tun_read(p->dev, buf, sizeof(buf)), 28);
	assert_memory_equal(buf, frame + 4, 28);
	/* shorter than the header: an error, not a negative length */
	assert_int_equal(write(p->os, frame, 3), 3);
	assert_int_equal(wg_bsd_tun_read(p->dev, buf, sizeof(buf)), -EIO);
	/* nothing queued: the errno comes through */
	assert_int_equal(fcntl(p->dev, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(wg_bsd_tun_read(p->dev, buf, sizeof(buf)), -EAGAIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_adds_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_refuses_non_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_strips_family, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
