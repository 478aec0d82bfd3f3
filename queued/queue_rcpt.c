/*
 * Per-recipient delivery state: what an attempt's result does to a
 * recipient (delivered, failed for good, or tried again later on the
 * backoff schedule until the message expires), where a message stands,
 * and the ID.state record that keeps it across restarts (its format is
 * in queued.h).  No I/O here: queue.c and queue_fs.c do that.
 */

#include <stdio.h>
#include <string.h>

#include "queued.h"

/* a recipient's record without its reply text */
#define STATE_RCPT_FIXED (4 + 4 + 8 + 4)
#define STATE_HDR	 (4 + 4 + 8 + 4)

/* a reply as the state keeps it: one line of printable text, cut to fit */
static void
reply_copy(char dst[RCPT_REPLY_MAX], const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i < RCPT_REPLY_MAX - 1; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f
		    ? '?'
		    : src[i];
	dst[i] = '\0';
}

uint64_t
rcpt_retry_delay(uint32_t attempts, const struct rcpt_policy *p)
{
	uint64_t delay = p->retry;
	uint32_t i;

	for (i = 1; i < attempts && delay < p->max_retry; i++)
		delay *= 2;
	return delay > p->max_retry ? p->max_retry : delay;
}

uint32_t
rcpt_result(struct rcpt_state *r, uint32_t mda_status, const char *reply,
    uint64_t now, const struct rcpt_policy *p)
{
	char why[RCPT_REPLY_MAX];

	r->inflight = 0;
	switch (mda_status) {
	case MDA_OK:
		r->status = RCPT_DELIVERED;
		break;
	case MDA_PERMFAIL:
		r->status = RCPT_FAILED;
		break;
	default:
		if (now >= p->received && now - p->received >= p->expire) {
			r->status = RCPT_FAILED;
			snprintf(why, sizeof(why),
			    "expired after %u attempts: %s", r->attempts,
			    reply);
			reply_copy(r->reply, why);
			return r->status;
		}
		r->next_try = now + rcpt_retry_delay(r->attempts, p);
		break;
	}
	reply_copy(r->reply, reply);
	return r->status;
}

uint64_t
rcpt_wait(uint64_t next, uint64_t now, const struct rcpt_policy *p)
{
	if (next <= now)
		return 0;
	return next - now > p->max_retry ? p->max_retry : next - now;
}

void
rcpt_clamp(struct rcpt_state *rs, uint32_t n, uint64_t now,
    const struct rcpt_policy *p)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (rs[i].status == RCPT_PENDING &&
		    rs[i].next_try > now + p->max_retry)
			rs[i].next_try = now + p->max_retry;
}

uint64_t
rcpt_received(uint64_t id_time, uint64_t now)
{
	return id_time > now ? now : id_time;
}

enum rcpt_outcome
rcpt_outcome(const struct rcpt_state *rs, uint32_t n)
{
	uint32_t i;
	int failed = 0;

	for (i = 0; i < n; i++) {
		if (rs[i].status == RCPT_PENDING)
			return RCPT_SOME_PENDING;
		if (rs[i].status == RCPT_FAILED)
			failed = 1;
	}
	return failed ? RCPT_SOME_FAILED : RCPT_ALL_DELIVERED;
}

int
rcpt_due(const struct rcpt_state *r, uint64_t now)
{
	return r->status == RCPT_PENDING && !r->inflight && !r->remote &&
	    r->next_try <= now;
}

uint64_t
rcpt_next_try(const struct rcpt_state *rs, uint32_t n)
{
	uint64_t next = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		if (rs[i].status == RCPT_PENDING && !rs[i].inflight &&
		    !rs[i].remote && (next == 0 || rs[i].next_try < next))
			next = rs[i].next_try > 0 ? rs[i].next_try : 1;
	return next;
}

static int
reply_text_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

size_t
spool_state_size_max(uint32_t n)
{
	return STATE_HDR + (size_t)n * (STATE_RCPT_FIXED + RCPT_REPLY_MAX - 1) +
	    4;
}

void
spool_state_marshal(struct msg_writer *w, uint64_t msgid,
    const struct rcpt_state *rs, uint32_t n)
{
	uint32_t i;

	msg_put_data(w, SPOOL_STATE_MAGIC, 4);
	msg_put_u32(w, SPOOL_STATE_VERSION);
	msg_put_u64(w, msgid);
	msg_put_u32(w, n);
	for (i = 0; i < n; i++) {
		msg_put_u32(w, rs[i].status);
		msg_put_u32(w, rs[i].attempts);
		msg_put_u64(w, rs[i].next_try);
		msg_put_str(w, rs[i].reply);
	}
	if (!w->error)
		msg_put_u32(w, crc32_update(0, w->buf, w->len));
}

int
spool_state_unmarshal(const void *buf, size_t len, uint64_t msgid,
    struct rcpt_state *rs, uint32_t n, char *why, size_t whysz)
{
	struct msg_reader r;
	uint64_t id;
	uint32_t version, count, crc, i;
	char magic[4];

	memset(rs, 0, (size_t)n * sizeof(*rs));
	if (len < STATE_HDR + 4) {
		snprintf(why, whysz, "%zu bytes, too short", len);
		return -1;
	}
	msg_reader_init(&r, (const uint8_t *)buf + len - 4, 4);
	if (msg_get_u32(&r, &crc) == -1 ||
	    crc32_update(0, buf, len - 4) != crc) {
		snprintf(why, whysz, "checksum mismatch");
		return -1;
	}
	msg_reader_init(&r, buf, len - 4);
	if (msg_get_data(&r, magic, 4) == -1 ||
	    memcmp(magic, SPOOL_STATE_MAGIC, 4) != 0 ||
	    msg_get_u32(&r, &version) == -1 || msg_get_u64(&r, &id) == -1 ||
	    msg_get_u32(&r, &count) == -1) {
		snprintf(why, whysz, "no state header");
		return -1;
	}
	if (version != SPOOL_STATE_VERSION) {
		snprintf(why, whysz, "unknown state version %u", version);
		return -1;
	}
	if (id != msgid) {
		snprintf(why, whysz, "the state of message %016llx",
		    (unsigned long long)id);
		return -1;
	}
	if (count != n) {
		snprintf(
		    why, whysz, "%u recipients, the message has %u", count, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (msg_get_u32(&r, &rs[i].status) == -1 ||
		    msg_get_u32(&r, &rs[i].attempts) == -1 ||
		    msg_get_u64(&r, &rs[i].next_try) == -1 ||
		    msg_get_str(&r, rs[i].reply, sizeof(rs[i].reply)) == -1) {
			snprintf(why, whysz, "recipient %u: malformed", i);
			goto bad;
		}
		if (rs[i].status > RCPT_FAILED) {
			snprintf(why, whysz, "recipient %u: unknown status %u",
			    i, rs[i].status);
			goto bad;
		}
		/* it may reach a log line */
		if (!reply_text_valid(rs[i].reply)) {
			snprintf(why, whysz,
			    "recipient %u: control characters in the reply", i);
			goto bad;
		}
	}
	if (msg_get_end(&r) == -1) {
		snprintf(why, whysz, "bytes after the last recipient");
		goto bad;
	}
	return 0;
bad:
	memset(rs, 0, (size_t)n * sizeof(*rs));
	return -1;
}
