/*
 * queue_rcpt.c and the state half of queue_fs.c: what an attempt's result
 * does to a recipient, the backoff and the expiry, the ID.state record
 * (round trip and every kind of damage), and what the start-up decides
 * for messages with a state: resumed with it, its state damaged, every
 * recipient done, states left behind by a crash.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queued.h"
#include "spool_test.h"
#include "test.h"

static const struct rcpt_policy policy = {
    .received = 1700000000,
    .retry = 300,
    .max_retry = 4 * 3600,
    .expire = 5 * 86400,
};

/* ------------------------------------------------------------ helpers */

static void
make_env(struct envelope *env, uint32_t n)
{
	struct envelope_rcpt rc;
	uint32_t i;

	memset(env, 0, sizeof(*env));
	strlcpy(env->sender, "sender@client.test", sizeof(env->sender));
	strlcpy(env->helo, "client.test", sizeof(env->helo));
	strlcpy(env->client_addr, "127.0.0.1", sizeof(env->client_addr));
	env->time = 1700000000;
	for (i = 0; i < n; i++) {
		memset(&rc, 0, sizeof(rc));
		snprintf(rc.addr, sizeof(rc.addr), "u%u@example.test", i);
		snprintf(rc.mailbox, sizeof(rc.mailbox), "example.test/u%u", i);
		envelope_add_rcpt(env, &rc);
	}
}

static const char body[] = "Subject: test\n\nHello.\n";

/* a state in place as the queue makes one: write, flush, rename, flush */
static int
put_state(uint64_t msgid, const struct rcpt_state *rs, uint32_t n)
{
	return spool_state_write(&sp, msgid, rs, n) == 0 &&
		spool_state_flush(&sp) == 0 &&
		spool_state_rename(&sp, msgid) == 0 && spool_sync(&sp) == 0
	    ? 0
	    : -1;
}

/* create, write the body, commit: 1 committed */
static int
receive(uint64_t msgid, uint32_t nrcpt)
{
	struct envelope env;
	struct spool_file sf;
	struct spool_commit c;

	make_env(&env, nrcpt);
	if (spool_create(&sp, msgid, &env, &sf) == -1) {
		envelope_clear(&env);
		return 0;
	}
	envelope_clear(&env);
	if (write_all(sf.appendfd, body, strlen(body)) == -1) {
		close(sf.appendfd);
		close(sf.fd);
		return 0;
	}
	close(sf.appendfd);
	memset(&c, 0, sizeof(c));
	c.msgid = msgid;
	c.fd = sf.fd;
	c.body_offset = sf.body_offset;
	c.body_size = strlen(body);
	c.hdr_crc = sf.hdr_crc;
	c.body_crc = crc32_update(0, body, strlen(body));
	spool_commit_batch(&sp, &c, 1);
	close(sf.fd);
	return c.ok;
}

static int
exists(const char *dir, uint64_t msgid, const char *suffix)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%016" PRIx64 "%s", dir, msgid,
	    suffix);
	return access(path, F_OK) == 0;
}

static int
spew(const char *dir, uint64_t msgid, const char *suffix, const void *data,
    size_t len)
{
	char path[128];
	int fd, rv;

	snprintf(path, sizeof(path), "%s/%016" PRIx64 "%s", dir, msgid,
	    suffix);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	rv = write_all(fd, data, len) == -1 ? -1 : 0;
	close(fd);
	return rv;
}

/* three recipients: delivered, pending at its third attempt, failed */
static void
sample(struct rcpt_state rs[3])
{
	memset(rs, 0, 3 * sizeof(*rs));
	rs[0].status = RCPT_DELIVERED;
	rs[0].attempts = 1;
	rs[1].status = RCPT_PENDING;
	rs[1].attempts = 3;
	rs[1].next_try = 1700001234;
	strlcpy(rs[1].reply, "example.test/u1: Permission denied",
	    sizeof(rs[1].reply));
	rs[2].status = RCPT_FAILED;
	rs[2].attempts = 1;
	strlcpy(rs[2].reply, "invalid mailbox name", sizeof(rs[2].reply));
}

static int
same(const struct rcpt_state *a, const struct rcpt_state *b, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (a[i].status != b[i].status ||
		    a[i].attempts != b[i].attempts ||
		    a[i].next_try != b[i].next_try ||
		    strcmp(a[i].reply, b[i].reply) != 0)
			return 0;
	return 1;
}

/* ------------------------------------------------------------ results */

static void
test_backoff(void)
{
	struct rcpt_policy p = policy;

	CHECK("first retry after `queue retry`",
	    rcpt_retry_delay(1, &p) == 300);
	CHECK("then doubling", rcpt_retry_delay(2, &p) == 600 &&
		rcpt_retry_delay(3, &p) == 1200 &&
		rcpt_retry_delay(6, &p) == 9600);
	CHECK("up to max-retry", rcpt_retry_delay(7, &p) == 14400 &&
		rcpt_retry_delay(100, &p) == 14400 &&
		rcpt_retry_delay(UINT32_MAX, &p) == 14400);
	CHECK("no attempt yet: the first delay",
	    rcpt_retry_delay(0, &p) == 300);
	p.retry = p.max_retry = 7;
	CHECK("retry equal to max-retry", rcpt_retry_delay(5, &p) == 7);
}

/* no time from disk or from a clock set back delays an attempt further */
static void
test_clamps(void)
{
	struct rcpt_policy p = policy;
	struct rcpt_state rs[3];
	uint64_t now = policy.received + 1000;

	CHECK("wait: due now or before is at once",
	    rcpt_wait(now, now, &p) == 0 && rcpt_wait(1, now, &p) == 0 &&
		rcpt_wait(0, now, &p) == 0);
	CHECK("wait: the time left",
	    rcpt_wait(now + 600, now, &p) == 600);
	CHECK("wait: at most max-retry",
	    rcpt_wait(now + p.max_retry + 1, now, &p) == p.max_retry &&
		rcpt_wait(UINT64_MAX, now, &p) == p.max_retry &&
		rcpt_wait((uint64_t)1 << 63, now, &p) == p.max_retry);
	CHECK("wait: fits a time_t",
	    (time_t)rcpt_wait(UINT64_MAX, 0, &p) > 0);

	memset(rs, 0, sizeof(rs));
	rs[0].status = RCPT_PENDING;
	rs[0].next_try = UINT64_MAX;
	rs[1].status = RCPT_PENDING;
	rs[1].next_try = now + 60;
	rs[2].status = RCPT_DELIVERED;
	rs[2].next_try = UINT64_MAX;
	rcpt_clamp(rs, 3, now, &p);
	CHECK("clamp: a next attempt far off comes within max-retry",
	    rs[0].next_try == now + p.max_retry);
	CHECK("clamp: a near one stays", rs[1].next_try == now + 60);
	CHECK("clamp: what is not pending is left alone",
	    rs[2].next_try == UINT64_MAX);
	CHECK("clamp: then due within max-retry",
	    !rcpt_due(&rs[0], now) && rcpt_due(&rs[0], now + p.max_retry));

	CHECK("received: the id's time",
	    rcpt_received(policy.received, now) == policy.received);
	CHECK("received: in the future counts as now",
	    rcpt_received(UINT32_MAX, now) == now &&
		rcpt_received(now + 1, now) == now);
	p.received = rcpt_received(UINT32_MAX, now);
	memset(rs, 0, sizeof(rs));
	rs[0].attempts = 3;
	rcpt_result(&rs[0], MDA_TEMPFAIL, "x", now + p.expire, &p);
	CHECK("received in the future: it still expires",
	    rs[0].status == RCPT_FAILED);
}

/* mda's report of a job fits one imsg, whatever its size */
static void
test_mda_reply_room(void)
{
	size_t max = IMSG_MAX_SIZE - IMSG_HDR_SIZE;
	uint32_t n;
	int fits = 1;

	CHECK("one recipient: the whole reply",
	    mda_reply_room(1) == RCPT_REPLY_MAX - 1);
	CHECK("the most a job has: 19 octets or more",
	    mda_reply_room(MDA_RCPT_MAX) >= 19);
	for (n = 1; n <= MDA_RCPT_MAX; n++)
		if (12 + (size_t)n * (12 + mda_reply_room(n)) > max)
			fits = 0;
	CHECK("every job up to MDA_RCPT_MAX fits one imsg", fits);
	CHECK("past what fits: nothing, not an underflow",
	    mda_reply_room(21844) == 0 && mda_reply_room(32768) == 0 &&
		mda_reply_room(UINT32_MAX) == 0);
}

static void
test_result(void)
{
	struct rcpt_state r, rs[4];
	uint64_t now = policy.received + 1000;
	char long_reply[1000];

	memset(&r, 0, sizeof(r));
	r.attempts = 1;
	r.inflight = 1;
	CHECK("delivered",
	    rcpt_result(&r, MDA_OK, "", now, &policy) == RCPT_DELIVERED &&
		!r.inflight);

	memset(&r, 0, sizeof(r));
	r.attempts = 2;
	r.inflight = 1;
	CHECK("temporary failure stays pending",
	    rcpt_result(&r, MDA_TEMPFAIL, "example.test/u1: Permission denied",
		now, &policy) == RCPT_PENDING &&
		!r.inflight);
	CHECK("next attempt on the schedule", r.next_try == now + 600);
	CHECK("reply kept",
	    strcmp(r.reply, "example.test/u1: Permission denied") == 0);
	CHECK("not due before its time", !rcpt_due(&r, now + 599) &&
		rcpt_due(&r, now + 600));
	r.inflight = 1;
	CHECK("not due while out", !rcpt_due(&r, now + 700));
	r.inflight = 0;

	r.attempts = 3;
	CHECK("permanent failure",
	    rcpt_result(&r, MDA_PERMFAIL, "invalid mailbox name", now,
		&policy) == RCPT_FAILED &&
		strcmp(r.reply, "invalid mailbox name") == 0);
	CHECK("a failed recipient is never due", !rcpt_due(&r, UINT64_MAX));

	memset(&r, 0, sizeof(r));
	r.attempts = 9;
	CHECK("temporary failure past expiry fails",
	    rcpt_result(&r, MDA_TEMPFAIL, "No space left on device",
		policy.received + policy.expire, &policy) == RCPT_FAILED &&
		strstr(r.reply, "expired after 9 attempts") != NULL &&
		strstr(r.reply, "No space left") != NULL);
	memset(&r, 0, sizeof(r));
	r.attempts = 9;
	CHECK("one second before expiry: still pending",
	    rcpt_result(&r, MDA_TEMPFAIL, "x",
		policy.received + policy.expire - 1, &policy) == RCPT_PENDING);
	memset(&r, 0, sizeof(r));
	CHECK("a clock before the reception does not expire it",
	    rcpt_result(&r, MDA_TEMPFAIL, "x", policy.received - 100,
		&policy) == RCPT_PENDING);

	memset(&r, 0, sizeof(r));
	memset(long_reply, 'x', sizeof(long_reply) - 1);
	long_reply[sizeof(long_reply) - 1] = '\0';
	long_reply[3] = '\n';
	long_reply[4] = '\r';
	rcpt_result(&r, MDA_TEMPFAIL, long_reply, now, &policy);
	CHECK("reply cut to fit, one line",
	    strlen(r.reply) == RCPT_REPLY_MAX - 1 &&
		strchr(r.reply, '\n') == NULL &&
		strchr(r.reply, '\r') == NULL);

	memset(rs, 0, sizeof(rs));
	CHECK("all pending", rcpt_outcome(rs, 4) == RCPT_SOME_PENDING);
	CHECK("all pending: due now", rcpt_next_try(rs, 4) == 1);
	rs[0].status = rs[1].status = rs[2].status = RCPT_DELIVERED;
	rs[3].next_try = 5000;
	CHECK("one pending", rcpt_outcome(rs, 4) == RCPT_SOME_PENDING &&
		rcpt_next_try(rs, 4) == 5000);
	rs[3].inflight = 1;
	CHECK("one pending but out: no timer", rcpt_next_try(rs, 4) == 0);
	rs[3].status = RCPT_DELIVERED;
	CHECK("all delivered", rcpt_outcome(rs, 4) == RCPT_ALL_DELIVERED &&
		rcpt_next_try(rs, 4) == 0);
	rs[1].status = RCPT_FAILED;
	CHECK("delivered and failed", rcpt_outcome(rs, 4) == RCPT_SOME_FAILED);
	rs[2].status = RCPT_PENDING;
	rs[2].next_try = 7000;
	rs[3].status = RCPT_PENDING;
	rs[3].inflight = 0;
	rs[3].next_try = 6000;
	CHECK("failed and pending: pending wins, earliest next",
	    rcpt_outcome(rs, 4) == RCPT_SOME_PENDING &&
		rcpt_next_try(rs, 4) == 6000);
}

/* remote recipients (no mailbox): never mda's, kept pending for mta */
static void
test_remote(void)
{
	struct rcpt_state rs[3];
	struct envelope env;
	struct envelope_rcpt rc;
	char why[256];

	memset(rs, 0, sizeof(rs));
	rs[1].remote = 1;
	CHECK("a remote recipient is never due",
	    !rcpt_due(&rs[1], UINT64_MAX) && rcpt_due(&rs[0], 0));
	rs[0].status = rs[2].status = RCPT_DELIVERED;
	CHECK("only remote ones pending: no timer, still pending",
	    rcpt_next_try(rs, 3) == 0 &&
		rcpt_outcome(rs, 3) == RCPT_SOME_PENDING);

	memset(&env, 0, sizeof(env));
	memset(&rc, 0, sizeof(rc));
	strlcpy(env.sender, "a@example.org", sizeof(env.sender));
	strlcpy(rc.addr, "x@elsewhere.example", sizeof(rc.addr));
	envelope_add_rcpt(&env, &rc);
	strlcpy(rc.addr, "y@elsewhere.example", sizeof(rc.addr));
	envelope_add_rcpt(&env, &rc);
	envelope_add_rcpt(&env, &rc);
	strlcpy(rc.addr, "b@example.org", sizeof(rc.addr));
	strlcpy(rc.mailbox, "example.org/b", sizeof(rc.mailbox));
	envelope_add_rcpt(&env, &rc);
	CHECK("remote recipients: one each, by address", env.nrcpt == 3);
	CHECK("an envelope with remote recipients checks out",
	    envelope_check(&env, why, sizeof(why)) == 0);
	strlcpy(env.rcpt[0].addr, "postmaster", sizeof(env.rcpt[0].addr));
	CHECK("a remote recipient without a domain does not",
	    envelope_check(&env, why, sizeof(why)) == -1 &&
		envelope_check_spooled(&env, why, sizeof(why)) == -1);
	envelope_clear(&env);
}

/* ------------------------------------------------------------ state record */

static uint8_t *
state_bytes(uint64_t msgid, const struct rcpt_state *rs, uint32_t n,
    size_t *len)
{
	struct msg_writer w;
	uint8_t *out;

	msg_writer_init(&w);
	spool_state_marshal(&w, msgid, rs, n);
	out = xcalloc(1, w.len);
	memcpy(out, w.buf, w.len);
	*len = w.len;
	msg_writer_free(&w);
	return out;
}

/* fix up the CRC after a deliberate change */
static void
reseal(uint8_t *buf, size_t len)
{
	uint32_t crc = crc32_update(0, buf, len - 4);

	buf[len - 4] = (uint8_t)(crc >> 24);
	buf[len - 3] = (uint8_t)(crc >> 16);
	buf[len - 2] = (uint8_t)(crc >> 8);
	buf[len - 1] = (uint8_t)crc;
}

static void
test_state_record(void)
{
	struct rcpt_state rs[3], got[4];
	uint64_t msgid = 0x6600000000000001ULL;
	uint8_t *b, *d;
	size_t len, i, k, missed = 0;
	char why[256];

	sample(rs);
	b = state_bytes(msgid, rs, 3, &len);
	CHECK("layout: magic, version, id, count",
	    memcmp(b, SPOOL_STATE_MAGIC, 4) == 0 && b[7] == SPOOL_STATE_VERSION &&
		b[8] == 0x66 && b[19] == 3);
	CHECK("fits its bound", len <= spool_state_size_max(3));
	CHECK("round trip", spool_state_unmarshal(b, len, msgid, got, 3, why,
				sizeof(why)) == 0 &&
		same(rs, got, 3));
	CHECK("nothing out after a load",
	    !got[0].inflight && !got[1].inflight && !got[2].inflight);

	/* every single bit flipped is caught */
	d = xcalloc(1, len);
	for (i = 0; i < len; i++)
		for (k = 0; k < 8; k++) {
			memcpy(d, b, len);
			d[i] ^= (uint8_t)(1 << k);
			if (spool_state_unmarshal(d, len, msgid, got, 3, why,
				sizeof(why)) == 0)
				missed++;
		}
	CHECK("every bit flip refused", missed == 0);
	CHECK("and nothing given out", got[1].status == 0 &&
		got[1].attempts == 0 && got[1].reply[0] == '\0');
	/* every length short of the whole */
	for (i = 0, missed = 0; i < len; i++)
		if (spool_state_unmarshal(b, i, msgid, got, 3, why,
			sizeof(why)) == 0)
			missed++;
	CHECK("every truncation refused", missed == 0);
	CHECK("empty refused", spool_state_unmarshal("", 0, msgid, got, 3, why,
				   sizeof(why)) == -1);

	/* sound CRCs over wrong content */
	CHECK("another message's state refused",
	    spool_state_unmarshal(b, len, msgid + 1, got, 3, why,
		sizeof(why)) == -1 &&
		strstr(why, "6600000000000001") != NULL);
	CHECK("another recipient count refused",
	    spool_state_unmarshal(b, len, msgid, got, 2, why, sizeof(why)) ==
		    -1 &&
		strstr(why, "3 recipients") != NULL);
	memcpy(d, b, len);
	d[7] = 9;
	reseal(d, len);
	CHECK("unknown version refused",
	    spool_state_unmarshal(d, len, msgid, got, 3, why, sizeof(why)) ==
		    -1 &&
		strstr(why, "version 9") != NULL);
	memcpy(d, b, len);
	d[20 + 3] = 7; /* the first recipient's status */
	reseal(d, len);
	CHECK("unknown status refused",
	    spool_state_unmarshal(d, len, msgid, got, 3, why, sizeof(why)) ==
		    -1 &&
		strstr(why, "status") != NULL);
	memcpy(d, b, len);
	d[len - 5] = '\n'; /* the last reply's last octet */
	reseal(d, len);
	CHECK("control character in a reply refused",
	    spool_state_unmarshal(d, len, msgid, got, 3, why, sizeof(why)) ==
		-1);
	free(d);
	/* a count that promises more than there is */
	memcpy(b + 16, "\x00\x00\x00\x04", 4);
	reseal(b, len);
	CHECK("count beyond the bytes refused",
	    spool_state_unmarshal(b, len, msgid, got, 4, why, sizeof(why)) ==
		-1);
	free(b);
	/* bytes after the last recipient */
	{
		struct msg_writer w;

		msg_writer_init(&w);
		spool_state_marshal(&w, msgid, rs, 3);
		w.len -= 4;
		msg_put_u32(&w, 0);
		msg_put_u32(&w, 0);
		reseal(w.buf, w.len);
		CHECK("trailing bytes refused",
		    spool_state_unmarshal(w.buf, w.len, msgid, got, 3, why,
			sizeof(why)) == -1 &&
			strstr(why, "after") != NULL);
		msg_writer_free(&w);
	}
	/* the longest reply is kept whole */
	memset(rs[1].reply, 'r', sizeof(rs[1].reply) - 1);
	rs[1].reply[sizeof(rs[1].reply) - 1] = '\0';
	b = state_bytes(msgid, rs, 3, &len);
	CHECK("longest reply round trip",
	    len <= spool_state_size_max(3) &&
		spool_state_unmarshal(b, len, msgid, got, 3, why,
		    sizeof(why)) == 0 &&
		same(rs, got, 3));
	free(b);
}

/* ------------------------------------------------------------ state files */

static void
test_state_files(void)
{
	struct rcpt_state rs[3], got[3];
	struct stat st;
	uint64_t msgid = 0x6600000100000000ULL;
	uint8_t *b;
	size_t len;
	char why[256], path[128];
	int before = test_open_fds();

	clean();
	CHECK("commit", receive(msgid, 3));
	CHECK("no state: every recipient pending",
	    spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) ==
		SPOOL_GONE);
	CHECK("a commit writes no state",
	    !exists(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX));
	sample(rs);
	rs[0].attempts = 9;
	CHECK("an older state in place", put_state(msgid, rs, 3) == 0);
	rs[0].attempts = 1;
	CHECK("write", spool_state_write(&sp, msgid, rs, 3) == 0);
	CHECK("the new one is not in place before it is flushed",
	    exists(SPOOL_QUEUE, msgid, SPOOL_STATE_TMP) &&
		spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) == 0 &&
		got[0].attempts == 9);
	CHECK("flush, rename, flush", spool_state_flush(&sp) == 0 &&
		spool_state_rename(&sp, msgid) == 0 && spool_sync(&sp) == 0);
	CHECK("in place, no temporary left",
	    exists(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX) &&
		!exists(SPOOL_QUEUE, msgid, SPOOL_STATE_TMP));
	snprintf(path, sizeof(path), "%s/%016" PRIx64 "%s", SPOOL_QUEUE, msgid,
	    SPOOL_STATE_SUFFIX);
	CHECK("mode 0600",
	    stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK("load", spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) ==
			  0 &&
		same(rs, got, 3));
	rs[1].attempts = 4;
	rs[1].next_try += 600;
	CHECK("replaced", put_state(msgid, rs, 3) == 0 &&
		spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) == 0 &&
		got[1].attempts == 4);
	CHECK("a rename without its .tmp fails",
	    spool_state_rename(&sp, msgid) == -1 &&
		exists(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX));
	CHECK("a state for another recipient count is bad",
	    spool_state_load(&sp, msgid, got, 2, why, sizeof(why)) ==
		SPOOL_BAD);

	/* damaged on disk */
	b = state_bytes(msgid, rs, 3, &len);
	b[len / 2] ^= 0x10;
	spew(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX, b, len);
	CHECK("a damaged state is bad",
	    spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) ==
		    SPOOL_BAD &&
		strstr(why, "checksum") != NULL);
	free(b);
	spew(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX, "", 0);
	CHECK("an empty state is bad",
	    spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) ==
		SPOOL_BAD);
	b = xcalloc(1, spool_state_size_max(3) + 1);
	spew(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX, b,
	    spool_state_size_max(3) + 1);
	CHECK("an overlong state is bad before it is read",
	    spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) ==
		    SPOOL_BAD &&
		strstr(why, "too long") != NULL);
	free(b);
	spool_state_set_aside(&sp, msgid);
	CHECK("set aside into corrupt/",
	    !exists(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX) &&
		exists(SPOOL_CORRUPT, msgid, SPOOL_STATE_SUFFIX) &&
		exists(SPOOL_QUEUE, msgid, ""));
	unlink(path);
	CHECK("a symbolic link is bad",
	    symlink("/etc/passwd", path) == 0 &&
		spool_state_load(&sp, msgid, got, 3, why, sizeof(why)) ==
		    SPOOL_BAD);
	unlink(path);

	/* the message and its state leave together */
	CHECK("write", put_state(msgid, rs, 3) == 0);
	spool_move(&sp, msgid, SPOOL_FAILED, "test");
	CHECK("moved to failed/ with its state",
	    exists(SPOOL_FAILED, msgid, "") &&
		exists(SPOOL_FAILED, msgid, SPOOL_STATE_SUFFIX) &&
		!exists(SPOOL_QUEUE, msgid, "") &&
		!exists(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX));
	msgid++;
	CHECK("commit", receive(msgid, 3));
	spool_move(&sp, msgid, SPOOL_FAILED, NULL);
	CHECK("moved without a state", exists(SPOOL_FAILED, msgid, "") &&
		!exists(SPOOL_FAILED, msgid, SPOOL_STATE_SUFFIX));
	msgid++;
	CHECK("commit", receive(msgid, 3));
	CHECK("write", put_state(msgid, rs, 3) == 0);
	spool_remove(&sp, msgid, 1);
	CHECK("removed with its state",
	    !exists(SPOOL_QUEUE, msgid, "") &&
		!exists(SPOOL_QUEUE, msgid, SPOOL_STATE_SUFFIX));
	CHECK("no fd left open", test_open_fds() == before);
}

/* ------------------------------------------------------------ start-up */

static void
test_recovery(void)
{
	struct rcpt_state rs[3], got[3];
	uint64_t base = 0x6600000200000000ULL, now = 1700001000;
	uint8_t *b;
	size_t len;
	uint32_t i, due;
	char why[256];

	clean();
	sample(rs);
	/* 0: committed, with a state: resumed with it */
	receive(base, 3);
	put_state(base, rs, 3);
	/* 1: committed, its state damaged */
	receive(base + 1, 3);
	b = state_bytes(base + 1, rs, 3, &len);
	b[30] ^= 0x01;
	spew(SPOOL_QUEUE, base + 1, SPOOL_STATE_SUFFIX, b, len);
	free(b);
	/* 2: committed, its state says every recipient is delivered */
	receive(base + 2, 3);
	for (i = 0; i < 3; i++)
		got[i] = rs[i], got[i].status = RCPT_DELIVERED;
	put_state(base + 2, got, 3);
	/* 3: a state without its message */
	spew(SPOOL_QUEUE, base + 3, SPOOL_STATE_SUFFIX, "x", 1);
	/* 4: an unfinished state beside a committed message */
	receive(base + 4, 3);
	spew(SPOOL_QUEUE, base + 4, SPOOL_STATE_TMP, "x", 1);
	/* 5: a crash between moving a message to failed/ and its state */
	receive(base + 5, 3);
	put_state(base + 5, rs, 3);
	rename(SPOOL_QUEUE "/6600000200000005",
	    SPOOL_FAILED "/6600000200000005");
	/* 6: a message never committed, with a state (an id reused) */
	spew(SPOOL_QUEUE, base + 6, "", SPOOL_MAGIC, 4);
	spew(SPOOL_QUEUE, base + 6, SPOOL_STATE_SUFFIX, "x", 1);
	/* 7: a corrupt message with a state: both set aside */
	receive(base + 7, 3);
	put_state(base + 7, rs, 3);
	{
		char path[128];
		int fd;

		snprintf(path, sizeof(path), "%s/%016" PRIx64, SPOOL_QUEUE,
		    base + 7);
		fd = open(path, O_WRONLY | O_APPEND);
		CHECK("append after the commit", write(fd, "late", 4) == 4);
		close(fd);
	}
	/* 8: a name that only looks like a state */
	spew(SPOOL_QUEUE, base + 8, ".statex", "x", 1);

	recover();

	CHECK("committed with a state: recovered, state kept",
	    was_found(base) && exists(SPOOL_QUEUE, base, SPOOL_STATE_SUFFIX));
	CHECK("resumed with its state",
	    spool_state_load(&sp, base, got, 3, why, sizeof(why)) == 0 &&
		same(rs, got, 3));
	for (i = 0, due = 0; i < 3; i++)
		due += rcpt_due(&got[i], now + 10000);
	CHECK("only the pending recipient is tried again, at attempt 4",
	    due == 1 && rcpt_due(&got[1], now + 10000) &&
		!rcpt_due(&got[1], rs[1].next_try - 1) &&
		got[1].attempts + 1 == 4);
	CHECK("damaged state: the message is recovered",
	    was_found(base + 1) && exists(SPOOL_QUEUE, base + 1, ""));
	CHECK("and its state says it is bad",
	    spool_state_load(&sp, base + 1, got, 3, why, sizeof(why)) ==
		SPOOL_BAD);
	CHECK("every recipient delivered: the message is recovered",
	    was_found(base + 2));
	CHECK("and its state says it is done",
	    spool_state_load(&sp, base + 2, got, 3, why, sizeof(why)) == 0 &&
		rcpt_outcome(got, 3) == RCPT_ALL_DELIVERED);
	CHECK("a state without a message removed",
	    !exists(SPOOL_QUEUE, base + 3, SPOOL_STATE_SUFFIX) &&
		!was_found(base + 3));
	CHECK("an unfinished state removed, its message kept",
	    !exists(SPOOL_QUEUE, base + 4, SPOOL_STATE_TMP) &&
		was_found(base + 4));
	CHECK("a state follows its message into failed/",
	    exists(SPOOL_FAILED, base + 5, SPOOL_STATE_SUFFIX) &&
		!exists(SPOOL_QUEUE, base + 5, SPOOL_STATE_SUFFIX) &&
		!was_found(base + 5));
	CHECK("an uncommitted message and its state removed",
	    !exists(SPOOL_QUEUE, base + 6, "") &&
		!exists(SPOOL_QUEUE, base + 6, SPOOL_STATE_SUFFIX) &&
		!exists(SPOOL_CORRUPT, base + 6, SPOOL_STATE_SUFFIX));
	CHECK("a corrupt message goes to corrupt/ with its state",
	    exists(SPOOL_CORRUPT, base + 7, "") &&
		exists(SPOOL_CORRUPT, base + 7, SPOOL_STATE_SUFFIX) &&
		!exists(SPOOL_QUEUE, base + 7, SPOOL_STATE_SUFFIX));
	CHECK("a stray name left alone",
	    exists(SPOOL_QUEUE, base + 8, ".statex"));
	CHECK("nothing else recovered", nfound == 4);
}

/* ------------------------------------------------------------ main */

int
main(void)
{
	log_init(1, LOG_LEVEL_INFO, "test_recipients");
	strlcpy(top, "/tmp/test_recipients.XXXXXX", sizeof(top));
	if (mkdtemp(top) == NULL || chdir(top) == -1) {
		perror("mkdtemp");
		return 1;
	}
	spool_open(&sp);

	test_backoff();
	test_clamps();
	test_mda_reply_room();
	test_result();
	test_remote();
	test_state_record();
	test_state_files();
	test_recovery();

	if (chdir("/") == -1)
		perror("chdir");
	rm_rf(top);
	TEST_EXIT();
}
