/*
 * ratelimit.c with an injected clock: the Nth failure blocks, the end of
 * the window unblocks, client addresses group by IPv4 address and IPv6
 * /64, and a million distinct keys stay within the cap while a key being
 * hammered stays blocked.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "test.h"

#define T0	 1000000000 /* a time well after the epoch */
#define MAX	 5
#define PERIOD	 300

static int
key_is(const char *addr, const char *want)
{
	char	 key[LISTENER_KEY_MAX];

	if (ratelimit_client_key(addr, key, sizeof(key)) == -1) {
		if (want == NULL)
			return 1;
		printf("# %s: refused, want %s\n", addr, want);
		return 0;
	}
	if (want != NULL && strcmp(key, want) == 0)
		return 1;
	printf("# %s: got %s, want %s\n", addr, key, want ? want : "refused");
	return 0;
}

static void
test_window(void)
{
	struct ratelimit	*rl = ratelimit_new(100);
	uint32_t		 i, n = 0;
	int			 blocked = 0;

	for (i = 1; i < MAX; i++) {
		n = ratelimit_fail(rl, "192.0.2.1", PERIOD, T0 + i);
		blocked |= ratelimit_blocked(rl, "192.0.2.1", MAX, PERIOD,
		    T0 + i);
	}
	CHECK("window N-1 failures counted", n == MAX - 1);
	CHECK("window N-1 failures not blocked", !blocked);
	CHECK("window Nth failure counted",
	    ratelimit_fail(rl, "192.0.2.1", PERIOD, T0 + 10) == MAX);
	CHECK("window Nth failure blocks",
	    ratelimit_blocked(rl, "192.0.2.1", MAX, PERIOD, T0 + 11));
	CHECK("window other key free",
	    !ratelimit_blocked(rl, "192.0.2.2", MAX, PERIOD, T0 + 11));
	CHECK("window blocked to its last second",
	    ratelimit_blocked(rl, "192.0.2.1", MAX, PERIOD, T0 + PERIOD));
	CHECK("window ends a period after the first failure",
	    !ratelimit_blocked(rl, "192.0.2.1", MAX, PERIOD,
	    T0 + 1 + PERIOD));
	CHECK("window ended key dropped", ratelimit_size(rl) == 0);
	CHECK("window new failures start over",
	    ratelimit_fail(rl, "192.0.2.1", PERIOD, T0 + 2 * PERIOD) == 1);
	CHECK("window a lower limit applies at once",
	    ratelimit_blocked(rl, "192.0.2.1", 1, PERIOD, T0 + 2 * PERIOD));
	CHECK("window a shorter period applies at once",
	    !ratelimit_blocked(rl, "192.0.2.1", 1, 10,
	    T0 + 2 * PERIOD + 10));

	/* failures spread over more than a period never block */
	for (i = 0; i < 4 * MAX; i++)
		blocked |= ratelimit_fail(rl, "spread", PERIOD,
		    T0 + i * (PERIOD / (MAX - 1))) >= MAX;
	CHECK("window spread failures never reach the limit", !blocked);

	/* a clock set back ends the window rather than stretch it */
	for (i = 0; i < MAX; i++)
		ratelimit_fail(rl, "back", PERIOD, T0 + 100);
	CHECK("window clock back blocked first",
	    ratelimit_blocked(rl, "back", MAX, PERIOD, T0 + 100));
	CHECK("window clock back unblocks",
	    !ratelimit_blocked(rl, "back", MAX, PERIOD, T0 + 99));

	for (i = 0; i < 10; i++)
		ratelimit_fail(rl, "long", UINT32_MAX, T0);
	CHECK("window of the longest period",
	    ratelimit_blocked(rl, "long", 10, UINT32_MAX, T0 + 1000000));
	ratelimit_free(rl);
}

static void
test_keys(void)
{
	struct ratelimit	*rl = ratelimit_new(10);
	char			 longkey[RATELIMIT_KEY_MAX + 10];

	CHECK("key ipv4", key_is("192.0.2.1", "192.0.2.1"));
	CHECK("key ipv4 mapped", key_is("::ffff:192.0.2.1", "192.0.2.1"));
	CHECK("key ipv4 mapped upper case",
	    key_is("::FFFF:192.0.2.1", "192.0.2.1"));
	CHECK("key ipv6 /64", key_is("2001:db8:1:2:3:4:5:6",
	    "2001:db8:1:2::/64"));
	CHECK("key ipv6 same /64", key_is("2001:db8:1:2:ffff::1",
	    "2001:db8:1:2::/64"));
	CHECK("key ipv6 other /64", key_is("2001:db8:1:3::1",
	    "2001:db8:1:3::/64"));
	CHECK("key ipv6 loopback", key_is("::1", "::/64"));
	CHECK("key empty refused", key_is("", NULL));
	CHECK("key name refused", key_is("localhost", NULL));
	CHECK("key with port refused", key_is("192.0.2.1:25", NULL));
	CHECK("key with prefix refused", key_is("2001:db8::/64", NULL));
	CHECK("key with zone refused", key_is("fe80::1%eth0", NULL));
	CHECK("key octal-looking refused", key_is("0300.0000.0002.0001",
	    NULL));
	CHECK("key trailing space refused", key_is("192.0.2.1 ", NULL));

	/* two hosts of one /64 share a count */
	{
		char	 a[LISTENER_KEY_MAX], b[LISTENER_KEY_MAX];
		int	 i;

		ratelimit_client_key("2001:db8::1", a, sizeof(a));
		ratelimit_client_key("2001:db8::2", b, sizeof(b));
		for (i = 0; i < MAX - 1; i++)
			ratelimit_fail(rl, a, PERIOD, T0);
		ratelimit_fail(rl, b, PERIOD, T0);
		CHECK("key /64 counts together",
		    ratelimit_blocked(rl, a, MAX, PERIOD, T0));
	}

	memset(longkey, 'x', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	CHECK("key too long not counted",
	    ratelimit_fail(rl, longkey, PERIOD, T0) == 0 &&
	    !ratelimit_blocked(rl, longkey, 1, PERIOD, T0));
	ratelimit_free(rl);
}

/* resident memory in KiB, from /proc; 0 if unknown */
static long
rss_kib(void)
{
	FILE	*f;
	long	 pages, rss = 0;

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void
test_cap(void)
{
	struct ratelimit	*rl = ratelimit_new(LOGIN_CLIENTS_MAX);
	char			 addr[64];
	uint32_t		 i;
	long			 before, after;
	int			 held = 1;

	for (i = 0; i < MAX; i++)
		ratelimit_fail(rl, "198.51.100.7", PERIOD, T0);
	before = rss_kib();
	for (i = 0; i < 1000000; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 0xff, i & 0xff);
		ratelimit_fail(rl, addr, PERIOD, T0 + 1);
		/* the attacker's target, tried every so often */
		if (i % 1000 == 0)
			held &= ratelimit_blocked(rl, "198.51.100.7", MAX,
			    PERIOD, T0 + 1);
	}
	after = rss_kib();
	CHECK("cap a million keys held to the cap",
	    ratelimit_size(rl) == LOGIN_CLIENTS_MAX);
	CHECK("cap a hammered key stays blocked", held &&
	    ratelimit_blocked(rl, "198.51.100.7", MAX, PERIOD, T0 + 2));
	CHECK("cap the newest keys are held", ratelimit_fail(rl,
	    "10.15.66.63", PERIOD, T0 + 2) == 2);
	CHECK("cap the oldest keys went", ratelimit_fail(rl, "10.0.0.1",
	    PERIOD, T0 + 2) == 1);
	if (!TEST_SANITIZED) {
		printf("# rss before %ld KiB, after %ld KiB\n", before, after);
		CHECK("cap memory bounded", before > 0 &&
		    after - before < 16 * 1024);
	}
	ratelimit_free(rl);

	rl = ratelimit_new(0);
	ratelimit_fail(rl, "a", PERIOD, T0);
	ratelimit_fail(rl, "b", PERIOD, T0);
	CHECK("cap zero holds one", ratelimit_size(rl) == 1);
	ratelimit_free(rl);
}

int
main(void)
{
	log_init(1, LOG_LEVEL_INFO, "test_ratelimit");
	test_window();
	test_keys();
	test_cap();
	TEST_EXIT();
}
