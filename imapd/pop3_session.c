/*
 * POP3 (RFC 1939, 2449, 2595, 5034) on the user's INBOX.
 */

#include "boxd.h"
#include "imapd.h"

void
pop3_greeting(struct imap_session *s)
{
	imap_reply(s, "+OK %s POP3 ready", child->conf.hostname);
}

void
pop3_command(struct imap_session *s, const char *line, size_t len)
{
	imap_command_done(s);
	imap_reply(s, "-ERR Not yet");
}

void
pop3_auth_done(struct imap_session *s, const struct auth_login_result *res)
{
}
