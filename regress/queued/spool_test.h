/*
 * What the spool's unit tests share: the spool under test, and
 * spool_recover() with what it reported, and emptying the spool between
 * tests.  Included by one test program each.
 */

#ifndef REGRESS_QUEUED_SPOOL_TEST_H
#define REGRESS_QUEUED_SPOOL_TEST_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "queued.h"

static struct spool sp;
static char top[PATH_MAX];

/* what spool_recover() reported */
static uint64_t found[4096];
static size_t nfound;

static void
recovered(uint64_t msgid, void *arg)
{
	if (nfound < sizeof(found) / sizeof(found[0]))
		found[nfound++] = msgid;
}

static int
was_found(uint64_t msgid)
{
	size_t i;

	for (i = 0; i < nfound; i++)
		if (found[i] == msgid)
			return 1;
	return 0;
}

static void
recover(void)
{
	nfound = 0;
	spool_recover(&sp, recovered, NULL);
}

/* empty spool/, corrupt/ and failed/ between tests */
static void
clean_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static void
clean(void)
{
	clean_dir(SPOOL_QUEUE);
	clean_dir(SPOOL_CORRUPT);
	clean_dir(SPOOL_FAILED);
}

/* the test's directory, when it is done */
static void
rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
