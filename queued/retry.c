/*
 * The retry schedule of `queue retry R max-retry M expire E`: a delay
 * doubling from R up to M, with jitter so that the messages a peer's
 * outage deferred together do not all come back at the same second, and
 * the expiry after which a message is bounced.  Pure functions: the
 * queue brings the clock and the random numbers.
 */

#include "queued.h"

uint64_t
retry_delay(const struct retry_schedule *s, uint32_t attempts, uint32_t rnd)
{
	uint64_t delay, max, span;
	uint32_t i;

	delay = s->retry > 0 ? s->retry : 1;
	max = s->max_retry > 0 ? s->max_retry : 1;
	for (i = 1; i < attempts && delay < max; i++)
		delay *= 2;
	if (delay > max)
		delay = max;
	/* -10% to +10%: rnd picks a point of the 20% span */
	span = delay / 5;
	delay = delay - delay / 10 + ((uint64_t)rnd * (span + 1) >> 32);
	if (delay > max)
		delay = max;
	return delay > 0 ? delay : 1;
}

int
retry_expired(const struct retry_schedule *s, uint64_t received, uint64_t now)
{
	return now >= received && now - received >= s->expire;
}

uint64_t
retry_next(const struct retry_schedule *s, uint32_t attempts, uint64_t received,
    uint64_t now, uint32_t rnd)
{
	uint64_t next, expiry;

	if (retry_expired(s, received, now))
		return 0;
	next = now + retry_delay(s, attempts, rnd);
	/* a clock set back: the message counts as received now */
	expiry = (received > now ? now : received) + s->expire;
	return next > expiry ? expiry : next;
}
