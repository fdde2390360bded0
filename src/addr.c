/* Socket address helpers: numeric text form, comparison and the byte form
 * used to bind cookies to a source address. */
#include "wgd/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *format_v6(const struct sockaddr_in6 *in6, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
		ip[0] = '\0';
	if (in6->sin6_scope_id)
		snprintf(buf, len, "[%s%%%u]:%u", ip, (unsigned)in6->sin6_scope_id,
			 (unsigned)ntohs(in6->sin6_port));
	else
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
	return buf;
}

char *wg_sockaddr_format(const union wg_sockaddr *addr, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (!len)
		return buf;
	switch (addr->sa.sa_family) {
	case AF_INET:
		if (!inet_ntop(AF_INET, &addr->in4.sin_addr, ip, sizeof(ip)))
			ip[0] = '\0';
		snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(addr->in4.sin_port));
		return buf;
	case AF_INET6:
		return format_v6(&addr->in6, buf, len);
	default:
		snprintf(buf, len, "(none)");
		return buf;
	}
}

/* Decimal 0..max with no sign, no spaces, no leading '+'. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

static int parse_port(const char *s, in_port_t *port)
{
	unsigned long v;

	if (parse_uint(s, 65535, &v))
		return -EINVAL;
	*port = htons((uint16_t)v);
	return 0;
}

/* Zone after '%': a number or an interface name (what getnameinfo writes). */
static int parse_scope(const char *s, uint32_t *scope)
{
	unsigned long v;

	if (!*s)
		return -EINVAL;
	if (!parse_uint(s, UINT32_MAX, &v)) {
		*scope = (uint32_t)v;
		return 0;
	}
	*scope = if_nametoindex(s);
	return *scope ? 0 : -EINVAL;
}

static int parse_v6(union wg_sockaddr *out, const char *text)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *close = strchr(text, ']');
	char *pct;
	size_t n;

	if (!close || close[1] != ':')
		return -EINVAL;
	n = (size_t)(close - text - 1);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, text + 1, n);
	host[n] = '\0';
	out->in6.sin6_family = AF_INET6;
	pct = strchr(host, '%');
	if (pct) {
		*pct = '\0';
		if (parse_scope(pct + 1, &out->in6.sin6_scope_id))
			return -EINVAL;
	}
	if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) != 1)
		return -EINVAL;
	return parse_port(close + 2, &out->in6.sin6_port);
}

static int parse_v4(union wg_sockaddr *out, const char *text)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(text, ':');
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - text);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	out->in4.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &out->in4.sin_addr) != 1)
		return -EINVAL;
	return parse_port(colon + 1, &out->in4.sin_port);
}

int wg_sockaddr_parse(union wg_sockaddr *out, const char *text)
{
	union wg_sockaddr tmp;
	int ret;

	memset(&tmp, 0, sizeof(tmp));
	ret = text[0] == '[' ? parse_v6(&tmp, text) : parse_v4(&tmp, text);
	if (ret)
		return -EINVAL;
	*out = tmp;
	return 0;
}

bool wg_sockaddr_equal(const union wg_sockaddr *a, const union wg_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	switch (a->sa.sa_family) {
	case AF_INET:
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	case AF_INET6:
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(struct in6_addr));
	default:
		return true;
	}
}

size_t wg_sockaddr_len(const union wg_sockaddr *addr)
{
	switch (addr->sa.sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

size_t wg_sockaddr_bytes(const union wg_sockaddr *addr, unsigned char *out)
{
	switch (addr->sa.sa_family) {
	case AF_INET:
		memcpy(out, &addr->in4.sin_addr, 4);
		memcpy(out + 4, &addr->in4.sin_port, 2);
		return 6;
	case AF_INET6:
		memcpy(out, &addr->in6.sin6_addr, 16);
		memcpy(out + 16, &addr->in6.sin6_port, 2);
		return 18;
	default:
		return 0;
	}
}

/* One numeric address of either family into the pair; a second of the
 * same family is an error. */
static int pair_add(struct wg_addr_pair *p, const char *ip)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, ip, &a4) == 1) {
		if (p->has_v4)
			return -EINVAL;
		p->v4 = a4;
		p->has_v4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (p->has_v6)
			return -EINVAL;
		p->v6 = a6;
		p->has_v6 = true;
		return 0;
	}
	return -EINVAL;
}

int wg_addr_pair_parse(struct wg_addr_pair *out, const char *text)
{
	struct wg_addr_pair p;
	char buf[WG_ADDR_PAIR_STRLEN];
	char *comma;
	size_t n = strlen(text);

	memset(&p, 0, sizeof(p));
	if (!strcmp(text, "none")) {
		*out = p;
		return 0;
	}
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, n + 1);
	comma = strchr(buf, ',');
	if (comma)
		*comma++ = '\0';
	if (pair_add(&p, buf) || (comma && pair_add(&p, comma)))
		return -EINVAL;
	*out = p;
	return 0;
}

char *wg_addr_pair_format(const struct wg_addr_pair *p, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN] = "", b[INET6_ADDRSTRLEN] = "";

	if (!len)
		return buf;
	if (p->has_v4 && !inet_ntop(AF_INET, &p->v4, a, sizeof(a)))
		a[0] = '\0';
	if (p->has_v6 && !inet_ntop(AF_INET6, &p->v6, b, sizeof(b)))
		b[0] = '\0';
	if (!wg_addr_pair_set(p))
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%s%s%s", a, p->has_v4 && p->has_v6 ? "," : "", b);
	return buf;
}

bool wg_addr_pair_equal(const struct wg_addr_pair *a, const struct wg_addr_pair *b)
{
	return a->has_v4 == b->has_v4 && a->has_v6 == b->has_v6 &&
	       (!a->has_v4 || a->v4.s_addr == b->v4.s_addr) &&
	       (!a->has_v6 || !memcmp(&a->v6, &b->v6, sizeof(a->v6)));
}

bool wg_addr_pair_contradicts(const struct wg_addr_pair *src, const struct wg_addr_pair *bind)
{
	return (src->has_v4 && bind->has_v4 && src->v4.s_addr != bind->v4.s_addr) ||
	       (src->has_v6 && bind->has_v6 && memcmp(&src->v6, &bind->v6, sizeof(src->v6)));
}
