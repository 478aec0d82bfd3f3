/*
 * Sender ownership (table_sender_owned()): the user's own address, its
 * aliases, +tags and a catch-all that reach it, shared aliases, and what
 * a user may not send as.
 */

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "test.h"

static char tmpdir[] = "/tmp/boxd-test-sender.XXXXXX";

const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}

static void
rm_tmpdir(void)
{
	DIR *d;
	struct dirent *de;
	char path[PATH_MAX];

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

static int
owned(struct table *t, const char *user, const char *addr)
{
	return table_sender_owned(t, user, addr) == AUTH_SENDER_OWNED;
}

static void
alias(struct table *t, const char *addr, const char *target)
{
	const char *v[2];
	size_t n = 1;
	char buf[512], *comma;

	strlcpy(buf, target, sizeof(buf));
	v[0] = buf;
	if ((comma = strchr(buf, ',')) != NULL) {
		*comma = '\0';
		v[1] = comma + 1;
		n = 2;
	}
	if (table_alias_add(t, addr, v, n) == -1)
		printf("# alias %s: %s\n", addr, table_error(t));
}

int
main(void)
{
	struct table *t;
	char err[TABLE_ERR_MAX];
	char big[4096];

	log_init(1, LOG_LEVEL_INFO, "test_sender");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(rm_tmpdir);
	if ((t = table_open(tmpdir, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		CHECK("open", 0);
		TEST_EXIT();
	}
	CHECK("setup",
	    table_domain_add(t, "example.org") == 0 &&
		table_domain_add(t, "other.org") == 0 &&
		table_user_add(t, "alice@example.org", "password one") == 0 &&
		table_user_add(t, "bob@example.org", "password two") == 0 &&
		table_user_add(t, "carol@other.org", "password three") == 0);
	alias(t, "sales@example.org", "alice@example.org");
	alias(t, "team@example.org", "alice@example.org,bob@example.org");
	alias(t, "chain@example.org", "sales@example.org");
	alias(t, "@other.org", "carol@other.org");
	alias(t, "fwd@example.org", "someone@elsewhere.example");

	CHECK(
	    "own address", owned(t, "alice@example.org", "alice@example.org"));
	CHECK("own address, any case",
	    owned(t, "alice@example.org", "ALICE@Example.ORG"));
	CHECK("a +tag", owned(t, "alice@example.org", "alice+x@example.org"));
	CHECK("an alias", owned(t, "alice@example.org", "sales@example.org"));
	CHECK("an alias of an alias",
	    owned(t, "alice@example.org", "chain@example.org"));
	CHECK("a shared alias, one",
	    owned(t, "alice@example.org", "team@example.org"));
	CHECK("a shared alias, the other",
	    owned(t, "bob@example.org", "team@example.org"));
	CHECK("a catch-all", owned(t, "carol@other.org", "anything@other.org"));
	CHECK("another user's address",
	    !owned(t, "alice@example.org", "bob@example.org"));
	CHECK("another user's +tag",
	    !owned(t, "alice@example.org", "bob+x@example.org"));
	CHECK("another user's alias",
	    !owned(t, "bob@example.org", "sales@example.org"));
	CHECK("nobody's address",
	    !owned(t, "alice@example.org", "nobody@example.org"));
	CHECK("a remote address",
	    !owned(t, "alice@example.org", "alice@elsewhere.example"));
	CHECK("an alias that forwards away",
	    table_sender_owned(t, "alice@example.org", "fwd@example.org") !=
		AUTH_SENDER_OWNED);
	CHECK("a catch-all is not a user's own address",
	    !owned(t, "alice@example.org", "anything@other.org"));
	CHECK("the catch-all's user may not take a user's address",
	    table_user_add(t, "dave@other.org", "password four") == 0 &&
		!owned(t, "carol@other.org", "dave@other.org"));
	CHECK("no domain", !owned(t, "alice@example.org", "alice"));
	CHECK("empty", !owned(t, "alice@example.org", ""));
	CHECK("bare postmaster", !owned(t, "alice@example.org", "postmaster"));
	CHECK("no user", !owned(t, "", "alice@example.org"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK("a long address", !owned(t, "alice@example.org", big));
	CHECK("a long user", !owned(t, big, "alice@example.org"));
	CHECK("control characters",
	    !owned(t, "alice@example.org", "alice\r\n@example.org"));
	CHECK("a disabled user sends as nobody",
	    table_user_disable(t, "bob@example.org", 1) == 0 &&
		!owned(t, "bob@example.org", "bob@example.org") &&
		!owned(t, "bob@example.org", "team@example.org") &&
		owned(t, "alice@example.org", "team@example.org"));
	CHECK("enabled again",
	    table_user_disable(t, "bob@example.org", 0) == 0 &&
		owned(t, "bob@example.org", "bob@example.org"));
	CHECK("a deleted user sends as nobody",
	    table_user_del(t, "dave@other.org") == 0 &&
		!owned(t, "dave@other.org", "dave@other.org"));
	table_close(t);
	TEST_EXIT();
}
