/*
 * The spool on disk.  A message is received straight into spool/ID; it
 * is committed when its trailer (id, length and CRC-32 of the body) is
 * written and flushed.  One flush covers every message of a batch, their
 * directory entries included.  At start-up a file without a trailer was
 * never acknowledged and is removed; one with a trailer that does not
 * check out is set aside in corrupt/, never removed.
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
	int fd;

	if (mkdir(name, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", name);
	if ((fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("open %s", name);
	return fd;
}

void
spool_open(struct spool *sp)
{
	sp->queuefd = open_dir(SPOOL_QUEUE);
	close(open_dir(SPOOL_CORRUPT));
	close(open_dir(SPOOL_FAILED));
}

void
spool_name(uint64_t msgid, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64, msgid);
}

static int
spool_parse_name(const char *name, uint64_t *msgid)
{
	char *end;

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
	char name[32];
	size_t envlen;
	int fd;

	spool_name(msgid, name, sizeof(name));
	msg_writer_init(&w);
	msg_put_data(&w, SPOOL_MAGIC, 4);
	msg_put_u32(&w, SPOOL_VERSION);
	msg_put_u32(&w, 0);
	envelope_marshal(env, &w);
	envlen = w.len - SPOOL_HDR_FIXED;
	if (w.error || envlen > SPOOL_ENVELOPE_MAX) {
		msg_writer_free(&w);
		log_warnx("envelope too large");
		return -1;
	}
	w.buf[8] = (uint8_t)(envlen >> 24);
	w.buf[9] = (uint8_t)(envlen >> 16);
	w.buf[10] = (uint8_t)(envlen >> 8);
	w.buf[11] = (uint8_t)envlen;
	fd = openat(
	    sp->queuefd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("create %s/%s", SPOOL_QUEUE, name);
		msg_writer_free(&w);
		return -1;
	}
	if (write_all(fd, w.buf, w.len) == -1) {
		log_warn("write %s/%s", SPOOL_QUEUE, name);
		close(fd);
		unlinkat(sp->queuefd, name, 0);
		msg_writer_free(&w);
		return -1;
	}
	*body_offset = w.len;
	msg_writer_free(&w);
	return fd;
}

static void
spool_trailer(uint8_t *buf, uint64_t msgid, uint64_t body_size, uint32_t crc)
{
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_data(&w, SPOOL_TRAILER_MAGIC, 4);
	msg_put_u64(&w, msgid);
	msg_put_u64(&w, body_size);
	msg_put_u32(&w, crc);
	if (w.error || w.len != SPOOL_TRAILER)
		fatalx("spool trailer");
	memcpy(buf, w.buf, SPOOL_TRAILER);
	msg_writer_free(&w);
}

void
spool_commit_batch(struct spool *sp, struct spool_commit *c, size_t n)
{
	struct stat st;
	uint8_t trailer[SPOOL_TRAILER];
	char name[32];
	size_t i;
	int flushed = 0;

	for (i = 0; i < n; i++) {
		c[i].ok = 0;
		if (fstat(c[i].fd, &st) == -1)
			log_warn("fstat spool file");
		else if ((uint64_t)st.st_size !=
		    c[i].body_offset + c[i].body_size)
			log_warnx("spool file %016" PRIx64 " holds %lld bytes, "
				  "not %" PRIu64,
			    c[i].msgid, (long long)st.st_size,
			    c[i].body_offset + c[i].body_size);
		else {
			spool_trailer(
			    trailer, c[i].msgid, c[i].body_size, c[i].crc);
			if (pwrite(c[i].fd, trailer, sizeof(trailer),
				(off_t)(c[i].body_offset + c[i].body_size)) !=
			    (ssize_t)sizeof(trailer))
				log_warn("write spool trailer");
			else
				c[i].ok = 1;
		}
	}
#ifdef __linux__
	/* one flush for the whole batch: data, inodes, directory entries */
	if (syncfs(sp->queuefd) == 0)
		flushed = 1;
	else
		log_warn("syncfs");
#endif
	if (!flushed) {
		for (i = 0; i < n; i++)
			if (c[i].ok && fsync(c[i].fd) == -1) {
				log_warn("fsync spool file");
				c[i].ok = 0;
			}
		if (fsync(sp->queuefd) == -1) {
			log_warn("fsync %s", SPOOL_QUEUE);
			for (i = 0; i < n; i++)
				c[i].ok = 0;
		}
	}
	for (i = 0; i < n; i++) {
		if (c[i].ok)
			continue;
		spool_name(c[i].msgid, name, sizeof(name));
		unlinkat(sp->queuefd, name, 0);
	}
}

void
spool_remove(struct spool *sp, uint64_t msgid)
{
	char name[32];

	spool_name(msgid, name, sizeof(name));
	if (unlinkat(sp->queuefd, name, 0) == -1 && errno != ENOENT)
		log_warn("unlink %s/%s", SPOOL_QUEUE, name);
}

void
spool_move(struct spool *sp, uint64_t msgid, const char *dir)
{
	char name[32], to[64];

	spool_name(msgid, name, sizeof(name));
	snprintf(to, sizeof(to), "../%s/%s", dir, name);
	if (renameat(sp->queuefd, name, sp->queuefd, to) == -1)
		log_warn("move %s to %s", name, dir);
	else
		log_warnx("message %s moved to %s/", name, dir);
}

/* the fixed header: 0 and the envelope length, or -1 */
static int
spool_read_fixed(int fd, uint64_t size, uint32_t *envlen)
{
	struct msg_reader r;
	uint8_t fixed[SPOOL_HDR_FIXED];
	uint32_t version;
	char magic[4];

	if (pread(fd, fixed, sizeof(fixed), 0) != (ssize_t)sizeof(fixed))
		return -1;
	msg_reader_init(&r, fixed, sizeof(fixed));
	if (msg_get_data(&r, magic, 4) == -1 ||
	    memcmp(magic, SPOOL_MAGIC, 4) != 0 ||
	    msg_get_u32(&r, &version) == -1 || version != SPOOL_VERSION ||
	    msg_get_u32(&r, envlen) == -1 || *envlen > SPOOL_ENVELOPE_MAX ||
	    size < SPOOL_HDR_FIXED + (uint64_t)*envlen + SPOOL_TRAILER)
		return -1;
	return 0;
}

/*
 * The trailer: 1 found (body size and CRC out), 0 absent, -1 there but
 * for another message (a copy, or a body imitating one): not ours to
 * deliver, nor to delete.
 */
static int
spool_read_trailer(
    int fd, uint64_t msgid, uint64_t size, uint64_t *body_size, uint32_t *crc)
{
	struct msg_reader r;
	uint8_t trailer[SPOOL_TRAILER];
	uint64_t id;
	char magic[4];

	if (size < SPOOL_HDR_FIXED + SPOOL_TRAILER ||
	    pread(fd, trailer, sizeof(trailer),
		(off_t)(size - SPOOL_TRAILER)) != (ssize_t)sizeof(trailer))
		return 0;
	msg_reader_init(&r, trailer, sizeof(trailer));
	if (msg_get_data(&r, magic, 4) == -1 ||
	    memcmp(magic, SPOOL_TRAILER_MAGIC, 4) != 0)
		return 0;
	if (msg_get_u64(&r, &id) == -1 || id != msgid ||
	    msg_get_u64(&r, body_size) == -1 || msg_get_u32(&r, crc) == -1)
		return -1;
	return 1;
}

/* 0 if the body between offset and the trailer has that size and CRC */
static int
spool_check_body(int fd, uint64_t size, uint64_t body_offset,
    uint64_t body_size, uint32_t want)
{
	uint8_t buf[65536];
	uint64_t off, end;
	uint32_t crc = 0;
	ssize_t n;

	if (body_offset + body_size + SPOOL_TRAILER != size)
		return -1;
	end = body_offset + body_size;
	for (off = body_offset; off < end; off += (uint64_t)n) {
		n = pread(fd, buf,
		    sizeof(buf) < end - off ? sizeof(buf) : end - off,
		    (off_t)off);
		if (n <= 0)
			return -1;
		crc = crc32_update(crc, buf, (size_t)n);
	}
	return crc == want ? 0 : -1;
}

int
spool_load(struct spool *sp, uint64_t msgid, struct envelope *env,
    uint64_t *body_offset, uint64_t *body_size)
{
	struct msg_reader r;
	struct stat st;
	uint8_t *buf;
	uint32_t envlen;
	char name[32];
	int fd;

	spool_name(msgid, name, sizeof(name));
	if ((fd = openat(sp->queuefd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("open %s/%s", SPOOL_QUEUE, name);
		return -1;
	}
	if (fstat(fd, &st) == -1 ||
	    spool_read_fixed(fd, (uint64_t)st.st_size, &envlen) == -1 ||
	    (buf = malloc(envlen)) == NULL)
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
	*body_size = (uint64_t)st.st_size - *body_offset - SPOOL_TRAILER;
	return fd;
bad:
	log_warnx("spool file %s/%s is not a valid version %d spool file",
	    SPOOL_QUEUE, name, SPOOL_VERSION);
	close(fd);
	return -1;
}

/* 1 committed and sound, 0 never committed (removed), -1 damaged */
static int
spool_recover_one(struct spool *sp, const char *name, uint64_t msgid)
{
	struct stat st;
	uint64_t body_size;
	uint32_t envlen, crc;
	int fd, rv, trailer;

	if ((fd = openat(sp->queuefd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("open %s/%s", SPOOL_QUEUE, name);
		return -1;
	}
	if (fstat(fd, &st) == -1)
		rv = -1;
	else if ((trailer = spool_read_trailer(
		      fd, msgid, (uint64_t)st.st_size, &body_size, &crc)) == 0)
		rv = 0; /* a crash before the commit: no 250 was sent */
	else if (trailer == -1 ||
	    spool_read_fixed(fd, (uint64_t)st.st_size, &envlen) == -1 ||
	    spool_check_body(fd, (uint64_t)st.st_size,
		SPOOL_HDR_FIXED + (uint64_t)envlen, body_size, crc) == -1)
		rv = -1;
	else
		rv = 1;
	close(fd);
	if (rv == 0) {
		if (unlinkat(sp->queuefd, name, 0) == -1)
			log_warn("unlink %s/%s", SPOOL_QUEUE, name);
		else
			log_info(
			    "removed uncommitted %s/%s", SPOOL_QUEUE, name);
	}
	return rv;
}

void
spool_recover(struct spool *sp, void (*fn)(uint64_t, void *), void *arg)
{
	DIR *dir;
	struct dirent *de;
	uint64_t msgid;
	int fd;

	if ((fd = dup(sp->queuefd)) == -1)
		fatal("dup");
	if ((dir = fdopendir(fd)) == NULL)
		fatal("fdopendir %s", SPOOL_QUEUE);
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (spool_parse_name(de->d_name, &msgid) == -1) {
			log_warnx("stray file %s/%s left alone", SPOOL_QUEUE,
			    de->d_name);
			continue;
		}
		switch (spool_recover_one(sp, de->d_name, msgid)) {
		case 1:
			fn(msgid, arg);
			break;
		case -1:
			spool_move(sp, msgid, SPOOL_CORRUPT);
			break;
		}
	}
	closedir(dir);
	if (fsync(sp->queuefd) == -1)
		log_warn("fsync %s", SPOOL_QUEUE);
}
