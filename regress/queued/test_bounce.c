/*
 * queued/bounce.c: which recipients a report tells of (state, NOTIFY,
 * the null sender), the fields RFC 3464 wants, replies from afar cut to
 * one printable line, the original returned as its header or whole, and
 * the CRC the commit checks.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queued.h"
#include "test.h"

static const char prepend[] = "DKIM-Signature: v=1; a=x\n";
static const char body[] = "Received: from x\nSubject: hello\n"
			   "From: <alice@example.test>\n\nthe body line\n";

static struct envelope env;
static struct rcpt_state rs[3];
static struct spool_msg m;
static int spoolfd;

static void
setup(void)
{
	char path[] = "/tmp/boxd-test-bounce-XXXXXX";

	if ((spoolfd = mkstemp(path)) == -1) {
		perror("mkstemp");
		exit(1);
	}
	unlink(path);
	/* a header, the body, then the prepended lines, as the spool has */
	if (write(spoolfd, "HEAD", 4) != 4 ||
	    write(spoolfd, body, strlen(body)) != (ssize_t)strlen(body) ||
	    write(spoolfd, prepend, strlen(prepend)) !=
		(ssize_t)strlen(prepend))
		exit(1);
	m.body_offset = 4;
	m.body_size = strlen(body);
	m.prepend_offset = 4 + strlen(body);
	m.prepend_size = (uint32_t)strlen(prepend);
	m.version = SPOOL_VERSION;

	memset(&env, 0, sizeof(env));
	strlcpy(env.sender, "alice@example.test", sizeof(env.sender));
	strlcpy(env.envid, "QQ314159\x01", sizeof(env.envid));
	env.time = 1700000000;
	env.nrcpt = 3;
	env.rcpt = calloc(3, sizeof(*env.rcpt));
	strlcpy(env.rcpt[0].addr, "bob@far.test", sizeof(env.rcpt[0].addr));
	strlcpy(env.rcpt[0].orcpt, "rfc822;Bob@Far.test",
	    sizeof(env.rcpt[0].orcpt));
	strlcpy(env.rcpt[1].addr, "carol@example.test",
	    sizeof(env.rcpt[1].addr));
	env.rcpt[1].dsn_notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	strlcpy(env.rcpt[2].addr, "dave@far.test", sizeof(env.rcpt[2].addr));
	env.rcpt[2].dsn_notify = DSN_NOTIFY_NEVER;

	rs[0].status = RCPT_FAILED;
	rs[0].attempts = 3;
	strlcpy(rs[0].reply, "550 5.1.1 <bob@far.test>: no such user\r\nX",
	    sizeof(rs[0].reply));
	rs[1].status = RCPT_DELIVERED;
	rs[1].attempts = 1;
	rs[2].status = RCPT_FAILED;
	strlcpy(rs[2].reply, "550 5.7.1 no", sizeof(rs[2].reply));
}

/* the report d makes, NUL-terminated (malloc'd), and its CRC checked */
static char *
report(const struct dsn *d, int *crc_ok)
{
	char path[] = "/tmp/boxd-test-bounce-out-XXXXXX";
	uint64_t off = 7, size = 0;
	uint32_t crc = 0;
	char *buf;
	int fd;

	if ((fd = mkstemp(path)) == -1)
		exit(1);
	unlink(path);
	if (dsn_write(d, spoolfd, &m, fd, &off, &size, &crc) == -1 ||
	    off != 7 + size) {
		close(fd);
		return NULL;
	}
	buf = calloc(1, size + 1);
	if (pread(fd, buf, size, 7) != (ssize_t)size)
		exit(1);
	close(fd);
	*crc_ok = crc32_update(0, buf, size) == crc;
	return buf;
}

static void
test_failed(void)
{
	struct dsn d = {.hostname = "mx.example.test",
	    .env = &env,
	    .rs = rs,
	    .action = DSN_FAILED,
	    .now = 1700003600,
	    .id = 0x1234};
	char *r;
	int crc_ok = 0;

	CHECK("failed: the one with no NOTIFY, not NEVER, not delivered",
	    dsn_wanted(&d) == 1 && dsn_rcpt_wanted(&d, 0) &&
		!dsn_rcpt_wanted(&d, 1) && !dsn_rcpt_wanted(&d, 2));
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("failed: written", 0);
		return;
	}
	CHECK("CRC of what was written", crc_ok);
	CHECK("to the sender, from MAILER-DAEMON, auto-replied",
	    strstr(r, "To: <alice@example.test>\n") != NULL &&
		strstr(r, "From: Mail Delivery System "
			  "<MAILER-DAEMON@mx.example.test>\n") != NULL &&
		strstr(r, "Auto-Submitted: auto-replied\n") != NULL);
	CHECK("a multipart/report of delivery-status",
	    strstr(r, "Content-Type: multipart/report; "
		      "report-type=delivery-status;\n\tboundary=") != NULL &&
		strstr(r, "Content-Type: message/delivery-status\n") != NULL);
	CHECK("the recipient's fields",
	    strstr(r, "\nOriginal-Recipient: rfc822; Bob@Far.test\n"
		      "Final-Recipient: rfc822; bob@far.test\n"
		      "Action: failed\nStatus: 5.1.1\n") != NULL);
	CHECK("its reply, on one printable line",
	    strstr(r, "Diagnostic-Code: smtp; 550 5.1.1 <bob@far.test>: no "
		      "such user??X\n") != NULL);
	CHECK("ENVID without its control octet",
	    strstr(r, "Original-Envelope-Id: QQ314159?\n") != NULL);
	CHECK("Reporting-MTA, Arrival-Date",
	    strstr(r, "Reporting-MTA: dns; mx.example.test\n") != NULL &&
		strstr(r, "Arrival-Date: ") != NULL);
	CHECK("the others are not named",
	    strstr(r, "carol@") == NULL && strstr(r, "dave@") == NULL);
	CHECK("no RET: the header comes back, prepended lines first",
	    strstr(r, "Content-Type: text/rfc822-headers\n") != NULL &&
		strstr(r, "\n\nDKIM-Signature: v=1; a=x\nReceived: from x\n"
			  "Subject: hello\nFrom: <alice@example.test>\n\n--") !=
		    NULL &&
		strstr(r, "the body line") == NULL);
	CHECK("the closing boundary ends it",
	    strstr(r, "\n--0000000000001234/mx.example.test--\n") != NULL &&
		r[strlen(r) - 1] == '\n');
	free(r);

	env.flags |= ENVELOPE_DSN_RET_FULL;
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("RET=FULL: written", 0);
		return;
	}
	CHECK("RET=FULL: the whole message",
	    crc_ok && strstr(r, "Content-Type: message/rfc822\n") != NULL &&
		strstr(r, "\n\nthe body line\n\n--0000000000001234/") != NULL);
	free(r);
	env.flags = ENVELOPE_SMTPUTF8 | ENVELOPE_DSN_RET_FULL;
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("SMTPUTF8: written", 0);
		return;
	}
	CHECK("SMTPUTF8: the global types",
	    strstr(r, "Content-Type: message/global-delivery-status\n") !=
		    NULL &&
		strstr(r, "Content-Type: message/global\n") != NULL &&
		strstr(r, "Content-Transfer-Encoding: 8bit\n") != NULL);
	free(r);
	env.flags = 0;
}

static void
test_others(void)
{
	struct dsn d = {.hostname = "mx.example.test",
	    .env = &env,
	    .rs = NULL,
	    .action = DSN_DELAYED,
	    .now = 1700014400,
	    .until = 1700400000,
	    .id = 7};
	char *r;
	int crc_ok;

	/* every recipient pending: the two whose NOTIFY allows it */
	CHECK("delayed: no NOTIFY is told of delays too",
	    dsn_wanted(&d) == 1 && dsn_rcpt_wanted(&d, 0));
	rs[0].status = RCPT_PENDING;
	strlcpy(rs[0].reply, "4.2.2 mailbox full", sizeof(rs[0].reply));
	d.rs = rs;
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("delayed: written", 0);
		return;
	}
	CHECK("delayed: its fields",
	    strstr(r, "Action: delayed\nStatus: 4.2.2\n"
		      "Diagnostic-Code: X-boxd; 4.2.2 mailbox full\n") !=
		    NULL &&
		strstr(r, "Will-Retry-Until: ") != NULL &&
		strstr(r, "Subject: Delayed Mail") != NULL);
	free(r);

	/* a status of the wrong class is not taken */
	strlcpy(rs[0].reply, "250 2.0.0 fine", sizeof(rs[0].reply));
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("class: written", 0);
		return;
	}
	CHECK("a 2xx reply in a delay report says 4.0.0",
	    strstr(r, "Status: 4.0.0\n") != NULL);
	free(r);
	/* one that expired failed with its last transient reply */
	rs[0].status = RCPT_FAILED;
	strlcpy(rs[0].reply, "450 4.2.0 busy", sizeof(rs[0].reply));
	d.action = DSN_FAILED;
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("expired: written", 0);
		return;
	}
	CHECK("a failure after 4xx replies keeps their status",
	    strstr(r, "Action: failed\nStatus: 4.2.0\n") != NULL);
	free(r);

	d.action = DSN_DELIVERED;
	CHECK("delivered: NOTIFY=SUCCESS alone",
	    dsn_wanted(&d) == 1 && dsn_rcpt_wanted(&d, 1));
	env.flags |= ENVELOPE_DSN_RET_FULL;
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("delivered: written", 0);
		return;
	}
	CHECK("delivered: its fields, the header only even with RET=FULL",
	    strstr(r, "Final-Recipient: rfc822; carol@example.test\n"
		      "Action: delivered\nStatus: 2.0.0\n") != NULL &&
		strstr(r, "the body line") == NULL);
	free(r);
	env.flags = 0;

	env.sender[0] = '\0';
	d.action = DSN_FAILED;
	CHECK("never a report to the null sender", dsn_wanted(&d) == 0);
	strlcpy(env.sender, "alice@example.test", sizeof(env.sender));
}

/* a header that never ends, and one as long as the whole bound */
static void
test_bounds(void)
{
	struct dsn d = {.hostname = "mx.example.test",
	    .env = &env,
	    .rs = rs,
	    .action = DSN_FAILED,
	    .now = 1700003600,
	    .id = 9};
	struct spool_msg big;
	char *line, *r;
	size_t i, n = 3 * DSN_HEADER_MAX;
	int crc_ok;

	line = malloc(n);
	for (i = 0; i < n; i++)
		line[i] = i % 80 == 79 ? '\n' : 'h';
	if (pwrite(spoolfd, line, n, 1000) != (ssize_t)n)
		exit(1);
	free(line);
	memset(&big, 0, sizeof(big));
	big.body_offset = 1000;
	big.body_size = n;
	big.prepend_offset = 1000 + n;
	m = big;
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("bounds: written", 0);
		return;
	}
	CHECK("a header without an end is cut at DSN_HEADER_MAX",
	    crc_ok && strlen(r) < DSN_HEADER_MAX + 4096 &&
		strlen(r) > DSN_HEADER_MAX);
	free(r);
	env.flags |= ENVELOPE_DSN_RET_FULL;
	big.body_size = DSN_FULL_MAX + 1;
	m = big;
	if ((r = report(&d, &crc_ok)) == NULL) {
		CHECK("bounds: RET=FULL written", 0);
		return;
	}
	CHECK("RET=FULL of a message past DSN_FULL_MAX: its header",
	    strstr(r, "text/rfc822-headers") != NULL);
	free(r);
	env.flags = 0;
}

int
main(void)
{
	setup();
	test_failed();
	test_others();
	test_bounds();
	close(spoolfd);
	free(env.rcpt);
	TEST_EXIT();
}
