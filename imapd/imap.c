/*
 * The imap role: accepts connections on the imap, imaps, pop3 and pop3s
 * listeners, counts sessions per client address and per user, and routes
 * auth's answers and mda's news to the sessions.
 */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"
#include "imapd.h"

/* a logged-in user's sessions, IMAP and POP3 */
struct imap_user_count {
	RB_ENTRY(imap_user_count) entry;
	char address[SMTP_PATH_MAX];
	uint32_t n;
};

static int
imap_user_count_cmp(struct imap_user_count *a, struct imap_user_count *b)
{
	return strcmp(a->address, b->address);
}

RB_HEAD(imap_users, imap_user_count);
RB_GENERATE_STATIC(imap_users, imap_user_count, entry, imap_user_count_cmp);

static struct imap_users users = RB_INITIALIZER(&users);
static struct listener_set *listeners;
static uint64_t sessions_open;

int
imap_user_session_add(const char *address)
{
	struct imap_user_count key, *u;

	strlcpy(key.address, address, sizeof(key.address));
	if ((u = RB_FIND(imap_users, &users, &key)) == NULL) {
		u = xcalloc(1, sizeof(*u));
		strlcpy(u->address, address, sizeof(u->address));
		RB_INSERT(imap_users, &users, u);
	}
	if (child->conf.limit_imap_per_user > 0 &&
	    u->n >= child->conf.limit_imap_per_user) {
		if (u->n == 0) {
			RB_REMOVE(imap_users, &users, u);
			free(u);
		}
		return -1;
	}
	u->n++;
	return 0;
}

void
imap_user_session_del(const char *address)
{
	struct imap_user_count key, *u;

	strlcpy(key.address, address, sizeof(key.address));
	if ((u = RB_FIND(imap_users, &users, &key)) == NULL)
		fatalx("%s: no session counted", __func__);
	if (--u->n == 0) {
		RB_REMOVE(imap_users, &users, u);
		free(u);
	}
}

/*
 * A message's ENVELOPE, BODYSTRUCTURE or BODY, computed once by the
 * store (which keeps it) from the message file.
 */
static int
imap_compute(int fd, int what, char **text, size_t *len)
{
	switch (what) {
	case CACHED_ENVELOPE:
		return imap_message_view(fd, IMAP_VIEW_ENVELOPE, text, len);
	case CACHED_BODYSTRUCTURE:
		return imap_message_view(
		    fd, IMAP_VIEW_BODYSTRUCTURE, text, len);
	case CACHED_BODY:
		return imap_message_view(fd, IMAP_VIEW_BODY, text, len);
	}
	return -1;
}

void
imap_stat_session_start(struct imap_session *s)
{
	sessions_open++;
}

void
imap_stat_session_end(struct imap_session *s)
{
	sessions_open--;
}

static void
imap_accept(void *arg, int fd, const struct sockaddr *sa, enum listen_kind kind,
    struct listener_client *c)
{
	imap_session_new(fd, sa, kind, c);
}

/* imaps and pop3s are TLS from the first byte: no plaintext line */
static const char *
imap_refusal(enum listen_kind kind, enum listener_refusal why)
{
	switch (kind) {
	case LISTEN_IMAP:
		return why == LISTENER_FULL
		    ? "* BYE Too many sessions, try again later\r\n"
		    : "* BYE Too many connections from your address\r\n";
	case LISTEN_POP3:
		return why == LISTENER_FULL
		    ? "-ERR [SYS/TEMP] Too many sessions, try again later\r\n"
		    : "-ERR [IN-USE] Too many connections from your "
		      "address\r\n";
	default:
		return NULL;
	}
}

static void
imap_limits(void *arg, uint32_t *sessions, uint32_t *per_client)
{
	*sessions = child->conf.limit_sessions;
	*per_client = child->conf.limit_imap_connections;
}

static const struct listener_ops imap_listener_ops = {
    .accept = imap_accept,
    .refusal = imap_refusal,
    .limits = imap_limits,
    /* its socket, a message file it reads, an APPEND's file */
    .session_fds = 3,
    .sessions_directive = "limit sessions",
};

static void
imap_add_listener(struct imsg *imsg)
{
	const struct listen_conf *lc;
	uint32_t idx = imsg->hdr.peerid;

	if (idx >= child->conf.nlisteners || imsg->fd == -1)
		child_bad_imsg(imsg, "listener");
	lc = &child->conf.listeners[idx];
	listener_add(listeners, imsg->fd, lc->kind);
	imsg->fd = -1;
	log_debug("listening on %s port %u (%s)", lc->addr, lc->port,
	    listen_kind_name(lc->kind));
}

static void
imap_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_CONF_LISTENER:
		imap_add_listener(imsg);
		break;
	case IMSG_CONF_TLS:
		if (tls_server_reload(&child->tls, &r) == -1)
			child_bad_imsg(imsg, "tls");
		break;
	default:
		child_bad_imsg(imsg, "from parent");
	}
}

static void
imap_dispatch_auth(struct imsgev *iev, struct imsg *imsg)
{
	struct auth_login_result res;
	struct msg_reader r;
	char mailbox[ENVELOPE_MAILBOX_MAX];
	uint64_t quota;

	switch (imsg->hdr.type) {
	case IMSG_AUTH_LOGIN_RESULT:
		if (auth_login_result_decode(&res, imsg->data, imsg->datalen) ==
		    -1)
			child_bad_imsg(imsg, "login result");
		imap_auth_result(&res);
		break;
	case IMSG_AUTH_QUOTA:
		msg_reader_init(&r, imsg->data, imsg->datalen);
		if (msg_get_str(&r, mailbox, sizeof(mailbox)) == -1 ||
		    msg_get_u64(&r, &quota) == -1 || msg_get_end(&r) == -1 ||
		    !envelope_mailbox_valid(mailbox))
			child_bad_imsg(imsg, "quota");
		imap_mbox_quota_set(mailbox, quota);
		break;
	default:
		child_bad_imsg(imsg, "from auth");
	}
}

static void
imap_dispatch_mda(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;
	char mailbox[ENVELOPE_MAILBOX_MAX];

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (imsg->hdr.type != IMSG_MDA_DELIVERED ||
	    msg_get_str(&r, mailbox, sizeof(mailbox)) == -1 ||
	    msg_get_end(&r) == -1 || !envelope_mailbox_valid(mailbox))
		child_bad_imsg(imsg, "from mda");
	mailbox_notify_delivery(mailbox);
}

/* boxctl status: the sessions open now */
static void
imap_stats(struct imsg *imsg)
{
	struct msg_writer w;
	uint64_t v[CTL_COUNTERS] = {0};

	if (ctl_empty_decode(imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "stats request");
	v[CTL_IMAP_SESSIONS] = sessions_open;
	msg_writer_init(&w);
	ctl_stats_encode(&w, v);
	child_send(PROC_CONTROL, IMSG_STATS, imsg->hdr.peerid, -1, &w);
}

static void
imap_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_STATS_REQ:
		imap_stats(imsg);
		break;
	case IMSG_IMAP_USAGE_REQ:
		imap_usage_request(imsg);
		break;
	default:
		child_bad_imsg(imsg, "from control");
	}
}

void
imap_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};
	int rootfd;

	child_init(PROC_IMAP, imap_dispatch_parent);
	tls_load();
	/* the converters live outside the jail: opened now, kept */
	if (charset_init() == -1)
		log_warnx("some charsets cannot be converted");
	listeners = listener_set_new(
	    child->base, &imap_listener_ops, NULL, child->conf.nlisteners);
	child_drop();
	if ((rootfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("the mail directory");
	imap_mbox_init(rootfd);
	imap_usage_init(rootfd);
	mailbox_init(child->base, ".");
	mailbox_set_compute(imap_compute);
	child->stop = mailbox_flush_all;
	child_sandbox();

	handlers[PROC_AUTH] = imap_dispatch_auth;
	handlers[PROC_CONTROL] = imap_dispatch_control;
	handlers[PROC_MDA] = imap_dispatch_mda;
	child_connect(handlers);
	/* logins carry passwords */
	child->peer[PROC_AUTH]->ibuf.wipe = 1;
	child_run(NULL);
}
