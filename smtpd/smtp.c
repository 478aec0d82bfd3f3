/*
 * The smtp role: accepts connections on the smtp, submission and
 * submissions listeners and routes the answers of auth and queue to the
 * sessions waiting for them.
 */

#include <sys/resource.h>
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

#include "boxd.h"
#include "smtpd.h"

/* refused connections and accept() failures log at most this often */
#define SMTP_LOG_INTERVAL 10
/* how long the listeners rest after accept() ran out of something */
#define SMTP_PAUSE_SECONDS 1
/*
 * Descriptors kept for what is not a session: stdio, the imsg channels,
 * the listeners, epoll, syslog and libevent's own.
 */
#define SMTP_FD_RESERVE 32

struct smtp_client {
	RB_ENTRY(smtp_client) entry;
	char key[INET6_ADDRSTRLEN + 4];
	uint32_t n;
};

RB_HEAD(client_tree, smtp_client);

static int
client_cmp(struct smtp_client *a, struct smtp_client *b)
{
	return strcmp(a->key, b->key);
}

RB_GENERATE_STATIC(client_tree, smtp_client, entry, client_cmp);

/* a log line that may come once per connection, at most once a while */
struct log_limit {
	time_t last;
	uint32_t suppressed;
};

/*
 * The TLS context is made when the first client asks for TLS: until then
 * the process carries no OpenSSL state (the parent has checked the
 * certificate and key already).
 */
static void *tls_ctx;
static char *tls_cert_pem, *tls_key_pem;
static struct client_tree clients = RB_INITIALIZER(&clients);
static struct smtp_listener listeners[CONFIG_LISTEN_MAX];
static struct event *resume_ev;
static int accept_paused;
static uint64_t next_reqid = 1;
static uint64_t stat_sessions;
static uint32_t nsessions;
static uint32_t fd_sessions; /* the cap RLIMIT_NOFILE allows */
static uint32_t warned_sessions;
static struct log_limit log_refused_sessions, log_refused_client, log_accept;

uint64_t
smtp_new_reqid(void)
{
	return next_reqid++;
}

void
smtp_stat_session(void)
{
	stat_sessions++;
}

static void smtp_log_limited(struct log_limit *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
smtp_log_limited(struct log_limit *l, const char *fmt, ...)
{
	char msg[256];
	time_t now = time(NULL);
	va_list ap;

	if (l->last != 0 && now - l->last < SMTP_LOG_INTERVAL) {
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
smtp_addr_text(const struct sockaddr *sa, char *buf, size_t len)
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
smtp_client_key(const struct sockaddr *sa, char *buf, size_t len)
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
	smtp_addr_text(sa, buf, len);
}

/* the fd limit as high as it goes, and the sessions it allows */
static void
smtp_fd_limit_init(void)
{
	struct rlimit rl;
	rlim_t n, reserve = SMTP_FD_RESERVE + child->conf.nlisteners;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			fatal("getrlimit");
	}
	n = rl.rlim_cur;
	if (n == RLIM_INFINITY || n > UINT32_MAX)
		n = UINT32_MAX;
	/* a session holds its socket and, while it receives, a spool file */
	if (n > reserve + 2)
		fd_sessions = (uint32_t)((n - reserve) / 2);
	else
		fd_sessions = 1;
	log_debug("%u sessions at most (%llu descriptors)", fd_sessions,
	    (unsigned long long)n);
}

/*
 * Past the descriptors it has, smtp could not take the spool file of a
 * message in flight: a cap above what the fd limit allows is lowered.
 */
static uint32_t
smtp_session_cap(void)
{
	uint32_t cap = child->conf.limit_sessions;

	if (cap == 0)
		return fd_sessions;
	if (cap > fd_sessions) {
		if (cap != warned_sessions)
			log_warnx("limit sessions %u: the descriptor limit "
				  "allows %u, using that",
			    cap, fd_sessions);
		warned_sessions = cap;
		return fd_sessions;
	}
	return cap;
}

/* count a new session from sa; NULL if its address is over its limit */
static struct smtp_client *
smtp_client_add(const struct sockaddr *sa)
{
	struct smtp_client key, *c;

	smtp_client_key(sa, key.key, sizeof(key.key));
	if ((c = RB_FIND(client_tree, &clients, &key)) == NULL) {
		c = xcalloc(1, sizeof(*c));
		strlcpy(c->key, key.key, sizeof(c->key));
		RB_INSERT(client_tree, &clients, c);
	}
	if (c->n >= child->conf.limit_connections)
		return NULL;
	c->n++;
	nsessions++;
	return c;
}

void
smtp_client_del(struct smtp_client *c)
{
	nsessions--;
	if (--c->n == 0) {
		RB_REMOVE(client_tree, &clients, c);
		free(c);
	}
}

/*
 * A refused connection: one line if it is in plaintext, then close.  The
 * socket is non-blocking and SIGPIPE ignored, so write() will do (the
 * sandbox has no send() but on the syslog socket).
 */
static void
smtp_refuse(int fd, enum listen_kind kind, const char *reply)
{
	if (kind != LISTEN_SUBMISSIONS && write(fd, reply, strlen(reply)) == -1)
		log_debug("refused connection: %s", strerror(errno));
	close(fd);
}

static void
smtp_resume(evutil_socket_t fd, short events, void *arg)
{
	size_t i;

	accept_paused = 0;
	for (i = 0; i < CONFIG_LISTEN_MAX; i++)
		if (listeners[i].ev != NULL)
			event_add(listeners[i].ev, NULL);
}

/*
 * accept() ran out of descriptors or memory: the pending connection stays
 * in the backlog and the listener would fire again at once.  Rest every
 * listener instead; sessions that end meanwhile free what was missing.
 */
static void
smtp_pause(int error)
{
	struct timeval tv = {SMTP_PAUSE_SECONDS, 0};
	size_t i;

	for (i = 0; i < CONFIG_LISTEN_MAX; i++)
		if (listeners[i].ev != NULL)
			event_del(listeners[i].ev);
	accept_paused = 1;
	if (resume_ev == NULL &&
	    (resume_ev = evtimer_new(child->base, smtp_resume, NULL)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(resume_ev, &tv);
	smtp_log_limited(&log_accept,
	    "accept: %s; not accepting connections for %d s (%u sessions)",
	    strerror(error), SMTP_PAUSE_SECONDS, nsessions);
}

static void
smtp_accept(evutil_socket_t lfd, short events, void *arg)
{
	struct smtp_listener *l = arg;
	struct smtp_client *c;
	struct sockaddr_storage ss;
	char addr[INET6_ADDRSTRLEN];
	socklen_t len;
	int fd, i;

	for (i = 0; i < 64; i++) {
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
				smtp_pause(errno);
				break;
			default:
				smtp_log_limited(
				    &log_accept, "accept: %s", strerror(errno));
				break;
			}
			return;
		}
		/* accepted and closed at once: the cap keeps fds in reserve */
		if (nsessions >= smtp_session_cap()) {
			smtp_log_limited(&log_refused_sessions,
			    "%u sessions: refusing new connections", nsessions);
			smtp_refuse(fd, l->kind,
			    "421 4.3.2 Too many sessions, try again later\r\n");
			continue;
		}
		if ((c = smtp_client_add((struct sockaddr *)&ss)) == NULL) {
			smtp_addr_text(
			    (struct sockaddr *)&ss, addr, sizeof(addr));
			smtp_log_limited(&log_refused_client,
			    "%s: too many connections from this address", addr);
			smtp_refuse(fd, l->kind,
			    "421 4.7.0 Too many connections from your "
			    "address, try again later\r\n");
			continue;
		}
		smtp_session_new(fd, (struct sockaddr *)&ss, l->kind, c);
	}
}

static void
smtp_add_listener(struct imsg *imsg)
{
	struct smtp_listener *l;
	uint32_t idx = imsg->hdr.peerid;

	if (idx >= child->conf.nlisteners || imsg->fd == -1)
		child_bad_imsg(imsg, "listener");
	l = &listeners[idx];
	l->fd = imsg->fd;
	imsg->fd = -1;
	l->kind = child->conf.listeners[idx].kind;
	if ((l->ev = event_new(child->base, l->fd, EV_READ | EV_PERSIST,
		 smtp_accept, l)) == NULL)
		fatalx("event_new");
	if (!accept_paused)
		event_add(l->ev, NULL);
	log_debug("listening on %s port %u (%s)",
	    child->conf.listeners[idx].addr, child->conf.listeners[idx].port,
	    listen_kind_name(l->kind));
}

static void
smtp_forget_pem(void)
{
	if (tls_key_pem != NULL)
		freezero(tls_key_pem, strlen(tls_key_pem));
	free(tls_cert_pem);
	tls_cert_pem = tls_key_pem = NULL;
}

int
smtp_tls_available(void)
{
	return tls_ctx != NULL || tls_cert_pem != NULL;
}

void *
smtp_tls(void)
{
	char err[256] = "";
	void *ctx;

	if (tls_cert_pem == NULL)
		return tls_ctx;
	if ((ctx = tls_server_ctx(
		 tls_cert_pem, tls_key_pem, err, sizeof(err))) == NULL)
		log_warnx("tls: %s (%s, %s)", err, child->conf.tls_cert,
		    child->conf.tls_key);
	else {
		tls_ctx_free(tls_ctx);
		tls_ctx = ctx;
	}
	smtp_forget_pem();
	return tls_ctx;
}

/* a reload brings the certificate again: renewed ones take effect */
static void
smtp_reload_tls(struct imsg *imsg, struct msg_reader *r)
{
	smtp_forget_pem();
	if (msg_get_strdup(r, &tls_cert_pem, IMSG_MAX_SIZE) == -1 ||
	    msg_get_strdup(r, &tls_key_pem, IMSG_MAX_SIZE) == -1 ||
	    msg_get_end(r) == -1)
		child_bad_imsg(imsg, "tls");
	/* a context in use is replaced now, else on first use */
	if (tls_ctx != NULL)
		smtp_tls();
	log_info("tls: certificate reloaded");
}

static void
smtp_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_CONF_LISTENER:
		smtp_add_listener(imsg);
		break;
	case IMSG_CONF_TLS:
		smtp_reload_tls(imsg, &r);
		break;
	default:
		child_bad_imsg(imsg, "from parent");
	}
}

static void
smtp_dispatch_auth(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;
	uint64_t reqid;
	uint32_t status, n, i;
	char **mailboxes;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (imsg->hdr.type != IMSG_AUTH_RCPT_RESULT ||
	    msg_get_u64(&r, &reqid) == -1 || msg_get_u32(&r, &status) == -1 ||
	    msg_get_u32(&r, &n) == -1 || n > r.left / 4)
		child_bad_imsg(imsg, "from auth");
	mailboxes = xcalloc(n + 1, sizeof(*mailboxes));
	for (i = 0; i < n; i++)
		if (msg_get_strdup(
			&r, &mailboxes[i], ENVELOPE_MAILBOX_MAX - 1) == -1)
			child_bad_imsg(imsg, "rcpt result");
	if (msg_get_end(&r) == -1)
		child_bad_imsg(imsg, "rcpt result");
	smtp_session_rcpt_result(reqid, status, mailboxes, n);
	for (i = 0; i < n; i++)
		free(mailboxes[i]);
	free(mailboxes);
}

static void
smtp_dispatch_queue(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;
	uint64_t reqid, msgid;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_u64(&r, &reqid) == -1)
		child_bad_imsg(imsg, "from queue");
	switch (imsg->hdr.type) {
	case IMSG_QUEUE_CREATE_OK:
		if (msg_get_u64(&r, &msgid) == -1 || msg_get_end(&r) == -1 ||
		    imsg->fd == -1)
			child_bad_imsg(imsg, "create ok");
		smtp_session_created(reqid, msgid, imsg->fd);
		imsg->fd = -1;
		break;
	case IMSG_QUEUE_CREATE_FAIL:
		if (msg_get_end(&r) == -1)
			child_bad_imsg(imsg, "create fail");
		smtp_session_create_failed(reqid);
		break;
	case IMSG_QUEUE_COMMIT_OK:
	case IMSG_QUEUE_COMMIT_FAIL:
		if (msg_get_end(&r) == -1)
			child_bad_imsg(imsg, "commit");
		smtp_session_committed(
		    reqid, imsg->hdr.type == IMSG_QUEUE_COMMIT_OK);
		break;
	default:
		child_bad_imsg(imsg, "from queue");
	}
}

static void
smtp_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_writer w;
	uint64_t v[CTL_COUNTERS] = {0};

	if (imsg->hdr.type != IMSG_STATS_REQ ||
	    ctl_empty_decode(imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "from control");
	v[CTL_SESSIONS] = stat_sessions;
	msg_writer_init(&w);
	ctl_stats_encode(&w, v);
	child_send(PROC_CONTROL, IMSG_STATS, imsg->hdr.peerid, -1, &w);
}

void
smtp_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};

	child_init(PROC_SMTP, smtp_dispatch_parent);
	/* loaded even without a certificate: a reload may bring one */
	tls_load();
	tls_cert_pem = child->tls_cert_pem;
	tls_key_pem = child->tls_key_pem;
	child->tls_cert_pem = child->tls_key_pem = NULL;
	smtp_fd_limit_init();
	/* says now if the configured cap is lowered */
	smtp_session_cap();
	child_drop();
	child_sandbox();

	handlers[PROC_AUTH] = smtp_dispatch_auth;
	handlers[PROC_QUEUE] = smtp_dispatch_queue;
	handlers[PROC_CONTROL] = smtp_dispatch_control;
	child_run(handlers);
}
