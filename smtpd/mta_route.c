/*
 * The route to a domain's mail servers, apart from the DNS lookups that
 * feed it: MX records read and put in order (RFC 5321 5.1), the null MX
 * of RFC 7505, the implicit MX, address literals, and the bounds on how
 * many hosts and addresses one domain may make mta try.  DNS answers are
 * network input: names are checked octet by octet before they are kept.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX  253 /* as text, without the trailing dot */

/* the octets a host name may hold, so that it is safe in logs and DSNs */
static int
hostname_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
mta_dname_text(const uint8_t *wire, size_t len, char *out, size_t outsize)
{
	size_t i = 0, o = 0, l, k;

	for (;;) {
		if (i >= len)
			return -1;
		l = wire[i++];
		if (l == 0)
			break;
		/* compression pointers and extended labels: never in rdata */
		if (l > DNS_LABEL_MAX || l > len - i)
			return -1;
		/* the label, the dot before it, and room for the NUL */
		if (o + (o > 0) + l > DNS_NAME_MAX ||
		    o + (o > 0) + l + 1 > outsize)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (k = 0; k < l; k++) {
			if (!hostname_char(wire[i + k]))
				return -1;
			out[o++] = (char)lower(wire[i + k]);
		}
		i += l;
	}
	if (o == 0) {
		if (outsize < 2)
			return -1;
		out[o++] = '.';
	}
	out[o] = '\0';
	return (int)i;
}

int
mta_hostname_valid(const char *name)
{
	size_t label = 0, total = 0;
	const char *s;

	if (*name == '\0')
		return 0;
	for (s = name; *s != '\0'; s++, total++) {
		if (total == DNS_NAME_MAX)
			return 0;
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!hostname_char((unsigned char)*s) ||
		    ++label > DNS_LABEL_MAX)
			return 0;
	}
	return label > 0;
}

int
mta_mx_parse(const uint8_t *rdata, size_t len, struct mta_mx *mx)
{
	int n;

	memset(mx, 0, sizeof(*mx));
	if (len < 3)
		return -1;
	mx->preference = (uint16_t)(rdata[0] << 8 | rdata[1]);
	n = mta_dname_text(rdata + 2, len - 2, mx->host, sizeof(mx->host));
	if (n == -1 || (size_t)n != len - 2)
		return -1;
	return 0;
}

void
mta_mx_add(struct mta_mx *mx, size_t *n, const struct mta_mx *one)
{
	size_t i, worst = 0;

	if (*n < MTA_ROUTE_MX_MAX) {
		mx[(*n)++] = *one;
		return;
	}
	for (i = 1; i < *n; i++)
		if (mx[i].preference > mx[worst].preference)
			worst = i;
	if (one->preference < mx[worst].preference)
		mx[worst] = *one;
}

void
mta_mx_shuffle(struct mta_mx *mx, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mx[i].order = arc4random();
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct mta_mx *x = a, *y = b;

	if (x->preference != y->preference)
		return x->preference < y->preference ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return 0;
}

enum mta_mx_result
mta_mx_order(struct mta_mx *mx, size_t *n)
{
	size_t i, j, kept = 0, nulls = 0;

	for (i = 0; i < *n; i++) {
		if (strcmp(mx[i].host, ".") == 0) {
			nulls++;
			continue;
		}
		if (kept != i)
			mx[kept] = mx[i];
		kept++;
	}
	/*
	 * RFC 7505 says a null MX stands alone; next to others it names no
	 * host and they are tried.  Alone, at whatever preference, it says
	 * no mail.
	 */
	if (kept == 0) {
		*n = 0;
		return nulls > 0 ? MTA_MX_NULL : MTA_MX_INVALID;
	}
	qsort(mx, kept, sizeof(*mx), mx_cmp);
	/* a host named twice keeps its best place */
	for (i = 0, j = 0; i < kept; i++) {
		size_t d;

		for (d = 0; d < j; d++)
			if (strcmp(mx[d].host, mx[i].host) == 0)
				break;
		if (d < j)
			continue;
		if (j != i)
			mx[j] = mx[i];
		if (++j == MTA_ROUTE_HOSTS_MAX)
			break;
	}
	*n = j;
	return MTA_MX_HOSTS;
}

void
mta_route_fail(struct mta_route *r, enum mta_route_status status,
    const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	/* the first reason is the one that tells */
	if (r->status != MTA_ROUTE_OK)
		return;
	r->status = status;
	strlcpy(r->enhanced, enhanced, sizeof(r->enhanced));
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

int
mta_route_add_addr(
    struct mta_route_host *h, int af, const void *data, size_t len)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	uint32_t i, *count;
	const void *sa;
	size_t salen;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (af == AF_INET6 && len == sizeof(sin6.sin6_addr)) {
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, data, len);
		sa = &sin6;
		salen = sizeof(sin6);
		count = &h->nv6;
	} else if (af == AF_INET && len == sizeof(sin.sin_addr)) {
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, data, len);
		sa = &sin;
		salen = sizeof(sin);
		count = &h->nv4;
	} else
		return -1;
	if (*count == MTA_ROUTE_ADDRS_PER_FAMILY ||
	    h->naddrs == MTA_ROUTE_ADDRS_MAX)
		return 0;
	for (i = 0; i < h->naddrs; i++)
		if (memcmp(&h->addrs[i], sa, salen) == 0)
			return 0;
	memset(&h->addrs[h->naddrs], 0, sizeof(h->addrs[0]));
	memcpy(&h->addrs[h->naddrs], sa, salen);
	h->naddrs++;
	(*count)++;
	return 0;
}

/* IPv6 addresses first, each family in the order DNS gave it */
static void
host_order_addrs(struct mta_route_host *h)
{
	struct sockaddr_storage tmp[MTA_ROUTE_ADDRS_MAX];
	uint32_t i, n = 0;

	for (i = 0; i < h->naddrs; i++)
		if (h->addrs[i].ss_family == AF_INET6)
			tmp[n++] = h->addrs[i];
	for (i = 0; i < h->naddrs; i++)
		if (h->addrs[i].ss_family != AF_INET6)
			tmp[n++] = h->addrs[i];
	memcpy(h->addrs, tmp, n * sizeof(tmp[0]));
}

void
mta_route_finish(struct mta_route *r)
{
	uint32_t i, kept = 0;
	int tempfail = 0;

	for (i = 0; i < r->nhosts; i++) {
		if (r->hosts[i].tempfail)
			tempfail = 1;
		if (r->hosts[i].naddrs == 0)
			continue;
		host_order_addrs(&r->hosts[i]);
		if (kept != i)
			r->hosts[kept] = r->hosts[i];
		kept++;
	}
	r->nhosts = kept;
	if (r->status != MTA_ROUTE_OK) {
		r->nhosts = 0;
		return;
	}
	if (kept > 0)
		return;
	if (tempfail)
		mta_route_fail(r, MTA_ROUTE_TEMPFAIL, "4.4.3",
		    "cannot find the address of %s's mail servers for now",
		    r->domain);
	else if (r->implicit_mx)
		mta_route_fail(r, MTA_ROUTE_PERMFAIL, "5.4.4",
		    "%s has no MX and no address", r->domain);
	else
		mta_route_fail(r, MTA_ROUTE_PERMFAIL, "5.4.4",
		    "no mail server of %s has an address", r->domain);
}

int
mta_route_literal(struct mta_route *r, const char *domain)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct mta_route_host *h;
	uint8_t addr[16];
	const char *s;
	size_t len;
	int af;

	if (domain[0] != '[')
		return 0;
	len = strlen(domain);
	if (len < 3 || domain[len - 1] != ']')
		return -1;
	s = domain + 1;
	len -= 2;
	af = AF_INET;
	if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		af = AF_INET6;
		s += 5;
		len -= 5;
	}
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(af, buf, addr) != 1)
		return -1;
	memset(r, 0, sizeof(*r));
	if (strlcpy(r->domain, domain, sizeof(r->domain)) >= sizeof(r->domain))
		return -1;
	h = &r->hosts[0];
	strlcpy(h->name, domain, sizeof(h->name));
	if (mta_route_add_addr(h, af, addr, af == AF_INET6 ? 16 : 4) == -1)
		return -1;
	r->nhosts = 1;
	return 1;
}
