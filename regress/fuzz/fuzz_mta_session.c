/*
 * mta's client session against a peer that says anything: the input's
 * first octet picks the envelope (8BITMIME, SMTPUTF8, DSN), a second
 * message on the connection and AUTH; the rest is what the peer sends
 * on every connection, all at once, before it closes.  Every session
 * must end (by the peer's close at the latest) with every recipient
 * answered, a delivery only with a 2xx code, a failure's class matching
 * its code, and no buffer past its bounds (the sanitizers).
 */

#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ACCEPTS_MAX 8

static struct event_base *base;
static int listener = -1, msgfd = -1;
static struct sockaddr_storage addr;
static struct envelope env;
static struct envelope_rcpt rcpts[3];
static struct mta_message msg;

static const uint8_t *peer_data;
static size_t peer_len;
static int peers[FUZZ_ACCEPTS_MAX];
static int npeers, finished, again;

static void
setup(void)
{
	static const char text[] = "junk\nX-Prepended: yes\n"
				   "Subject: fuzz\n\n.dot\nbody\xc3\xa9\nend";
	struct sockaddr_in *sin = (struct sockaddr_in *)&addr;
	socklen_t len = sizeof(*sin);
	char path[] = "/tmp/fuzz_mta_session.XXXXXX";
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		abort();
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) ==
		-1 ||
	    bind(listener, (struct sockaddr *)sin, len) == -1 ||
	    listen(listener, 16) == -1 ||
	    getsockname(listener, (struct sockaddr *)sin, &len) == -1)
		abort();
	if ((msgfd = mkstemp(path)) == -1 ||
	    write(msgfd, text, sizeof(text) - 1) != sizeof(text) - 1)
		abort();
	unlink(path);
	msg.fd = msgfd;
	msg.env = &env;
	/* "junk\n" is not the message's; the prepended header comes last */
	msg.body_offset = 22;
	msg.body_size = sizeof(text) - 1 - 22;
	msg.prepend_offset = 5;
	msg.prepend_size = 17;
	strlcpy(env.sender, "a@sender.test", sizeof(env.sender));
	strlcpy(env.envid, "id+=1", sizeof(env.envid));
	for (i = 0; i < 3; i++) {
		snprintf(rcpts[i].addr, sizeof(rcpts[i].addr), "r%zu@dest.test",
		    i);
		snprintf(rcpts[i].orcpt, sizeof(rcpts[i].orcpt),
		    "rfc822;r%zu+x@dest.test", i);
		rcpts[i].dsn_notify = (uint32_t)i * 3;
	}
	env.rcpt = rcpts;
	env.nrcpt = 3;
}

/* what the session sends is read and dropped, so that it never waits */
static void
accept_peers(void)
{
	char buf[65536];
	int fd, i;

	while (npeers < FUZZ_ACCEPTS_MAX &&
	    (fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) != -1) {
		/* small inputs: the socket takes them whole */
		if (peer_len > 0 && write(fd, peer_data, peer_len) == -1 &&
		    errno != EAGAIN)
			abort();
		shutdown(fd, SHUT_WR);
		peers[npeers++] = fd;
	}
	for (i = 0; i < npeers; i++)
		while (read(peers[i], buf, sizeof(buf)) > 0)
			continue;
}

static void
check(const struct mta_rcpt_result *r, size_t n)
{
	size_t i;

	if (n != env.nrcpt)
		abort();
	for (i = 0; i < n; i++) {
		switch (r[i].status) {
		case MTA_RCPT_DELIVERED:
			if (r[i].code / 100 != 2)
				abort();
			break;
		case MTA_RCPT_TEMPFAIL:
			if (r[i].code >= 500)
				abort();
			break;
		case MTA_RCPT_PERMFAIL:
			if (r[i].code != 0 && r[i].code / 100 != 5)
				abort();
			break;
		default:
			abort();
		}
		if (memchr(r[i].text, '\0', sizeof(r[i].text)) == NULL ||
		    memchr(r[i].enhanced, '\0', sizeof(r[i].enhanced)) == NULL)
			abort();
	}
}

static void
sent(struct mta_session *s, const struct mta_rcpt_result *r, size_t n,
    void *arg)
{
	check(r, n);
	if (again && mta_session_ready(s)) {
		again = 0;
		if (mta_session_send(s, &msg, sent, NULL) == -1)
			abort();
		return;
	}
	mta_session_free(s);
	finished = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct mta_session_params p;
	struct mta_session *s;
	struct timeval tick = {0, 1000};
	int i;

	if (len < 1 || len > 65536)
		return 0;
	if (base == NULL)
		setup();
	memset(&p, 0, sizeof(p));
	mta_timeouts_default(&p.timeouts);
	/* the peer always closes: no timer needs to fire */
	p.addrs = (const struct sockaddr_storage[]){addr, addr};
	p.naddrs = 2;
	p.port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
	p.helo = "fuzz.test";
	if (data[0] & 0x40) {
		p.auth_user = "user";
		p.auth_pass = "pass";
	}
	env.flags = data[0] & ENVELOPE_FLAGS;
	again = (data[0] & 0x80) != 0;
	peer_data = data + 1;
	peer_len = len - 1;
	npeers = 0;
	finished = 0;

	if ((s = mta_session_new(base, &p)) == NULL ||
	    mta_session_send(s, &msg, sent, NULL) == -1)
		abort();
	while (!finished) {
		accept_peers();
		if (event_base_loopexit(base, &tick) == -1 ||
		    event_base_loop(base, 0) == -1)
			abort();
	}
	for (i = 0; i < npeers; i++)
		close(peers[i]);
	return 0;
}
