/*
 * mta's SMTP client session (RFC 5321, 3207, 2920, 1870, 6152, 6531,
 * 3461): one connection at a time to the addresses of a route, one
 * transaction at a time on it.  The replies go through smtp_reply.c's
 * parser; the message is read from its spool file a chunk at a time, as
 * the socket drains, and converted on the way (LF to CRLF, dot-stuffing),
 * so neither a big message nor a peer that stops reading grows a buffer
 * past a few chunks.  Every wait has its timer.  The caller hears of a
 * finished transaction from an event of its own, never from inside a
 * libevent callback of the connection, so it may do anything then.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "smtpd.h"

#define MTA_CHUNK	 16384		 /* read from the spool at a time */
#define MTA_OUT_LOW	 (4 * MTA_CHUNK) /* refill the body below this */
#define MTA_OUT_HIGH	 (8 * MTA_CHUNK) /* fill the body up to this */
#define MTA_XTEXT_MAX	 (3 * SMTP_PATH_MAX + 1)
#define MTA_QUIT_TIMEOUT 10000 /* ms for the reply to QUIT */

enum mta_state {
	MTA_S_NONE,	/* no connection */
	MTA_S_CONNECT,	/* TCP connecting */
	MTA_S_GREETING, /* waiting for the 220 */
	MTA_S_EHLO,
	MTA_S_HELO,
	MTA_S_STARTTLS,
	MTA_S_TLS,	 /* the handshake */
	MTA_S_AUTH,	 /* AUTH PLAIN, or LOGIN waiting for its first 334 */
	MTA_S_AUTH_USER, /* LOGIN: the user name is out */
	MTA_S_AUTH_PASS, /* LOGIN: the password is out */
	MTA_S_RSET,
	MTA_S_MAIL,
	MTA_S_RCPT,
	MTA_S_DATA,
	MTA_S_BODY, /* sending it */
	MTA_S_DOT,  /* waiting for the reply to the final dot */
	MTA_S_IDLE, /* connected, no transaction */
	MTA_S_QUIT,
};

struct mta_session {
	struct event_base *base;
	struct sockaddr_storage *addrs;
	size_t naddrs;
	size_t addr;	 /* the one being tried */
	int clear_retry; /* this try is the clear one after STARTTLS failed */
	int reused;	 /* the send began on a connection kept idle */
	uint16_t port;
	char *helo;
	char *host;
	void *tls_ctx;
	enum mta_tls_policy tls_policy;
	char *auth_user;
	char *auth_pass;
	struct mta_timeouts to;

	enum mta_state state;
	struct bufferevent *bev;
	struct event *timer;
	struct event *done_ev;
	struct smtp_reply_parser parser;
	struct mta_session_info info;
	char last_error[MTA_RESULT_MAX];
	char last_enhanced[SMTP_REPLY_ESC_MAX];
	int quitting;
	int auth_login; /* AUTH LOGIN rather than PLAIN */
	int need_rset;	/* a transaction was started on this connection */

	/* the transaction */
	const struct mta_message *msg;
	mta_session_cb cb;
	void *cb_arg;
	struct mta_rcpt_result *results;
	size_t nresults;
	int mail_sent; /* MAIL is out: failures are the transaction's */
	int mail_ok;
	int pipelining;
	int body_8bit; /* BODY=8BITMIME goes with MAIL */
	size_t rcpt_sent;
	size_t rcpt_replied;
	size_t accepted;
	uint64_t rd_off; /* of the prepended headers and body together */
	int bol;	 /* the next octet starts a line */
};

static void mta_connect(struct mta_session *);
static void mta_read(struct bufferevent *, void *);
static void mta_write(struct bufferevent *, void *);
static void mta_event(struct bufferevent *, short, void *);

void
mta_timeouts_default(struct mta_timeouts *to)
{
	to->connect = 30 * 1000;
	to->greeting = 5 * 60 * 1000;
	to->command = 5 * 60 * 1000;
	to->mail = 5 * 60 * 1000;
	to->rcpt = 5 * 60 * 1000;
	to->data_init = 2 * 60 * 1000;
	to->data_block = 3 * 60 * 1000;
	to->data_end = 10 * 60 * 1000;
}

static void
mta_timer_set(struct mta_session *s, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (evtimer_add(s->timer, &tv) == -1)
		fatalx("mta: evtimer_add");
}

/* the connection goes; the session stays */
static void
mta_disconnect(struct mta_session *s)
{
	/* the bufferevent owns the descriptor: libevent closes it */
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	evtimer_del(s->timer);
	smtp_reply_parser_free(&s->parser);
	smtp_reply_parser_init(&s->parser);
	s->state = MTA_S_NONE;
	s->need_rset = 0;
}

static void
mta_set_result(struct mta_rcpt_result *r, enum mta_rcpt_status status, int code,
    const char *enhanced, const char *text)
{
	r->status = status;
	r->code = code;
	strlcpy(r->enhanced, enhanced, sizeof(r->enhanced));
	strlcpy(r->text, text, sizeof(r->text));
}

/* the recipients without an answer (or accepted, waiting) get this one */
static void
mta_fail_open(struct mta_session *s, enum mta_rcpt_status status, int code,
    const char *enhanced, const char *text)
{
	size_t i;

	for (i = 0; i < s->nresults; i++)
		if (s->results[i].status == MTA_RCPT_PENDING)
			mta_set_result(
			    &s->results[i], status, code, enhanced, text);
}

/* the transaction is over: the caller hears of it from the loop */
static void
mta_txn_done(struct mta_session *s)
{
	mta_fail_open(s, MTA_RCPT_TEMPFAIL, 0, "4.4.2",
	    "4.4.2 the transaction ended without an answer");
	evtimer_del(s->timer);
	if (s->bev != NULL)
		s->state = MTA_S_IDLE;
	event_active(s->done_ev, 0, 0);
}

static void
mta_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mta_session *s = arg;
	mta_session_cb cb = s->cb;

	s->msg = NULL;
	s->cb = NULL;
	if (cb != NULL)
		cb(s, s->results, s->nresults, s->cb_arg);
}

/*
 * The connection failed.  Before MAIL the next address is tried (or the
 * same one in the clear, after a STARTTLS that failed); after it, or
 * with no address left, the open recipients fail for now.
 */
static void
mta_conn_failed(struct mta_session *s, int tls_failed, const char *enhanced,
    const char *fmt, ...) __attribute__((__format__(printf, 4, 5)));

static void
mta_conn_failed(struct mta_session *s, int tls_failed, const char *enhanced,
    const char *fmt, ...)
{
	char why[MTA_RESULT_MAX - 80]; /* room for the code and peer */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(s->last_error, sizeof(s->last_error), "%s %s: %s", enhanced,
	    s->info.peer, why);
	strlcpy(s->last_enhanced, enhanced, sizeof(s->last_enhanced));
	log_debug("mta: %s", s->last_error);
	mta_disconnect(s);
	if (s->quitting) {
		mta_session_free(s);
		return;
	}
	if (s->msg == NULL)
		return;
	if (!s->mail_sent) {
		/* a connection kept from before died: a fresh one */
		if (s->reused) {
			s->reused = 0;
			s->addr = 0;
			s->clear_retry = 0;
			mta_connect(s);
			return;
		}
		if (tls_failed && !s->clear_retry &&
		    s->tls_policy == MTA_TLS_MAY) {
			s->clear_retry = 1;
			mta_connect(s);
			return;
		}
		s->clear_retry = 0;
		if (++s->addr < s->naddrs) {
			mta_connect(s);
			return;
		}
	}
	mta_fail_open(s, MTA_RCPT_TEMPFAIL, 0, s->last_enhanced, s->last_error);
	mta_txn_done(s);
}

static void
mta_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct mta_session *s = arg;

	mta_conn_failed(s, s->state == MTA_S_TLS, "4.4.2", "timed out %s",
	    s->state == MTA_S_CONNECT	     ? "connecting"
		: s->state == MTA_S_GREETING ? "waiting for the greeting"
		: s->state == MTA_S_TLS	     ? "in the TLS handshake"
		: s->state == MTA_S_BODY     ? "sending the message"
		: s->state == MTA_S_DOT	     ? "after the final dot"
					     : "waiting for a reply");
}

static void
mta_peer_name(struct mta_session *s)
{
	const struct sockaddr_storage *ss = &s->addrs[s->addr];
	char a[INET6_ADDRSTRLEN];
	const void *p;

	p = ss->ss_family == AF_INET6
	    ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
	    : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	if (inet_ntop(ss->ss_family, p, a, sizeof(a)) == NULL)
		strlcpy(a, "?", sizeof(a));
	snprintf(s->info.peer, sizeof(s->info.peer), "[%s]:%u", a,
	    (unsigned)s->port);
}

static void
mta_connect(struct mta_session *s)
{
	struct sockaddr_storage ss = s->addrs[s->addr];
	socklen_t len;
	int fd, on = 1;

	mta_peer_name(s);
	memset(&s->info.connected, 0,
	    sizeof(s->info) - offsetof(struct mta_session_info, connected));
	if (ss.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(s->port);
		len = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&ss)->sin_port = htons(s->port);
		len = sizeof(struct sockaddr_in);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_TCP);
	if (fd == -1) {
		mta_conn_failed(s, 0, "4.4.1", "socket: %s", strerror(errno));
		return;
	}
	/* commands are small; the body goes in big writes anyway */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_debug("mta: TCP_NODELAY: %s", strerror(errno));
	if ((s->bev = bufferevent_socket_new(
		 s->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("mta: bufferevent_socket_new");
	bufferevent_setcb(s->bev, mta_read, mta_write, mta_event, s);
	s->state = MTA_S_CONNECT;
	mta_timer_set(s, s->to.connect);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss, len) ==
	    -1) {
		mta_conn_failed(s, 0, "4.4.1", "connect: %s",
		    strerror(EVUTIL_SOCKET_ERROR()));
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
}

static void mta_send_line(struct mta_session *s, enum mta_state state, int ms,
    const char *fmt, ...) __attribute__((__format__(printf, 4, 5)));

static void
mta_send_line(
    struct mta_session *s, enum mta_state state, int ms, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(out, fmt, ap) == -1 ||
	    evbuffer_add(out, "\r\n", 2) == -1)
		fatalx("mta: evbuffer_add");
	va_end(ap);
	bufferevent_enable(s->bev, EV_WRITE);
	s->state = state;
	mta_timer_set(s, ms);
}

/* RFC 3461 4: xtext, "+HH" for '+', '=' and octets outside '!'..'~' */
static void
mta_xtext(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t o = 0;

	for (p = (const unsigned char *)in; *p != '\0' && o + 4 < len; p++) {
		if (*p < '!' || *p > '~' || *p == '+' || *p == '=') {
			out[o++] = '+';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		} else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
}

/* octet off of the message (prepended headers, then body) into buf */
static ssize_t
mta_msg_read(struct mta_session *s, uint64_t off, void *buf, size_t len)
{
	const struct mta_message *m = s->msg;
	uint64_t at, left;
	ssize_t n;

	if (off < m->prepend_size) {
		at = m->prepend_offset + off;
		left = m->prepend_size - off;
	} else {
		at = m->body_offset + (off - m->prepend_size);
		left = m->prepend_size + m->body_size - off;
	}
	if (left == 0)
		return 0;
	if (len > left)
		len = left;
	do
		n = pread(m->fd, buf, len, (off_t)at);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		errno = EIO; /* the file is shorter than it said */
		return -1;
	}
	return n;
}

/*
 * One pass over the message: its size as sent (CRLF line ends, RFC 1870
 * 3, without the stuffing dots) and, if eight is not NULL, whether it
 * holds an octet above 127.  0, or -1 if it cannot be read.
 */
static int
mta_msg_scan(struct mta_session *s, uint64_t *size, int *eight)
{
	unsigned char buf[MTA_CHUNK];
	const unsigned char *p, *end;
	uint64_t off = 0;
	ssize_t n, i;
	int last = '\n';

	*size = 0;
	if (eight != NULL)
		*eight = 0;
	while ((n = mta_msg_read(s, off, buf, sizeof(buf))) > 0) {
		end = buf + n;
		for (p = buf; (p = memchr(p, '\n', end - p)) != NULL; p++)
			(*size)++;
		if (eight != NULL && !*eight)
			for (i = 0; i < n; i++)
				if (buf[i] & 0x80) {
					*eight = 1;
					break;
				}
		last = buf[n - 1];
		off += (uint64_t)n;
	}
	if (n == -1)
		return -1;
	/* a CR for every LF, and a CRLF after a last line without one */
	*size += off + (last == '\n' ? 0 : 2);
	return 0;
}

static void
mta_send_rcpts(struct mta_session *s)
{
	const struct envelope_rcpt *r;
	char orcpt[MTA_XTEXT_MAX + 32], notify[64];
	const char *semi;

	while (s->rcpt_sent < s->msg->env->nrcpt &&
	    s->rcpt_sent - s->rcpt_replied <
		(s->pipelining ? MTA_PIPELINE_AHEAD : 1)) {
		r = &s->msg->env->rcpt[s->rcpt_sent++];
		notify[0] = orcpt[0] = '\0';
		if (s->info.ext & SMTP_EXT_DSN) {
			if (r->dsn_notify & DSN_NOTIFY_NEVER)
				strlcpy(
				    notify, " NOTIFY=NEVER", sizeof(notify));
			else if (r->dsn_notify != 0)
				snprintf(notify, sizeof(notify),
				    " NOTIFY=%s%s%s",
				    r->dsn_notify & DSN_NOTIFY_SUCCESS
					? "SUCCESS,"
					: "",
				    r->dsn_notify & DSN_NOTIFY_FAILURE
					? "FAILURE,"
					: "",
				    r->dsn_notify & DSN_NOTIFY_DELAY ? "DELAY,"
								     : "");
			/* the trailing comma goes */
			if (notify[0] != '\0' &&
			    notify[strlen(notify) - 1] == ',')
				notify[strlen(notify) - 1] = '\0';
			if ((semi = strchr(r->orcpt, ';')) != NULL &&
			    semi > r->orcpt) {
				snprintf(orcpt, sizeof(orcpt), " ORCPT=%.*s;",
				    (int)(semi - r->orcpt), r->orcpt);
				mta_xtext(semi + 1, orcpt + strlen(orcpt),
				    sizeof(orcpt) - strlen(orcpt));
			}
		}
		mta_send_line(s, MTA_S_RCPT, s->to.rcpt, "RCPT TO:<%s>%s%s",
		    r->addr, notify, orcpt);
	}
}

/*
 * MAIL, and the RCPTs (all of them, a window at a time, with
 * PIPELINING), once what the message needs of the peer is checked
 */
static void
mta_start_txn(struct mta_session *s)
{
	const struct envelope *env = s->msg->env;
	uint64_t size = s->msg->prepend_size + s->msg->body_size;
	char params[256 + MTA_XTEXT_MAX], envid[MTA_XTEXT_MAX], buf[64];
	int check8, eight = 0;

	if ((env->flags & ENVELOPE_SMTPUTF8) &&
	    !(s->info.ext & SMTP_EXT_SMTPUTF8)) {
		mta_fail_open(s, MTA_RCPT_PERMFAIL, 0, "5.6.7",
		    "5.6.7 the message needs SMTPUTF8, which the peer "
		    "does not offer");
		mta_txn_done(s);
		return;
	}
	/*
	 * 8-bit mail declared so but going to a 7-bit peer: it goes only
	 * if it holds no 8-bit octet after all, never altered
	 */
	s->body_8bit = (env->flags & ENVELOPE_8BITMIME) &&
	    (s->info.ext & SMTP_EXT_8BITMIME);
	check8 = (env->flags & ENVELOPE_8BITMIME) && !s->body_8bit;
	if ((check8 || (s->info.ext & SMTP_EXT_SIZE)) &&
	    mta_msg_scan(s, &size, check8 ? &eight : NULL) == -1) {
		log_warnx("mta: cannot read the message: %s", strerror(errno));
		mta_fail_open(s, MTA_RCPT_TEMPFAIL, 0, "4.3.0",
		    "4.3.0 cannot read the message");
		mta_txn_done(s);
		return;
	}
	if (eight) {
		mta_fail_open(s, MTA_RCPT_PERMFAIL, 0, "5.6.3",
		    "5.6.3 the message has 8-bit content and the peer does "
		    "not offer 8BITMIME");
		mta_txn_done(s);
		return;
	}
	if ((s->info.ext & SMTP_EXT_SIZE) && s->info.size_max != 0 &&
	    size > s->info.size_max) {
		snprintf(s->last_error, sizeof(s->last_error),
		    "5.3.4 the message is %llu octets, the peer takes "
		    "at most %llu",
		    (unsigned long long)size,
		    (unsigned long long)s->info.size_max);
		mta_fail_open(s, MTA_RCPT_PERMFAIL, 0, "5.3.4", s->last_error);
		mta_txn_done(s);
		return;
	}

	params[0] = '\0';
	if (s->info.ext & SMTP_EXT_SIZE) {
		snprintf(
		    buf, sizeof(buf), " SIZE=%llu", (unsigned long long)size);
		strlcat(params, buf, sizeof(params));
	}
	if (s->body_8bit)
		strlcat(params, " BODY=8BITMIME", sizeof(params));
	if (env->flags & ENVELOPE_SMTPUTF8)
		strlcat(params, " SMTPUTF8", sizeof(params));
	if (s->info.ext & SMTP_EXT_DSN) {
		if (env->flags & ENVELOPE_DSN_RET_FULL)
			strlcat(params, " RET=FULL", sizeof(params));
		else if (env->flags & ENVELOPE_DSN_RET_HDRS)
			strlcat(params, " RET=HDRS", sizeof(params));
		if (env->envid[0] != '\0') {
			mta_xtext(env->envid, envid, sizeof(envid));
			strlcat(params, " ENVID=", sizeof(params));
			strlcat(params, envid, sizeof(params));
		}
	}
	s->pipelining = (s->info.ext & SMTP_EXT_PIPELINING) != 0;
	s->mail_sent = 1;
	s->need_rset = 1;
	s->info.messages++;
	mta_send_line(
	    s, MTA_S_MAIL, s->to.mail, "MAIL FROM:<%s>%s", env->sender, params);
	if (s->pipelining)
		mta_send_rcpts(s);
	s->state = MTA_S_MAIL;
}

/* the connection is ready for a transaction: RSET after one */
static void
mta_ready(struct mta_session *s)
{
	if (s->need_rset)
		mta_send_line(s, MTA_S_RSET, s->to.command, "RSET");
	else
		mta_start_txn(s);
}

/* more of the body into the output, up to MTA_OUT_HIGH, or the dot */
static void
mta_fill_body(struct mta_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	uint64_t total = s->msg->prepend_size + s->msg->body_size;
	char in[MTA_CHUNK], conv[2 * MTA_CHUNK + 2];
	size_t o, i;
	ssize_t n;

	while (evbuffer_get_length(out) < MTA_OUT_HIGH && s->rd_off < total) {
		if ((n = mta_msg_read(s, s->rd_off, in, sizeof(in))) == -1) {
			/*
			 * never the final dot after a broken body: the
			 * connection goes, and the peer drops the message
			 */
			log_warnx("mta: cannot read the message: %s",
			    strerror(errno));
			s->mail_sent = 1;
			mta_conn_failed(s, 0, "4.3.0",
			    "cannot read the message: %s", strerror(errno));
			return;
		}
		for (i = 0, o = 0; i < (size_t)n; i++) {
			if (s->bol && in[i] == '.')
				conv[o++] = '.';
			if (in[i] == '\n') {
				conv[o++] = '\r';
				s->bol = 1;
			} else
				s->bol = 0;
			conv[o++] = in[i];
		}
		if (evbuffer_add(out, conv, o) == -1)
			fatalx("mta: evbuffer_add");
		s->rd_off += (uint64_t)n;
	}
	if (s->rd_off == total && s->state == MTA_S_BODY) {
		/* a last line without its LF gets one */
		if (evbuffer_add_printf(out, "%s.\r\n", s->bol ? "" : "\r\n") ==
		    -1)
			fatalx("mta: evbuffer_add");
		s->state = MTA_S_DOT;
		mta_timer_set(s, s->to.data_end);
		bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	}
}

static void
mta_write(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;

	if (s->state != MTA_S_BODY)
		return;
	/* the peer took more: it has data_block again for the next */
	mta_timer_set(s, s->to.data_block);
	mta_fill_body(s);
}

static void
mta_start_tls(struct mta_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct bufferevent *tls;
	int fd = bufferevent_getfd(s->bev);

	/* what the peer sent before the handshake is not to be trusted */
	evbuffer_drain(in, evbuffer_get_length(in));
	smtp_reply_parser_free(&s->parser);
	smtp_reply_parser_init(&s->parser);
	/* the descriptor leaves the plain bufferevent for the TLS one */
	if (bufferevent_setfd(s->bev, -1) == -1)
		fatalx("mta: bufferevent_setfd");
	bufferevent_free(s->bev);
	s->bev = NULL;
	if ((tls = tls_connect_bufferevent(s->base, fd, s->tls_ctx, s->host)) ==
	    NULL) {
		close(fd);
		mta_conn_failed(s, 1, "4.7.0", "cannot start TLS");
		return;
	}
	s->bev = tls;
	bufferevent_setcb(s->bev, mta_read, mta_write, mta_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->state = MTA_S_TLS;
	mta_timer_set(s, s->to.connect);
}

/* RFC 4648 base64 of len octets into out (4 * ((len + 2) / 3) + 1) */
static void
mta_base64(const unsigned char *in, size_t len, char *out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 0x3f];
		*out++ = b64[(v >> 6) & 0x3f];
		*out++ = b64[v & 0x3f];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 0x3f];
		*out++ = i + 1 < len ? b64[(v >> 6) & 0x3f] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* credentials go only over TLS, PLAIN rather than LOGIN */
static void
mta_auth(struct mta_session *s, uint32_t mechs)
{
	unsigned char plain[2 * SMTP_LINE_MAX];
	char b64[4 * sizeof(plain) / 3 + 8];
	size_t ulen = strlen(s->auth_user), plen = strlen(s->auth_pass);

	if (!s->info.tls) {
		mta_conn_failed(s, 0, "4.7.0", "no AUTH without TLS");
		return;
	}
	if (ulen + plen + 2 > sizeof(plain)) {
		mta_conn_failed(s, 0, "4.7.0", "the credentials are too long");
		return;
	}
	if (mechs & SMTP_AUTH_PLAIN) {
		s->auth_login = 0;
		plain[0] = '\0';
		memcpy(plain + 1, s->auth_user, ulen);
		plain[1 + ulen] = '\0';
		memcpy(plain + 2 + ulen, s->auth_pass, plen);
		mta_base64(plain, ulen + plen + 2, b64);
		mta_send_line(
		    s, MTA_S_AUTH, s->to.command, "AUTH PLAIN %s", b64);
		explicit_bzero(plain, sizeof(plain));
		explicit_bzero(b64, sizeof(b64));
	} else if (mechs & SMTP_AUTH_LOGIN) {
		s->auth_login = 1;
		mta_send_line(s, MTA_S_AUTH, s->to.command, "AUTH LOGIN");
	} else
		mta_conn_failed(s, 0, "4.7.0",
		    "the peer offers neither AUTH PLAIN nor LOGIN");
}

/* AUTH LOGIN's 334: the user name, then the password */
static void
mta_auth_login(struct mta_session *s)
{
	const char *what = s->state == MTA_S_AUTH ? s->auth_user : s->auth_pass;
	char b64[4 * SMTP_LINE_MAX / 3 + 8];

	if (strlen(what) > SMTP_LINE_MAX / 2) {
		mta_conn_failed(s, 0, "4.7.0", "the credentials are too long");
		return;
	}
	mta_base64((const unsigned char *)what, strlen(what), b64);
	mta_send_line(s,
	    s->state == MTA_S_AUTH ? MTA_S_AUTH_USER : MTA_S_AUTH_PASS,
	    s->to.command, "%s", b64);
	explicit_bzero(b64, sizeof(b64));
}

/*
 * What a refusal means for the recipients it concerns: a 2xx or 3xx
 * where it does not belong (a 354 to RCPT, a 250 to DATA) is no
 * delivery, only a peer out of step
 */
static enum mta_rcpt_status
mta_reply_status(int code)
{
	return code >= 500 ? MTA_RCPT_PERMFAIL : MTA_RCPT_TEMPFAIL;
}

/* a whole reply in the state the session is in */
static void
mta_reply(struct mta_session *s, const struct smtp_reply *r)
{
	struct smtp_ehlo ehlo;
	struct mta_rcpt_result *res;
	char text[MTA_RESULT_MAX];
	size_t i;
	int code = r->code;

	smtp_reply_format(r, text, sizeof(text));
	switch (s->state) {
	case MTA_S_GREETING:
		if (code != 220) {
			mta_conn_failed(s, 0, "4.0.0", "greeting: %s", text);
			return;
		}
		s->info.connected = 1;
		mta_send_line(s, MTA_S_EHLO, s->to.command, "EHLO %s", s->helo);
		break;
	case MTA_S_EHLO:
		if (code >= 500 && code < 600 && !s->info.tls) {
			mta_send_line(
			    s, MTA_S_HELO, s->to.command, "HELO %s", s->helo);
			break;
		}
		if (code != 250 || smtp_reply_ehlo(r, &ehlo) == -1) {
			mta_conn_failed(s, 0, "4.0.0", "EHLO: %s", text);
			return;
		}
		s->info.esmtp = 1;
		s->info.ext = ehlo.ext;
		s->info.size_max = ehlo.size_max;
		if ((ehlo.ext & SMTP_EXT_STARTTLS) && !s->info.tls &&
		    s->tls_ctx != NULL && !s->clear_retry) {
			mta_send_line(
			    s, MTA_S_STARTTLS, s->to.command, "STARTTLS");
			break;
		}
		if (!s->info.tls && s->tls_policy != MTA_TLS_MAY) {
			mta_conn_failed(s, 0, "4.7.0",
			    "TLS is required and the peer does not offer "
			    "STARTTLS");
			return;
		}
		if (s->auth_user != NULL) {
			mta_auth(s, ehlo.auth);
			break;
		}
		mta_ready(s);
		break;
	case MTA_S_AUTH:
	case MTA_S_AUTH_USER:
	case MTA_S_AUTH_PASS:
		if (code == 334 && s->state != MTA_S_AUTH_PASS &&
		    (s->state == MTA_S_AUTH_USER || s->auth_login)) {
			mta_auth_login(s);
			break;
		}
		if (code != 235) {
			mta_conn_failed(s, 0, "4.7.8", "AUTH: %s", text);
			return;
		}
		mta_ready(s);
		break;
	case MTA_S_HELO:
		if (code != 250) {
			mta_conn_failed(s, 0, "4.0.0", "HELO: %s", text);
			return;
		}
		if (s->tls_policy != MTA_TLS_MAY || s->auth_user != NULL) {
			mta_conn_failed(s, 0, "4.7.0",
			    "the peer does not speak ESMTP: no TLS, no AUTH");
			return;
		}
		s->info.ext = 0;
		s->info.size_max = 0;
		mta_ready(s);
		break;
	case MTA_S_STARTTLS:
		if (code != 220) {
			mta_conn_failed(s, 1, "4.7.0", "STARTTLS: %s", text);
			return;
		}
		mta_start_tls(s);
		break;
	case MTA_S_RSET:
		if (code != 250) {
			/* the connection is in doubt: a fresh one */
			mta_conn_failed(s, 0, "4.0.0", "RSET: %s", text);
			return;
		}
		s->need_rset = 0;
		mta_start_txn(s);
		break;
	case MTA_S_MAIL:
		if (code / 100 == 2)
			s->mail_ok = 1;
		else {
			mta_fail_open(
			    s, mta_reply_status(code), code, r->enhanced, text);
			/* with PIPELINING the RCPT replies still come */
			if (s->rcpt_sent == 0) {
				mta_txn_done(s);
				break;
			}
		}
		s->state = MTA_S_RCPT;
		mta_timer_set(s, s->to.rcpt);
		if (!s->pipelining)
			mta_send_rcpts(s);
		break;
	case MTA_S_RCPT:
		res = &s->results[s->rcpt_replied++];
		if (s->mail_ok) {
			if (code / 100 == 2)
				s->accepted++;
			else
				mta_set_result(res, mta_reply_status(code),
				    code, r->enhanced, text);
			/* the next RCPT, or the window moves on */
			mta_send_rcpts(s);
		}
		if (s->rcpt_replied < s->rcpt_sent) {
			mta_timer_set(s, s->to.rcpt);
			break;
		}
		if (s->accepted == 0) {
			mta_txn_done(s);
			break;
		}
		mta_send_line(s, MTA_S_DATA, s->to.data_init, "DATA");
		break;
	case MTA_S_DATA:
		if (code != 354) {
			mta_fail_open(
			    s, mta_reply_status(code), code, r->enhanced, text);
			mta_txn_done(s);
			break;
		}
		s->state = MTA_S_BODY;
		s->rd_off = 0;
		s->bol = 1;
		bufferevent_setwatermark(s->bev, EV_WRITE, MTA_OUT_LOW, 0);
		mta_timer_set(s, s->to.data_block);
		mta_fill_body(s);
		break;
	case MTA_S_DOT:
		/* the final reply is the only one that delivers */
		for (i = 0; i < s->nresults; i++)
			if (s->results[i].status == MTA_RCPT_PENDING)
				mta_set_result(&s->results[i],
				    code / 100 == 2 ? MTA_RCPT_DELIVERED
						    : mta_reply_status(code),
				    code, r->enhanced, text);
		mta_txn_done(s);
		break;
	case MTA_S_QUIT:
		mta_session_free(s);
		break;
	default:
		/* a reply nobody asked for: the peer is out of step */
		mta_conn_failed(s, 0, "4.5.0", "unexpected reply: %s", text);
		break;
	}
}

static void
mta_read(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char buf[4096];
	enum smtp_reply_status st;
	enum mta_state before;
	size_t len, used;

	/* the greeting can come before libevent tells of the connection */
	if (s->state == MTA_S_CONNECT) {
		s->state = MTA_S_GREETING;
		mta_timer_set(s, s->to.greeting);
	}
	while ((len = evbuffer_get_length(in)) > 0) {
		if (len > sizeof(buf))
			len = sizeof(buf);
		if (evbuffer_copyout(in, buf, len) != (ev_ssize_t)len)
			fatalx("mta: evbuffer_copyout");
		st = smtp_reply_feed(&s->parser, buf, len, &used);
		evbuffer_drain(in, used);
		if (st == SMTP_REPLY_ERROR) {
			mta_conn_failed(s, s->state == MTA_S_STARTTLS, "4.5.0",
			    "bad reply: %s",
			    smtp_reply_strerror(s->parser.error));
			return;
		}
		if (st != SMTP_REPLY_DONE)
			continue;
		before = s->state;
		mta_reply(s, &s->parser.reply);
		/*
		 * the session may be gone (QUIT, a failure), or the
		 * connection replaced (STARTTLS, the next address)
		 */
		if (before == MTA_S_QUIT || s->bev != bev)
			return;
	}
}

static void
mta_event(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session *s = arg;
	char tls_why[MTA_TLS_INFO_MAX];
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == MTA_S_TLS) {
			s->info.tls = 1;
			tls_info(
			    s->bev, s->info.tls_info, sizeof(s->info.tls_info));
			s->info.tls_verified =
			    tls_verified(s->bev, tls_why, sizeof(tls_why));
			strlcpy(
			    s->info.tls_why, tls_why, sizeof(s->info.tls_why));
			if (s->tls_policy == MTA_TLS_VERIFY &&
			    !s->info.tls_verified) {
				mta_conn_failed(s, 1, "4.7.5",
				    "the certificate does not verify: %s",
				    tls_why);
				return;
			}
			/* RFC 3207 4.2: forget what EHLO said before */
			s->info.ext = 0;
			mta_send_line(
			    s, MTA_S_EHLO, s->to.command, "EHLO %s", s->helo);
			return;
		}
		if (s->state == MTA_S_CONNECT) {
			s->state = MTA_S_GREETING;
			mta_timer_set(s, s->to.greeting);
		}
		return;
	}
	if (s->state == MTA_S_QUIT) {
		mta_session_free(s);
		return;
	}
	if (what & BEV_EVENT_EOF)
		mta_conn_failed(s, s->state == MTA_S_TLS, "4.4.2",
		    "the peer closed the connection");
	else
		mta_conn_failed(s, s->state == MTA_S_TLS, "4.4.1", "%s",
		    s->state == MTA_S_TLS ? "the TLS handshake failed"
			: err != 0	  ? strerror(err)
					  : "connection error");
}

struct mta_session *
mta_session_new(struct event_base *base, const struct mta_session_params *p)
{
	struct mta_session *s;

	if (p->naddrs == 0 || (p->auth_user == NULL) != (p->auth_pass == NULL))
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->base = base;
	s->port = p->port;
	s->tls_ctx = p->tls_ctx;
	s->tls_policy = p->tls;
	s->to = p->timeouts;
	s->naddrs = p->naddrs;
	smtp_reply_parser_init(&s->parser);
	if ((s->addrs = reallocarray(NULL, p->naddrs, sizeof(*s->addrs))) ==
		NULL ||
	    (s->helo = strdup(p->helo)) == NULL ||
	    (p->host != NULL && (s->host = strdup(p->host)) == NULL) ||
	    (p->auth_user != NULL &&
		((s->auth_user = strdup(p->auth_user)) == NULL ||
		    (s->auth_pass = strdup(p->auth_pass)) == NULL)) ||
	    (s->timer = evtimer_new(base, mta_timeout, s)) == NULL ||
	    (s->done_ev = event_new(base, -1, 0, mta_done_cb, s)) == NULL) {
		mta_session_free(s);
		return NULL;
	}
	memcpy(s->addrs, p->addrs, p->naddrs * sizeof(*s->addrs));
	return s;
}

int
mta_session_send(struct mta_session *s, const struct mta_message *m,
    mta_session_cb cb, void *arg)
{
	struct mta_rcpt_result *r;
	size_t n = m->env->nrcpt;

	if (s->msg != NULL || s->quitting || n == 0)
		return -1;
	if ((r = reallocarray(NULL, n, sizeof(*r))) == NULL)
		return -1;
	free(s->results);
	s->results = r;
	memset(r, 0, n * sizeof(*r));
	s->nresults = n;
	s->msg = m;
	s->cb = cb;
	s->cb_arg = arg;
	s->mail_sent = s->mail_ok = 0;
	s->rcpt_sent = s->rcpt_replied = s->accepted = 0;
	if (s->state == MTA_S_IDLE) {
		s->reused = 1;
		bufferevent_enable(s->bev, EV_WRITE);
		mta_ready(s);
		return 0;
	}
	s->reused = 0;
	s->addr = 0;
	s->clear_retry = 0;
	mta_connect(s);
	return 0;
}

int
mta_session_ready(const struct mta_session *s)
{
	return s->state == MTA_S_IDLE && s->msg == NULL;
}

const struct mta_session_info *
mta_session_info(const struct mta_session *s)
{
	return &s->info;
}

void
mta_session_quit(struct mta_session *s)
{
	if (s->state != MTA_S_IDLE || s->msg != NULL) {
		mta_session_free(s);
		return;
	}
	s->quitting = 1;
	/* nothing rides on the answer: no reason to hold the socket long */
	mta_send_line(s, MTA_S_QUIT,
	    s->to.command < MTA_QUIT_TIMEOUT ? s->to.command : MTA_QUIT_TIMEOUT,
	    "QUIT");
}

void
mta_session_free(struct mta_session *s)
{
	if (s == NULL)
		return;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->done_ev != NULL)
		event_free(s->done_ev);
	smtp_reply_parser_free(&s->parser);
	free(s->results);
	free(s->addrs);
	free(s->helo);
	free(s->host);
	if (s->auth_user != NULL)
		freezero(s->auth_user, strlen(s->auth_user));
	if (s->auth_pass != NULL)
		freezero(s->auth_pass, strlen(s->auth_pass));
	free(s);
}
