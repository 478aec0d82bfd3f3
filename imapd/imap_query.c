/*
 * SEARCH, SORT and THREAD over the selected mailbox: the engines'
 * accessor (struct search_msg_ops) over the store and the MIME code, a
 * cache per folder of the header fields the engines read most, and the
 * commands themselves, evaluated in slices so that a search that reads
 * every file does not hold up the other sessions of the process.
 *
 * The cache: a message's file never changes under its UID, so what was
 * read from it stays true for as long as the folder keeps its
 * UIDVALIDITY.  Each folder searched has one, shared by every session,
 * holding per UID the decoded envelope fields (each value up to
 * QUERY_VALUE_MAX octets; a longer one is read from the file again when
 * asked for), the parsed Date and the first address of From, To and Cc.
 * All folders' caches together stay under QUERY_CACHE_MAX octets: the
 * least recently used folder's goes first, and past the bound messages
 * are read from their files as if there were no cache.
 */

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "boxd.h"
#include "imapd.h"

#define QUERY_CACHE_MAX	  (32 * 1024 * 1024) /* octets, every folder */
#define QUERY_REPEAT_MAX  8		     /* values of one field cached */
#define QUERY_VALUE_MAX	  1024		     /* a cached header value, octets */
#define QUERY_SLICE_MS	  20	/* work before the others get their turn */
#define QUERY_CLOCK_EVERY 32	/* messages between looks at the clock */
#define QUERY_HEAD_READ	  16384 /* read, not mapped, for a header */

/* the fields cached: the envelope's and References */
enum query_field {
	QF_SUBJECT,
	QF_FROM,
	QF_SENDER,
	QF_REPLY_TO,
	QF_TO,
	QF_CC,
	QF_BCC,
	QF_DATE,
	QF_MESSAGE_ID,
	QF_IN_REPLY_TO,
	QF_REFERENCES,
	QF_NFIELDS,
	/* the first address of From, To and Cc: mailbox, host, name */
	QF_ADDR_FROM = QF_NFIELDS,
	QF_ADDR_TO,
	QF_ADDR_CC,
};

static const char *const query_field_names[QF_NFIELDS] = {"Subject", "From",
    "Sender", "Reply-To", "To", "Cc", "Bcc", "Date", "Message-ID",
    "In-Reply-To", "References"};

/*
 * An entry: a head, then records of one field value each, in the order
 * of the header: a field (enum query_field), flags, the value's length
 * (16 bits, little end first) and the value.
 */
struct query_entry_head {
	int64_t sent; /* the Date field, when sent_ok */
	int32_t tzoff;
	uint32_t len; /* octets of the records after the head */
	uint8_t sent_ok;
};

#define QREC_LONG 0x01 /* the value is longer than cached: read the file */
#define QREC_HEAD 4    /* field, flags, length */

/* one folder's cache */
struct query_cache {
	TAILQ_ENTRY(query_cache) entry; /* most recently used first */
	char *mailbox;			/* the user's "DOMAIN/USER" */
	char *folder;
	uint32_t uidvalidity;
	uint32_t *uids; /* open addressing by uid, 0 empty */
	uint32_t *offs; /* each uid's entry in the arena */
	size_t slots, nentries;
	char *arena;
	size_t len, cap;
	int users; /* jobs using it: not to be evicted */
};

TAILQ_HEAD(query_caches, query_cache);
static struct query_caches query_caches = TAILQ_HEAD_INITIALIZER(query_caches);
static size_t query_cache_total; /* octets of every cache */

enum query_kind {
	QUERY_SEARCH,
	QUERY_SORT,
	QUERY_THREAD,
};

struct query_job;

/* a message as the engines see it */
struct query_msg {
	struct query_job *job;
	uint32_t seq, uid;
	uint32_t flags; /* Maildir's, keywords included */
	int recent;
	uint64_t modseq;
};

struct query_job {
	struct imap_session *s;
	enum query_kind kind;
	int uid;
	struct search_program prog;
	struct search_context ctx;
	struct sort_program sort;
	enum thread_algorithm alg;
	int prefetch; /* read every match's entry while sliced */
	uint32_t count, next;
	struct query_msg *matches;
	size_t nmatches, cap;
	struct event *ev;
	struct query_cache *cache;
	int nomem;

	/* the message whose file is open: its head read, or all mapped */
	uint32_t file_seq; /* 0 none */
	int file_ok;
	char *text;
	size_t textlen, hdrlen;
	int whole;	       /* text is the whole file */
	size_t maplen;	       /* text is mapped, maplen octets */
	char *head;	       /* QUERY_HEAD_READ octets, for reading heads */
	struct evbuffer *body; /* its text as BODY searches it, if body_ok */
	int body_ok;

	/* an entry the cache did not take, for scratch_seq */
	uint32_t scratch_seq;
	char *scratch;
	size_t scratch_cap;

	struct evbuffer *tmp;
	struct evbuffer *entry; /* an entry being built */
};

static const struct search_msg_ops query_ops;

/* ---------------------------------------------------------------- cache */

static uint32_t
query_hash(uint32_t uid)
{
	return uid * 2654435761U;
}

static size_t
query_cache_size(const struct query_cache *c)
{
	return c->cap + c->slots * 2 * sizeof(uint32_t);
}

static void
query_cache_clear(struct query_cache *c)
{
	query_cache_total -= query_cache_size(c);
	free(c->uids);
	free(c->offs);
	free(c->arena);
	c->uids = c->offs = NULL;
	c->arena = NULL;
	c->slots = c->nentries = c->len = c->cap = 0;
}

static void
query_cache_free(struct query_cache *c)
{
	query_cache_clear(c);
	TAILQ_REMOVE(&query_caches, c, entry);
	free(c->mailbox);
	free(c->folder);
	free(c);
}

/* room for need more octets: evict other folders' caches, oldest first */
static int
query_cache_room(struct query_cache *keep, size_t need)
{
	struct query_cache *c, *prev;

	for (c = TAILQ_LAST(&query_caches, query_caches);
	     c != NULL && query_cache_total + need > QUERY_CACHE_MAX;
	     c = prev) {
		prev = TAILQ_PREV(c, query_caches, entry);
		if (c != keep && c->users == 0)
			query_cache_free(c);
	}
	return query_cache_total + need <= QUERY_CACHE_MAX ? 0 : -1;
}

/* the folder's cache, made empty when the folder's UIDVALIDITY changed */
static struct query_cache *
query_cache_get(const char *mailbox, const char *folder, uint32_t uidvalidity)
{
	struct query_cache *c;

	TAILQ_FOREACH(c, &query_caches, entry)
		if (strcmp(c->mailbox, mailbox) == 0 &&
		    strcmp(c->folder, folder) == 0)
			break;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return NULL;
		if ((c->mailbox = strdup(mailbox)) == NULL ||
		    (c->folder = strdup(folder)) == NULL) {
			free(c->mailbox);
			free(c);
			return NULL;
		}
		c->uidvalidity = uidvalidity;
		TAILQ_INSERT_HEAD(&query_caches, c, entry);
		return c;
	}
	TAILQ_REMOVE(&query_caches, c, entry);
	TAILQ_INSERT_HEAD(&query_caches, c, entry);
	if (c->uidvalidity != uidvalidity) {
		query_cache_clear(c);
		c->uidvalidity = uidvalidity;
	}
	return c;
}

static const char *
query_cache_find(const struct query_cache *c, uint32_t uid)
{
	size_t i;

	if (c->slots == 0)
		return NULL;
	for (i = query_hash(uid) & (c->slots - 1); c->uids[i] != 0;
	     i = (i + 1) & (c->slots - 1))
		if (c->uids[i] == uid)
			return c->arena + c->offs[i];
	return NULL;
}

static void
query_cache_slot_set(struct query_cache *c, uint32_t uid, uint32_t off)
{
	size_t i;

	for (i = query_hash(uid) & (c->slots - 1); c->uids[i] != 0;
	     i = (i + 1) & (c->slots - 1))
		;
	c->uids[i] = uid;
	c->offs[i] = off;
}

/* the table at twice its entries' count at least: 0, or -1 */
static int
query_cache_grow_table(struct query_cache *c)
{
	uint32_t *uids, *offs, *ouids = c->uids, *ooffs = c->offs;
	size_t slots, oslots = c->slots, i;

	if (c->nentries + 1 <= c->slots / 2)
		return 0;
	slots = c->slots ? c->slots * 2 : 1024;
	if (query_cache_room(c, slots * 2 * sizeof(uint32_t)) == -1)
		return -1;
	if ((uids = calloc(slots, sizeof(*uids))) == NULL)
		return -1;
	if ((offs = calloc(slots, sizeof(*offs))) == NULL) {
		free(uids);
		return -1;
	}
	c->uids = uids;
	c->offs = offs;
	c->slots = slots;
	for (i = 0; i < oslots; i++)
		if (ouids[i] != 0)
			query_cache_slot_set(c, ouids[i], ooffs[i]);
	free(ouids);
	free(ooffs);
	query_cache_total += (slots - oslots) * 2 * sizeof(uint32_t);
	return 0;
}

/* a copy of the entry kept for uid: its place, or NULL if it did not fit */
static const char *
query_cache_add(struct query_cache *c, uint32_t uid, const char *e, size_t len)
{
	size_t cap;
	char *arena;

	if (len > QUERY_CACHE_MAX || query_cache_grow_table(c) == -1)
		return NULL;
	if (c->len + len > c->cap) {
		cap = c->cap ? c->cap : 64 * 1024;
		while (cap < c->len + len)
			cap *= 2;
		/* near the bound, a little more rather than twice as much */
		if (query_cache_room(c, cap - c->cap) == -1) {
			cap = c->len + len + (c->len + len) / 8;
			if (query_cache_room(c, cap - c->cap) == -1)
				return NULL;
		}
		if ((arena = realloc(c->arena, cap)) == NULL)
			return NULL;
		query_cache_total += cap - c->cap;
		c->arena = arena;
		c->cap = cap;
	}
	memcpy(c->arena + c->len, e, len);
	query_cache_slot_set(c, uid, c->len);
	c->len += len;
	c->nentries++;
	return c->arena + c->len - len;
}

/*
 * Entries of UIDs the view no longer has are dropped once they are
 * as many as those it has: the cache follows expunges at a bounded cost.
 */
static void
query_cache_prune(struct query_cache *c, struct mailbox_view *view)
{
	struct query_cache fresh;
	struct query_entry_head h;
	const char *e;
	size_t i, len;

	if (c->nentries <= 2 * (size_t)mailbox_view_count(view) + 64)
		return;
	memset(&fresh, 0, sizeof(fresh));
	fresh.uidvalidity = c->uidvalidity;
	for (i = 0; i < c->slots; i++) {
		if (c->uids[i] == 0 || mailbox_view_seq(view, c->uids[i]) == 0)
			continue;
		e = c->arena + c->offs[i];
		memcpy(&h, e, sizeof(h));
		len = sizeof(h) + h.len;
		if (query_cache_add(&fresh, c->uids[i], e, len) == NULL)
			break;
	}
	query_cache_clear(c);
	c->uids = fresh.uids;
	c->offs = fresh.offs;
	c->slots = fresh.slots;
	c->nentries = fresh.nentries;
	c->arena = fresh.arena;
	c->len = fresh.len;
	c->cap = fresh.cap;
}

/* ---------------------------------------------------------------- files */

static void
query_file_close(struct query_job *job)
{
	evbuffer_drain(job->body, evbuffer_get_length(job->body));
	job->body_ok = 0;
	if (job->maplen > 0)
		munmap(job->text, job->maplen);
	job->text = NULL;
	job->maplen = job->textlen = job->hdrlen = 0;
	job->whole = 0;
	job->file_seq = 0;
	job->file_ok = 0;
}

/* the first octets of fd, up to QUERY_HEAD_READ: their count, or -1 */
static ssize_t
query_read_head(int fd, char *buf)
{
	size_t got = 0;
	ssize_t n;

	while (got < QUERY_HEAD_READ) {
		if ((n = read(fd, buf + got, QUERY_HEAD_READ - got)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

/*
 * The message's file: its header at least, or (whole) all of it.  A
 * header is read when it is short, which costs less than a mapping; the
 * rest is mapped.  0, or -1 when it cannot be read.
 */
static int
query_file_open(struct query_msg *m, int whole)
{
	struct query_job *job = m->job;
	struct stat st;
	ssize_t n;
	void *addr;
	int fd;

	if (job->file_seq == m->seq && (!job->file_ok || !whole || job->whole))
		return job->file_ok ? 0 : -1;
	query_file_close(job);
	job->file_seq = m->seq;
	if ((fd = mailbox_msg_open(job->s->mbox->view, m->seq)) == -1)
		return -1;
	if (!whole) {
		if (job->head == NULL &&
		    (job->head = malloc(QUERY_HEAD_READ)) == NULL) {
			job->nomem = 1;
			close(fd);
			return -1;
		}
		if ((n = query_read_head(fd, job->head)) == -1) {
			log_warn("search: read");
			close(fd);
			return -1;
		}
		job->hdrlen = message_header_len(job->head, n);
		/* the whole file, or a header that ends in it */
		if (n < QUERY_HEAD_READ || job->hdrlen < (size_t)n) {
			close(fd);
			job->text = job->head;
			job->textlen = n;
			job->whole = n < QUERY_HEAD_READ;
			job->file_ok = 1;
			return 0;
		}
	}
	if (fstat(fd, &st) == -1) {
		log_warn("search: fstat");
		close(fd);
		return -1;
	}
	if (st.st_size <= 0) {
		close(fd);
		job->text = (char *)"";
		job->textlen = job->hdrlen = 0;
		job->whole = job->file_ok = 1;
		return 0;
	}
	if ((uintmax_t)st.st_size > SIZE_MAX ||
	    (addr = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
		MAP_FAILED) {
		log_warn("search: mmap");
		close(fd);
		return -1;
	}
	close(fd);
	job->text = addr;
	job->textlen = job->maplen = st.st_size;
	job->hdrlen = message_header_len(job->text, job->textlen);
	job->whole = job->file_ok = 1;
	return 0;
}

/* a field's value decoded into job->tmp, as one block: NULL no memory */
static const char *
query_decode(struct query_job *job, const struct mime_field *f, size_t *len)
{
	const char *p;

	evbuffer_drain(job->tmp, evbuffer_get_length(job->tmp));
	if (mime_header_decode_buf(job->tmp, f->value, f->valuelen) == -1)
		return NULL;
	*len = evbuffer_get_length(job->tmp);
	if (*len == 0)
		return "";
	if ((p = (const char *)evbuffer_pullup(job->tmp, -1)) == NULL)
		return NULL;
	return p;
}

/* fields called name (every field as "Name: value" for NULL), decoded */
static int
query_file_header(
    struct query_msg *m, const char *name, search_text_cb cb, void *arg)
{
	struct query_job *job = m->job;
	struct mime_field f;
	const char *v;
	char *line;
	size_t pos = 0, len, namelen = name ? strlen(name) : 0;
	int stop;

	if (query_file_open(m, 0) == -1)
		return -1;
	while (mime_header_next(job->text, job->hdrlen, &pos, &f)) {
		if (name != NULL &&
		    (f.namelen != namelen ||
			strncasecmp(f.name, name, namelen) != 0))
			continue;
		if ((v = query_decode(job, &f, &len)) == NULL) {
			job->nomem = 1;
			return -1;
		}
		if (name != NULL) {
			if (cb(arg, v, len))
				break;
			continue;
		}
		if ((line = malloc(f.namelen + 2 + len)) == NULL) {
			job->nomem = 1;
			return -1;
		}
		memcpy(line, f.name, f.namelen);
		memcpy(line + f.namelen, ": ", 2);
		memcpy(line + f.namelen + 2, v, len);
		stop = cb(arg, line, f.namelen + 2 + len);
		free(line);
		if (stop)
			break;
	}
	return 0;
}

/* ---------------------------------------------------------------- entries */

static int
query_field_find(const char *name, size_t len)
{
	int i;

	for (i = 0; i < QF_NFIELDS; i++)
		if (strlen(query_field_names[i]) == len &&
		    strncasecmp(query_field_names[i], name, len) == 0)
			return i;
	return -1;
}

static int
query_rec_add(
    struct evbuffer *e, int field, int flags, const void *v, size_t len)
{
	unsigned char rec[QREC_HEAD];

	rec[0] = field;
	rec[1] = flags;
	rec[2] = len & 0xff;
	rec[3] = len >> 8;
	if (evbuffer_add(e, rec, sizeof(rec)) == -1 ||
	    (len > 0 && evbuffer_add(e, v, len) == -1))
		return -1;
	return 0;
}

/*
 * The first address of an address field as mailbox NUL host NUL name
 * NUL: as the ENVELOPE's first, a group's start (its name as mailbox, no
 * host) included, which is what SORT takes (RFC 5256 3, RFC 5957 3).
 */
static int
query_rec_address(struct evbuffer *e, int field, const struct mime_field *f)
{
	struct mime_addresses list;
	const struct mime_address *a = NULL;
	size_t i, lm, lh, ln;
	char *v;
	int rv = 0;

	if (mime_address_parse(f->value, f->valuelen, 1, &list) == -1)
		return -1;
	for (i = 0; i < list.n; i++)
		if (list.v[i].mailbox != NULL || list.v[i].host != NULL) {
			a = &list.v[i];
			break;
		}
	if (a != NULL) {
		lm = a->mailbox ? strlen(a->mailbox) : 0;
		lh = a->host ? strlen(a->host) : 0;
		ln = a->name ? strlen(a->name) : 0;
		if (lm + lh + ln + 3 > QUERY_VALUE_MAX)
			rv = query_rec_add(e, field, QREC_LONG, NULL, 0);
		else if ((v = malloc(lm + lh + ln + 3)) == NULL)
			rv = -1;
		else {
			memcpy(v, a->mailbox ? a->mailbox : "", lm + 1);
			memcpy(v + lm + 1, a->host ? a->host : "", lh + 1);
			memcpy(v + lm + lh + 2, a->name ? a->name : "", ln + 1);
			rv = query_rec_add(e, field, 0, v, lm + lh + ln + 3);
			free(v);
		}
	}
	mime_addresses_free(&list);
	return rv;
}

/*
 * The entry of the open message, built in out, its head (in place in
 * out, which the caller fills in) in *h: 0, or -1 no memory.
 */
static int
query_entry_build(
    struct query_job *job, struct evbuffer *out, struct query_entry_head *h)
{
	struct mime_field f;
	const char *v;
	size_t pos = 0, len;
	int field, seen_addr[3] = {0, 0, 0}, seen_date = 0, a, tzoff = 0;
	uint8_t count[QF_NFIELDS];

	memset(h, 0, sizeof(*h));
	memset(count, 0, sizeof(count));
	if (evbuffer_add(out, h, sizeof(*h)) == -1)
		return -1;
	while (mime_header_next(job->text, job->hdrlen, &pos, &f)) {
		if ((field = query_field_find(f.name, f.namelen)) == -1 ||
		    count[field] > QUERY_REPEAT_MAX)
			continue;
		if ((v = query_decode(job, &f, &len)) == NULL)
			return -1;
		/* a field given over and over is the file's to answer */
		if (count[field]++ == QUERY_REPEAT_MAX ||
		    len > QUERY_VALUE_MAX) {
			if (query_rec_add(out, field, QREC_LONG, NULL, 0) == -1)
				return -1;
		} else if (query_rec_add(out, field, 0, v, len) == -1)
			return -1;
		if (field == QF_DATE && !seen_date) {
			seen_date = 1;
			h->sent = mime_date_parse(f.value, f.valuelen, &tzoff);
			h->tzoff = tzoff;
			h->sent_ok = h->sent != -1;
		}
		a = field == QF_FROM ? 0
		    : field == QF_TO ? 1
		    : field == QF_CC ? 2
				     : -1;
		if (a != -1 && !seen_addr[a]) {
			seen_addr[a] = 1;
			if (query_rec_address(out, QF_ADDR_FROM + a, &f) == -1)
				return -1;
		}
	}
	h->len = evbuffer_get_length(out) - sizeof(*h);
	return 0;
}

/* the message's entry, from the cache or built: NULL if unreadable */
static const char *
query_entry(struct query_msg *m)
{
	struct query_job *job = m->job;
	struct query_entry_head h;
	struct evbuffer *e;
	const char *found = NULL;
	size_t len;
	char *p;

	if (job->cache != NULL &&
	    (found = query_cache_find(job->cache, m->uid)) != NULL)
		return found;
	if (job->scratch_seq == m->seq)
		return job->scratch;
	if (query_file_open(m, 0) == -1)
		return NULL;
	e = job->entry;
	evbuffer_drain(e, evbuffer_get_length(e));
	if (query_entry_build(job, e, &h) == -1 ||
	    (p = (char *)evbuffer_pullup(e, -1)) == NULL) {
		job->nomem = 1;
		return NULL;
	}
	memcpy(p, &h, sizeof(h));
	len = evbuffer_get_length(e);
	if (job->cache != NULL)
		found = query_cache_add(job->cache, m->uid, p, len);
	if (found == NULL) {
		if (len > job->scratch_cap) {
			free(job->scratch);
			job->scratch_cap = 0;
			job->scratch_seq = 0;
			if ((job->scratch = malloc(len)) == NULL) {
				job->nomem = 1;
				return NULL;
			}
			job->scratch_cap = len;
		}
		memcpy(job->scratch, p, len);
		job->scratch_seq = m->seq;
		found = job->scratch;
	}
	return found;
}

/*
 * The records of field in an entry, each given to cb: 0, 1 if one was
 * too long to be cached (the file must answer), -1 no entry.
 */
static int
query_entry_field(struct query_msg *m, int field, search_text_cb cb, void *arg)
{
	struct query_entry_head h;
	const unsigned char *e, *r, *end;
	size_t len;

	if ((e = (const unsigned char *)query_entry(m)) == NULL)
		return -1;
	memcpy(&h, e, sizeof(h));
	/* a long value makes the file answer for the field, all of it */
	for (r = e + sizeof(h), end = r + h.len; r < end;
	     r += QREC_HEAD + len) {
		len = r[2] | (size_t)r[3] << 8;
		if (r[0] == field && (r[1] & QREC_LONG))
			return 1;
	}
	for (r = e + sizeof(h); r < end; r += QREC_HEAD + len) {
		len = r[2] | (size_t)r[3] << 8;
		if (r[0] == field && cb(arg, (const char *)r + QREC_HEAD, len))
			break;
	}
	return 0;
}

/* ---------------------------------------------------------------- accessor */

static uint32_t
query_seq(void *msg)
{
	return ((struct query_msg *)msg)->seq;
}

static uint32_t
query_uid(void *msg)
{
	return ((struct query_msg *)msg)->uid;
}

static uint32_t
query_flags(void *msg)
{
	struct query_msg *m = msg;
	uint32_t f = 0;

	if (m->flags & MAILDIR_FLAG_SEEN)
		f |= SEARCH_FLAG_SEEN;
	if (m->flags & MAILDIR_FLAG_REPLIED)
		f |= SEARCH_FLAG_ANSWERED;
	if (m->flags & MAILDIR_FLAG_FLAGGED)
		f |= SEARCH_FLAG_FLAGGED;
	if (m->flags & MAIL_FLAG_DELETED)
		f |= SEARCH_FLAG_DELETED;
	if (m->flags & MAILDIR_FLAG_DRAFT)
		f |= SEARCH_FLAG_DRAFT;
	if (m->recent)
		f |= SEARCH_FLAG_RECENT;
	return f;
}

static int
query_keyword(void *msg, const char *name)
{
	struct query_msg *m = msg;
	int i;

	if ((i = mailbox_keyword(m->job->s->mbox->view, name, 0)) == -1)
		return 0;
	return (m->flags & MAILDIR_FLAG_KEYWORD('a' + i)) != 0;
}

static uint64_t
query_modseq(void *msg)
{
	return ((struct query_msg *)msg)->modseq;
}

static uint64_t
query_size(void *msg)
{
	struct query_msg *m = msg;
	uint64_t size;

	if (mailbox_msg_size(m->job->s->mbox->view, m->seq, &size) == -1)
		return 0;
	return size;
}

static int64_t
query_internal_date(void *msg, int *tzoff)
{
	struct query_msg *m = msg;
	int64_t when;

	/* the store keeps the instant, not the zone it was given in */
	*tzoff = 0;
	if (mailbox_msg_date(m->job->s->mbox->view, m->seq, &when) == -1)
		return 0;
	return when;
}

static int
query_sent_date(void *msg, int64_t *when, int *tzoff)
{
	struct query_entry_head h;
	const char *e;

	if ((e = query_entry(msg)) == NULL)
		return -1;
	memcpy(&h, e, sizeof(h));
	if (!h.sent_ok)
		return -1;
	*when = h.sent;
	*tzoff = h.tzoff;
	return 0;
}

/* an address field's value, then each of its addresses as local@host */
struct query_addr_match {
	search_text_cb cb;
	void *arg;
};

static int
query_addr_cb(void *arg, const char *text, size_t len)
{
	struct query_addr_match *am = arg;
	struct mime_addresses list;
	char *spec;
	size_t i;
	int found = 0;

	if (am->cb(am->arg, text, len))
		return 1;
	if (mime_address_parse(text, len, 0, &list) == -1)
		return 0;
	for (i = 0; i < list.n && !found; i++) {
		if (list.v[i].mailbox == NULL || list.v[i].host == NULL ||
		    asprintf(&spec, "%s@%s", list.v[i].mailbox,
			list.v[i].host) == -1)
			continue;
		found = am->cb(am->arg, spec, strlen(spec));
		free(spec);
	}
	mime_addresses_free(&list);
	return found;
}

/*
 * SEARCH FROM, TO, CC and BCC look in the ENVELOPE's addresses (RFC 3501
 * 6.4.4): "user@host" finds <user (comment)@ host> too, as the header's
 * text alone would not.
 */
static int
query_header(void *msg, const char *name, search_text_cb cb, void *arg)
{
	struct query_addr_match am = {cb, arg};
	int field, rv;

	field = name != NULL ? query_field_find(name, strlen(name)) : -1;
	if (field == QF_FROM || field == QF_SENDER || field == QF_REPLY_TO ||
	    field == QF_TO || field == QF_CC || field == QF_BCC) {
		cb = query_addr_cb;
		arg = &am;
	}
	if (field != -1 && (rv = query_entry_field(msg, field, cb, arg)) != 1)
		return rv;
	return query_file_header(msg, name, cb, arg);
}

static int
query_body(void *msg, search_text_cb cb, void *arg)
{
	struct query_msg *m = msg;
	struct query_job *job = m->job;
	const char *text;
	size_t len;

	struct mime_message *mime;

	if (query_file_open(m, 1) == -1)
		return -1;
	/* decoded once for every BODY and TEXT key of the program */
	if (!job->body_ok) {
		if ((mime = mime_parse(job->text, job->textlen)) == NULL) {
			job->nomem = 1;
			return -1;
		}
		if (mime_message_text(mime, job->body) == -1) {
			mime_free(mime);
			job->nomem = 1;
			return -1;
		}
		mime_free(mime);
		job->body_ok = 1;
	}
	/* the engine matches in pieces of its own */
	if ((len = evbuffer_get_length(job->body)) > 0) {
		if ((text = (const char *)evbuffer_pullup(job->body, -1)) ==
		    NULL) {
			job->nomem = 1;
			return -1;
		}
		(void)cb(arg, text, len);
	}
	return 0;
}

static int
query_address(void *msg, const char *field, struct search_address *a)
{
	struct query_msg *m = msg;
	struct query_entry_head h;
	const unsigned char *e, *r, *end;
	size_t len;
	int want;

	if (strcasecmp(field, "From") == 0)
		want = QF_ADDR_FROM;
	else if (strcasecmp(field, "To") == 0)
		want = QF_ADDR_TO;
	else if (strcasecmp(field, "Cc") == 0)
		want = QF_ADDR_CC;
	else
		return 1;
	if ((e = (const unsigned char *)query_entry(m)) == NULL)
		return -1;
	memcpy(&h, e, sizeof(h));
	for (r = e + sizeof(h), end = r + h.len; r < end;
	     r += QREC_HEAD + len) {
		len = r[2] | (size_t)r[3] << 8;
		if (r[0] != want)
			continue;
		if (r[1] & QREC_LONG) {
			/* too long to sort by anyway: as a blank one */
			a->mailbox = a->host = a->name = "";
			return 0;
		}
		a->mailbox = (const char *)r + QREC_HEAD;
		a->host = a->mailbox + strlen(a->mailbox) + 1;
		a->name = a->host + strlen(a->host) + 1;
		return 0;
	}
	return 1;
}

static const struct search_msg_ops query_ops = {
    .seq = query_seq,
    .uid = query_uid,
    .flags = query_flags,
    .keyword = query_keyword,
    .modseq = query_modseq,
    .size = query_size,
    .internal_date = query_internal_date,
    .sent_date = query_sent_date,
    .header = query_header,
    .body = query_body,
    .address = query_address,
};

/* ---------------------------------------------------------------- jobs */

static void
query_job_free(struct imap_session *s)
{
	struct query_job *job = s->job;

	if (job->ev != NULL)
		event_free(job->ev);
	query_file_close(job);
	if (job->cache != NULL)
		job->cache->users--;
	search_program_free(&job->prog);
	free(job->matches);
	free(job->scratch);
	free(job->head);
	evbuffer_free(job->tmp);
	evbuffer_free(job->body);
	evbuffer_free(job->entry);
	free(job);
}

static struct query_job *
query_job_new(struct imap_session *s, enum query_kind kind, int uid)
{
	struct query_job *job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	if ((job->tmp = evbuffer_new()) == NULL) {
		free(job);
		return NULL;
	}
	if ((job->body = evbuffer_new()) == NULL ||
	    (job->entry = evbuffer_new()) == NULL) {
		if (job->body != NULL)
			evbuffer_free(job->body);
		evbuffer_free(job->tmp);
		free(job);
		return NULL;
	}
	job->s = s;
	job->kind = kind;
	job->uid = uid;
	s->job = job;
	s->job_free = query_job_free;
	return job;
}

/* one message evaluated: 0, or -1 out of memory */
static int
query_step(struct query_job *job, uint32_t seq)
{
	struct mailbox_view *view = job->s->mbox->view;
	const struct mail_msg *mm;
	struct query_msg m, *grown;
	size_t cap;

	/* expunged by another session: it matches nothing */
	if ((mm = mailbox_view_msg(view, seq)) == NULL)
		return 0;
	memset(&m, 0, sizeof(m));
	m.job = job;
	m.seq = seq;
	m.uid = mm->uid;
	m.flags = mm->flags;
	m.modseq = mm->modseq;
	m.recent = mailbox_view_is_recent(view, seq);
	if (!search_match(&job->prog, &job->ctx, &m))
		return job->nomem ? -1 : 0;
	if (job->nmatches == job->cap) {
		cap = job->cap ? job->cap * 2 : 256;
		if ((grown = reallocarray(job->matches, cap, sizeof(*grown))) ==
		    NULL)
			return -1;
		job->matches = grown;
		job->cap = cap;
	}
	job->matches[job->nmatches++] = m;
	/* SORT and THREAD read the entry now, in slices, not all at once */
	if (job->prefetch && query_entry(&m) == NULL && job->nomem)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- answers */

static void
query_saved_set(struct imap_session *s, const uint32_t *uids, size_t n)
{
	uint32_t *copy = NULL;

	if (n > 0 && (copy = reallocarray(NULL, n, sizeof(*copy))) == NULL)
		n = 0;
	else if (n > 0)
		memcpy(copy, uids, n * sizeof(*copy));
	free(s->mbox->saved);
	s->mbox->saved = copy;
	s->mbox->nsaved = n;
}

/* the highest modseq of the matches */
static uint64_t
query_highest(const struct query_msg *v, size_t n)
{
	uint64_t best = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].modseq > best)
			best = v[i].modseq;
	return best;
}

static uint32_t
query_id(const struct query_job *job, const struct query_msg *m)
{
	return job->uid ? m->uid : m->seq;
}

static int
query_answer_esearch(struct query_job *job, int ret, struct evbuffer *out)
{
	struct imap_session *s = job->s;
	struct query_msg *v = job->matches;
	size_t n = job->nmatches, i;
	uint32_t *ids;
	uint64_t modseq;
	int rv;

	if (evbuffer_add_printf(out, "* ESEARCH (TAG \"%s\")%s", s->tag,
		job->uid ? " UID" : "") < 0)
		return -1;
	if (n > 0 && (ret & SEARCH_RETURN_MIN) &&
	    evbuffer_add_printf(out, " MIN %u", query_id(job, &v[0])) < 0)
		return -1;
	if (n > 0 && (ret & SEARCH_RETURN_MAX) &&
	    evbuffer_add_printf(out, " MAX %u", query_id(job, &v[n - 1])) < 0)
		return -1;
	if ((ret & SEARCH_RETURN_COUNT) &&
	    evbuffer_add_printf(out, " COUNT %zu", n) < 0)
		return -1;
	if (n > 0 && (ret & SEARCH_RETURN_ALL)) {
		if ((ids = reallocarray(NULL, n, sizeof(*ids))) == NULL)
			return -1;
		for (i = 0; i < n; i++)
			ids[i] = query_id(job, &v[i]);
		rv = evbuffer_add(out, " ALL ", 5);
		if (rv == 0)
			rv = imap_seqset_write(out, ids, n);
		free(ids);
		if (rv == -1)
			return -1;
	}
	if (job->prog.modseq && n > 0) {
		/* MIN and MAX alone: of the messages returned (RFC 7162) */
		if ((ret & (SEARCH_RETURN_ALL | SEARCH_RETURN_COUNT)) == 0) {
			modseq = 0;
			if (ret & SEARCH_RETURN_MIN)
				modseq = v[0].modseq;
			if ((ret & SEARCH_RETURN_MAX) &&
			    v[n - 1].modseq > modseq)
				modseq = v[n - 1].modseq;
		} else
			modseq = query_highest(v, n);
		if (evbuffer_add_printf(
			out, " MODSEQ %llu", (unsigned long long)modseq) < 0)
			return -1;
	}
	return evbuffer_add(out, "\r\n", 2);
}

static int
query_answer_search(struct query_job *job, struct evbuffer *out)
{
	struct imap_session *s = job->s;
	struct query_msg *v = job->matches;
	size_t n = job->nmatches, i;
	uint32_t *uids = NULL;
	int ret;

	ret = job->prog.esearch ? job->prog.ret : SEARCH_RETURN_ALL;
	if (ret & SEARCH_RETURN_SAVE) {
		/* MIN or MAX without ALL or COUNT: only those (RFC 5182) */
		if ((ret & (SEARCH_RETURN_MIN | SEARCH_RETURN_MAX)) != 0 &&
		    (ret & (SEARCH_RETURN_ALL | SEARCH_RETURN_COUNT)) == 0) {
			uint32_t mm[2];
			size_t k = 0;

			if (n > 0 && (ret & SEARCH_RETURN_MIN))
				mm[k++] = v[0].uid;
			if (n > 0 && (ret & SEARCH_RETURN_MAX) &&
			    (k == 0 || v[n - 1].uid != mm[0]))
				mm[k++] = v[n - 1].uid;
			query_saved_set(s, mm, k);
		} else {
			if (n > 0 &&
			    (uids = reallocarray(NULL, n, sizeof(*uids))) ==
				NULL)
				return -1;
			for (i = 0; i < n; i++)
				uids[i] = v[i].uid;
			free(s->mbox->saved);
			s->mbox->saved = n > 0 ? uids : NULL;
			s->mbox->nsaved = n;
		}
	}
	if (job->prog.esearch || s->rev2) {
		/* SAVE alone asks for no answer */
		if (ret == SEARCH_RETURN_SAVE)
			return 0;
		return query_answer_esearch(job, ret, out);
	}
	if (evbuffer_add(out, "* SEARCH", 8) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (evbuffer_add_printf(out, " %u", query_id(job, &v[i])) < 0)
			return -1;
	if (job->prog.modseq && n > 0 &&
	    evbuffer_add_printf(out, " (MODSEQ %llu)",
		(unsigned long long)query_highest(v, n)) < 0)
		return -1;
	return evbuffer_add(out, "\r\n", 2);
}

static int
query_answer_sort(struct query_job *job, struct evbuffer *out)
{
	size_t n = job->nmatches, i;
	uint32_t *ids = NULL;
	void **msgs = NULL;
	int rv = -1;

	if (n > 0 &&
	    ((msgs = reallocarray(NULL, n, sizeof(*msgs))) == NULL ||
		(ids = reallocarray(NULL, n, sizeof(*ids))) == NULL))
		goto done;
	for (i = 0; i < n; i++)
		msgs[i] = &job->matches[i];
	if (job->kind == QUERY_THREAD) {
		if (evbuffer_add(out, "* THREAD", 8) == -1 ||
		    (n > 0 && evbuffer_add(out, " ", 1) == -1) ||
		    (n > 0 &&
			thread_run(job->alg, &query_ops, msgs, n, job->uid,
			    out) == -1))
			goto done;
	} else {
		if ((n > 0 &&
			sort_run(&job->sort, &query_ops, msgs, n, job->uid,
			    ids) == -1) ||
		    evbuffer_add(out, "* SORT", 6) == -1)
			goto done;
		for (i = 0; i < n; i++)
			if (evbuffer_add_printf(out, " %u", ids[i]) < 0)
				goto done;
		if (job->prog.modseq && n > 0 &&
		    evbuffer_add_printf(out, " (MODSEQ %llu)",
			(unsigned long long)query_highest(job->matches, n)) < 0)
			goto done;
	}
	if (job->nomem)
		goto done;
	rv = evbuffer_add(out, "\r\n", 2);
done:
	free(msgs);
	free(ids);
	return rv;
}

static const char *const query_names[] = {"SEARCH", "SORT", "THREAD"};

/* the untagged answer, the news, the tagged answer */
static void
query_finish(struct query_job *job)
{
	struct imap_session *s = job->s;
	struct evbuffer *out;
	int rv = -1;

	query_file_close(job);
	if (!job->nomem && (out = evbuffer_new()) != NULL) {
		if (job->kind == QUERY_SEARCH)
			rv = query_answer_search(job, out);
		else
			rv = query_answer_sort(job, out);
		if (rv == 0 && job->nomem)
			rv = -1;
		if (rv == 0 && evbuffer_add_buffer(s->out, out) == -1)
			rv = -1;
		evbuffer_free(out);
	}
	if (rv == -1 && job->kind == QUERY_SEARCH &&
	    (job->prog.ret & SEARCH_RETURN_SAVE))
		query_saved_set(s, NULL, 0);
	imap_mbox_sync(s, job->uid);
	if (rv == -1)
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
	else
		imap_tagged(s, "OK", "%s%s completed", job->uid ? "UID " : "",
		    query_names[job->kind]);
}

/* evaluates messages for a slice of time: 1 when all are done */
static int
query_slice(struct query_job *job)
{
	uint64_t until = now_ms() + QUERY_SLICE_MS;
	uint32_t n = 0;

	while (job->next <= job->count) {
		if (++n % QUERY_CLOCK_EVERY == 0 && now_ms() >= until)
			return 0;
		if (query_step(job, job->next++) == -1) {
			job->nomem = 1;
			return 1;
		}
	}
	return 1;
}

static void
query_resume(evutil_socket_t fd, short events, void *arg)
{
	struct imap_session *s = arg;
	struct query_job *job = s->job;
	struct timeval tv = {0, 0};

	if (s->closing)
		return;
	if (!query_slice(job) && evtimer_add(job->ev, &tv) == 0)
		return;
	while (!query_slice(job))
		;
	query_finish(job);
	imap_cmd_job_done(s);
}

/* a parsed command runs: at once, or in slices while the others go on */
static void
query_start(struct imap_session *s, struct query_job *job)
{
	struct mailbox_view *view = s->mbox->view;
	struct timeval tv = {0, 0};

	if (job->prog.modseq && !s->condstore)
		imap_mbox_condstore(s);
	job->count = mailbox_view_count(view);
	job->next = 1;
	job->ctx.ops = &query_ops;
	job->ctx.nmsgs = job->count;
	job->ctx.uidmax = job->count ? mailbox_view_uid(view, job->count) : 0;
	job->ctx.saved = s->mbox->saved;
	job->ctx.nsaved = s->mbox->nsaved;
	job->ctx.now = time(NULL);
	search_prepare(&job->prog, &job->ctx);
	job->cache = query_cache_get(
	    s->user->mailbox, s->mbox->name, mailbox_view_uidvalidity(view));
	if (job->cache != NULL) {
		job->cache->users++;
		query_cache_prune(job->cache, view);
	}
	/* done at once, the job goes with the command */
	if (query_slice(job)) {
		query_finish(job);
		return;
	}
	if ((job->ev = evtimer_new(child->base, query_resume, s)) == NULL ||
	    evtimer_add(job->ev, &tv) == -1) {
		/* no timer: the rest in one go */
		while (!query_slice(job))
			;
		query_finish(job);
		return;
	}
	s->busy = 1;
}

/* ---------------------------------------------------------------- commands */

/* does SEARCH ask for RETURN (SAVE): then a failure empties the result */
static int
query_asks_save(const struct imap_command *cmd)
{
	size_t i;

	if (cmd->nargs < 2 || !imap_arg_is_atom(&cmd->args[0], "RETURN") ||
	    cmd->args[1].type != IMAP_ARG_LIST)
		return 0;
	for (i = 0; i < cmd->args[1].nlist; i++)
		if (imap_arg_is_atom(&cmd->args[1].list[i], "SAVE"))
			return 1;
	return 0;
}

/*
 * A program in a charset charset.c knows other than UTF-8 (CHARSET
 * ISO-8859-1, windows-1252, KOI8-R, ...): a copy of its arguments with
 * every string converted to UTF-8 and the charset named UTF-8, which is
 * what the engine parses.  Everything the copy allocates is in blocks.
 */
struct query_conv {
	const char *charset;
	void **blocks;
	size_t nblocks, cap;
	struct evbuffer *buf;
};

static void *
query_conv_alloc(struct query_conv *cv, size_t n, size_t size)
{
	void **grown, *p;
	size_t cap;

	if (cv->nblocks == cv->cap) {
		cap = cv->cap ? cv->cap * 2 : 16;
		if ((grown = reallocarray(cv->blocks, cap, sizeof(*grown))) ==
		    NULL)
			return NULL;
		cv->blocks = grown;
		cv->cap = cap;
	}
	if ((p = calloc(n ? n : 1, size)) == NULL)
		return NULL;
	cv->blocks[cv->nblocks++] = p;
	return p;
}

static void
query_conv_free(struct query_conv *cv)
{
	size_t i;

	for (i = 0; i < cv->nblocks; i++)
		free(cv->blocks[i]);
	free(cv->blocks);
	if (cv->buf != NULL)
		evbuffer_free(cv->buf);
}

/* in[0..n) copied to a new array, strings in UTF-8: NULL no memory */
static struct imap_arg *
query_conv_args(struct query_conv *cv, const struct imap_arg *in, size_t n)
{
	struct imap_arg *out;
	size_t i, len;
	char *str;

	if ((out = query_conv_alloc(cv, n, sizeof(*out))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		out[i] = in[i];
		if (in[i].type == IMAP_ARG_LIST) {
			/* the command parser bounds the nesting */
			if ((out[i].list = query_conv_args(
				 cv, in[i].list, in[i].nlist)) == NULL)
				return NULL;
			continue;
		}
		if (in[i].type != IMAP_ARG_STRING)
			continue;
		evbuffer_drain(cv->buf, evbuffer_get_length(cv->buf));
		if (charset_to_utf8(
			cv->charset, in[i].str, in[i].len, cv->buf) == -1)
			return NULL;
		len = evbuffer_get_length(cv->buf);
		if ((str = query_conv_alloc(cv, len + 1, 1)) == NULL)
			return NULL;
		evbuffer_remove(cv->buf, str, len);
		out[i].str = str;
		out[i].len = len;
	}
	return out;
}

/*
 * search_parse() of the program, converted first when its charset is
 * neither UTF-8 nor US-ASCII but one charset.c knows.
 */
static int
query_parse(struct query_job *job, const struct imap_arg *args, size_t nargs,
    int flags, char *err, size_t errsz)
{
	static const struct imap_arg utf8 = {
	    .type = IMAP_ARG_ATOM, .str = "UTF-8", .len = 5};
	struct query_conv cv;
	struct imap_arg *copy;
	const char *name;
	size_t pos = 0;
	int rv;

	if (flags & SEARCH_PARSE_RETURN) {
		if (nargs >= 2 && imap_arg_is_atom(&args[0], "RETURN"))
			pos = 2;
		if (pos >= nargs || !imap_arg_is_atom(&args[pos], "CHARSET"))
			pos = nargs;
		else
			pos++;
	}
	if (pos >= nargs || (name = imap_arg_astring(&args[pos])) == NULL ||
	    (name = charset_canonical(name)) == NULL ||
	    strcmp(name, "utf-8") == 0 || strcmp(name, "us-ascii") == 0)
		return search_parse(&job->prog, args, nargs, flags, err, errsz);
	memset(&cv, 0, sizeof(cv));
	cv.charset = name;
	if ((cv.buf = evbuffer_new()) == NULL ||
	    (copy = query_conv_args(&cv, args, nargs)) == NULL) {
		query_conv_free(&cv);
		(void)strlcpy(err, "out of memory", errsz);
		return SEARCH_BAD;
	}
	copy[pos] = utf8;
	rv = search_parse(&job->prog, copy, nargs, flags, err, errsz);
	query_conv_free(&cv);
	return rv;
}

/* the search program's result: 0 goes on, -1 answered */
static int
query_parse_result(struct imap_session *s, int rv, const char *err)
{
	if (rv == 0)
		return 0;
	if (rv == SEARCH_BADCHARSET)
		imap_tagged(s, "NO",
		    "[BADCHARSET (UTF-8 US-ASCII)] "
		    "Unsupported charset");
	else
		imap_tagged(
		    s, "BAD", "%s", err[0] ? err : "Bad search program");
	return -1;
}

void
imap_cmd_search(struct imap_session *s, struct imap_command *cmd)
{
	struct query_job *job;
	char err[128];
	int rv, save = query_asks_save(cmd);

	if ((job = query_job_new(s, QUERY_SEARCH, cmd->uid)) == NULL) {
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	rv = query_parse(
	    job, cmd->args, cmd->nargs, SEARCH_PARSE_RETURN, err, sizeof(err));
	if (rv != 0 && save)
		query_saved_set(s, NULL, 0);
	if (query_parse_result(s, rv, err) == -1)
		return;
	query_start(s, job);
}

/* SORT (criteria) charset keys; THREAD algorithm charset keys */
static void
query_sort_thread(
    struct imap_session *s, struct imap_command *cmd, enum query_kind kind)
{
	struct query_job *job;
	char err[128];
	size_t i;
	int rv;

	if (cmd->nargs < 3) {
		imap_tagged(s, "BAD", "%s needs %s, a charset and search keys",
		    query_names[kind],
		    kind == QUERY_SORT ? "criteria" : "an algorithm");
		return;
	}
	if ((job = query_job_new(s, kind, cmd->uid)) == NULL) {
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	err[0] = '\0';
	if (kind == QUERY_SORT) {
		if (sort_parse(&job->sort, &cmd->args[0], err, sizeof(err)) ==
		    -1) {
			query_parse_result(s, SEARCH_BAD, err);
			return;
		}
		/* only ARRIVAL and SIZE read nothing from the files */
		for (i = 0; i < job->sort.n; i++)
			if (job->sort.crit[i].key != SORT_ARRIVAL &&
			    job->sort.crit[i].key != SORT_SIZE)
				job->prefetch = 1;
	} else {
		if (thread_parse_algorithm(&cmd->args[0], &job->alg) == -1) {
			query_parse_result(
			    s, SEARCH_BAD, "Unknown threading algorithm");
			return;
		}
		job->prefetch = 1;
	}
	rv = query_parse(job, cmd->args + 1, cmd->nargs - 1,
	    SEARCH_PARSE_CHARSET, err, sizeof(err));
	if (query_parse_result(s, rv, err) == -1)
		return;
	query_start(s, job);
}

void
imap_cmd_sort(struct imap_session *s, struct imap_command *cmd)
{
	query_sort_thread(s, cmd, QUERY_SORT);
}

void
imap_cmd_thread(struct imap_session *s, struct imap_command *cmd)
{
	query_sort_thread(s, cmd, QUERY_THREAD);
}
