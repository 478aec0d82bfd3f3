/*
 * The auth role: owns the tables.  It answers recipient and sender
 * lookups from smtp, mailbox checks from the queue before a retry,
 * logins from imap and smtp (login.c), and runs the table commands
 * boxctl sends through control.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxd.h"
#include "authd.h"

/* an alias row lists its targets joined with commas */
#define AUTH_TARGETS_LINE_MAX (IMSG_CTL_MAX_SIZE - 1024)

static struct table *auth_table;
static struct login *auth_login;

static void auth_shutdown(void);
static void auth_dispatch_control(struct imsgev *, struct imsg *);
static void auth_dispatch_smtp(struct imsgev *, struct imsg *);
static void auth_ctl_done(uint32_t, int);
static void auth_ctl_domain_row(void *, const struct table_domain *);
static void auth_ctl_user_row(void *, const struct table_user *);
static void auth_ctl_alias_row(void *, const struct table_alias *);
static void auth_rcpt(struct imsg *, struct msg_reader *, enum proc_type);
static void auth_dispatch_queue(struct imsgev *, struct imsg *);
static void auth_mailbox_check(struct imsg *, struct msg_reader *);
static void auth_dispatch_imap(struct imsgev *, struct imsg *);
static void auth_login_request(struct imsg *, enum proc_type);

void
auth_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};
	char err[TABLE_ERR_MAX];

	child_init(PROC_AUTH, NULL);
	child_forget_tls();
	auth_libs_load();
	child_drop();
	/* in our jail, the environment's home is where we are */
	if ((auth_table = table_open(".", err, sizeof(err))) == NULL)
		fatalx("tables: %s", err);
	auth_login = login_new(auth_table);
	atexit(auth_shutdown);
	child_sandbox();
	handlers[PROC_CONTROL] = auth_dispatch_control;
	handlers[PROC_SMTP] = auth_dispatch_smtp;
	handlers[PROC_QUEUE] = auth_dispatch_queue;
	handlers[PROC_IMAP] = auth_dispatch_imap;
	child_connect(handlers);
	/* passwords of boxctl's requests, and of logins, come these ways */
	child->peer[PROC_CONTROL]->ibuf.wipe = 1;
	child->peer[PROC_IMAP]->ibuf.wipe = 1;
	child->peer[PROC_SMTP]->ibuf.wipe = 1;
	child_run(NULL);
}

/* a clean close checkpoints, so the next start has no log to replay */
static void
auth_shutdown(void)
{
	struct table *t = auth_table;

	auth_table = NULL;
	login_free(auth_login);
	auth_login = NULL;
	table_close(t);
}

/*
 * imap writes the limit into the Maildir's maildirsize, where mda finds
 * it at delivery: a user who has not logged in since is held to it too.
 */
static void
auth_quota_changed(const char *address, uint64_t quota)
{
	struct table_user u;
	struct msg_writer w;
	char mailbox[ENVELOPE_MAILBOX_MAX];

	if (table_user_get(auth_table, address, &u) != 0 ||
	    login_mailbox(u.address, mailbox, sizeof(mailbox)) == -1) {
		explicit_bzero(&u, sizeof(u));
		return;
	}
	explicit_bzero(&u, sizeof(u));
	msg_writer_init(&w);
	msg_put_str(&w, mailbox);
	msg_put_u64(&w, quota);
	child_send(PROC_IMAP, IMSG_AUTH_QUOTA, 0, -1, &w);
}

static void
auth_ctl_done(uint32_t peerid, int rv)
{
	struct msg_writer w;

	if (rv == 0)
		child_send(PROC_CONTROL, IMSG_CTL_OK, peerid, -1, NULL);
	else {
		msg_writer_init(&w);
		ctl_fail_encode(&w, table_error(auth_table));
		child_send(PROC_CONTROL, IMSG_CTL_FAIL, peerid, -1, &w);
	}
	if (table_broken(auth_table))
		fatalx("the tables need recovery");
}

static void
auth_ctl_domain_row(void *arg, const struct table_domain *d)
{
	uint32_t *peerid = arg;
	struct msg_writer w;
	char users[16], aliases[16];

	snprintf(users, sizeof(users), "%u", d->nusers);
	snprintf(aliases, sizeof(aliases), "%u", d->naliases);
	msg_writer_init(&w);
	ctl_row_encode(
	    &w, "domain", d->domain, "users", users, "aliases", aliases, NULL);
	child_send(PROC_CONTROL, IMSG_CTL_LINE, *peerid, -1, &w);
}

static void
auth_ctl_user_row(void *arg, const struct table_user *u)
{
	uint32_t *peerid = arg;
	struct msg_writer w;
	char quota[32];

	snprintf(quota, sizeof(quota), "%llu", (unsigned long long)u->quota);
	msg_writer_init(&w);
	ctl_row_encode(&w, "address", u->address, "quota", quota, "disabled",
	    (u->flags & TABLE_USER_DISABLED) ? "yes" : "no", NULL);
	child_send(PROC_CONTROL, IMSG_CTL_LINE, *peerid, -1, &w);
}

static void
auth_ctl_alias_row(void *arg, const struct table_alias *a)
{
	uint32_t *peerid = arg;
	struct msg_writer w;
	char *targets;
	size_t i;

	targets = xcalloc(1, AUTH_TARGETS_LINE_MAX);
	for (i = 0; i < a->ntargets; i++) {
		if (i > 0)
			strlcat(targets, ",", AUTH_TARGETS_LINE_MAX);
		if (strlcat(targets, a->targets[i], AUTH_TARGETS_LINE_MAX) >=
		    AUTH_TARGETS_LINE_MAX) {
			log_warnx(
			    "alias %s: too many targets to list", a->address);
			break;
		}
	}
	msg_writer_init(&w);
	ctl_row_encode(&w, "address", a->address, "targets", targets, NULL);
	free(targets);
	child_send(PROC_CONTROL, IMSG_CTL_LINE, *peerid, -1, &w);
}

static void
auth_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	struct ctl_request req;
	const char *name;
	uint32_t peerid = imsg->hdr.peerid;
	int rv;

	/*
	 * Control checked the shape; the contents are boxctl's, so names of
	 * any length get here and the table calls refuse them politely.
	 */
	if (ctl_request_decode(
		&req, imsg->hdr.type, imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "from control");
	name = req.name;
	switch (imsg->hdr.type) {
	case IMSG_CTL_DOMAIN_ADD:
		if ((rv = table_domain_add(auth_table, name)) == 0)
			log_info("domain %s added", name);
		break;
	case IMSG_CTL_DOMAIN_DEL:
		if ((rv = table_domain_del(auth_table, name)) == 0)
			log_info("domain %s deleted", name);
		break;
	case IMSG_CTL_DOMAIN_LIST:
		rv =
		    table_domain_list(auth_table, auth_ctl_domain_row, &peerid);
		break;
	case IMSG_CTL_USER_ADD:
		if ((rv = table_user_add(auth_table, name, req.password)) == 0)
			log_info("user %s added", name);
		break;
	case IMSG_CTL_USER_DEL:
		if ((rv = table_user_del(auth_table, name)) == 0)
			log_info("user %s deleted", name);
		break;
	case IMSG_CTL_USER_LIST:
		rv = table_user_list(
		    auth_table, name, auth_ctl_user_row, &peerid);
		break;
	case IMSG_CTL_USER_PASSWD:
		if ((rv = table_user_passwd(auth_table, name, req.password)) ==
		    0)
			log_info("user %s: password changed", name);
		break;
	case IMSG_CTL_USER_QUOTA:
		if ((rv = table_user_quota(auth_table, name, req.quota)) == 0) {
			log_info("user %s: quota %llu", name,
			    (unsigned long long)req.quota);
			auth_quota_changed(name, req.quota);
		}
		break;
	case IMSG_CTL_USER_DISABLE:
	case IMSG_CTL_USER_ENABLE:
		rv = table_user_disable(
		    auth_table, name, imsg->hdr.type == IMSG_CTL_USER_DISABLE);
		if (rv == 0)
			log_info("user %s %s", name,
			    imsg->hdr.type == IMSG_CTL_USER_DISABLE
				? "disabled"
				: "enabled");
		break;
	case IMSG_CTL_ALIAS_ADD:
		if ((rv = table_alias_add(auth_table, name,
			 (const char *const *)req.targets, req.ntargets)) == 0)
			log_info("alias %s added", name);
		break;
	case IMSG_CTL_ALIAS_DEL:
		if ((rv = table_alias_del(auth_table, name)) == 0)
			log_info("alias %s deleted", name);
		break;
	case IMSG_CTL_ALIAS_LIST:
		rv = table_alias_list(
		    auth_table, name, auth_ctl_alias_row, &peerid);
		break;
	default:
		child_bad_imsg(imsg, "from control");
	}
	ctl_request_clear(&req);
	if (imsg->data != NULL)
		explicit_bzero(imsg->data, imsg->datalen);
	auth_ctl_done(peerid, rv);
}

/* the longest answer, every mailbox an address may reach, fits an imsg */
_Static_assert(
    IMSG_HDR_SIZE + 16 + TABLE_RCPT_MAX * (4 + ENVELOPE_MAILBOX_MAX) <=
	IMSG_MAX_SIZE,
    "a recipient lookup answer fits one imsg");

/* smtp's RCPT, or the queue's search for a sender to report to */
static void
auth_rcpt(struct imsg *imsg, struct msg_reader *r, enum proc_type to)
{
	struct table_rcpt res;
	struct msg_writer w;
	uint64_t reqid;
	char *address;
	size_t i;

	if (msg_get_u64(r, &reqid) == -1 ||
	    msg_get_strdup(r, &address, SMTP_LINE_MAX) == -1 ||
	    msg_get_end(r) == -1)
		child_bad_imsg(imsg, "rcpt lookup");
	if (table_rcpt_lookup(auth_table, address, &res) == -1) {
		res.status = AUTH_RCPT_TEMPFAIL;
		res.nmailbox = 0;
	}
	log_debug("rcpt %s: status %d, %zu mailboxes", address, res.status,
	    res.nmailbox);
	free(address);
	msg_writer_init(&w);
	msg_put_u64(&w, reqid);
	msg_put_u32(&w, res.status);
	msg_put_u32(&w, (uint32_t)res.nmailbox);
	for (i = 0; i < res.nmailbox; i++)
		msg_put_str(&w, res.mailbox[i]);
	table_rcpt_clear(&res);
	child_send(to, IMSG_AUTH_RCPT_RESULT, imsg->hdr.peerid, -1, &w);
	if (table_broken(auth_table))
		fatalx("the tables need recovery");
}

/* may the AUTH user send as these addresses (MAIL FROM, From:)? */
static void
auth_sender(struct imsg *imsg, struct msg_reader *r)
{
	struct msg_writer w;
	uint64_t reqid;
	uint32_t n, i, status = AUTH_SENDER_OWNED, bad = 0;
	char user[TABLE_ADDR_MAX], address[SMTP_LINE_MAX], show[80];

	if (msg_get_u64(r, &reqid) == -1 ||
	    msg_get_str(r, user, sizeof(user)) == -1 ||
	    msg_get_u32(r, &n) == -1 || n == 0 || n > AUTH_SENDER_MAX)
		child_bad_imsg(imsg, "sender lookup");
	for (i = 0; i < n; i++) {
		if (msg_get_str(r, address, sizeof(address)) == -1)
			child_bad_imsg(imsg, "sender lookup");
		if (status != AUTH_SENDER_OWNED)
			continue;
		if ((status = table_sender_owned(auth_table, user, address)) !=
		    AUTH_SENDER_OWNED)
			bad = i;
		if (status == AUTH_SENDER_NOTOWNED)
			log_info("sender <%s> is not owned by user %s",
			    envelope_show(address, show, sizeof(show)), user);
	}
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "sender lookup");
	msg_writer_init(&w);
	msg_put_u64(&w, reqid);
	msg_put_u32(&w, status);
	msg_put_u32(&w, bad);
	child_send(PROC_SMTP, IMSG_AUTH_SENDER_RESULT, 0, -1, &w);
	if (table_broken(auth_table))
		fatalx("the tables need recovery");
}

static void
auth_dispatch_smtp(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_AUTH_RCPT:
		auth_rcpt(imsg, &r, PROC_SMTP);
		break;
	case IMSG_AUTH_SENDER:
		auth_sender(imsg, &r);
		break;
	case IMSG_AUTH_LOGIN:
		auth_login_request(imsg, PROC_SMTP);
		break;
	default:
		child_bad_imsg(imsg, "from smtp");
	}
}

/* the answer, a status for each of up to ENVELOPE_RCPT_MAX, fits an imsg */
_Static_assert(IMSG_HDR_SIZE + 12 + ENVELOPE_RCPT_MAX * 4 <= IMSG_MAX_SIZE,
    "a mailbox check answer fits one imsg");

/* a status for each mailbox, in order; a table error says "cannot tell" */
static void
auth_mailbox_check(struct imsg *imsg, struct msg_reader *r)
{
	struct msg_writer w;
	uint64_t msgid;
	uint32_t n, i, status, gone = 0;
	char mailbox[ENVELOPE_MAILBOX_MAX];

	if (msg_get_u64(r, &msgid) == -1 || msg_get_u32(r, &n) == -1 ||
	    n == 0 || n > ENVELOPE_RCPT_MAX || n > r->left / 4)
		child_bad_imsg(imsg, "mailbox check");
	msg_writer_init(&w);
	msg_put_u64(&w, msgid);
	msg_put_u32(&w, n);
	for (i = 0; i < n; i++) {
		/* the queue sends only names it checked */
		if (msg_get_str(r, mailbox, sizeof(mailbox)) == -1 ||
		    !envelope_mailbox_valid(mailbox))
			child_bad_imsg(imsg, "mailbox check");
		status = table_mailbox_status(auth_table, mailbox);
		gone += status == AUTH_MAILBOX_GONE;
		if (status == AUTH_MAILBOX_TEMPFAIL)
			log_warnx("mailbox %s cannot be checked (%s): "
				  "delivered as if it were there",
			    mailbox, table_error(auth_table));
		msg_put_u32(&w, status);
	}
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "mailbox check");
	log_debug("message %016" PRIx64 ": %u mailboxes checked, %u gone",
	    msgid, n, gone);
	child_send(PROC_QUEUE, IMSG_AUTH_MAILBOX_RESULT, 0, -1, &w);
	if (table_broken(auth_table))
		fatalx("the tables need recovery");
}

static void
auth_dispatch_queue(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_AUTH_RCPT:
		auth_rcpt(imsg, &r, PROC_QUEUE);
		break;
	case IMSG_AUTH_MAILBOX_CHECK:
		auth_mailbox_check(imsg, &r);
		break;
	default:
		child_bad_imsg(imsg, "from queue");
	}
}

/* a login; the answer goes back to the role that asked, the same peerid */
static void
auth_login_request(struct imsg *imsg, enum proc_type from)
{
	struct auth_login req;
	struct auth_login_result res;
	struct msg_writer w;

	if (auth_login_decode(&req, imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "login");
	login_check(auth_login, &req, child->conf.limit_auth_failures,
	    child->conf.limit_auth_period, time(NULL), &res);
	auth_login_clear(&req);
	msg_writer_init(&w);
	auth_login_result_encode(&w, &res);
	child_send(from, IMSG_AUTH_LOGIN_RESULT, imsg->hdr.peerid, -1, &w);
	if (table_broken(auth_table))
		fatalx("the tables need recovery");
}

static void
auth_dispatch_imap(struct imsgev *iev, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_AUTH_LOGIN:
		auth_login_request(imsg, PROC_IMAP);
		break;
	default:
		child_bad_imsg(imsg, "from imap");
	}
}
