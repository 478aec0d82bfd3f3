/*
 * Maildir delivery, mda's writing side: write into tmp/, flush, rename
 * into new/.  The names come from maildir_unique_name() (common/): the
 * Maildir convention (time.unique.host) with Dovecot's ,S=size so that
 * readers need not stat; the unique part comes from the queue id and the
 * recipient index, so a retried delivery recognises its earlier success
 * instead of delivering twice: by that part alone, in new/ and in cur/,
 * where a reader moves a message and adds its flags to the name, and
 * whatever the host name was when it was delivered.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queued.h"

static int
maildir_create(int rootfd, const char *mailbox)
{
	static const char *const subdirs[] = {"cur", "new", "tmp"};
	char path[PATH_MAX], *slash;
	size_t i;

	strlcpy(path, mailbox, sizeof(path));
	if ((slash = strchr(path, '/')) == NULL) {
		errno = EINVAL;
		return -1;
	}
	*slash = '\0';
	if (mkdirat(rootfd, path, 0700) == -1 && errno != EEXIST)
		return -1;
	*slash = '/';
	if (mkdirat(rootfd, path, 0700) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", mailbox, subdirs[i]);
		if (mkdirat(rootfd, path, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

static int
copy_body(int from, uint64_t off, int to, uint64_t len)
{
	char buf[65536];
	loff_t inoff = (loff_t)off;
	ssize_t n;

	while (len > 0) {
		n = copy_file_range(from, &inoff, to, NULL, len, 0);
		if (n == -1 &&
		    (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			errno == EOPNOTSUPP))
			break;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO; /* the spool file is short */
			return -1;
		}
		len -= (uint64_t)n;
	}
	while (len > 0) {
		n = pread(
		    from, buf, len < sizeof(buf) ? len : sizeof(buf), inoff);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (write_all(to, buf, (size_t)n) == -1)
			return -1;
		inoff += n;
		len -= (uint64_t)n;
	}
	return 0;
}

int
maildir_write(int rootfd, const char *mailbox, uint64_t msgid, uint32_t idx,
    const char *hostname, const char *sender, int spoolfd,
    const struct spool_msg *m, struct maildir_delivery *d)
{
	char head[1024], path[PATH_MAX], *slash;
	const char *user;
	int headlen, fd, saved;

	/* a path under the root, a header line that stays one line */
	if (!envelope_mailbox_valid(mailbox) ||
	    !envelope_sender_valid(sender)) {
		errno = EINVAL;
		return -1;
	}
	slash = strchr(mailbox, '/');
	user = slash + 1;
	headlen = snprintf(head, sizeof(head),
	    "Return-Path: <%s>\nDelivered-To: %s@%.*s\n", sender, user,
	    (int)(slash - mailbox), mailbox);
	if (headlen < 0 || (size_t)headlen >= sizeof(head)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strlcpy(d->mailbox, mailbox, sizeof(d->mailbox));
	if (maildir_unique_name(d->name, sizeof(d->name), msgid, idx, hostname,
		(uint64_t)headlen + m->prepend_size + m->body_size) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}

	snprintf(path, sizeof(path), "%s/tmp/%s", mailbox, d->name);
	fd = openat(
	    rootfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 && errno == ENOENT) {
		if (maildir_create(rootfd, mailbox) == -1)
			return -1;
		fd = openat(rootfd, path,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	}
	if (fd == -1)
		return -1;
	if (write_all(fd, head, (size_t)headlen) == -1 ||
	    copy_body(spoolfd, m->prepend_offset, fd, m->prepend_size) == -1 ||
	    copy_body(spoolfd, m->body_offset, fd, m->body_size) == -1) {
		/* the caller classifies the failure by it */
		saved = errno;
		close(fd);
		unlinkat(rootfd, path, 0);
		errno = saved;
		return -1;
	}
	return fd;
}

/* a name with this prefix in mailbox/sub: 1, 0, or -1 (errno) */
static int
maildir_find(
    int rootfd, const char *mailbox, const char *sub, const char *prefix)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *dir;
	int fd, found = 0, saved;

	snprintf(path, sizeof(path), "%s/%s", mailbox, sub);
	if ((fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return errno == ENOENT ? 0 : -1;
	if ((dir = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(dir)) == NULL)
			break;
		if (maildir_name_has_prefix(de->d_name, prefix)) {
			found = 1;
			break;
		}
	}
	saved = errno;
	closedir(dir);
	if (!found && saved != 0) {
		errno = saved;
		return -1;
	}
	return found;
}

int
maildir_delivered(int rootfd, const char *mailbox, uint64_t msgid, uint32_t idx)
{
	char prefix[MAILDIR_PREFIX_MAX];
	int rv;

	if (!envelope_mailbox_valid(mailbox) ||
	    maildir_unique_prefix(prefix, sizeof(prefix), msgid, idx) == -1) {
		errno = EINVAL;
		return -1;
	}
	/* a reader moves what it has seen to cur/, adding its flags */
	if ((rv = maildir_find(rootfd, mailbox, "new", prefix)) != 0)
		return rv;
	return maildir_find(rootfd, mailbox, "cur", prefix);
}

int
maildir_publish(int rootfd, const struct maildir_delivery *d)
{
	char from[PATH_MAX], to[PATH_MAX];

	snprintf(from, sizeof(from), "%s/tmp/%s", d->mailbox, d->name);
	snprintf(to, sizeof(to), "%s/new/%s", d->mailbox, d->name);
	return renameat(rootfd, from, rootfd, to);
}
