/*
 * The files imapd/folder.c and imapd/quota.c read from a Maildir, on
 * arbitrary octets: input "SUBSCRIPTIONS\0SPECIAL-USE\0MAILDIRSIZE" is
 * written into a scratch Maildir, then listed, subscribed to and counted.
 * Nothing may crash or leak; every name a listing gives is one a client
 * could have made; the usage read is the usage counted or the file's sum.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int maildir = -1;
static char root[64];

static void
cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

static void
put(const char *file, const char *data, size_t len)
{
	int fd;

	if ((fd = openat(maildir, file, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
	    -1)
		abort();
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static int
check_one(const char *name, unsigned int attrs, void *arg)
{
	const char *why;

	if (name[0] != '\0' && folder_name_check(name, &why) != FOLDER_OK)
		abort();
	(*(int *)arg)++;
	return 0;
}

static void
setup(void)
{
	static const char *const dirs[] = {"cur", "new", "tmp", ".Sent",
	    ".Sent/cur", ".Sent/new", ".A.B", ".A.B/cur", ".Entw&APw-rfe"};
	struct stat st;
	size_t i;

	/* on tmpfs where there is one: fsync there costs nothing */
	snprintf(root, sizeof(root), "%s/boxd-fuzz-folder.XXXXXX",
	    stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
							      : "/tmp");
	if (mkdtemp(root) == NULL ||
	    (maildir = open(root, O_RDONLY | O_DIRECTORY)) == -1)
		abort();
	atexit(cleanup);
	for (i = 0; i < sizeof(dirs) / sizeof(*dirs); i++)
		if (mkdirat(maildir, dirs[i], 0700) == -1)
			abort();
	put("cur/1.a,S=10:2,S", "x", 1);
	put(".Sent/cur/2.b", "hello", 5);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[3] = {"", "", ""}, *pats[2] = {"*", "%"}, *why;
	size_t len[3] = {0, 0, 0}, i, off = 0;
	struct quota_usage u;
	const uint8_t *nul;
	int n = 0;

	if (maildir == -1)
		setup();
	if (size > 16384)
		return 0;
	for (i = 0; i < 3 && off <= size; i++) {
		nul = memchr(data + off, '\0', size - off);
		part[i] = (const char *)data + off;
		len[i] =
		    nul != NULL ? (size_t)(nul - (data + off)) : size - off;
		off += len[i] + 1;
	}
	put("subscriptions", part[0], len[0]);
	put("boxd-special-use", part[1], len[1]);
	put("maildirsize", part[2], len[2]);
	if (folder_list(
		maildir, "", pats, 2, FOLDER_LSUB, check_one, &n, &why) != 0 ||
	    folder_list(maildir, "", pats, 1,
		FOLDER_SEL_SUBSCRIBED | FOLDER_SEL_RECURSIVEMATCH |
		    FOLDER_RET_SPECIALUSE,
		check_one, &n, &why) != 0 ||
	    folder_list(maildir, "", pats, 1, FOLDER_SEL_SPECIALUSE, check_one,
		&n, &why) != 0)
		abort();
	/* written back in a form read back the same */
	if (folder_subscribe(maildir, "A.B", 1, &why) != FOLDER_OK ||
	    folder_subscribe(maildir, "A.B", 0, &why) != FOLDER_OK)
		abort();
	if (quota_get(maildir, &u) != 0)
		abort();
	/* a rebuilt file counts what is there: 15 octets in 2 messages */
	if (quota_recalc(maildir, &u) != 0 || u.bytes != 15 || u.messages != 2)
		abort();
	return 0;
}
