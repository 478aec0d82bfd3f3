/*
 * The logged-in user and the selected mailbox of a session.
 */

#include <stdlib.h>
#include <string.h>

#include "boxd.h"
#include "imapd.h"

struct imap_user {
	char address[SMTP_PATH_MAX];
	char mailbox[ENVELOPE_MAILBOX_MAX];
	uint64_t quota;
};

const char *
imap_session_login(struct imap_session *s, const struct auth_login_result *res)
{
	struct imap_user *u;

	u = xcalloc(1, sizeof(*u));
	strlcpy(u->address, res->user, sizeof(u->address));
	strlcpy(u->mailbox, res->mailbox, sizeof(u->mailbox));
	u->quota = res->quota;
	s->user = u;
	s->state = IMAP_AUTH;
	log_info("%s: %s logged in", s->addr, u->address);
	return NULL;
}

void
imap_session_logout_user(struct imap_session *s)
{
	free(s->user);
	s->user = NULL;
}

void
imap_mbox_sync(struct imap_session *s, int expunges_ok)
{
}

void
imap_mbox_condstore(struct imap_session *s)
{
	s->condstore = 1;
}

int
imap_append_literal(struct imap_session *s)
{
	return 0;
}

int
imap_append_input(struct imap_session *s, struct evbuffer *in, size_t n)
{
	return -1;
}

void
imap_append_cleanup(struct imap_session *s)
{
}
