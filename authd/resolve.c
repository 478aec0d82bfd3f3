/*
 * Recipient resolution: the mailboxes an address reaches.  The exact
 * user or alias, then the address without its +tag (subaddressing), then
 * the domain's catch-all; aliases expand recursively, with a depth limit
 * and loops cut; local parts compare without regard to ASCII case (the
 * keys are normalized).  One lookup is one read transaction through the
 * storage calls of table.c, so another backend leaves this file alone.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"

#define RESOLVE_VISITED_MAX 1024 /* aliases one lookup may expand */

/* what a name resolved to during a recipient lookup */
enum resolve_result {
	RESOLVE_NONE,	  /* no user, alias or catch-all by that name */
	RESOLVE_FOUND,	  /* something matched; mailboxes may follow */
	RESOLVE_DISABLED, /* a disabled user */
	RESOLVE_ERROR,	  /* table error or a limit: try later */
};

struct resolve {
	struct table *t;
	struct table_rcpt *res;
	char **visited; /* alias keys expanded so far */
	size_t nvisited;
	int remote; /* a remote target was skipped */
};

/* the domains of the tables, for RCPT TO:<postmaster> */
struct resolve_domains {
	char **v;
	size_t n;
};

static int rcpt_add_mailbox(struct resolve *, const char *, const char *);
static int resolve_visit(struct resolve *, const char *);
static enum resolve_result resolve_alias(struct resolve *, const char *, int);
static enum resolve_result
resolve_exact(struct resolve *, const char *, const char *, int);
static enum resolve_result
resolve_name(struct resolve *, const char *, const char *, int);
static void
resolve_in(struct table *, const char *, const char *, struct table_rcpt *);
static int resolve_domains_cb(void *, const char *);

void
table_rcpt_clear(struct table_rcpt *res)
{
	size_t i;

	for (i = 0; i < res->nmailbox; i++)
		free(res->mailbox[i]);
	free(res->mailbox);
	res->mailbox = NULL;
	res->nmailbox = 0;
}

/* 0 added or already there, -1 a limit or out of memory */
static int
rcpt_add_mailbox(struct resolve *rs, const char *local, const char *domain)
{
	struct table_rcpt *res = rs->res;
	char mailbox[ENVELOPE_MAILBOX_MAX];
	char **v;
	size_t i;

	if ((size_t)snprintf(mailbox, sizeof(mailbox), "%s/%s", domain,
		local) >= sizeof(mailbox))
		return -1;
	for (i = 0; i < res->nmailbox; i++)
		if (strcmp(res->mailbox[i], mailbox) == 0)
			return 0;
	if (res->nmailbox >= TABLE_RCPT_MAX) {
		log_warnx("table: more than %d mailboxes for one recipient",
		    TABLE_RCPT_MAX);
		return -1;
	}
	if ((v = reallocarray(res->mailbox, res->nmailbox + 1, sizeof(*v))) ==
	    NULL)
		return -1;
	res->mailbox = v;
	if ((v[res->nmailbox] = strdup(mailbox)) == NULL)
		return -1;
	res->nmailbox++;
	return 0;
}

/* 1 seen before (a loop), 0 first time, -1 a limit or out of memory */
static int
resolve_visit(struct resolve *rs, const char *key)
{
	char **v;
	size_t i;

	for (i = 0; i < rs->nvisited; i++)
		if (strcmp(rs->visited[i], key) == 0)
			return 1;
	if (rs->nvisited >= RESOLVE_VISITED_MAX) {
		log_warnx("table: more than %d aliases for one recipient",
		    RESOLVE_VISITED_MAX);
		return -1;
	}
	if ((v = reallocarray(rs->visited, rs->nvisited + 1, sizeof(*v))) ==
	    NULL)
		return -1;
	rs->visited = v;
	if ((v[rs->nvisited] = strdup(key)) == NULL)
		return -1;
	rs->nvisited++;
	return 0;
}

static enum resolve_result
resolve_alias(struct resolve *rs, const char *key, int depth)
{
	struct table_alias a;
	struct table *t = rs->t;
	enum resolve_result r = RESOLVE_FOUND;
	char local[TABLE_ADDR_MAX], *at;
	uint32_t i;
	int rv;

	if ((rv = table_alias_find(t, key, &a)) == -1)
		return RESOLVE_ERROR;
	if (rv == 0)
		return RESOLVE_NONE;
	if ((rv = resolve_visit(rs, key)) != 0) {
		if (rv == 1)
			log_debug("alias %s: loop cut", key);
		table_alias_clear(&a);
		return rv == 1 ? RESOLVE_FOUND : RESOLVE_ERROR;
	}
	for (i = 0; i < a.ntargets && r != RESOLVE_ERROR; i++) {
		if (strlcpy(local, a.targets[i], sizeof(local)) >=
			sizeof(local) ||
		    (at = strrchr(local, '@')) == NULL)
			continue;
		*at++ = '\0';
		if ((rv = table_domain_exists(t, at)) == -1) {
			r = RESOLVE_ERROR;
			break;
		}
		if (rv == 0) {
			/* forwarding comes with the mta role */
			log_warnx("alias %s: remote target %s skipped", key,
			    a.targets[i]);
			rs->remote = 1;
			continue;
		}
		switch (resolve_name(rs, local, at, depth + 1)) {
		case RESOLVE_ERROR:
			r = RESOLVE_ERROR;
			break;
		case RESOLVE_DISABLED:
			log_info("alias %s: target %s is disabled", key,
			    a.targets[i]);
			break;
		case RESOLVE_NONE:
			log_warnx("alias %s: target %s does not exist", key,
			    a.targets[i]);
			break;
		case RESOLVE_FOUND:
			break;
		}
	}
	table_alias_clear(&a);
	return r;
}

/* a user or an alias by exactly that name */
static enum resolve_result
resolve_exact(
    struct resolve *rs, const char *local, const char *domain, int depth)
{
	struct table_user u;
	char key[TABLE_ADDR_MAX];
	int rv, disabled;

	if ((size_t)snprintf(key, sizeof(key), "%s@%s", local, domain) >=
	    sizeof(key))
		return RESOLVE_NONE;
	if ((rv = table_user_find(rs->t, key, &u)) == -1)
		return RESOLVE_ERROR;
	if (rv == 0)
		return resolve_alias(rs, key, depth);
	disabled = u.flags & TABLE_USER_DISABLED;
	explicit_bzero(&u, sizeof(u));
	if (disabled)
		return RESOLVE_DISABLED;
	if (rcpt_add_mailbox(rs, local, domain) == -1)
		return RESOLVE_ERROR;
	return RESOLVE_FOUND;
}

/* the exact name, then without its +tag, then the domain's catch-all */
static enum resolve_result
resolve_name(
    struct resolve *rs, const char *local, const char *domain, int depth)
{
	enum resolve_result r;
	char base[TABLE_ADDR_MAX], key[TABLE_ADDR_MAX];
	char *plus;

	if (depth > TABLE_ALIAS_DEPTH) {
		log_warnx("alias chain to %s@%s longer than %d, cut", local,
		    domain, TABLE_ALIAS_DEPTH);
		return RESOLVE_FOUND;
	}
	if ((r = resolve_exact(rs, local, domain, depth)) != RESOLVE_NONE)
		return r;
	if (strlcpy(base, local, sizeof(base)) < sizeof(base) &&
	    (plus = strchr(base, '+')) != NULL && plus != base) {
		*plus = '\0';
		if ((r = resolve_exact(rs, base, domain, depth)) !=
		    RESOLVE_NONE)
			return r;
	}
	if ((size_t)snprintf(key, sizeof(key), "@%s", domain) >= sizeof(key))
		return RESOLVE_NONE;
	return resolve_alias(rs, key, depth);
}

/* local@domain in the open transaction; the domain is ours */
static void
resolve_in(struct table *t, const char *local, const char *domain,
    struct table_rcpt *res)
{
	struct resolve rs;
	enum resolve_result r;
	size_t i;

	memset(&rs, 0, sizeof(rs));
	rs.t = t;
	rs.res = res;
	r = resolve_name(&rs, local, domain, 0);
	for (i = 0; i < rs.nvisited; i++)
		free(rs.visited[i]);
	free(rs.visited);
	switch (r) {
	case RESOLVE_ERROR:
		res->status = AUTH_RCPT_TEMPFAIL;
		break;
	case RESOLVE_DISABLED:
		res->status = AUTH_RCPT_DISABLED;
		break;
	case RESOLVE_NONE:
		res->status = AUTH_RCPT_NOUSER;
		break;
	case RESOLVE_FOUND:
		if (res->nmailbox > 0)
			res->status = AUTH_RCPT_OK;
		else if (rs.remote)
			/* an address that forwards: not a permanent no */
			res->status = AUTH_RCPT_TEMPFAIL;
		else
			res->status = AUTH_RCPT_NOUSER;
		break;
	}
	if (res->status != AUTH_RCPT_OK)
		table_rcpt_clear(res);
}

static int
resolve_domains_cb(void *arg, const char *domain)
{
	struct resolve_domains *rd = arg;
	char **v;

	if ((v = reallocarray(rd->v, rd->n + 1, sizeof(*v))) == NULL)
		return -1;
	rd->v = v;
	if ((v[rd->n] = strdup(domain)) == NULL)
		return -1;
	rd->n++;
	return 0;
}

int
table_rcpt_lookup(struct table *t, const char *address, struct table_rcpt *res)
{
	struct resolve_domains rd;
	char key[TABLE_ADDR_MAX], *at;
	size_t i;
	int rv;

	memset(res, 0, sizeof(*res));
	res->status = AUTH_RCPT_NOUSER;
	memset(&rd, 0, sizeof(rd));

	/* RCPT TO:<postmaster>, without a domain (RFC 5321 4.5.1) */
	if (strcasecmp(address, "postmaster") == 0 ||
	    strcasecmp(address, "postmaster@") == 0) {
		if (table_read_begin(t) == -1) {
			res->status = AUTH_RCPT_TEMPFAIL;
			return 0;
		}
		if (table_domain_scan(t, resolve_domains_cb, &rd) == -1)
			res->status = AUTH_RCPT_TEMPFAIL;
		for (i = 0; i < rd.n && res->status == AUTH_RCPT_NOUSER; i++)
			resolve_in(t, "postmaster", rd.v[i], res);
		for (i = 0; i < rd.n; i++)
			free(rd.v[i]);
		free(rd.v);
		if (table_read_end(t) == -1)
			res->status = AUTH_RCPT_TEMPFAIL;
		if (res->status != AUTH_RCPT_OK)
			table_rcpt_clear(res);
		return 0;
	}

	if (table_address_normalize(address, key, sizeof(key)) == -1)
		return 0; /* not an address: nobody here */
	at = strrchr(key, '@');
	*at++ = '\0';
	if (table_read_begin(t) == -1) {
		res->status = AUTH_RCPT_TEMPFAIL;
		return 0;
	}
	if ((rv = table_domain_exists(t, at)) == -1)
		res->status = AUTH_RCPT_TEMPFAIL;
	else if (rv == 0)
		res->status = AUTH_RCPT_NOTLOCAL;
	else
		resolve_in(t, key, at, res);
	if (table_read_end(t) == -1) {
		table_rcpt_clear(res);
		res->status = AUTH_RCPT_TEMPFAIL;
	}
	return 0;
}

/*
 * A mailbox name is "domain/local" as rcpt_add_mailbox() made it from a
 * user's key "local@domain": that user still there is all it takes, a
 * disabled one included (a refusal at RCPT, but mail already accepted
 * for the account is not bounced for a state that is meant to pass).
 */
enum auth_mailbox_status
table_mailbox_status(struct table *t, const char *mailbox)
{
	struct table_user u;
	char address[TABLE_ADDR_MAX], key[TABLE_ADDR_MAX];
	const char *slash;
	int rv;

	if ((slash = strchr(mailbox, '/')) == NULL ||
	    (size_t)snprintf(address, sizeof(address), "%s@%.*s", slash + 1,
		(int)(slash - mailbox), mailbox) >= sizeof(address) ||
	    table_address_normalize(address, key, sizeof(key)) == -1)
		return AUTH_MAILBOX_GONE; /* no user can have that name */
	if (table_read_begin(t) == -1)
		return AUTH_MAILBOX_TEMPFAIL;
	rv = table_user_find(t, key, &u);
	explicit_bzero(&u, sizeof(u));
	if (table_read_end(t) == -1 || rv == -1)
		return AUTH_MAILBOX_TEMPFAIL;
	return rv == 1 ? AUTH_MAILBOX_EXISTS : AUTH_MAILBOX_GONE;
}

/*
 * Sending as an address is owning what it delivers to: the user's own
 * mailbox among the mailboxes the address reaches.  An alias that also
 * reaches others is shared, and every user it reaches may send as it.
 * The user's own address is looked up the same way, so that a user
 * disabled or deleted since the login sends as nobody.
 */
enum auth_sender_status
table_sender_owned(struct table *t, const char *user, const char *address)
{
	struct table_rcpt res;
	char ukey[TABLE_ADDR_MAX], akey[TABLE_ADDR_MAX];
	char mailbox[ENVELOPE_MAILBOX_MAX], *at;
	enum auth_sender_status status = AUTH_SENDER_NOTOWNED;
	size_t i;

	if (table_address_normalize(user, ukey, sizeof(ukey)) == -1 ||
	    table_address_normalize(address, akey, sizeof(akey)) == -1)
		return AUTH_SENDER_NOTOWNED;
	at = strrchr(ukey, '@');
	if ((size_t)snprintf(mailbox, sizeof(mailbox), "%s/%.*s", at + 1,
		(int)(at - ukey), ukey) >= sizeof(mailbox))
		return AUTH_SENDER_NOTOWNED;
	if (table_rcpt_lookup(t, akey, &res) == -1)
		return AUTH_SENDER_TEMPFAIL;
	if (res.status == AUTH_RCPT_TEMPFAIL)
		status = AUTH_SENDER_TEMPFAIL;
	for (i = 0; res.status == AUTH_RCPT_OK && i < res.nmailbox; i++)
		if (strcmp(res.mailbox[i], mailbox) == 0)
			status = AUTH_SENDER_OWNED;
	table_rcpt_clear(&res);
	return status;
}
