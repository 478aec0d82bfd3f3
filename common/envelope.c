/*
 * The envelope of one SMTP transaction, as it travels from smtp to queue
 * and sits in the spool file's header.
 */

#include <stdlib.h>
#include <string.h>

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
	    msg_get_u32(r, &env->flags) == -1 || msg_get_u32(r, &n) == -1)
		return -1;
	/* each delivery takes at least 16 bytes: refuse absurd counts */
	if (n == 0 || n > r->left / 16)
		return -1;
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
		if (strcmp(env->rcpt[i].mailbox, rcpt->mailbox) == 0)
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
