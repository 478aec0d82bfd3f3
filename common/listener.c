/*
 * The accept loop of a role that serves the listeners the parent bound
 * (smtp now, imap next): it counts sessions per client address (an IPv6
 * client by its /64) and in all, refuses a connection over either limit
 * with the role's one-line reply, and rests every listener for a second
 * when accept() runs out of descriptors or memory.
 */

#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"

/* refused connections and accept() failures log at most this often */
#define LISTENER_LOG_INTERVAL 10
/* how long the listeners rest after accept() ran out of something */
#define LISTENER_PAUSE_SECONDS 1
/* connections taken from one listener before the others get a turn */
#define LISTENER_ACCEPT_BATCH 64
/*
 * Descriptors kept for what is not a session: stdio, the imsg channels,
 * the listeners, epoll, syslog and libevent's own.
 */
#define LISTENER_FD_RESERVE 32

struct listener_client {
	RB_ENTRY(listener_client) entry;
	struct listener_set *set;
	char key[LISTENER_KEY_MAX];
	uint32_t n;
};

_Static_assert(LISTENER_KEY_MAX >= INET6_ADDRSTRLEN + 3, "LISTENER_KEY_MAX");

RB_HEAD(listener_client_tree, listener_client);

static int
listener_client_cmp(struct listener_client *a, struct listener_client *b)
{
	return strcmp(a->key, b->key);
}

RB_GENERATE_STATIC(
    listener_client_tree, listener_client, entry, listener_client_cmp);

/* a log line that may come once per connection, at most once a while */
struct log_limit {
	time_t last;
	uint32_t suppressed;
};

struct listener {
	TAILQ_ENTRY(listener) entry;
	struct listener_set *set;
	int fd;
	enum listen_kind kind;
	struct event *ev;
};

struct listener_set {
	struct event_base *base;
	const struct listener_ops *ops;
	void *arg;
	TAILQ_HEAD(, listener) listeners;
	struct listener_client_tree clients;
	struct event *resume_ev;
	int paused;
	uint32_t nsessions;
	uint32_t fd_sessions; /* the cap RLIMIT_NOFILE allows */
	uint32_t warned_sessions;
	struct log_limit log_refused_sessions;
	struct log_limit log_refused_client;
	struct log_limit log_accept;
};

static void listener_log_limited(struct log_limit *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
listener_log_limited(struct log_limit *l, const char *fmt, ...)
{
	char msg[256];
	time_t now = time(NULL);
	va_list ap;

	if (l->last != 0 && now - l->last < LISTENER_LOG_INTERVAL) {
		l->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->suppressed > 0)
		log_warnx(
		    "%s (%u more since the last report)", msg, l->suppressed);
	else
		log_warnx("%s", msg);
	l->last = now;
	l->suppressed = 0;
}

void
listener_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in6 *sin6;
	const void *ip;
	int af = sa->sa_family;

	if (af == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		ip = &sin6->sin6_addr;
		/* an IPv4 client of a dual-stack listener is that IPv4 */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			af = AF_INET;
			ip = &sin6->sin6_addr.s6_addr[12];
		}
	} else if (af == AF_INET)
		ip = &((const struct sockaddr_in *)sa)->sin_addr;
	else
		ip = NULL;
	if (ip == NULL || inet_ntop(af, ip, buf, len) == NULL)
		strlcpy(buf, "unknown", len);
}

void
listener_client_key(const struct sockaddr *sa, char *buf, size_t len)
{
	struct in6_addr net;

	/* one IPv6 host holds a whole /64: count the network */
	if (sa->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(
		&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		net = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		memset(&net.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &net, buf, len) == NULL ||
		    strlcat(buf, "/64", len) >= len)
			strlcpy(buf, "unknown", len);
		return;
	}
	listener_addr_text(sa, buf, len);
}

/* the fd limit as high as it goes, and the sessions it allows */
static void
listener_fd_limit_init(struct listener_set *ls, size_t nlisteners)
{
	uint64_t n, reserve = LISTENER_FD_RESERVE + nlisteners;
	uint64_t per = ls->ops->session_fds;

	n = fd_limit_raise();
	if (n > reserve + per)
		ls->fd_sessions = (uint32_t)((n - reserve) / per);
	else
		ls->fd_sessions = 1;
	log_debug("%u sessions at most (%llu descriptors)", ls->fd_sessions,
	    (unsigned long long)n);
}

uint32_t
listener_session_cap(struct listener_set *ls)
{
	uint32_t cap, per_client;

	ls->ops->limits(ls->arg, &cap, &per_client);
	if (cap == 0)
		return ls->fd_sessions;
	/* past its descriptors a session could not do its work */
	if (cap > ls->fd_sessions) {
		if (cap != ls->warned_sessions)
			log_warnx("%s %u: the descriptor limit allows %u, "
				  "using that",
			    ls->ops->sessions_directive, cap, ls->fd_sessions);
		ls->warned_sessions = cap;
		return ls->fd_sessions;
	}
	return cap;
}

struct listener_set *
listener_set_new(struct event_base *base, const struct listener_ops *ops,
    void *arg, size_t nlisteners)
{
	struct listener_set *ls;

	ls = xcalloc(1, sizeof(*ls));
	ls->base = base;
	ls->ops = ops;
	ls->arg = arg;
	TAILQ_INIT(&ls->listeners);
	RB_INIT(&ls->clients);
	listener_fd_limit_init(ls, nlisteners);
	/* says now if the configured cap is lowered */
	listener_session_cap(ls);
	return ls;
}

void
listener_set_free(struct listener_set *ls)
{
	struct listener *l;

	if (ls->nsessions > 0)
		fatalx("listener_set_free: %u sessions left", ls->nsessions);
	while ((l = TAILQ_FIRST(&ls->listeners)) != NULL) {
		TAILQ_REMOVE(&ls->listeners, l, entry);
		event_free(l->ev);
		close(l->fd);
		free(l);
	}
	if (ls->resume_ev != NULL)
		event_free(ls->resume_ev);
	free(ls);
}

uint32_t
listener_sessions(struct listener_set *ls)
{
	return ls->nsessions;
}

struct listener_client *
listener_client_add(struct listener_set *ls, const struct sockaddr *sa)
{
	struct listener_client key, *c;
	uint32_t cap, per_client;

	ls->ops->limits(ls->arg, &cap, &per_client);
	listener_client_key(sa, key.key, sizeof(key.key));
	if ((c = RB_FIND(listener_client_tree, &ls->clients, &key)) == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->set = ls;
		strlcpy(c->key, key.key, sizeof(c->key));
		RB_INSERT(listener_client_tree, &ls->clients, c);
	}
	if (c->n >= per_client) {
		if (c->n == 0) {
			RB_REMOVE(listener_client_tree, &ls->clients, c);
			free(c);
		}
		return NULL;
	}
	c->n++;
	ls->nsessions++;
	return c;
}

uint32_t
listener_client_count(const struct listener_client *c)
{
	return c->n;
}

void
listener_client_del(struct listener_client *c)
{
	struct listener_set *ls = c->set;

	ls->nsessions--;
	if (--c->n == 0) {
		RB_REMOVE(listener_client_tree, &ls->clients, c);
		free(c);
	}
}

/*
 * A refused connection: the role's one line if it has one for this kind
 * of listener, then close.  The socket is non-blocking and SIGPIPE
 * ignored, so write() will do (the sandboxes have no send() but on the
 * syslog socket).
 */
static void
listener_refuse(struct listener_set *ls, int fd, enum listen_kind kind,
    enum listener_refusal why)
{
	const char *reply;

	if ((reply = ls->ops->refusal(kind, why)) != NULL &&
	    write(fd, reply, strlen(reply)) == -1)
		log_debug("refused connection: %s", strerror(errno));
	close(fd);
}

static void
listener_resume(evutil_socket_t fd, short events, void *arg)
{
	struct listener_set *ls = arg;
	struct listener *l;

	ls->paused = 0;
	TAILQ_FOREACH(l, &ls->listeners, entry)
		event_add(l->ev, NULL);
}

/*
 * accept() ran out of descriptors or memory: the pending connection stays
 * in the backlog and the listener would fire again at once.  Rest every
 * listener instead; sessions that end meanwhile free what was missing.
 */
static void
listener_pause(struct listener_set *ls, int error)
{
	struct timeval tv = {LISTENER_PAUSE_SECONDS, 0};
	struct listener *l;

	TAILQ_FOREACH(l, &ls->listeners, entry)
		event_del(l->ev);
	ls->paused = 1;
	if (ls->resume_ev == NULL &&
	    (ls->resume_ev = evtimer_new(ls->base, listener_resume, ls)) ==
		NULL)
		fatalx("evtimer_new");
	evtimer_add(ls->resume_ev, &tv);
	listener_log_limited(&ls->log_accept,
	    "accept: %s; not accepting connections for %d s (%u sessions)",
	    strerror(error), LISTENER_PAUSE_SECONDS, ls->nsessions);
}

static void
listener_accept(evutil_socket_t lfd, short events, void *arg)
{
	struct listener *l = arg;
	struct listener_set *ls = l->set;
	struct listener_client *c;
	struct sockaddr_storage ss;
	char addr[INET6_ADDRSTRLEN];
	socklen_t len;
	int fd, i;

	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
			case ECONNABORTED:
				break;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				listener_pause(ls, errno);
				break;
			default:
				listener_log_limited(&ls->log_accept,
				    "accept: %s", strerror(errno));
				break;
			}
			return;
		}
		/* accepted and closed at once: the cap keeps fds in reserve */
		if (ls->nsessions >= listener_session_cap(ls)) {
			listener_log_limited(&ls->log_refused_sessions,
			    "%u sessions: refusing new connections",
			    ls->nsessions);
			listener_refuse(ls, fd, l->kind, LISTENER_FULL);
			continue;
		}
		if ((c = listener_client_add(ls, (struct sockaddr *)&ss)) ==
		    NULL) {
			listener_addr_text(
			    (struct sockaddr *)&ss, addr, sizeof(addr));
			listener_log_limited(&ls->log_refused_client,
			    "%s: too many connections from this address", addr);
			listener_refuse(ls, fd, l->kind, LISTENER_CLIENT_FULL);
			continue;
		}
		ls->ops->accept(
		    ls->arg, fd, (struct sockaddr *)&ss, l->kind, c);
	}
}

void
listener_add(struct listener_set *ls, int fd, enum listen_kind kind)
{
	struct listener *l;

	l = xcalloc(1, sizeof(*l));
	l->set = ls;
	l->fd = fd;
	l->kind = kind;
	if ((l->ev = event_new(ls->base, fd, EV_READ | EV_PERSIST,
		 listener_accept, l)) == NULL)
		fatalx("event_new");
	TAILQ_INSERT_TAIL(&ls->listeners, l, entry);
	if (!ls->paused)
		event_add(l->ev, NULL);
}
