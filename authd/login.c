/*
 * Logins for the roles that serve users (imap's LOGIN, AUTHENTICATE and
 * POP3, smtp's AUTH later): the password checked against the tables, and
 * the limit of auth-failures (boxd.conf(5)).
 *
 * An unknown user and a wrong password are the same answer, and take
 * about as long: an unknown user's password is verified against a hash
 * made at start.  A disabled user is told apart only once the password
 * was right.
 *
 * Failures are counted under the client's address (its /64 for IPv6)
 * and under the user (the normalized address, whether or not it is a
 * user, so that a lockout says nothing of who exists; a name that is no
 * address counts under the client's address alone).  An attempt is
 * refused unchecked (AUTH_LOGIN_LIMITED) when its address's count, or
 * its user's, has reached the limit within the period of its first
 * failure, until that period ends.
 *
 * A known address of a user, one from which that user logged in within
 * LOGIN_KNOWN_DAYS, is exempt from the user's count: an attacker
 * elsewhere cannot lock the user out from there.  Its failures for that
 * user do not count under the user either (a phone with an old password
 * at home must not lock out the user's other devices), but they count
 * under the address like any other: the address's own limit holds for
 * every user, the known one included.
 *
 * A success clears no count: an attacker who owns one account could
 * otherwise reset his address's count between guesses at others, and
 * the user's count, run up elsewhere, is what keeps that elsewhere out.
 * It makes its address known to that user.  The known pairs live in the
 * "logins" database of auth's environment, key "PREFIX USER" (a prefix
 * has no space), value the last success; written again at most once a
 * day, expired ones deleted by a sweep at most once a day.
 *
 * A mail app logs in again and again with the same password, and a
 * yescrypt verification takes tens of milliseconds of auth's one thread.
 * So a success is remembered for LOGIN_CACHE_TTL: the user's hash from
 * the table and a quick hash of the password (SHA-256 crypt, 1000 rounds,
 * a salt drawn at start), so that the same password against the same
 * table hash passes at the quick hash's cost.  A new password, a
 * deletion or a disable is seen at once (the table is read every time);
 * a failure always pays the full verification.  The quick hashes live in
 * auth's memory alone, beside the table's own hashes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"

#define LOGIN_RECORD_V1	    1
#define LOGIN_KNOWN_SECONDS ((time_t)LOGIN_KNOWN_DAYS * 24 * 60 * 60)
#define LOGIN_REFRESH	    (24 * 60 * 60) /* a known pair rewritten */
#define LOGIN_SWEEP	    (24 * 60 * 60) /* expired pairs looked for */
#define LOGIN_SHOW_MAX	    80		   /* a user name in a log line */
#define LOGIN_PAIR_MAX	    (LISTENER_KEY_MAX + TABLE_ADDR_MAX + 1)
#define LOGIN_CACHE_SLOTS   4096      /* users remembered, at most */
#define LOGIN_CACHE_TTL	    (60 * 60) /* a success remembered */
#define LOGIN_QUICK_ROUNDS  1000      /* SHA-256 crypt's least */
#define LOGIN_QUICK_MAX	    128	      /* its output, NUL included */

/* a user's last success: which table hash, which password */
struct login_cached {
	time_t when;
	char user[TABLE_ADDR_MAX];
	char hash[TABLE_HASH_MAX];
	char quick[LOGIN_QUICK_MAX];
};

struct login {
	struct table *table;
	struct ratelimit *clients;
	struct ratelimit *users;
	char dummy[TABLE_HASH_MAX];
	time_t swept;
	/* a slot per user name hash; a collision evicts */
	struct login_cached *cache[LOGIN_CACHE_SLOTS];
	uint32_t cache_seed;
	char quick_setting[CRYPT_GENSALT_OUTPUT_SIZE];
};

/* the expired pairs a sweep found, deleted after the scan */
struct login_sweep {
	time_t now;
	char **keys;
	size_t n;
};

static const char *const login_services[AUTH_SERVICES] = {
    [AUTH_SERVICE_IMAP] = "imap",
    [AUTH_SERVICE_POP3] = "pop3",
    [AUTH_SERVICE_SMTP] = "smtp",
};

static int login_known_get(struct login *, const char *, time_t, time_t *);
static void login_known_put(struct login *, const char *, time_t);
static int
login_sweep_cb(struct db_env *, const char *, const void *, size_t, void *);
static void login_sweep(struct login *, time_t);
static int login_quick(struct login *, const char *, char *);
static struct login_cached **login_cache_slot(struct login *, const char *);
static int login_cache_hit(struct login *, const char *user, const char *hash,
    const char *password, time_t now);
static void login_cache_put(struct login *, const char *user, const char *hash,
    const char *password, time_t now);
static void login_failed(struct login *, const struct auth_login *,
    const char *from, const char *client, const char *user, const char *show,
    uint32_t period, uint32_t max, int known, time_t now);

struct login *
login_new(struct table *t)
{
	struct login *l;
	uint8_t secret[32];
	char password[2 * sizeof(secret) + 1];
	size_t i;

	l = xcalloc(1, sizeof(*l));
	l->table = t;
	l->clients = ratelimit_new(LOGIN_CLIENTS_MAX);
	l->users = ratelimit_new(LOGIN_USERS_MAX);
	/* a password nobody knows, hashed as a new user's would be */
	arc4random_buf(secret, sizeof(secret));
	for (i = 0; i < sizeof(secret); i++)
		snprintf(password + 2 * i, 3, "%02x", secret[i]);
	if (passwd_hash(password, l->dummy, sizeof(l->dummy)) == -1)
		fatalx("login: cannot make a password hash");
	arc4random_buf(&l->cache_seed, sizeof(l->cache_seed));
	if (authlib.crypt_gensalt_rn("$5$", LOGIN_QUICK_ROUNDS, NULL, 0,
		l->quick_setting, (int)sizeof(l->quick_setting)) == NULL)
		fatalx("login: cannot make a salt");
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(password, sizeof(password));
	return l;
}

void
login_free(struct login *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < LOGIN_CACHE_SLOTS; i++)
		freezero(l->cache[i], sizeof(*l->cache[i]));
	explicit_bzero(l->quick_setting, sizeof(l->quick_setting));
	ratelimit_free(l->clients);
	ratelimit_free(l->users);
	free(l);
}

/* the quick hash of password into out (LOGIN_QUICK_MAX); -1 if none */
static int
login_quick(struct login *l, const char *password, char *out)
{
	struct crypt_data *data;
	const char *h;
	int rv = -1;

	/* compared whole, past the NUL too */
	memset(out, 0, LOGIN_QUICK_MAX);
	if (strlen(password) > PASSWD_MAX ||
	    (data = calloc(1, sizeof(*data))) == NULL)
		return -1;
	h = authlib.crypt_rn(
	    password, l->quick_setting, data, (int)sizeof(*data));
	if (h != NULL && h[0] != '*' &&
	    strlcpy(out, h, LOGIN_QUICK_MAX) < LOGIN_QUICK_MAX)
		rv = 0;
	freezero(data, sizeof(*data));
	return rv;
}

/* FNV-1a over the name, from a seed drawn at start */
static struct login_cached **
login_cache_slot(struct login *l, const char *user)
{
	uint32_t h = 2166136261U ^ l->cache_seed;
	const unsigned char *p;

	for (p = (const unsigned char *)user; *p != '\0'; p++)
		h = (h ^ *p) * 16777619U;
	return &l->cache[h % LOGIN_CACHE_SLOTS];
}

static int
login_cache_hit(struct login *l, const char *user, const char *hash,
    const char *password, time_t now)
{
	struct login_cached **slot = login_cache_slot(l, user), *c = *slot;
	char quick[LOGIN_QUICK_MAX];
	volatile unsigned char diff = 0;
	size_t i;

	if (c == NULL || strcmp(c->user, user) != 0)
		return 0;
	if (now < c->when || now - c->when >= LOGIN_CACHE_TTL ||
	    strcmp(c->hash, hash) != 0) {
		freezero(c, sizeof(*c));
		*slot = NULL;
		return 0;
	}
	if (login_quick(l, password, quick) == -1)
		return 0;
	for (i = 0; i < sizeof(quick); i++)
		diff |= (unsigned char)(quick[i] ^ c->quick[i]);
	explicit_bzero(quick, sizeof(quick));
	return diff == 0;
}

/* out of memory, nothing is remembered: the next login pays in full */
static void
login_cache_put(struct login *l, const char *user, const char *hash,
    const char *password, time_t now)
{
	struct login_cached **slot = login_cache_slot(l, user), *c = *slot;

	if (c == NULL && (c = *slot = calloc(1, sizeof(*c))) == NULL)
		return;
	explicit_bzero(c, sizeof(*c));
	if (login_quick(l, password, c->quick) == -1 ||
	    strlcpy(c->user, user, sizeof(c->user)) >= sizeof(c->user) ||
	    strlcpy(c->hash, hash, sizeof(c->hash)) >= sizeof(c->hash)) {
		freezero(c, sizeof(*c));
		*slot = NULL;
		return;
	}
	c->when = now;
}

/* "example.org/alice" from "alice@example.org", as delivery names it */
int
login_mailbox(const char *user, char *buf, size_t bufsz)
{
	const char *at;

	if ((at = strrchr(user, '@')) == NULL ||
	    (size_t)snprintf(
		buf, bufsz, "%s/%.*s", at + 1, (int)(at - user), user) >= bufsz)
		return -1;
	return envelope_mailbox_valid(buf) ? 0 : -1;
}

/*
 * Inside a read transaction: 1 if pair had a success within
 * LOGIN_KNOWN_DAYS (its time in *last), 0 if not, -1 on error.
 */
static int
login_known_get(struct login *l, const char *pair, time_t now, time_t *last)
{
	struct msg_reader r;
	void *data;
	size_t len;
	uint64_t when;
	uint8_t version;
	int rv;

	*last = 0;
	rv = db_get(
	    table_db(l->table), table_logins(l->table), pair, &data, &len);
	if (rv != 1)
		return rv;
	msg_reader_init(&r, data, len);
	if (msg_get_u8(&r, &version) == -1 || version != LOGIN_RECORD_V1 ||
	    msg_get_u64(&r, &when) == -1 || msg_get_end(&r) == -1) {
		/* a record of a later build, or damage: no exemption */
		free(data);
		return 0;
	}
	free(data);
	*last = (time_t)when;
	return now - *last < LOGIN_KNOWN_SECONDS ? 1 : 0;
}

/* a failure to remember costs an exemption later, no login now */
static void
login_known_put(struct login *l, const char *pair, time_t now)
{
	struct db_env *db = table_db(l->table);
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_u8(&w, LOGIN_RECORD_V1);
	msg_put_u64(&w, (uint64_t)now);
	if (db_begin(db) == -1) {
		msg_writer_free(&w);
		goto fail;
	}
	if (db_put(db, table_logins(l->table), pair, &w, 1) == -1) {
		db_abort(db);
		goto fail;
	}
	if (db_commit(db, 1) == -1)
		goto fail;
	return;
fail:
	log_warnx("login: cannot remember %s: %s", pair, db_error(db));
}

static int
login_sweep_cb(
    struct db_env *db, const char *key, const void *data, size_t len, void *arg)
{
	struct login_sweep *s = arg;
	struct msg_reader r;
	uint64_t when;
	uint8_t version;
	char **v;

	msg_reader_init(&r, data, len);
	if (msg_get_u8(&r, &version) == -1 || version != LOGIN_RECORD_V1 ||
	    msg_get_u64(&r, &when) == -1 || msg_get_end(&r) == -1 ||
	    s->now - (time_t)when < LOGIN_KNOWN_SECONDS)
		return 0;
	if ((v = reallocarray(s->keys, s->n + 1, sizeof(*v))) == NULL)
		return db_seterr(db, "out of memory");
	s->keys = v;
	if ((v[s->n] = strdup(key)) == NULL)
		return db_seterr(db, "out of memory");
	s->n++;
	return 0;
}

/* the pairs past LOGIN_KNOWN_DAYS, deleted in one transaction */
static void
login_sweep(struct login *l, time_t now)
{
	struct db_env *db = table_db(l->table);
	struct login_sweep s = {now, NULL, 0};
	size_t i;
	int rv = -1;

	l->swept = now;
	if (db_begin(db) == -1)
		goto out;
	if (db_scan(db, table_logins(l->table), login_sweep_cb, &s) == -1) {
		db_abort(db);
		goto out;
	}
	for (i = 0; i < s.n; i++)
		if (db_del(db, table_logins(l->table), s.keys[i]) == -1) {
			db_abort(db);
			goto out;
		}
	rv = db_commit(db, s.n > 0);
out:
	if (rv == -1)
		log_warnx("login: known addresses: %s", db_error(db));
	else if (s.n > 0)
		log_info("login: %zu known addresses expired", s.n);
	for (i = 0; i < s.n; i++)
		free(s.keys[i]);
	free(s.keys);
}

/*
 * Count a failure, and say so; user is NULL for a name that is no
 * address; from is the client's address fit for a log line.
 */
static void
login_failed(struct login *l, const struct auth_login *req, const char *from,
    const char *client, const char *user, const char *show, uint32_t period,
    uint32_t max, int known, time_t now)
{
	log_info("login failed: user %s from %s (%s)", show, from,
	    login_services[req->service]);
	if (ratelimit_fail(l->clients, client, period, now) == max)
		log_info("login: %u failures from %s: refused for %us", max,
		    client, period);
	if (user != NULL && !known &&
	    ratelimit_fail(l->users, user, period, now) == max)
		log_info("login: %u failures for user %s: refused for %us "
			 "from addresses it has not logged in from",
		    max, show, period);
}

void
login_check(struct login *l, const struct auth_login *req, uint32_t max,
    uint32_t period, time_t now, struct auth_login_result *res)
{
	struct table_user u;
	const char *service = login_services[req->service];
	char client[LISTENER_KEY_MAX], key[TABLE_ADDR_MAX];
	char pair[LOGIN_PAIR_MAX], show[LOGIN_SHOW_MAX], from[LOGIN_SHOW_MAX];
	time_t last = 0;
	int named, found = 0, known = 0, ok;

	/* what listener_addr_text() says of no IP address: one count */
	if (ratelimit_client_key(req->client_addr, client, sizeof(client)) ==
	    -1)
		strlcpy(client, "unknown", sizeof(client));
	envelope_show(req->client_addr, from, sizeof(from));
	memset(res, 0, sizeof(*res));
	res->reqid = req->reqid;
	res->status = AUTH_LOGIN_BAD;
	named = table_address_normalize(req->user, key, sizeof(key)) == 0;
	envelope_show(named ? key : req->user, show, sizeof(show));

	if (ratelimit_blocked(l->clients, client, max, period, now)) {
		log_info("login refused, too many failures from %s: user %s "
			 "from %s (%s)",
		    client, show, from, service);
		res->status = AUTH_LOGIN_LIMITED;
		return;
	}
	memset(&u, 0, sizeof(u));
	if (named) {
		snprintf(pair, sizeof(pair), "%s %s", client, key);
		if (table_read_begin(l->table) == -1 ||
		    (found = table_user_find(l->table, key, &u)) == -1 ||
		    (known = login_known_get(l, pair, now, &last)) == -1 ||
		    table_read_end(l->table) == -1) {
			db_abort(table_db(l->table));
			log_warnx(
			    "login: user %s: %s", show, table_error(l->table));
			explicit_bzero(&u, sizeof(u));
			res->status = AUTH_LOGIN_TEMPFAIL;
			return;
		}
		if (!known &&
		    ratelimit_blocked(l->users, key, max, period, now)) {
			log_info("login refused, too many failures for user "
				 "%s: from %s (%s)",
			    show, from, service);
			explicit_bzero(&u, sizeof(u));
			res->status = AUTH_LOGIN_LIMITED;
			return;
		}
	}

	if (found && login_cache_hit(l, key, u.hash, req->password, now))
		ok = 1;
	else {
		ok = passwd_verify(req->password, found ? u.hash : l->dummy);
		if (ok && found)
			login_cache_put(l, key, u.hash, req->password, now);
	}
	if (!found || !ok) {
		explicit_bzero(&u, sizeof(u));
		login_failed(l, req, from, client, named ? key : NULL, show,
		    period, max, known, now);
		return;
	}
	if (u.flags & TABLE_USER_DISABLED) {
		explicit_bzero(&u, sizeof(u));
		log_info("login refused: user %s is disabled (from %s, %s)",
		    show, from, service);
		res->status = AUTH_LOGIN_DISABLED;
		return;
	}
	res->quota = u.quota;
	explicit_bzero(&u, sizeof(u));
	if (strlcpy(res->user, key, sizeof(res->user)) >= sizeof(res->user) ||
	    login_mailbox(key, res->mailbox, sizeof(res->mailbox)) == -1) {
		/* table.c adds no such user; one from elsewhere stays out */
		log_warnx("login: user %s has no valid mailbox name", show);
		memset(res, 0, sizeof(*res));
		res->reqid = req->reqid;
		res->status = AUTH_LOGIN_TEMPFAIL;
		return;
	}
	res->status = AUTH_LOGIN_OK;
	log_info("login: user %s from %s (%s)", show, from, service);
	if (!known || now - last >= LOGIN_REFRESH)
		login_known_put(l, pair, now);
	if (now - l->swept >= LOGIN_SWEEP || now < l->swept)
		login_sweep(l, now);
}
