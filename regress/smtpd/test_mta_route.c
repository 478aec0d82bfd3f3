/*
 * The route logic under mta's DNS: names in wire format from hostile
 * answers, MX records in order with equal preferences shuffled, the null
 * MX, the bounds on hosts and addresses, the failure a route without
 * addresses gets, and address literals.  Then the lookup's life on an
 * event loop, against a resolver of this test's own on loopback that
 * never answers: callbacks only from the loop and once, timeouts,
 * cancels, and the resolver freed under running lookups.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "smtpd.h"
#include "test.h"

static int
dname(const char *wire, size_t len, char *out, size_t outsize)
{
	return mta_dname_text((const uint8_t *)wire, len, out, outsize);
}

static void
test_dname(void)
{
	uint8_t wire[400];
	char out[MTA_HOST_MAX];
	size_t i, o;

	CHECK("dname simple",
	    dname("\4mail\7EXAMPLE\3org\0", 18, out, sizeof(out)) == 18 &&
		strcmp(out, "mail.example.org") == 0);
	CHECK("dname trailing data",
	    dname("\3foo\0junk", 9, out, sizeof(out)) == 5 &&
		strcmp(out, "foo") == 0);
	CHECK("dname root",
	    dname("\0", 1, out, sizeof(out)) == 1 && strcmp(out, ".") == 0);
	CHECK("dname empty", dname("", 0, out, sizeof(out)) == -1);
	CHECK(
	    "dname truncated label", dname("\5abc", 4, out, sizeof(out)) == -1);
	CHECK("dname no end", dname("\3abc", 4, out, sizeof(out)) == -1);
	CHECK(
	    "dname pointer", dname("\3abc\xc0\x0c", 6, out, sizeof(out)) == -1);
	CHECK("dname extended label",
	    dname("\x41x\0", 3, out, sizeof(out)) == -1);
	CHECK(
	    "dname dot in label", dname("\3a.b\0", 5, out, sizeof(out)) == -1);
	CHECK("dname space", dname("\3a b\0", 5, out, sizeof(out)) == -1);
	CHECK("dname nul", dname("\3a\0b\0", 5, out, sizeof(out)) == -1);
	CHECK("dname 8bit", dname("\3a\xc3\xa9\0", 5, out, sizeof(out)) == -1);
	CHECK("dname underscore hyphen",
	    dname("\5_a-b9\0", 7, out, sizeof(out)) == 7 &&
		strcmp(out, "_a-b9") == 0);
	CHECK("dname small buffer",
	    dname("\3abc\0", 5, out, 3) == -1 &&
		dname("\3abc\0", 5, out, 4) == 5 &&
		dname("\0", 1, out, 1) == -1);

	/* a label of 63 octets is the most */
	wire[0] = 63;
	memset(wire + 1, 'a', 63);
	wire[64] = 0;
	CHECK(
	    "dname label 63", dname((char *)wire, 65, out, sizeof(out)) == 65);
	wire[0] = 64;
	memset(wire + 1, 'a', 64);
	wire[65] = 0;
	CHECK(
	    "dname label 64", dname((char *)wire, 66, out, sizeof(out)) == -1);

	/* 253 octets of text are the most: 63 labels of 3 and one of 1 */
	for (i = 0, o = 0; i < 63; i++) {
		wire[o++] = 3;
		memcpy(wire + o, "abc", 3);
		o += 3;
	}
	wire[o++] = 1;
	wire[o++] = 'z';
	wire[o++] = 0;
	CHECK("dname 253",
	    dname((char *)wire, o, out, sizeof(out)) == (int)o &&
		strlen(out) == 253);
	wire[o - 3] = 2;
	wire[o - 1] = 'z';
	wire[o++] = 0;
	CHECK("dname 254", dname((char *)wire, o, out, sizeof(out)) == -1);
}

static void
test_hostname(void)
{
	char name[300];

	CHECK("host valid", mta_hostname_valid("mx1.example.org"));
	CHECK("host single label", mta_hostname_valid("localhost"));
	CHECK("host upper", mta_hostname_valid("MX.Example.ORG"));
	CHECK("host empty", !mta_hostname_valid(""));
	CHECK("host dot", !mta_hostname_valid("."));
	CHECK("host trailing dot", !mta_hostname_valid("example.org."));
	CHECK("host leading dot", !mta_hostname_valid(".example.org"));
	CHECK("host double dot", !mta_hostname_valid("example..org"));
	CHECK("host space", !mta_hostname_valid("exa mple.org"));
	CHECK("host utf8",
	    !mta_hostname_valid("b\xc3\xbc"
				"cher.example"));
	CHECK("host literal", !mta_hostname_valid("[192.0.2.1]"));
	memset(name, 'a', 64);
	name[64] = '\0';
	CHECK("host label 64", !mta_hostname_valid(name));
	name[63] = '\0';
	CHECK("host label 63", mta_hostname_valid(name));
	memset(name, 'a', 253);
	for (int i = 50; i < 253; i += 50)
		name[i] = '.';
	name[253] = '\0';
	CHECK("host 253", mta_hostname_valid(name));
	name[253] = 'a';
	name[254] = '\0';
	CHECK("host 254", !mta_hostname_valid(name));
}

static void
test_mx_parse(void)
{
	struct mta_mx mx;

	CHECK("mx parse",
	    mta_mx_parse((const uint8_t *)"\0\x0a\2mx\7example\0", 14, &mx) ==
		    0 &&
		mx.preference == 10 && strcmp(mx.host, "mx.example") == 0);
	CHECK("mx parse high pref",
	    mta_mx_parse((const uint8_t *)"\xff\xff\1a\0", 5, &mx) == 0 &&
		mx.preference == 65535);
	CHECK("mx null",
	    mta_mx_parse((const uint8_t *)"\0\0\0", 3, &mx) == 0 &&
		mx.preference == 0 && strcmp(mx.host, ".") == 0);
	CHECK("mx short", mta_mx_parse((const uint8_t *)"\0\0", 2, &mx) == -1);
	CHECK("mx junk after",
	    mta_mx_parse((const uint8_t *)"\0\1\1a\0x", 6, &mx) == -1);
	CHECK("mx bad name",
	    mta_mx_parse((const uint8_t *)"\0\1\1;\0", 5, &mx) == -1);
}

static void
set_mx(struct mta_mx *mx, uint16_t pref, uint32_t order, const char *host)
{
	memset(mx, 0, sizeof(*mx));
	mx->preference = pref;
	mx->order = order;
	strlcpy(mx->host, host, sizeof(mx->host));
}

static void
test_mx_order(void)
{
	struct mta_mx mx[MTA_ROUTE_MX_MAX];
	size_t n, i;
	int a_first = 0, b_first = 0, ok = 1, run;

	set_mx(&mx[0], 20, 0, "b.example");
	set_mx(&mx[1], 10, 0, "a.example");
	set_mx(&mx[2], 30, 0, "c.example");
	n = 3;
	CHECK("order by preference",
	    mta_mx_order(mx, &n) == MTA_MX_HOSTS && n == 3 &&
		strcmp(mx[0].host, "a.example") == 0 &&
		strcmp(mx[1].host, "b.example") == 0 &&
		strcmp(mx[2].host, "c.example") == 0);

	set_mx(&mx[0], 10, 7, "x.example");
	set_mx(&mx[1], 10, 3, "y.example");
	set_mx(&mx[2], 5, 9, "z.example");
	n = 3;
	CHECK("order ties by order",
	    mta_mx_order(mx, &n) == MTA_MX_HOSTS && n == 3 &&
		strcmp(mx[0].host, "z.example") == 0 &&
		strcmp(mx[1].host, "y.example") == 0 &&
		strcmp(mx[2].host, "x.example") == 0);

	/* equal preferences come in both orders, the better one always first */
	for (run = 0; run < 400; run++) {
		set_mx(&mx[0], 10, 0, "a.example");
		set_mx(&mx[1], 10, 0, "b.example");
		set_mx(&mx[2], 0, 0, "first.example");
		set_mx(&mx[3], 99, 0, "last.example");
		n = 4;
		mta_mx_shuffle(mx, n);
		if (mta_mx_order(mx, &n) != MTA_MX_HOSTS || n != 4 ||
		    strcmp(mx[0].host, "first.example") != 0 ||
		    strcmp(mx[3].host, "last.example") != 0)
			ok = 0;
		if (strcmp(mx[1].host, "a.example") == 0)
			a_first++;
		else
			b_first++;
	}
	CHECK("shuffle keeps preference order", ok);
	CHECK("shuffle both ways", a_first > 100 && b_first > 100);

	set_mx(&mx[0], 20, 0, "dup.example");
	set_mx(&mx[1], 10, 1, "other.example");
	set_mx(&mx[2], 5, 2, "dup.example");
	n = 3;
	CHECK("duplicates keep the best",
	    mta_mx_order(mx, &n) == MTA_MX_HOSTS && n == 2 &&
		strcmp(mx[0].host, "dup.example") == 0 &&
		mx[0].preference == 5 &&
		strcmp(mx[1].host, "other.example") == 0);

	set_mx(&mx[0], 0, 0, ".");
	n = 1;
	CHECK("null mx", mta_mx_order(mx, &n) == MTA_MX_NULL && n == 0);
	set_mx(&mx[0], 10, 0, ".");
	n = 1;
	CHECK("null mx other preference", mta_mx_order(mx, &n) == MTA_MX_NULL);
	set_mx(&mx[0], 0, 0, ".");
	set_mx(&mx[1], 10, 0, "real.example");
	n = 2;
	CHECK("null mx beside a host",
	    mta_mx_order(mx, &n) == MTA_MX_HOSTS && n == 1 &&
		strcmp(mx[0].host, "real.example") == 0);
	n = 0;
	CHECK("no records", mta_mx_order(mx, &n) == MTA_MX_INVALID);

	/* at most MTA_ROUTE_HOSTS_MAX, the best of them */
	for (i = 0; i < MTA_ROUTE_MX_MAX; i++) {
		char host[32];

		snprintf(host, sizeof(host), "mx%zu.example", i);
		set_mx(&mx[i], (uint16_t)(MTA_ROUTE_MX_MAX - i), 0, host);
	}
	n = MTA_ROUTE_MX_MAX;
	ok = mta_mx_order(mx, &n) == MTA_MX_HOSTS && n == MTA_ROUTE_HOSTS_MAX;
	for (i = 0; ok && i < n; i++)
		if (mx[i].preference != i + 1)
			ok = 0;
	CHECK("hosts bounded", ok);
}

static void
test_mx_add(void)
{
	struct mta_mx mx[MTA_ROUTE_MX_MAX], one;
	size_t n = 0, i;
	int ok = 1;

	/* 1000 records, the best 64 of them spread among the rest */
	for (i = 0; i < 1000; i++) {
		set_mx(&one, (uint16_t)((i * 7919) % 1000), 0, "h.example");
		snprintf(
		    one.host, sizeof(one.host), "h%u.example", one.preference);
		mta_mx_add(mx, &n, &one);
	}
	for (i = 0; i < n; i++)
		if (mx[i].preference >= MTA_ROUTE_MX_MAX)
			ok = 0;
	CHECK("mx add keeps the best", n == MTA_ROUTE_MX_MAX && ok);
	mta_mx_shuffle(mx, n);
	CHECK("mx add then order",
	    mta_mx_order(mx, &n) == MTA_MX_HOSTS && n == MTA_ROUTE_HOSTS_MAX &&
		mx[0].preference == 0 && mx[15].preference == 15);

	/* a worse one when full changes nothing; an equal one neither */
	set_mx(&one, 500, 0, "late.example");
	n = MTA_ROUTE_MX_MAX;
	for (i = 0; i < n; i++)
		set_mx(&mx[i], 10, 0, "same.example");
	mta_mx_add(mx, &n, &one);
	set_mx(&one, 10, 0, "equal.example");
	mta_mx_add(mx, &n, &one);
	ok = n == MTA_ROUTE_MX_MAX;
	for (i = 0; i < n; i++)
		if (strcmp(mx[i].host, "same.example") != 0)
			ok = 0;
	CHECK("mx add full", ok);
}

static void
test_addrs(void)
{
	struct mta_route_host h;
	struct sockaddr_in6 *sin6;
	struct sockaddr_in *sin;
	uint8_t v6[16], v4[4];
	int i, ok = 1;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < 6; i++) {
		memset(v4, 0, sizeof(v4));
		v4[0] = 192;
		v4[3] = (uint8_t)i;
		if (mta_route_add_addr(&h, AF_INET, v4, 4) != 0)
			ok = 0;
	}
	CHECK("ipv4 bounded",
	    ok && h.naddrs == MTA_ROUTE_ADDRS_PER_FAMILY &&
		h.nv4 == MTA_ROUTE_ADDRS_PER_FAMILY);
	for (i = 0; i < 6; i++) {
		memset(v6, 0, sizeof(v6));
		v6[0] = 0x20;
		v6[15] = (uint8_t)(i % 2);
		mta_route_add_addr(&h, AF_INET6, v6, 16);
	}
	CHECK("ipv6 duplicates once", h.nv6 == 2 && h.naddrs == 6);
	CHECK("bad lengths",
	    mta_route_add_addr(&h, AF_INET, v6, 16) == -1 &&
		mta_route_add_addr(&h, AF_INET6, v4, 4) == -1 &&
		mta_route_add_addr(&h, AF_UNIX, v4, 4) == -1);

	{
		struct mta_route *r;

		if ((r = calloc(1, sizeof(*r))) == NULL)
			abort();
		strlcpy(r->domain, "example.org", sizeof(r->domain));
		r->nhosts = 3;
		r->hosts[0] = h;
		strlcpy(r->hosts[1].name, "empty", sizeof(r->hosts[1].name));
		v4[3] = 77;
		mta_route_add_addr(&r->hosts[2], AF_INET, v4, 4);
		mta_route_finish(r);
		sin6 = (struct sockaddr_in6 *)&r->hosts[0].addrs[0];
		sin = (struct sockaddr_in *)&r->hosts[0].addrs[2];
		CHECK("finish ok", r->status == MTA_ROUTE_OK && r->nhosts == 2);
		CHECK("ipv6 first",
		    sin6->sin6_family == AF_INET6 &&
			r->hosts[0].addrs[1].ss_family == AF_INET6 &&
			sin->sin_family == AF_INET &&
			sin->sin_addr.s_addr == htonl(0xc0000000));
		CHECK("empty host dropped",
		    ((struct sockaddr_in *)&r->hosts[1].addrs[0])
			    ->sin_addr.s_addr == htonl(0xc000004d));

		memset(r, 0, sizeof(*r));
		strlcpy(r->domain, "example.org", sizeof(r->domain));
		r->nhosts = 2;
		r->hosts[1].tempfail = 1;
		mta_route_finish(r);
		CHECK("no address, for now",
		    r->status == MTA_ROUTE_TEMPFAIL && r->nhosts == 0 &&
			strcmp(r->enhanced, "4.4.3") == 0);

		memset(r, 0, sizeof(*r));
		strlcpy(r->domain, "example.org", sizeof(r->domain));
		r->nhosts = 1;
		mta_route_finish(r);
		CHECK("no address at all",
		    r->status == MTA_ROUTE_PERMFAIL &&
			strcmp(r->enhanced, "5.4.4") == 0 &&
			strstr(r->error, "example.org") != NULL);

		memset(r, 0, sizeof(*r));
		r->nhosts = 1;
		r->hosts[0] = h;
		mta_route_fail(
		    r, MTA_ROUTE_PERMFAIL, "5.1.10", "null MX %d", 1);
		mta_route_fail(r, MTA_ROUTE_TEMPFAIL, "4.4.3", "later");
		mta_route_finish(r);
		CHECK("first failure stays",
		    r->status == MTA_ROUTE_PERMFAIL && r->nhosts == 0 &&
			strcmp(r->enhanced, "5.1.10") == 0 &&
			strcmp(r->error, "null MX 1") == 0);
		free(r);
	}
}

static void
test_literal(void)
{
	struct mta_route *r;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	struct in6_addr want6;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		abort();
	CHECK("literal v4",
	    mta_route_literal(r, "[192.0.2.1]") == 1 && r->nhosts == 1 &&
		r->hosts[0].naddrs == 1);
	sin = (struct sockaddr_in *)&r->hosts[0].addrs[0];
	CHECK("literal v4 address",
	    sin->sin_family == AF_INET &&
		sin->sin_addr.s_addr == htonl(0xc0000201));
	CHECK("literal v6",
	    mta_route_literal(r, "[IPv6:2001:db8::1]") == 1 && r->nhosts == 1);
	sin6 = (struct sockaddr_in6 *)&r->hosts[0].addrs[0];
	inet_pton(AF_INET6, "2001:db8::1", &want6);
	CHECK("literal v6 address",
	    sin6->sin6_family == AF_INET6 &&
		memcmp(&sin6->sin6_addr, &want6, 16) == 0);
	CHECK("literal v6 lower", mta_route_literal(r, "[ipv6:::1]") == 1);
	CHECK("literal not one", mta_route_literal(r, "example.org") == 0);
	CHECK(
	    "literal v6 untagged", mta_route_literal(r, "[2001:db8::1]") == -1);
	CHECK("literal bad v4", mta_route_literal(r, "[300.1.1.1]") == -1);
	CHECK("literal unclosed", mta_route_literal(r, "[192.0.2.1") == -1);
	CHECK("literal empty", mta_route_literal(r, "[]") == -1);
	CHECK("literal tag only", mta_route_literal(r, "[IPv6:]") == -1);
	CHECK("literal general", mta_route_literal(r, "[x-tag:abc]") == -1);
	CHECK("literal long",
	    mta_route_literal(r,
		"[IPv6:0000:0000:0000:0000:0000:0000:0000:"
		"0000:0000]") == -1);
	free(r);
}

struct lookup_seen {
	int calls;
	enum mta_route_status status;
	char enhanced[SMTP_REPLY_ESC_MAX];
	char error[MTA_ROUTE_ERROR_MAX];
	uint32_t nhosts;
	struct mta_route_query *cancel; /* cancelled from the callback */
	struct event_base *base;
	int *left; /* the loop ends when it reaches 0 */
};

static void
lookup_done(const struct mta_route *r, void *arg)
{
	struct lookup_seen *seen = arg;

	seen->calls++;
	seen->status = r->status;
	strlcpy(seen->enhanced, r->enhanced, sizeof(seen->enhanced));
	strlcpy(seen->error, r->error, sizeof(seen->error));
	seen->nhosts = r->nhosts;
	if (seen->cancel != NULL) {
		mta_route_cancel(seen->cancel);
		seen->cancel = NULL;
	}
	if (seen->left != NULL && --*seen->left == 0)
		event_base_loopexit(seen->base, NULL);
}

static void
loop_for(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_lookups(void)
{
	struct lookup_seen a, b, c, many[50];
	struct sockaddr_in sin;
	struct event_base *base;
	struct mta_dns *dns;
	struct mta_route_query *qa, *qb;
	socklen_t len = sizeof(sin);
	char err[256], port[8];
	int mute, i, left, ok;

	/* a resolver that reads every question and answers none */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((mute = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(mute, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(mute, (struct sockaddr *)&sin, &len) == -1)
		abort();
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	if ((base = event_base_new()) == NULL)
		abort();

	CHECK("resolver not an address",
	    mta_dns_new(base, "localhost", 53, err, sizeof(err)) == NULL &&
		strstr(err, "not an IP address") != NULL);
	dns = mta_dns_new(
	    base, "127.0.0.1", ntohs(sin.sin_port), err, sizeof(err));
	CHECK("resolver", dns != NULL);
	if (dns == NULL) {
		printf("# %s\n", err);
		return;
	}

	memset(&a, 0, sizeof(a));
	qa = mta_route_lookup(dns, "[127.0.0.1]", 1000, lookup_done, &a);
	CHECK("literal not at once", qa != NULL && a.calls == 0);
	memset(&b, 0, sizeof(b));
	mta_route_lookup(dns, "no such..domain", 1000, lookup_done, &b);
	CHECK("invalid not at once", b.calls == 0);
	loop_for(base, 50);
	CHECK("literal",
	    a.calls == 1 && a.status == MTA_ROUTE_OK && a.nhosts == 1);
	CHECK("invalid",
	    b.calls == 1 && b.status == MTA_ROUTE_PERMFAIL &&
		strcmp(b.enhanced, "5.1.2") == 0);

	/* the silent resolver: a timeout, and the loop ran meanwhile */
	memset(&a, 0, sizeof(a));
	left = 1;
	a.left = &left;
	a.base = base;
	mta_route_lookup(dns, "silent.test", 300, lookup_done, &a);
	loop_for(base, 5000);
	CHECK("timeout",
	    a.calls == 1 && a.status == MTA_ROUTE_TEMPFAIL &&
		strcmp(a.enhanced, "4.4.3") == 0 &&
		strstr(a.error, "timed out") != NULL);

	/* cancelled, the callback never comes */
	memset(&a, 0, sizeof(a));
	qa = mta_route_lookup(dns, "cancel.test", 100, lookup_done, &a);
	mta_route_cancel(qa);
	qa = mta_route_lookup(dns, "[127.0.0.1]", 100, lookup_done, &a);
	mta_route_cancel(qa);
	loop_for(base, 300);
	CHECK("cancelled", a.calls == 0);

	/* a callback cancels another lookup still running */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	qb = mta_route_lookup(dns, "other.test", 200, lookup_done, &b);
	a.cancel = qb;
	mta_route_lookup(dns, "[::1]", 1000, lookup_done, &a);
	mta_route_lookup(dns, "[IPv6:::1]", 1000, lookup_done, &c);
	loop_for(base, 400);
	CHECK("cancelled from a callback",
	    a.calls == 1 && a.status == MTA_ROUTE_PERMFAIL && b.calls == 0 &&
		c.calls == 1 && c.status == MTA_ROUTE_OK);

	/* many at once: each called back once */
	left = 50;
	for (i = 0; i < 50; i++) {
		char name[32];

		memset(&many[i], 0, sizeof(many[i]));
		many[i].left = &left;
		many[i].base = base;
		snprintf(name, sizeof(name), "m%d.test", i);
		mta_route_lookup(dns, name, 200 + i, lookup_done, &many[i]);
	}
	loop_for(base, 5000);
	ok = left == 0;
	for (i = 0; i < 50; i++)
		if (many[i].calls != 1 || many[i].status != MTA_ROUTE_TEMPFAIL)
			ok = 0;
	CHECK("many lookups", ok);

	/* freed under running lookups: no callback, nothing left behind */
	memset(&a, 0, sizeof(a));
	mta_route_lookup(dns, "pending.test", 5000, lookup_done, &a);
	mta_route_lookup(dns, "[127.0.0.1]", 5000, lookup_done, &a);
	mta_dns_free(dns);
	loop_for(base, 100);
	CHECK("freed with lookups", a.calls == 0);
	mta_dns_free(NULL);

	/*
	 * resolv.conf's resolver, asked nothing: localhost is answered
	 * from the library's own zone and /etc/hosts
	 */
	if (access("/etc/resolv.conf", R_OK) == 0) {
		dns = mta_dns_new(base, "", 0, err, sizeof(err));
		CHECK("resolv.conf", dns != NULL);
		if (dns != NULL) {
			memset(&a, 0, sizeof(a));
			left = 1;
			a.left = &left;
			a.base = base;
			mta_route_lookup(
			    dns, "localhost", 2000, lookup_done, &a);
			loop_for(base, 5000);
			CHECK("localhost",
			    a.calls == 1 && a.status == MTA_ROUTE_OK &&
				a.nhosts == 1);
			mta_dns_free(dns);
		}
	}
	event_base_free(base);
	close(mute);
}

int
main(void)
{
	test_dname();
	test_hostname();
	test_mx_parse();
	test_mx_order();
	test_mx_add();
	test_addrs();
	test_literal();
	test_lookups();
	TEST_EXIT();
}
