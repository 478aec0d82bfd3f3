/*
 * The spool on disk.  A message is received into incoming/ID and becomes
 * committed when it is renamed into spool/ID after its data was flushed;
 * the rename is then flushed too.  What is still in incoming/ at start-up
 * was never acknowledged and is removed.
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
open_dir(const char *name)
{
	int	 fd;

	if (mkdir(name, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", name);
	if ((fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("open %s", name);
	return fd;
}

void
spool_open(struct spool *sp)
{
	int	 fd;

	sp->incomingfd = open_dir(SPOOL_INCOMING);
	sp->queuefd = open_dir(SPOOL_QUEUE);
	fd = open_dir(SPOOL_CORRUPT);
	close(fd);
	fd = open_dir(SPOOL_FAILED);
	close(fd);
}

void
spool_name(uint64_t msgid, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64, msgid);
}

static int
spool_parse_name(const char *name, uint64_t *msgid)
{
	char	*end;

	if (strlen(name) != 16 || strspn(name, "0123456789abcdef") != 16)
		return -1;
	errno = 0;
	*msgid = strtoull(name, &end, 16);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

int
spool_create(struct spool *sp, uint64_t msgid, const struct envelope *env,
    uint64_t *body_offset)
{
	struct msg_writer w;
	char		 name[32];
	int		 fd;

	spool_name(msgid, name, sizeof(name));
	msg_writer_init(&w);
	msg_put_data(&w, SPOOL_MAGIC, 4);
	msg_put_u32(&w, SPOOL_VERSION);
	msg_put_u32(&w, 0);
	envelope_marshal(env, &w);
	if (w.error || w.len - SPOOL_HDR_FIXED > SPOOL_ENVELOPE_MAX) {
		msg_writer_free(&w);
		log_warnx("envelope too large");
		return -1;
	}
	/* the envelope length, now that it is known */
	w.buf[8] = (uint8_t)((w.len - SPOOL_HDR_FIXED) >> 24);
	w.buf[9] = (uint8_t)((w.len - SPOOL_HDR_FIXED) >> 16);
	w.buf[10] = (uint8_t)((w.len - SPOOL_HDR_FIXED) >> 8);
	w.buf[11] = (uint8_t)(w.len - SPOOL_HDR_FIXED);
	fd = openat(sp->incomingfd, name, O_RDWR | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("create %s/%s", SPOOL_INCOMING, name);
		msg_writer_free(&w);
		return -1;
	}
	if (write_all(fd, w.buf, w.len) == -1) {
		log_warn("write %s/%s", SPOOL_INCOMING, name);
		close(fd);
		unlinkat(sp->incomingfd, name, 0);
		msg_writer_free(&w);
		return -1;
	}
	*body_offset = w.len;
	msg_writer_free(&w);
	return fd;
}

void
spool_commit_batch(struct spool *sp, const uint64_t *msgids, const int *fds,
    const uint64_t *sizes, size_t n, int *ok)
{
	struct stat	 st;
	char		 name[32];
	size_t		 i;
	int		 synced = 0;

	for (i = 0; i < n; i++) {
		ok[i] = 0;
		if (fstat(fds[i], &st) == -1)
			log_warn("fstat spool file");
		else if ((uint64_t)st.st_size != sizes[i])
			log_warnx("spool file %016" PRIx64 " holds %lld bytes, "
			    "not %" PRIu64, msgids[i], (long long)st.st_size,
			    sizes[i]);
		else
			ok[i] = 1;
	}
#ifdef __linux__
	/* one flush for the whole batch, however many files */
	if (n > 1) {
		if (syncfs(sp->incomingfd) == -1)
			log_warn("syncfs");
		else
			synced = 1;
	}
#endif
	for (i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		if (!synced && fsync(fds[i]) == -1) {
			log_warn("fsync spool file");
			ok[i] = 0;
			continue;
		}
		spool_name(msgids[i], name, sizeof(name));
		if (renameat(sp->incomingfd, name, sp->queuefd, name) == -1) {
			log_warn("rename %s into %s", name, SPOOL_QUEUE);
			ok[i] = 0;
		}
	}
	if (fsync(sp->queuefd) == -1) {
		log_warn("fsync %s", SPOOL_QUEUE);
		for (i = 0; i < n; i++)
			ok[i] = 0;
	}
	for (i = 0; i < n; i++) {
		if (ok[i])
			continue;
		spool_name(msgids[i], name, sizeof(name));
		unlinkat(sp->incomingfd, name, 0);
	}
}

void
spool_abort(struct spool *sp, uint64_t msgid)
{
	char	 name[32];

	spool_name(msgid, name, sizeof(name));
	if (unlinkat(sp->incomingfd, name, 0) == -1 && errno != ENOENT)
		log_warn("unlink %s/%s", SPOOL_INCOMING, name);
}

void
spool_remove(struct spool *sp, uint64_t msgid)
{
	char	 name[32];

	spool_name(msgid, name, sizeof(name));
	if (unlinkat(sp->queuefd, name, 0) == -1 && errno != ENOENT)
		log_warn("unlink %s/%s", SPOOL_QUEUE, name);
}

void
spool_move(struct spool *sp, uint64_t msgid, const char *dir)
{
	char	 name[32], to[64];

	spool_name(msgid, name, sizeof(name));
	snprintf(to, sizeof(to), "../%s/%s", dir, name);
	if (renameat(sp->queuefd, name, sp->queuefd, to) == -1)
		log_warn("move %s to %s", name, dir);
	else
		log_warnx("message %s moved to %s/", name, dir);
}

int
spool_load(struct spool *sp, uint64_t msgid, struct envelope *env,
    uint64_t *body_offset)
{
	struct msg_reader r;
	struct stat	 st;
	uint8_t		 fixed[SPOOL_HDR_FIXED], *buf;
	uint32_t	 version, envlen;
	char		 name[32], magic[4];
	int		 fd;

	spool_name(msgid, name, sizeof(name));
	if ((fd = openat(sp->queuefd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("open %s/%s", SPOOL_QUEUE, name);
		return -1;
	}
	if (fstat(fd, &st) == -1 || pread(fd, fixed, sizeof(fixed), 0) !=
	    (ssize_t)sizeof(fixed))
		goto bad;
	msg_reader_init(&r, fixed, sizeof(fixed));
	if (msg_get_data(&r, magic, 4) == -1 ||
	    memcmp(magic, SPOOL_MAGIC, 4) != 0 ||
	    msg_get_u32(&r, &version) == -1 || version != SPOOL_VERSION ||
	    msg_get_u32(&r, &envlen) == -1 || envlen > SPOOL_ENVELOPE_MAX ||
	    (uint64_t)st.st_size < SPOOL_HDR_FIXED + (uint64_t)envlen)
		goto bad;
	if ((buf = malloc(envlen)) == NULL)
		goto bad;
	if (pread(fd, buf, envlen, SPOOL_HDR_FIXED) != (ssize_t)envlen) {
		free(buf);
		goto bad;
	}
	msg_reader_init(&r, buf, envlen);
	if (envelope_unmarshal(env, &r) == -1 || msg_get_end(&r) == -1) {
		envelope_clear(env);
		free(buf);
		goto bad;
	}
	free(buf);
	*body_offset = SPOOL_HDR_FIXED + (uint64_t)envlen;
	return fd;
bad:
	log_warnx("spool file %s/%s is not a valid version %d spool file",
	    SPOOL_QUEUE, name, SPOOL_VERSION);
	close(fd);
	return -1;
}

static void
spool_scan(int dirfd, const char *dirname, void (*fn)(uint64_t, void *),
    void *arg)
{
	DIR		*dir;
	struct dirent	*de;
	uint64_t	 msgid;
	int		 fd;

	if ((fd = dup(dirfd)) == -1)
		fatal("dup");
	if ((dir = fdopendir(fd)) == NULL)
		fatal("fdopendir %s", dirname);
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (spool_parse_name(de->d_name, &msgid) == -1) {
			log_warnx("stray file %s/%s left alone", dirname,
			    de->d_name);
			continue;
		}
		if (fn == NULL) {
			if (unlinkat(dirfd, de->d_name, 0) == -1)
				log_warn("unlink %s/%s", dirname, de->d_name);
			else
				log_info("removed uncommitted %s/%s", dirname,
				    de->d_name);
		} else
			fn(msgid, arg);
	}
	closedir(dir);
}

void
spool_recover(struct spool *sp, void (*fn)(uint64_t, void *), void *arg)
{
	spool_scan(sp->incomingfd, SPOOL_INCOMING, NULL, NULL);
	if (fsync(sp->incomingfd) == -1)
		log_warn("fsync %s", SPOOL_INCOMING);
	spool_scan(sp->queuefd, SPOOL_QUEUE, fn, arg);
}
