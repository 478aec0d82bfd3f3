/*
 * The retry schedule: doubling from retry, capped at max-retry, jitter
 * of at most 10% either way that never passes the cap, the last attempt
 * at expiry, and nothing after it; extreme settings and attempt counts.
 */

#include <stdlib.h>

#include "queued.h"
#include "test.h"

#define MID 0x80000000u /* the rnd that moves nothing */

static const struct retry_schedule dflt = {300, 4 * 3600, 5 * 86400};

static void
test_doubling(void)
{
	static const uint64_t want[] = {
	    300, 600, 1200, 2400, 4800, 9600, 14400, 14400, 14400};
	uint32_t i;
	int ok = 1;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (retry_delay(&dflt, i + 1, MID) != want[i]) {
			printf("# attempt %u: %llu\n", i + 1,
			    (unsigned long long)retry_delay(&dflt, i + 1, MID));
			ok = 0;
		}
	CHECK("doubling to the cap", ok);
	CHECK("attempt 0 as 1", retry_delay(&dflt, 0, MID) == 300);
	CHECK("attempts without end",
	    retry_delay(&dflt, UINT32_MAX, MID) == 14400);
}

static void
test_jitter(void)
{
	uint64_t d, sum = 0, lo = UINT64_MAX, hi = 0;
	int i, ok = 1;

	CHECK("jitter low", retry_delay(&dflt, 1, 0) == 270);
	CHECK("jitter high", retry_delay(&dflt, 1, UINT32_MAX) == 330);
	CHECK("jitter at the cap, down",
	    retry_delay(&dflt, 10, 0) == 14400 - 1440);
	CHECK("jitter at the cap, not past it",
	    retry_delay(&dflt, 10, UINT32_MAX) == 14400);
	for (i = 0; i < 100000; i++) {
		d = retry_delay(&dflt, 3, arc4random());
		if (d < 1080 || d > 1320)
			ok = 0;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		sum += d;
	}
	CHECK("jitter within 10%", ok);
	CHECK("jitter spread", lo < 1090 && hi > 1310);
	CHECK("jitter centred", sum / 100000 > 1190 && sum / 100000 < 1210);
}

static void
test_extremes(void)
{
	struct retry_schedule s;

	s = (struct retry_schedule){0, 0, 0};
	CHECK("zero settings",
	    retry_delay(&s, 1, MID) == 1 &&
		retry_delay(&s, 50, UINT32_MAX) == 1);
	s = (struct retry_schedule){3600, 60, 86400};
	CHECK("retry over max-retry",
	    retry_delay(&s, 1, MID) == 60 &&
		retry_delay(&s, 1, UINT32_MAX) == 60);
	s = (struct retry_schedule){1, UINT32_MAX, UINT32_MAX};
	CHECK("huge max-retry",
	    retry_delay(&s, 33, MID) == 4294967296ULL ||
		retry_delay(&s, 33, MID) == UINT32_MAX);
	CHECK("huge max-retry capped",
	    retry_delay(&s, UINT32_MAX, UINT32_MAX) == UINT32_MAX);
	s = (struct retry_schedule){UINT32_MAX, UINT32_MAX, 1};
	CHECK("huge retry",
	    retry_delay(&s, 5, 0) == UINT32_MAX - UINT32_MAX / 10);
	s = (struct retry_schedule){5, 3600, 60};
	CHECK("tiny delay jitter",
	    retry_delay(&s, 1, 0) >= 4 && retry_delay(&s, 1, UINT32_MAX) <= 6);
}

static void
test_expiry(void)
{
	uint64_t t0 = 1700000000, now;

	CHECK("not expired", !retry_expired(&dflt, t0, t0 + 5 * 86400 - 1));
	CHECK("expired", retry_expired(&dflt, t0, t0 + 5 * 86400));
	CHECK("clock set back", !retry_expired(&dflt, t0, t0 - 100));
	CHECK("next", retry_next(&dflt, 1, t0, t0, MID) == t0 + 300);
	now = t0 + 5 * 86400 - 100;
	CHECK("last attempt at expiry",
	    retry_next(&dflt, 20, t0, now, MID) == t0 + 5 * 86400);
	CHECK("none after expiry",
	    retry_next(&dflt, 20, t0, t0 + 5 * 86400, MID) == 0);
	CHECK("next with the clock set back",
	    retry_next(&dflt, 1, t0 + 1000, t0, MID) == t0 + 300);
	{
		struct retry_schedule s = {300, 14400, 200};

		CHECK("expiry before the first retry",
		    retry_next(&s, 1, t0, t0, MID) == t0 + 200);
	}
	{
		/* a whole life: attempts until expiry, never past it */
		uint32_t attempts = 0;
		int ok = 1;

		now = t0;
		for (;;) {
			uint64_t next;

			attempts++;
			next =
			    retry_next(&dflt, attempts, t0, now, arc4random());
			if (next == 0)
				break;
			if (next <= now || next > t0 + 5 * 86400 ||
			    next - now > 14400)
				ok = 0;
			now = next;
			if (attempts > 1000)
				break;
		}
		CHECK("a whole life",
		    ok && now == t0 + 5 * 86400 && attempts > 30 &&
			attempts < 45);
	}
}

int
main(void)
{
	test_doubling();
	test_jitter();
	test_extremes();
	test_expiry();
	TEST_EXIT();
}
