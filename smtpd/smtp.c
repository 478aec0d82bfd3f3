/*
 * The smtp role: accepts connections on the smtp, submission and
 * submissions listeners and routes the answers of auth (recipients,
 * logins, senders) and queue to the sessions waiting for them.
 */

#include <stdlib.h>
#include <string.h>

#include "boxd.h"
#include "smtpd.h"

static struct listener_set *listeners;
static uint64_t next_reqid = 1;
static uint64_t stat_sessions;

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

static void
smtp_accept(void *arg, int fd, const struct sockaddr *sa, enum listen_kind kind,
    struct listener_client *c)
{
	smtp_session_new(fd, sa, kind, c);
}

/* submissions is TLS from the first byte: it gets no plaintext line */
static const char *
smtp_refusal(enum listen_kind kind, enum listener_refusal why)
{
	if (kind == LISTEN_SUBMISSIONS)
		return NULL;
	if (why == LISTENER_FULL)
		return "421 4.3.2 Too many sessions, try again later\r\n";
	return "421 4.7.0 Too many connections from your address, "
	       "try again later\r\n";
}

static void
smtp_limits(void *arg, uint32_t *sessions, uint32_t *per_client)
{
	*sessions = child->conf.limit_sessions;
	*per_client = child->conf.limit_connections;
}

static const struct listener_ops smtp_listener_ops = {
    .accept = smtp_accept,
    .refusal = smtp_refusal,
    .limits = smtp_limits,
    /* its socket and, while it receives, a spool file */
    .session_fds = 2,
    .sessions_directive = "limit sessions",
};

static void
smtp_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	const char *bad;

	if ((bad = session_parent_imsg(
		 listeners, &child->conf, &child->tls, imsg)) != NULL)
		child_bad_imsg(imsg, bad);
}

static void
smtp_auth_login_result(struct imsg *imsg)
{
	struct auth_login_result res;

	if (auth_login_result_decode(&res, imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "login result");
	smtp_session_auth_result(&res);
	explicit_bzero(&res, sizeof(res));
}

static void
smtp_auth_sender_result(struct imsg *imsg)
{
	struct msg_reader r;
	uint64_t reqid;
	uint32_t status, index;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_u64(&r, &reqid) == -1 || msg_get_u32(&r, &status) == -1 ||
	    msg_get_u32(&r, &index) == -1 || msg_get_end(&r) == -1 ||
	    status > AUTH_SENDER_TEMPFAIL || index >= AUTH_SENDER_MAX)
		child_bad_imsg(imsg, "sender result");
	smtp_session_sender_result(reqid, status);
}

static void
smtp_dispatch_auth(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;
	uint64_t reqid;
	uint32_t status, n, i;
	char **mailboxes;

	switch (imsg->hdr.type) {
	case IMSG_AUTH_LOGIN_RESULT:
		smtp_auth_login_result(imsg);
		return;
	case IMSG_AUTH_SENDER_RESULT:
		smtp_auth_sender_result(imsg);
		return;
	}
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
	/* the DKIM templates and digests of submitted mail */
	dkim_load();
	listeners = listener_set_new(
	    child->base, &smtp_listener_ops, NULL, child->conf.nlisteners);
	child_drop();
	child_sandbox();

	handlers[PROC_AUTH] = smtp_dispatch_auth;
	handlers[PROC_QUEUE] = smtp_dispatch_queue;
	handlers[PROC_CONTROL] = smtp_dispatch_control;
	handlers[PROC_SIGNER] = smtp_dispatch_signer;
	child_connect(handlers);
	/* AUTH's logins carry passwords */
	child->peer[PROC_AUTH]->ibuf.wipe = 1;
	child_run(NULL);
}
