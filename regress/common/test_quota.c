/*
 * common/quota.c: Maildir++ "maildirsize", counted, appended to, built
 * again when stale or broken, the limit checked; hostile files.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "test.h"

static char root[PATH_MAX];

static void
rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static int
maildir_new(void)
{
	static const char *const dirs[] = {"cur", "new", "tmp", ".Sent",
	    ".Sent/cur", ".Sent/new", ".Sent/tmp"};
	char path[PATH_MAX + 16];
	size_t i;

	rm_rf(root);
	if (mkdir(root, 0700) == -1)
		return -1;
	for (i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		mkdir(path, 0700);
	}
	return open(root, O_RDONLY | O_DIRECTORY);
}

static void
put_file(int dirfd, const char *path, const char *text)
{
	int fd;

	fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fprintf(stderr, "cannot write %s\n", path);
	if (fd != -1)
		close(fd);
}

static char *
get_file(int dirfd, const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = openat(dirfd, path, O_RDONLY)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

static void
test_count(void)
{
	struct quota_usage u;
	int fd = maildir_new();

	put_file(fd, "cur/1.a,S=1000:2,S", "x");
	put_file(fd, "new/2.b", "12345");
	put_file(fd, ".Sent/cur/3.c,S=200,W=210:2,", "y");
	put_file(fd, "tmp/4.d,S=99999", "z");
	CHECK("count with no file",
	    quota_get(fd, &u) == 0 && u.bytes == 1205 && u.messages == 3 &&
		u.limit_bytes == 0);
	CHECK("file written",
	    strcmp(get_file(fd, "maildirsize"), "0S,0C\n1205 3\n") == 0);
	CHECK("no limit, never over", quota_check(fd, 1 << 30, 1000) == 0);
	CHECK("limit set",
	    quota_set_limit(fd, 2000, 0) == 0 &&
		strcmp(get_file(fd, "maildirsize"), "2000S,0C\n1205 3\n") == 0);
	CHECK("same limit, file untouched",
	    quota_set_limit(fd, 2000, 0) == 0 &&
		strcmp(get_file(fd, "maildirsize"), "2000S,0C\n1205 3\n") == 0);
	CHECK("fits", quota_check(fd, 795, 1) == 0);
	CHECK("over by one", quota_check(fd, 796, 1) == 1);
	CHECK("huge add over", quota_check(fd, UINT64_MAX, 1) == 1);
	CHECK(
	    "add", quota_add(fd, 500, 1) == 0 && quota_add(fd, -200, -1) == 0);
	CHECK("appended lines",
	    strcmp(get_file(fd, "maildirsize"),
		"2000S,0C\n1205 3\n500 1\n-200 -1\n") == 0);
	CHECK("sum of the lines",
	    quota_get(fd, &u) == 0 && u.bytes == 1505 && u.messages == 3);
	CHECK("message limit",
	    quota_set_limit(fd, 0, 3) == 0 && quota_check(fd, 1, 1) == 1 &&
		quota_check(fd, 1, 0) == 0);
	CHECK("recalc",
	    quota_recalc(fd, &u) == 0 && u.bytes == 1205 && u.messages == 3 &&
		u.limit_messages == 3);
	close(fd);
}

static void
test_stale(void)
{
	struct quota_usage u;
	struct timespec old[2];
	char big[8000];
	size_t i;
	int fd = maildir_new();

	put_file(fd, "cur/1.a,S=100:2,", "x");
	put_file(fd, "maildirsize", "1000S\n5000 7\n");
	CHECK("over, but fresh: believed",
	    quota_get(fd, &u) == 0 && u.bytes == 5000 && u.messages == 7 &&
		u.limit_bytes == 1000);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 16 * 60;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	utimensat(fd, "maildirsize", old, 0);
	CHECK("over and old: counted again",
	    quota_get(fd, &u) == 0 && u.bytes == 100 && u.messages == 1 &&
		u.limit_bytes == 1000);
	/* past 5120 octets the file is built again */
	strlcpy(big, "0S\n", sizeof(big));
	for (i = 0; i < 1500; i++)
		strlcat(big, "1 1\n", sizeof(big));
	put_file(fd, "maildirsize", big);
	CHECK("large file: counted again",
	    quota_get(fd, &u) == 0 && u.bytes == 100 && u.messages == 1 &&
		strcmp(get_file(fd, "maildirsize"), "0S,0C\n100 1\n") == 0);
	close(fd);
}

static void
test_hostile(void)
{
	static const char *const bad[] = {
	    "garbage\n1 1\n",
	    "100X\n",
	    "100S,,\n5 5\n",
	    "S\n",
	    "100S\n5 five\n",
	    "100S\n99999999999999999999999 1\n",
	    "100S\n9223372036854775807 1\n9223372036854775807 1\n",
	    "100S\n-500 -1\n",
	    "100S\n5 5x\n",
	    "100S",
	    "",
	};
	struct quota_usage u;
	size_t i;
	int fd = maildir_new(), ok = 1;

	put_file(fd, "cur/1.a,S=100:2,", "x");
	put_file(fd, "new/2.a,S=99999999999999999999999", "abc");
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		put_file(fd, "maildirsize", bad[i]);
		if (quota_get(fd, &u) != 0 || u.bytes != 103 ||
		    u.messages != 2) {
			printf("# hostile maildirsize %zu: %llu %llu\n", i,
			    (unsigned long long)u.bytes,
			    (unsigned long long)u.messages);
			ok = 0;
		}
	}
	CHECK("hostile files: counted again", ok);
	put_file(fd, "maildirsize", "100S,5C\n  10   1\n");
	CHECK("padded lines, as Courier writes them",
	    quota_get(fd, &u) == 0 && u.bytes == 10 && u.messages == 1 &&
		u.limit_bytes == 100 && u.limit_messages == 5);
	unlinkat(fd, "maildirsize", 0);
	symlinkat("/etc/passwd", fd, "maildirsize");
	CHECK("no add through a link", quota_add(fd, 1, 1) == -1);
	CHECK("a link is replaced, not followed",
	    quota_get(fd, &u) == 0 && u.bytes == 103 && u.messages == 2 &&
		strcmp(get_file(fd, "maildirsize"), "0S,0C\n103 2\n") == 0);
	close(fd);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/boxd-test-quota.%d",
	    tmp != NULL ? tmp : "/tmp", (int)getpid());
	log_init(1, LOG_LEVEL_INFO, "test_quota");
	test_count();
	test_stale();
	test_hostile();
	rm_rf(root);
	TEST_EXIT();
}
