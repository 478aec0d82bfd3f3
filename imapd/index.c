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

/*
 * A name as the index may hold it: a Maildir name; the flags it shows may
 * be behind the message's (a STORE whose rename is still to come).
 */
static int
index_name_check(const char *name, size_t len, uint32_t flags,
    uint16_t *baselen, uint8_t *dirty)
{
	size_t blen;
	uint32_t f;

	if (len == 0 || len > MAILDIR_NAME_MAX || strlen(name) != len ||
	    maildir_name_parse(name, &blen, &f) == -1)
		return -1;
	*baselen = (uint16_t)blen;
	*dirty = f != flags;
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
	if (index_name_check(st->names + off, namelen, m->flags, &m->base_len,
		&m->dirty) == -1) {
		/* the arena takes it back */
		st->names_len = (size_t)off;
		return -1;
	}
	st->dirty |= m->dirty;
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
 * Computed piecewise, so that a snapshot is read and written in pieces
 * (a large folder's index is never all in memory twice).
 */
struct index_sum {
	uint64_t h;
	uint8_t part[8];
	size_t npart;
};

static void
index_sum_init(struct index_sum *s, size_t len)
{
	s->h = 0x9e3779b97f4a7c15ULL ^ len;
	s->npart = 0;
}

static void
index_sum_word(struct index_sum *s, const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	s->h = (s->h ^ w) * 0xff51afd7ed558ccdULL;
	s->h ^= s->h >> 32;
}

static void
index_sum_add(struct index_sum *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (s->npart > 0 && s->npart < 8 && len > 0) {
		s->part[s->npart++] = *p++;
		len--;
	}
	if (s->npart == 8) {
		index_sum_word(s, s->part);
		s->npart = 0;
	}
	for (; len >= 8; p += 8, len -= 8)
		index_sum_word(s, p);
	if (len > 0) {
		memcpy(s->part, p, len);
		s->npart = len;
	}
}

static uint32_t
index_sum_end(struct index_sum *s)
{
	uint64_t h = s->h;
	size_t i;

	for (i = 0; i < s->npart; i++) {
		h = (h ^ s->part[i]) * 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

uint32_t
index_checksum(const void *buf, size_t len)
{
	struct index_sum s;

	index_sum_init(&s, len);
	index_sum_add(&s, buf, len);
	return index_sum_end(&s);
}

/*
 * A snapshot's octets as the parser takes them: all in memory, or read
 * from a file a window at a time (summed as they come in).
 */
#define INDEX_WINDOW  (256U * 1024)
#define INDEX_REC_MAX (38U + MAILDIR_NAME_MAX)

struct index_in {
	int fd; /* -1: the whole body is in r */
	uint8_t *buf;
	struct msg_reader r; /* what of the window is not parsed yet */
	uint64_t unread;     /* body octets still in the file */
	struct index_sum sum;
};

/* at least need octets in the window, or all there are: 0, -1 */
static int
index_in_fill(struct index_in *in, size_t need)
{
	size_t have = in->r.left, want;
	ssize_t n;

	if (have >= need || in->unread == 0)
		return 0;
	memmove(in->buf, in->r.p, have);
	while (have < INDEX_WINDOW && in->unread > 0) {
		want = INDEX_WINDOW - have;
		if (want > in->unread)
			want = (size_t)in->unread;
		if ((n = read(in->fd, in->buf + have, want)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		index_sum_add(&in->sum, in->buf + have, (size_t)n);
		have += (size_t)n;
		in->unread -= (size_t)n;
	}
	msg_reader_init(&in->r, in->buf, have);
	return 0;
}

/* the octets not yet parsed, in the window and after it */
static uint64_t
index_in_left(const struct index_in *in)
{
	return in->r.left + in->unread;
}

/* the snapshot's fields, after its checksum was found good or is summed */
static int
index_parse_in(struct index_state *st, struct index_in *in)
{
	struct msg_reader *r = &in->r;
	struct mail_msg m;
	uint32_t magic, version, nmsgs, nvan, i;
	uint64_t newm, curm;

	if (index_in_fill(in, 60) == -1 || msg_get_u32(r, &magic) == -1 ||
	    magic != INDEX_MAGIC || msg_get_u32(r, &version) == -1 ||
	    version != INDEX_VERSION ||
	    msg_get_u32(r, &st->uidvalidity) == -1 ||
	    msg_get_u32(r, &st->uidnext) == -1 ||
	    msg_get_u64(r, &st->highestmodseq) == -1 ||
	    msg_get_u64(r, &newm) == -1 || msg_get_u64(r, &curm) == -1 ||
	    msg_get_u64(r, &st->vanished_floor) == -1 ||
	    msg_get_u32(r, &st->log_gen) == -1 ||
	    msg_get_u32(r, &nmsgs) == -1 || msg_get_u32(r, &nvan) == -1)
		return -1;
	st->new_mtime = (int64_t)newm;
	st->cur_mtime = (int64_t)curm;
	if (st->uidvalidity == 0 || st->uidnext == 0 ||
	    nmsgs > INDEX_MSGS_MAX || nvan > VANISHED_MAX ||
	    st->vanished_floor > st->highestmodseq)
		return -1;
	/* each record is at least 39 octets: no allocation beyond the input */
	if (nmsgs > index_in_left(in) / 39)
		return -1;
	if ((st->msgs = reallocarray(
		 NULL, nmsgs ? nmsgs : 1, sizeof(*st->msgs))) == NULL)
		return -1;
	st->msgs_cap = nmsgs ? nmsgs : 1;
	for (i = 0; i < nmsgs; i++) {
		if (index_in_fill(in, INDEX_REC_MAX) == -1 ||
		    index_get_msg(r, st, &m) == -1 || m.uid == 0 ||
		    m.uid >= st->uidnext || m.modseq > st->highestmodseq ||
		    (i > 0 && m.uid <= st->msgs[i - 1].uid))
			return -1;
		st->msgs[st->nmsgs++] = m;
	}
	if (nvan > index_in_left(in) / 16)
		return -1;
	for (i = 0; i < nvan; i++) {
		struct mail_uid_range v;

		if (index_in_fill(in, 16) == -1 ||
		    msg_get_u32(r, &v.first) == -1 ||
		    msg_get_u32(r, &v.last) == -1 ||
		    msg_get_u64(r, &v.modseq) == -1 || v.first == 0 ||
		    v.first > v.last || v.last >= st->uidnext ||
		    v.modseq > st->highestmodseq)
			return -1;
		if (index_vanished_add(st, v.first, v.modseq) == -1)
			return -1;
		/* a range added whole: the last entry holds its first */
		if (v.last > st->vanished[st->nvanished - 1].last)
			st->vanished[st->nvanished - 1].last = v.last;
	}
	if (in->unread != 0 || msg_get_end(r) == -1)
		return -1;
	return 0;
}

int
index_parse(struct index_state *st, const void *buf, size_t len)
{
	struct index_in in;
	uint32_t crc;

	index_state_init(st);
	if (len < 4)
		return -1;
	memcpy(&crc, (const uint8_t *)buf + len - 4, 4);
	if (index_checksum(buf, len - 4) != crc)
		return -1;
	memset(&in, 0, sizeof(in));
	in.fd = -1;
	msg_reader_init(&in.r, buf, len - 4);
	if (index_parse_in(st, &in) == -1) {
		index_state_free(st);
		return -1;
	}
	return 0;
}

/* a snapshot from its file, a window at a time: 0, -1 */
static int
index_parse_fd(struct index_state *st, int fd)
{
	struct index_in in;
	struct stat sb;
	uint32_t crc;
	int rc = -1;

	index_state_init(st);
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_size < 4 ||
	    (uint64_t)sb.st_size > (1ULL << 31))
		return -1;
	memset(&in, 0, sizeof(in));
	in.fd = fd;
	in.unread = (uint64_t)sb.st_size - 4;
	index_sum_init(&in.sum, (size_t)in.unread);
	if ((in.buf = malloc(INDEX_WINDOW)) == NULL)
		return -1;
	msg_reader_init(&in.r, in.buf, 0);
	/* the fields are checked as they come, the checksum at the end */
	if (index_parse_in(st, &in) == 0 &&
	    read(fd, &crc, sizeof(crc)) == (ssize_t)sizeof(crc) &&
	    crc == index_sum_end(&in.sum))
		rc = 0;
	free(in.buf);
	if (rc == -1)
		index_state_free(st);
	return rc;
}

/* the octets of st's snapshot before its checksum */
static size_t
index_snapshot_len(const struct index_state *st)
{
	size_t len = 60, i;

	for (i = 0; i < st->nmsgs; i++)
		if (!st->msgs[i].expunged)
			len += 38 + st->msgs[i].name_len;
	return len + st->nvanished * 16;
}

/* written out a window at a time when fd is not -1: 0, -1 */
static int
index_out_flush(struct msg_writer *w, int fd, struct index_sum *sum, int all)
{
	if (w->error) {
		errno = ENOMEM;
		return -1;
	}
	if (fd == -1 || (!all && w->len < INDEX_WINDOW))
		return 0;
	if (write_all(fd, w->buf, w->len) == -1)
		return -1;
	index_sum_add(sum, w->buf, w->len);
	w->len = 0;
	return 0;
}

/* the snapshot of st but its checksum, into w or through it to fd */
static int
index_put_body(const struct index_state *st, struct msg_writer *w, int fd,
    struct index_sum *sum)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < st->nmsgs; i++)
		if (!st->msgs[i].expunged)
			n++;
	msg_put_u32(w, INDEX_MAGIC);
	msg_put_u32(w, INDEX_VERSION);
	msg_put_u32(w, st->uidvalidity);
	msg_put_u32(w, st->uidnext);
	msg_put_u64(w, st->highestmodseq);
	msg_put_u64(w, (uint64_t)st->new_mtime);
	msg_put_u64(w, (uint64_t)st->cur_mtime);
	msg_put_u64(w, st->vanished_floor);
	msg_put_u32(w, st->log_gen);
	msg_put_u32(w, n);
	msg_put_u32(w, (uint32_t)st->nvanished);
	for (i = 0; i < st->nmsgs; i++) {
		if (st->msgs[i].expunged)
			continue;
		index_put_msg(w, st, &st->msgs[i]);
		if (index_out_flush(w, fd, sum, 0) == -1)
			return -1;
	}
	for (i = 0; i < st->nvanished; i++) {
		msg_put_u32(w, st->vanished[i].first);
		msg_put_u32(w, st->vanished[i].last);
		msg_put_u64(w, st->vanished[i].modseq);
	}
	return index_out_flush(w, fd, sum, 1);
}

int
index_serialize(const struct index_state *st, void **buf, size_t *len)
{
	struct msg_writer w;
	uint32_t crc;

	msg_writer_init(&w);
	if (index_put_body(st, &w, -1, NULL) == -1) {
		msg_writer_free(&w);
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
	int fd, rc;

	index_state_init(st);
	if ((fd = openat(
		 dirfd, INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno != ENOENT)
			log_warn("%s", INDEX_FILE);
		return -1;
	}
	if ((rc = index_parse_fd(st, fd)) == -1)
		log_warnx("%s: damaged, rebuilt from the Maildir", INDEX_FILE);
	close(fd);
	return rc;
}

/* name's temporary file, created empty: its fd, or -1 */
static int
index_tmp_open(int dirfd, const char *name, char *tmp, size_t tmplen)
{
	if (snprintf(tmp, tmplen, "%s.tmp", name) >= (int)tmplen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return openat(dirfd, tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* the temporary file made durable and renamed to name (ok), or removed */
static int
index_tmp_commit(int dirfd, const char *name, const char *tmp, int fd, int ok)
{
	int saved;

	if (!ok || fdatasync(fd) == -1) {
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

/* write octets to name through a temporary file, durably */
int
index_replace_file(int dirfd, const char *name, const void *buf, size_t len)
{
	char tmp[64];
	int fd;

	if ((fd = index_tmp_open(dirfd, name, tmp, sizeof(tmp))) == -1)
		return -1;
	return index_tmp_commit(
	    dirfd, name, tmp, fd, write_all(fd, buf, len) != -1);
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
	struct msg_writer w;
	struct index_sum sum;
	char tmp[64];
	uint32_t crc;
	int fd, ok;

	if ((fd = index_tmp_open(dirfd, INDEX_FILE, tmp, sizeof(tmp))) == -1)
		return -1;
	/* a window at a time: a large folder's snapshot is not made whole */
	msg_writer_init(&w);
	index_sum_init(&sum, index_snapshot_len(st));
	ok = index_put_body(st, &w, fd, &sum) == 0;
	if (ok) {
		crc = index_sum_end(&sum);
		ok = write_all(fd, &crc, sizeof(crc)) != -1;
	}
	msg_writer_free(&w);
	return index_tmp_commit(dirfd, INDEX_FILE, tmp, fd, ok);
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
			old->dirty = m->dirty;
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
