/*
 * The envelope of one SMTP transaction, as it travels from smtp to queue
 * and sits in the spool file's header.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

void
envelope_marshal(const struct envelope *env, struct msg_writer *w)
{
	uint32_t i;

	msg_put_str(w, env->sender);
	msg_put_str(w, env->helo);
	msg_put_str(w, env->client_addr);
	msg_put_str(w, env->envid);
	msg_put_u64(w, env->time);
	msg_put_u32(w, env->flags);
	msg_put_u32(w, env->nrcpt);
	for (i = 0; i < env->nrcpt; i++) {
		msg_put_str(w, env->rcpt[i].addr);
		msg_put_str(w, env->rcpt[i].mailbox);
		msg_put_u32(w, env->rcpt[i].dsn_notify);
		msg_put_str(w, env->rcpt[i].orcpt);
	}
}

/* a str is its u32 length and its bytes */
#define MARSHAL_STR(s) (4 + strlen(s))

size_t
envelope_rcpt_marshal_size(const struct envelope_rcpt *rcpt)
{
	return MARSHAL_STR(rcpt->addr) + MARSHAL_STR(rcpt->mailbox) + 4 +
	    MARSHAL_STR(rcpt->orcpt);
}

size_t
envelope_marshal_size(const struct envelope *env)
{
	size_t n;
	uint32_t i;

	n = MARSHAL_STR(env->sender) + MARSHAL_STR(env->helo) +
	    MARSHAL_STR(env->client_addr) + MARSHAL_STR(env->envid) + 8 + 4 + 4;
	for (i = 0; i < env->nrcpt; i++)
		n += envelope_rcpt_marshal_size(&env->rcpt[i]);
	return n;
}

int
envelope_unmarshal(struct envelope *env, struct msg_reader *r)
{
	uint32_t i, n;

	memset(env, 0, sizeof(*env));
	if (msg_get_str(r, env->sender, sizeof(env->sender)) == -1 ||
	    msg_get_str(r, env->helo, sizeof(env->helo)) == -1 ||
	    msg_get_str(r, env->client_addr, sizeof(env->client_addr)) == -1 ||
	    msg_get_str(r, env->envid, sizeof(env->envid)) == -1 ||
	    msg_get_u64(r, &env->time) == -1 ||
	    msg_get_u32(r, &env->flags) == -1 || msg_get_u32(r, &n) == -1) {
		errno = EINVAL;
		return -1;
	}
	/* each delivery takes at least 16 bytes: refuse absurd counts */
	if (n == 0 || n > ENVELOPE_RCPT_MAX || n > r->left / 16) {
		errno = EINVAL;
		return -1;
	}
	if ((env->rcpt = calloc(n, sizeof(*env->rcpt))) == NULL)
		return -1;
	env->nrcpt = n;
	for (i = 0; i < n; i++) {
		if (msg_get_str(r, env->rcpt[i].addr,
			sizeof(env->rcpt[i].addr)) == -1 ||
		    msg_get_str(r, env->rcpt[i].mailbox,
			sizeof(env->rcpt[i].mailbox)) == -1 ||
		    msg_get_u32(r, &env->rcpt[i].dsn_notify) == -1 ||
		    msg_get_str(r, env->rcpt[i].orcpt,
			sizeof(env->rcpt[i].orcpt)) == -1) {
			envelope_clear(env);
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

int
envelope_add_rcpt(struct envelope *env, const struct envelope_rcpt *rcpt)
{
	uint32_t i;

	for (i = 0; i < env->nrcpt; i++)
		if (strcmp(env->rcpt[i].mailbox, rcpt->mailbox) == 0 &&
		    (rcpt->mailbox[0] != '\0' ||
			strcmp(env->rcpt[i].addr, rcpt->addr) == 0))
			return 0;
	env->rcpt =
	    xreallocarray(env->rcpt, env->nrcpt + 1, sizeof(*env->rcpt));
	env->rcpt[env->nrcpt++] = *rcpt;
	return 1;
}

void
envelope_clear(struct envelope *env)
{
	free(env->rcpt);
	env->rcpt = NULL;
	env->nrcpt = 0;
}

/* no control characters (CR, LF, NUL can never reach a header or a log) */
static int
envelope_text_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int
envelope_mailbox_valid(const char *mailbox)
{
	char domain[ENVELOPE_MAILBOX_MAX];
	const char *slash, *user;
	size_t len;

	if ((slash = strchr(mailbox, '/')) == NULL)
		return 0;
	len = (size_t)(slash - mailbox);
	user = slash + 1;
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	memcpy(domain, mailbox, len);
	domain[len] = '\0';
	/* domain_valid() refuses '/', '.' first and every control octet */
	if (!domain_valid(domain, 1) || !path_component_valid(domain))
		return 0;
	return strlen(user) <= SMTP_LOCALPART_MAX && path_component_valid(user);
}

int
envelope_sender_valid(const char *sender)
{
	struct mailaddr addr;

	return sender[0] == '\0' || mailaddr_parse(&addr, sender, 1) == 0;
}

/* an address the client gave at RCPT: a mailbox, or plain "postmaster" */
static int
envelope_rcpt_addr_valid(const char *addr)
{
	struct mailaddr a;

	return strcasecmp(addr, "postmaster") == 0 ||
	    mailaddr_parse(&a, addr, 1) == 0;
}

static int
envelope_check_fields(
    const struct envelope *env, int mailboxes, char *why, size_t whysz)
{
	const struct envelope_rcpt *rc;
	char show[80];
	uint32_t i;

	if (!envelope_sender_valid(env->sender)) {
		snprintf(why, whysz, "invalid sender <%s>",
		    envelope_show(env->sender, show, sizeof(show)));
		return -1;
	}
	if (!envelope_text_valid(env->helo) ||
	    !envelope_text_valid(env->client_addr) ||
	    !envelope_text_valid(env->envid)) {
		snprintf(why, whysz, "control characters in the envelope");
		return -1;
	}
	if ((env->flags & ~ENVELOPE_FLAGS) != 0) {
		snprintf(why, whysz, "unknown envelope flags 0x%x", env->flags);
		return -1;
	}
	if (env->nrcpt == 0) {
		snprintf(why, whysz, "no recipients");
		return -1;
	}
	if (env->nrcpt > ENVELOPE_RCPT_MAX) {
		snprintf(why, whysz, "%u recipients, more than %d", env->nrcpt,
		    ENVELOPE_RCPT_MAX);
		return -1;
	}
	for (i = 0; i < env->nrcpt; i++) {
		rc = &env->rcpt[i];
		if (mailboxes && rc->mailbox[0] != '\0' &&
		    !envelope_mailbox_valid(rc->mailbox)) {
			snprintf(why, whysz,
			    "recipient %u: invalid mailbox name \"%s\"", i,
			    envelope_show(rc->mailbox, show, sizeof(show)));
			return -1;
		}
		/* a remote recipient (no mailbox) has a domain to go to */
		if (!envelope_rcpt_addr_valid(rc->addr) ||
		    (rc->mailbox[0] == '\0' && strchr(rc->addr, '@') == NULL)) {
			snprintf(why, whysz,
			    "recipient %u: invalid address <%s>", i,
			    envelope_show(rc->addr, show, sizeof(show)));
			return -1;
		}
		if (!envelope_text_valid(rc->orcpt) ||
		    (rc->dsn_notify & ~DSN_NOTIFY_MASK) != 0) {
			snprintf(why, whysz,
			    "recipient %u: invalid DSN parameters", i);
			return -1;
		}
	}
	return 0;
}

int
envelope_check(const struct envelope *env, char *why, size_t whysz)
{
	return envelope_check_fields(env, 1, why, whysz);
}

int
envelope_check_spooled(const struct envelope *env, char *why, size_t whysz)
{
	return envelope_check_fields(env, 0, why, whysz);
}

const char *
envelope_show(const char *s, char *buf, size_t bufsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (bufsz < 4) {
		if (bufsz > 0)
			buf[0] = '\0';
		return buf;
	}
	for (; *p != '\0' && o < bufsz - 4; p++)
		buf[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
	buf[o] = '\0';
	if (*p != '\0')
		strlcat(buf, "...", bufsz);
	return buf;
}
