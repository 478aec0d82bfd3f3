/*
 * listener.c: what the per-client limit counts (IPv6 by /64, IPv4-mapped
 * as IPv4), counting and release, and the accept loop on a real loopback
 * listener: the session cap and the per-client limit refuse with the
 * role's line (or none), and accept() out of descriptors pauses the
 * listeners until descriptors are free again.  session.c: the parent's
 * messages that give a role its listeners and its certificate, a
 * session's bufferevent, and timers in ms.
 */

#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common.h"
#include "test.h"

#define WAIT_MS 10000 /* for what the event loop must do */

struct harness {
	struct event_base *base;
	struct listener_set *ls;
	uint32_t sessions; /* the limits the set asks for */
	uint32_t per_client;
	int fds[16]; /* accepted */
	struct listener_client *clients[16];
	int naccepted;
};

static void
harness_accept(void *arg, int fd, const struct sockaddr *sa,
    enum listen_kind kind, struct listener_client *c)
{
	struct harness *h = arg;

	if (h->naccepted >= 16) {
		close(fd);
		listener_client_del(c);
		return;
	}
	h->fds[h->naccepted] = fd;
	h->clients[h->naccepted] = c;
	h->naccepted++;
}

static const char *
harness_refusal(enum listen_kind kind, enum listener_refusal why)
{
	if (kind == LISTEN_SUBMISSIONS)
		return NULL;
	return why == LISTENER_FULL ? "full\r\n" : "client full\r\n";
}

static void
harness_limits(void *arg, uint32_t *sessions, uint32_t *per_client)
{
	struct harness *h = arg;

	*sessions = h->sessions;
	*per_client = h->per_client;
}

static const struct listener_ops harness_ops = {
    .accept = harness_accept,
    .refusal = harness_refusal,
    .limits = harness_limits,
    .session_fds = 2,
    .sessions_directive = "limit sessions",
};

static int
sockaddr_of(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		return -1;
	return 0;
}

static const char *
key_of(const char *text)
{
	static char key[LISTENER_KEY_MAX];
	struct sockaddr_storage ss;

	if (sockaddr_of(text, &ss) == -1)
		return "bad test address";
	listener_client_key((struct sockaddr *)&ss, key, sizeof(key));
	return key;
}

static const char *
text_of(const char *text)
{
	static char out[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss;

	if (sockaddr_of(text, &ss) == -1)
		return "bad test address";
	listener_addr_text((struct sockaddr *)&ss, out, sizeof(out));
	return out;
}

static void
test_client_key(void)
{
	struct sockaddr_storage ss;
	char key[LISTENER_KEY_MAX];

	CHECK("ipv4 as itself", strcmp(key_of("192.0.2.1"), "192.0.2.1") == 0);
	CHECK("ipv4 neighbours apart",
	    strcmp(key_of("192.0.2.2"), "192.0.2.1") != 0);
	CHECK("ipv4-mapped as ipv4",
	    strcmp(key_of("::ffff:192.0.2.1"), "192.0.2.1") == 0);
	CHECK("ipv6 by /64",
	    strcmp(key_of("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64") == 0);
	CHECK("ipv6 same /64",
	    strcmp(key_of("2001:db8:1:2:ffff:ffff:ffff:ffff"),
		"2001:db8:1:2::/64") == 0);
	CHECK("ipv6 other /64",
	    strcmp(key_of("2001:db8:1:3::1"), "2001:db8:1:3::/64") == 0);
	CHECK("ipv6 loopback", strcmp(key_of("::1"), "::/64") == 0);
	CHECK("ipv6 long prefix",
	    strcmp(key_of("2001:db8:aaaa:bbbb:cccc::1"),
		"2001:db8:aaaa:bbbb::/64") == 0);
	CHECK("ipv6 longest key fits",
	    strcmp(key_of("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"),
		"2001:db8:aaaa:bbbb::/64") == 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	listener_client_key((struct sockaddr *)&ss, key, sizeof(key));
	CHECK("other family", strcmp(key, "unknown") == 0);

	CHECK("mapped shown as ipv4",
	    strcmp(text_of("::ffff:10.1.2.3"), "10.1.2.3") == 0);
	CHECK("ipv4 shown as itself",
	    strcmp(text_of("198.51.100.7"), "198.51.100.7") == 0);
	CHECK("ipv6 shown whole",
	    strcmp(text_of("2001:db8::1:2"), "2001:db8::1:2") == 0);
}

static struct listener_client *
add(struct harness *h, const char *text)
{
	struct sockaddr_storage ss;

	if (sockaddr_of(text, &ss) == -1)
		return NULL;
	return listener_client_add(h->ls, (struct sockaddr *)&ss);
}

static void
test_counting(struct harness *h)
{
	struct listener_client *a1, *a2, *b, *v1, *v2, *w;

	h->sessions = 0;
	h->per_client = 2;
	a1 = add(h, "192.0.2.1");
	a2 = add(h, "192.0.2.1");
	CHECK("one address, one count", a1 != NULL && a1 == a2);
	CHECK("counted twice", a1 != NULL && listener_client_count(a1) == 2);
	CHECK("third refused", add(h, "192.0.2.1") == NULL);
	CHECK(
	    "mapped refused with its ipv4", add(h, "::ffff:192.0.2.1") == NULL);
	CHECK("refusal not counted",
	    a1 != NULL && listener_client_count(a1) == 2);
	b = add(h, "192.0.2.2");
	CHECK("neighbour apart", b != NULL && b != a1);

	v1 = add(h, "2001:db8:1:2::1");
	v2 = add(h, "2001:db8:1:2:ffff::9");
	CHECK("one /64, one count", v1 != NULL && v1 == v2);
	CHECK("/64 full", add(h, "2001:db8:1:2::3") == NULL);
	w = add(h, "2001:db8:1:3::1");
	CHECK("next /64 apart", w != NULL && w != v1);
	CHECK("sessions in all", listener_sessions(h->ls) == 6);

	listener_client_del(a1);
	CHECK("released one", a2 != NULL && listener_client_count(a2) == 1);
	CHECK("room again", add(h, "::ffff:192.0.2.1") == a2);
	listener_client_del(a1);
	listener_client_del(a2);
	listener_client_del(b);
	listener_client_del(v1);
	listener_client_del(v2);
	listener_client_del(w);
	CHECK("all released", listener_sessions(h->ls) == 0);
	a1 = add(h, "192.0.2.1");
	CHECK("a released address starts again",
	    a1 != NULL && listener_client_count(a1) == 1);
	listener_client_del(a1);

	h->per_client = 0;
	CHECK("limit 0 refuses", add(h, "192.0.2.9") == NULL);
	CHECK("nothing kept", listener_sessions(h->ls) == 0);
	h->per_client = 2;
}

static void
test_cap(struct harness *h)
{
	uint32_t cap;

	h->sessions = 0;
	cap = listener_session_cap(h->ls);
	CHECK("default cap from the fd limit", cap > 0 && cap < UINT32_MAX);
	h->sessions = 3;
	CHECK("configured cap", listener_session_cap(h->ls) == 3);
	h->sessions = UINT32_MAX;
	CHECK("cap above the fd limit lowered",
	    listener_session_cap(h->ls) == cap);
}

/* turn the loop until cond holds, or WAIT_MS */
#define LOOP_UNTIL(h, cond)                                   \
	do {                                                  \
		struct timeval tv_ = {0, 20000};              \
		uint64_t end_ = now_ms() + WAIT_MS;           \
		while (!(cond) && now_ms() < end_) {          \
			event_base_loopexit((h)->base, &tv_); \
			event_base_dispatch((h)->base);       \
		}                                             \
	} while (0)

/* turn the loop for ms, whatever happens */
static void
loop_for(struct harness *h, unsigned int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(h->base, &tv);
	event_base_dispatch(h->base);
}

/* the descriptor the next accept() would get */
static int
lowest_free_fd(void)
{
	int fd;

	if ((fd = open("/dev/null", O_RDONLY)) == -1)
		return -1;
	close(fd);
	return fd;
}

static int
listen_loopback(uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
connect_loopback(uint16_t port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *read_to_close(int);

/* 1 once the server wrote to fd or closed it */
static int
answered(int fd)
{
	struct pollfd pfd = {fd, POLLIN, 0};

	return poll(&pfd, 1, 0) == 1;
}

/* what the server sent before it closed, "" if nothing */
static const char *
refusal_of(struct harness *h, int fd)
{
	LOOP_UNTIL(h, answered(fd));
	return read_to_close(fd);
}

static const char *
read_to_close(int fd)
{
	static char buf[128];
	struct pollfd pfd = {fd, POLLIN, 0};
	size_t off = 0;
	ssize_t n;

	buf[0] = '\0';
	while (off < sizeof(buf) - 1 && poll(&pfd, 1, WAIT_MS) == 1) {
		if ((n = read(fd, buf + off, sizeof(buf) - 1 - off)) <= 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	close(fd);
	return buf;
}

static void
release_all(struct harness *h)
{
	int i;

	for (i = 0; i < h->naccepted; i++) {
		close(h->fds[i]);
		listener_client_del(h->clients[i]);
	}
	h->naccepted = 0;
}

static void
test_accept_loop(struct harness *h)
{
	struct rlimit rl, low;
	uint64_t t0;
	uint16_t port, tls_port;
	int lfd, tls_fd, c[4], i, lowest;

	if ((lfd = listen_loopback(&port)) == -1 ||
	    (tls_fd = listen_loopback(&tls_port)) == -1) {
		CHECK("loopback listeners", 0);
		return;
	}
	listener_add(h->ls, lfd, LISTEN_SMTP);
	listener_add(h->ls, tls_fd, LISTEN_SUBMISSIONS);

	h->sessions = 2;
	h->per_client = 10;
	for (i = 0; i < 3; i++)
		c[i] = connect_loopback(port);
	LOOP_UNTIL(h, h->naccepted == 2);
	CHECK("sessions up to the cap", h->naccepted == 2);
	CHECK("counted", listener_sessions(h->ls) == 2);
	CHECK("over the cap: the role's line, then a close",
	    strcmp(refusal_of(h, c[2]), "full\r\n") == 0);
	c[2] = connect_loopback(tls_port);
	CHECK("no line where the role has none",
	    strcmp(refusal_of(h, c[2]), "") == 0);

	listener_client_del(h->clients[1]);
	close(h->fds[1]);
	h->naccepted = 1;
	h->per_client = 1;
	c[2] = connect_loopback(port);
	CHECK("over the per-client limit: its line",
	    strcmp(refusal_of(h, c[2]), "client full\r\n") == 0);
	h->per_client = 2;
	c[2] = connect_loopback(port);
	LOOP_UNTIL(h, h->naccepted == 2);
	CHECK("a released session makes room", h->naccepted == 2);
	release_all(h);
	for (i = 0; i < 3; i++)
		close(c[i]);
	CHECK("all released", listener_sessions(h->ls) == 0);

	/* accept() fails with EMFILE: pause, then take it once fds are free */
	c[3] = connect_loopback(port);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    (lowest = lowest_free_fd()) == -1) {
		CHECK("fd limit", 0);
		return;
	}
	low = rl;
	low.rlim_cur = (rlim_t)lowest;
	CHECK("fd limit lowered", setrlimit(RLIMIT_NOFILE, &low) == 0);
	loop_for(h, 300);
	CHECK("nothing accepted without descriptors", h->naccepted == 0);
	CHECK("fd limit restored", setrlimit(RLIMIT_NOFILE, &rl) == 0);
	t0 = now_ms();
	LOOP_UNTIL(h, h->naccepted == 1);
	CHECK("accepting again", h->naccepted == 1);
	/* from the pause's end: not at once, though descriptors were free */
	CHECK("after the pause", now_ms() - t0 >= 500);
	release_all(h);
	close(c[3]);
}

static void
read_count(struct bufferevent *bev, void *arg)
{
	(*(int *)arg)++;
}

/* session.c: a session's bufferevent, plain, and TLS without a context */
static void
test_session_bufferevent(struct harness *h)
{
	struct tls_server tls;
	struct bufferevent *bev;
	int sv[2], reads = 0, i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1) {
		CHECK("socketpair", 0);
		return;
	}
	bev = session_bufferevent(
	    h->base, sv[0], NULL, 4, read_count, NULL, NULL, &reads);
	if (write(sv[1], "hello, world", 12) != 12)
		CHECK("write", 0);
	for (i = 0; reads == 0 && i < WAIT_MS / 10; i++)
		loop_for(h, 10);
	CHECK("plain: read, no more than its window ahead",
	    bev != NULL && reads > 0 &&
		evbuffer_get_length(bufferevent_get_input(bev)) == 4);
	if (bev != NULL)
		bufferevent_free(bev);
	tls_server_init(&tls, "cert", "key");
	CHECK("TLS without a certificate: none, the socket left open",
	    session_bufferevent(h->base, sv[0], &tls, 4, read_count, NULL,
		NULL, &reads) == NULL &&
		fcntl(sv[0], F_GETFD) != -1);
	close(sv[0]);
	close(sv[1]);
}

static void
timer_fired(evutil_socket_t fd, short events, void *arg)
{
	*(uint64_t *)arg = now_ms();
}

/* session.c: a timer in ms, not before its time */
static void
test_timer_add_ms(struct harness *h)
{
	struct event *ev;
	uint64_t start = now_ms(), fired = 0;

	if ((ev = evtimer_new(h->base, timer_fired, &fired)) == NULL) {
		CHECK("evtimer_new", 0);
		return;
	}
	timer_add_ms(ev, 1250);
	while (fired == 0 && now_ms() - start < WAIT_MS)
		loop_for(h, 10);
	/*
	 * libevent reads CLOCK_MONOTONIC_COARSE, a tick (a few ms) behind
	 * the clock now_ms() reads: the timer may seem that much early.
	 */
	CHECK("a timer of 1250 ms goes off after 1250 ms",
	    fired != 0 && fired - start + 10 >= 1250 &&
		fired - start < WAIT_MS);
	event_free(ev);
}

/* session.c: the parent's listener and TLS messages, and bad ones */
static void
test_parent_imsg(struct harness *h)
{
	struct boxd_config conf;
	struct tls_server tls;
	struct msg_writer w;
	struct imsg imsg;
	uint16_t port;
	int fd;

	config_defaults(&conf);
	conf.nlisteners = 1;
	strlcpy(conf.listeners[0].addr, "127.0.0.1",
	    sizeof(conf.listeners[0].addr));
	conf.listeners[0].kind = LISTEN_SMTP;
	tls_server_init(&tls, "cert", "key");
	memset(&imsg, 0, sizeof(imsg));
	fd = listen_loopback(&port);
	imsg.hdr.type = IMSG_CONF_LISTENER;
	imsg.hdr.peerid = 1;
	imsg.fd = fd;
	CHECK("a listener beyond the config's is refused",
	    fd != -1 && session_parent_imsg(h->ls, &conf, &tls, &imsg) != NULL &&
		imsg.fd == fd);
	imsg.hdr.peerid = 0;
	imsg.fd = -1;
	CHECK("a listener without its socket is refused",
	    session_parent_imsg(h->ls, &conf, &tls, &imsg) != NULL);
	imsg.fd = fd;
	CHECK("a listener is taken in, its socket with it",
	    session_parent_imsg(h->ls, &conf, &tls, &imsg) == NULL &&
		imsg.fd == -1);
	imsg.hdr.type = IMSG_CONF_TLS;
	imsg.data = "x";
	imsg.datalen = 1;
	CHECK("malformed TLS material is refused",
	    session_parent_imsg(h->ls, &conf, &tls, &imsg) != NULL &&
		!tls_server_available(&tls));
	msg_writer_init(&w);
	msg_put_str(&w, "CERT");
	msg_put_str(&w, "KEY");
	imsg.data = w.buf;
	imsg.datalen = w.len;
	CHECK("TLS material is taken in",
	    session_parent_imsg(h->ls, &conf, &tls, &imsg) == NULL &&
		tls_server_available(&tls));
	msg_writer_free(&w);
	imsg.hdr.type = IMSG_CONF_END;
	CHECK("another message is refused",
	    session_parent_imsg(h->ls, &conf, &tls, &imsg) != NULL);
	tls_server_forget(&tls);
}

int
main(void)
{
	struct harness h;

	memset(&h, 0, sizeof(h));
	log_init(1, LOG_LEVEL_INFO, "test_listener");
	test_client_key();
	if ((h.base = event_base_new()) == NULL) {
		CHECK("event base", 0);
		TEST_EXIT();
	}
	h.per_client = 2;
	h.ls = listener_set_new(h.base, &harness_ops, &h, 2);
	test_counting(&h);
	test_cap(&h);
	test_accept_loop(&h);
	test_parent_imsg(&h);
	test_session_bufferevent(&h);
	test_timer_add_ms(&h);
	listener_set_free(h.ls);
	event_base_free(h.base);
	TEST_EXIT();
}
