/* A control server on a temporary Unix socket, answered by the including
 * test's fake device: define struct fake_dev and fake_get, fake_get_next,
 * fake_get_end and fake_set before including this, and CONTROL_SERVER_TAG
 * (the temporary directory's name). Shared by test_uapi.c and
 * test_control.c. */
#ifndef WGD_TEST_CONTROL_SERVER_H
#define WGD_TEST_CONTROL_SERVER_H

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wgd/control.h"

struct server {
	struct event_base *base;
	struct wg_control *ctl;
	struct fake_dev dev;
	char dir[64], path[96];
	int lfd;
};

static int server_setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct wg_control_ops ops = {fake_get, fake_get_next, fake_get_end, fake_set, NULL};

	assert_non_null(s);
	strcpy(s->dir, "/tmp/" CONTROL_SERVER_TAG "-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/wg0.sock", s->dir);
	strcpy(sun.sun_path, s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	s->base = event_base_new();
	assert_non_null(s->base);
	ops.dev = (struct wg_device *)&s->dev;
	assert_int_equal(wg_control_start_ops(s->base, s->lfd, &ops, &s->ctl), 0);
	*state = s;
	return 0;
}

static int server_teardown(void **state)
{
	struct server *s = *state;

	wg_control_stop(s->ctl);
	event_base_free(s->base);
	close(s->lfd);
	unlink(s->path);
	rmdir(s->dir);
	free(s);
	return 0;
}

/* A client connected to s (not yet accepted: the server's loop must run). */
static int server_connect(const struct server *s)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, s->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

#endif
