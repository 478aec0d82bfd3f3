/*
 * The unit-test frame: each check prints "ok NAME" or "FAIL NAME: where";
 * regress/run.py counts those lines.  A test program exits 1 if any
 * check failed.
 */

#ifndef BOXD_TEST_H
#define BOXD_TEST_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures;

/* built with AddressSanitizer (make SANITIZE=1): some checks cannot run */
#ifdef BOXD_SANITIZE
#define TEST_SANITIZED 1
#else
#define TEST_SANITIZED 0
#endif

#define CHECK(name, cond)                                                \
	do {                                                             \
		if (cond)                                                \
			printf("ok %s\n", (name));                       \
		else {                                                   \
			printf("FAIL %s: %s:%d: %s\n", (name), __FILE__, \
			    __LINE__, #cond);                            \
			test_failures++;                                 \
		}                                                        \
	} while (0)

/* how many fds this process has open, for leak checks; -1 if unknown */
static inline int
test_open_fds(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* opendir's own */
}

#define TEST_EXIT() return test_failures ? 1 : 0

#endif
