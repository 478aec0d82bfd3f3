/*
 * The spool on disk (the format is in queued.h).  A message is received
 * straight into spool/ID; it is committed when its trailer (id, lengths,
 * the CRCs of envelope, body and prepended headers) is written and
 * flushed.  One flush
 * covers every message of a batch, their directory entries included.
 * At start-up a file without a trailer was never acknowledged and is
 * removed; one with a trailer that does not check out is set aside in
 * corrupt/, never removed.  A file that cannot be read for a reason of
 * the moment (out of fds, an I/O error) is neither: it stays where it is
 * and the delivery tries it again later.  ID.state, the per-recipient
 * state of a message tried before, is replaced whole through a rename,
 * of a file whose data is on disk before it gets the name.
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

#define SPOOL_SCAN_BUF 65536 /* read at a time for CRCs and scans */
/*
 * How what may have been put there by hand is opened: a FIFO under a
 * spool name must not block the queue (its type is checked after), a
 * symbolic link is refused.
 */
#define SPOOL_OPEN_READ (O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)

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
    struct spool_file *sf)
{
	struct msg_writer w;
	char name[32];
	size_t envlen;
	int fd, saved;

	sf->fd = sf->appendfd = -1;
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
		errno = EMSGSIZE;
		return -1;
	}
	w.buf[8] = (uint8_t)(envlen >> 24);
	w.buf[9] = (uint8_t)(envlen >> 16);
	w.buf[10] = (uint8_t)(envlen >> 8);
	w.buf[11] = (uint8_t)envlen;
	sf->hdr_crc = crc32_update(0, w.buf, w.len);
	sf->body_offset = w.len;
	fd = openat(sp->queuefd, name,
	    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		log_warn("create %s/%s", SPOOL_QUEUE, name);
		msg_writer_free(&w);
		return -1;
	}
	if (write_all(fd, w.buf, w.len) == -1) {
		log_warn("write %s/%s", SPOOL_QUEUE, name);
		goto fail;
	}
	/*
	 * smtp's descriptor: another open file description, so it shares
	 * no offset with ours, and O_APPEND, so every write it makes lands
	 * at the end, past the envelope (pwrite() too, on Linux).
	 */
	sf->appendfd = openat(
	    sp->queuefd, name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (sf->appendfd == -1) {
		log_warn("open %s/%s for appending", SPOOL_QUEUE, name);
		goto fail;
	}
	msg_writer_free(&w);
	sf->fd = fd;
	return 0;
fail:
	saved = errno;
	close(fd);
	unlinkat(sp->queuefd, name, 0);
	msg_writer_free(&w);
	errno = saved;
	return -1;
}

/* the prepended headers and the trailer, as one write */
static int
spool_trailer(struct msg_writer *w, const struct spool_commit *c)
{
	if (c->prepend_len > SPOOL_PREPEND_MAX) {
		log_warnx("message %016" PRIx64 ": %u octets of headers to "
			  "prepend, more than %d",
		    c->msgid, c->prepend_len, SPOOL_PREPEND_MAX);
		return -1;
	}
	if (c->prepend_len > 0)
		msg_put_data(w, c->prepend, c->prepend_len);
	msg_put_data(w, SPOOL_TRAILER_MAGIC, 4);
	msg_put_u64(w, c->msgid);
	msg_put_u64(w, c->body_size);
	msg_put_u32(w, c->prepend_len);
	msg_put_u32(w, c->hdr_crc);
	msg_put_u32(w, c->body_crc);
	msg_put_u32(w, crc32_update(0, c->prepend, c->prepend_len));
	if (w->error || w->len != c->prepend_len + SPOOL_TRAILER)
		fatalx("spool trailer");
	return 0;
}

void
spool_commit_batch(struct spool *sp, struct spool_commit *c, size_t n)
{
	struct msg_writer w;
	struct stat st;
	char name[32];
	size_t i;
	int flushed = 0;

	for (i = 0; i < n; i++) {
		c[i].ok = 0;
		msg_writer_init(&w);
		if (fstat(c[i].fd, &st) == -1)
			log_warn("fstat spool file");
		else if ((uint64_t)st.st_size !=
		    c[i].body_offset + c[i].body_size)
			log_warnx("spool file %016" PRIx64 " holds %lld bytes, "
				  "not %" PRIu64,
			    c[i].msgid, (long long)st.st_size,
			    c[i].body_offset + c[i].body_size);
		else if (spool_trailer(&w, &c[i]) == 0) {
			if (pwrite(c[i].fd, w.buf, w.len,
				(off_t)(c[i].body_offset + c[i].body_size)) !=
			    (ssize_t)w.len)
				log_warn("write spool trailer");
			else
				c[i].ok = 1;
		}
		msg_writer_free(&w);
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

static void
spool_state_name(uint64_t msgid, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 "%s", msgid, suffix);
}

int
spool_remove(struct spool *sp, uint64_t msgid, int state)
{
	char name[32];

	spool_name(msgid, name, sizeof(name));
	if (unlinkat(sp->queuefd, name, 0) == -1 && errno != ENOENT) {
		log_warn("unlink %s/%s", SPOOL_QUEUE, name);
		return -1;
	}
	if (!state)
		return 0;
	/* a state left behind without its message goes at start-up */
	spool_state_name(msgid, SPOOL_STATE_SUFFIX, name, sizeof(name));
	if (unlinkat(sp->queuefd, name, 0) == -1 && errno != ENOENT)
		log_warn("unlink %s/%s", SPOOL_QUEUE, name);
	return 0;
}

/* rename spool/NAME into dir: 0, or -1 (errno) */
static int
spool_rename(struct spool *sp, const char *name, const char *dir)
{
	char to[64];
	int n;

	n = snprintf(to, sizeof(to), "../%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(to)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return renameat(sp->queuefd, name, sp->queuefd, to);
}

int
spool_move(struct spool *sp, uint64_t msgid, const char *dir, const char *why)
{
	char name[32], state[32];

	spool_name(msgid, name, sizeof(name));
	spool_state_name(msgid, SPOOL_STATE_SUFFIX, state, sizeof(state));
	if (spool_rename(sp, name, dir) == -1) {
		log_warn("move %s to %s", name, dir);
		return -1;
	}
	if (why != NULL)
		log_warnx("message %s moved to %s/: %s", name, dir, why);
	else
		log_warnx("message %s moved to %s/", name, dir);
	/* its state follows, or stays behind for the start-up to move */
	if (spool_rename(sp, state, dir) == -1 && errno != ENOENT)
		log_warn("move %s to %s", state, dir);
	return 0;
}

int
spool_open_message(struct spool *sp, uint64_t msgid)
{
	char name[32];

	spool_name(msgid, name, sizeof(name));
	return openat(sp->queuefd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* all len bytes at off: 0, SPOOL_TEMP (errno) or SPOOL_BAD (the file ends) */
static int
spool_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(
		    fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return SPOOL_TEMP;
		if (n == 0)
			return SPOOL_BAD;
		got += (size_t)n;
	}
	return 0;
}

static uint32_t
spool_trailer_len(uint32_t version)
{
	return version == 1 ? SPOOL_TRAILER_V1
	    : version == 2  ? SPOOL_TRAILER_V2
			    : SPOOL_TRAILER;
}

/* the fixed header: 0 with version and envelope length, or SPOOL_* */
static int
spool_read_fixed(int fd, uint8_t *fixed, uint32_t *version, uint32_t *envlen,
    char *why, size_t whysz)
{
	struct msg_reader r;
	char magic[4];
	int rv;

	if ((rv = spool_pread(fd, fixed, SPOOL_HDR_FIXED, 0)) != 0) {
		snprintf(why, whysz, "%s",
		    rv == SPOOL_TEMP ? strerror(errno)
				     : "shorter than a spool header");
		return rv;
	}
	msg_reader_init(&r, fixed, SPOOL_HDR_FIXED);
	if (msg_get_data(&r, magic, 4) == -1 ||
	    memcmp(magic, SPOOL_MAGIC, 4) != 0 ||
	    msg_get_u32(&r, version) == -1 || msg_get_u32(&r, envlen) == -1) {
		snprintf(why, whysz, "no spool header");
		return SPOOL_BAD;
	}
	if (*version < 1 || *version > SPOOL_VERSION) {
		snprintf(
		    why, whysz, "unknown spool format version %u", *version);
		return SPOOL_BAD;
	}
	if (*envlen > SPOOL_ENVELOPE_MAX) {
		snprintf(
		    why, whysz, "envelope length %u out of bounds", *envlen);
		return SPOOL_BAD;
	}
	return 0;
}

/* the CRC-32 of len bytes at off: 0, or SPOOL_* */
static int
spool_crc(int fd, uint64_t off, uint64_t len, uint32_t *crc)
{
	uint8_t buf[SPOOL_SCAN_BUF];
	size_t n;
	int rv;

	*crc = 0;
	while (len > 0) {
		n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		if ((rv = spool_pread(fd, buf, n, off)) != 0)
			return rv;
		*crc = crc32_update(*crc, buf, n);
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * Everything a delivery relies on: the structure, the trailer of this
 * message, the CRCs, the envelope's content.  0 with env filled (the
 * caller clears it), or SPOOL_TEMP / SPOOL_BAD with env empty.
 */
/* spool_verify(), the CRCs of the body and added headers too if body */
static int
spool_check(int fd, uint64_t msgid, struct envelope *env, struct spool_msg *m,
    char *why, size_t whysz, int body)
{
	struct msg_reader r;
	struct stat st;
	uint8_t fixed[SPOOL_HDR_FIXED], trailer[SPOOL_TRAILER], *buf = NULL;
	uint64_t size, id, body_size, parts;
	uint32_t version, envlen, tlen, prepend_len = 0, hdr_crc = 0, body_crc;
	uint32_t prepend_crc = 0, crc;
	char magic[4];
	int rv;

	memset(env, 0, sizeof(*env));
	if (fstat(fd, &st) == -1) {
		snprintf(why, whysz, "fstat: %s", strerror(errno));
		return SPOOL_TEMP;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "not a regular file");
		return SPOOL_BAD;
	}
	size = (uint64_t)st.st_size;
	if ((rv = spool_read_fixed(fd, fixed, &version, &envlen, why, whysz)) !=
	    0)
		return rv;
	tlen = spool_trailer_len(version);
	if (size < SPOOL_HDR_FIXED + (uint64_t)envlen + tlen) {
		snprintf(why, whysz,
		    "%" PRIu64 " bytes, too short for its "
		    "envelope and trailer",
		    size);
		return SPOOL_BAD;
	}
	if ((rv = spool_pread(fd, trailer, tlen, size - tlen)) != 0)
		goto readerr;
	msg_reader_init(&r, trailer, tlen);
	if (msg_get_data(&r, magic, 4) == -1 ||
	    memcmp(magic, SPOOL_TRAILER_MAGIC, 4) != 0) {
		snprintf(why, whysz, "no commit trailer at its end");
		return SPOOL_BAD;
	}
	if (msg_get_u64(&r, &id) == -1 || msg_get_u64(&r, &body_size) == -1 ||
	    (version >= 3 && msg_get_u32(&r, &prepend_len) == -1) ||
	    (version >= 2 && msg_get_u32(&r, &hdr_crc) == -1) ||
	    msg_get_u32(&r, &body_crc) == -1 ||
	    (version >= 3 && msg_get_u32(&r, &prepend_crc) == -1) ||
	    msg_get_end(&r) == -1)
		fatalx("spool trailer length");
	if (id != msgid) {
		snprintf(why, whysz, "the trailer of message %016" PRIx64, id);
		return SPOOL_BAD;
	}
	parts = size - SPOOL_HDR_FIXED - envlen - tlen;
	if (prepend_len > SPOOL_PREPEND_MAX || body_size > parts ||
	    body_size + prepend_len != parts) {
		snprintf(why, whysz,
		    "the trailer says %" PRIu64 " body bytes and %u of "
		    "headers, the file holds %" PRIu64,
		    body_size, prepend_len, parts);
		return SPOOL_BAD;
	}
	if ((buf = malloc(envlen > 0 ? envlen : 1)) == NULL) {
		snprintf(why, whysz, "%s", strerror(errno));
		return SPOOL_TEMP;
	}
	if ((rv = spool_pread(fd, buf, envlen, SPOOL_HDR_FIXED)) != 0)
		goto readerr;
	if (version >= 2 &&
	    crc32_update(crc32_update(0, fixed, sizeof(fixed)), buf, envlen) !=
		hdr_crc) {
		snprintf(why, whysz, "envelope checksum mismatch");
		rv = SPOOL_BAD;
		goto out;
	}
	msg_reader_init(&r, buf, envlen);
	if (envelope_unmarshal(env, &r) == -1) {
		/* the count is bounded: memory may come back, bytes will not */
		rv = errno == ENOMEM ? SPOOL_TEMP : SPOOL_BAD;
		snprintf(why, whysz, "%s",
		    rv == SPOOL_TEMP ? strerror(ENOMEM) : "malformed envelope");
		goto out;
	}
	if (msg_get_end(&r) == -1) {
		snprintf(why, whysz, "malformed envelope");
		rv = SPOOL_BAD;
		goto out;
	}
	if (envelope_check_spooled(env, why, whysz) == -1) {
		rv = SPOOL_BAD;
		goto out;
	}
	m->version = version;
	m->body_offset = SPOOL_HDR_FIXED + (uint64_t)envlen;
	m->body_size = body_size;
	m->prepend_offset = m->body_offset + body_size;
	m->prepend_size = prepend_len;
	if (!body) {
		free(buf);
		return 0;
	}
	if ((rv = spool_crc(fd, m->body_offset, body_size, &crc)) != 0)
		goto readerr;
	if (crc != body_crc) {
		snprintf(why, whysz, "body checksum mismatch");
		rv = SPOOL_BAD;
		goto out;
	}
	if ((rv = spool_crc(fd, m->prepend_offset, prepend_len, &crc)) != 0)
		goto readerr;
	if (crc != prepend_crc) {
		snprintf(why, whysz, "prepended headers checksum mismatch");
		rv = SPOOL_BAD;
		goto out;
	}
	free(buf);
	return 0;
readerr:
	snprintf(why, whysz, "%s",
	    rv == SPOOL_TEMP ? strerror(errno) : "shorter than its size");
out:
	free(buf);
	envelope_clear(env);
	return rv;
}

int
spool_verify(int fd, uint64_t msgid, struct envelope *env, struct spool_msg *m,
    char *why, size_t whysz)
{
	return spool_check(fd, msgid, env, m, why, whysz, 1);
}

/* spool_load(), or (peek) all but the body's CRCs */
static int
spool_open_checked(struct spool *sp, uint64_t msgid, struct envelope *env,
    struct spool_msg *m, char *why, size_t whysz, int peek)
{
	char name[32];
	int fd, rv;

	memset(env, 0, sizeof(*env));
	spool_name(msgid, name, sizeof(name));
	if ((fd = openat(sp->queuefd, name, SPOOL_OPEN_READ)) == -1) {
		rv = errno == ENOENT ? SPOOL_GONE
		    : errno == ELOOP ? SPOOL_BAD
				     : SPOOL_TEMP;
		snprintf(why, whysz, "open: %s", strerror(errno));
		return rv;
	}
	if ((rv = spool_check(fd, msgid, env, m, why, whysz, !peek)) != 0) {
		close(fd);
		return rv;
	}
	return fd;
}

int
spool_load(struct spool *sp, uint64_t msgid, struct envelope *env,
    struct spool_msg *m, char *why, size_t whysz)
{
	return spool_open_checked(sp, msgid, env, m, why, whysz, 0);
}

int
spool_peek(struct spool *sp, uint64_t msgid, struct envelope *env,
    struct spool_msg *m, char *why, size_t whysz)
{
	return spool_open_checked(sp, msgid, env, m, why, whysz, 1);
}

/*
 * Does the file hold this message's trailer somewhere other than at its
 * end?  Then it was committed and something was added after (or the
 * end of it was cut): damaged, not an interrupted reception.  No client
 * can write it, as none knows the id before its 250.  1, 0, or SPOOL_*.
 */
static int
spool_find_trailer(int fd, uint64_t msgid, uint64_t size)
{
	struct msg_writer w;
	uint8_t buf[SPOOL_SCAN_BUF], pat[12];
	uint64_t off = 0;
	size_t n, keep = 0;
	int rv;

	msg_writer_init(&w);
	msg_put_data(&w, SPOOL_TRAILER_MAGIC, 4);
	msg_put_u64(&w, msgid);
	if (w.error || w.len != sizeof(pat))
		fatalx("spool trailer pattern");
	memcpy(pat, w.buf, sizeof(pat));
	msg_writer_free(&w);
	while (off < size) {
		n = size - off < sizeof(buf) - keep ? (size_t)(size - off)
						    : sizeof(buf) - keep;
		if ((rv = spool_pread(fd, buf + keep, n, off)) != 0)
			return rv;
		off += n;
		n += keep;
		if (memmem(buf, n, pat, sizeof(pat)) != NULL)
			return 1;
		/* a pattern across two reads */
		keep = n < sizeof(pat) - 1 ? n : sizeof(pat) - 1;
		memmove(buf, buf + n - keep, keep);
	}
	return 0;
}

/*
 * Was this file ever committed?  1 it ends in a trailer (of whatever
 * message: its checks decide), or holds this message's trailer; 0 it is
 * an interrupted reception; SPOOL_TEMP.
 */
static int
spool_committed(int fd, uint64_t msgid, uint64_t size)
{
	static const uint32_t any[] = {
	    SPOOL_TRAILER, SPOOL_TRAILER_V2, SPOOL_TRAILER_V1};
	uint8_t fixed[SPOOL_HDR_FIXED];
	uint32_t version, envlen, tlen[3];
	char magic[4], why[128];
	size_t i, ntlen;
	int rv;

	rv = size >= SPOOL_HDR_FIXED
	    ? spool_read_fixed(fd, fixed, &version, &envlen, why, sizeof(why))
	    : SPOOL_BAD;
	if (rv == SPOOL_TEMP)
		return rv;
	if (rv == 0) {
		tlen[0] = spool_trailer_len(version);
		ntlen = 1;
	} else {
		/* a damaged header: a trailer of any version will do */
		memcpy(tlen, any, sizeof(any));
		ntlen = 3;
	}
	for (i = 0; i < ntlen; i++) {
		if (size < SPOOL_HDR_FIXED + tlen[i])
			continue;
		if ((rv = spool_pread(fd, magic, 4, size - tlen[i])) != 0)
			return rv;
		if (memcmp(magic, SPOOL_TRAILER_MAGIC, 4) == 0)
			return 1;
	}
	return spool_find_trailer(fd, msgid, size);
}

/* 1 committed and sound (or unreadable now), 0 removed or moved */
static int
spool_recover_one(struct spool *sp, const char *name, uint64_t msgid)
{
	struct envelope env;
	struct spool_msg m;
	struct stat st;
	char why[256];
	int fd, committed, rv;

	if ((fd = openat(sp->queuefd, name, SPOOL_OPEN_READ)) == -1) {
		if ((rv = errno) == ENOENT)
			return 0;
		log_warn("open %s/%s", SPOOL_QUEUE, name);
		if (rv == ELOOP) {
			spool_move(sp, msgid, SPOOL_CORRUPT, "a symbolic link");
			return 0;
		}
		return 1; /* the delivery tries again */
	}
	if (fstat(fd, &st) == -1)
		committed = SPOOL_TEMP;
	else if (!S_ISREG(st.st_mode)) {
		close(fd);
		spool_move(sp, msgid, SPOOL_CORRUPT, "not a regular file");
		return 0;
	} else
		committed = spool_committed(fd, msgid, (uint64_t)st.st_size);
	if (committed == 0) {
		/* never committed: no 250 was sent */
		close(fd);
		if (unlinkat(sp->queuefd, name, 0) == -1)
			log_warn("unlink %s/%s", SPOOL_QUEUE, name);
		else
			log_info(
			    "removed uncommitted %s/%s", SPOOL_QUEUE, name);
		return 0;
	}
	if (committed == 1)
		rv = spool_verify(fd, msgid, &env, &m, why, sizeof(why));
	else {
		/* a read error, or the file shrank under us */
		rv = SPOOL_TEMP;
		snprintf(why, sizeof(why), "%s",
		    committed == SPOOL_TEMP ? strerror(errno) : "short read");
	}
	close(fd);
	switch (rv) {
	case 0:
		envelope_clear(&env);
		if (m.version == 1)
			log_info("%s/%s: a version 1 spool file, recovered "
				 "without an envelope checksum",
			    SPOOL_QUEUE, name);
		else if (m.version < SPOOL_VERSION)
			log_info("%s/%s: a version %u spool file, recovered",
			    SPOOL_QUEUE, name, m.version);
		return 1;
	case SPOOL_BAD:
		spool_move(sp, msgid, SPOOL_CORRUPT, why);
		return 0;
	default:
		log_warnx("%s/%s cannot be read now (%s): its delivery will "
			  "try again",
		    SPOOL_QUEUE, name, why);
		return 1;
	}
}

/* ID.state or ID.state.tmp: 0 with the id and which, or -1 */
static int
spool_parse_state_name(const char *name, uint64_t *msgid, int *tmp)
{
	char id[17];

	if (strlen(name) < 16)
		return -1;
	memcpy(id, name, 16);
	id[16] = '\0';
	if (spool_parse_name(id, msgid) == -1)
		return -1;
	if (strcmp(name + 16, SPOOL_STATE_SUFFIX) == 0)
		*tmp = 0;
	else if (strcmp(name + 16, SPOOL_STATE_TMP) == 0)
		*tmp = 1;
	else
		return -1;
	return 0;
}

/* is there a file dir/NAME (dir relative to the spool)? */
static int
spool_exists(struct spool *sp, const char *dir, const char *name)
{
	struct stat st;
	char path[64];

	snprintf(path, sizeof(path), "%s%s", dir, name);
	return fstatat(sp->queuefd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT;
}

/* a state file met at start-up, once every message has been seen */
static void
spool_recover_state(struct spool *sp, const char *name, uint64_t msgid, int tmp)
{
	static const char *const dirs[] = {SPOOL_FAILED, SPOOL_CORRUPT};
	char data[32], path[64];
	size_t i;

	spool_name(msgid, data, sizeof(data));
	if (!tmp && spool_exists(sp, "", data))
		return; /* its message is queued: it goes with it */
	for (i = 0; !tmp && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "../%s/", dirs[i]);
		if (!spool_exists(sp, path, data))
			continue;
		/* a crash came between the moves of the message and its state
		 */
		if (spool_rename(sp, name, dirs[i]) == -1)
			log_warn(
			    "move %s/%s to %s", SPOOL_QUEUE, name, dirs[i]);
		else
			log_info("moved %s/%s to %s/, after its message",
			    SPOOL_QUEUE, name, dirs[i]);
		return;
	}
	if (unlinkat(sp->queuefd, name, 0) == -1)
		log_warn("unlink %s/%s", SPOOL_QUEUE, name);
	else
		log_info("removed %s %s/%s",
		    tmp ? "unfinished" : "the state of a message gone,",
		    SPOOL_QUEUE, name);
}

void
spool_recover(struct spool *sp, void (*fn)(uint64_t, void *), void *arg)
{
	DIR *dir;
	struct dirent *de;
	uint64_t msgid;
	int fd, tmp;

	if ((fd = dup(sp->queuefd)) == -1)
		fatal("dup");
	if ((dir = fdopendir(fd)) == NULL)
		fatal("fdopendir %s", SPOOL_QUEUE);
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' ||
		    spool_parse_state_name(de->d_name, &msgid, &tmp) == 0)
			continue;
		if (spool_parse_name(de->d_name, &msgid) == -1) {
			log_warnx("stray file %s/%s left alone", SPOOL_QUEUE,
			    de->d_name);
			continue;
		}
		if (spool_recover_one(sp, de->d_name, msgid))
			fn(msgid, arg);
	}
	/* the states, now that every message is where it stays */
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL)
		if (spool_parse_state_name(de->d_name, &msgid, &tmp) == 0)
			spool_recover_state(sp, de->d_name, msgid, tmp);
	closedir(dir);
	if (fsync(sp->queuefd) == -1)
		log_warn("fsync %s", SPOOL_QUEUE);
}

int
spool_state_write(
    struct spool *sp, uint64_t msgid, const struct rcpt_state *rs, uint32_t n)
{
	struct msg_writer w;
	char tmp[32];
	int fd, rv = -1;

	spool_state_name(msgid, SPOOL_STATE_TMP, tmp, sizeof(tmp));
	msg_writer_init(&w);
	spool_state_marshal(&w, msgid, rs, n);
	if (w.error) {
		log_warnx("%s/%s: cannot be encoded", SPOOL_QUEUE, tmp);
		msg_writer_free(&w);
		return -1;
	}
	if ((fd = openat(sp->queuefd, tmp,
		 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		 0600)) == -1) {
		log_warn("create %s/%s", SPOOL_QUEUE, tmp);
		msg_writer_free(&w);
		return -1;
	}
	if (write_all(fd, w.buf, w.len) == -1)
		log_warn("write %s/%s", SPOOL_QUEUE, tmp);
#ifndef __linux__
	/* without syncfs(), each file is flushed on its own */
	else if (fsync(fd) == -1)
		log_warn("fsync %s/%s", SPOOL_QUEUE, tmp);
#endif
	else
		rv = 0;
	close(fd);
	if (rv == -1)
		unlinkat(sp->queuefd, tmp, 0);
	msg_writer_free(&w);
	return rv;
}

int
spool_state_flush(struct spool *sp)
{
#ifdef __linux__
	return spool_sync(sp);
#else
	return 0; /* spool_state_write() flushed each */
#endif
}

int
spool_state_rename(struct spool *sp, uint64_t msgid)
{
	char tmp[32], name[32];

	spool_state_name(msgid, SPOOL_STATE_TMP, tmp, sizeof(tmp));
	spool_state_name(msgid, SPOOL_STATE_SUFFIX, name, sizeof(name));
	if (renameat(sp->queuefd, tmp, sp->queuefd, name) == 0)
		return 0;
	log_warn("rename %s/%s", SPOOL_QUEUE, tmp);
	unlinkat(sp->queuefd, tmp, 0);
	return -1;
}

int
spool_sync(struct spool *sp)
{
#ifdef __linux__
	if (syncfs(sp->queuefd) == 0)
		return 0;
	log_warn("syncfs");
	return -1;
#else
	if (fsync(sp->queuefd) == 0)
		return 0;
	log_warn("fsync %s", SPOOL_QUEUE);
	return -1;
#endif
}

int
spool_state_load(struct spool *sp, uint64_t msgid, struct rcpt_state *rs,
    uint32_t n, char *why, size_t whysz)
{
	struct stat st;
	uint8_t *buf;
	char name[32];
	size_t len;
	int fd, rv;

	spool_state_name(msgid, SPOOL_STATE_SUFFIX, name, sizeof(name));
	if ((fd = openat(sp->queuefd, name, SPOOL_OPEN_READ)) == -1) {
		rv = errno == ENOENT ? SPOOL_GONE
		    : errno == ELOOP ? SPOOL_BAD
				     : SPOOL_TEMP;
		snprintf(why, whysz, "open: %s", strerror(errno));
		return rv;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(why, whysz, "fstat: %s", strerror(errno));
		close(fd);
		return SPOOL_TEMP;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "not a regular file");
		close(fd);
		return SPOOL_BAD;
	}
	if ((uint64_t)st.st_size > spool_state_size_max(n)) {
		snprintf(why, whysz, "%lld bytes, too long for %u recipients",
		    (long long)st.st_size, n);
		close(fd);
		return SPOOL_BAD;
	}
	len = (size_t)st.st_size;
	if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
		snprintf(why, whysz, "%s", strerror(errno));
		close(fd);
		return SPOOL_TEMP;
	}
	if ((rv = spool_pread(fd, buf, len, 0)) != 0)
		snprintf(why, whysz, "%s",
		    rv == SPOOL_TEMP ? strerror(errno)
				     : "shorter than its size");
	else if (spool_state_unmarshal(buf, len, msgid, rs, n, why, whysz) ==
	    -1)
		rv = SPOOL_BAD;
	free(buf);
	close(fd);
	return rv;
}

void
spool_state_set_aside(struct spool *sp, uint64_t msgid)
{
	char name[32];

	spool_state_name(msgid, SPOOL_STATE_SUFFIX, name, sizeof(name));
	if (spool_rename(sp, name, SPOOL_CORRUPT) == -1)
		log_warn("move %s/%s to %s", SPOOL_QUEUE, name, SPOOL_CORRUPT);
	else
		log_warnx(
		    "%s/%s moved to %s/", SPOOL_QUEUE, name, SPOOL_CORRUPT);
}
