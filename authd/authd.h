/*
 * authd: the auth role.  It alone opens the Berkeley DB tables (domains,
 * users, aliases) and the password hashes in them.
 */

#ifndef BOXD_AUTHD_H
#define BOXD_AUTHD_H

#include <crypt.h>

#include "common.h"

/* "local@domain" and a NUL; RFC 5321 bounds a path to 256 octets */
#define TABLE_ADDR_MAX	  SMTP_PATH_MAX
#define TABLE_HASH_MAX	  256
#define TABLE_ERR_MAX	  512
#define TABLE_TARGETS_MAX 256 /* per alias */
#define TABLE_ALIAS_DEPTH 8   /* alias -> alias -> ... */

#define TABLE_USER_DISABLED 0x1

struct table;

struct table_user {
	char address[TABLE_ADDR_MAX]; /* normalized */
	uint32_t flags;		      /* TABLE_USER_* */
	uint64_t quota;		      /* bytes, 0: none */
	uint64_t created;	      /* seconds */
	char hash[TABLE_HASH_MAX];
};

struct table_alias {
	char address[TABLE_ADDR_MAX]; /* or "@domain" */
	uint64_t created;
	uint32_t ntargets;
	char **targets;
};

/* one domain and what still lives in it */
struct table_domain {
	char domain[SMTP_DOMAIN_MAX + 1];
	uint64_t created;
	uint32_t nusers;
	uint32_t naliases;
};

/* the answer to a recipient lookup */
struct table_rcpt {
	enum auth_rcpt_status status;
	size_t nmailbox;
	char **mailbox; /* "domain/local" */
};

typedef void (*table_domain_cb)(void *, const struct table_domain *);
typedef void (*table_user_cb)(void *, const struct table_user *);
typedef void (*table_alias_cb)(void *, const struct table_alias *);
/* returns -1 to stop, out of memory */
typedef int (*table_name_cb)(void *, const char *);

/* ---------------------------------------------------------------- auth_libs.c
 */
#define AUTH_FUNCTIONS(X)  \
	X(crypt, crypt_rn) \
	X(crypt, crypt_gensalt_rn)

#define AUTH_POINTER(lib, name) __typeof__(name) *name;
extern struct auth_libs {
	AUTH_FUNCTIONS(AUTH_POINTER)
} authlib;

/* load Berkeley DB (db_load()) and libxcrypt (before chroot) */
void auth_libs_load(void);

/* ---------------------------------------------------------------- table.c */
/*
 * Every call that can fail returns -1 and leaves a message for people in
 * table_error(); a failed change leaves the tables as they were.
 */
struct table *table_open(const char *home, char *err, size_t errsz);
void table_close(struct table *);
const char *table_error(struct table *);
/* 1 if the environment needs recovery: nothing more will work */
int table_broken(struct table *);
/* the environment, and login.c's database of known addresses in it */
struct db_env *table_db(struct table *);
struct db_file *table_logins(struct table *);

int table_domain_add(struct table *, const char *domain);
int table_domain_del(struct table *, const char *domain);
int table_domain_list(struct table *, table_domain_cb, void *);

int table_user_add(struct table *, const char *address, const char *password);
int table_user_del(struct table *, const char *address);
int table_user_list(struct table *, const char *domain, table_user_cb, void *);
int
table_user_passwd(struct table *, const char *address, const char *password);
int table_user_quota(struct table *, const char *address, uint64_t);
int table_user_disable(struct table *, const char *address, int);
int table_user_get(struct table *, const char *address, struct table_user *);
/* 1 the password is right and the user enabled, 0 not, -1 table error */
int
table_user_verify(struct table *, const char *address, const char *password);

int table_alias_add(struct table *, const char *address,
    const char *const *targets, size_t ntargets);
int table_alias_del(struct table *, const char *address);
int
table_alias_list(struct table *, const char *domain, table_alias_cb, void *);

/*
 * "Alice@Example.ORG" -> "alice@example.org": local parts are compared
 * without regard to ASCII case, like the domain.  0 ok, -1 invalid.
 */
int table_address_normalize(const char *, char *, size_t);

/*
 * The storage calls resolve.c reads through, between table_read_begin()
 * and table_read_end() (-1: what was read may be inconsistent).  Keys are
 * normalized.  The finds return 1 found, 0 not there, -1 error.
 */
int table_read_begin(struct table *);
int table_read_end(struct table *);
int table_domain_exists(struct table *, const char *domain);
int table_domain_scan(struct table *, table_name_cb, void *);
int table_user_find(struct table *, const char *key, struct table_user *);
/* a found alias is released with table_alias_clear() */
int table_alias_find(struct table *, const char *key, struct table_alias *);
void table_alias_clear(struct table_alias *);

/* ---------------------------------------------------------------- resolve.c
 */
/* resolve a recipient into mailboxes; -1 only if out of memory */
int table_rcpt_lookup(struct table *, const char *address, struct table_rcpt *);
void table_rcpt_clear(struct table_rcpt *);
/* does a user still have this mailbox ("domain/local")? */
enum auth_mailbox_status table_mailbox_status(struct table *, const char *);
/*
 * Does user (a normalized address, as a login answers) own address: is
 * it the user's own, or does it reach the user's mailbox (an alias, a
 * +tag, a catch-all)?
 */
enum auth_sender_status
table_sender_owned(struct table *, const char *user, const char *address);

/* ---------------------------------------------------------------- ratelimit.c
 */
/*
 * Failed logins counted per key (a client address prefix, a user) in
 * fixed windows: a window opens at a failure and lasts period seconds;
 * a key is blocked once max failures fell in its window, until the window
 * ends.  At most cap keys are held: a new one past that evicts the key
 * touched least recently (a failure, or an attempt refused as blocked).
 * Nothing else is kept, so memory is bounded whatever the keys.
 */
#define RATELIMIT_KEY_MAX 512 /* octets, NUL included */

struct ratelimit;

struct ratelimit *ratelimit_new(size_t cap);
void ratelimit_free(struct ratelimit *);
/* 1 if key is blocked now (and it counts as touched), else 0 */
int ratelimit_blocked(struct ratelimit *, const char *key, uint32_t max,
    uint32_t period, time_t now);
/* a failure under key: the failures in its window now, this one included */
uint32_t ratelimit_fail(
    struct ratelimit *, const char *key, uint32_t period, time_t now);
/* the keys held */
size_t ratelimit_size(const struct ratelimit *);
/*
 * What failures of a client address count under: an IPv4 address, an
 * IPv4-mapped IPv6 one as the IPv4, another IPv6 one by its /64 (as
 * listener_client_key()).  -1 if addr is not a numeric IP address.
 */
int ratelimit_client_key(const char *addr, char *key, size_t);

/* ---------------------------------------------------------------- login.c */
/*
 * A login (IMSG_AUTH_LOGIN) checked against the tables and the limit of
 * auth-failures.  What counts, what is exempt and what is remembered is
 * said at the top of login.c.
 */
#define LOGIN_KNOWN_DAYS 30 /* a successful address stays known */
/* "example.org/alice" of "alice@example.org" (normalized): 0, or -1 */
int login_mailbox(const char *, char *, size_t);
#define LOGIN_CLIENTS_MAX 65536 /* client addresses with failures held */
#define LOGIN_USERS_MAX	  16384 /* users with failures held */

struct login;

/* before the sandbox: it makes a hash to verify unknown users against */
struct login *login_new(struct table *);
void login_free(struct login *);
/*
 * Answer req into res, with max failures per period allowed; now is the
 * time in seconds.  A client address that is no numeric IP address
 * ("unknown") counts with every other such under one key.
 */
void login_check(struct login *, const struct auth_login *req, uint32_t max,
    uint32_t period, time_t now, struct auth_login_result *res);

/* ---------------------------------------------------------------- passwd.c */
#define PASSWD_MIN 8
#define PASSWD_MAX 511 /* libxcrypt refuses longer phrases */

/* a new yescrypt hash of password into hash; 0 ok, -1 error */
int passwd_hash(const char *password, char *hash, size_t hashsz);
/* 1 if password matches hash ($y$, $2b$/$2y$, $6$, $5$), else 0 */
int passwd_verify(const char *password, const char *hash);
/* 1 if hash is in a format passwd_verify() understands */
int passwd_hash_known(const char *hash);

#endif
