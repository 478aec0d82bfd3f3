/*
 * The tables' storage: domains, users and aliases in a transactional
 * Berkeley DB environment (common/db.c).  Every change is one
 * transaction, committed with a synchronous log write, so what a caller
 * was told is done survives a kill -9; recovery runs at every open.
 * Recipient resolution (resolve.c) reads them through the few calls at
 * the end of this file, all another backend would have to provide.
 *
 * Keys are the normalized names without a NUL: "example.org",
 * "alice@example.org", and "@example.org" for a catch-all.  Values are
 * binary records (msg_put_*) whose first byte is a format version.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd.h"

#define TABLE_CACHE_SIZE    (256 * 1024)
#define TABLE_LOG_FILE_MAX  (1024 * 1024)
#define TABLE_CHECKPOINT_KB 64
#define TABLE_SHOW_MAX	    80 /* input quoted in messages */

#define RECORD_DOMAIN_V1 1
#define RECORD_USER_V1	 1
#define RECORD_ALIAS_V1	 1

struct table {
	struct db_env *db;
	struct db_file *domains;
	struct db_file *users;
	struct db_file *aliases;
	struct db_file *logins; /* login.c's, in the same environment */
};

static const char *const table_files[] = {
    "domains.db", "users.db", "aliases.db", "logins.db", NULL};

static const char *table_show(const char *, char *, size_t);
static const char *key_domain(const char *);
static int domain_normalize(struct table *, const char *, char *, size_t);
static int
mailbox_address(struct table *, const char *, char *, size_t, const char *);
static int alias_address(struct table *, const char *, char *, size_t);
static void user_encode(const struct table_user *, struct msg_writer *);
static int user_decode(struct table_user *, const void *, size_t);
static void alias_encode(const struct table_alias *, struct msg_writer *);
static int alias_decode(struct table_alias *, const void *, size_t);
static int domain_need(struct table *, const char *);
static int domain_count(struct table *, const char *, uint32_t *, uint32_t *);
static int user_load(struct table *, const char *, struct table_user *);
static int user_store(struct table *, const struct table_user *);
static int user_need(struct table *, const char *);

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

const char *
table_error(struct table *t)
{
	return db_error(t->db);
}

int
table_broken(struct table *t)
{
	return db_broken(t->db);
}

struct table *
table_open(const char *home, char *err, size_t errsz)
{
	struct db_env_conf conf = {
	    .name = "table",
	    .cache_size = TABLE_CACHE_SIZE,
	    .log_file_max = TABLE_LOG_FILE_MAX,
	    .checkpoint_kb = TABLE_CHECKPOINT_KB,
	    .files = table_files,
	};
	struct db_file *files[4];
	struct table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errsz, "%s", strerror(errno));
		return NULL;
	}
	if ((t->db = db_env_open(home, &conf, files, err, errsz)) == NULL) {
		free(t);
		return NULL;
	}
	t->domains = files[0];
	t->users = files[1];
	t->aliases = files[2];
	t->logins = files[3];
	return t;
}

struct db_env *
table_db(struct table *t)
{
	return t->db;
}

struct db_file *
table_logins(struct table *t)
{
	return t->logins;
}

void
table_close(struct table *t)
{
	if (t == NULL)
		return;
	db_env_close(t->db);
	free(t);
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
		return db_seterr(t->db, "empty domain name");
	if (!domain_valid(domain, 1) || strlcpy(buf, domain, bufsz) >= bufsz)
		return db_seterr(t->db, "invalid domain name: %s",
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
		return db_seterr(t->db, "empty %s address", what);
	table_show(address, show, sizeof(show));
	if (table_address_normalize(address, buf, bufsz) == -1)
		return db_seterr(t->db, "invalid %s address: %s", what, show);
	if (buf[0] == '"')
		return db_seterr(t->db,
		    "invalid %s address: %s: quoted local "
		    "parts are not supported",
		    what, show);
	*strrchr(buf, '@') = '\0';
	if (!path_component_valid(buf)) {
		*strchr(buf, '\0') = '@';
		return db_seterr(t->db,
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
		return db_seterr(t->db, "alias address too long");
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

void
table_alias_clear(struct table_alias *a)
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
		table_alias_clear(a);
		return -1;
	}
	return 0;
}

/* 0 the domain is ours, -1 not (or an error), with the message set */
static int
domain_need(struct table *t, const char *domain)
{
	int rv;

	if ((rv = db_exists(t->db, t->domains, domain)) == 0)
		return db_seterr(t->db, "domain %s does not exist", domain);
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
	if (db_begin(t->db) == -1)
		return -1;
	msg_writer_init(&w);
	msg_put_u8(&w, RECORD_DOMAIN_V1);
	msg_put_u64(&w, (uint64_t)time(NULL));
	if ((rv = db_put(t->db, t->domains, key, &w, 0)) == 0)
		db_seterr(t->db, "domain %s already exists", key);
	if (rv != 1) {
		db_abort(t->db);
		return -1;
	}
	return db_commit(t->db, 1);
}

struct domain_counter {
	const char *domain;
	uint32_t n;
};

static int
domain_count_cb(
    struct db_env *e, const char *key, const void *data, size_t len, void *arg)
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
	if (db_scan(t->db, t->users, domain_count_cb, &dc) == -1)
		return -1;
	*nusers = dc.n;
	dc.n = 0;
	if (db_scan(t->db, t->aliases, domain_count_cb, &dc) == -1)
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
	if (db_begin(t->db) == -1)
		return -1;
	if (domain_need(t, key) == -1 ||
	    domain_count(t, key, &nusers, &naliases) == -1)
		goto fail;
	if (nusers > 0 || naliases > 0) {
		snprintf(users, sizeof(users), "%u user%s", nusers,
		    nusers == 1 ? "" : "s");
		snprintf(aliases, sizeof(aliases), "%u alias%s", naliases,
		    naliases == 1 ? "" : "es");
		db_seterr(t->db, "domain %s still has %s%s%s", key,
		    nusers ? users : "", nusers && naliases ? " and " : "",
		    naliases ? aliases : "");
		goto fail;
	}
	if (db_del(t->db, t->domains, key) != 1)
		goto fail;
	return db_commit(t->db, 1);

fail:
	db_abort(t->db);
	return -1;
}

struct domain_list {
	struct table_domain *v;
	size_t n;
};

static int
domain_list_cb(
    struct db_env *e, const char *key, const void *data, size_t len, void *arg)
{
	struct domain_list *dl = arg;
	struct table_domain *d;
	struct msg_reader r;
	uint8_t version;

	if ((d = reallocarray(dl->v, dl->n + 1, sizeof(*d))) == NULL)
		return db_seterr(e, "out of memory");
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
    struct db_env *e, const char *key, const void *data, size_t len, void *arg)
{
	domain_tally(arg, key, 0);
	return 0;
}

static int
domain_tally_alias_cb(
    struct db_env *e, const char *key, const void *data, size_t len, void *arg)
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
	if (db_begin(t->db) == -1)
		return -1;
	if (db_scan(t->db, t->domains, domain_list_cb, &dl) == -1 ||
	    db_scan(t->db, t->users, domain_tally_user_cb, &dl) == -1 ||
	    db_scan(t->db, t->aliases, domain_tally_alias_cb, &dl) == -1) {
		db_abort(t->db);
		free(dl.v);
		return -1;
	}
	if (db_commit(t->db, 0) == -1) {
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
	int rv;

	if ((rv = table_user_find(t, key, u)) == 0)
		return db_seterr(t->db, "user %s does not exist", key);
	return rv == 1 ? 0 : -1;
}

static int
user_store(struct table *t, const struct table_user *u)
{
	struct msg_writer w;

	user_encode(u, &w);
	return db_put(t->db, t->users, u->address, &w, 1) == 1 ? 0 : -1;
}

static int
password_check(struct table *t, const char *password)
{
	size_t len = strlen(password);

	if (len < PASSWD_MIN)
		return db_seterr(t->db,
		    "password too short: at least %d "
		    "characters",
		    PASSWD_MIN);
	if (len > PASSWD_MAX)
		return db_seterr(
		    t->db, "password too long: at most %d bytes", PASSWD_MAX);
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
	if (db_begin(t->db) == -1)
		return -1;
	if (domain_need(t, key_domain(u.address)) == -1)
		goto fail;
	if ((rv = db_exists(t->db, t->users, u.address)) != 0) {
		if (rv == 1)
			db_seterr(t->db, "user %s already exists", u.address);
		goto fail;
	}
	if ((rv = db_exists(t->db, t->aliases, u.address)) != 0) {
		if (rv == 1)
			db_seterr(t->db, "%s is an alias", u.address);
		goto fail;
	}
	db_abort(t->db);

	if (passwd_hash(password, u.hash, sizeof(u.hash)) == -1)
		return db_seterr(t->db, "cannot hash the password");
	u.created = (uint64_t)time(NULL);
	if (db_begin(t->db) == -1)
		goto done;
	/* the checks again, now in the transaction that writes */
	if (domain_need(t, key_domain(u.address)) == -1)
		goto fail;
	if ((rv = db_exists(t->db, t->aliases, u.address)) != 0) {
		if (rv == 1)
			db_seterr(t->db, "%s is an alias", u.address);
		goto fail;
	}
	user_encode(&u, &w);
	if ((rv = db_put(t->db, t->users, u.address, &w, 0)) != 1) {
		if (rv == 0)
			db_seterr(t->db, "user %s already exists", u.address);
		goto fail;
	}
	explicit_bzero(&u, sizeof(u));
	return db_commit(t->db, 1);

fail:
	db_abort(t->db);
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
	if (db_begin(t->db) == -1)
		return -1;
	if ((rv = db_del(t->db, t->users, key)) != 1) {
		if (rv == 0)
			db_seterr(t->db, "user %s does not exist", key);
		db_abort(t->db);
		return -1;
	}
	return db_commit(t->db, 1);
}

struct user_list {
	const char *domain; /* "" for all */
	table_user_cb cb;
	void *arg;
};

static int
user_list_cb(
    struct db_env *e, const char *key, const void *data, size_t len, void *arg)
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
	if (db_begin(t->db) == -1)
		return -1;
	if ((key[0] != '\0' && domain_need(t, key) == -1) ||
	    db_scan(t->db, t->users, user_list_cb, &ul) == -1) {
		db_abort(t->db);
		return -1;
	}
	return db_commit(t->db, 0);
}

int
table_user_get(struct table *t, const char *address, struct table_user *u)
{
	char key[TABLE_ADDR_MAX];

	if (mailbox_address(t, address, key, sizeof(key), "user") == -1)
		return -1;
	if (db_begin(t->db) == -1)
		return -1;
	if (user_load(t, key, u) == -1) {
		db_abort(t->db);
		return -1;
	}
	return db_commit(t->db, 0);
}

/* fail early, before the slow hash, when the user is not there */
static int
user_need(struct table *t, const char *key)
{
	int rv;

	if (db_begin(t->db) == -1)
		return -1;
	rv = db_exists(t->db, t->users, key);
	db_abort(t->db);
	if (rv == 0)
		return db_seterr(t->db, "user %s does not exist", key);
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
			return db_seterr(t->db, "cannot hash the password");
	}
	if (db_begin(t->db) == -1)
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
	rv = db_commit(t->db, 1);
	goto done;

fail:
	db_abort(t->db);
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
		if (db_begin(t->db) == -1)
			return -1;
		rv = db_get(t->db, t->users, key, &data, &len);
		db_abort(t->db);
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
		return db_seterr(t->db, "alias %s: no target", a.address);
	if (ntargets > TABLE_TARGETS_MAX)
		return db_seterr(t->db,
		    "alias %s: too many targets (at most "
		    "%d)",
		    a.address, TABLE_TARGETS_MAX);
	a.targets = calloc(ntargets, sizeof(*a.targets));
	if (a.targets == NULL)
		return db_seterr(t->db, "out of memory");
	for (i = 0; i < ntargets; i++) {
		if (table_address_normalize(
			targets[i], target, sizeof(target)) == -1) {
			db_seterr(t->db,
			    "alias %s: invalid target address: "
			    "%s",
			    a.address,
			    table_show(targets[i], show, sizeof(show)));
			goto out;
		}
		if (strcmp(target, a.address) == 0) {
			db_seterr(t->db, "alias %s: cannot point to itself",
			    a.address);
			goto out;
		}
		for (j = 0; j < a.ntargets; j++)
			if (strcmp(a.targets[j], target) == 0)
				break;
		if (j < a.ntargets)
			continue; /* a duplicate */
		if ((a.targets[a.ntargets] = strdup(target)) == NULL) {
			db_seterr(t->db, "out of memory");
			goto out;
		}
		a.ntargets++;
	}
	a.created = (uint64_t)time(NULL);

	if (db_begin(t->db) == -1)
		goto out;
	if (domain_need(t, key_domain(a.address)) == -1)
		goto fail;
	if (a.address[0] != '@' &&
	    (rv = db_exists(t->db, t->users, a.address)) != 0) {
		if (rv == 1)
			db_seterr(t->db, "%s is a user", a.address);
		goto fail;
	}
	alias_encode(&a, &w);
	if ((rv = db_put(t->db, t->aliases, a.address, &w, 0)) != 1) {
		if (rv == 0)
			db_seterr(t->db, "alias %s already exists", a.address);
		goto fail;
	}
	table_alias_clear(&a);
	return db_commit(t->db, 1);

fail:
	db_abort(t->db);
out:
	table_alias_clear(&a);
	return -1;
}

int
table_alias_del(struct table *t, const char *address)
{
	char key[TABLE_ADDR_MAX];
	int rv;

	if (alias_address(t, address, key, sizeof(key)) == -1)
		return -1;
	if (db_begin(t->db) == -1)
		return -1;
	if ((rv = db_del(t->db, t->aliases, key)) != 1) {
		if (rv == 0)
			db_seterr(t->db, "alias %s does not exist", key);
		db_abort(t->db);
		return -1;
	}
	return db_commit(t->db, 1);
}

struct alias_list {
	const char *domain; /* "" for all */
	table_alias_cb cb;
	void *arg;
};

static int
alias_list_cb(
    struct db_env *e, const char *key, const void *data, size_t len, void *arg)
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
	table_alias_clear(&a);
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
	if (db_begin(t->db) == -1)
		return -1;
	if ((key[0] != '\0' && domain_need(t, key) == -1) ||
	    db_scan(t->db, t->aliases, alias_list_cb, &al) == -1) {
		db_abort(t->db);
		return -1;
	}
	return db_commit(t->db, 0);
}

/* ---------------------------------------------------------------- reads */

int
table_read_begin(struct table *t)
{
	return db_begin(t->db);
}

int
table_read_end(struct table *t)
{
	return db_commit(t->db, 0);
}

int
table_domain_exists(struct table *t, const char *domain)
{
	return db_exists(t->db, t->domains, domain);
}

struct domain_scan {
	table_name_cb cb;
	void *arg;
};

static int
domain_scan_cb(
    struct db_env *e, const char *key, const void *data, size_t len, void *arg)
{
	struct domain_scan *ds = arg;

	if (ds->cb(ds->arg, key) == -1)
		return db_seterr(e, "out of memory");
	return 0;
}

int
table_domain_scan(struct table *t, table_name_cb cb, void *arg)
{
	struct domain_scan ds;

	ds.cb = cb;
	ds.arg = arg;
	return db_scan(t->db, t->domains, domain_scan_cb, &ds);
}

int
table_user_find(struct table *t, const char *key, struct table_user *u)
{
	void *data;
	size_t len;
	int rv;

	memset(u, 0, sizeof(*u));
	if ((rv = db_get(t->db, t->users, key, &data, &len)) != 1)
		return rv;
	rv = user_decode(u, data, len);
	freezero(data, len);
	if (rv == -1) {
		explicit_bzero(u, sizeof(*u));
		log_warnx("table: user %s: unreadable record", key);
		return db_seterr(t->db, "user %s: unreadable record", key);
	}
	strlcpy(u->address, key, sizeof(u->address));
	return 1;
}

int
table_alias_find(struct table *t, const char *key, struct table_alias *a)
{
	void *data;
	size_t len;
	int rv;

	memset(a, 0, sizeof(*a));
	if ((rv = db_get(t->db, t->aliases, key, &data, &len)) != 1)
		return rv;
	rv = alias_decode(a, data, len);
	free(data);
	if (rv == -1) {
		log_warnx("table: alias %s: unreadable record", key);
		return db_seterr(t->db, "alias %s: unreadable record", key);
	}
	strlcpy(a->address, key, sizeof(a->address));
	return 1;
}
