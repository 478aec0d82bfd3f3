/*
 * mta_dns_tool [-sS] [-t timeout_ms] DOMAIN [RESOLVER PORT]: one route
 * lookup through smtpd/mta_dns.c on a libevent loop, printed for
 * regress/e2e/test_mta_dns.py:
 *
 *	route DOMAIN mx|implicit
 *	host PREFERENCE NAME ADDRESS...
 *	fail temp|perm ENHANCED-CODE TEXT
 *	ticks N
 *
 * A timer ticks every 10 ms while the lookup runs: the ticks show that
 * the loop never waited on DNS.  Exit 0 with a route, 2 without one, 1
 * on a usage or setup error.  -s runs the lookup under mta's seccomp
 * filter, installed once the resolver is set up, as the role will; -S
 * too, but a call the filter refuses is named before the tool dies.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "smtpd.h"

static struct event_base *base;
static unsigned long ticks;
static int result = 1;
static char outbuf[BUFSIZ];

static void
tick(evutil_socket_t fd, short events, void *arg)
{
	ticks++;
}

static void
print_route(const struct mta_route *r, void *arg)
{
	const struct sockaddr_storage *ss;
	char addr[INET6_ADDRSTRLEN];
	const void *a;
	uint32_t i, j;

	if (r->status != MTA_ROUTE_OK) {
		printf("fail %s %s %s\n",
		    r->status == MTA_ROUTE_TEMPFAIL ? "temp" : "perm",
		    r->enhanced, r->error);
		result = 2;
	} else {
		printf("route %s %s\n", r->domain,
		    r->implicit_mx ? "implicit" : "mx");
		for (i = 0; i < r->nhosts; i++) {
			printf("host %u %s", r->hosts[i].preference,
			    r->hosts[i].name);
			for (j = 0; j < r->hosts[i].naddrs; j++) {
				ss = &r->hosts[i].addrs[j];
				a = ss->ss_family == AF_INET6
				    ? (const void *)&(
					  (const struct sockaddr_in6 *)ss)
					  ->sin6_addr
				    : (const void *)&(
					  (const struct sockaddr_in *)ss)
					  ->sin_addr;
				if (inet_ntop(ss->ss_family, a, addr,
					sizeof(addr)) == NULL)
					strlcpy(addr, "?", sizeof(addr));
				printf(" %s", addr);
			}
			printf("\n");
		}
		result = 0;
	}
	event_base_loopexit(base, NULL);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mta_dns_tool [-sS] [-t timeout_ms] DOMAIN [RESOLVER PORT]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct timeval every = {0, 10000};
	struct mta_dns *dns;
	struct event *ev;
	const char *resolver = "", *errstr;
	char err[256];
	int ch, timeout_ms = 10000, sandbox = 0;
	uint16_t port = 0;

	/* a buffer of its own: stdio would fstat() stdout in the sandbox */
	if (setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf)) != 0)
		fatalx("setvbuf");
	log_init(1, LOG_LEVEL_DEBUG, "mta_dns_tool");
	while ((ch = getopt(argc, argv, "sSt:")) != -1) {
		switch (ch) {
		case 's':
			sandbox = 1;
			break;
		case 'S':
			sandbox = 1;
			sandbox_set_debug(1);
			break;
		case 't':
			timeout_ms = (int)strtonum(optarg, 1, 600000, &errstr);
			if (errstr != NULL)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 && argc != 3)
		usage();
	if (argc == 3) {
		resolver = argv[1];
		port = (uint16_t)strtonum(argv[2], 1, 65535, &errstr);
		if (errstr != NULL)
			usage();
	}
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((dns = mta_dns_new(base, resolver, port, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "mta_dns_tool: %s\n", err);
		return 1;
	}
	if (sandbox)
		sandbox_init(&sandbox_profile_mta);
	if ((ev = event_new(base, -1, EV_PERSIST, tick, NULL)) == NULL ||
	    event_add(ev, &every) == -1)
		fatalx("tick timer");
	if (mta_route_lookup(dns, argv[0], timeout_ms, print_route, NULL) ==
	    NULL)
		fatalx("mta_route_lookup");
	if (event_base_dispatch(base) == -1)
		fatalx("event_base_dispatch");
	printf("ticks %lu\n", ticks);
	event_free(ev);
	mta_dns_free(dns);
	event_base_free(base);
	return result;
}
