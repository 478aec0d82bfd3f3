/*
 * login.c against tables in a temporary directory, with an injected
 * clock: the right password, a wrong one, an unknown user, a disabled
 * one; the limit of failures per address and per user; a known address
 * exempt from the user's count, across a restart, and no longer after
 * LOGIN_KNOWN_DAYS; a success remembered, and forgotten when the table
 * changes; hostile user names.
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"
#include "test.h"

#define T0	 1800000000 /* 2027 */
#define DAY	 (24 * 60 * 60)
#define MAX	 3
#define PERIOD	 300

static char	 tmpdir[] = "/tmp/boxd-test-login.XXXXXX";

/* LeakSanitizer: Berkeley DB 5.3 keeps some DB_PRIVATE region memory */
const char	*__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}

static void
rm_tmpdir(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_MAX];

	if ((d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmpdir);
}

static struct table	*t;
static struct login	*l;
static struct auth_login_result res;

static const char *
status_name(uint32_t status)
{
	switch (status) {
	case AUTH_LOGIN_OK:
		return "OK";
	case AUTH_LOGIN_BAD:
		return "BAD";
	case AUTH_LOGIN_DISABLED:
		return "DISABLED";
	case AUTH_LOGIN_LIMITED:
		return "LIMITED";
	case AUTH_LOGIN_TEMPFAIL:
		return "TEMPFAIL";
	}
	return "?";
}

/* one login at time now; 1 if its status is want */
static int
try(const char *user, const char *password, const char *addr, time_t now,
    uint32_t want)
{
	struct auth_login	 req;
	static uint64_t		 reqid;

	memset(&req, 0, sizeof(req));
	req.reqid = ++reqid;
	req.service = AUTH_SERVICE_IMAP;
	strlcpy(req.user, user, sizeof(req.user));
	strlcpy(req.password, password, sizeof(req.password));
	strlcpy(req.client_addr, addr, sizeof(req.client_addr));
	login_check(l, &req, MAX, PERIOD, now, &res);
	if (res.reqid != req.reqid) {
		printf("# login %s: reqid %llu\n", user,
		    (unsigned long long)res.reqid);
		return 0;
	}
	if (res.status == want)
		return 1;
	printf("# login %s from %s: %s, want %s\n", user, addr,
	    status_name(res.status), status_name(want));
	return 0;
}

static void
reopen(void)
{
	char	 err[TABLE_ERR_MAX];

	login_free(l);
	table_close(t);
	if ((t = table_open(tmpdir, err, sizeof(err))) == NULL) {
		printf("FAIL reopen: %s\n", err);
		exit(1);
	}
	l = login_new(t);
}

static void
test_basic(void)
{
	time_t	 now = T0;

	CHECK("right password", try("alice@example.org", "alice-secret",
	    "192.0.2.1", now, AUTH_LOGIN_OK));
	CHECK("right gives user, mailbox, quota",
	    strcmp(res.user, "alice@example.org") == 0 &&
	    strcmp(res.mailbox, "example.org/alice") == 0 &&
	    res.quota == 1000000);
	CHECK("user normalized", try("ALICE@Example.ORG", "alice-secret",
	    "192.0.2.1", now, AUTH_LOGIN_OK) &&
	    strcmp(res.user, "alice@example.org") == 0);
	CHECK("no quota is 0", try("bob@example.org", "bob-secret-1",
	    "192.0.2.1", now, AUTH_LOGIN_OK) && res.quota == 0 &&
	    strcmp(res.mailbox, "example.org/bob") == 0);
	CHECK("wrong password", try("alice@example.org", "alice-secreT",
	    "192.0.2.10", now, AUTH_LOGIN_BAD) && res.user[0] == '\0' &&
	    res.mailbox[0] == '\0');
	CHECK("unknown user", try("nobody@example.org", "alice-secret",
	    "192.0.2.11", now, AUTH_LOGIN_BAD));
	CHECK("unknown domain", try("alice@example.net", "alice-secret",
	    "192.0.2.12", now, AUTH_LOGIN_BAD));
	CHECK("no domain", try("alice", "alice-secret", "192.0.2.13", now,
	    AUTH_LOGIN_BAD));
	CHECK("disabled, right password", try("carol@example.org",
	    "carol-secret", "192.0.2.14", now, AUTH_LOGIN_DISABLED) &&
	    res.user[0] == '\0' && res.mailbox[0] == '\0');
	CHECK("disabled, wrong password", try("carol@example.org",
	    "carol-wrong", "192.0.2.15", now, AUTH_LOGIN_BAD));
	CHECK("empty password", try("alice@example.org", "",
	    "192.0.2.16", now, AUTH_LOGIN_BAD));
	CHECK("alias is no login", try("postmaster@example.org",
	    "alice-secret", "192.0.2.17", now, AUTH_LOGIN_BAD));

	/* no IP address: all such share one count */
	CHECK("no address is one key", try("alice@example.org",
	    "alice-secret", "unknown", now, AUTH_LOGIN_OK) &&
	    try("nobody1@example.org", "x", "unknown", now, AUTH_LOGIN_BAD) &&
	    try("nobody2@example.org", "x", "", now, AUTH_LOGIN_BAD) &&
	    try("nobody3@example.org", "x", "\x1b[2J", now, AUTH_LOGIN_BAD) &&
	    try("alice@example.org", "alice-secret", "unknown", now,
	    AUTH_LOGIN_LIMITED));
}

/* an unknown user takes about as long as a wrong password */
static void
test_timing(void)
{
	struct timespec	 a, b, c;
	double		 known, unknown;

	clock_gettime(CLOCK_MONOTONIC, &a);
	try("alice@example.org", "wrong-one", "203.0.113.50", T0,
	    AUTH_LOGIN_BAD);
	clock_gettime(CLOCK_MONOTONIC, &b);
	try("nobody@example.org", "wrong-one", "203.0.113.51", T0,
	    AUTH_LOGIN_BAD);
	clock_gettime(CLOCK_MONOTONIC, &c);
	known = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	unknown = (c.tv_sec - b.tv_sec) + (c.tv_nsec - b.tv_nsec) / 1e9;
	printf("# wrong password %.4fs, unknown user %.4fs\n", known,
	    unknown);
	CHECK("unknown user verified too", unknown > known / 4);
}

static void
test_limit_address(void)
{
	time_t	 now = T0 + DAY;
	int	 i, ok = 1;

	/* MAX failures from one /64, each for another user */
	for (i = 0; i < MAX; i++) {
		char	 user[64], addr[64];

		snprintf(user, sizeof(user), "guess%d@example.org", i);
		snprintf(addr, sizeof(addr), "2001:db8:7:7::%d", i + 1);
		ok &= try(user, "x", addr, now + i, AUTH_LOGIN_BAD);
	}
	CHECK("address N failures are BAD", ok);
	CHECK("address limited, right password unchecked",
	    try("bob@example.org", "bob-secret-1", "2001:db8:7:7::99",
	    now + 10, AUTH_LOGIN_LIMITED) && res.user[0] == '\0');
	CHECK("address other /64 free", try("bob@example.org",
	    "bob-secret-1", "2001:db8:7:8::1", now + 10, AUTH_LOGIN_OK));
	CHECK("address limit ends with the period", try("bob@example.org",
	    "bob-secret-1", "2001:db8:7:7::99", now + PERIOD,
	    AUTH_LOGIN_OK));

	/* IPv4 and its mapped form are one address */
	for (i = 0; i < MAX; i++)
		try("nobody@example.org", "x", i % 2 ? "198.51.100.3" :
		    "::ffff:198.51.100.3", now + 1000 + i, AUTH_LOGIN_BAD);
	CHECK("address mapped IPv4 counts as IPv4", try("bob@example.org",
	    "bob-secret-1", "198.51.100.3", now + 1010,
	    AUTH_LOGIN_LIMITED));

	/* a success between failures resets nothing */
	for (i = 0; i < MAX - 1; i++)
		try("nobody@example.org", "x", "198.51.100.4", now + 2000 + i,
		    AUTH_LOGIN_BAD);
	try("bob@example.org", "bob-secret-1", "198.51.100.4", now + 2010,
	    AUTH_LOGIN_OK);
	try("nobody@example.org", "x", "198.51.100.4", now + 2011,
	    AUTH_LOGIN_BAD);
	CHECK("address success clears nothing", try("bob@example.org",
	    "bob-secret-1", "198.51.100.4", now + 2012, AUTH_LOGIN_LIMITED));
}

static void
test_limit_user(void)
{
	time_t	 now = T0 + 2 * DAY;
	char	 addr[64];
	int	 i, ok = 1;

	/* dave logs in from home once: home becomes known */
	CHECK("user first login from home", try("dave@example.org",
	    "dave-secret", "2001:db8:100:1::5", now, AUTH_LOGIN_OK));

	/* an attacker from many addresses, each below the address limit */
	for (i = 0; i < MAX; i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", 100 + i);
		ok &= try("dave@example.org", "guess", addr, now + 10 + i,
		    AUTH_LOGIN_BAD);
	}
	CHECK("user N failures from N addresses are BAD", ok);
	CHECK("user limited from a new address, right password unchecked",
	    try("dave@example.org", "dave-secret", "203.0.113.200",
	    now + 20, AUTH_LOGIN_LIMITED));
	CHECK("user limited for the normalized name", try("DAVE@example.ORG",
	    "dave-secret", "203.0.113.201", now + 20, AUTH_LOGIN_LIMITED));
	CHECK("user known address exempt", try("dave@example.org",
	    "dave-secret", "2001:db8:100:1::5", now + 21, AUTH_LOGIN_OK));
	CHECK("user known address is its /64", try("dave@example.org",
	    "dave-secret", "2001:db8:100:1:aaaa::7", now + 22,
	    AUTH_LOGIN_OK));
	CHECK("user known address, wrong password still BAD",
	    try("dave@example.org", "guess", "2001:db8:100:1::5", now + 23,
	    AUTH_LOGIN_BAD));
	CHECK("user others unaffected", try("bob@example.org",
	    "bob-secret-1", "203.0.113.202", now + 24, AUTH_LOGIN_OK));

	/* the known address's own limit still holds: one failure above */
	for (i = 0; i < MAX - 1; i++)
		try("dave@example.org", "guess", "2001:db8:100:1::5",
		    now + 30 + i, AUTH_LOGIN_BAD);
	CHECK("user known address has its own limit", try("dave@example.org",
	    "dave-secret", "2001:db8:100:1::5", now + 40,
	    AUTH_LOGIN_LIMITED));

	/* an unknown name is limited like a user: no oracle */
	for (i = 0; i < MAX; i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", 150 + i);
		try("ghost@example.org", "x", addr, now + 50 + i,
		    AUTH_LOGIN_BAD);
	}
	CHECK("user unknown name limited too", try("ghost@example.org",
	    "x", "203.0.113.199", now + 60, AUTH_LOGIN_LIMITED));

	/* the known address survives a restart */
	reopen();
	for (i = 0; i < MAX; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", 100 + i);
		try("dave@example.org", "guess", addr, now + 1000 + i,
		    AUTH_LOGIN_BAD);
	}
	CHECK("restart: counts start empty, then limit again",
	    try("dave@example.org", "dave-secret", "192.0.2.200",
	    now + 1010, AUTH_LOGIN_LIMITED));
	CHECK("restart: known address still exempt", try("dave@example.org",
	    "dave-secret", "2001:db8:100:1::5", now + 1011, AUTH_LOGIN_OK));

	/* after LOGIN_KNOWN_DAYS without a login, no longer */
	now += (LOGIN_KNOWN_DAYS + 1) * DAY;
	for (i = 0; i < MAX; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", 50 + i);
		try("dave@example.org", "guess", addr, now + i,
		    AUTH_LOGIN_BAD);
	}
	CHECK("expired: known address limited again", try("dave@example.org",
	    "dave-secret", "2001:db8:100:1::5", now + 10,
	    AUTH_LOGIN_LIMITED));
}

/* one pair of the logins database per success, old ones swept */
static int
count_pair(struct db_env *e, const char *key, const void *data, size_t len,
    void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int
pairs(void)
{
	int	 n = 0;

	if (db_begin(table_db(t)) == -1 ||
	    db_scan(table_db(t), table_logins(t), count_pair, &n) == -1)
		n = -1;
	db_abort(table_db(t));
	return n;
}

static void
test_sweep(void)
{
	time_t	 now = T0 + 100 * DAY;
	int	 before;

	reopen();
	before = pairs();
	CHECK("sweep pairs were kept", before > 0);
	CHECK("sweep login after long", try("bob@example.org",
	    "bob-secret-1", "192.0.2.77", now, AUTH_LOGIN_OK));
	CHECK("sweep left only the new pair", pairs() == 1);
}

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) + (b->tv_nsec - a->tv_nsec) / 1e9;
}

/* a success remembered: the same password passes quickly, nothing else */
static void
test_cache(void)
{
	struct timespec	 a, b, c;
	time_t		 now = T0 + 300 * DAY;

	reopen();
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK("cache first login", try("erin@example.org", "erin-secret",
	    "192.0.2.90", now, AUTH_LOGIN_OK));
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK("cache second login", try("erin@example.org", "erin-secret",
	    "192.0.2.91", now + 1, AUTH_LOGIN_OK) &&
	    strcmp(res.mailbox, "example.org/erin") == 0);
	clock_gettime(CLOCK_MONOTONIC, &c);
	printf("# first %.4fs, remembered %.4fs\n", elapsed(&a, &b),
	    elapsed(&b, &c));
	CHECK("cache second login quicker",
	    elapsed(&b, &c) < elapsed(&a, &b) / 3);
	CHECK("cache wrong password still BAD", try("erin@example.org",
	    "erin-secreT", "192.0.2.92", now + 2, AUTH_LOGIN_BAD));
	CHECK("cache prefix of the password BAD", try("erin@example.org",
	    "erin-secre", "192.0.2.92", now + 3, AUTH_LOGIN_BAD));
	CHECK("cache other user, same password BAD", try("bob@example.org",
	    "erin-secret", "192.0.2.93", now + 3, AUTH_LOGIN_BAD));

	CHECK("cache quota seen at once", table_user_quota(t,
	    "erin@example.org", 777) == 0 && try("erin@example.org",
	    "erin-secret", "192.0.2.94", now + 4, AUTH_LOGIN_OK) &&
	    res.quota == 777);
	CHECK("cache disable seen at once", table_user_disable(t,
	    "erin@example.org", 1) == 0 && try("erin@example.org",
	    "erin-secret", "192.0.2.95", now + 5, AUTH_LOGIN_DISABLED));
	CHECK("cache enable", table_user_disable(t, "erin@example.org",
	    0) == 0 && try("erin@example.org", "erin-secret", "192.0.2.96",
	    now + 6, AUTH_LOGIN_OK));
	/* two failures for erin above: a new window for the next */
	now += PERIOD;
	CHECK("cache new password seen at once", table_user_passwd(t,
	    "erin@example.org", "erin-second") == 0 &&
	    try("erin@example.org", "erin-secret", "192.0.2.97", now + 7,
	    AUTH_LOGIN_BAD) && try("erin@example.org", "erin-second",
	    "192.0.2.98", now + 8, AUTH_LOGIN_OK));
	CHECK("cache deletion seen at once", table_user_del(t,
	    "erin@example.org") == 0 && try("erin@example.org",
	    "erin-second", "192.0.2.99", now + 9, AUTH_LOGIN_BAD));
	CHECK("cache same password, new user", table_user_add(t,
	    "erin@example.org", "erin-second") == 0 &&
	    try("erin@example.org", "erin-second", "192.0.2.100", now + 10,
	    AUTH_LOGIN_OK));

	clock_gettime(CLOCK_MONOTONIC, &a);
	try("erin@example.org", "erin-second", "192.0.2.101",
	    now + 10 + 60 * 60, AUTH_LOGIN_OK);
	clock_gettime(CLOCK_MONOTONIC, &b);
	try("erin@example.org", "erin-second", "192.0.2.102",
	    now + 11 + 60 * 60, AUTH_LOGIN_OK);
	clock_gettime(CLOCK_MONOTONIC, &c);
	printf("# after an hour %.4fs, then %.4fs\n", elapsed(&a, &b),
	    elapsed(&b, &c));
	CHECK("cache forgets after an hour",
	    elapsed(&b, &c) < elapsed(&a, &b) / 3);
}

static void
test_hostile(void)
{
	char	 user[AUTH_LOGIN_USER_MAX + 1], password[AUTH_LOGIN_PASSWORD_MAX + 1];
	time_t	 now = T0 + 200 * DAY;

	memset(user, 'a', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	memset(password, 'p', sizeof(password) - 1);
	password[sizeof(password) - 1] = '\0';
	CHECK("hostile long user", try(user, "x", "192.0.2.201", now,
	    AUTH_LOGIN_BAD));
	CHECK("hostile long password", try("alice@example.org", password,
	    "192.0.2.202", now, AUTH_LOGIN_BAD));
	CHECK("hostile control octets", try("al\r\nice@example.org\x1b[2J",
	    "x", "192.0.2.203", now, AUTH_LOGIN_BAD));
	CHECK("hostile 8-bit", try("\xff\xfe@example.org", "\xc3\x28",
	    "192.0.2.204", now, AUTH_LOGIN_BAD));
	CHECK("hostile quoted local part", try("\"alice\"@example.org",
	    "alice-secret", "192.0.2.205", now, AUTH_LOGIN_BAD));
	CHECK("hostile path", try("../alice@example.org", "alice-secret",
	    "192.0.2.206", now, AUTH_LOGIN_BAD));
	CHECK("hostile still fine after", try("alice@example.org",
	    "alice-secret", "192.0.2.207", now, AUTH_LOGIN_OK));
}

int
main(void)
{
	char	 err[TABLE_ERR_MAX];

	log_init(1, LOG_LEVEL_INFO, "test_login");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(rm_tmpdir);
	if ((t = table_open(tmpdir, err, sizeof(err))) == NULL) {
		printf("FAIL open: %s\n", err);
		return 1;
	}
	CHECK("setup", table_domain_add(t, "example.org") == 0 &&
	    table_user_add(t, "alice@example.org", "alice-secret") == 0 &&
	    table_user_quota(t, "alice@example.org", 1000000) == 0 &&
	    table_user_add(t, "bob@example.org", "bob-secret-1") == 0 &&
	    table_user_add(t, "carol@example.org", "carol-secret") == 0 &&
	    table_user_disable(t, "carol@example.org", 1) == 0 &&
	    table_user_add(t, "dave@example.org", "dave-secret") == 0 &&
	    table_user_add(t, "erin@example.org", "erin-secret") == 0 &&
	    table_alias_add(t, "postmaster@example.org",
	    (const char *[]){"alice@example.org"}, 1) == 0);
	l = login_new(t);
	test_basic();
	test_timing();
	test_limit_address();
	test_limit_user();
	test_sweep();
	test_cache();
	test_hostile();
	login_free(l);
	table_close(t);
	TEST_EXIT();
}
