/*
 * One SMTP server session: the state machine of RFC 5321 with the
 * extensions boxd offers, strict command lines, and the hand-offs to
 * auth (recipients; on submission the AUTH login and the senders the
 * user owns) and queue (spool file, commit).  The message text goes to
 * smtp_body.c, which keeps its rules; submission's parsers are in
 * smtp_auth.c.
 */

#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "boxd.h"
#include "smtpd.h"

#define SMTP_MAX_ERRORS 10
/* unread replies beyond this stop the reading of commands until they drain */
#define SMTP_OUTPUT_MAX 8192
/* what a session buffers from its client while it does not read */
#define SMTP_INPUT_MAX (64 * 1024)
/* DATA and BDAT must bring this much per data timeout, or time out */
#define SMTP_DATA_PROGRESS 65536
/* failed RCPTs answered at once; after them 1 s, 2 s, then 4 s each */
#define SMTP_TARPIT_FREE 3
#define SMTP_TARPIT_MAX	 4
/* the input pieces DATA and BDAT read in place at a time */
#define SMTP_INPUT_VECS 8
/* how long a closing session may take to deliver its last reply (ms) */
#define SMTP_LINGER 10000
/*
 * What the envelope may marshal to, so that the create request, the
 * spool header and the delivery request all stay below the imsg limit.
 */
#define SMTP_ENVELOPE_MAX (IMSG_MAX_SIZE - 16 * 1024)

enum smtp_state {
	SMTP_COMMAND,	  /* reading command lines */
	SMTP_DATA,	  /* reading DATA lines */
	SMTP_BDAT,	  /* reading a BDAT chunk */
	SMTP_TLS_PENDING, /* 220 sent, handshake next */
	SMTP_CLOSING,	  /* flushing the last reply */
};

enum smtp_wait {
	WAIT_NONE,
	WAIT_RCPT,
	WAIT_CREATE,
	WAIT_COMMIT,
	WAIT_AUTH,   /* a login */
	WAIT_SENDER, /* MAIL FROM's owner */
	WAIT_FROM,   /* the From: header's owner, before the commit */
};

/* where an AUTH exchange stands: the client's next line answers a 334 */
enum smtp_sasl {
	SASL_NONE,
	SASL_PLAIN,	 /* the PLAIN message */
	SASL_LOGIN_USER, /* LOGIN's user name */
	SASL_LOGIN_PASS, /* LOGIN's password */
};

struct smtp_session {
	RB_ENTRY(smtp_session) entry; /* by reqid while waiting */
	uint64_t reqid;
	enum smtp_wait wait;
	enum smtp_state state;
	enum listen_kind kind;
	int fd;
	struct bufferevent *bev;
	int tls;
	char addr[INET6_ADDRSTRLEN];
	struct listener_client *client;
	int errors;
	uint32_t rcpt_fails;
	int helo_done;
	int esmtp;
	char helo[SMTP_DOMAIN_MAX + 1];

	/* time, in now_ms(): one timer serves every limit below */
	struct event *timer;
	uint64_t timer_at; /* when it is set to fire, 0 if not set */
	uint64_t expire;   /* end of the current command or data wait */
	uint64_t deadline; /* end of the session */
	uint64_t tarpit;   /* input waits until then, 0 if not */
	uint64_t progress; /* DATA/BDAT bytes since the data clock restarted */
	int expired;	   /* timed out while committing: close after it */
	int out_paused;	   /* input waits for the replies to drain */
	int processing;	   /* in smtp_process() */
	int in_long_line;  /* inside an overlong command line */

	struct smtp_transaction txn;
	int spoolfd; /* the transaction's spool file */

	/* submission: AUTH, and who it made the client */
	enum smtp_sasl sasl;
	/* LOGIN's user name, until its password comes */
	char sasl_user[AUTH_LOGIN_USER_MAX + 1];
	int authed;
	char auth_user[SMTP_PATH_MAX]; /* normalized, as auth answered */
	struct smtp_headers headers;   /* a submitted message's, for From: */
};

RB_HEAD(session_tree, smtp_session);

static int
session_cmp(struct smtp_session *a, struct smtp_session *b)
{
	return a->reqid < b->reqid ? -1 : a->reqid > b->reqid;
}

RB_GENERATE_STATIC(session_tree, smtp_session, entry, session_cmp);

static struct session_tree waiting = RB_INITIALIZER(&waiting);

static void smtp_read(struct bufferevent *, void *);
static void smtp_write(struct bufferevent *, void *);
static void smtp_event(struct bufferevent *, short, void *);
static void smtp_timeout(evutil_socket_t, short, void *);
static void smtp_process(struct smtp_session *);

static void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out;
	va_list ap;

	/* the last reply is out: a TLS write now could end the session */
	if (s->state == SMTP_CLOSING)
		return;
	out = bufferevent_get_output(s->bev);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (log_getlevel() >= LOG_LEVEL_DEBUG) {
		char line[512];

		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_debug("%s: <<< %s", s->addr, line);
	}
}

static void
smtp_timer_set(struct smtp_session *s, uint64_t at)
{
	struct timeval tv;
	uint64_t now = now_ms(), ms = at > now ? at - now : 0;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
	s->timer_at = at;
}

/* the first of the limits running now */
static uint64_t
smtp_due(struct smtp_session *s)
{
	uint64_t due = s->expire < s->deadline ? s->expire : s->deadline;

	if (s->tarpit != 0 && s->tarpit < due)
		due = s->tarpit;
	return due;
}

/*
 * A later time is found when the timer fires, so the clock restarts per
 * command line without touching the timer; an earlier one sets it.
 */
static void
smtp_timer_update(struct smtp_session *s)
{
	uint64_t due = smtp_due(s);

	/* a closing session's timer frees it: leave it be */
	if (s->state == SMTP_CLOSING)
		return;
	if (s->timer_at == 0 || due < s->timer_at)
		smtp_timer_set(s, due);
}

/* waiting for a command line: it has the command timeout to be complete */
static void
smtp_wait_command(struct smtp_session *s)
{
	s->expire = now_ms() + (uint64_t)child->conf.timeout_command * 1000;
	smtp_timer_update(s);
}

/* the body: the data timeout, restarted by every SMTP_DATA_PROGRESS bytes */
static void
smtp_wait_data(struct smtp_session *s)
{
	s->progress = 0;
	s->expire = now_ms() + (uint64_t)child->conf.timeout_data * 1000;
	smtp_timer_update(s);
}

static void
smtp_data_progress(struct smtp_session *s, size_t n)
{
	if ((s->progress += n) >= SMTP_DATA_PROGRESS)
		smtp_wait_data(s);
}

static void
smtp_wait(struct smtp_session *s, enum smtp_wait what)
{
	s->reqid = smtp_new_reqid();
	s->wait = what;
	RB_INSERT(session_tree, &waiting, s);
}

static struct smtp_session *
smtp_waiting(uint64_t reqid, enum smtp_wait what)
{
	struct smtp_session key, *s;

	key.reqid = reqid;
	if ((s = RB_FIND(session_tree, &waiting, &key)) == NULL)
		return NULL;
	if (s->wait != what)
		fatalx("reply to request %" PRIu64 " of another kind", reqid);
	RB_REMOVE(session_tree, &waiting, s);
	s->wait = WAIT_NONE;
	return s;
}

static void
smtp_txn_reset(struct smtp_session *s)
{
	struct msg_writer w;

	if (s->spoolfd != -1) {
		close(s->spoolfd);
		s->spoolfd = -1;
		msg_writer_init(&w);
		msg_put_u64(&w, s->txn.msgid);
		child_send(PROC_QUEUE, IMSG_QUEUE_ABORT, 0, -1, &w);
	}
	smtp_transaction_reset(&s->txn);
	smtp_headers_reset(&s->headers);
}

static void
smtp_free(struct smtp_session *s)
{
	/* once committing, the message is the queue's, whatever happens */
	if (s->wait == WAIT_COMMIT && s->spoolfd != -1) {
		close(s->spoolfd);
		s->spoolfd = -1;
	}
	if (s->wait != WAIT_NONE)
		RB_REMOVE(session_tree, &waiting, s);
	smtp_txn_reset(s);
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
	listener_client_del(s->client);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (!s->tls && s->fd != -1)
		close(s->fd);
	event_free(s->timer);
	log_debug("%s: session closed", s->addr);
	free(s);
}

/*
 * Send the reply just queued, then close.  The session is freed by its
 * timer only, never inside a callback that may run in the middle of a
 * reply (a TLS bufferevent writes and reports errors synchronously).
 */
static void
smtp_close(struct smtp_session *s)
{
	s->state = SMTP_CLOSING;
	s->tarpit = 0;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtp_timer_set(s, now_ms());
	else
		smtp_timer_set(s, now_ms() + SMTP_LINGER);
}

/* the client is gone or unusable: free it on the next turn of the loop */
static void
smtp_drop(struct smtp_session *s)
{
	s->state = SMTP_CLOSING;
	if (s->bev != NULL)
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	smtp_timer_set(s, now_ms());
}

static int
smtp_error(struct smtp_session *s)
{
	if (++s->errors < SMTP_MAX_ERRORS)
		return 0;
	smtp_reply(s, "421 4.7.0 Too many errors, closing connection");
	smtp_close(s);
	return -1;
}

void
smtp_session_new(int fd, const struct sockaddr *sa, enum listen_kind kind,
    struct listener_client *client)
{
	struct smtp_session *s;
	uint64_t lifetime;
	void *ctx;
	int one = 1;

	/* replies are whole lines already: do not let Nagle hold them */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_warn("TCP_NODELAY");
	s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->kind = kind;
	s->spoolfd = -1;
	s->client = client;
	listener_addr_text(sa, s->addr, sizeof(s->addr));
	smtp_stat_session();

	if ((s->timer = evtimer_new(child->base, smtp_timeout, s)) == NULL)
		goto fail;
	if (kind == LISTEN_SUBMISSIONS) {
		if ((ctx = tls_server_ctx(&child->tls)) == NULL)
			goto fail;
		if ((s->bev = tls_accept_bufferevent(child->base, fd, ctx)) ==
		    NULL)
			goto fail;
		s->tls = 1;
	} else if ((s->bev = bufferevent_socket_new(child->base, fd, 0)) ==
	    NULL)
		goto fail;
	bufferevent_setcb(s->bev, smtp_read, smtp_write, smtp_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_MAX);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);

	lifetime =
	    (uint64_t)child->conf.timeout_command + child->conf.timeout_data;
	s->deadline = now_ms() + SMTP_SESSION_LIFETIME * lifetime * 1000;
	smtp_wait_command(s);
	log_debug("%s: new session (%s)", s->addr, listen_kind_name(kind));
	smtp_reply(s, "220 %s ESMTP boxd", child->conf.hostname);
	return;
fail:
	log_warnx("%s: cannot set up a session", s->addr);
	close(fd);
	if (s->timer != NULL)
		event_free(s->timer);
	listener_client_del(client);
	free(s);
}

static void
smtp_ehlo(struct smtp_session *s, struct smtp_command *cmd)
{
	smtp_txn_reset(s);
	strlcpy(s->helo, cmd->arg, sizeof(s->helo));
	s->helo_done = 1;
	if (cmd->verb == SMTP_CMD_HELO) {
		s->esmtp = 0;
		smtp_reply(s, "250 %s Hello %s", child->conf.hostname, s->addr);
		return;
	}
	s->esmtp = 1;
	smtp_reply(s, "250-%s Hello %s", child->conf.hostname, s->addr);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %" PRIu64, child->conf.max_message_size);
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-CHUNKING");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	if (tls_server_available(&child->tls) && !s->tls)
		smtp_reply(s, "250-STARTTLS");
	/* RFC 8314: credentials only ever cross under TLS */
	if (s->kind != LISTEN_SMTP && s->tls)
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250 DSN");
}

/* ask auth whether the AUTH user owns these n addresses */
static void
smtp_sender_check(
    struct smtp_session *s, enum smtp_wait what, char *const *addr, size_t n)
{
	struct msg_writer w;
	size_t i;

	msg_writer_init(&w);
	smtp_wait(s, what);
	msg_put_u64(&w, s->reqid);
	msg_put_str(&w, s->auth_user);
	msg_put_u32(&w, (uint32_t)n);
	for (i = 0; i < n; i++)
		msg_put_str(&w, addr[i]);
	child_send(PROC_AUTH, IMSG_AUTH_SENDER, 0, -1, &w);
}

static void smtp_commit(struct smtp_session *);

void
smtp_session_sender_result(uint64_t reqid, uint32_t status)
{
	struct smtp_session *s, key;
	enum smtp_wait what;
	char show[80];

	key.reqid = reqid;
	if ((s = RB_FIND(session_tree, &waiting, &key)) == NULL)
		return;
	what = s->wait;
	if (what != WAIT_SENDER && what != WAIT_FROM)
		fatalx("sender result for request %" PRIu64 " of another kind",
		    reqid);
	(void)smtp_waiting(reqid, what);
	if (status == AUTH_SENDER_OWNED) {
		if (what == WAIT_FROM) {
			smtp_commit(s);
			return;
		}
		s->txn.active = 1;
		smtp_reply(s, "250 2.1.0 Ok");
	} else {
		if (status == AUTH_SENDER_NOTOWNED)
			smtp_reply(s,
			    what == WAIT_FROM
				? "553 5.7.1 From: header address not "
				  "owned by user"
				: "553 5.7.1 Sender address not owned by "
				  "user");
		else
			smtp_reply(s,
			    "451 4.3.0 Temporary lookup failure, "
			    "try again later");
		log_info("%s: user %s: %s <%s> %s", s->addr, s->auth_user,
		    what == WAIT_FROM ? "From: header of" : "sender",
		    envelope_show(s->txn.env.sender, show, sizeof(show)),
		    status == AUTH_SENDER_NOTOWNED ? "refused: not owned"
						   : "not checked (tempfail)");
		smtp_txn_reset(s);
		if (status == AUTH_SENDER_NOTOWNED && smtp_error(s) == -1)
			return;
	}
	smtp_process(s);
}

static void
smtp_mail(struct smtp_session *s, struct smtp_command *cmd)
{
	struct envelope *env = &s->txn.env;
	char *sender[1];

	if (!s->helo_done) {
		smtp_reply(s, "503 5.5.1 Send EHLO or HELO first");
		return;
	}
	if (s->txn.active) {
		smtp_reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (s->kind != LISTEN_SMTP && !s->authed) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	/* bounces are the server's to send, never a mail app's */
	if (s->authed && cmd->null_path) {
		smtp_reply(
		    s, "553 5.7.1 Null sender not allowed on submission");
		return;
	}
	if (cmd->has_size && cmd->size > child->conf.max_message_size) {
		smtp_reply(s,
		    "552 5.3.4 Message size exceeds the limit of "
		    "%" PRIu64 " bytes",
		    child->conf.max_message_size);
		return;
	}
	if (cmd->body == SMTP_BODY_BINARYMIME) {
		smtp_reply(s, "555 5.5.4 BODY=BINARYMIME is not supported");
		return;
	}
	if (cmd->addr_utf8 && !cmd->smtputf8) {
		smtp_reply(s, "553 5.6.7 Non-ASCII address without SMTPUTF8");
		return;
	}
	memset(env, 0, sizeof(*env));
	if (!cmd->null_path &&
	    mailaddr_format(&cmd->addr, env->sender, sizeof(env->sender)) ==
		-1) {
		smtp_reply(s, "553 5.1.7 Sender address too long");
		return;
	}
	strlcpy(env->helo, s->helo, sizeof(env->helo));
	strlcpy(env->client_addr, s->addr, sizeof(env->client_addr));
	strlcpy(env->envid, cmd->envid, sizeof(env->envid));
	env->time = (uint64_t)time(NULL);
	if (cmd->body == SMTP_BODY_8BITMIME)
		env->flags |= ENVELOPE_8BITMIME;
	if (cmd->smtputf8)
		env->flags |= ENVELOPE_SMTPUTF8;
	if (cmd->ret == SMTP_RET_FULL)
		env->flags |= ENVELOPE_DSN_RET_FULL;
	else if (cmd->ret == SMTP_RET_HDRS)
		env->flags |= ENVELOPE_DSN_RET_HDRS;
	/* the create request: header, reqid, envelope */
	s->txn.env_size = IMSG_HDR_SIZE + 8 + envelope_marshal_size(env);
	if (s->authed) {
		sender[0] = env->sender;
		smtp_sender_check(s, WAIT_SENDER, sender, 1);
		return;
	}
	s->txn.active = 1;
	smtp_reply(s, "250 2.1.0 Ok");
}

static void
smtp_rcpt(struct smtp_session *s, struct smtp_command *cmd)
{
	struct msg_writer w;
	struct envelope_rcpt *rcpt = &s->txn.pending;

	if (!s->txn.active) {
		smtp_reply(s, "503 5.5.1 Need MAIL before RCPT");
		return;
	}
	if (s->txn.nrcpt_cmds >= child->conf.limit_recipients) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (cmd->addr_utf8 && !(s->txn.env.flags & ENVELOPE_SMTPUTF8)) {
		smtp_reply(s, "553 5.6.7 Non-ASCII address without SMTPUTF8");
		return;
	}
	memset(rcpt, 0, sizeof(*rcpt));
	if (cmd->addr.domain[0] == '\0')
		strlcpy(rcpt->addr, cmd->addr.local, sizeof(rcpt->addr));
	else if (mailaddr_format(&cmd->addr, rcpt->addr, sizeof(rcpt->addr)) ==
	    -1) {
		smtp_reply(s, "553 5.1.3 Recipient address too long");
		return;
	}
	rcpt->dsn_notify = cmd->notify;
	strlcpy(rcpt->orcpt, cmd->orcpt, sizeof(rcpt->orcpt));
	msg_writer_init(&w);
	smtp_wait(s, WAIT_RCPT);
	msg_put_u64(&w, s->reqid);
	msg_put_str(&w, rcpt->addr);
	child_send(PROC_AUTH, IMSG_AUTH_RCPT, 0, -1, &w);
}

/*
 * The mailboxes of the pending RCPT join the envelope, all or none: -1 if
 * they would take it past what one imsg may carry, or past
 * ENVELOPE_RCPT_MAX mailboxes.
 */
static int
smtp_rcpt_add(struct smtp_transaction *t, char **mailboxes, uint32_t n)
{
	struct envelope_rcpt *rcpt = &t->pending;
	size_t add = 0;
	uint32_t i, j, more = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < t->env.nrcpt; j++)
			if (strcmp(t->env.rcpt[j].mailbox, mailboxes[i]) == 0)
				break;
		if (j < t->env.nrcpt)
			continue;
		strlcpy(rcpt->mailbox, mailboxes[i], sizeof(rcpt->mailbox));
		add += envelope_rcpt_marshal_size(rcpt);
		more++;
	}
	if (t->env_size + add > SMTP_ENVELOPE_MAX ||
	    t->env.nrcpt + more > ENVELOPE_RCPT_MAX)
		return -1;
	t->env_size += add;
	for (i = 0; i < n; i++) {
		strlcpy(rcpt->mailbox, mailboxes[i], sizeof(rcpt->mailbox));
		envelope_add_rcpt(&t->env, rcpt);
	}
	return 0;
}

/* the pending RCPT joins the envelope as a remote recipient (no mailbox) */
static int
smtp_rcpt_add_remote(struct smtp_transaction *t)
{
	struct envelope_rcpt *rcpt = &t->pending;
	size_t add;

	rcpt->mailbox[0] = '\0';
	add = envelope_rcpt_marshal_size(rcpt);
	if (t->env_size + add > SMTP_ENVELOPE_MAX ||
	    t->env.nrcpt + 1 > ENVELOPE_RCPT_MAX)
		return -1;
	if (envelope_add_rcpt(&t->env, rcpt))
		t->env_size += add;
	return 0;
}

/*
 * A refused recipient is an error; after the first few, input waits a
 * little longer each time (a typo costs nothing, harvesting does).
 */
static void
smtp_rcpt_failed(struct smtp_session *s)
{
	uint32_t n, delay;

	if (smtp_error(s) == -1)
		return;
	if (++s->rcpt_fails <= SMTP_TARPIT_FREE)
		return;
	n = s->rcpt_fails - SMTP_TARPIT_FREE - 1;
	delay = n < 3 ? 1u << n : SMTP_TARPIT_MAX;
	if (delay > SMTP_TARPIT_MAX)
		delay = SMTP_TARPIT_MAX;
	s->tarpit = now_ms() + (uint64_t)delay * 1000;
	/* the wait is ours: it does not count against the client */
	s->expire += (uint64_t)delay * 1000;
	smtp_timer_update(s);
}

void
smtp_session_rcpt_result(
    uint64_t reqid, uint32_t status, char **mailboxes, uint32_t n)
{
	struct smtp_session *s;

	if ((s = smtp_waiting(reqid, WAIT_RCPT)) == NULL)
		return;
	switch (status) {
	case AUTH_RCPT_OK:
		if (n == 0) {
			smtp_reply(s, "550 5.1.1 No such user here");
			smtp_rcpt_failed(s);
			break;
		}
		if (smtp_rcpt_add(&s->txn, mailboxes, n) == -1) {
			smtp_reply(s, "452 4.5.3 Too many recipients");
			break;
		}
		s->txn.nrcpt_cmds++;
		smtp_reply(s, "250 2.1.5 Ok");
		break;
	case AUTH_RCPT_NOUSER:
		smtp_reply(s, "550 5.1.1 No such user here");
		smtp_rcpt_failed(s);
		break;
	case AUTH_RCPT_NOTLOCAL:
		if (!s->authed) {
			smtp_reply(s, "550 5.7.1 Relaying denied");
			smtp_rcpt_failed(s);
			break;
		}
		/* an authenticated user may send anywhere: mta delivers it */
		if (smtp_rcpt_add_remote(&s->txn) == -1) {
			smtp_reply(s, "452 4.5.3 Too many recipients");
			break;
		}
		s->txn.nrcpt_cmds++;
		smtp_reply(s, "250 2.1.5 Ok");
		break;
	case AUTH_RCPT_DISABLED:
		smtp_reply(s, "550 5.2.1 Mailbox disabled");
		smtp_rcpt_failed(s);
		break;
	default:
		smtp_reply(s,
		    "451 4.3.0 Temporary lookup failure, try again "
		    "later");
		break;
	}
	smtp_process(s);
}

static void
smtp_create(struct smtp_session *s)
{
	struct msg_writer w;

	msg_writer_init(&w);
	smtp_wait(s, WAIT_CREATE);
	msg_put_u64(&w, s->reqid);
	envelope_marshal(&s->txn.env, &w);
	child_send(PROC_QUEUE, IMSG_QUEUE_CREATE, 0, -1, &w);
}

static void smtp_message_start(struct smtp_session *);

void
smtp_session_created(uint64_t reqid, uint64_t msgid, int fd)
{
	struct smtp_session *s;
	struct msg_writer w;

	if ((s = smtp_waiting(reqid, WAIT_CREATE)) == NULL) {
		close(fd);
		msg_writer_init(&w);
		msg_put_u64(&w, msgid);
		child_send(PROC_QUEUE, IMSG_QUEUE_ABORT, 0, -1, &w);
		return;
	}
	/* smtp_txn_reset() aborts it if the session goes now */
	s->txn.msgid = msgid;
	s->spoolfd = fd;
	if (s->state == SMTP_CLOSING)
		return;
	smtp_message_start(s);
	if (s->state == SMTP_DATA)
		smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_process(s);
}

/* no spool file: DATA is refused now, a BDAT chunk once it is read */
void
smtp_session_create_failed(uint64_t reqid)
{
	struct smtp_session *s;

	if ((s = smtp_waiting(reqid, WAIT_CREATE)) == NULL)
		return;
	if (s->state == SMTP_BDAT) {
		s->txn.chunk_discard = 1;
		s->txn.chunk_failed = 1;
	} else if (s->state == SMTP_DATA) {
		smtp_reply(s,
		    "451 4.3.0 Cannot queue the message now, try "
		    "again later");
		smtp_txn_reset(s);
		s->state = SMTP_COMMAND;
		smtp_wait_command(s);
	}
	smtp_process(s);
}

/* smtp_body's writer: the spool file */
static int
smtp_spool_write(void *arg, const void *data, size_t len)
{
	struct smtp_session *s = arg;

	if (s->authed)
		smtp_headers_feed(&s->headers, data, len);
	if (write_all(s->spoolfd, data, len) == -1) {
		log_warn("%s: spool write", s->addr);
		return -1;
	}
	return 0;
}

static void
smtp_message_start(struct smtp_session *s)
{
	struct smtp_received r;
	char tls[128];

	r.hostname = child->conf.hostname;
	r.esmtp = s->esmtp;
	r.tls = NULL;
	r.auth = s->authed;
	r.time = time(NULL);
	if (s->tls) {
		tls_info(s->bev, tls, sizeof(tls));
		r.tls = tls;
	}
	smtp_body_begin(
	    &s->txn, child->conf.max_message_size, smtp_spool_write, s, &r);
	if (s->state == SMTP_DATA)
		smtp_wait_data(s);
}

static void
smtp_commit(struct smtp_session *s)
{
	struct msg_writer w;

	msg_writer_init(&w);
	smtp_wait(s, WAIT_COMMIT);
	msg_put_u64(&w, s->reqid);
	msg_put_u64(&w, s->txn.msgid);
	msg_put_u64(&w, s->txn.size);
	msg_put_u32(&w, s->txn.crc);
	child_send(PROC_QUEUE, IMSG_QUEUE_COMMIT, 0, -1, &w);
}

/* a submitted message: auth says whether its From: is the user's */
static void
smtp_from_check(struct smtp_session *s)
{
	struct smtp_from from;
	int rv;

	rv = smtp_headers_from(&s->headers, &from);
	switch (rv) {
	case SMTP_FROM_OK:
		smtp_sender_check(s, WAIT_FROM, from.addr, from.n);
		smtp_from_clear(&from);
		return;
	case SMTP_FROM_NONE:
		smtp_reply(s, "553 5.7.1 Message has no From: address");
		break;
	case SMTP_FROM_BAD:
		smtp_reply(s,
		    "553 5.7.1 From: header is not a list of "
		    "addresses");
		break;
	case SMTP_FROM_TOO_LONG:
		smtp_reply(s, "552 5.3.4 Header section longer than %d octets",
		    SMTP_HEADERS_MAX);
		break;
	default:
		smtp_reply(s, "451 4.3.0 Local error, try again later");
		smtp_txn_reset(s);
		return;
	}
	log_info("%s: user %s: message from <%s> refused: From: header "
		 "(%d)",
	    s->addr, s->auth_user, s->txn.env.sender, rv);
	smtp_txn_reset(s);
	smtp_error(s);
}

/* the body is in; commit it, or say why not */
static void
smtp_message_end(struct smtp_session *s)
{
	s->state = SMTP_COMMAND;
	smtp_wait_command(s);
	switch (smtp_body_finish(&s->txn)) {
	case SMTP_BODY_OK:
		if (s->authed) {
			smtp_from_check(s);
			return;
		}
		smtp_commit(s);
		return;
	case SMTP_BODY_BARE_CRLF:
		smtp_reply(s,
		    "550 5.6.0 Bare CR or LF in message text; lines "
		    "must end with CRLF");
		break;
	case SMTP_BODY_LINE_TOO_LONG:
		smtp_reply(s,
		    "550 5.6.0 Message line longer than 1000 "
		    "octets");
		break;
	case SMTP_BODY_TOO_BIG:
		smtp_reply(s,
		    "552 5.3.4 Message size exceeds the limit of "
		    "%" PRIu64 " bytes",
		    child->conf.max_message_size);
		break;
	case SMTP_BODY_WRITE_ERROR:
		/* our failure, not the client's: no error counted */
		smtp_reply(s,
		    "451 4.3.0 Local error writing the message, try "
		    "again later");
		smtp_txn_reset(s);
		return;
	}
	if (smtp_error(s) == 0)
		smtp_txn_reset(s);
}

void
smtp_session_committed(uint64_t reqid, int ok)
{
	struct smtp_session *s;

	if ((s = smtp_waiting(reqid, WAIT_COMMIT)) == NULL)
		return;
	if (ok)
		smtp_reply(
		    s, "250 2.0.0 Ok: queued as %016" PRIx64, s->txn.msgid);
	else
		smtp_reply(s,
		    "451 4.3.0 Could not store the message, try "
		    "again later");
	log_info("%s: message %016" PRIx64 " %s, %" PRIu64 " bytes, from <%s>, "
		 "%u recipients%s%s",
	    s->addr, s->txn.msgid, ok ? "queued" : "NOT queued", s->txn.size,
	    s->txn.env.sender, s->txn.env.nrcpt, s->authed ? ", user " : "",
	    s->authed ? s->auth_user : "");
	/* the queue owns the file now: no abort */
	close(s->spoolfd);
	s->spoolfd = -1;
	smtp_txn_reset(s);
	if (s->expired) {
		smtp_reply(s, "421 4.4.2 %s Timeout, closing connection",
		    child->conf.hostname);
		smtp_close(s);
		return;
	}
	smtp_process(s);
}

static void
smtp_data(struct smtp_session *s)
{
	if (!s->txn.active) {
		smtp_reply(s, "503 5.5.1 Need MAIL before DATA");
		return;
	}
	if (s->txn.env.nrcpt == 0) {
		smtp_reply(s, "554 5.5.1 No valid recipients");
		return;
	}
	if (s->txn.bdat) {
		smtp_reply(s, "503 5.5.1 DATA after BDAT");
		return;
	}
	s->state = SMTP_DATA;
	smtp_create(s);
}

static void
smtp_bdat(struct smtp_session *s, struct smtp_command *cmd)
{
	s->state = SMTP_BDAT;
	smtp_body_chunk_begin(&s->txn, cmd->chunk_size, cmd->last);
	smtp_wait_data(s);
	if (!s->txn.active || s->txn.env.nrcpt == 0) {
		s->txn.chunk_discard = 1;
		return;
	}
	if (!s->txn.bdat) {
		s->txn.bdat = 1;
		smtp_create(s);
	}
}

static void
smtp_starttls(struct smtp_session *s)
{
	if (!tls_server_available(&child->tls)) {
		smtp_reply(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (s->tls) {
		smtp_reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (tls_server_ctx(&child->tls) == NULL) {
		smtp_reply(s,
		    "454 4.7.0 TLS not available due to temporary "
		    "reason");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	s->state = SMTP_TLS_PENDING;
	bufferevent_disable(s->bev, EV_READ);
}

/* the 220 is out: discard whatever plaintext followed, then handshake */
static void
smtp_tls_begin(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	void *ctx;

	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_free(s->bev);
	s->bev = NULL;
	/* the 220 is out: a client that gets no handshake sees a close */
	if ((ctx = tls_server_ctx(&child->tls)) == NULL ||
	    (s->bev = tls_accept_bufferevent(child->base, s->fd, ctx)) ==
		NULL) {
		log_warnx("%s: cannot start TLS", s->addr);
		close(s->fd);
		s->fd = -1;
		smtp_drop(s);
		return;
	}
	s->tls = 1;
	bufferevent_setcb(s->bev, smtp_read, smtp_write, smtp_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_MAX);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->state = SMTP_COMMAND;
	s->helo_done = 0;
	smtp_txn_reset(s);
	smtp_wait_command(s);
}

/* ask auth whether user and password log in */
static void
smtp_auth_request(struct smtp_session *s, const char *user, const char *pass)
{
	struct msg_writer w;

	smtp_wait(s, WAIT_AUTH);
	msg_writer_init(&w);
	auth_login_make(&w, s->reqid, AUTH_SERVICE_SMTP, user, pass, s->addr);
	child_send(PROC_AUTH, IMSG_AUTH_LOGIN, 0, -1, &w);
}

void
smtp_session_auth_result(const struct auth_login_result *res)
{
	struct smtp_session *s;

	if ((s = smtp_waiting(res->reqid, WAIT_AUTH)) == NULL)
		return;
	switch (res->status) {
	case AUTH_LOGIN_OK:
		s->authed = 1;
		strlcpy(s->auth_user, res->user, sizeof(s->auth_user));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_LOGIN_LIMITED:
		smtp_reply(s,
		    "454 4.7.0 Too many failed logins, try again "
		    "later");
		smtp_error(s);
		break;
	case AUTH_LOGIN_TEMPFAIL:
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	default:
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_error(s);
		break;
	}
	smtp_process(s);
}

/* PLAIN's message, initial or answering the 334 */
static void
smtp_auth_plain(struct smtp_session *s, const char *b64, size_t len)
{
	char user[AUTH_LOGIN_USER_MAX + 1], pass[AUTH_LOGIN_PASSWORD_MAX + 1];
	int rv;

	rv =
	    sasl_plain_decode(b64, len, user, sizeof(user), pass, sizeof(pass));
	if (rv == 0)
		smtp_auth_request(s, user, pass);
	else if (rv == -2) {
		smtp_reply(s, "535 5.7.8 Cannot authenticate as another user");
		smtp_error(s);
	} else {
		smtp_reply(s, "501 5.5.2 Invalid PLAIN response");
		smtp_error(s);
	}
	explicit_bzero(user, sizeof(user));
	explicit_bzero(pass, sizeof(pass));
}

/* LOGIN's user name, initial or answering the first 334 */
static void
smtp_auth_login_user(struct smtp_session *s, const char *b64, size_t len)
{
	if (smtp_auth_login_decode(
		b64, len, s->sasl_user, sizeof(s->sasl_user)) == -1) {
		smtp_reply(s, "501 5.5.2 Invalid base64 data");
		smtp_error(s);
		return;
	}
	s->sasl = SASL_LOGIN_PASS;
	smtp_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
}

/* a line answering a 334: the SASL exchange goes on or ends */
static void
smtp_sasl_line(struct smtp_session *s, const char *line, size_t len)
{
	char pass[AUTH_LOGIN_PASSWORD_MAX + 1];
	enum smtp_sasl step = s->sasl;

	s->sasl = SASL_NONE;
	if (len == 1 && line[0] == '*') {
		explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		smtp_error(s);
		return;
	}
	switch (step) {
	case SASL_PLAIN:
		smtp_auth_plain(s, line, len);
		break;
	case SASL_LOGIN_USER:
		smtp_auth_login_user(s, line, len);
		break;
	case SASL_LOGIN_PASS:
		if (smtp_auth_login_decode(line, len, pass, sizeof(pass)) ==
		    -1) {
			smtp_reply(s, "501 5.5.2 Invalid base64 data");
			smtp_error(s);
		} else
			smtp_auth_request(s, s->sasl_user, pass);
		explicit_bzero(pass, sizeof(pass));
		explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
		break;
	case SASL_NONE:
		break;
	}
}

/* the exchange ends unanswered (a line too long, a bare LF) */
static void
smtp_sasl_abort(struct smtp_session *s)
{
	s->sasl = SASL_NONE;
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
}

/* RFC 4954 on submission and submissions, under TLS alone */
static void
smtp_auth(struct smtp_session *s, struct smtp_command *cmd)
{
	const char *ir = cmd->auth_initial;

	if (s->kind == LISTEN_SMTP) {
		smtp_reply(s, "503 5.5.1 AUTH not available here");
		smtp_error(s);
		return;
	}
	if (!s->tls) {
		smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		smtp_error(s);
		return;
	}
	if (!s->helo_done || !s->esmtp) {
		smtp_reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->authed) {
		smtp_reply(s, "503 5.5.1 Already authenticated");
		smtp_error(s);
		return;
	}
	if (s->txn.active) {
		smtp_reply(s,
		    "503 5.5.1 AUTH not allowed in a mail "
		    "transaction");
		return;
	}
	if (strcmp(cmd->arg, "PLAIN") == 0) {
		if (ir[0] == '\0') {
			s->sasl = SASL_PLAIN;
			smtp_reply(s, "334 ");
		} else
			smtp_auth_plain(s, strcmp(ir, "=") == 0 ? "" : ir,
			    strcmp(ir, "=") == 0 ? 0 : strlen(ir));
	} else if (strcmp(cmd->arg, "LOGIN") == 0) {
		if (ir[0] == '\0') {
			s->sasl = SASL_LOGIN_USER;
			smtp_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
		} else
			smtp_auth_login_user(s, ir, strlen(ir));
	} else {
		smtp_reply(s,
		    "504 5.5.4 Unrecognized authentication "
		    "mechanism");
		smtp_error(s);
	}
}

static void
smtp_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	char err[256];
	int code;

	/* an AUTH line may carry a password */
	if (len >= 4 && strncasecmp(line, "AUTH", 4) == 0)
		log_debug("%s: >>> AUTH ...", s->addr);
	else
		log_debug("%s: >>> %.*s", s->addr, (int)(len > 200 ? 200 : len),
		    line);
	if ((code = smtp_parse_command(line, len, &cmd, err, sizeof(err))) !=
	    0) {
		smtp_reply(s, "%d %s", code, err);
		smtp_error(s);
		return;
	}
	switch (cmd.verb) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		smtp_ehlo(s, &cmd);
		break;
	case SMTP_CMD_MAIL:
		smtp_mail(s, &cmd);
		break;
	case SMTP_CMD_RCPT:
		smtp_rcpt(s, &cmd);
		break;
	case SMTP_CMD_DATA:
		smtp_data(s);
		break;
	case SMTP_CMD_BDAT:
		smtp_bdat(s, &cmd);
		break;
	case SMTP_CMD_RSET:
		smtp_txn_reset(s);
		smtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_NOOP:
		smtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_QUIT:
		smtp_reply(s, "221 2.0.0 Bye");
		smtp_close(s);
		break;
	case SMTP_CMD_VRFY:
		smtp_reply(s,
		    "252 2.5.2 Cannot VRFY user, but will accept "
		    "the message");
		break;
	case SMTP_CMD_EXPN:
		smtp_reply(s, "502 5.5.1 EXPN not available");
		break;
	case SMTP_CMD_HELP:
		smtp_reply(s, "214 2.0.0 See RFC 5321");
		break;
	case SMTP_CMD_STARTTLS:
		smtp_starttls(s);
		break;
	case SMTP_CMD_AUTH:
		smtp_auth(s, &cmd);
		explicit_bzero(cmd.auth_initial, sizeof(cmd.auth_initial));
		break;
	}
}

static void
smtp_bdat_chunk_done(struct smtp_session *s)
{
	if (s->txn.chunk_discard) {
		s->state = SMTP_COMMAND;
		smtp_wait_command(s);
		if (s->txn.chunk_failed) {
			/* the queue's failure: not the client's error */
			smtp_reply(s,
			    "451 4.3.0 Cannot queue the message now, "
			    "try again later");
			smtp_txn_reset(s);
			return;
		}
		if (!s->txn.active)
			smtp_reply(s, "503 5.5.1 Need MAIL before BDAT");
		else
			smtp_reply(s, "554 5.5.1 No valid recipients");
		smtp_txn_reset(s);
		smtp_error(s);
		return;
	}
	if (!s->txn.chunk_last) {
		s->state = SMTP_COMMAND;
		smtp_wait_command(s);
		smtp_reply(s, "250 2.0.0 %" PRIu64 " octets received",
		    s->txn.chunk_size);
		return;
	}
	smtp_message_end(s);
}

/*
 * The input, read in place, to the body (DATA or the BDAT chunk): what it
 * took is drained.  0 if there was nothing; *done once DATA has ended.
 */
static size_t
smtp_message_input(struct smtp_session *s, struct evbuffer *in, int *done)
{
	struct evbuffer_iovec v[SMTP_INPUT_VECS];
	size_t took = 0, n;
	int i, nv;

	*done = 0;
	if ((nv = evbuffer_peek(in, -1, NULL, v, SMTP_INPUT_VECS)) >
	    SMTP_INPUT_VECS)
		nv = SMTP_INPUT_VECS;
	for (i = 0; i < nv; i++) {
		if (s->state == SMTP_DATA)
			n = smtp_body_data(
			    &s->txn, v[i].iov_base, v[i].iov_len, done);
		else
			n = smtp_body_chunk(
			    &s->txn, v[i].iov_base, v[i].iov_len);
		took += n;
		if (n < v[i].iov_len || *done)
			break;
	}
	evbuffer_drain(in, took);
	smtp_data_progress(s, took);
	return took;
}

/* take one command line off the input; 1 got one, 0 need more */
static int
smtp_getline(struct smtp_session *s, struct evbuffer *in, char *buf,
    size_t *len, int *crlf)
{
	struct evbuffer_ptr p;
	size_t avail;

	p = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (p.pos == -1) {
		if ((avail = evbuffer_get_length(in)) < SMTP_LINE_MAX)
			return 0;
		/* an overlong line: drop it as it comes */
		s->in_long_line = 1;
		evbuffer_drain(in, avail);
		return 0;
	}
	if (s->in_long_line || (size_t)p.pos + 1 > SMTP_LINE_MAX) {
		evbuffer_drain(in, (size_t)p.pos + 1);
		s->in_long_line = 0;
		*len = SIZE_MAX;
		return 1;
	}
	evbuffer_remove(in, buf, (size_t)p.pos + 1);
	*len = (size_t)p.pos;
	*crlf = *len > 0 && buf[*len - 1] == '\r';
	if (*crlf)
		(*len)--;
	buf[*len] = '\0';
	return 1;
}

/* 1 if the client has left enough replies unread: its input waits */
static int
smtp_output_full(struct smtp_session *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev)) >
	    SMTP_OUTPUT_MAX;
}

static void
smtp_process_input(struct smtp_session *s)
{
	struct evbuffer *in;
	char line[SMTP_LINE_MAX + 1];
	size_t len;
	int crlf, done;

	while (s->wait == WAIT_NONE && s->tarpit == 0) {
		/* replies pile up only for a client that does not read */
		if (smtp_output_full(s)) {
			s->out_paused = 1;
			return;
		}
		in = bufferevent_get_input(s->bev);
		switch (s->state) {
		case SMTP_COMMAND:
			if (!smtp_getline(s, in, line, &len, &crlf))
				return;
			/* a whole line: the command clock restarts */
			smtp_wait_command(s);
			if (s->sasl != SASL_NONE && (len == SIZE_MAX || !crlf))
				smtp_sasl_abort(s);
			if (len == SIZE_MAX) {
				smtp_reply(s, "500 5.5.2 Line too long");
				if (smtp_error(s) == -1)
					return;
				continue;
			}
			if (!crlf) {
				smtp_reply(s,
				    "500 5.5.2 Bare LF; lines must "
				    "end with CRLF");
				if (smtp_error(s) == -1)
					return;
				continue;
			}
			if (s->sasl != SASL_NONE)
				smtp_sasl_line(s, line, len);
			else
				smtp_command(s, line, len);
			/* it may have been a password */
			explicit_bzero(line, len);
			break;
		case SMTP_DATA:
			if (smtp_message_input(s, in, &done) == 0)
				return;
			if (done)
				smtp_message_end(s);
			break;
		case SMTP_BDAT:
			if (s->txn.chunk_left > 0) {
				if (smtp_message_input(s, in, &done) == 0)
					return;
				continue;
			}
			smtp_bdat_chunk_done(s);
			break;
		default:
			return;
		}
	}
}

/* never re-entered: a TLS write may call back in the middle of a reply */
static void
smtp_process(struct smtp_session *s)
{
	if (s->processing)
		return;
	s->processing = 1;
	smtp_process_input(s);
	s->processing = 0;
}

static void
smtp_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
#ifdef TCP_QUICKACK
	int one = 1;

	/*
	 * Clients that write a command or a body in pieces wait for our ACK
	 * before the next piece (Nagle); a delayed ACK would stall them.
	 */
	setsockopt(s->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#endif
	smtp_process(s);
}

static void
smtp_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	switch (s->state) {
	case SMTP_CLOSING:
		smtp_timer_set(s, now_ms());
		break;
	case SMTP_TLS_PENDING:
		smtp_tls_begin(s);
		break;
	default:
		if (s->out_paused) {
			s->out_paused = 0;
			smtp_process(s);
		}
		break;
	}
}

static void
smtp_event(struct bufferevent *bev, short events, void *arg)
{
	struct smtp_session *s = arg;

	if (events & BEV_EVENT_CONNECTED)
		return;
	if (events & BEV_EVENT_ERROR)
		log_debug("%s: connection error", s->addr);
	smtp_drop(s);
}

/* the session's one timer: the tarpit, the timeouts, the deadline */
static void
smtp_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct smtp_session *s = arg;
	uint64_t now = now_ms();
	int deadline;

	s->timer_at = 0;
	if (s->state == SMTP_CLOSING) {
		smtp_free(s);
		return;
	}
	if (s->tarpit != 0 && now >= s->tarpit) {
		s->tarpit = 0;
		smtp_process(s);
		if (s->state == SMTP_CLOSING)
			return;
	}
	if (now < smtp_due(s)) {
		smtp_timer_set(s, smtp_due(s));
		return;
	}
	/* a 421 now would hide the commit's answer: it comes first */
	if (s->wait == WAIT_COMMIT) {
		s->expired = 1;
		return;
	}
	deadline = now >= s->deadline;
	log_info("%s: %s", s->addr,
	    deadline ? "session time limit reached" : "timeout");
	smtp_reply(s, "421 4.4.2 %s %s, closing connection",
	    child->conf.hostname,
	    deadline ? "Session time limit reached" : "Timeout");
	smtp_close(s);
}
