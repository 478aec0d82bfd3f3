/*
 * The roles, one row each: everything the parent and the child frame need
 * to know about a role.  Adding a role is a PROC_* value in common.h, a
 * row here, its sandbox profile in common/sandbox.c and its directory
 * with a role_main().
 */

#include <stdlib.h>
#include <string.h>

#include "boxd.h"

#define PEER(p)	    (1U << (p))
#define LISTENER(k) (1U << (k))

/* a table, one row a role, laid out to be read */
/* clang-format off */
static const struct role roles[PROC_COUNT] = {
	[PROC_PARENT] = {
		.name = "parent",
		.user = "root",
	},
	[PROC_CONTROL] = {
		.name = "control",
		.user = "_boxd",
		.sandbox = &sandbox_profile_control,
		.peers = PEER(PROC_SMTP) | PEER(PROC_AUTH) | PEER(PROC_QUEUE) |
		    PEER(PROC_SIGNER) | PEER(PROC_IMAP),
		.main = control_main,
	},
	[PROC_SMTP] = {
		.name = "smtp",
		.user = "_boxsmtp",
		.sandbox = &sandbox_profile_smtp,
		.tls_server = 1,
		.listeners = LISTENER(LISTEN_SMTP) |
		    LISTENER(LISTEN_SUBMISSION) | LISTENER(LISTEN_SUBMISSIONS),
		.peers = PEER(PROC_CONTROL) | PEER(PROC_AUTH) |
		    PEER(PROC_QUEUE) | PEER(PROC_SIGNER),
		.main = smtp_main,
	},
	[PROC_AUTH] = {
		.name = "auth",
		.user = "_boxauth",
		.jail = "db",
		.sandbox = &sandbox_profile_auth,
		.peers = PEER(PROC_CONTROL) | PEER(PROC_SMTP) |
		    PEER(PROC_QUEUE) | PEER(PROC_IMAP),
		.main = auth_main,
	},
	[PROC_QUEUE] = {
		.name = "queue",
		.user = "_boxqueue",
		.jail = "queue",
		.sandbox = &sandbox_profile_queue,
		.peers = PEER(PROC_CONTROL) | PEER(PROC_SMTP) |
		    PEER(PROC_AUTH) | PEER(PROC_MDA) | PEER(PROC_MTA),
		.main = queue_main,
	},
	[PROC_MDA] = {
		.name = "mda",
		.user = "_boxmail",
		.jail = "mail",
		.sandbox = &sandbox_profile_mda,
		.peers = PEER(PROC_QUEUE) | PEER(PROC_IMAP),
		.main = mda_main,
	},
	[PROC_MTA] = {
		.name = "mta",
		.user = "_boxsmtp",
		.sandbox = &sandbox_profile_mta,
		.peers = PEER(PROC_QUEUE) | PEER(PROC_SIGNER),
		.main = idle_main,
	},
	[PROC_SIGNER] = {
		.name = "signer",
		.user = "_boxsign",
		.sandbox = &sandbox_profile_signer,
		.dkim_keys = 1,
		.peers = PEER(PROC_CONTROL) | PEER(PROC_SMTP) | PEER(PROC_MTA),
		.main = signer_main,
	},
	[PROC_IMAP] = {
		.name = "imap",
		.user = "_boxmail",
		.jail = "mail",
		.sandbox = &sandbox_profile_imap,
		.tls_server = 1,
		.listeners = LISTENER(LISTEN_IMAP) | LISTENER(LISTEN_IMAPS) |
		    LISTENER(LISTEN_POP3) | LISTENER(LISTEN_POP3S),
		.peers = PEER(PROC_AUTH) | PEER(PROC_MDA) | PEER(PROC_CONTROL),
		.main = imap_main,
	},
};
/* clang-format on */

static enum proc_type role_running = PROC_PARENT;

const struct role *
role_get(enum proc_type p)
{
	if ((int)p < 0 || p >= PROC_COUNT)
		fatalx("no role %d", p);
	return &roles[p];
}

const char *
proc_name(enum proc_type p)
{
	if ((int)p < 0 || p >= PROC_COUNT)
		return "unknown";
	return roles[p].name;
}

int
proc_from_name(const char *name)
{
	int i;

	for (i = 0; i < PROC_COUNT; i++)
		if (strcmp(roles[i].name, name) == 0)
			return i;
	return -1;
}

const char *
proc_user(enum proc_type p)
{
	return role_get(p)->user;
}

/* every child talks to the parent; two children if either row says so */
int
proc_linked(enum proc_type a, enum proc_type b)
{
	if (a == b)
		return 0;
	if (a == PROC_PARENT || b == PROC_PARENT)
		return 1;
	return (role_get(a)->peers & PEER(b)) != 0 ||
	    (role_get(b)->peers & PEER(a)) != 0;
}

int
role_serves(enum proc_type p, enum listen_kind kind)
{
	return (role_get(p)->listeners & LISTENER(kind)) != 0;
}

void
role_run(enum proc_type p)
{
	if (p <= PROC_PARENT || role_get(p)->main == NULL)
		fatalx("role %s does not run on its own", proc_name(p));
	role_running = p;
	role_get(p)->main();
	exit(0);
}

enum proc_type
role_self(void)
{
	return role_running;
}
