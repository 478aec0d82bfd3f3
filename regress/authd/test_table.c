/*
 * The tables, driven directly in a temporary directory: every command's
 * happy path and refusals, recipient resolution, password hashes, and
 * hostile input.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "test.h"

static char	 tmpdir[] = "/tmp/boxd-test-table.XXXXXX";

/* LeakSanitizer: Berkeley DB 5.3 keeps some DB_PRIVATE region memory */
const char	*__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}

/* ---------------------------------------------------------------- helpers */

struct snap {
	char	*buf;
	size_t	 len;
};

static void
snap_add(struct snap *s, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[20000];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	s->buf = realloc(s->buf, s->len + (size_t)n + 1);
	memcpy(s->buf + s->len, line, (size_t)n + 1);
	s->len += (size_t)n;
}

static void
snap_domain(void *arg, const struct table_domain *d)
{
	snap_add(arg, "domain %s %u %u\n", d->domain, d->nusers, d->naliases);
}

static void
snap_user(void *arg, const struct table_user *u)
{
	snap_add(arg, "user %s %llu %u\n", u->address,
	    (unsigned long long)u->quota, u->flags);
}

static void
snap_alias(void *arg, const struct table_alias *a)
{
	uint32_t	 i;

	snap_add(arg, "alias %s", a->address);
	for (i = 0; i < a->ntargets; i++)
		snap_add(arg, " %s", a->targets[i]);
	snap_add(arg, "\n");
}

/* the whole content of the tables as text, malloc'd */
static char *
snapshot(struct table *t)
{
	struct snap	 s = { NULL, 0 };

	snap_add(&s, "");
	if (table_domain_list(t, snap_domain, &s) == -1 ||
	    table_user_list(t, "", snap_user, &s) == -1 ||
	    table_alias_list(t, "", snap_alias, &s) == -1)
		snap_add(&s, "ERROR %s\n", table_error(t));
	return s.buf;
}

/* the mailboxes of a lookup as "a b c", or the status name */
static const char *
rcpt(struct table *t, const char *address)
{
	static char	 buf[8192];
	struct table_rcpt res;
	size_t		 i;

	buf[0] = '\0';
	if (table_rcpt_lookup(t, address, &res) == -1)
		return "ERROR";
	switch (res.status) {
	case AUTH_RCPT_OK:
		for (i = 0; i < res.nmailbox; i++) {
			if (i > 0)
				strlcat(buf, " ", sizeof(buf));
			strlcat(buf, res.mailbox[i], sizeof(buf));
		}
		break;
	case AUTH_RCPT_NOUSER:
		strlcpy(buf, "NOUSER", sizeof(buf));
		break;
	case AUTH_RCPT_NOTLOCAL:
		strlcpy(buf, "NOTLOCAL", sizeof(buf));
		break;
	case AUTH_RCPT_TEMPFAIL:
		strlcpy(buf, "TEMPFAIL", sizeof(buf));
		break;
	case AUTH_RCPT_DISABLED:
		strlcpy(buf, "DISABLED", sizeof(buf));
		break;
	}
	table_rcpt_clear(&res);
	return buf;
}

static int
rcpt_is(struct table *t, const char *address, const char *want)
{
	const char	*got = rcpt(t, address);

	if (strcmp(got, want) == 0)
		return 1;
	printf("# rcpt %s: got \"%s\", want \"%s\"\n", address, got, want);
	return 0;
}

/* the call failed, with a message containing want, tables unchanged */
static int
refused(struct table *t, int rv, const char *want, const char *before)
{
	char	*after;
	int	 ok;

	after = snapshot(t);
	ok = rv == -1 && strstr(table_error(t), want) != NULL &&
	    strcmp(before, after) == 0;
	if (!ok)
		printf("# rv %d, error \"%s\", want \"%s\"%s\n", rv,
		    table_error(t), want, strcmp(before, after) == 0 ? "" :
		    ", tables changed");
	free(after);
	return ok;
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

static struct table *
reopen(struct table *t)
{
	char	 err[TABLE_ERR_MAX];

	table_close(t);
	if ((t = table_open(tmpdir, err, sizeof(err))) == NULL) {
		printf("FAIL reopen: %s\n", err);
		exit(1);
	}
	return t;
}

/* ---------------------------------------------------------------- tests */

static void
test_domains(struct table *t)
{
	char	*before, long_domain[400];

	CHECK("domain add", table_domain_add(t, "example.org") == 0);
	CHECK("domain add upper-case is lower-cased",
	    table_domain_add(t, "Example.NET") == 0);
	CHECK("domain add utf-8", table_domain_add(t, "bücher.example") ==
	    0);
	before = snapshot(t);
	CHECK("domain list", strcmp(before,
	    "domain bücher.example 0 0\ndomain example.net 0 0\n"
	    "domain example.org 0 0\n") == 0);
	CHECK("domain add duplicate", refused(t,
	    table_domain_add(t, "example.org"),
	    "domain example.org already exists", before));
	CHECK("domain add duplicate, other case", refused(t,
	    table_domain_add(t, "EXAMPLE.org"), "already exists", before));
	CHECK("domain add empty", refused(t, table_domain_add(t, ""),
	    "empty domain", before));
	CHECK("domain add invalid", refused(t,
	    table_domain_add(t, "exa mple.org"), "invalid domain name",
	    before));
	CHECK("domain add leading hyphen", refused(t,
	    table_domain_add(t, "-x.org"), "invalid domain name", before));
	CHECK("domain add trailing dot", refused(t,
	    table_domain_add(t, "x.org."), "invalid domain name", before));
	CHECK("domain add literal", refused(t,
	    table_domain_add(t, "[127.0.0.1]"), "invalid domain name",
	    before));
	memset(long_domain, 'a', sizeof(long_domain) - 1);
	long_domain[sizeof(long_domain) - 1] = '\0';
	CHECK("domain add too long", refused(t,
	    table_domain_add(t, long_domain), "invalid domain name",
	    before));
	CHECK("domain add control characters quoted safely", refused(t,
	    table_domain_add(t, "a\x1b[31m.org"), "a?[31m.org", before));
	CHECK("domain del unknown", refused(t,
	    table_domain_del(t, "nope.org"), "domain nope.org does not exist",
	    before));
	CHECK("domain del", table_domain_del(t, "EXAMPLE.NET") == 0);
	free(before);
	before = snapshot(t);
	CHECK("domain del gone", strstr(before, "example.net") == NULL);
	free(before);
}

static void
test_users(struct table *t)
{
	struct table_user u;
	char		*before, *s;

	CHECK("user add", table_user_add(t, "alice@example.org",
	    "correct horse") == 0);
	CHECK("user add mixed case", table_user_add(t, "Bob@EXAMPLE.org",
	    "battery staple") == 0);
	before = snapshot(t);
	CHECK("user list", strstr(before,
	    "user alice@example.org 0 0\nuser bob@example.org 0 0\n") !=
	    NULL);
	CHECK("domain list counts users", strstr(before,
	    "domain example.org 2 0\n") != NULL);
	CHECK("user add duplicate", refused(t, table_user_add(t,
	    "alice@example.org", "whatever123"),
	    "user alice@example.org already exists", before));
	CHECK("user add duplicate, other case", refused(t, table_user_add(t,
	    "ALICE@Example.Org", "whatever123"), "already exists", before));
	CHECK("user add unknown domain", refused(t, table_user_add(t,
	    "carol@nope.org", "whatever123"), "domain nope.org does not exist",
	    before));
	CHECK("user add short password", refused(t, table_user_add(t,
	    "carol@example.org", "short"), "password too short", before));
	CHECK("user add invalid address", refused(t, table_user_add(t,
	    "carol", "whatever123"), "invalid user address", before));
	CHECK("user add double @", refused(t, table_user_add(t,
	    "a@b@example.org", "whatever123"), "invalid user address",
	    before));
	CHECK("user add quoted local part", refused(t, table_user_add(t,
	    "\"a b\"@example.org", "whatever123"), "quoted", before));
	CHECK("user add slash", refused(t, table_user_add(t,
	    "a/b@example.org", "whatever123"), "cannot name a mailbox",
	    before));
	CHECK("user add empty", refused(t, table_user_add(t, "",
	    "whatever123"), "empty user address", before));
	CHECK("user del unknown", refused(t, table_user_del(t,
	    "zed@example.org"), "user zed@example.org does not exist",
	    before));

	CHECK("user get", table_user_get(t, "alice@example.org", &u) == 0 &&
	    strncmp(u.hash, "$y$", 3) == 0 && u.quota == 0 && u.flags == 0);
	CHECK("verify right password",
	    table_user_verify(t, "alice@example.org", "correct horse") == 1);
	CHECK("verify other case address",
	    table_user_verify(t, "Alice@Example.ORG", "correct horse") == 1);
	CHECK("verify wrong password",
	    table_user_verify(t, "alice@example.org", "correct horsE") == 0);
	CHECK("verify unknown user",
	    table_user_verify(t, "zed@example.org", "correct horse") == 0);

	CHECK("user passwd", table_user_passwd(t, "ALICE@example.org",
	    "new password!") == 0);
	CHECK("verify new password",
	    table_user_verify(t, "alice@example.org", "new password!") == 1 &&
	    table_user_verify(t, "alice@example.org", "correct horse") == 0);
	free(before);
	before = snapshot(t);
	CHECK("user passwd short", refused(t, table_user_passwd(t,
	    "alice@example.org", "1234567"), "password too short", before));
	CHECK("user passwd unknown", refused(t, table_user_passwd(t,
	    "zed@example.org", "12345678"), "does not exist", before));
	CHECK("user quota unknown", refused(t, table_user_quota(t,
	    "zed@example.org", 1), "does not exist", before));
	CHECK("user disable unknown", refused(t, table_user_disable(t,
	    "zed@example.org", 1), "does not exist", before));

	CHECK("user quota", table_user_quota(t, "alice@example.org",
	    2ULL << 30) == 0);
	CHECK("user disable", table_user_disable(t, "bob@example.org", 1) ==
	    0);
	s = snapshot(t);
	CHECK("user list shows quota and flags", strstr(s,
	    "user alice@example.org 2147483648 0\n"
	    "user bob@example.org 0 1\n") != NULL);
	free(s);
	CHECK("disabled user cannot log in",
	    table_user_verify(t, "bob@example.org", "battery staple") == 0);
	CHECK("user enable", table_user_disable(t, "bob@example.org", 0) ==
	    0);
	CHECK("enabled user can log in",
	    table_user_verify(t, "bob@example.org", "battery staple") == 1);
	CHECK("user quota none", table_user_quota(t, "alice@example.org",
	    0) == 0);
	CHECK("verify survives quota change",
	    table_user_verify(t, "alice@example.org", "new password!") == 1);

	free(before);
	before = snapshot(t);
	CHECK("domain del refused with users", refused(t,
	    table_domain_del(t, "example.org"),
	    "domain example.org still has 2 users", before));
	free(before);
}

static void
count_user(void *arg, const struct table_user *u)
{
	(*(int *)arg)++;
}

static void
test_user_list_filter(struct table *t)
{
	char	*before;
	int	 n = 0;

	CHECK("user add other domain", table_user_add(t,
	    "dave@bücher.example", "password123") == 0);
	CHECK("user list domain", table_user_list(t, "example.org",
	    count_user, &n) == 0 && n == 2);
	n = 0;
	CHECK("user list utf-8 domain", table_user_list(t, "bücher.example",
	    count_user, &n) == 0 && n == 1);
	before = snapshot(t);
	CHECK("user list unknown domain", refused(t, table_user_list(t,
	    "nope.org", count_user, &n), "domain nope.org does not exist",
	    before));
	CHECK("user list invalid domain", refused(t, table_user_list(t,
	    "no pe", count_user, &n), "invalid domain", before));
	free(before);
}

static void
test_aliases(struct table *t)
{
	const char	*two[] = { "alice@example.org", "Bob@Example.org" };
	const char	*bad[] = { "alice@example.org", "not an address" };
	const char	*self[] = { "info@example.org" };
	const char	*remote[] = { "someone@elsewhere.test" };
	const char	*dup[] = { "alice@example.org", "ALICE@example.org" };
	const char	*many[TABLE_TARGETS_MAX + 1];
	char		*before, *s;
	size_t		 i;

	CHECK("alias add", table_alias_add(t, "info@example.org", two, 2) ==
	    0);
	before = snapshot(t);
	CHECK("alias list", strstr(before, "alias info@example.org "
	    "alice@example.org bob@example.org\n") != NULL);
	CHECK("domain list counts aliases", strstr(before,
	    "domain example.org 2 1\n") != NULL);
	CHECK("alias add duplicate", refused(t, table_alias_add(t,
	    "INFO@example.org", two, 2), "alias info@example.org already "
	    "exists", before));
	CHECK("alias add over a user", refused(t, table_alias_add(t,
	    "alice@example.org", remote, 1), "alice@example.org is a user",
	    before));
	CHECK("user add over an alias", refused(t, table_user_add(t,
	    "info@example.org", "password123"), "info@example.org is an "
	    "alias", before));
	CHECK("alias add invalid target", refused(t, table_alias_add(t,
	    "sales@example.org", bad, 2), "invalid target address: not an "
	    "address", before));
	CHECK("alias add unknown domain", refused(t, table_alias_add(t,
	    "sales@nope.org", two, 2), "domain nope.org does not exist",
	    before));
	CHECK("alias add to itself", refused(t, table_alias_add(t,
	    "info2@example.org", (const char *[]){ "INFO2@example.org" }, 1),
	    "cannot point to itself", before));
	CHECK("alias add no target", refused(t, table_alias_add(t,
	    "sales@example.org", two, 0), "no target", before));
	for (i = 0; i < TABLE_TARGETS_MAX + 1; i++)
		many[i] = "x@example.org";
	CHECK("alias add too many targets", refused(t, table_alias_add(t,
	    "sales@example.org", many, TABLE_TARGETS_MAX + 1),
	    "too many targets", before));
	CHECK("alias add invalid catch-all", refused(t, table_alias_add(t,
	    "@", two, 2), "empty domain", before));
	CHECK("alias add catch-all unknown domain", refused(t,
	    table_alias_add(t, "@nope.org", two, 2), "domain nope.org does "
	    "not exist", before));
	CHECK("alias del unknown", refused(t, table_alias_del(t,
	    "nope@example.org"), "alias nope@example.org does not exist",
	    before));
	CHECK("alias list unknown domain", refused(t, table_alias_list(t,
	    "nope.org", snap_alias, NULL), "does not exist", before));
	free(before);

	CHECK("alias add remote target", table_alias_add(t,
	    "fwd@example.org", remote, 1) == 0);
	CHECK("alias add duplicate targets collapse", table_alias_add(t,
	    "dup@example.org", dup, 2) == 0);
	CHECK("alias add catch-all", table_alias_add(t, "@Bücher.example",
	    self, 1) == 0);
	s = snapshot(t);
	CHECK("alias list after adds", strstr(s,
	    "alias @bücher.example info@example.org\n"
	    "alias dup@example.org alice@example.org\n"
	    "alias fwd@example.org someone@elsewhere.test\n"
	    "alias info@example.org alice@example.org bob@example.org\n") !=
	    NULL);
	free(s);
	CHECK("alias del", table_alias_del(t, "dup@EXAMPLE.org") == 0);
	CHECK("alias del catch-all", table_alias_del(t, "@bücher.example") ==
	    0);
	s = snapshot(t);
	CHECK("alias del gone", strstr(s, "dup@") == NULL &&
	    strstr(s, "@bücher.example info") == NULL);
	free(s);
	before = snapshot(t);
	CHECK("domain del refused with users and aliases", refused(t,
	    table_domain_del(t, "example.org"),
	    "domain example.org still has 2 users and 2 aliases", before));
	free(before);
}

static void
test_rcpt(struct table *t)
{
	const char	*v[2];
	char		 local[64], target[64], *before, *s;
	int		 i;

	CHECK("rcpt user", rcpt_is(t, "alice@example.org",
	    "example.org/alice"));
	CHECK("rcpt user, any case", rcpt_is(t, "ALICE@Example.ORG",
	    "example.org/alice"));
	CHECK("rcpt subaddress", rcpt_is(t, "alice+lists@example.org",
	    "example.org/alice"));
	CHECK("rcpt subaddress, two plus signs",
	    rcpt_is(t, "Alice+a+b@example.org", "example.org/alice"));
	CHECK("rcpt leading plus is no subaddress",
	    rcpt_is(t, "+alice@example.org", "NOUSER"));
	CHECK("rcpt unknown", rcpt_is(t, "zed@example.org", "NOUSER"));
	CHECK("rcpt unknown subaddress", rcpt_is(t, "zed+x@example.org",
	    "NOUSER"));
	CHECK("rcpt not local", rcpt_is(t, "alice@elsewhere.test",
	    "NOTLOCAL"));
	CHECK("rcpt garbage", rcpt_is(t, "not an address", "NOUSER"));
	CHECK("rcpt empty", rcpt_is(t, "", "NOUSER"));
	CHECK("rcpt alias, two targets", rcpt_is(t, "info@example.org",
	    "example.org/alice example.org/bob"));
	CHECK("rcpt alias subaddress", rcpt_is(t, "info+x@example.org",
	    "example.org/alice example.org/bob"));
	CHECK("rcpt alias to remote only is a temporary failure",
	    rcpt_is(t, "fwd@example.org", "TEMPFAIL"));

	/* a mix of remote and local, with duplicates through two paths */
	v[0] = "info@example.org";
	v[1] = "alice+x@example.org";
	CHECK("alias add chain", table_alias_add(t, "team@example.org", v,
	    2) == 0);
	CHECK("rcpt alias chain, duplicates removed",
	    rcpt_is(t, "team@example.org",
	    "example.org/alice example.org/bob"));

	/* a loop: a -> b -> a, b -> bob */
	v[0] = "loopb@example.org";
	CHECK("alias add loop a", table_alias_add(t, "loopa@example.org", v,
	    1) == 0);
	v[0] = "loopa@example.org";
	v[1] = "bob@example.org";
	CHECK("alias add loop b", table_alias_add(t, "loopb@example.org", v,
	    2) == 0);
	CHECK("rcpt loop cut", rcpt_is(t, "loopa@example.org",
	    "example.org/bob"));
	CHECK("rcpt loop cut, other entry", rcpt_is(t, "loopb@example.org",
	    "example.org/bob"));
	v[0] = "selfloop2@example.org";
	CHECK("alias add pure loop 1", table_alias_add(t,
	    "selfloop1@example.org", v, 1) == 0);
	v[0] = "selfloop1@example.org";
	CHECK("alias add pure loop 2", table_alias_add(t,
	    "selfloop2@example.org", v, 1) == 0);
	CHECK("rcpt pure loop is nobody", rcpt_is(t,
	    "selfloop1@example.org", "NOUSER"));

	/* chain0 -> chain1 -> ... -> chain9 -> alice */
	for (i = 0; i < 10; i++) {
		snprintf(local, sizeof(local), "chain%d@example.org", i);
		if (i == 9)
			strlcpy(target, "alice@example.org", sizeof(target));
		else
			snprintf(target, sizeof(target),
			    "chain%d@example.org", i + 1);
		v[0] = target;
		CHECK("alias add chain link", table_alias_add(t, local, v, 1) ==
		    0);
	}
	/* chainN reaches alice through 10 - N aliases */
	CHECK("rcpt 8 aliases deep", rcpt_is(t, "chain2@example.org",
	    "example.org/alice"));
	CHECK("rcpt 9 aliases deep is cut", rcpt_is(t, "chain1@example.org",
	    "NOUSER"));
	CHECK("rcpt 10 aliases deep is cut", rcpt_is(t,
	    "chain0@example.org", "NOUSER"));

	/* disabled users */
	CHECK("user disable bob", table_user_disable(t, "bob@example.org",
	    1) == 0);
	CHECK("rcpt disabled", rcpt_is(t, "bob@example.org", "DISABLED"));
	CHECK("rcpt disabled subaddress", rcpt_is(t, "bob+x@example.org",
	    "DISABLED"));
	CHECK("rcpt alias skips disabled target", rcpt_is(t,
	    "info@example.org", "example.org/alice"));
	CHECK("user enable bob", table_user_disable(t, "bob@example.org",
	    0) == 0);

	/* catch-all, after users, aliases and subaddresses */
	v[0] = "bob@example.org";
	CHECK("alias add catch-all", table_alias_add(t, "@example.org", v,
	    1) == 0);
	CHECK("rcpt catch-all", rcpt_is(t, "whoever@example.org",
	    "example.org/bob"));
	CHECK("rcpt catch-all does not shadow users",
	    rcpt_is(t, "alice@example.org", "example.org/alice"));
	CHECK("rcpt catch-all does not shadow subaddresses",
	    rcpt_is(t, "alice+x@example.org", "example.org/alice"));
	CHECK("rcpt catch-all other domain", rcpt_is(t,
	    "whoever@bücher.example", "NOUSER"));
	v[0] = "nobody@example.org";
	CHECK("alias add dangling", table_alias_add(t,
	    "dangling@example.org", v, 1) == 0);
	CHECK("rcpt dangling target falls to the catch-all",
	    rcpt_is(t, "dangling@example.org", "example.org/bob"));
	CHECK("alias del catch-all", table_alias_del(t, "@example.org") == 0);
	CHECK("rcpt dangling target", rcpt_is(t, "dangling@example.org",
	    "NOUSER"));

	/* postmaster without a domain: the first domain that has one */
	CHECK("rcpt postmaster, none", rcpt_is(t, "postmaster", "NOUSER"));
	v[0] = "dave@bücher.example";
	CHECK("alias add postmaster", table_alias_add(t,
	    "postmaster@bücher.example", v, 1) == 0);
	CHECK("rcpt postmaster", rcpt_is(t, "Postmaster",
	    "bücher.example/dave"));
	v[0] = "alice@example.org";
	CHECK("alias add postmaster 2", table_alias_add(t,
	    "postmaster@example.org", v, 1) == 0);
	CHECK("rcpt postmaster, first domain", rcpt_is(t, "POSTMASTER",
	    "bücher.example/dave"));
	CHECK("rcpt postmaster with a domain", rcpt_is(t,
	    "postmaster@example.org", "example.org/alice"));

	before = snapshot(t);
	for (i = 0; i < 50; i++)
		rcpt(t, "team@example.org");
	s = snapshot(t);
	CHECK("lookups change nothing", strcmp(before, s) == 0);
	free(before);
	free(s);
}

static void
test_hashes(void)
{
	/* generated with Python's crypt module (libxcrypt) */
	static const char y[] = "$y$j9T$YEf/83Ur.EGZziIInex1q/"
	    "$Lj.gHZE8bpdC8VV95e/KhScxTeUXm15HvAll6.7hkE6";
	static const char y_utf8[] = "$y$j9T$YEf/83Ur.EGZziIInex1q/"
	    "$aeL1Bg5i0tPYX7vgghb2TyMPyFEMpXy8HkjNrlkNcD4";
	static const char b[] = "$2b$05$lgUP4SjVtzCf8Z8JMydecOmZrg4NpRWLy8jQ7"
	    "hDDQNXzt4LcPAVWS";
	static const char s6[] = "$6$saltsaltsalt$Cy2drr8kDRji6smvDcT28wkqtq0R"
	    "0VzVL5CkrjPQCITc5d/31j94knt9rGTcVSyjLXfjsiIsBh5ee8qR/3QDx1";
	static const char s6r[] = "$6$rounds=5000$saltsaltsalt$Cy2drr8kDRji6sm"
	    "vDcT28wkqtq0R0VzVL5CkrjPQCITc5d/31j94knt9rGTcVSyjLXfjsiIsBh5ee8q"
	    "R/3QDx1";
	char	 hash[TABLE_HASH_MAX], b2y[sizeof(b)], bad[sizeof(y)];
	char	 longpw[PASSWD_MAX + 2];

	CHECK("verify $y$", passwd_verify("correct horse", y) == 1);
	CHECK("verify $y$ utf-8", passwd_verify("Pässwörd mit Umlaut",
	    y_utf8) == 1);
	CHECK("verify $y$ wrong", passwd_verify("correct horsf", y) == 0);
	CHECK("verify $y$ empty", passwd_verify("", y) == 0);
	CHECK("verify $2b$", passwd_verify("correct horse", b) == 1);
	CHECK("verify $2b$ wrong", passwd_verify("Correct horse", b) == 0);
	strlcpy(b2y, b, sizeof(b2y));
	b2y[2] = 'y';
	CHECK("verify $2y$", passwd_verify("correct horse", b2y) == 1);
	CHECK("verify $6$", passwd_verify("correct horse", s6) == 1);
	CHECK("verify $6$ rounds", passwd_verify("correct horse", s6r) == 1);
	CHECK("verify $6$ wrong", passwd_verify("correct horse ", s6) == 0);
	strlcpy(bad, y, sizeof(bad));
	bad[sizeof(bad) - 2] = bad[sizeof(bad) - 2] == 'A' ? 'B' : 'A';
	CHECK("verify altered hash", passwd_verify("correct horse", bad) ==
	    0);
	CHECK("verify truncated hash", passwd_verify("correct horse",
	    "$y$j9T$YEf/83Ur.EGZziIInex1q/$Lj.gHZE8bpdC8VV95e") == 0);
	CHECK("verify $1$ refused", passwd_verify("correct horse",
	    "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/") == 0);
	CHECK("verify DES refused", passwd_verify("correct horse",
	    "abJnggxhB/yWI") == 0);
	CHECK("verify empty hash", passwd_verify("", "") == 0);
	CHECK("verify star hash", passwd_verify("x", "*") == 0 &&
	    passwd_verify("x", "*0") == 0 && passwd_verify("x", "!") == 0);
	CHECK("verify garbage setting", passwd_verify("x", "$y$$$$$$") == 0 &&
	    passwd_verify("x", "$2b$99$xx") == 0 &&
	    passwd_verify("x", "$6$") == 0);
	CHECK("hash is yescrypt", passwd_hash("some password", hash,
	    sizeof(hash)) == 0 && strncmp(hash, "$y$", 3) == 0);
	CHECK("hash verifies", passwd_verify("some password", hash) == 1 &&
	    passwd_verify("some passwore", hash) == 0);
	CHECK("hash small buffer", passwd_hash("some password", hash, 10) ==
	    -1);
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	CHECK("hash too long", passwd_hash(longpw, hash, sizeof(hash)) == -1);
	CHECK("verify too long", passwd_verify(longpw, y) == 0);
}

static void
test_hostile(struct table *t)
{
	char	*before, *s, big[20000], addr[600];
	const char *v[1];
	size_t	 i, j, n;
	unsigned int seed = 42;

	before = snapshot(t);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK("very long domain", refused(t, table_domain_add(t, big),
	    "invalid domain name", before));
	CHECK("very long message is cut", strlen(table_error(t)) < 200);
	big[10000] = '@';
	memcpy(big + 10001, "example.org", 12);
	CHECK("very long local part", refused(t, table_user_add(t, big,
	    "password123"), "invalid user address", before));
	CHECK("very long local part alias", refused(t, table_alias_del(t,
	    big), "invalid alias address", before));
	v[0] = big;
	CHECK("very long target", refused(t, table_alias_add(t,
	    "x@example.org", v, 1), "invalid target address", before));
	CHECK("very long rcpt", rcpt_is(t, big, "NOUSER"));
	/* a local part of exactly 64 octets is fine, 65 is not */
	memset(addr, 'b', 64);
	strlcpy(addr + 64, "@example.org", sizeof(addr) - 64);
	CHECK("64-octet local part", table_user_add(t, addr, "password123") ==
	    0 && table_user_del(t, addr) == 0);
	memset(addr, 'b', 65);
	strlcpy(addr + 65, "@example.org", sizeof(addr) - 65);
	CHECK("65-octet local part", refused(t, table_user_add(t, addr,
	    "password123"), "invalid user address", before));
	CHECK("invalid utf-8", refused(t, table_user_add(t,
	    "\xc0\xaf@example.org", "password123"), "invalid user address",
	    before));

	/* NUL-free garbage through every entry point */
	for (i = 0; i < 2000; i++) {
		n = rand_r(&seed) % 80;
		for (j = 0; j < n; j++) {
			/* mostly address-like octets, some of anything */
			if (rand_r(&seed) % 4 == 0)
				addr[j] = (char)(1 + rand_r(&seed) % 255);
			else
				addr[j] = "aZ09.@+-_\"\\ [](),;:<>!#/"[
				    rand_r(&seed) % 25];
		}
		addr[n] = '\0';
		rcpt(t, addr);
		table_domain_del(t, addr);
		table_user_del(t, addr);
		table_alias_del(t, addr);
		table_user_quota(t, addr, 5);
		table_user_list(t, addr, count_user, &(int){ 0 });
		if (i % 200 == 0) {
			/* these hash: only a few */
			table_user_passwd(t, addr, "password123");
		}
	}
	s = snapshot(t);
	CHECK("garbage changes nothing", strcmp(before, s) == 0);
	free(s);
	free(before);
}

static void
test_persistence(struct table **tp)
{
	char	*before, *after;

	before = snapshot(*tp);
	*tp = reopen(*tp);
	after = snapshot(*tp);
	CHECK("reopen keeps everything", strcmp(before, after) == 0);
	CHECK("reopen keeps passwords", table_user_verify(*tp,
	    "alice@example.org", "new password!") == 1);
	free(before);
	free(after);
}

/* the queue's check before a retry: mailbox names, as RCPT made them */
static void
test_mailbox(struct table *t)
{
	char	 name[600];

	CHECK("mailbox of a user", table_mailbox_status(t,
	    "example.org/alice") == AUTH_MAILBOX_EXISTS);
	CHECK("mailbox, other case", table_mailbox_status(t,
	    "Example.ORG/Alice") == AUTH_MAILBOX_EXISTS);
	CHECK("mailbox of a utf-8 domain", table_mailbox_status(t,
	    "bücher.example/dave") == AUTH_MAILBOX_EXISTS);
	CHECK("user disable bob", table_user_disable(t, "bob@example.org",
	    1) == 0);
	CHECK("mailbox of a disabled user", table_mailbox_status(t,
	    "example.org/bob") == AUTH_MAILBOX_EXISTS);
	CHECK("user enable bob", table_user_disable(t, "bob@example.org",
	    0) == 0);
	CHECK("mailbox of an alias is none", table_mailbox_status(t,
	    "example.org/info") == AUTH_MAILBOX_GONE);
	CHECK("mailbox of nobody", table_mailbox_status(t,
	    "example.org/zed") == AUTH_MAILBOX_GONE);
	CHECK("mailbox of another domain", table_mailbox_status(t,
	    "elsewhere.test/alice") == AUTH_MAILBOX_GONE);
	CHECK("mailbox without a slash", table_mailbox_status(t,
	    "example.org") == AUTH_MAILBOX_GONE);
	CHECK("mailbox empty", table_mailbox_status(t, "") ==
	    AUTH_MAILBOX_GONE);
	CHECK("mailbox empty user", table_mailbox_status(t,
	    "example.org/") == AUTH_MAILBOX_GONE);
	CHECK("mailbox two slashes", table_mailbox_status(t,
	    "example.org/a/alice") == AUTH_MAILBOX_GONE);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	name[11] = '/';
	CHECK("mailbox too long", table_mailbox_status(t, name) ==
	    AUTH_MAILBOX_GONE);
}

static void
test_cleanup(struct table *t)
{
	char	*s;

	CHECK("user del", table_user_del(t, "ALICE@example.org") == 0);
	CHECK("rcpt deleted user", rcpt_is(t, "alice@example.org",
	    "NOUSER"));
	CHECK("mailbox of a deleted user", table_mailbox_status(t,
	    "example.org/alice") == AUTH_MAILBOX_GONE);
	CHECK("mailbox of another user stays", table_mailbox_status(t,
	    "example.org/bob") == AUTH_MAILBOX_EXISTS);
	CHECK("user add again", table_user_add(t, "alice@example.org",
	    "another password") == 0);
	CHECK("mailbox of a user added again", table_mailbox_status(t,
	    "example.org/alice") == AUTH_MAILBOX_EXISTS);
	CHECK("user del again", table_user_del(t, "alice@example.org") == 0);
	s = snapshot(t);
	CHECK("user del gone", strstr(s, "user alice@") == NULL);
	free(s);
}

int
main(void)
{
	struct table	*t;
	char		 err[TABLE_ERR_MAX];
	struct stat	 st;

	log_init(1, LOG_LEVEL_INFO, "test_table");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(rm_tmpdir);
	t = table_open(tmpdir, err, sizeof(err));
	CHECK("open", t != NULL);
	if (t == NULL) {
		printf("# %s\n", err);
		TEST_EXIT();
	}
	CHECK("open creates files", stat(tmpdir, &st) == 0);
	CHECK("open a missing home fails", table_open("/nonexistent/x", err,
	    sizeof(err)) == NULL && err[0] != '\0');
	test_hashes();
	test_domains(t);
	test_users(t);
	test_user_list_filter(t);
	test_aliases(t);
	test_rcpt(t);
	test_mailbox(t);
	test_hostile(t);
	test_persistence(&t);
	test_cleanup(t);
	table_close(t);
	TEST_EXIT();
}
