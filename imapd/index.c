/*
 * The per-folder index: a cache of what the Maildir holds, so that
 * opening a folder of 200,000 messages reads two small files instead of
 * 200,000 directory entries and files.
 *
 * Why a file format of our own and not Berkeley DB: the whole index is
 * needed in memory at open anyway (every session numbers every message),
 * so one sequential read of a flat snapshot is the cheapest possible
 * open; a B-tree would add a page cache, a lock region and per-record
 * overhead for lookups we never make.  What must be durable is small (a
 * UID given to a name), so an append-only log with one fdatasync per
 * batch is enough, and it is folded into the snapshot now and then.
 *
 * boxd.index, the snapshot (integers as msg_put_*() writes them):
 *	"BXIX" version uidvalidity uidnext highestmodseq new_mtime cur_mtime
 *	vanished_floor log_gen nmsgs nvanished
 *	nmsgs times: uid flags modseq size date in_new recent name
 *	nvanished times: first last modseq
 *	index_checksum() of all the octets before it
 * boxd.log, what changed since: "BXLG" gen, then records
 *	length type uid flags modseq size date in_new name crc32
 * A log belongs to the snapshot of the same generation: folding writes a
 * snapshot of the next generation first, then a fresh log, so a crash
 * between the two leaves a log that is ignored, never replayed twice.
 *
 * Neither file is trusted: every field is checked (names must be clean
 * Maildir names whose flags are the ones recorded, UIDs ascending and
 * below UIDNEXT, modseqs at most HIGHESTMODSEQ), and a snapshot that
 * fails anything is thrown away whole (the folder is then rebuilt from
 * the Maildir).  A log is replayed up to its first bad record: a torn
 * tail is what a crash leaves, and loses only modseqs and cached sizes,
 * since the Maildir's names stay the truth for flags.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd.h"

#define INDEX_MAGIC   0x42584958U /* "BXIX" */
#define INDEX_VERSION 1
#define LOG_MAGIC     0x42584c47U /* "BXLG" */
/* the QRESYNC memory: beyond this many ranges the oldest half goes */
#define VANISHED_MAX 8192
/* more messages than this in one folder is not a Maildir we open */
#define INDEX_MSGS_MAX (16U * 1024 * 1024)

void
index_state_init(struct index_state *st)
{
	memset(st, 0, sizeof(*st));
}

void
index_state_free(struct index_state *st)
{
	free(st->msgs);
	free(st->names);
	free(st->vanished);
	index_state_init(st);
}

int64_t
index_name_add(struct index_state *st, const char *name, size_t len)
{
	size_t cap, off;
	char *p;

	if (len > MAILDIR_NAME_MAX || st->names_len > UINT32_MAX - len - 1) {
		errno = ENOMEM;
		return -1;
	}
	if (st->names_len + len + 1 > st->names_cap) {
		cap = st->names_cap ? st->names_cap : 4096;
		while (cap < st->names_len + len + 1)
			cap *= 2;
		if ((p = realloc(st->names, cap)) == NULL)
			return -1;
		st->names = p;
		st->names_cap = cap;
	}
	off = st->names_len;
	memcpy(st->names + off, name, len);
	st->names[off + len] = '\0';
	st->names_len += len + 1;
	return (int64_t)off;
}

int
index_msgs_reserve(struct index_state *st, size_t n)
{
	struct mail_msg *p;

	if (n <= st->msgs_cap)
		return 0;
	if ((p = reallocarray(st->msgs, n, sizeof(*p))) == NULL)
		return -1;
	st->msgs = p;
	st->msgs_cap = n;
	return 0;
}

int
index_msg_append(struct index_state *st, const struct mail_msg *m)
{
	struct mail_msg *p;
	size_t cap;

	if (st->nmsgs == st->msgs_cap) {
		cap = st->msgs_cap ? st->msgs_cap * 2 : 256;
		if ((p = reallocarray(st->msgs, cap, sizeof(*p))) == NULL)
			return -1;
		st->msgs = p;
		st->msgs_cap = cap;
	}
	st->msgs[st->nmsgs++] = *m;
	return 0;
}

struct mail_msg *
index_msg_find(const struct index_state *st, uint32_t uid)
{
	size_t lo = 0, hi = st->nmsgs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->msgs[mid].uid == uid)
			return &st->msgs[mid];
		if (st->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
index_compact(struct index_state *st)
{
	size_t i, o = 0, live = 0, cap;
	char *names;

	for (i = 0; i < st->nmsgs; i++) {
		if (st->msgs[i].expunged)
			continue;
		live += st->msgs[i].name_len + 1;
		st->msgs[o++] = st->msgs[i];
	}
	st->nmsgs = o;
	/* renames leave old names behind: repack when half is waste */
	if (st->names_len < 65536 || live * 2 > st->names_len)
		return 0;
	cap = live + 4096;
	if ((names = malloc(cap)) == NULL)
		return -1;
	o = 0;
	for (i = 0; i < st->nmsgs; i++) {
		memcpy(names + o, st->names + st->msgs[i].name_off,
		    st->msgs[i].name_len + 1);
		st->msgs[i].name_off = (uint32_t)o;
		o += st->msgs[i].name_len + 1;
	}
	free(st->names);
	st->names = names;
	st->names_len = o;
	st->names_cap = cap;
	return 0;
}

int
index_vanished_add(struct index_state *st, uint32_t uid, uint64_t modseq)
{
	struct mail_uid_range *p, *last;
	size_t cap, drop;

	if (st->nvanished > 0) {
		last = &st->vanished[st->nvanished - 1];
		/* neighbours merge; RFC 7162 lets VANISHED say a bit more */
		if (uid == last->last + 1 || uid + 1 == last->first) {
			if (uid > last->last)
				last->last = uid;
			else
				last->first = uid;
			if (modseq > last->modseq)
				last->modseq = modseq;
			return 0;
		}
	}
	if (st->nvanished >= VANISHED_MAX) {
		drop = st->nvanished / 2;
		for (cap = 0; cap < drop; cap++)
			if (st->vanished[cap].modseq > st->vanished_floor)
				st->vanished_floor = st->vanished[cap].modseq;
		memmove(st->vanished, st->vanished + drop,
		    (st->nvanished - drop) * sizeof(*st->vanished));
		st->nvanished -= drop;
	}
	if (st->nvanished == st->vanished_cap) {
		cap = st->vanished_cap ? st->vanished_cap * 2 : 16;
		if ((p = reallocarray(st->vanished, cap, sizeof(*p))) == NULL)
			return -1;
		st->vanished = p;
		st->vanished_cap = cap;
	}
	st->vanished[st->nvanished].first = uid;
	st->vanished[st->nvanished].last = uid;
	st->vanished[st->nvanished].modseq = modseq;
	st->nvanished++;
	return 0;
}

/* a name as the index may hold it, with exactly these flags */
static int
index_name_check(
    const char *name, size_t len, uint32_t flags, uint16_t *baselen)
{
	size_t blen;
	uint32_t f;

	if (len == 0 || len > MAILDIR_NAME_MAX || strlen(name) != len ||
	    maildir_name_parse(name, &blen, &f) == -1 || f != flags)
		return -1;
	*baselen = (uint16_t)blen;
	return 0;
}

/* one message's fields, shared by the snapshot and the log */
static int
index_get_msg(struct msg_reader *r, struct index_state *st, struct mail_msg *m)
{
	uint8_t in_new, recent;
	uint32_t namelen;
	uint64_t date;
	int64_t off;

	memset(m, 0, sizeof(*m));
	if (msg_get_u32(r, &m->uid) == -1 || msg_get_u32(r, &m->flags) == -1 ||
	    msg_get_u64(r, &m->modseq) == -1 ||
	    msg_get_u64(r, &m->size) == -1 || msg_get_u64(r, &date) == -1 ||
	    msg_get_u8(r, &in_new) == -1 || msg_get_u8(r, &recent) == -1 ||
	    msg_get_u32(r, &namelen) == -1)
		return -1;
	if (in_new > 1 || recent > 1 || namelen == 0 ||
	    namelen > MAILDIR_NAME_MAX || namelen > r->left ||
	    (int64_t)date < 0)
		return -1;
	m->internal_date = (int64_t)date;
	m->in_new = in_new;
	m->recent = recent;
	if ((off = index_name_add(st, (const char *)r->p, namelen)) == -1)
		return -1;
	r->p += namelen;
	r->left -= namelen;
	m->name_off = (uint32_t)off;
	m->name_len = (uint16_t)namelen;
	if (index_name_check(
		st->names + off, namelen, m->flags, &m->base_len) == -1) {
		/* the arena takes it back */
		st->names_len = (size_t)off;
		return -1;
	}
	return 0;
}

static void
index_put_msg(struct msg_writer *w, const struct index_state *st,
    const struct mail_msg *m)
{

	msg_put_u32(w, m->uid);
	msg_put_u32(w, m->flags);
	msg_put_u64(w, m->modseq);
	msg_put_u64(w, m->size);
	msg_put_u64(w, (uint64_t)m->internal_date);
	msg_put_u8(w, m->in_new);
	msg_put_u8(w, m->recent);
	msg_put_u32(w, m->name_len);
	msg_put_data(w, mail_msg_name(st, m), m->name_len);
}

/*
 * The snapshot's checksum: it tells a torn or damaged file from a good
 * one (a hostile one is the field checks' job), at several times the
 * speed of CRC-32 over the tens of megabytes of a large folder's index.
 */
uint32_t
index_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (; len > 0; p++, len--) {
		h = (h ^ *p) * 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

int
index_parse(struct index_state *st, const void *buf, size_t len)
{
	struct msg_reader r;
	struct mail_msg m;
	uint32_t magic, version, nmsgs, nvan, crc, i;
	uint64_t newm, curm;

	index_state_init(st);
	if (len < 4)
		return -1;
	memcpy(&crc, (const uint8_t *)buf + len - 4, 4);
	if (index_checksum(buf, len - 4) != crc)
		return -1;
	msg_reader_init(&r, buf, len - 4);
	if (msg_get_u32(&r, &magic) == -1 || magic != INDEX_MAGIC ||
	    msg_get_u32(&r, &version) == -1 || version != INDEX_VERSION ||
	    msg_get_u32(&r, &st->uidvalidity) == -1 ||
	    msg_get_u32(&r, &st->uidnext) == -1 ||
	    msg_get_u64(&r, &st->highestmodseq) == -1 ||
	    msg_get_u64(&r, &newm) == -1 || msg_get_u64(&r, &curm) == -1 ||
	    msg_get_u64(&r, &st->vanished_floor) == -1 ||
	    msg_get_u32(&r, &st->log_gen) == -1 ||
	    msg_get_u32(&r, &nmsgs) == -1 || msg_get_u32(&r, &nvan) == -1)
		goto bad;
	st->new_mtime = (int64_t)newm;
	st->cur_mtime = (int64_t)curm;
	if (st->uidvalidity == 0 || st->uidnext == 0 ||
	    nmsgs > INDEX_MSGS_MAX || nvan > VANISHED_MAX ||
	    st->vanished_floor > st->highestmodseq)
		goto bad;
	/* each record is at least 39 octets: no allocation beyond the input */
	if (nmsgs > r.left / 39)
		goto bad;
	if ((st->msgs = reallocarray(
		 NULL, nmsgs ? nmsgs : 1, sizeof(*st->msgs))) == NULL)
		goto bad;
	st->msgs_cap = nmsgs ? nmsgs : 1;
	for (i = 0; i < nmsgs; i++) {
		if (index_get_msg(&r, st, &m) == -1 || m.uid == 0 ||
		    m.uid >= st->uidnext || m.modseq > st->highestmodseq ||
		    (i > 0 && m.uid <= st->msgs[i - 1].uid))
			goto bad;
		st->msgs[st->nmsgs++] = m;
	}
	if (nvan > r.left / 16)
		goto bad;
	for (i = 0; i < nvan; i++) {
		struct mail_uid_range v;

		if (msg_get_u32(&r, &v.first) == -1 ||
		    msg_get_u32(&r, &v.last) == -1 ||
		    msg_get_u64(&r, &v.modseq) == -1 || v.first == 0 ||
		    v.first > v.last || v.last >= st->uidnext ||
		    v.modseq > st->highestmodseq)
			goto bad;
		if (index_vanished_add(st, v.first, v.modseq) == -1)
			goto bad;
		/* a range added whole: the last entry holds its first */
		if (v.last > st->vanished[st->nvanished - 1].last)
			st->vanished[st->nvanished - 1].last = v.last;
	}
	if (msg_get_end(&r) == -1)
		goto bad;
	return 0;
bad:
	index_state_free(st);
	return -1;
}

int
index_serialize(const struct index_state *st, void **buf, size_t *len)
{
	struct msg_writer w;
	uint32_t crc, n = 0;
	size_t i;

	for (i = 0; i < st->nmsgs; i++)
		if (!st->msgs[i].expunged)
			n++;
	msg_writer_init(&w);
	msg_put_u32(&w, INDEX_MAGIC);
	msg_put_u32(&w, INDEX_VERSION);
	msg_put_u32(&w, st->uidvalidity);
	msg_put_u32(&w, st->uidnext);
	msg_put_u64(&w, st->highestmodseq);
	msg_put_u64(&w, (uint64_t)st->new_mtime);
	msg_put_u64(&w, (uint64_t)st->cur_mtime);
	msg_put_u64(&w, st->vanished_floor);
	msg_put_u32(&w, st->log_gen);
	msg_put_u32(&w, n);
	msg_put_u32(&w, (uint32_t)st->nvanished);
	for (i = 0; i < st->nmsgs; i++)
		if (!st->msgs[i].expunged)
			index_put_msg(&w, st, &st->msgs[i]);
	for (i = 0; i < st->nvanished; i++) {
		msg_put_u32(&w, st->vanished[i].first);
		msg_put_u32(&w, st->vanished[i].last);
		msg_put_u64(&w, st->vanished[i].modseq);
	}
	if (w.error) {
		msg_writer_free(&w);
		errno = ENOMEM;
		return -1;
	}
	crc = index_checksum(w.buf, w.len);
	msg_put_data(&w, &crc, sizeof(crc));
	if (w.error) {
		msg_writer_free(&w);
		errno = ENOMEM;
		return -1;
	}
	*buf = w.buf;
	*len = w.len;
	return 0;
}

/* a whole small file into memory: 0, -1 (ENOENT when it is not there) */
int
index_slurp(int dirfd, const char *name, void **buf, size_t *len, size_t max)
{
	struct stat sb;
	size_t off = 0;
	ssize_t n;
	char *p;
	int fd;

	*buf = NULL;
	*len = 0;
	/* not blocked by a FIFO in a Maildir copied in */
	if ((fd = openat(dirfd, name,
		 O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	if ((p = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (off < (size_t)sb.st_size) {
		n = read(fd, p + off, (size_t)sb.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	p[off] = '\0';
	*buf = p;
	*len = off;
	return 0;
}

int
index_read(int dirfd, struct index_state *st)
{
	size_t len;
	void *buf;
	int rc;

	index_state_init(st);
	if (index_slurp(dirfd, INDEX_FILE, &buf, &len, 1ULL << 31) == -1) {
		if (errno != ENOENT)
			log_warn("%s", INDEX_FILE);
		return -1;
	}
	if ((rc = index_parse(st, buf, len)) == -1)
		log_warnx("%s: damaged, rebuilt from the Maildir", INDEX_FILE);
	free(buf);
	return rc;
}

/* write octets to name through a temporary file, durably */
int
index_replace_file(int dirfd, const char *name, const void *buf, size_t len)
{
	char tmp[64];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = openat(dirfd, tmp,
		 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		 0600)) == -1)
		return -1;
	if (write_all(fd, buf, len) == -1 || fdatasync(fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1 || renameat(dirfd, tmp, dirfd, name) == -1) {
		saved = errno;
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return fsync(dirfd);
}

uint32_t
index_peek_uidvalidity(int dirfd)
{
	struct msg_reader r;
	uint32_t magic, version, uidvalidity;
	uint8_t head[12];
	ssize_t n;
	int fd;

	if ((fd = openat(
		 dirfd, INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head))
		return 0;
	msg_reader_init(&r, head, sizeof(head));
	if (msg_get_u32(&r, &magic) == -1 || magic != INDEX_MAGIC ||
	    msg_get_u32(&r, &version) == -1 ||
	    msg_get_u32(&r, &uidvalidity) == -1)
		return 0;
	return uidvalidity;
}

int
index_write(int dirfd, const struct index_state *st)
{
	size_t len;
	void *buf;
	int rc;

	if (index_serialize(st, &buf, &len) == -1)
		return -1;
	rc = index_replace_file(dirfd, INDEX_FILE, buf, len);
	free(buf);
	return rc;
}

void
index_log_header(struct msg_writer *w, uint32_t gen)
{
	msg_put_u32(w, LOG_MAGIC);
	msg_put_u32(w, gen);
}

int
index_log_put(struct msg_writer *w, enum index_log_type type,
    const struct index_state *st, const struct mail_msg *m)
{
	size_t start, lenpos;
	uint32_t crc, len;

	lenpos = w->len;
	msg_put_u32(w, 0);
	start = w->len;
	msg_put_u8(w, (uint8_t)type);
	index_put_msg(w, st, m);
	if (w->error)
		return -1;
	len = (uint32_t)(w->len - start);
	/* big-endian, as msg_get_u32() reads it back */
	w->buf[lenpos] = (uint8_t)(len >> 24);
	w->buf[lenpos + 1] = (uint8_t)(len >> 16);
	w->buf[lenpos + 2] = (uint8_t)(len >> 8);
	w->buf[lenpos + 3] = (uint8_t)len;
	crc = crc32_update(0, w->buf + start, len);
	msg_put_data(w, &crc, sizeof(crc));
	return w->error ? -1 : 0;
}

/* one log record applied to st: 0, -1 if it makes no sense there */
static int
index_log_apply(struct index_state *st, uint8_t type, struct mail_msg *m)
{
	struct mail_msg *old;

	if (m->uid == 0)
		return -1;
	switch (type) {
	case INDEX_LOG_NEW:
		if (m->uid < st->uidnext || m->uid == UINT32_MAX)
			return -1;
		if (index_msg_append(st, m) == -1)
			return -1;
		st->uidnext = m->uid + 1;
		break;
	case INDEX_LOG_FLAGS:
	case INDEX_LOG_INFO:
	case INDEX_LOG_EXPUNGE:
		if (m->uid >= st->uidnext)
			return -1;
		if ((old = index_msg_find(st, m->uid)) == NULL || old->expunged)
			return 0; /* gone since: nothing to do */
		if (type == INDEX_LOG_EXPUNGE) {
			old->expunged = 1;
			if (index_vanished_add(st, m->uid, m->modseq) == -1)
				return -1;
		} else if (type == INDEX_LOG_INFO) {
			old->size = m->size;
			old->internal_date = m->internal_date;
		} else {
			old->flags = m->flags;
			old->modseq = m->modseq;
			old->in_new = m->in_new;
			old->name_off = m->name_off;
			old->name_len = m->name_len;
			old->base_len = m->base_len;
			old->recent = m->recent;
		}
		break;
	default:
		return -1;
	}
	if (m->modseq > st->highestmodseq)
		st->highestmodseq = m->modseq;
	return 0;
}

int
index_log_replay(
    struct index_state *st, const void *buf, size_t len, size_t *goodlen)
{
	const uint8_t *p = buf;
	struct msg_reader r, rec;
	struct mail_msg m;
	uint32_t magic, gen, reclen, crc;
	uint8_t type;
	size_t names_mark;

	*goodlen = 0;
	msg_reader_init(&r, buf, len);
	if (msg_get_u32(&r, &magic) == -1 || magic != LOG_MAGIC ||
	    msg_get_u32(&r, &gen) == -1 || gen != st->log_gen)
		return -1;
	*goodlen = 8;
	for (;;) {
		if (msg_get_u32(&r, &reclen) == -1 || reclen > r.left ||
		    r.left - reclen < 4)
			break;
		memcpy(&crc, r.p + reclen, 4);
		if (crc32_update(0, r.p, reclen) != crc)
			break;
		msg_reader_init(&rec, r.p, reclen);
		names_mark = st->names_len;
		if (msg_get_u8(&rec, &type) == -1 ||
		    index_get_msg(&rec, st, &m) == -1 ||
		    msg_get_end(&rec) == -1 ||
		    index_log_apply(st, type, &m) == -1) {
			st->names_len = names_mark;
			break;
		}
		r.p += reclen + 4;
		r.left -= reclen + 4;
		*goodlen = (size_t)(r.p - p);
	}
	return index_compact(st);
}
