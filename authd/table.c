/*
 * The tables: domains, users and aliases in a transactional Berkeley DB
 * environment.  Every change is one transaction, committed with a
 * synchronous log write, so what a caller was told is done survives a
 * kill -9; recovery runs at every open.
 *
 * Keys are the normalized names without a NUL: "example.org",
 * "alice@example.org", and "@example.org" for a catch-all.  Values are
 * binary records (msg_put_*) whose first byte is a format version.
 */

#include <db.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd.h"

#define TABLE_CACHE_SIZE    (256 * 1024)
#define TABLE_LOG_FILE_MAX  (1024 * 1024)
#define TABLE_CHECKPOINT_KB 64
#define TABLE_KEY_MAX	    512	 /* longer keys are not ours */
#define TABLE_VISITED_MAX   1024 /* aliases one lookup may expand */
#define TABLE_SHOW_MAX	    80	 /* input quoted in messages */

#define RECORD_DOMAIN_V1 1
#define RECORD_USER_V1	 1
#define RECORD_ALIAS_V1	 1

struct table {
	DB_ENV *env;
	DB *domains;
	DB *users;
	DB *aliases;
	DB_TXN *txn; /* the one open transaction */
	int broken;
	char err[TABLE_ERR_MAX];
};

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

typedef int (*table_scan_cb)(
    struct table *, const char *key, const void *data, size_t len, void *arg);

static int table_seterr(struct table *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static int table_dberr(struct table *, const char *, int);
static const char *table_show(const char *, char *, size_t);
static void table_db_errcall(const DB_ENV *, const char *, const char *);
static int table_db_open(struct table *, DB **, const char *);
static int table_begin(struct table *);
static int table_commit(struct table *, int);
static void table_abort(struct table *);
static int table_get(struct table *, DB *, const char *, void **, size_t *);
static int table_exists(struct table *, DB *, const char *);
static int
table_put(struct table *, DB *, const char *, struct msg_writer *, int);
static int table_del(struct table *, DB *, const char *);
static int table_scan(struct table *, DB *, table_scan_cb, void *);
static const char *key_domain(const char *);
static int domain_normalize(struct table *, const char *, char *, size_t);
static int
mailbox_address(struct table *, const char *, char *, size_t, const char *);
static int alias_address(struct table *, const char *, char *, size_t);
static void user_encode(const struct table_user *, struct msg_writer *);
static int user_decode(struct table_user *, const void *, size_t);
static void alias_encode(const struct table_alias *, struct msg_writer *);
static int alias_decode(struct table_alias *, const void *, size_t);
static void alias_clear(struct table_alias *);
static int domain_need(struct table *, const char *);
static int domain_count(struct table *, const char *, uint32_t *, uint32_t *);
static int user_load(struct table *, const char *, struct table_user *);
static int user_store(struct table *, const struct table_user *);
static int user_need(struct table *, const char *);
static int rcpt_add_mailbox(struct resolve *, const char *, const char *);
static int resolve_visit(struct resolve *, const char *);
static enum resolve_result resolve_alias(struct resolve *, const char *, int);
static enum resolve_result
resolve_exact(struct resolve *, const char *, const char *, int);
static enum resolve_result
resolve_name(struct resolve *, const char *, const char *, int);
static void
rcpt_lookup_in(struct table *, const char *, const char *, struct table_rcpt *);

static int
table_seterr(struct table *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int
table_dberr(struct table *t, const char *what, int rv)
{
	if (rv == DB_RUNRECOVERY)
		t->broken = 1;
	log_warnx("table: %s: %s", what, authlib.db_strerror(rv));
	return table_seterr(
	    t, "database error: %s: %s", what, authlib.db_strerror(rv));
}

/*
 * A copy of untrusted text fit to quote in a message: control characters
 * and broken UTF-8 become '?', and it is cut short.
 */
static const char *
table_show(const char *s, char *buf, size_t bufsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n, max = bufsz - 4;

	while (p[i] != '\0' && o < max) {
		if (p[i] >= 0x80) {
			if ((n = utf8_seqlen(p + i)) == 0 || o + n > max) {
				buf[o++] = '?';
				i++;
				continue;
			}
			memcpy(buf + o, p + i, n);
			o += n;
			i += n;
		} else {
			buf[o++] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : s[i];
			i++;
		}
	}
	buf[o] = '\0';
	if (p[i] != '\0')
		strlcat(buf, "...", bufsz);
	return buf;
}

static void
table_db_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	log_warnx("berkeley db: %s", msg);
}

const char *
table_error(struct table *t)
{
	return t->err;
}

int
table_broken(struct table *t)
{
	return t->broken;
}

static int
table_db_open(struct table *t, DB **dbp, const char *file)
{
	DB *db;
	int rv;

	if ((rv = authlib.db_create(&db, t->env, 0)) != 0)
		return table_dberr(t, "db_create", rv);
	if ((rv = db->open(
		 db, t->txn, file, NULL, DB_BTREE, DB_CREATE, 0600)) != 0) {
		db->close(db, 0);
		return table_dberr(t, file, rv);
	}
	*dbp = db;
	return 0;
}

struct table *
table_open(const char *home, char *err, size_t errsz)
{
	struct table *t;
	DB_ENV *env;
	int rv;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errsz, "%s", strerror(errno));
		return NULL;
	}
	auth_libs_load();
	if ((rv = authlib.db_env_create(&env, 0)) != 0) {
		snprintf(
		    err, errsz, "db_env_create: %s", authlib.db_strerror(rv));
		free(t);
		return NULL;
	}
	t->env = env;
	env->set_errcall(env, table_db_errcall);
	if ((rv = env->set_cachesize(env, 0, TABLE_CACHE_SIZE, 1)) != 0 ||
	    (rv = env->set_lg_max(env, TABLE_LOG_FILE_MAX)) != 0 ||
	    (rv = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0) {
		snprintf(
		    err, errsz, "db environment: %s", authlib.db_strerror(rv));
		goto fail;
	}
	/*
	 * Only this process opens the environment, so its regions live in
	 * our heap (DB_PRIVATE): nothing stale is left behind by a kill -9,
	 * and the normal recovery of DB_RECOVER replays the log.
	 */
	if ((rv = env->open(env, home,
		 DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
		     DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE,
		 0600)) != 0) {
		snprintf(err, errsz, "db environment %s: %s", home,
		    authlib.db_strerror(rv));
		goto fail;
	}
	if (table_begin(t) == -1 ||
	    table_db_open(t, &t->domains, "domains.db") == -1 ||
	    table_db_open(t, &t->users, "users.db") == -1 ||
	    table_db_open(t, &t->aliases, "aliases.db") == -1 ||
	    table_commit(t, 1) == -1) {
		snprintf(err, errsz, "%s", t->err);
		goto fail;
	}
	return t;

fail:
	table_abort(t);
	if (t->aliases != NULL)
		t->aliases->close(t->aliases, 0);
	if (t->users != NULL)
		t->users->close(t->users, 0);
	if (t->domains != NULL)
		t->domains->close(t->domains, 0);
	env->close(env, 0);
	free(t);
	return NULL;
}

void
table_close(struct table *t)
{
	if (t == NULL)
		return;
	table_abort(t);
	if (!t->broken)
		t->env->txn_checkpoint(t->env, 0, 0, DB_FORCE);
	t->aliases->close(t->aliases, 0);
	t->users->close(t->users, 0);
	t->domains->close(t->domains, 0);
	t->env->close(t->env, 0);
	free(t);
}

static int
table_begin(struct table *t)
{
	int rv;

	if (t->txn != NULL)
		fatalx("table: nested transaction");
	if (t->broken)
		return table_seterr(t,
		    "database needs recovery: restart "
		    "boxd");
	if ((rv = t->env->txn_begin(t->env, NULL, &t->txn, 0)) != 0) {
		t->txn = NULL;
		return table_dberr(t, "txn_begin", rv);
	}
	return 0;
}

/* write: the log is on disk when this returns 0 */
static int
table_commit(struct table *t, int write)
{
	DB_TXN *txn = t->txn;
	int rv;

	t->txn = NULL;
	if ((rv = txn->commit(txn, write ? DB_TXN_SYNC : 0)) != 0)
		return table_dberr(t, "commit", rv);
	/* bound the log and recovery time; failing here loses nothing */
	if (write &&
	    (rv = t->env->txn_checkpoint(t->env, TABLE_CHECKPOINT_KB, 0, 0)) !=
		0)
		log_warnx("table: checkpoint: %s", authlib.db_strerror(rv));
	return 0;
}

static void
table_abort(struct table *t)
{
	int rv;

	if (t->txn == NULL)
		return;
	if ((rv = t->txn->abort(t->txn)) != 0)
		table_dberr(t, "abort", rv);
	t->txn = NULL;
}

/* 1 found (*data malloc'd), 0 not found, -1 error */
static int
table_get(struct table *t, DB *db, const char *key, void **data, size_t *len)
{
	DBT k, d;
	int rv;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	d.flags = DB_DBT_MALLOC;
	rv = db->get(db, t->txn, &k, &d, 0);
	if (rv == DB_NOTFOUND || rv == DB_KEYEMPTY)
		return 0;
	if (rv != 0)
		return table_dberr(t, "get", rv);
	*data = d.data;
	*len = d.size;
	return 1;
}

static int
table_exists(struct table *t, DB *db, const char *key)
{
	void *data;
	size_t len;
	int rv;

	if ((rv = table_get(t, db, key, &data, &len)) == 1)
		free(data);
	return rv;
}

/* 1 stored, 0 the key exists and replace is off, -1 error */
static int
table_put(
    struct table *t, DB *db, const char *key, struct msg_writer *w, int replace)
{
	DBT k, d;
	int rv;

	if (w->error) {
		msg_writer_free(w);
		return table_seterr(t, "out of memory");
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	d.data = w->buf;
	d.size = (u_int32_t)w->len;
	rv = db->put(db, t->txn, &k, &d, replace ? 0 : DB_NOOVERWRITE);
	explicit_bzero(w->buf, w->len);
	msg_writer_free(w);
	if (rv == DB_KEYEXIST)
		return 0;
	if (rv != 0)
		return table_dberr(t, "put", rv);
	return 1;
}

/* 1 deleted, 0 not there, -1 error */
static int
table_del(struct table *t, DB *db, const char *key)
{
	DBT k;
	int rv;

	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	rv = db->del(db, t->txn, &k, 0);
	if (rv == DB_NOTFOUND || rv == DB_KEYEMPTY)
		return 0;
	if (rv != 0)
		return table_dberr(t, "del", rv);
	return 1;
}

/* every record in key order; cb returns -1 to stop with an error */
static int
table_scan(struct table *t, DB *db, table_scan_cb cb, void *arg)
{
	DBC *c;
	DBT k, d;
	char key[TABLE_KEY_MAX];
	int rv, stop = 0;

	if ((rv = db->cursor(db, t->txn, &c, DB_READ_COMMITTED)) != 0)
		return table_dberr(t, "cursor", rv);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((rv = c->get(c, &k, &d, DB_NEXT)) == 0) {
		if (k.size >= sizeof(key) ||
		    memchr(k.data, '\0', k.size) != NULL) {
			log_warnx("table: skipping a malformed key");
			continue;
		}
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		if (cb(t, key, d.data, d.size, arg) == -1) {
			stop = 1;
			break;
		}
	}
	c->close(c);
	if (stop)
		return -1;
	if (rv != DB_NOTFOUND)
		return table_dberr(t, "cursor get", rv);
	return 0;
}

/* the domain of a user or alias key: after the last '@' */
static const char *
key_domain(const char *key)
{
	const char *at;

	if ((at = strrchr(key, '@')) == NULL)
		return "";
	return at + 1;
}

static int
domain_normalize(struct table *t, const char *domain, char *buf, size_t bufsz)
{
	char show[TABLE_SHOW_MAX];

	if (domain[0] == '\0')
		return table_seterr(t, "empty domain name");
	if (!domain_valid(domain, 1) || strlcpy(buf, domain, bufsz) >= bufsz)
		return table_seterr(t, "invalid domain name: %s",
		    table_show(domain, show, sizeof(show)));
	lowercase(buf);
	return 0;
}

int
table_address_normalize(const char *address, char *buf, size_t bufsz)
{
	struct mailaddr addr;

	if (strlen(address) >= TABLE_ADDR_MAX)
		return -1;
	if (mailaddr_parse(&addr, address, 1) == -1)
		return -1;
	lowercase(addr.local);
	return mailaddr_format(&addr, buf, bufsz);
}

/*
 * An address that names a mailbox (a user) or an alias of ours: its local
 * part becomes a directory name, so no quoted strings, no '/'.
 */
static int
mailbox_address(struct table *t, const char *address, char *buf, size_t bufsz,
    const char *what)
{
	char show[TABLE_SHOW_MAX];

	if (address[0] == '\0')
		return table_seterr(t, "empty %s address", what);
	table_show(address, show, sizeof(show));
	if (table_address_normalize(address, buf, bufsz) == -1)
		return table_seterr(t, "invalid %s address: %s", what, show);
	if (buf[0] == '"')
		return table_seterr(t,
		    "invalid %s address: %s: quoted local "
		    "parts are not supported",
		    what, show);
	*strrchr(buf, '@') = '\0';
	if (!path_component_valid(buf)) {
		*strchr(buf, '\0') = '@';
		return table_seterr(t,
		    "invalid %s address: %s: the local "
		    "part cannot name a mailbox",
		    what, show);
	}
	*strchr(buf, '\0') = '@';
	return 0;
}

/* an alias: an address of ours, or "@domain" for the catch-all */
static int
alias_address(struct table *t, const char *address, char *buf, size_t bufsz)
{
	char domain[SMTP_DOMAIN_MAX + 1];

	if (address[0] != '@')
		return mailbox_address(t, address, buf, bufsz, "alias");
	if (domain_normalize(t, address + 1, domain, sizeof(domain)) == -1)
		return -1;
	if ((size_t)snprintf(buf, bufsz, "@%s", domain) >= bufsz)
		return table_seterr(t, "alias address too long");
	return 0;
}

static void
user_encode(const struct table_user *u, struct msg_writer *w)
{
	msg_writer_init(w);
	msg_put_u8(w, RECORD_USER_V1);
	msg_put_u32(w, u->flags);
	msg_put_u64(w, u->quota);
	msg_put_u64(w, u->created);
	msg_put_str(w, u->hash);
}

static int
user_decode(struct table_user *u, const void *data, size_t len)
{
	struct msg_reader r;
	uint8_t version;

	msg_reader_init(&r, data, len);
	if (msg_get_u8(&r, &version) == -1 || version != RECORD_USER_V1)
		return -1;
	if (msg_get_u32(&r, &u->flags) == -1 ||
	    msg_get_u64(&r, &u->quota) == -1 ||
	    msg_get_u64(&r, &u->created) == -1 ||
	    msg_get_str(&r, u->hash, sizeof(u->hash)) == -1 ||
	    msg_get_end(&r) == -1)
		return -1;
	return 0;
}

static void
alias_encode(const struct table_alias *a, struct msg_writer *w)
{
	uint32_t i;

	msg_writer_init(w);
	msg_put_u8(w, RECORD_ALIAS_V1);
	msg_put_u64(w, a->created);
	msg_put_u32(w, a->ntargets);
	for (i = 0; i < a->ntargets; i++)
		msg_put_str(w, a->targets[i]);
}

static void
alias_clear(struct table_alias *a)
{
	uint32_t i;

	for (i = 0; i < a->ntargets; i++)
		free(a->targets[i]);
	free(a->targets);
	a->targets = NULL;
	a->ntargets = 0;
}

static int
alias_decode(struct table_alias *a, const void *data, size_t len)
{
	struct msg_reader r;
	uint8_t version;
	uint32_t n;

	a->ntargets = 0;
	a->targets = NULL;
	msg_reader_init(&r, data, len);
	if (msg_get_u8(&r, &version) == -1 || version != RECORD_ALIAS_V1)
		return -1;
	if (msg_get_u64(&r, &a->created) == -1 || msg_get_u32(&r, &n) == -1 ||
	    n > TABLE_TARGETS_MAX)
		return -1;
	if ((a->targets = calloc(n ? n : 1, sizeof(*a->targets))) == NULL)
		return -1;
	for (a->ntargets = 0; a->ntargets < n; a->ntargets++)
		if (msg_get_strdup(
			&r, &a->targets[a->ntargets], TABLE_ADDR_MAX - 1) == -1)
			break;
	if (a->ntargets < n || msg_get_end(&r) == -1) {
		alias_clear(a);
		return -1;
	}
	return 0;
}

/* 0 the domain is ours, -1 not (or an error), with the message set */
static int
domain_need(struct table *t, const char *domain)
{
	int rv;

	if ((rv = table_exists(t, t->domains, domain)) == 0)
		return table_seterr(t, "domain %s does not exist", domain);
	return rv == 1 ? 0 : -1;
}

/* ---------------------------------------------------------------- domains */

int
table_domain_add(struct table *t, const char *domain)
{
	struct msg_writer w;
	char key[SMTP_DOMAIN_MAX + 1];
	int rv;

	if (domain_normalize(t, domain, key, sizeof(key)) == -1)
		return -1;
	if (table_begin(t) == -1)
		return -1;
	msg_writer_init(&w);
	msg_put_u8(&w, RECORD_DOMAIN_V1);
	msg_put_u64(&w, (uint64_t)time(NULL));
	if ((rv = table_put(t, t->domains, key, &w, 0)) == 0)
		table_seterr(t, "domain %s already exists", key);
	if (rv != 1) {
		table_abort(t);
		return -1;
	}
	return table_commit(t, 1);
}

struct domain_counter {
	const char *domain;
	uint32_t n;
};

static int
domain_count_cb(
    struct table *t, const char *key, const void *data, size_t len, void *arg)
{
	struct domain_counter *dc = arg;

	if (strcmp(key_domain(key), dc->domain) == 0)
		dc->n++;
	return 0;
}

static int
domain_count(
    struct table *t, const char *domain, uint32_t *nusers, uint32_t *naliases)
{
	struct domain_counter dc;

	dc.domain = domain;
	dc.n = 0;
	if (table_scan(t, t->users, domain_count_cb, &dc) == -1)
		return -1;
	*nusers = dc.n;
	dc.n = 0;
	if (table_scan(t, t->aliases, domain_count_cb, &dc) == -1)
		return -1;
	*naliases = dc.n;
	return 0;
}

int
table_domain_del(struct table *t, const char *domain)
{
	char key[SMTP_DOMAIN_MAX + 1], users[32], aliases[32];
	uint32_t nusers, naliases;

	if (domain_normalize(t, domain, key, sizeof(key)) == -1)
		return -1;
	if (table_begin(t) == -1)
		return -1;
	if (domain_need(t, key) == -1 ||
	    domain_count(t, key, &nusers, &naliases) == -1)
		goto fail;
	if (nusers > 0 || naliases > 0) {
		snprintf(users, sizeof(users), "%u user%s", nusers,
		    nusers == 1 ? "" : "s");
		snprintf(aliases, sizeof(aliases), "%u alias%s", naliases,
		    naliases == 1 ? "" : "es");
		table_seterr(t, "domain %s still has %s%s%s", key,
		    nusers ? users : "", nusers && naliases ? " and " : "",
		    naliases ? aliases : "");
		goto fail;
	}
	if (table_del(t, t->domains, key) != 1)
		goto fail;
	return table_commit(t, 1);

fail:
	table_abort(t);
	return -1;
}

struct domain_list {
	struct table_domain *v;
	size_t n;
};

static int
domain_list_cb(
    struct table *t, const char *key, const void *data, size_t len, void *arg)
{
	struct domain_list *dl = arg;
	struct table_domain *d;
	struct msg_reader r;
	uint8_t version;

	if ((d = reallocarray(dl->v, dl->n + 1, sizeof(*d))) == NULL)
		return table_seterr(t, "out of memory");
	dl->v = d;
	d = &dl->v[dl->n];
	memset(d, 0, sizeof(*d));
	if (strlcpy(d->domain, key, sizeof(d->domain)) >= sizeof(d->domain))
		return 0; /* not one we wrote */
	msg_reader_init(&r, data, len);
	if (msg_get_u8(&r, &version) == -1 || version != RECORD_DOMAIN_V1 ||
	    msg_get_u64(&r, &d->created) == -1 || msg_get_end(&r) == -1)
		log_warnx("table: domain %s: unreadable record", key);
	dl->n++;
	return 0;
}

static int
domain_cmp(const void *a, const void *b)
{
	return strcmp(((const struct table_domain *)a)->domain,
	    ((const struct table_domain *)b)->domain);
}

/* one user or alias more for the domain of key */
static void
domain_tally(struct domain_list *dl, const char *key, int alias)
{
	struct table_domain *d, find;

	if (strlcpy(find.domain, key_domain(key), sizeof(find.domain)) >=
	    sizeof(find.domain))
		return;
	d = bsearch(&find, dl->v, dl->n, sizeof(*dl->v), domain_cmp);
	if (d == NULL)
		return;
	if (alias)
		d->naliases++;
	else
		d->nusers++;
}

static int
domain_tally_user_cb(
    struct table *t, const char *key, const void *data, size_t len, void *arg)
{
	domain_tally(arg, key, 0);
	return 0;
}

static int
domain_tally_alias_cb(
    struct table *t, const char *key, const void *data, size_t len, void *arg)
{
	domain_tally(arg, key, 1);
	return 0;
}

int
table_domain_list(struct table *t, table_domain_cb cb, void *arg)
{
	struct domain_list dl;
	size_t i;

	memset(&dl, 0, sizeof(dl));
	if (table_begin(t) == -1)
		return -1;
	if (table_scan(t, t->domains, domain_list_cb, &dl) == -1 ||
	    table_scan(t, t->users, domain_tally_user_cb, &dl) == -1 ||
	    table_scan(t, t->aliases, domain_tally_alias_cb, &dl) == -1) {
		table_abort(t);
		free(dl.v);
		return -1;
	}
	if (table_commit(t, 0) == -1) {
		free(dl.v);
		return -1;
	}
	/* the key order of the btree is strcmp() order: no sort needed */
	for (i = 0; i < dl.n; i++)
		cb(arg, &dl.v[i]);
	free(dl.v);
	return 0;
}

/* ---------------------------------------------------------------- users */

/* 0 loaded, -1 missing (message set) or error */
static int
user_load(struct table *t, const char *key, struct table_user *u)
{
	void *data;
	size_t len;
	int rv;

	memset(u, 0, sizeof(*u));
	if ((rv = table_get(t, t->users, key, &data, &len)) == -1)
		return -1;
	if (rv == 0)
		return table_seterr(t, "user %s does not exist", key);
	rv = user_decode(u, data, len);
	freezero(data, len);
	if (rv == -1) {
		log_warnx("table: user %s: unreadable record", key);
		return table_seterr(t, "user %s: unreadable record", key);
	}
	strlcpy(u->address, key, sizeof(u->address));
	return 0;
}

static int
user_store(struct table *t, const struct table_user *u)
{
	struct msg_writer w;

	user_encode(u, &w);
	return table_put(t, t->users, u->address, &w, 1) == 1 ? 0 : -1;
}

static int
password_check(struct table *t, const char *password)
{
	size_t len = strlen(password);

	if (len < PASSWD_MIN)
		return table_seterr(t,
		    "password too short: at least %d "
		    "characters",
		    PASSWD_MIN);
	if (len > PASSWD_MAX)
		return table_seterr(
		    t, "password too long: at most %d bytes", PASSWD_MAX);
	return 0;
}

int
table_user_add(struct table *t, const char *address, const char *password)
{
	struct table_user u;
	struct msg_writer w;
	int rv;

	memset(&u, 0, sizeof(u));
	if (mailbox_address(t, address, u.address, sizeof(u.address), "user") ==
		-1 ||
	    password_check(t, password) == -1)
		return -1;
	/* hashing takes a while: check what we can first */
	if (table_begin(t) == -1)
		return -1;
	if (domain_need(t, key_domain(u.address)) == -1)
		goto fail;
	if ((rv = table_exists(t, t->users, u.address)) != 0) {
		if (rv == 1)
			table_seterr(t, "user %s already exists", u.address);
		goto fail;
	}
	if ((rv = table_exists(t, t->aliases, u.address)) != 0) {
		if (rv == 1)
			table_seterr(t, "%s is an alias", u.address);
		goto fail;
	}
	table_abort(t);

	if (passwd_hash(password, u.hash, sizeof(u.hash)) == -1)
		return table_seterr(t, "cannot hash the password");
	u.created = (uint64_t)time(NULL);
	if (table_begin(t) == -1)
		goto done;
	/* the checks again, now in the transaction that writes */
	if (domain_need(t, key_domain(u.address)) == -1)
		goto fail;
	if ((rv = table_exists(t, t->aliases, u.address)) != 0) {
		if (rv == 1)
			table_seterr(t, "%s is an alias", u.address);
		goto fail;
	}
	user_encode(&u, &w);
	if ((rv = table_put(t, t->users, u.address, &w, 0)) != 1) {
		if (rv == 0)
			table_seterr(t, "user %s already exists", u.address);
		goto fail;
	}
	explicit_bzero(&u, sizeof(u));
	return table_commit(t, 1);

fail:
	table_abort(t);
done:
	explicit_bzero(&u, sizeof(u));
	return -1;
}

int
table_user_del(struct table *t, const char *address)
{
	char key[TABLE_ADDR_MAX];
	int rv;

	if (mailbox_address(t, address, key, sizeof(key), "user") == -1)
		return -1;
	if (table_begin(t) == -1)
		return -1;
	if ((rv = table_del(t, t->users, key)) != 1) {
		if (rv == 0)
			table_seterr(t, "user %s does not exist", key);
		table_abort(t);
		return -1;
	}
	return table_commit(t, 1);
}

struct user_list {
	const char *domain; /* "" for all */
	table_user_cb cb;
	void *arg;
};

static int
user_list_cb(
    struct table *t, const char *key, const void *data, size_t len, void *arg)
{
	struct user_list *ul = arg;
	struct table_user u;

	if (ul->domain[0] != '\0' && strcmp(key_domain(key), ul->domain) != 0)
		return 0;
	memset(&u, 0, sizeof(u));
	if (strlcpy(u.address, key, sizeof(u.address)) >= sizeof(u.address) ||
	    user_decode(&u, data, len) == -1) {
		log_warnx("table: user %s: unreadable record", key);
		return 0;
	}
	explicit_bzero(u.hash, sizeof(u.hash));
	ul->cb(ul->arg, &u);
	return 0;
}

int
table_user_list(
    struct table *t, const char *domain, table_user_cb cb, void *arg)
{
	struct user_list ul;
	char key[SMTP_DOMAIN_MAX + 1] = "";

	if (domain[0] != '\0' &&
	    domain_normalize(t, domain, key, sizeof(key)) == -1)
		return -1;
	ul.domain = key;
	ul.cb = cb;
	ul.arg = arg;
	if (table_begin(t) == -1)
		return -1;
	if ((key[0] != '\0' && domain_need(t, key) == -1) ||
	    table_scan(t, t->users, user_list_cb, &ul) == -1) {
		table_abort(t);
		return -1;
	}
	return table_commit(t, 0);
}

int
table_user_get(struct table *t, const char *address, struct table_user *u)
{
	char key[TABLE_ADDR_MAX];

	if (mailbox_address(t, address, key, sizeof(key), "user") == -1)
		return -1;
	if (table_begin(t) == -1)
		return -1;
	if (user_load(t, key, u) == -1) {
		table_abort(t);
		return -1;
	}
	return table_commit(t, 0);
}

/* fail early, before the slow hash, when the user is not there */
static int
user_need(struct table *t, const char *key)
{
	int rv;

	if (table_begin(t) == -1)
		return -1;
	rv = table_exists(t, t->users, key);
	table_abort(t);
	if (rv == 0)
		return table_seterr(t, "user %s does not exist", key);
	return rv == 1 ? 0 : -1;
}

enum user_change {
	USER_PASSWD,
	USER_QUOTA,
	USER_DISABLE,
	USER_ENABLE,
};

static int
user_change(struct table *t, const char *address, enum user_change what,
    const char *password, uint64_t quota)
{
	struct table_user u;
	char key[TABLE_ADDR_MAX], hash[TABLE_HASH_MAX];
	int rv = -1;

	memset(&u, 0, sizeof(u));
	if (mailbox_address(t, address, key, sizeof(key), "user") == -1)
		return -1;
	if (what == USER_PASSWD) {
		if (password_check(t, password) == -1)
			return -1;
		if (user_need(t, key) == -1)
			return -1;
		if (passwd_hash(password, hash, sizeof(hash)) == -1)
			return table_seterr(t, "cannot hash the password");
	}
	if (table_begin(t) == -1)
		goto done;
	if (user_load(t, key, &u) == -1)
		goto fail;
	switch (what) {
	case USER_PASSWD:
		strlcpy(u.hash, hash, sizeof(u.hash));
		break;
	case USER_QUOTA:
		u.quota = quota;
		break;
	case USER_DISABLE:
		u.flags |= TABLE_USER_DISABLED;
		break;
	case USER_ENABLE:
		u.flags &= ~TABLE_USER_DISABLED;
		break;
	}
	if (user_store(t, &u) == -1)
		goto fail;
	rv = table_commit(t, 1);
	goto done;

fail:
	table_abort(t);
done:
	explicit_bzero(&u, sizeof(u));
	explicit_bzero(hash, sizeof(hash));
	return rv;
}

int
table_user_passwd(struct table *t, const char *address, const char *password)
{
	return user_change(t, address, USER_PASSWD, password, 0);
}

int
table_user_quota(struct table *t, const char *address, uint64_t quota)
{
	return user_change(t, address, USER_QUOTA, NULL, quota);
}

int
table_user_disable(struct table *t, const char *address, int disable)
{
	return user_change(
	    t, address, disable ? USER_DISABLE : USER_ENABLE, NULL, 0);
}

int
table_user_verify(struct table *t, const char *address, const char *password)
{
	/* verified against when there is no such user, to take as long */
	static const char dummy[] =
	    "$y$j9T$YEf/83Ur.EGZziIInex1q/"
	    "$Lj.gHZE8bpdC8VV95e/KhScxTeUXm15HvAll6.7hkE6";
	struct table_user u;
	char key[TABLE_ADDR_MAX];
	void *data;
	size_t len;
	int rv, found = 0, ok;

	memset(&u, 0, sizeof(u));
	if (table_address_normalize(address, key, sizeof(key)) == 0) {
		if (table_begin(t) == -1)
			return -1;
		rv = table_get(t, t->users, key, &data, &len);
		table_abort(t);
		if (rv == -1)
			return -1;
		if (rv == 1) {
			found = user_decode(&u, data, len) == 0;
			freezero(data, len);
		}
	}
	ok = passwd_verify(password, found ? u.hash : dummy);
	if (!found || (u.flags & TABLE_USER_DISABLED))
		ok = 0;
	explicit_bzero(&u, sizeof(u));
	return ok;
}

/* ---------------------------------------------------------------- aliases */

int
table_alias_add(struct table *t, const char *address,
    const char *const *targets, size_t ntargets)
{
	struct table_alias a;
	struct msg_writer w;
	char target[TABLE_ADDR_MAX], show[TABLE_SHOW_MAX];
	size_t i, j;
	int rv;

	memset(&a, 0, sizeof(a));
	if (alias_address(t, address, a.address, sizeof(a.address)) == -1)
		return -1;
	if (ntargets == 0)
		return table_seterr(t, "alias %s: no target", a.address);
	if (ntargets > TABLE_TARGETS_MAX)
		return table_seterr(t,
		    "alias %s: too many targets (at most "
		    "%d)",
		    a.address, TABLE_TARGETS_MAX);
	a.targets = calloc(ntargets, sizeof(*a.targets));
	if (a.targets == NULL)
		return table_seterr(t, "out of memory");
	for (i = 0; i < ntargets; i++) {
		if (table_address_normalize(
			targets[i], target, sizeof(target)) == -1) {
			table_seterr(t,
			    "alias %s: invalid target address: "
			    "%s",
			    a.address,
			    table_show(targets[i], show, sizeof(show)));
			goto out;
		}
		if (strcmp(target, a.address) == 0) {
			table_seterr(
			    t, "alias %s: cannot point to itself", a.address);
			goto out;
		}
		for (j = 0; j < a.ntargets; j++)
			if (strcmp(a.targets[j], target) == 0)
				break;
		if (j < a.ntargets)
			continue; /* a duplicate */
		if ((a.targets[a.ntargets] = strdup(target)) == NULL) {
			table_seterr(t, "out of memory");
			goto out;
		}
		a.ntargets++;
	}
	a.created = (uint64_t)time(NULL);

	if (table_begin(t) == -1)
		goto out;
	if (domain_need(t, key_domain(a.address)) == -1)
		goto fail;
	if (a.address[0] != '@' &&
	    (rv = table_exists(t, t->users, a.address)) != 0) {
		if (rv == 1)
			table_seterr(t, "%s is a user", a.address);
		goto fail;
	}
	alias_encode(&a, &w);
	if ((rv = table_put(t, t->aliases, a.address, &w, 0)) != 1) {
		if (rv == 0)
			table_seterr(t, "alias %s already exists", a.address);
		goto fail;
	}
	alias_clear(&a);
	return table_commit(t, 1);

fail:
	table_abort(t);
out:
	alias_clear(&a);
	return -1;
}

int
table_alias_del(struct table *t, const char *address)
{
	char key[TABLE_ADDR_MAX];
	int rv;

	if (alias_address(t, address, key, sizeof(key)) == -1)
		return -1;
	if (table_begin(t) == -1)
		return -1;
	if ((rv = table_del(t, t->aliases, key)) != 1) {
		if (rv == 0)
			table_seterr(t, "alias %s does not exist", key);
		table_abort(t);
		return -1;
	}
	return table_commit(t, 1);
}

struct alias_list {
	const char *domain; /* "" for all */
	table_alias_cb cb;
	void *arg;
};

static int
alias_list_cb(
    struct table *t, const char *key, const void *data, size_t len, void *arg)
{
	struct alias_list *al = arg;
	struct table_alias a;

	if (al->domain[0] != '\0' && strcmp(key_domain(key), al->domain) != 0)
		return 0;
	memset(&a, 0, sizeof(a));
	if (strlcpy(a.address, key, sizeof(a.address)) >= sizeof(a.address) ||
	    alias_decode(&a, data, len) == -1) {
		log_warnx("table: alias %s: unreadable record", key);
		return 0;
	}
	al->cb(al->arg, &a);
	alias_clear(&a);
	return 0;
}

int
table_alias_list(
    struct table *t, const char *domain, table_alias_cb cb, void *arg)
{
	struct alias_list al;
	char key[SMTP_DOMAIN_MAX + 1] = "";

	if (domain[0] != '\0' &&
	    domain_normalize(t, domain, key, sizeof(key)) == -1)
		return -1;
	al.domain = key;
	al.cb = cb;
	al.arg = arg;
	if (table_begin(t) == -1)
		return -1;
	if ((key[0] != '\0' && domain_need(t, key) == -1) ||
	    table_scan(t, t->aliases, alias_list_cb, &al) == -1) {
		table_abort(t);
		return -1;
	}
	return table_commit(t, 0);
}

/* ---------------------------------------------------------------- lookups */

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
	if (rs->nvisited >= TABLE_VISITED_MAX) {
		log_warnx("table: more than %d aliases for one recipient",
		    TABLE_VISITED_MAX);
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
	void *data;
	size_t len;
	uint32_t i;
	int rv;

	if ((rv = table_get(t, t->aliases, key, &data, &len)) == -1)
		return RESOLVE_ERROR;
	if (rv == 0)
		return RESOLVE_NONE;
	rv = alias_decode(&a, data, len);
	free(data);
	if (rv == -1) {
		log_warnx("table: alias %s: unreadable record", key);
		return RESOLVE_ERROR;
	}
	if ((rv = resolve_visit(rs, key)) != 0) {
		if (rv == 1)
			log_debug("alias %s: loop cut", key);
		alias_clear(&a);
		return rv == 1 ? RESOLVE_FOUND : RESOLVE_ERROR;
	}
	for (i = 0; i < a.ntargets && r != RESOLVE_ERROR; i++) {
		if (strlcpy(local, a.targets[i], sizeof(local)) >=
			sizeof(local) ||
		    (at = strrchr(local, '@')) == NULL)
			continue;
		*at++ = '\0';
		if ((rv = table_exists(t, t->domains, at)) == -1) {
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
	alias_clear(&a);
	return r;
}

/* a user or an alias by exactly that name */
static enum resolve_result
resolve_exact(
    struct resolve *rs, const char *local, const char *domain, int depth)
{
	struct table_user u;
	struct table *t = rs->t;
	char key[TABLE_ADDR_MAX];
	void *data;
	size_t len;
	int rv;

	if ((size_t)snprintf(key, sizeof(key), "%s@%s", local, domain) >=
	    sizeof(key))
		return RESOLVE_NONE;
	if ((rv = table_get(t, t->users, key, &data, &len)) == -1)
		return RESOLVE_ERROR;
	if (rv == 1) {
		memset(&u, 0, sizeof(u));
		rv = user_decode(&u, data, len);
		freezero(data, len);
		explicit_bzero(u.hash, sizeof(u.hash));
		if (rv == -1) {
			log_warnx("table: user %s: unreadable record", key);
			return RESOLVE_ERROR;
		}
		if (u.flags & TABLE_USER_DISABLED)
			return RESOLVE_DISABLED;
		if (rcpt_add_mailbox(rs, local, domain) == -1)
			return RESOLVE_ERROR;
		return RESOLVE_FOUND;
	}
	return resolve_alias(rs, key, depth);
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
rcpt_lookup_in(struct table *t, const char *local, const char *domain,
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
postmaster_domains_cb(
    struct table *t, const char *key, const void *data, size_t len, void *arg)
{
	struct domain_list *dl = arg;
	struct table_domain *d;

	if ((d = reallocarray(dl->v, dl->n + 1, sizeof(*d))) == NULL)
		return table_seterr(t, "out of memory");
	dl->v = d;
	if (strlcpy(dl->v[dl->n].domain, key, sizeof(d->domain)) <
	    sizeof(d->domain))
		dl->n++;
	return 0;
}

int
table_rcpt_lookup(struct table *t, const char *address, struct table_rcpt *res)
{
	struct domain_list dl;
	char key[TABLE_ADDR_MAX], *at;
	size_t i;
	int rv;

	memset(res, 0, sizeof(*res));
	res->status = AUTH_RCPT_NOUSER;
	memset(&dl, 0, sizeof(dl));

	/* RCPT TO:<postmaster>, without a domain (RFC 5321 4.5.1) */
	if (strcasecmp(address, "postmaster") == 0 ||
	    strcasecmp(address, "postmaster@") == 0) {
		if (table_begin(t) == -1) {
			res->status = AUTH_RCPT_TEMPFAIL;
			return 0;
		}
		if (table_scan(t, t->domains, postmaster_domains_cb, &dl) == -1)
			res->status = AUTH_RCPT_TEMPFAIL;
		for (i = 0; i < dl.n && res->status == AUTH_RCPT_NOUSER; i++)
			rcpt_lookup_in(t, "postmaster", dl.v[i].domain, res);
		free(dl.v);
		if (table_commit(t, 0) == -1)
			res->status = AUTH_RCPT_TEMPFAIL;
		if (res->status != AUTH_RCPT_OK)
			table_rcpt_clear(res);
		return 0;
	}

	if (table_address_normalize(address, key, sizeof(key)) == -1)
		return 0; /* not an address: nobody here */
	at = strrchr(key, '@');
	*at++ = '\0';
	if (table_begin(t) == -1) {
		res->status = AUTH_RCPT_TEMPFAIL;
		return 0;
	}
	if ((rv = table_exists(t, t->domains, at)) == -1)
		res->status = AUTH_RCPT_TEMPFAIL;
	else if (rv == 0)
		res->status = AUTH_RCPT_NOTLOCAL;
	else
		rcpt_lookup_in(t, key, at, res);
	if (table_commit(t, 0) == -1) {
		table_rcpt_clear(res);
		res->status = AUTH_RCPT_TEMPFAIL;
	}
	return 0;
}
