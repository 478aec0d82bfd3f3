/*
 * Quota usage as the Maildir++ quota spec keeps it, so that Dovecot,
 * Courier and maildrop read the same numbers: the file "maildirsize" in
 * the Maildir holds the limit on its first line ("10485760S,1000C", 0
 * for none) and then one "bytes messages" line per change, each appended
 * by whoever made the change.  The sum is the usage.  The file is built
 * again from the messages themselves when it is missing, unreadable,
 * past 5120 octets, or says the user is over the limit and is older
 * than 15 minutes (other writers, people with mv, may have freed room).
 *
 * No IMAP state here: mda calls the same functions at delivery.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define QUOTA_FILE     "maildirsize"
#define QUOTA_FILE_MAX 5120
#define QUOTA_STALE    (15 * 60)
/* what is read of the file: past QUOTA_FILE_MAX only the limit matters */
#define QUOTA_READ_MAX (QUOTA_FILE_MAX + 512)

/* an unsigned decimal, at least one digit; its end in *end, -1 if over */
static int
quota_number(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (p == s || p - s > 20)
		return -1;
	*v = n;
	*end = p;
	return 0;
}

/* the limit line, "NS", "NC", "NS,NC" or empty; -1 if it is none of them */
static int
quota_parse_limit(const char *line, uint64_t *bytes, uint64_t *messages)
{
	const char *p = line;
	uint64_t n;

	*bytes = *messages = 0;
	while (*p != '\0') {
		if (quota_number(p, &n, &p) == -1)
			return -1;
		if (*p == 'S')
			*bytes = n;
		else if (*p == 'C')
			*messages = n;
		else
			return -1;
		p++;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			return -1;
	}
	return 0;
}

/* one signed number after blanks */
static int
quota_signed(const char **pp, int64_t *v)
{
	const char *p = *pp;
	uint64_t n;
	int neg = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (quota_number(p, &n, &p) == -1 || n > INT64_MAX)
		return -1;
	*v = neg ? -(int64_t)n : (int64_t)n;
	*pp = p;
	return 0;
}

/*
 * The file as it is: 1 and the usage if it can be trusted, 0 if it has
 * to be built again (the limit in *u still read when it could be), -1
 * on an error reading it.
 */
static int
quota_read(int dirfd, struct quota_usage *u)
{
	char buf[QUOTA_READ_MAX + 1], *line, *next;
	int64_t bytes = 0, messages = 0, b, m;
	struct stat st;
	size_t off = 0;
	ssize_t n;
	int fd, first = 1, over;

	memset(u, 0, sizeof(*u));
	/* O_NONBLOCK: a FIFO in its place must not block the reader */
	if ((fd = openat(dirfd, QUOTA_FILE,
		 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		/* a link in its place is replaced by the new file */
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	while (off < QUOTA_READ_MAX) {
		n = read(fd, buf + off, QUOTA_READ_MAX - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	for (line = buf; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else if (off == QUOTA_READ_MAX && !first)
			break; /* cut short by the read */
		if (first) {
			if (next == NULL ||
			    quota_parse_limit(line, &u->limit_bytes,
				&u->limit_messages) == -1)
				return 0;
			first = 0;
			continue;
		}
		if (*line == '\0')
			continue;
		if (quota_signed((const char **)&line, &b) == -1 ||
		    quota_signed((const char **)&line, &m) == -1 ||
		    (*line != '\0' && *line != ' ' && *line != '\t'))
			return 0;
		if ((b > 0 && bytes > INT64_MAX - b) ||
		    (b < 0 && bytes < INT64_MIN - b) ||
		    (m > 0 && messages > INT64_MAX - m) ||
		    (m < 0 && messages < INT64_MIN - m))
			return 0;
		bytes += b;
		messages += m;
	}
	if (st.st_size > QUOTA_FILE_MAX || bytes < 0 || messages < 0)
		return 0;
	u->bytes = (uint64_t)bytes;
	u->messages = (uint64_t)messages;
	over = (u->limit_bytes != 0 && u->bytes > u->limit_bytes) ||
	    (u->limit_messages != 0 && u->messages > u->limit_messages);
	if (over && st.st_mtime + QUOTA_STALE < time(NULL))
		return 0;
	return 1;
}

/* the size a message name states (",S=1234"), else its file's */
static uint64_t
quota_message_size(int dirfd, const char *name)
{
	const char *p, *end;
	struct stat st;
	uint64_t v;

	for (p = name; (p = strstr(p, ",S=")) != NULL; p += 3) {
		if (quota_number(p + 3, &v, &end) == 0 &&
		    (*end == '\0' || *end == ',' || *end == ':'))
			return v;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	return 0;
}

/* the messages of one folder's cur/ and new/ */
static void
quota_count_folder(int dirfd, const char *dir, struct quota_usage *u)
{
	static const char *const sub[] = {"cur", "new"};
	struct dirent *de;
	size_t i;
	DIR *d;
	int fd, ffd;

	if ((ffd = openat(dirfd, dir,
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	for (i = 0; i < sizeof(sub) / sizeof(*sub); i++) {
		if ((fd = openat(ffd, sub[i],
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1)
			continue;
		if ((d = fdopendir(fd)) == NULL) {
			close(fd);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			u->bytes += quota_message_size(fd, de->d_name);
			u->messages++;
		}
		closedir(d);
	}
	close(ffd);
}

/* count everything again; the file then holds limit and usage alone */
static int
quota_rebuild(int dirfd, struct quota_usage *u)
{
	struct dirent *de;
	char tmp[64], text[128];
	size_t folders = 0;
	DIR *d;
	int fd, len;

	u->bytes = u->messages = 0;
	quota_count_folder(dirfd, ".", u);
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	/* ".." and what a DELETE is removing ("..x") are no folders */
	while ((de = readdir(d)) != NULL && folders < QUOTA_FOLDERS_MAX)
		if (de->d_name[0] == '.' && de->d_name[1] != '\0' &&
		    de->d_name[1] != '.') {
			quota_count_folder(fd, de->d_name, u);
			folders++;
		}
	closedir(d);

	len = snprintf(text, sizeof(text), "%lluS,%lluC\n%llu %llu\n",
	    (unsigned long long)u->limit_bytes,
	    (unsigned long long)u->limit_messages, (unsigned long long)u->bytes,
	    (unsigned long long)u->messages);
	(void)snprintf(tmp, sizeof(tmp), "tmp/%lld.%d_%08x.maildirsize",
	    (long long)time(NULL), (int)getpid(), arc4random());
	if ((fd = openat(dirfd, tmp,
		 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) ==
	    -1) {
		log_warn("quota: %s", tmp);
		return -1;
	}
	if (write(fd, text, (size_t)len) != len || fsync(fd) == -1) {
		log_warn("quota: write %s", tmp);
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if (close(fd) == -1 || renameat(dirfd, tmp, dirfd, QUOTA_FILE) == -1) {
		log_warn("quota: rename %s", tmp);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

int
quota_recalc(int dirfd, struct quota_usage *u)
{
	if (quota_read(dirfd, u) == -1)
		return -1;
	return quota_rebuild(dirfd, u);
}

int
quota_get(int dirfd, struct quota_usage *u)
{
	int rv;

	if ((rv = quota_read(dirfd, u)) == -1)
		return -1;
	if (rv == 0)
		return quota_rebuild(dirfd, u);
	return 0;
}

int
quota_add(int dirfd, int64_t bytes, int64_t messages)
{
	char line[64];
	int fd, len;

	if (bytes == 0 && messages == 0)
		return 0;
	/* no file: the next quota_get() counts the message anyway */
	if ((fd = openat(dirfd, QUOTA_FILE,
		 O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) ==
	    -1)
		return errno == ENOENT ? 0 : -1;
	len = snprintf(line, sizeof(line), "%lld %lld\n", (long long)bytes,
	    (long long)messages);
	/* one write with O_APPEND: lines of two writers never interleave */
	if (write(fd, line, (size_t)len) != len) {
		log_warn("quota: append");
		close(fd);
		return -1;
	}
	return close(fd);
}

int
quota_check(int dirfd, uint64_t add_bytes, uint64_t add_messages)
{
	struct quota_usage u;

	if (quota_get(dirfd, &u) == -1)
		return -1;
	if (u.limit_bytes != 0 &&
	    (add_bytes > u.limit_bytes || u.bytes > u.limit_bytes - add_bytes))
		return 1;
	if (u.limit_messages != 0 &&
	    (add_messages > u.limit_messages ||
		u.messages > u.limit_messages - add_messages))
		return 1;
	return 0;
}

int
quota_set_limit(int dirfd, uint64_t bytes, uint64_t messages)
{
	struct quota_usage u;
	int rv;

	if ((rv = quota_read(dirfd, &u)) == -1)
		return -1;
	if (rv == 1 && u.limit_bytes == bytes && u.limit_messages == messages)
		return 0;
	u.limit_bytes = bytes;
	u.limit_messages = messages;
	return quota_rebuild(dirfd, &u);
}
