/*
 * What the mail store's tests share: a storage root in a temporary
 * directory, Maildirs in it, deliveries as mda makes them.
 */

#ifndef BOXD_STORE_TEST_H
#define BOXD_STORE_TEST_H

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd.h"

static char store_root[PATH_MAX];
static int store_rootfd = -1;

static void
store_rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* a fresh storage root; returns its fd */
static int
store_setup(void)
{
	if (store_rootfd != -1) {
		close(store_rootfd);
		store_rm_rf(store_root);
	}
	snprintf(store_root, sizeof(store_root), "/tmp/boxd-store.XXXXXX");
	if (mkdtemp(store_root) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	if ((store_rootfd = open(store_root, O_RDONLY | O_DIRECTORY)) == -1) {
		perror(store_root);
		exit(1);
	}
	return store_rootfd;
}

static void
store_teardown(void)
{
	if (store_rootfd != -1) {
		close(store_rootfd);
		store_rm_rf(store_root);
		store_rootfd = -1;
	}
}

/* the path of something under the root */
static const char *
store_path(const char *, ...) __attribute__((format(printf, 1, 2)));

static const char *
store_path(const char *fmt, ...)
{
	static char path[PATH_MAX * 2];
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", store_root, rel);
	return path;
}

/* a Maildir (or folder directory) with cur/ new/ tmp/ */
static void
store_maildir(const char *dir)
{
	static const char *const sub[] = {"", "/cur", "/new", "/tmp"};
	char path[PATH_MAX * 2];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(
		    path, sizeof(path), "%s/%s%s", store_root, dir, sub[i]);
		if (mkdir_p(path, 0700) == -1) {
			perror(path);
			exit(1);
		}
	}
}

/* a file with that text at DIR/SUB/NAME */
static void
store_file(const char *dir, const char *sub, const char *name, const char *text)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s/%s", store_root, dir, sub, name);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* a delivery as mda makes it: its name in buf */
static void
store_deliver(const char *mailbox, uint64_t id, char *buf, size_t len)
{
	char text[256];
	int n;

	n = snprintf(text, sizeof(text),
	    "Return-Path: <a@example.test>\nSubject: test %llu\r\n\r\nbody\r\n",
	    (unsigned long long)id);
	if (maildir_unique_name(buf, len, (1700000000ULL << 32) | id, 0,
		"mx.example.test", (uint64_t)n) == -1)
		exit(1);
	store_file(mailbox, "new", buf, text);
}

static int
store_exists(const char *dir, const char *sub, const char *name)
{
	char path[PATH_MAX * 2];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s/%s/%s", store_root, dir, sub, name);
	return stat(path, &sb) == 0;
}

/* a whole file into a malloc'd buffer */
static char *
store_read(const char *path, size_t *len)
{
	struct stat sb;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1 || (buf = malloc(sb.st_size + 1)) == NULL ||
	    read(fd, buf, sb.st_size) != sb.st_size) {
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

static int
store_write(const char *path, const void *buf, size_t len)
{
	int fd, rc;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	rc = write(fd, buf, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

#endif
