/*
 * An IMAP session: its connection, TLS, the reading of commands (lines and
 * the literals they announce, each bounded before it is buffered), the
 * replies with their backpressure, the timers and the login through auth.
 * What the commands do is imap_cmd.c's.
 */

#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "boxd.h"
#include "imapd.h"

/* a closing session's last words get this long to leave */
#define IMAP_LINGER 2000

RB_HEAD(imap_waiting, imap_session);

static int
imap_reqid_cmp(struct imap_session *a, struct imap_session *b)
{
	return a->reqid < b->reqid ? -1 : a->reqid > b->reqid;
}

RB_GENERATE_STATIC(imap_waiting, imap_session, entry, imap_reqid_cmp);

static struct imap_waiting waiting = RB_INITIALIZER(&waiting);
static uint64_t next_reqid = 1;

static void imap_read(struct bufferevent *, void *);
static void imap_write(struct bufferevent *, void *);
static void imap_event(struct bufferevent *, short, void *);
static void imap_timeout(evutil_socket_t, short, void *);

void
imap_printf(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->closing)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(s->out, fmt, ap);
	va_end(ap);
}

void
imap_reply(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->closing)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(s->out, fmt, ap);
	va_end(ap);
	evbuffer_add(s->out, "\r\n", 2);
}

void
imap_tagged(struct imap_session *s, const char *status, const char *fmt, ...)
{
	va_list ap;

	if (s->closing)
		return;
	evbuffer_add_printf(s->out, "%s %s ", s->tag, status);
	va_start(ap, fmt);
	evbuffer_add_vprintf(s->out, fmt, ap);
	va_end(ap);
	evbuffer_add(s->out, "\r\n", 2);
}

static void
imap_timer_set(struct imap_session *s, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

/*
 * A command line, a literal or an IDLE: the clock restarts.  Before login
 * it runs from the connection, whatever comes: else a client without a
 * password holds its connection for ever with a NOOP now and then, or a
 * literal an octet at a time.
 */
static void
imap_wait_client(struct imap_session *s)
{
	uint64_t limit;

	if (s->state == IMAP_NOTAUTH) {
		if (s->expire != 0)
			return;
		limit = (uint64_t)child->conf.timeout_command * 1000;
	} else if (s->pop3)
		limit = POP3_TIMEOUT;
	else
		limit = IMAP_AUTOLOGOUT;
	s->expire = now_ms() + limit;
	if (!s->timer_on) {
		imap_timer_set(s, limit);
		s->timer_on = 1;
	}
}

static void
imap_free(struct imap_session *s)
{
	if (s->waiting)
		RB_REMOVE(imap_waiting, &waiting, s);
	imap_cmd_cleanup(s);
	pop3_session_free(s);
	imap_session_logout_user(s);
	listener_client_del(s->client);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (!s->tls && s->fd != -1)
		close(s->fd);
	evbuffer_free(s->cmd);
	event_free(s->timer);
	log_debug("%s: session closed", s->addr);
	imap_stat_session_end(s);
	free(s);
}

/*
 * Send what is queued, then close.  The session is freed by its timer
 * only, never inside a callback that may be in the middle of a reply.
 */
void
imap_close(struct imap_session *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	bufferevent_disable(s->bev, EV_READ);
	imap_timer_set(s, evbuffer_get_length(s->out) == 0 ? 0 : IMAP_LINGER);
	s->timer_on = 1;
}

static void
imap_drop(struct imap_session *s)
{
	s->closing = 1;
	if (s->bev != NULL)
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	imap_timer_set(s, 0);
	s->timer_on = 1;
}

void
imap_bye(struct imap_session *s, const char *why)
{
	imap_reply(s, "* BYE %s", why);
	imap_close(s);
}

static int
imap_set_bev(struct imap_session *s, int tls)
{
	void *ctx;

	if (tls) {
		if ((ctx = tls_server_ctx(&child->tls)) == NULL ||
		    (s->bev = tls_accept_bufferevent(
			 child->base, s->fd, ctx)) == NULL)
			return -1;
		s->tls = 1;
	} else if ((s->bev = bufferevent_socket_new(child->base, s->fd, 0)) ==
	    NULL)
		return -1;
	s->out = bufferevent_get_output(s->bev);
	bufferevent_setcb(s->bev, imap_read, imap_write, imap_event, s);
	/* a session reads no more than a window ahead of its commands */
	bufferevent_setwatermark(s->bev, EV_READ, 0, IMAP_INPUT_MAX);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return 0;
}

void
imap_session_new(int fd, const struct sockaddr *sa, enum listen_kind kind,
    struct listener_client *client)
{
	struct imap_session *s;
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_warn("TCP_NODELAY");
	s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->kind = kind;
	s->client = client;
	s->state = IMAP_NOTAUTH;
	strlcpy(s->tag, "*", sizeof(s->tag));
	listener_addr_text(sa, s->addr, sizeof(s->addr));
	if ((s->cmd = evbuffer_new()) == NULL ||
	    (s->timer = evtimer_new(child->base, imap_timeout, s)) == NULL ||
	    imap_set_bev(s, kind == LISTEN_IMAPS || kind == LISTEN_POP3S) ==
		-1) {
		log_warnx("%s: cannot set up a session", s->addr);
		if (s->cmd != NULL)
			evbuffer_free(s->cmd);
		if (s->timer != NULL)
			event_free(s->timer);
		listener_client_del(client);
		close(fd);
		free(s);
		return;
	}
	s->pop3 = kind == LISTEN_POP3 || kind == LISTEN_POP3S;
	imap_stat_session_start(s);
	log_debug("%s: %s session", s->addr, listen_kind_name(kind));
	imap_wait_client(s);
	if (s->pop3)
		pop3_greeting(s);
	else
		imap_reply(s, "* OK [CAPABILITY %s] %s ready",
		    imap_capabilities(s), child->conf.hostname);
}

/* STARTTLS / STLS: the reply is out, the handshake comes next */
void
imap_starttls(struct imap_session *s)
{
	s->tls_pending = 1;
	bufferevent_disable(s->bev, EV_READ);
}

static void
imap_tls_begin(struct imap_session *s)
{
	s->tls_pending = 0;
	/* whatever came before the handshake is not trusted (CVE-2011-0411) */
	bufferevent_free(s->bev);
	s->bev = NULL;
	evbuffer_drain(s->cmd, evbuffer_get_length(s->cmd));
	if (imap_set_bev(s, 1) == -1) {
		log_warnx("%s: cannot start TLS", s->addr);
		s->fd = -1;
		imap_drop(s);
		return;
	}
	log_debug("%s: TLS started", s->addr);
}

/* 1 if the client has left enough replies unread: its input waits */
static int
imap_output_full(struct imap_session *s)
{
	return evbuffer_get_length(s->out) > IMAP_OUTPUT_MAX;
}

/*
 * The current command is done: the next one may start.  Before login it
 * may have held a password, which is not left in freed memory.
 */
void
imap_command_done(struct imap_session *s)
{
	size_t len = evbuffer_get_length(s->cmd);
	unsigned char *p;

	if (s->state == IMAP_NOTAUTH && len > 0 &&
	    (p = evbuffer_pullup(s->cmd, -1)) != NULL)
		explicit_bzero(p, len);
	evbuffer_drain(s->cmd, len);
	s->cmd_text = 0;
	s->cmd_literals = 0;
}

/* a command that cannot be read to its end: say so, drop what it had */
static void
imap_command_bad(struct imap_session *s, const char *why)
{
	char tag[IMAP_TAG_MAX + 1];
	size_t len, n;
	char *p;

	/* the tag is the line's first word, if it is one */
	len = evbuffer_get_length(s->cmd);
	n = len < sizeof(tag) - 1 ? len : sizeof(tag) - 1;
	evbuffer_copyout(s->cmd, tag, n);
	tag[n] = '\0';
	if ((p = strchr(tag, ' ')) != NULL && p != tag)
		*p = '\0';
	else
		strlcpy(tag, "*", sizeof(tag));
	imap_cmd_cleanup(s);
	imap_command_done(s);
	if (s->pop3)
		imap_reply(s, "-ERR %s", why);
	else
		imap_reply(s, "%s BAD %s", tag, why);
	if (++s->errors >= IMAP_MAX_ERRORS)
		imap_bye(s, "Too many errors");
}

/*
 * One line of a command has come (len octets, its line end not counted).
 * 1: the command is whole; 0: more is to come; -1: refused (answered).
 */
static int
imap_command_line(struct imap_session *s, const char *line, size_t len)
{
	uint64_t size, limit;
	int nonsync, binary, rv;

	s->cmd_text += len + 2;
	evbuffer_add(s->cmd, line, len);
	evbuffer_add(s->cmd, "\r\n", 2);
	if (s->pop3 || s->sasl)
		return 1;
	if ((rv = imap_line_literal(line, len, &size, &nonsync, &binary)) ==
	    -1) {
		imap_command_bad(s, "Malformed literal");
		return -1;
	}
	if (rv == 0)
		return 1;
	limit = imap_cmd_literal_limit(s, size);
	if (size > limit) {
		if (nonsync) {
			/* it is on its way: we will not read it */
			imap_command_bad(s, "[TOOBIG] Literal too big");
			imap_bye(s, "Literal too big");
			return -1;
		}
		imap_command_bad(s, "[TOOBIG] Literal too big");
		return -1;
	}
	if (++s->cmd_literals > IMAP_LITERALS_MAX) {
		imap_command_bad(s, "Too many literals");
		if (nonsync)
			imap_bye(s, "Too many literals");
		return -1;
	}
	s->literal_left = size;
	if (!nonsync)
		imap_reply(s, "+ Ready for literal data");
	return 0;
}

static void
imap_command_run(struct imap_session *s)
{
	size_t len = evbuffer_get_length(s->cmd);
	char *buf;

	/* the final line end is not part of the command */
	if (len >= 2)
		len -= 2;
	if ((buf = (char *)evbuffer_pullup(s->cmd, -1)) == NULL) {
		imap_command_bad(s, "Out of memory");
		return;
	}
	if (s->pop3)
		pop3_command(s, buf, len);
	else if (s->sasl) {
		imap_cmd_sasl_line(s, buf, len);
		if (!s->waiting)
			imap_cmd_cleanup(s);
		imap_command_done(s);
	} else
		imap_cmd_dispatch(s, buf, len);
}

/*
 * An overlong command is dropped but for its start, where its tag is: the
 * client waits for a tagged answer.
 */
static void
imap_command_keep_tag(struct imap_session *s, struct evbuffer *in)
{
	char head[IMAP_TAG_MAX + 1];
	ev_ssize_t n;

	n = evbuffer_copyout(
	    evbuffer_get_length(s->cmd) > 0 ? s->cmd : in, head, sizeof(head));
	evbuffer_drain(s->cmd, evbuffer_get_length(s->cmd));
	if (n > 0)
		evbuffer_add(s->cmd, head, (size_t)n);
}

/* an overlong line: skipped to its end, then answered */
static int
imap_skip_long_line(struct imap_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr eol;
	size_t eol_len;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return 0;
	}
	evbuffer_drain(in, eol.pos + eol_len);
	s->in_long_line = 0;
	imap_command_bad(s, "Line too long");
	return 1;
}

static void
imap_process_input(struct imap_session *s)
{
	struct evbuffer *in;
	struct evbuffer_ptr eol;
	size_t eol_len, n;
	char *line;
	int rv;

	while (!s->closing && !s->waiting && !s->tls_pending && !s->busy) {
		if (imap_output_full(s)) {
			s->out_paused = 1;
			return;
		}
		in = bufferevent_get_input(s->bev);
		if (s->literal_left > 0) {
			n = evbuffer_get_length(in);
			if (n == 0)
				return;
			if (n > s->literal_left)
				n = s->literal_left;
			if (imap_cmd_literal_input(s, in, n) == -1)
				return;
			s->literal_left -= n;
			imap_wait_client(s);
			continue;
		}
		if (s->idling) {
			if (imap_idle_input(s, in) == 0)
				return;
			continue;
		}
		if (s->in_long_line) {
			if (imap_skip_long_line(s, in) == 0)
				return;
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			/* the read window is full and holds no line end */
			if (evbuffer_get_length(in) >= IMAP_INPUT_MAX ||
			    evbuffer_get_length(in) + s->cmd_text >
				IMAP_LINE_MAX) {
				s->in_long_line = 1;
				imap_command_keep_tag(s, in);
				continue;
			}
			return;
		}
		if ((size_t)eol.pos + s->cmd_text > IMAP_LINE_MAX) {
			evbuffer_drain(in, eol.pos + eol_len);
			imap_command_bad(s, "Line too long");
			continue;
		}
		n = (size_t)eol.pos;
		if ((line = (char *)evbuffer_pullup(in, n + eol_len)) == NULL) {
			imap_drop(s);
			return;
		}
		/* CRLF, or the LF alone that some clients send */
		if (n > 0 && line[n - 1] == '\r' && eol_len == 1)
			n--;
		imap_wait_client(s);
		rv = imap_command_line(s, line, n);
		/* the line is in s->cmd now: a password is not left here */
		if (s->state == IMAP_NOTAUTH)
			explicit_bzero(line, eol.pos + eol_len);
		evbuffer_drain(in, eol.pos + eol_len);
		if (rv == 1)
			imap_command_run(s);
	}
}

/* never re-entered: a TLS write may call back in the middle of a reply */
void
imap_process(struct imap_session *s)
{
	if (s->processing)
		return;
	s->processing = 1;
	imap_process_input(s);
	s->processing = 0;
}

static void
imap_read(struct bufferevent *bev, void *arg)
{
	imap_process(arg);
}

static void
imap_write(struct bufferevent *bev, void *arg)
{
	struct imap_session *s = arg;

	if (s->busy && evbuffer_get_length(s->out) < IMAP_OUTPUT_LOW)
		imap_cmd_resume(s);
	if (evbuffer_get_length(s->out) != 0)
		return;
	/* an IDLE that stopped listening while its client did not read */
	if (s->idling && !s->closing)
		imap_mbox_idle(s, 1);
	if (s->closing) {
		imap_timer_set(s, 0);
		s->timer_on = 1;
		return;
	}
	if (s->tls_pending) {
		imap_tls_begin(s);
		return;
	}
	if (s->out_paused) {
		s->out_paused = 0;
		imap_process(s);
	}
}

static void
imap_event(struct bufferevent *bev, short events, void *arg)
{
	struct imap_session *s = arg;

	if (events & BEV_EVENT_CONNECTED)
		return;
	if (events & BEV_EVENT_ERROR)
		log_debug("%s: connection error", s->addr);
	imap_drop(s);
}

static void
imap_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct imap_session *s = arg;
	uint64_t now = now_ms();

	s->timer_on = 0;
	if (s->closing) {
		imap_free(s);
		return;
	}
	if (now < s->expire) {
		imap_timer_set(s, s->expire - now);
		s->timer_on = 1;
		return;
	}
	log_info("%s: timeout", s->addr);
	if (s->pop3)
		imap_reply(s, "-ERR Timeout, closing connection");
	else
		imap_bye(s, "Autologout; idle for too long");
	imap_close(s);
}

/* ask auth whether these credentials log in */
void
imap_auth_request(struct imap_session *s, const char *user,
    const char *password, uint32_t service)
{
	struct msg_writer w;

	s->reqid = next_reqid++;
	s->waiting = 1;
	RB_INSERT(imap_waiting, &waiting, s);
	msg_writer_init(&w);
	auth_login_make(&w, s->reqid, service, user, password, s->addr);
	child_send(PROC_AUTH, IMSG_AUTH_LOGIN, 0, -1, &w);
}

void
imap_auth_result(const struct auth_login_result *res)
{
	struct imap_session key, *s;

	key.reqid = res->reqid;
	if ((s = RB_FIND(imap_waiting, &waiting, &key)) == NULL)
		return;
	RB_REMOVE(imap_waiting, &waiting, s);
	s->waiting = 0;
	if (s->pop3)
		pop3_auth_done(s, res);
	else
		imap_cmd_auth_done(s, res);
	/* logged in: the clock of a session with a user */
	if (s->state != IMAP_NOTAUTH)
		imap_wait_client(s);
	if (!s->closing)
		imap_process(s);
}
