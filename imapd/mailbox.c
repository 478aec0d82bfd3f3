/*
 * The mail store as the sessions see it: one struct mailbox per open
 * folder, shared by every session that selected it, each session with
 * its own view (its sequence numbers, its place in the list of changes).
 *
 * The Maildir is the truth: a message is its file, identified by its
 * base name (what precedes ":2,"); its flags are its name.  The index
 * (index.c) maps base names to UIDs and keeps what is costly to learn
 * again.
 *
 * Except for a moment after a STORE: the new flags go to the index (a
 * log record written before the OK) and the renames follow once the
 * reply is out, in slices between other work, so that a client setting
 * flags on a whole folder does not wait for ten thousand renames.  Such
 * a message is "dirty": its flags are ahead of its name.  A scan keeps
 * the index's flags while the file still has the name the index knows;
 * a file renamed meanwhile by another writer (a new name) wins.  After
 * a crash the log holds the dirty flags and the renames resume; the
 * last view out, and the end of the process, rename what is left.  A folder is
 * scanned (readdir of new/ and cur/) when it is opened and its directories'
 * mtimes differ from the index's, and while it is open whenever inotify reports
 * a change that is not our own: a known base under another name keeps its UID
 * and takes the new flags, a base no longer there is expunged, an unknown one
 * gets UIDNEXT.
 *
 * Changes are renames (or unlinks) first and index records after, so a
 * crash leaves the Maildir right and the index at worst behind, which
 * the next scan repairs.  A UID is made durable (the log fdatasync'd)
 * before any session may report it.
 *
 * Every change is also an event in the mailbox's list: a view hears of
 * the events after its place when it syncs, in order, and the events
 * every view has passed are dropped.
 */

#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "imapd.h"

/* fold the log into a new snapshot beyond this size */
#define LOG_FOLD_SIZE (4U * 1024 * 1024)
/* write buffered log records out beyond this */
#define LOG_FLUSH_SIZE (64U * 1024)
/* this many new messages in one scan go to a snapshot, not the log */
#define SCAN_FOLD_NEW 1000
/*
 * A directory changed this recently may change again within the same
 * mtime tick: a few ms where mtimes have nanoseconds, a second where
 * they have whole seconds (then a whole-second mtime is taken as such).
 */
#define MTIME_SETTLE_NS	       (50LL * 1000000)
#define MTIME_SETTLE_COARSE_NS (2LL * 1000000000)
/* dovecot-uidlist once boxd has given UIDs it does not know */
#define UIDLIST_RETIRED "dovecot-uidlist.boxd"
/* the last UIDVALIDITY given, in the user's Maildir */
#define MAIL_USER_UIDVALIDITY "boxd-uidvalidity"
/* drain inotify after this many changes of our own, before it overflows */
#define DRAIN_EVERY 2048
/* how long changes seen through inotify wait to be taken in together */
#define RESCAN_DELAY_MS 20
/* STORE's renames: after the reply, in slices of this much time */
#define FLUSH_DELAY_US 1000
#define FLUSH_SLICE_NS (5LL * 1000000)

enum box_event_type { EV_NEW, EV_FLAGS, EV_EXPUNGE };

struct box_event {
	uint32_t uid;
	uint8_t type;
	uint64_t origin; /* the view that did it (0 none), not told again */
};

struct cache_ent {
	uint32_t uid; /* 0: a free slot */
	uint32_t what;
	uint64_t off;
	uint32_t len;
};

/* its hash kept beside the index: a probe reads no message or name */
struct hash_slot {
	uint32_t idx; /* in st.msgs, + 1; 0 empty */
	uint32_t h;
};

struct mailbox {
	TAILQ_ENTRY(mailbox) entry;
	struct mail_user *user;
	char folder[MAILDIR_NAME_MAX + 1];
	char dir[MAILDIR_NAME_MAX + 2]; /* "." or ".Name", on disk */
	int dirfd;
	int logfd;
	int watching; /* 0: no inotify, every open and sync rescans */
	int dirty;    /* a change not our own is pending: rescan */
	struct event *rescanev, *notifyev, *flushev;
	size_t flush_lo; /* no dirty message below this index (SIZE_MAX) */
	struct index_state st;
	struct keywords kw;
	struct msg_writer logw; /* records not yet written */
	size_t log_size;
	int changed;		  /* since the last snapshot */
	uint32_t old_uidvalidity; /* of a snapshot found damaged, or 0 */
	unsigned int own_changes; /* since inotify was last read */
	int nolog;		  /* a scan that ends in a new snapshot */
	int maybe_new; /* messages may be in new/: box_move_new() looks */
	int building;  /* a fresh scan gives UIDs: see box_uidlist_retire() */
	int uidlist_retired;	/* or known to be absent */
	struct hash_slot *hash; /* base name -> msgs index */
	size_t hash_size;
	size_t hash_want; /* messages the next hash should have room for */
	struct box_event *ev;
	size_t nev, ev_cap;
	uint64_t ev_first; /* the absolute number of ev[0] */
	TAILQ_HEAD(, mailbox_view) views;
	int refs; /* views and appends and status calls under way */
	/* the last cached text handed out */
	char *cached;
	/* boxd.cache, loaded at the first use */
	int cache_loaded, cachefd;
	uint64_t cache_end;
	struct cache_ent *cache; /* (uid, what) -> text in the file */
	size_t cache_n, cache_size;
};

struct mailbox_view {
	TAILQ_ENTRY(mailbox_view) entry;
	struct mailbox *box;
	uint64_t id;
	uint32_t *uids; /* seq - 1 -> uid */
	size_t n, cap;
	size_t hint;	  /* st.msgs index of the last message looked up */
	uint32_t *recent; /* ascending uids */
	size_t nrecent, recent_cap;
	uint64_t evpos;
	int lost; /* fell behind: told, and hears nothing more */
	int readonly;
	const struct mailbox_view_ops *ops;
	void *arg;
	void (*watch)(void *);
	void *watch_arg;
};

struct mail_user {
	TAILQ_ENTRY(mail_user) entry;
	int refs;
	int dirfd;
	char mailbox[MAILDIR_NAME_MAX * 2 + 2];
	uint64_t quota;
	uint32_t uidvalidity; /* the last one given to a folder */
	TAILQ_HEAD(, mailbox) boxes;
	/*
	 * The folder of the last APPEND stays open while the user has a
	 * session, so that a client appending many messages to a folder it
	 * has not selected pays for opening it (index, scan) once, not per
	 * message.
	 */
	struct mailbox *held;
};

struct mail_append {
	struct mail_user *user;
	struct mailbox *box;
	int fd;
	char tmpname[MAILDIR_NAME_MAX + 1];
};

static TAILQ_HEAD(, mail_user) mail_users = TAILQ_HEAD_INITIALIZER(mail_users);
static struct event_base *mail_base;
static const char *mail_root;
static int ino_fd = -1;
static struct event *ino_ev;
static mailbox_compute_fn mail_compute;
static uint64_t view_ids;
static uint32_t unique_counter;

static void box_put(struct mailbox *);
static int box_refresh(struct mailbox *);
static void box_flush(struct mailbox *, int64_t);
static void box_flush_cb(int, short, void *);
static void box_flush_later(struct mailbox *, size_t);
static void box_rescan_cb(int, short, void *);

void
mailbox_init(struct event_base *base, const char *rootpath)
{
	/* inotify's event belongs to the base it was made on */
	if (ino_ev != NULL && base != mail_base) {
		event_free(ino_ev);
		ino_ev = NULL;
	}
	mail_base = base;
	mail_root = rootpath;
}

void
mailbox_set_compute(mailbox_compute_fn fn)
{
	mail_compute = fn;
}

/* ---- users */

struct mail_user *
mail_user_get(int rootfd, const char *mailbox, uint64_t quota)
{
	struct mail_user *u;
	int fd;

	TAILQ_FOREACH(u, &mail_users, entry)
		if (strcmp(u->mailbox, mailbox) == 0) {
			u->refs++;
			u->quota = quota;
			return u;
		}
	if (!envelope_mailbox_valid(mailbox) ||
	    strlen(mailbox) >= sizeof(u->mailbox)) {
		errno = EINVAL;
		return NULL;
	}
	if ((fd = openat(rootfd, mailbox,
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		close(fd);
		return NULL;
	}
	u->refs = 1;
	u->dirfd = fd;
	u->quota = quota;
	strlcpy(u->mailbox, mailbox, sizeof(u->mailbox));
	TAILQ_INIT(&u->boxes);
	TAILQ_INSERT_TAIL(&mail_users, u, entry);
	return u;
}

void
mail_user_put(struct mail_user *u)
{
	struct mailbox *held;

	if (u == NULL)
		return;
	/* the last session leaves: the held folder is closed with it */
	if (u->refs == 2 && (held = u->held) != NULL && held->refs == 1) {
		u->held = NULL;
		box_put(held);
	}
	if (--u->refs > 0)
		return;
	TAILQ_REMOVE(&mail_users, u, entry);
	close(u->dirfd);
	free(u);
}

void
mail_user_release(struct mail_user *u)
{
	struct mailbox *held = u->held;

	if (held == NULL)
		return;
	u->held = NULL;
	box_put(held);
}

uint64_t
mail_user_quota(struct mail_user *u)
{
	return u->quota;
}

/*
 * A UIDVALIDITY none of the user's folders had before, at least floor: a
 * folder deleted and made again within a second must not get its old one
 * back with its UIDs given anew (RFC 3501 2.3.1.1), so the last one given
 * is kept in the user's Maildir, as Dovecot keeps its own.
 */
static uint32_t
mail_user_uidvalidity(struct mail_user *u, uint32_t floor)
{
	char buf[16];
	const char *errstr;
	uint32_t v = (uint32_t)time(NULL), last;
	ssize_t n;
	int fd, len;

	if (v < floor)
		v = floor;
	last = u->uidvalidity;
	if ((fd = openat(u->dirfd, MAIL_USER_UIDVALIDITY,
		 O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		log_warn("%s: %s", u->mailbox, MAIL_USER_UIDVALIDITY);
	else if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		n = (ssize_t)strtonum(buf, 1, UINT32_MAX, &errstr);
		if (errstr == NULL && (uint32_t)n > last)
			last = (uint32_t)n;
	}
	if (last >= v && last < UINT32_MAX)
		v = last + 1;
	if (fd != -1) {
		len = snprintf(buf, sizeof(buf), "%u\n", v);
		if (pwrite(fd, buf, (size_t)len, 0) != len ||
		    ftruncate(fd, len) == -1)
			log_warn("%s: %s", u->mailbox, MAIL_USER_UIDVALIDITY);
		close(fd);
	}
	u->uidvalidity = v;
	return v;
}

/* the size a name states (",S=" of mda and Dovecot), 0 if none */
static uint64_t
name_stated_size(const char *name, size_t baselen, char key)
{
	const char *p;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i + 3 < baselen; i++) {
		if (name[i] != ',' || name[i + 1] != key || name[i + 2] != '=')
			continue;
		v = 0;
		for (p = name + i + 3; p < name + baselen && *p >= '0' &&
		     *p <= '9' && v < (1ULL << 50);
		     p++)
			v = v * 10 + (uint64_t)(*p - '0');
		return v;
	}
	return 0;
}

uint64_t
mail_user_usage(struct mail_user *u)
{
	struct quota_usage q;

	return quota_get(u->dirfd, &q) == -1 ? 0 : q.bytes;
}

/* ---- the name hash: base name -> index in st.msgs */

static uint32_t
base_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261U;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619U;
	return h;
}

static int hash_rebuild(struct mailbox *);

static int
hash_insert(struct mailbox *box, size_t idx)
{
	const struct mail_msg *m = &box->st.msgs[idx];
	uint32_t hv;
	size_t h;

	hv = base_hash(mail_msg_name(&box->st, m), m->base_len);
	h = hv & (box->hash_size - 1);
	while (box->hash[h].idx != 0)
		h = (h + 1) & (box->hash_size - 1);
	box->hash[h].idx = (uint32_t)idx + 1;
	box->hash[h].h = hv;
	return 0;
}

static int
hash_rebuild(struct mailbox *box)
{
	size_t size = 1024, i;
	struct hash_slot *h;

	while (size < box->st.nmsgs * 2 + 2 || size < box->hash_want * 2 + 2)
		size *= 2;
	if ((h = calloc(size, sizeof(*h))) == NULL)
		return -1;
	free(box->hash);
	box->hash = h;
	box->hash_size = size;
	for (i = 0; i < box->st.nmsgs; i++)
		if (!box->st.msgs[i].expunged)
			hash_insert(box, i);
	return 0;
}

/* index of the live message of that base, or -1 */
static ssize_t
hash_find(struct mailbox *box, const char *base, size_t len)
{
	const struct mail_msg *m;
	uint32_t hv;
	size_t h;

	/* built at the first lookup: opening a folder needs none */
	if (box->hash == NULL && hash_rebuild(box) == -1)
		fatal("%s", __func__);

	hv = base_hash(base, len);
	for (h = hv & (box->hash_size - 1); box->hash[h].idx != 0;
	     h = (h + 1) & (box->hash_size - 1)) {
		if (box->hash[h].h != hv)
			continue;
		m = &box->st.msgs[box->hash[h].idx - 1];
		if (!m->expunged && m->base_len == len &&
		    memcmp(mail_msg_name(&box->st, m), base, len) == 0)
			return (ssize_t)box->hash[h].idx - 1;
	}
	return -1;
}

/* a message appended to st and the hash */
static int
box_msg_add(struct mailbox *box, const struct mail_msg *m)
{
	if (index_msg_append(&box->st, m) == -1)
		return -1;
	if (box->hash == NULL)
		return 0;
	if (box->st.nmsgs * 2 + 2 > box->hash_size)
		return hash_rebuild(box);
	return hash_insert(box, box->st.nmsgs - 1);
}

/* ---- the log */

static int
box_log_open(struct mailbox *box, int fresh)
{
	struct msg_writer w;
	int rc;

	if (box->logfd != -1) {
		close(box->logfd);
		box->logfd = -1;
	}
	if (fresh) {
		msg_writer_init(&w);
		index_log_header(&w, box->st.log_gen);
		rc = w.error
		    ? -1
		    : index_replace_file(box->dirfd, INDEX_LOG, w.buf, w.len);
		msg_writer_free(&w);
		if (rc == -1)
			return -1;
		box->log_size = 8;
	}
	box->logfd = openat(box->dirfd, INDEX_LOG,
	    O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	return box->logfd == -1 ? -1 : 0;
}

static int box_fold(struct mailbox *);

/* write buffered records; durable too if sync */
static int
box_log_flush(struct mailbox *box, int sync)
{
	int rc = 0;

	if (box->logw.error) {
		/* records lost in memory: a snapshot says it all instead */
		msg_writer_free(&box->logw);
		return box_fold(box);
	}
	if (box->logw.len > 0) {
		if (box->logfd == -1 ||
		    write_all(box->logfd, box->logw.buf, box->logw.len) == -1) {
			log_warn("%s: %s", box->folder, INDEX_LOG);
			box->logw.len = 0;
			return box_fold(box);
		}
		box->log_size += box->logw.len;
		box->logw.len = 0;
	}
	if (sync && rc == 0 && box->logfd != -1 &&
	    fdatasync(box->logfd) == -1) {
		log_warn("%s: %s", box->folder, INDEX_LOG);
		rc = -1;
	}
	return rc;
}

static void
box_log(struct mailbox *box, enum index_log_type type, size_t idx)
{
	box->changed = 1;
	if (box->nolog)
		return; /* a snapshot follows that says it all */
	if (index_log_put(&box->logw, type, &box->st, &box->st.msgs[idx]) == -1)
		return; /* box_log_flush() sees the error */
	if (box->logw.len >= LOG_FLUSH_SIZE)
		box_log_flush(box, 0);
}

static int64_t
dir_mtime(int dirfd, const char *sub)
{
	struct stat sb;

	if (fstatat(dirfd, sub, &sb, 0) == -1)
		return 0;
	return (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void box_drain(struct mailbox *);

static int
mtime_settled(int64_t mtime, int64_t now)
{
	if (mtime % 1000000000 == 0)
		return now - mtime >= MTIME_SETTLE_COARSE_NS;
	return now - mtime >= MTIME_SETTLE_NS;
}

/*
 * A new snapshot, then a new log.  The mtimes it records let the next
 * open skip readdir; they are only known to match the state when
 * inotify has watched the whole time, and a directory changed in the
 * last moments may change again unseen within the same mtime tick.
 */
static int
box_fold(struct mailbox *box)
{
	int64_t now = now_ns();
	struct stat sb;

	/* a folder deleted or renamed away gets no index written into it */
	if (fstatat(box->dirfd, "cur", &sb, 0) == -1)
		return -1;
	if (index_compact(&box->st) == -1)
		return -1;
	/* indexes moved: the renames to come are looked for from the start */
	if (box->flush_lo != SIZE_MAX)
		box->flush_lo = 0;
	/* and the hash is built again when next needed */
	free(box->hash);
	box->hash = NULL;
	box->hash_size = 0;
	box->st.new_mtime = box->st.cur_mtime = 0;
	if (box->watching) {
		box_drain(box);
		if (!box->dirty) {
			box->st.new_mtime = dir_mtime(box->dirfd, "new");
			box->st.cur_mtime = dir_mtime(box->dirfd, "cur");
			if (!mtime_settled(box->st.new_mtime, now) ||
			    !mtime_settled(box->st.cur_mtime, now))
				box->st.new_mtime = box->st.cur_mtime = 0;
		}
	}
	box->st.log_gen++;
	if (index_write(box->dirfd, &box->st) == -1) {
		log_warn("%s: %s", box->folder, INDEX_FILE);
		box->st.log_gen--;
		/* the old log then keeps what it can (no fold again here) */
		if (box->logfd != -1 && box->logw.len > 0 && !box->logw.error &&
		    write_all(box->logfd, box->logw.buf, box->logw.len) == 0) {
			box->log_size += box->logw.len;
			if (fdatasync(box->logfd) == -1)
				log_warn("%s: %s", box->folder, INDEX_LOG);
		}
		box->logw.len = 0;
		return -1;
	}
	/* the snapshot says what the records not yet written say */
	box->logw.len = 0;
	box->logw.error = 0;
	box->changed = 0;
	if (box_log_open(box, 1) == -1) {
		log_warn("%s: %s", box->folder, INDEX_LOG);
		return -1;
	}
	return 0;
}

/* ---- events */

static void box_events_trim(struct mailbox *);

/*
 * A view that hears nothing (a client that sends no command, or does
 * not read) must not make the mailbox keep news without end: the ones
 * holding the oldest are let go, and told.
 */
static void
box_events_overflow(struct mailbox *box)
{
	struct mailbox_view *v;

	TAILQ_FOREACH(v, &box->views, entry) {
		if (v->evpos != box->ev_first)
			continue;
		v->evpos = box->ev_first + box->nev;
		v->lost = 1;
		if (v->ops->lost != NULL)
			v->ops->lost(v->arg);
	}
	box_events_trim(box);
}

static int
box_event(struct mailbox *box, enum box_event_type type, uint32_t uid,
    uint64_t origin)
{
	struct box_event *p;
	size_t cap;

	/* nobody to tell */
	if (TAILQ_EMPTY(&box->views)) {
		box->ev_first += box->nev + 1;
		box->nev = 0;
		return 0;
	}
	if (box->nev >= MAILBOX_EVENTS_MAX)
		box_events_overflow(box);
	if (box->nev == box->ev_cap) {
		cap = box->ev_cap ? box->ev_cap * 2 : 64;
		if ((p = reallocarray(box->ev, cap, sizeof(*p))) == NULL)
			fatal("%s", __func__);
		box->ev = p;
		box->ev_cap = cap;
	}
	box->ev[box->nev].uid = uid;
	box->ev[box->nev].type = (uint8_t)type;
	box->ev[box->nev].origin = origin;
	box->nev++;
	if (box->notifyev != NULL)
		event_active(box->notifyev, 0, 0);
	return 0;
}

/* drop the events every view has heard */
static void
box_events_trim(struct mailbox *box)
{
	struct mailbox_view *v;
	uint64_t low = box->ev_first + box->nev;
	size_t drop;

	TAILQ_FOREACH(v, &box->views, entry)
		if (v->evpos < low)
			low = v->evpos;
	drop = (size_t)(low - box->ev_first);
	if (drop == 0)
		return;
	memmove(box->ev, box->ev + drop, (box->nev - drop) * sizeof(*box->ev));
	box->nev -= drop;
	box->ev_first = low;
}

/* the IDLE watchers of views that have something to hear */
static void
box_notify_cb(int fd, short what, void *arg)
{
	struct mailbox *box = arg;
	struct mailbox_view *v, *tmp;
	void (*cb)(void *);

	/* a watcher may close its view, even the last one */
	box->refs++;
	box_refresh(box);
	TAILQ_FOREACH_SAFE(v, &box->views, entry, tmp) {
		if (v->watch == NULL || !mailbox_view_pending(v))
			continue;
		cb = v->watch;
		v->watch = NULL;
		cb(v->watch_arg);
	}
	box_put(box);
}

/* ---- changes to messages */

static uint64_t
box_modseq(struct mailbox *box)
{
	return ++box->st.highestmodseq;
}

/*
 * Our own renames and unlinks are inotify events too: read them now and
 * then in a long run of changes, before the kernel's queue overflows
 * (which would cost a rescan).
 */
static void
box_own_change(struct mailbox *box)
{
	if (++box->own_changes < DRAIN_EVERY)
		return;
	box->own_changes = 0;
	if (box->watching)
		box_drain(box);
}

/* msg idx is now called name (in new/ or cur/): flags from the name */
static int
box_msg_rename(struct mailbox *box, size_t idx, const char *name, int in_new,
    uint64_t origin)
{
	struct mail_msg *m;
	size_t blen;
	uint32_t flags;
	int64_t off;

	if (maildir_name_parse(name, &blen, &flags) == -1)
		return -1;
	if ((off = index_name_add(&box->st, name, strlen(name))) == -1)
		return -1;
	m = &box->st.msgs[idx];
	m->name_off = (uint32_t)off;
	m->name_len = (uint16_t)strlen(name);
	m->base_len = (uint16_t)blen;
	m->in_new = (uint8_t)in_new;
	m->dirty = 0;
	box->maybe_new |= in_new;
	if (m->flags != flags) {
		m->flags = flags;
		m->modseq = box_modseq(box);
		box_event(box, EV_FLAGS, m->uid, origin);
	}
	box_log(box, INDEX_LOG_FLAGS, idx);
	box_own_change(box);
	return 0;
}

/*
 * dovecot-uidlist knows a migrated folder's UIDs up to its UIDNEXT, and
 * a folder built from it numbers the messages it does not know from
 * there, by name.  Built again after an expunge, or after boxd gave UIDs
 * of its own, it would give some UIDs to other messages under the same
 * UIDVALIDITY.  So it is put aside, on disk, before the first of these;
 * a lost index then means a new UIDVALIDITY.
 */
static int
box_uidlist_retire(struct mailbox *box)
{
	if (box->uidlist_retired)
		return 0;
	if (renameat(box->dirfd, UIDLIST_FILE, box->dirfd, UIDLIST_RETIRED) ==
	    -1) {
		if (errno != ENOENT) {
			log_warn("%s: %s", box->folder, UIDLIST_FILE);
			return -1;
		}
	} else if (fsync(box->dirfd) == -1) {
		log_warn("%s: %s", box->folder, UIDLIST_FILE);
		return -1;
	}
	box->uidlist_retired = 1;
	return 0;
}

static void
box_msg_expunge(struct mailbox *box, size_t idx, uint64_t origin)
{
	struct mail_msg *m = &box->st.msgs[idx];

	/* a file gone already: a failure is logged, and nothing to undo */
	(void)box_uidlist_retire(box);
	m->expunged = 1;
	m->modseq = box_modseq(box);
	box_log(box, INDEX_LOG_EXPUNGE, idx);
	if (index_vanished_add(&box->st, m->uid, m->modseq) == -1)
		box->st.vanished_floor = m->modseq;
	box_event(box, EV_EXPUNGE, m->uid, origin);
	box_own_change(box);
}

/* a new message under uid; the caller makes the log durable */
static int
box_msg_new(
    struct mailbox *box, uint32_t uid, const char *name, int in_new, int recent)
{
	struct mail_msg m;
	size_t blen;
	int64_t off;

	if (!box->building && box_uidlist_retire(box) == -1)
		return -1;
	memset(&m, 0, sizeof(m));
	if (maildir_name_parse(name, &blen, &m.flags) == -1 ||
	    (off = index_name_add(&box->st, name, strlen(name))) == -1)
		return -1;
	m.uid = uid;
	m.name_off = (uint32_t)off;
	m.name_len = (uint16_t)strlen(name);
	m.base_len = (uint16_t)blen;
	m.in_new = (uint8_t)in_new;
	box->maybe_new |= in_new;
	m.recent = (uint8_t)recent;
	m.modseq = box_modseq(box);
	m.size = name_stated_size(name, blen, 'W');
	if (box_msg_add(box, &m) == -1)
		return -1;
	if (uid >= box->st.uidnext)
		box->st.uidnext = uid + 1;
	box_log(box, INDEX_LOG_NEW, box->st.nmsgs - 1);
	box_event(box, EV_NEW, uid, 0);
	return 0;
}

/* ---- scanning the Maildir */

struct scan_name {
	uint32_t uid; /* from dovecot-uidlist, or 0 */
	uint32_t off;
	uint8_t in_new;
};

struct scan {
	struct scan_name *names;
	size_t n, cap;
	char *arena;
	size_t alen, acap;
};

static int
scan_add(struct scan *sc, const char *name, int in_new)
{
	size_t len = strlen(name) + 1, cap;
	void *p;

	if (sc->n == sc->cap) {
		cap = sc->cap ? sc->cap * 2 : 256;
		if ((p = reallocarray(sc->names, cap, sizeof(*sc->names))) ==
		    NULL)
			return -1;
		sc->names = p;
		sc->cap = cap;
	}
	if (sc->alen + len > sc->acap) {
		cap = sc->acap ? sc->acap * 2 : 16384;
		while (cap < sc->alen + len)
			cap *= 2;
		if ((p = realloc(sc->arena, cap)) == NULL)
			return -1;
		sc->arena = p;
		sc->acap = cap;
	}
	memcpy(sc->arena + sc->alen, name, len);
	sc->names[sc->n].off = (uint32_t)sc->alen;
	sc->names[sc->n].in_new = (uint8_t)in_new;
	sc->names[sc->n].uid = 0;
	sc->n++;
	sc->alen += len;
	return 0;
}

/* its memory given back; the count stays */
static void
scan_free(struct scan *sc)
{
	free(sc->names);
	free(sc->arena);
	sc->names = NULL;
	sc->arena = NULL;
	sc->cap = sc->acap = sc->alen = 0;
}

static const char *scan_sort_arena;

/* by uid from the uidlist, then by name: delivery order for time names */
static int
scan_cmp(const void *a, const void *b)
{
	const struct scan_name *x = a, *y = b;

	if (x->uid != y->uid) {
		if (x->uid == 0 || y->uid == 0)
			return x->uid == 0 ? 1 : -1;
		return x->uid < y->uid ? -1 : 1;
	}
	return strcmp(scan_sort_arena + x->off, scan_sort_arena + y->off);
}

static const char *uidlist_sort_names;

static int
uidlist_cmp(const void *a, const void *b)
{
	const struct uidlist_entry *x = a, *y = b;

	return strcmp(
	    uidlist_sort_names + x->base_off, uidlist_sort_names + y->base_off);
}

/* the entry of that base in a uidlist sorted by uidlist_cmp(), or NULL */
static const struct uidlist_entry *
uidlist_find(const struct uidlist *ul, const char *base)
{
	size_t lo = 0, hi = ul->nents, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(base, ul->names + ul->ents[mid].base_off);
		if (c == 0)
			return &ul->ents[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* UIDs from dovecot-uidlist for a folder built afresh */
static void
scan_uidlist(struct mailbox *box, struct scan *sc)
{
	const struct uidlist_entry *e;
	char base[MAILDIR_NAME_MAX + 1];
	struct uidlist ul;
	size_t i, blen;
	uint32_t flags;

	if (uidlist_read(box->dirfd, &ul) == -1)
		return;
	box->st.uidvalidity = ul.uidvalidity;
	box->st.uidnext = ul.uidnext;
	uidlist_sort_names = ul.names;
	qsort(ul.ents, ul.nents, sizeof(*ul.ents), uidlist_cmp);
	for (i = 0; i < sc->n; i++) {
		if (maildir_name_parse(
			sc->arena + sc->names[i].off, &blen, &flags) == -1)
			continue;
		memcpy(base, sc->arena + sc->names[i].off, blen);
		base[blen] = '\0';
		if ((e = uidlist_find(&ul, base)) != NULL)
			sc->names[i].uid = e->uid;
	}
	uidlist_free(&ul);
}

/* readdir of one of new/ and cur/, matching names to what is known */
static int
scan_dir(struct mailbox *box, int in_new, uint8_t *seen, struct scan *sc)
{
	struct dirent *de;
	size_t blen;
	uint32_t flags;
	ssize_t idx;
	DIR *d;
	int fd;

	if ((fd = openat(box->dirfd, in_new ? "new" : "cur",
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (maildir_name_parse(de->d_name, &blen, &flags) == -1)
			continue; /* not a name of ours to serve */
		if ((idx = hash_find(box, de->d_name, blen)) == -1) {
			if (scan_add(sc, de->d_name, in_new) == -1)
				goto fail;
			continue;
		}
		if (seen[idx])
			continue; /* the same base twice: the first one wins */
		seen[idx] = 1;
		if (box->st.msgs[idx].in_new != in_new ||
		    strcmp(mail_msg_name(&box->st, &box->st.msgs[idx]),
			de->d_name) != 0)
			if (box_msg_rename(
				box, (size_t)idx, de->d_name, in_new, 0) == -1)
				goto fail;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	return -1;
}

/*
 * Take in what the Maildir holds now.  fresh: there was no usable index,
 * so UIDs come from dovecot-uidlist if there is one, or start over with
 * a new UIDVALIDITY.
 */
static int
box_scan(struct mailbox *box, int fresh)
{
	struct scan sc;
	uint8_t *seen;
	size_t i, n = box->st.nmsgs;
	uint32_t uid;
	int rc = -1;

	memset(&sc, 0, sizeof(sc));
	box->dirty = 0;
	box->changed = 1; /* the snapshot's mtimes are behind */
	if ((seen = calloc(n + 1, 1)) == NULL)
		return -1;
	if (scan_dir(box, 0, seen, &sc) == -1 ||
	    scan_dir(box, 1, seen, &sc) == -1)
		goto done;
	for (i = 0; i < n; i++)
		if (!seen[i] && !box->st.msgs[i].expunged)
			box_msg_expunge(box, i, 0);
	if (fresh) {
		/* a damaged index's UIDVALIDITY is never given again */
		box->st.uidvalidity = mail_user_uidvalidity(box->user,
		    box->old_uidvalidity == UINT32_MAX
			? UINT32_MAX
			: box->old_uidvalidity + 1);
		box->st.uidnext = 1;
		/*
		 * MODSEQs start above any an earlier index gave (it counted
		 * fewer than a hundred changes a second over its life), and
		 * QRESYNC knows it remembers no expunge from before.
		 */
		box->st.highestmodseq = (uint64_t)time(NULL) * 100;
		box->st.vanished_floor = box->st.highestmodseq;
		scan_uidlist(box, &sc);
	}
	box->nolog = fresh || sc.n >= SCAN_FOLD_NEW;
	/* a fresh build can be made again the same way */
	box->building = fresh;
	/* room for them all at once, not a rebuild at every doubling */
	if (sc.n > 0) {
		box->hash_want = box->st.nmsgs + sc.n;
		if (box->hash != NULL &&
		    box->hash_want * 2 + 2 > box->hash_size &&
		    hash_rebuild(box) == -1)
			goto done;
		if (index_msgs_reserve(&box->st, box->hash_want) == -1)
			goto done;
	}
	scan_sort_arena = sc.arena;
	if (sc.n > 0)
		qsort(sc.names, sc.n, sizeof(*sc.names), scan_cmp);
	for (i = 0; i < sc.n; i++) {
		const char *name = sc.arena + sc.names[i].off;
		size_t blen;
		uint32_t flags;

		if (maildir_name_parse(name, &blen, &flags) == -1 ||
		    hash_find(box, name, blen) != -1)
			continue;
		uid = sc.names[i].uid;
		if (uid == 0 ||
		    (box->st.nmsgs > 0 &&
			uid <= box->st.msgs[box->st.nmsgs - 1].uid)) {
			if (box->st.uidnext == UINT32_MAX)
				goto done; /* out of UIDs: RFC 3501 has none */
			uid = box->st.uidnext;
		}
		/* a fresh index's names were there before: not \Recent */
		if (box_msg_new(box, uid, name, sc.names[i].in_new,
			!fresh || sc.names[i].in_new) == -1)
			goto done;
	}
	box->nolog = 0;
	/* the names are in the index now: not held through the fold too */
	free(seen);
	seen = NULL;
	scan_free(&sc);
	/* a log left from before would pass for the new snapshot's */
	if (fresh && unlinkat(box->dirfd, INDEX_LOG, 0) == -1 &&
	    errno != ENOENT) {
		log_warn("%s: %s", box->folder, INDEX_LOG);
		goto done;
	}
	/* a UID is durable before anyone may hear of it */
	if (fresh || sc.n >= SCAN_FOLD_NEW)
		rc = box_fold(box);
	else
		rc = box_log_flush(box, sc.n > 0);
done:
	box->building = 0;
	/* what was not logged must reach a snapshot, even on a failure */
	if (box->nolog) {
		box->nolog = 0;
		box_fold(box);
	}
	free(seen);
	scan_free(&sc);
	return rc;
}

/* ---- inotify: is what happened ours? */

static int
box_path(struct mailbox *box, const char *sub, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, "%s/%s/%s/%s", mail_root, box->user->mailbox,
	    box->dir, sub);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* 1 if the event is a change we did not make */
static int
box_event_foreign(
    struct mailbox *box, const struct inotify_event *ie, int in_new)
{
	const struct mail_msg *m;
	size_t blen;
	uint32_t flags;
	ssize_t idx;

	if (ie->len == 0 || ie->name[0] == '.')
		return 0;
	if (maildir_name_parse(ie->name, &blen, &flags) == -1)
		return 0;
	idx = hash_find(box, ie->name, blen);
	if (ie->mask & (IN_CREATE | IN_MOVED_TO)) {
		/* ours if it is the name we gave it */
		if (idx == -1)
			return 1;
		m = &box->st.msgs[idx];
		return m->in_new != in_new ||
		    strcmp(mail_msg_name(&box->st, m), ie->name) != 0;
	}
	/* gone: ours unless it is still the name we know */
	if (idx == -1)
		return 0;
	m = &box->st.msgs[idx];
	return m->in_new == in_new &&
	    strcmp(mail_msg_name(&box->st, m), ie->name) == 0;
}

/*
 * One inotify instance for the whole process (the kernel allows a user
 * few instances, but many watches): each open folder has two watches,
 * new/ and cur/, found again by their descriptors.
 */
struct ino_watch {
	int wd;
	int in_new;
	struct mailbox *box;
};
static struct ino_watch *ino_watches;
static size_t ino_n, ino_cap;

static struct ino_watch *
ino_find(int wd)
{
	size_t i;

	for (i = 0; i < ino_n; i++)
		if (ino_watches[i].wd == wd)
			return &ino_watches[i];
	return NULL;
}

static void
ino_dispatch(const struct inotify_event *ie)
{
	struct ino_watch *w;
	size_t i;

	if (ie->mask & IN_Q_OVERFLOW) {
		for (i = 0; i < ino_n; i++)
			ino_watches[i].box->dirty = 1;
		return;
	}
	if ((w = ino_find(ie->wd)) == NULL)
		return; /* a watch removed since */
	if (ie->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
		/* the watch is gone: until the folder is opened again, scan */
		w->box->watching = 0;
		w->box->dirty = 1;
	} else if (box_event_foreign(w->box, ie, w->in_new))
		w->box->dirty = 1;
}

/* read every inotify event there is, marking the folders they touch */
static void
ino_drain(void)
{
	char buf[16384] __attribute__((aligned(8)));
	const struct inotify_event *ie;
	ssize_t n;
	size_t off;

	if (ino_fd == -1)
		return;
	for (;;) {
		n = read(ino_fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (off = 0; off + sizeof(*ie) <= (size_t)n;
		     off += sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)(buf + off);
			ino_dispatch(ie);
		}
	}
}

static void
box_drain(struct mailbox *box)
{
	if (!box->watching) {
		box->dirty = 1;
		return;
	}
	ino_drain();
}

static void
ino_cb(int fd, short what, void *arg)
{
	struct timeval tv = {0, RESCAN_DELAY_MS * 1000};
	size_t i;

	ino_drain();
	for (i = 0; i < ino_n; i++)
		if (ino_watches[i].box->dirty &&
		    ino_watches[i].box->rescanev != NULL)
			evtimer_add(ino_watches[i].box->rescanev, &tv);
}

static int
ino_add(struct mailbox *box, const char *sub, int in_new)
{
	uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
	    IN_DELETE_SELF | IN_MOVE_SELF;
	char path[PATH_MAX];
	struct ino_watch *p;
	size_t cap;
	int wd;

	if (ino_n == ino_cap) {
		cap = ino_cap ? ino_cap * 2 : 16;
		if ((p = reallocarray(ino_watches, cap, sizeof(*p))) == NULL)
			return -1;
		ino_watches = p;
		ino_cap = cap;
	}
	/* inotify wants a path, not a directory fd */
	if (box_path(box, sub, path, sizeof(path)) == -1 ||
	    (wd = inotify_add_watch(ino_fd, path, mask)) == -1)
		return -1;
	ino_watches[ino_n].wd = wd;
	ino_watches[ino_n].in_new = in_new;
	ino_watches[ino_n].box = box;
	ino_n++;
	return 0;
}

static void
ino_remove(struct mailbox *box)
{
	size_t i = 0;

	while (i < ino_n) {
		if (ino_watches[i].box != box) {
			i++;
			continue;
		}
		inotify_rm_watch(ino_fd, ino_watches[i].wd);
		ino_watches[i] = ino_watches[--ino_n];
	}
	box->watching = 0;
}

static int
box_watch_init(struct mailbox *box)
{
	box->watching = 0;
	if (mail_root == NULL)
		return -1;
	if (ino_fd == -1 &&
	    (ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("inotify");
		return -1;
	}
	if (mail_base != NULL && ino_ev == NULL &&
	    ((ino_ev = event_new(mail_base, ino_fd, EV_READ | EV_PERSIST,
		  ino_cb, NULL)) == NULL ||
		event_add(ino_ev, NULL) == -1))
		fatal("%s: event", __func__);
	if (ino_add(box, "new", 1) == -1 || ino_add(box, "cur", 0) == -1) {
		ino_remove(box);
		return -1;
	}
	box->watching = 1;
	return 0;
}

static void
box_rescan_cb(int fd, short what, void *arg)
{
	box_refresh(arg);
}

/* take in others' changes, if there were any */
static int
box_refresh(struct mailbox *box)
{
	box_drain(box);
	if (!box->dirty)
		return 0;
	if (box_scan(box, 0) == -1) {
		log_warnx("%s/%s: cannot rescan", box->user->mailbox, box->dir);
		return -1;
	}
	return 0;
}

/* ---- opening and closing a folder */

static void
box_free(struct mailbox *box)
{
	if (box->rescanev != NULL)
		event_free(box->rescanev);
	if (box->notifyev != NULL)
		event_free(box->notifyev);
	if (box->flushev != NULL)
		event_free(box->flushev);
	ino_remove(box);
	if (box->logfd != -1)
		close(box->logfd);
	if (box->dirfd != -1)
		close(box->dirfd);
	index_state_free(&box->st);
	keywords_free(&box->kw);
	msg_writer_free(&box->logw);
	free(box->hash);
	free(box->ev);
	free(box->cached);
	free(box->cache);
	if (box->cachefd != -1)
		close(box->cachefd);
	free(box);
}

static int
truncate_at(int dirfd, const char *name, size_t len)
{
	int fd, rc;

	if ((fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	rc = ftruncate(fd, (off_t)len);
	close(fd);
	return rc;
}

/*
 * Every snapshot has a log of its generation from the start or, after a
 * crash between the two writes of a fold, still the previous one, which
 * the snapshot has taken in.  Any other log (none, another generation,
 * not a log) may have held UIDs the snapshot does not know, which must
 * not be given again under its UIDVALIDITY.
 */
static int
box_log_previous(struct mailbox *box, const void *buf, size_t len)
{
	struct msg_writer w;
	int rc;

	msg_writer_init(&w);
	index_log_header(&w, box->st.log_gen - 1);
	rc = !w.error && len >= w.len && memcmp(buf, w.buf, w.len) == 0;
	msg_writer_free(&w);
	return rc;
}

/* the index and log as they are on disk: 0 usable, -1 start afresh */
static int
box_load(struct mailbox *box)
{
	size_t len, good;
	void *buf;

	if (index_read(box->dirfd, &box->st) == -1) {
		box->old_uidvalidity = index_peek_uidvalidity(box->dirfd);
		return -1;
	}
	if (index_slurp(box->dirfd, INDEX_LOG, &buf, &len, 1ULL << 31) == -1)
		goto lost;
	if (index_log_replay(&box->st, buf, len, &good) == -1) {
		if (!box_log_previous(box, buf, len))
			goto lost;
		/* the snapshot says what that log said: a new one */
		free(buf);
		return box_log_open(box, 1);
	}
	free(buf);
	if (good < len) {
		/* a torn tail: later records follow the good */
		log_warnx("%s/%s: %s cut at %zu octets", box->user->mailbox,
		    box->dir, INDEX_LOG, good);
		if (truncate_at(box->dirfd, INDEX_LOG, good) == -1)
			return box_log_open(box, 1) == -1 ? -1 : 0;
	}
	box->log_size = good;
	box->changed = good > 8;
	return box_log_open(box, 0);
lost:
	log_warnx("%s/%s: %s lost, the folder is rebuilt", box->user->mailbox,
	    box->dir, INDEX_LOG);
	box->old_uidvalidity = box->st.uidvalidity;
	free(buf);
	return -1;
}

/* 1 if the folder's directory is no longer the one box has open */
static int
box_stale(struct mailbox *box)
{
	struct stat now, open;

	if (fstatat(box->user->dirfd, box->dir, &now, AT_SYMLINK_NOFOLLOW) ==
		-1 ||
	    fstat(box->dirfd, &open) == -1)
		return 1;
	return now.st_ino != open.st_ino || now.st_dev != open.st_dev;
}

/* keep the caller's reference on box as the user's held folder */
static void
box_hold(struct mailbox *box)
{
	struct mail_user *u = box->user;
	struct mailbox *old = u->held;

	if (old == box) {
		box_put(box);
		return;
	}
	u->held = box;
	if (old != NULL)
		box_put(old);
}

static struct mailbox *
box_get(struct mail_user *u, const char *folder, char *err, size_t errsz)
{
	struct mailbox *box;
	char dir[MAILDIR_NAME_MAX + 2];
	int64_t newm, curm;
	int fresh;

	if (strlen(folder) >= sizeof(box->folder) ||
	    folder_dir(folder, dir, sizeof(dir)) == -1) {
		snprintf(err, errsz, "no such mailbox");
		return NULL;
	}
	if (u->held != NULL && strcmp(u->held->dir, dir) == 0 &&
	    box_stale(u->held)) {
		box = u->held;
		u->held = NULL;
		box_put(box);
	}
	/* one mailbox per directory, however the name was spelt */
	TAILQ_FOREACH(box, &u->boxes, entry)
		if (strcmp(box->dir, dir) == 0) {
			box->refs++;
			box_refresh(box);
			return box;
		}
	if ((box = calloc(1, sizeof(*box))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	box->user = u;
	box->logfd = box->cachefd = -1;
	box->flush_lo = SIZE_MAX;
	strlcpy(box->folder, folder, sizeof(box->folder));
	strlcpy(box->dir, dir, sizeof(box->dir));
	TAILQ_INIT(&box->views);
	index_state_init(&box->st);
	msg_writer_init(&box->logw);
	if ((box->dirfd = openat(u->dirfd, dir,
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    faccessat(box->dirfd, "cur", X_OK, 0) == -1 ||
	    faccessat(box->dirfd, "new", X_OK, 0) == -1) {
		snprintf(err, errsz, "no such mailbox");
		goto fail;
	}
	/* watch first, so no change slips between the check and the watch */
	box_watch_init(box);
	keywords_read(box->dirfd, &box->kw);
	fresh = box_load(box) == -1;
	box->maybe_new = 1; /* the index may list messages in new/ */
	if (fresh) {
		index_state_free(&box->st);
		index_state_init(&box->st);
	}
	newm = dir_mtime(box->dirfd, "new");
	curm = dir_mtime(box->dirfd, "cur");
	if (fresh || box->st.new_mtime == 0 || box->st.new_mtime != newm ||
	    box->st.cur_mtime != curm) {
		if (box_scan(box, fresh) == -1) {
			snprintf(err, errsz, "cannot read the mailbox");
			goto fail;
		}
	}
	if (box->logfd == -1 && box_log_open(box, 1) == -1) {
		snprintf(err, errsz, "cannot write the mailbox's index");
		goto fail;
	}
	if (mail_base != NULL) {
		if ((box->rescanev = evtimer_new(
			 mail_base, box_rescan_cb, box)) == NULL ||
		    (box->notifyev = event_new(
			 mail_base, -1, 0, box_notify_cb, box)) == NULL ||
		    (box->flushev =
			    evtimer_new(mail_base, box_flush_cb, box)) == NULL)
			fatal("%s: event", __func__);
	}
	/* renames a crash left undone */
	if (box->st.dirty)
		box_flush_later(box, SIZE_MAX);
	box->refs = 1;
	u->refs++;
	TAILQ_INSERT_TAIL(&u->boxes, box, entry);
	return box;
fail:
	box_free(box);
	return NULL;
}

static void
box_put(struct mailbox *box)
{
	struct mail_user *u = box->user;

	if (--box->refs > 0)
		return;
	box_flush(box, 0);
	/* the last one out leaves a snapshot that opens without readdir */
	if (box->changed || box->log_size > 8 || box->logw.len > 0)
		box_fold(box);
	TAILQ_REMOVE(&u->boxes, box, entry);
	box_free(box);
	mail_user_put(u);
}

/* ---- views */

static int
view_push(uint32_t **arr, size_t *n, size_t *cap, uint32_t uid)
{
	uint32_t *p;
	size_t c;

	if (*n == *cap) {
		c = *cap ? *cap * 2 : 64;
		if ((p = reallocarray(*arr, c, sizeof(*p))) == NULL)
			return -1;
		*arr = p;
		*cap = c;
	}
	(*arr)[(*n)++] = uid;
	return 0;
}

/* index of uid in an ascending array, or n */
static size_t
uid_search(const uint32_t *a, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (a[mid] == uid)
			return mid;
		if (a[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return n;
}

/* first index whose uid is >= uid */
static size_t
uid_ceil(const uint32_t *a, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (a[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A view's \Recent are the messages no one has seen; a read-write view
 * takes them, a read-only one leaves them to the next (RFC 3501 6.3.2).
 */
static void
view_claim(struct mailbox_view *v, struct mail_msg *m)
{
	if (!m->recent)
		return;
	if (view_push(&v->recent, &v->nrecent, &v->recent_cap, m->uid) == -1)
		return; /* \Recent is advisory: losing one is no harm */
	if (!v->readonly)
		m->recent = 0;
}

/* messages still in new/ go to cur/ once a read-write session has them */
static void
box_move_new(struct mailbox *box)
{
	char from[MAILDIR_NAME_MAX + 8], to[MAILDIR_NAME_MAX + 8];
	char name[MAILDIR_NAME_MAX + 1];
	struct mail_msg *m;
	size_t i;

	if (!box->maybe_new)
		return;
	box->maybe_new = 0;
	for (i = 0; i < box->st.nmsgs; i++) {
		m = &box->st.msgs[i];
		if (!m->in_new || m->expunged)
			continue;
		if (maildir_name_build(name, sizeof(name),
			mail_msg_name(&box->st, m), m->base_len,
			m->flags) == -1)
			continue;
		snprintf(
		    from, sizeof(from), "new/%s", mail_msg_name(&box->st, m));
		snprintf(to, sizeof(to), "cur/%s", name);
		if (renameat(box->dirfd, from, box->dirfd, to) == -1) {
			/* someone else moved it: the rescan finds where */
			box->dirty = 1;
			box->maybe_new = 1;
			continue;
		}
		box_msg_rename(box, i, name, 0, 0);
	}
}

struct mailbox_view *
mailbox_view_open(struct mail_user *u, const char *folder, int readonly,
    const struct mailbox_view_ops *ops, void *arg, char *err, size_t errsz)
{
	struct mailbox_view *v;
	struct mailbox *box;
	size_t i;

	if ((box = box_get(u, folder, err, errsz)) == NULL)
		return NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL) {
		snprintf(err, errsz, "out of memory");
		box_put(box);
		return NULL;
	}
	v->box = box;
	v->id = ++view_ids;
	v->readonly = readonly;
	v->ops = ops;
	v->arg = arg;
	v->cap = box->st.nmsgs + 16;
	if ((v->uids = reallocarray(NULL, v->cap, sizeof(*v->uids))) == NULL) {
		snprintf(err, errsz, "out of memory");
		free(v);
		box_put(box);
		return NULL;
	}
	for (i = 0; i < box->st.nmsgs; i++) {
		if (box->st.msgs[i].expunged)
			continue;
		v->uids[v->n++] = box->st.msgs[i].uid;
		view_claim(v, &box->st.msgs[i]);
	}
	v->evpos = box->ev_first + box->nev;
	TAILQ_INSERT_TAIL(&box->views, v, entry);
	if (!readonly)
		box_move_new(box);
	box_log_flush(box, 0);
	return v;
}

void
mailbox_view_close(struct mailbox_view *v)
{
	struct mailbox *box = v->box;

	TAILQ_REMOVE(&box->views, v, entry);
	box_events_trim(box);
	free(v->uids);
	free(v->recent);
	free(v);
	box_put(box);
}

int
mailbox_view_pending(struct mailbox_view *v)
{
	struct mailbox *box = v->box;
	uint64_t i;

	for (i = v->evpos; i < box->ev_first + box->nev; i++)
		if (box->ev[i - box->ev_first].origin != v->id ||
		    box->ev[i - box->ev_first].type != EV_FLAGS)
			return 1;
	return 0;
}

void
mailbox_view_watch(struct mailbox_view *v, void (*cb)(void *), void *arg)
{
	v->watch = cb;
	v->watch_arg = arg;
	if (cb != NULL && v->box->notifyev != NULL && mailbox_view_pending(v))
		event_active(v->box->notifyev, 0, 0);
}

void
mailbox_view_sync(struct mailbox_view *v)
{
	struct mailbox *box = v->box;
	const struct box_event *e;
	struct mail_msg *m;
	size_t pos, r;
	int announce = 0;

	if (v->lost)
		return;
	box_refresh(box);
	if (!v->readonly)
		box_move_new(box);
	box_log_flush(box, 0);
	for (; v->evpos < box->ev_first + box->nev; v->evpos++) {
		e = &box->ev[v->evpos - box->ev_first];
		if (e->type == EV_NEW) {
			if (view_push(&v->uids, &v->n, &v->cap, e->uid) == -1)
				fatal("%s", __func__);
			if ((m = index_msg_find(&box->st, e->uid)) != NULL &&
			    !m->expunged)
				view_claim(v, m);
			announce = 1;
			continue;
		}
		/* new messages are told before anything is said of them */
		if (announce && v->ops->exists != NULL)
			v->ops->exists(
			    v->arg, (uint32_t)v->n, (uint32_t)v->nrecent);
		announce = 0;
		if ((pos = uid_search(v->uids, v->n, e->uid)) == v->n)
			continue;
		if (e->type == EV_EXPUNGE) {
			memmove(v->uids + pos, v->uids + pos + 1,
			    (v->n - pos - 1) * sizeof(*v->uids));
			v->n--;
			if ((r = uid_search(v->recent, v->nrecent, e->uid)) <
			    v->nrecent) {
				memmove(v->recent + r, v->recent + r + 1,
				    (v->nrecent - r - 1) * sizeof(*v->recent));
				v->nrecent--;
			}
			if (v->ops->expunge != NULL)
				v->ops->expunge(
				    v->arg, (uint32_t)pos + 1, e->uid);
		} else if (e->origin != v->id && v->ops->flags != NULL &&
		    (m = index_msg_find(&box->st, e->uid)) != NULL &&
		    !m->expunged)
			v->ops->flags(v->arg, (uint32_t)pos + 1, m);
	}
	if (announce && v->ops->exists != NULL)
		v->ops->exists(v->arg, (uint32_t)v->n, (uint32_t)v->nrecent);
	box_events_trim(box);
	/* a long log is folded into a new snapshot, now and then */
	if (box->log_size > LOG_FOLD_SIZE)
		box_fold(box);
}

uint32_t
mailbox_view_count(struct mailbox_view *v)
{
	return (uint32_t)v->n;
}

uint32_t
mailbox_view_recent(struct mailbox_view *v)
{
	return (uint32_t)v->nrecent;
}

uint32_t
mailbox_view_unseen_first(struct mailbox_view *v)
{
	const struct index_state *st = &v->box->st;
	const struct mail_msg *m;
	size_t i, j = 0;

	/* both ascending: one walk, not a search per message */
	for (i = 0; i < v->n; i++) {
		while (j < st->nmsgs && st->msgs[j].uid < v->uids[i])
			j++;
		if (j == st->nmsgs)
			break;
		m = &st->msgs[j];
		if (m->uid == v->uids[i] && !m->expunged &&
		    !(m->flags & MAILDIR_FLAG_SEEN))
			return (uint32_t)i + 1;
	}
	return 0;
}

uint32_t
mailbox_view_uidvalidity(struct mailbox_view *v)
{
	return v->box->st.uidvalidity;
}

uint32_t
mailbox_view_uidnext(struct mailbox_view *v)
{
	/* what this view knows: a UID others added is news for later */
	if (v->n > 0 && v->uids[v->n - 1] >= v->box->st.uidnext)
		return v->uids[v->n - 1] + 1;
	return v->box->st.uidnext;
}

uint64_t
mailbox_view_highestmodseq(struct mailbox_view *v)
{
	return v->box->st.highestmodseq;
}

int
mailbox_view_readonly(struct mailbox_view *v)
{
	return v->readonly;
}

const struct mail_msg *
mailbox_view_msg(struct mailbox_view *v, uint32_t seq)
{
	struct index_state *st = &v->box->st;
	struct mail_msg *m;
	uint32_t uid;
	size_t next;

	if (seq == 0 || seq > v->n)
		return NULL;
	uid = v->uids[seq - 1];
	/* FETCH and STORE of a range ask in order: try the next one first */
	next = v->hint + 1;
	if (next < st->nmsgs && st->msgs[next].uid == uid)
		m = &st->msgs[next];
	else if ((m = index_msg_find(st, uid)) == NULL)
		return NULL;
	v->hint = (size_t)(m - st->msgs);
	return m->expunged ? NULL : m;
}

uint32_t
mailbox_view_uid(struct mailbox_view *v, uint32_t seq)
{
	return seq == 0 || seq > v->n ? 0 : v->uids[seq - 1];
}

uint32_t
mailbox_view_seq(struct mailbox_view *v, uint32_t uid)
{
	size_t pos = uid_search(v->uids, v->n, uid);

	return pos == v->n ? 0 : (uint32_t)pos + 1;
}

uint32_t
mailbox_view_seq_ceil(struct mailbox_view *v, uint32_t uid)
{
	return (uint32_t)uid_ceil(v->uids, v->n, uid) + 1;
}

int
mailbox_view_is_recent(struct mailbox_view *v, uint32_t seq)
{
	if (seq == 0 || seq > v->n)
		return 0;
	return uid_search(v->recent, v->nrecent, v->uids[seq - 1]) < v->nrecent;
}

/* ---- messages */

/*
 * A message file, which in a Maildir copied in may be anything: a FIFO
 * would block the open, and a device or directory the reads, of the one
 * process that serves every user.  Only a plain file is a message.
 */
static int
msg_file_open(int dirfd, const char *path)
{
	struct stat sb;
	int fd;

	if ((fd = openat(dirfd, path,
		 O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static int
box_msg_openat(struct mailbox *box, const struct mail_msg *m)
{
	char path[MAILDIR_NAME_MAX + 8];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", m->in_new ? "new" : "cur",
	    mail_msg_name(&box->st, m));
	fd = msg_file_open(box->dirfd, path);
	if (fd == -1 && errno == ENOENT)
		box->dirty = 1; /* renamed under us: the next sync finds it */
	return fd;
}

int
mailbox_msg_open(struct mailbox_view *v, uint32_t seq)
{
	const struct mail_msg *m;

	if ((m = mailbox_view_msg(v, seq)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	return box_msg_openat(v->box, m);
}

/* the octets of a file with every bare LF counted as CRLF; 0 on error */
static uint64_t
crlf_size(int fd)
{
	char buf[65536], prev = 0;
	uint64_t size = 0;
	off_t off = 0;
	ssize_t n, i;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				size++;
			prev = buf[i];
		}
		size += (uint64_t)n;
		off += n;
	}
	if (n == -1)
		return 0;
	/* 0 means unknown: an empty message is said to be 1 octet */
	return size ? size : 1;
}

/* size with every bare LF counted as CRLF, and the mtime: read once */
static int
box_msg_learn(struct mailbox *box, struct mail_msg *m)
{
	struct stat sb;
	int fd;

	if ((fd = box_msg_openat(box, m)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1 ||
	    (m->size == 0 && (m->size = crlf_size(fd)) == 0)) {
		close(fd);
		return -1;
	}
	close(fd);
	if (m->internal_date == 0)
		m->internal_date =
		    sb.st_mtim.tv_sec > 0 ? sb.st_mtim.tv_sec : 1;
	box_log(box, INDEX_LOG_INFO, (size_t)(m - box->st.msgs));
	return 0;
}

int
mailbox_msg_size(struct mailbox_view *v, uint32_t seq, uint64_t *size)
{
	struct mail_msg *m;

	if ((m = (struct mail_msg *)mailbox_view_msg(v, seq)) == NULL)
		return -1;
	if ((m->size == 0 || m->internal_date == 0) &&
	    box_msg_learn(v->box, m) == -1)
		return -1;
	*size = m->size;
	return 0;
}

int
mailbox_msg_date(struct mailbox_view *v, uint32_t seq, int64_t *date)
{
	struct mail_msg *m;

	if ((m = (struct mail_msg *)mailbox_view_msg(v, seq)) == NULL)
		return -1;
	if ((m->size == 0 || m->internal_date == 0) &&
	    box_msg_learn(v->box, m) == -1)
		return -1;
	*date = m->internal_date;
	return 0;
}

/* ---- keywords */

static int
box_keyword(struct mailbox *box, const char *name, int create)
{
	int i, freei = -1;

	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (box->kw.name[i] == NULL) {
			if (freei == -1)
				freei = i;
			continue;
		}
		if (strcasecmp(box->kw.name[i], name) == 0)
			return i;
	}
	if (!create || freei == -1 || !keyword_name_valid(name))
		return -1;
	if ((box->kw.name[freei] = strdup(name)) == NULL)
		return -1;
	if (keywords_write(box->dirfd, &box->kw) == -1) {
		log_warn(
		    "%s/%s: %s", box->user->mailbox, box->dir, KEYWORDS_FILE);
		free(box->kw.name[freei]);
		box->kw.name[freei] = NULL;
		return -1;
	}
	return freei;
}

int
mailbox_keyword(struct mailbox_view *v, const char *name, int create)
{
	return box_keyword(v->box, name, create);
}

const char *
mailbox_keyword_name(struct mailbox_view *v, int i)
{
	if (i < 0 || i >= KEYWORDS_MAX)
		return NULL;
	return v->box->kw.name[i];
}

/* ---- STORE, EXPUNGE */

void
mailbox_flush_all(void)
{
	struct mail_user *u;
	struct mailbox *box;

	TAILQ_FOREACH(u, &mail_users, entry)
		TAILQ_FOREACH(box, &u->boxes, entry) {
			box_flush(box, 0);
			box_log_flush(box, 0);
		}
}

/* message idx's file renamed to the name its flags call for: 0, -1 */
static int
box_flush_one(struct mailbox *box, size_t idx)
{
	char from[MAILDIR_NAME_MAX + 8], to[MAILDIR_NAME_MAX + 8];
	char name[MAILDIR_NAME_MAX + 1];
	struct mail_msg *m = &box->st.msgs[idx];

	if (maildir_name_build(name, sizeof(name), mail_msg_name(&box->st, m),
		m->base_len, m->flags) == -1) {
		m->dirty = 0;
		return -1;
	}
	snprintf(from, sizeof(from), "%s/%s", m->in_new ? "new" : "cur",
	    mail_msg_name(&box->st, m));
	snprintf(to, sizeof(to), "cur/%s", name);
	if (renameat(box->dirfd, from, box->dirfd, to) == -1) {
		if (errno != ENOENT)
			log_warn(
			    "%s/%s: %s", box->user->mailbox, box->dir, from);
		/* moved or removed by another writer: a rescan tells */
		m->dirty = 0;
		box->dirty = 1;
		return -1;
	}
	return box_msg_rename(box, idx, name, 0, 0);
}

/* the dirty messages' renames, until deadline (ns; 0: all of them) */
static void
box_flush(struct mailbox *box, int64_t deadline)
{
	size_t i;
	unsigned int n = 0;

	for (i = box->flush_lo; i < box->st.nmsgs; i++) {
		if (!box->st.msgs[i].dirty || box->st.msgs[i].expunged)
			continue;
		box_flush_one(box, i);
		if (deadline != 0 && ++n % 64 == 0 && now_ns() >= deadline) {
			box->flush_lo = i + 1;
			return;
		}
	}
	box->flush_lo = SIZE_MAX;
}

static void
box_flush_cb(int fd, short what, void *arg)
{
	struct mailbox *box = arg;
	struct timeval tv = {0, 0};

	box_flush(box, now_ns() + FLUSH_SLICE_NS);
	box_log_flush(box, 0);
	/* the rest after whatever else is waiting */
	if (box->flush_lo != SIZE_MAX)
		evtimer_add(box->flushev, &tv);
}

/* message idx (or, idx SIZE_MAX, any) may be dirty: renames to come */
static void
box_flush_later(struct mailbox *box, size_t idx)
{
	struct timeval tv = {0, FLUSH_DELAY_US};

	if (idx == SIZE_MAX)
		idx = 0;
	if (idx < box->flush_lo)
		box->flush_lo = idx;
	if (box->flushev == NULL)
		box_flush(box, 0); /* no event loop: at once */
	else if (!evtimer_pending(box->flushev, NULL))
		evtimer_add(box->flushev, &tv);
}

/* give message idx these flags: the index now, the rename soon */
static int
box_set_flags(struct mailbox *box, size_t idx, uint32_t flags, uint64_t origin)
{
	struct mail_msg *m = &box->st.msgs[idx];
	size_t blen;
	uint32_t named;

	if (maildir_name_parse(mail_msg_name(&box->st, m), &blen, &named) == -1)
		return -1;
	m->flags = flags;
	m->modseq = box_modseq(box);
	m->dirty = flags != named || m->in_new;
	box_event(box, EV_FLAGS, m->uid, origin);
	box_log(box, INDEX_LOG_FLAGS, idx);
	if (m->dirty)
		box_flush_later(box, idx);
	return 0;
}

int
mailbox_store(struct mailbox_view *v, uint32_t seq, enum mailbox_store_op op,
    uint32_t flags, uint64_t unchangedsince)
{
	struct mailbox *box = v->box;
	struct mail_msg *m;
	uint32_t nf;

	if (v->readonly ||
	    (m = (struct mail_msg *)mailbox_view_msg(v, seq)) == NULL)
		return -1;
	if (unchangedsince != 0 && m->modseq > unchangedsince)
		return 1;
	switch (op) {
	case STORE_SET:
		nf = flags;
		break;
	case STORE_ADD:
		nf = m->flags | flags;
		break;
	default:
		nf = m->flags & ~flags;
		break;
	}
	if (nf == m->flags)
		return 0;
	return box_set_flags(box, (size_t)(m - box->st.msgs), nf, v->id);
}

/* 1 if uid is in one of the ranges (or there are none) */
static int
uid_in_ranges(uint32_t uid, const struct mail_uid_range *r, size_t n)
{
	size_t i;

	if (r == NULL)
		return 1;
	for (i = 0; i < n; i++)
		if (uid >= r[i].first && uid <= r[i].last)
			return 1;
	return 0;
}

/* the octets a message's file holds, as maildirsize counts them */
static uint64_t
msg_file_size(struct mailbox *box, const struct mail_msg *m)
{
	uint64_t s;

	if ((s = name_stated_size(
		 mail_msg_name(&box->st, m), m->base_len, 'S')) != 0)
		return s;
	return m->size;
}

/* unlink message idx and tell everyone; the octets freed are added up */
static int
box_remove(
    struct mailbox *box, size_t idx, int64_t *freed, int64_t *freed_count)
{
	char path[MAILDIR_NAME_MAX + 8];
	struct mail_msg *m = &box->st.msgs[idx];

	snprintf(path, sizeof(path), "%s/%s", m->in_new ? "new" : "cur",
	    mail_msg_name(&box->st, m));
	if (box_uidlist_retire(box) == -1)
		return -1;
	if (unlinkat(box->dirfd, path, 0) == -1) {
		if (errno != ENOENT)
			return -1;
	} else if (freed != NULL) {
		*freed += (int64_t)msg_file_size(box, m);
		(*freed_count)++;
	}
	box_msg_expunge(box, idx, 0);
	return 0;
}

int
mailbox_expunge(
    struct mailbox_view *v, const struct mail_uid_range *uids, size_t n)
{
	struct mailbox *box = v->box;
	struct mail_msg *m;
	int64_t freed = 0, count = 0;
	size_t i;
	int rc = 0;

	if (v->readonly)
		return -1;
	mailbox_view_sync(v);
	/* highest first: the sequence numbers told stay the client's */
	for (i = v->n; i > 0; i--) {
		m = (struct mail_msg *)mailbox_view_msg(v, (uint32_t)i);
		if (m == NULL || !(m->flags & MAIL_FLAG_DELETED) ||
		    !uid_in_ranges(m->uid, uids, n))
			continue;
		if (box_remove(
			box, (size_t)(m - box->st.msgs), &freed, &count) == -1)
			rc = -1;
	}
	/* the session counts what APPEND and COPY add; EXPUNGE frees it */
	if (count > 0)
		quota_add(box->user->dirfd, -freed, -count);
	box_log_flush(box, 0);
	mailbox_view_sync(v);
	return rc;
}

/* ---- cached ENVELOPE and BODYSTRUCTURE */

/*
 * boxd.cache: what was computed from message files, so that FETCH of
 * ENVELOPE or BODYSTRUCTURE reads each message once, ever.  Append-only:
 *	"BXCH" version uidvalidity
 *	then records: "BXCR" uid what length text crc32(uid..text)
 * Read on the first FETCH that needs it (opening a folder never does);
 * a record that fails its checks ends the file there.  Keyed by UID, so
 * a new UIDVALIDITY starts a new file.
 */
#define CACHE_MAGIC	   0x42584348U /* "BXCH" */
#define CACHE_REC_MAGIC	   0x42584352U /* "BXCR" */
#define CACHE_VERSION	   1
#define CACHE_TEXT_MAX	   (16U * 1024 * 1024)
#define CACHE_HEADER_SIZE  12
#define CACHE_REC_OVERHEAD 17

static uint32_t
cache_slot(const struct mailbox *box, uint32_t uid, uint32_t what)
{
	return ((uid * 2654435761U) ^ what) & (uint32_t)(box->cache_size - 1);
}

static struct cache_ent *
cache_find(struct mailbox *box, uint32_t uid, uint32_t what)
{
	uint32_t h;

	if (box->cache_size == 0)
		return NULL;
	for (h = cache_slot(box, uid, what); box->cache[h].uid != 0;
	     h = (h + 1) & (uint32_t)(box->cache_size - 1))
		if (box->cache[h].uid == uid && box->cache[h].what == what)
			return &box->cache[h];
	return NULL;
}

static int
cache_insert(struct mailbox *box, uint32_t uid, uint32_t what, uint64_t off,
    uint32_t len)
{
	struct cache_ent *old = box->cache, *e;
	size_t oldsize = box->cache_size, i;
	uint32_t h;

	if ((box->cache_n + 1) * 2 > box->cache_size) {
		size_t size = box->cache_size ? box->cache_size * 2 : 1024;

		if ((box->cache = calloc(size, sizeof(*box->cache))) == NULL) {
			box->cache = old;
			return -1;
		}
		box->cache_size = size;
		box->cache_n = 0;
		for (i = 0; i < oldsize; i++)
			if (old[i].uid != 0)
				cache_insert(box, old[i].uid, old[i].what,
				    old[i].off, old[i].len);
		free(old);
	}
	if ((e = cache_find(box, uid, what)) == NULL) {
		for (h = cache_slot(box, uid, what); box->cache[h].uid != 0;
		     h = (h + 1) & (uint32_t)(box->cache_size - 1))
			;
		e = &box->cache[h];
		box->cache_n++;
	}
	e->uid = uid;
	e->what = what;
	e->off = off;
	e->len = len;
	return 0;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* a new, empty cache of this UIDVALIDITY */
static int
cache_reset(struct mailbox *box)
{
	uint8_t head[CACHE_HEADER_SIZE];

	put_be32(head, CACHE_MAGIC);
	put_be32(head + 4, CACHE_VERSION);
	put_be32(head + 8, box->st.uidvalidity);
	if (ftruncate(box->cachefd, 0) == -1 ||
	    pwrite(box->cachefd, head, sizeof(head), 0) !=
		(ssize_t)sizeof(head))
		return -1;
	box->cache_end = sizeof(head);
	return 0;
}

#define CACHE_WINDOW (256U * 1024)

/*
 * The octets [off, off + len) of the cache file: in the window if they
 * fit (read again from off when they are not all in it), else in *big.
 */
static const uint8_t *
cache_bytes(struct mailbox *box, uint8_t *win, uint64_t *woff, size_t *wlen,
    uint8_t **big, uint64_t off, size_t len)
{
	ssize_t n;

	if (off >= *woff && off + len <= *woff + *wlen)
		return win + (off - *woff);
	if (len > CACHE_WINDOW) {
		free(*big);
		if ((*big = malloc(len)) == NULL ||
		    pread(box->cachefd, *big, len, (off_t)off) != (ssize_t)len)
			return NULL;
		return *big;
	}
	if ((n = pread(box->cachefd, win, CACHE_WINDOW, (off_t)off)) == -1)
		return NULL;
	*woff = off;
	*wlen = (size_t)n;
	return (size_t)n >= len ? win : NULL;
}

/*
 * The records of boxd.cache into the table, read once per open folder,
 * a window of records per read.
 */
static int
cache_load(struct mailbox *box)
{
	uint8_t head[CACHE_HEADER_SIZE], *win, *big = NULL;
	const uint8_t *rec;
	struct stat sb;
	uint64_t off, woff = 0;
	size_t wlen = 0;
	uint32_t uid, what, len = 0, crc, want;

	box->cache_loaded = 1;
	if ((box->cachefd = openat(box->dirfd, INDEX_CACHE,
		 O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return -1;
	if (fstat(box->cachefd, &sb) == -1)
		goto bad;
	if (pread(box->cachefd, head, sizeof(head), 0) !=
		(ssize_t)sizeof(head) ||
	    be32(head) != CACHE_MAGIC || be32(head + 4) != CACHE_VERSION ||
	    be32(head + 8) != box->st.uidvalidity)
		return cache_reset(box);
	if ((win = malloc(CACHE_WINDOW)) == NULL)
		goto bad;
	for (off = sizeof(head);
	     off + CACHE_REC_OVERHEAD <= (uint64_t)sb.st_size;
	     off += CACHE_REC_OVERHEAD + len) {
		if ((rec = cache_bytes(
			 box, win, &woff, &wlen, &big, off, 13)) == NULL ||
		    be32(rec) != CACHE_REC_MAGIC)
			break;
		uid = be32(rec + 4);
		what = rec[8];
		len = be32(rec + 9);
		if (uid == 0 || what >= CACHED_MAX || len > CACHE_TEXT_MAX ||
		    off + CACHE_REC_OVERHEAD + len > (uint64_t)sb.st_size)
			break;
		if ((rec = cache_bytes(box, win, &woff, &wlen, &big, off,
			 CACHE_REC_OVERHEAD + (size_t)len)) == NULL)
			break;
		crc = crc32_update(0, rec + 4, 9 + (size_t)len);
		memcpy(&want, rec + 13 + len, 4);
		if (crc != want)
			break;
		if (cache_insert(box, uid, what, off + 13, len) == -1)
			break;
	}
	free(big);
	free(win);
	/* what follows the last good record is a torn write: cut it */
	box->cache_end = off;
	if (off != (uint64_t)sb.st_size &&
	    ftruncate(box->cachefd, (off_t)off) == -1)
		goto bad;
	return 0;
bad:
	close(box->cachefd);
	box->cachefd = -1;
	return -1;
}

static void
cache_append(struct mailbox *box, uint32_t uid, uint32_t what, const char *text,
    size_t len)
{
	uint8_t *rec;
	uint32_t crc;
	size_t total = len + CACHE_REC_OVERHEAD;

	if (box->cachefd == -1 || len > CACHE_TEXT_MAX ||
	    (rec = malloc(total)) == NULL)
		return;
	put_be32(rec, CACHE_REC_MAGIC);
	put_be32(rec + 4, uid);
	rec[8] = (uint8_t)what;
	put_be32(rec + 9, (uint32_t)len);
	memcpy(rec + 13, text, len);
	crc = crc32_update(0, rec + 4, 9 + len);
	memcpy(rec + 13 + len, &crc, 4);
	/* one write (the role's sandbox has pwrite, not pwritev) */
	if (pwrite(box->cachefd, rec, total, (off_t)box->cache_end) ==
		(ssize_t)total &&
	    cache_insert(box, uid, what, box->cache_end + 13, (uint32_t)len) ==
		0)
		box->cache_end += total;
	/* a short write is cut at the next load */
	free(rec);
}

/* what of m is cached, computed from its file (fd, or opened) if need be */
static int
box_cached(struct mailbox *box, const struct mail_msg *m, int fd, int what,
    const char **text, size_t *len)
{
	struct cache_ent *e;
	char *out = NULL;
	int rc, own = 0;

	if (!box->cache_loaded)
		cache_load(box);
	if ((e = cache_find(box, m->uid, (uint32_t)what)) != NULL &&
	    (out = malloc((size_t)e->len + 1)) != NULL) {
		if (pread(box->cachefd, out, e->len, (off_t)e->off) ==
		    (ssize_t)e->len) {
			out[e->len] = '\0';
			*len = e->len;
			goto done;
		}
		free(out);
		out = NULL;
	}
	if (mail_compute == NULL)
		return -1;
	if (fd == -1) {
		if ((fd = box_msg_openat(box, m)) == -1)
			return -1;
		own = 1;
	} else if (lseek(fd, 0, SEEK_SET) == -1)
		return -1; /* the writer's fd: read from the start */
	rc = mail_compute(fd, what, &out, len);
	if (own)
		close(fd);
	if (rc == -1)
		return -1;
	cache_append(box, m->uid, (uint32_t)what, out, *len);
done:
	free(box->cached);
	box->cached = out;
	*text = out;
	return 0;
}

int
mailbox_msg_cached(struct mailbox_view *v, uint32_t seq, int what,
    const char **text, size_t *len)
{
	const struct mail_msg *m;

	if (what < 0 || what >= CACHED_MAX ||
	    (m = mailbox_view_msg(v, seq)) == NULL)
		return -1;
	return box_cached(v->box, m, -1, what, text, len);
}

/* ---- APPEND, COPY */

/* a base name no other message has: time, a counter, the process */
static void
unique_base(char *buf, size_t len, uint64_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, len, "%lld.M%ldP%dQ%u.boxd,S=%llu", (long long)ts.tv_sec,
	    ts.tv_nsec / 1000, (int)getpid(), ++unique_counter,
	    (unsigned long long)size);
}

struct mail_append *
mailbox_append_begin(
    struct mail_user *u, const char *folder, char *err, size_t errsz)
{
	struct mail_append *a;
	char path[MAILDIR_NAME_MAX + 8];

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if ((a->box = box_get(u, folder, err, errsz)) == NULL) {
		free(a);
		return NULL;
	}
	unique_base(a->tmpname, sizeof(a->tmpname), 0);
	snprintf(path, sizeof(path), "tmp/%s", a->tmpname);
	a->fd = openat(a->box->dirfd, path,
	    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd == -1 && errno == ENOENT &&
	    mkdirat(a->box->dirfd, "tmp", 0700) == 0)
		a->fd = openat(a->box->dirfd, path,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd == -1) {
		snprintf(err, errsz, "cannot create the message: %s",
		    strerror(errno));
		box_put(a->box);
		free(a);
		return NULL;
	}
	return a;
}

int
mailbox_append_fd(struct mail_append *a)
{
	return a->fd;
}

void
mailbox_append_abort(struct mail_append *a)
{
	char path[MAILDIR_NAME_MAX + 8];

	if (a == NULL)
		return;
	snprintf(path, sizeof(path), "tmp/%s", a->tmpname);
	unlinkat(a->box->dirfd, path, 0);
	close(a->fd);
	box_put(a->box);
	free(a);
}

/* the flag bits of keyword names in box, made where they are missing */
static uint32_t
box_keyword_bits(struct mailbox *box, const char *const *kw, size_t n)
{
	uint32_t bits = 0;
	size_t i;
	int k;

	for (i = 0; i < n; i++)
		if ((k = box_keyword(box, kw[i], 1)) != -1)
			bits |= MAILDIR_FLAG_KEYWORD('a' + k);
	return bits;
}

/* a message file just linked into cur/ under name: its UID, durable */
static int
box_take(struct mailbox *box, const char *name, uint32_t *uid)
{
	if (box->st.uidnext == UINT32_MAX || box->st.uidvalidity == 0)
		return -1;
	*uid = box->st.uidnext;
	if (box_msg_new(box, *uid, name, 0, 1) == -1)
		return -1;
	return 0;
}

int
mailbox_append_commit(struct mail_append *a, uint32_t flags,
    const char *const *keywords, size_t nkeywords, int64_t internal_date,
    uint32_t *uidvalidity, uint32_t *uid, char *err, size_t errsz)
{
	struct mailbox *box = a->box;
	char base[MAILDIR_NAME_MAX + 1], name[MAILDIR_NAME_MAX + 1];
	char from[MAILDIR_NAME_MAX + 8], to[MAILDIR_NAME_MAX + 8];
	struct timespec times[2];
	struct mail_msg *m;
	struct stat sb;
	uint64_t size;
	int rc = -1, curfd = -1;

	snprintf(from, sizeof(from), "tmp/%s", a->tmpname);
	box_refresh(box);
	flags = (flags & MAIL_FLAGS_STD) |
	    box_keyword_bits(box, keywords, nkeywords);
	if (fstat(a->fd, &sb) == -1)
		goto io;
	if (internal_date > 0) {
		times[0].tv_sec = times[1].tv_sec = internal_date;
		times[0].tv_nsec = times[1].tv_nsec = 0;
		if (futimens(a->fd, times) == -1)
			goto io;
	}
	if (fsync(a->fd) == -1 || (size = crlf_size(a->fd)) == 0)
		goto io;
	unique_base(base, sizeof(base), (uint64_t)sb.st_size);
	if (maildir_name_build(name, sizeof(name), base, strlen(base), flags) ==
	    -1)
		goto io;
	snprintf(to, sizeof(to), "cur/%s", name);
	if (renameat(box->dirfd, from, box->dirfd, to) == -1)
		goto io;
	/* the name is durable in cur/, then the UID in the log */
	if ((curfd = openat(box->dirfd, "cur",
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(curfd) == -1) {
		unlinkat(box->dirfd, to, 0);
		goto io;
	}
	if (box_take(box, name, uid) == -1) {
		snprintf(err, errsz, "cannot record the message's UID");
		goto done;
	}
	/* FETCH will read nothing of what is known now */
	m = &box->st.msgs[box->st.nmsgs - 1];
	m->size = size;
	m->internal_date =
	    internal_date > 0 ? internal_date : sb.st_mtim.tv_sec;
	box_log(box, INDEX_LOG_INFO, box->st.nmsgs - 1);
	if (box_log_flush(box, 1) == -1) {
		snprintf(err, errsz, "cannot record the message's UID");
		goto done;
	}
	if (mail_compute != NULL) {
		const char *text;
		size_t len;

		/* ENVELOPE too, while the file is at hand */
		box_cached(box, m, a->fd, CACHED_ENVELOPE, &text, &len);
	}
	*uidvalidity = box->st.uidvalidity;
	rc = 0;
	goto done;
io:
	snprintf(err, errsz, "cannot store the message: %s", strerror(errno));
	unlinkat(box->dirfd, from, 0);
done:
	if (curfd != -1)
		close(curfd);
	close(a->fd);
	box_hold(box);
	free(a);
	return rc;
}

/* the cached views of a message go with its copy: nothing is computed */
static void
copy_cached(
    struct mailbox *src, uint32_t suid, struct mailbox *dst, uint32_t duid)
{
	struct cache_ent *e;
	char *text;
	int what;

	if (!src->cache_loaded)
		return; /* nothing was fetched there since it opened */
	if (!dst->cache_loaded)
		cache_load(dst);
	for (what = 0; what < CACHED_MAX; what++) {
		if ((e = cache_find(src, suid, (uint32_t)what)) == NULL ||
		    (text = malloc((size_t)e->len + 1)) == NULL)
			continue;
		if (pread(src->cachefd, text, e->len, (off_t)e->off) ==
		    (ssize_t)e->len)
			cache_append(dst, duid, (uint32_t)what, text, e->len);
		free(text);
	}
}

/* a copy of the file when a hard link is not possible */
static int
copy_file(int fromdir, const char *from, int todir, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out, rc = -1;

	if ((in = msg_file_open(fromdir, from)) == -1)
		return -1;
	if ((out = openat(todir, to,
		 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) ==
	    -1) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, (size_t)n) == -1)
			break;
	if (n == 0 && fsync(out) == 0)
		rc = 0;
	close(in);
	if (close(out) == -1)
		rc = -1;
	if (rc == -1)
		unlinkat(todir, to, 0);
	return rc;
}

/* the target's flag bits for a source message's flags */
static uint32_t
copy_flags(struct mailbox *src, struct mailbox *dst, uint32_t flags)
{
	uint32_t out = flags & MAIL_FLAGS_STD;
	int i, k;

	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (!(flags & MAILDIR_FLAG_KEYWORD('a' + i)) ||
		    src->kw.name[i] == NULL)
			continue;
		if ((k = box_keyword(dst, src->kw.name[i], 1)) != -1)
			out |= MAILDIR_FLAG_KEYWORD('a' + k);
	}
	return out;
}

int
mailbox_copy(struct mailbox_view *v, const uint32_t *seqs, size_t nseqs,
    const char *folder, int move, uint32_t *uidvalidity, uint32_t **src,
    uint32_t **dst, size_t *n, char *err, size_t errsz)
{
	struct mailbox *sbox = v->box, *dbox;
	char base[MAILDIR_NAME_MAX + 1], name[MAILDIR_NAME_MAX + 1];
	char from[MAILDIR_NAME_MAX + 8], to[MAILDIR_NAME_MAX + 8];
	const struct mail_msg *m;
	uint32_t *s = NULL, *d = NULL, uid;
	size_t i, k = 0, sidx;
	int rc = -1, curfd;

	*src = *dst = NULL;
	*n = 0;
	if (move && v->readonly) {
		snprintf(err, errsz, "the mailbox is read-only");
		return -1;
	}
	if ((dbox = box_get(sbox->user, folder, err, errsz)) == NULL)
		return -1;
	if ((s = reallocarray(NULL, nseqs + 1, sizeof(*s))) == NULL ||
	    (d = reallocarray(NULL, nseqs + 1, sizeof(*d))) == NULL) {
		snprintf(err, errsz, "out of memory");
		goto done;
	}

	for (i = 0; i < nseqs; i++) {
		if ((m = mailbox_view_msg(v, seqs[i])) == NULL)
			continue; /* expunged meanwhile: nothing to copy */
		unique_base(base, sizeof(base),
		    name_stated_size(
			mail_msg_name(&sbox->st, m), m->base_len, 'S'));
		if (maildir_name_build(name, sizeof(name), base, strlen(base),
			copy_flags(sbox, dbox, m->flags)) == -1)
			continue;
		snprintf(from, sizeof(from), "%s/%s", m->in_new ? "new" : "cur",
		    mail_msg_name(&sbox->st, m));
		snprintf(to, sizeof(to), "cur/%s", name);
		if (linkat(sbox->dirfd, from, dbox->dirfd, to, 0) == -1 &&
		    copy_file(sbox->dirfd, from, dbox->dirfd, to) == -1) {
			snprintf(
			    err, errsz, "cannot copy: %s", strerror(errno));
			goto done;
		}
		sidx = (size_t)(m - sbox->st.msgs);
		s[k] = m->uid;
		if (box_take(dbox, name, &uid) == -1) {
			snprintf(err, errsz, "cannot record the copy's UID");
			goto done;
		}
		/* what the source knows of it holds for the copy */
		dbox->st.msgs[dbox->st.nmsgs - 1].size =
		    sbox->st.msgs[sidx].size;
		dbox->st.msgs[dbox->st.nmsgs - 1].internal_date =
		    sbox->st.msgs[sidx].internal_date;
		box_log(dbox, INDEX_LOG_INFO, dbox->st.nmsgs - 1);
		copy_cached(sbox, s[k], dbox, uid);
		d[k++] = uid;
	}
	if ((curfd = openat(dbox->dirfd, "cur",
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(curfd) == -1 || box_log_flush(dbox, 1) == -1) {
		if (curfd != -1)
			close(curfd);
		snprintf(err, errsz, "cannot make the copies durable");
		goto done;
	}
	close(curfd);
	if (move) {
		for (i = 0; i < k; i++) {
			m = index_msg_find(&sbox->st, s[i]);
			if (m != NULL && !m->expunged)
				box_remove(sbox, (size_t)(m - sbox->st.msgs),
				    NULL, NULL);
		}
		box_log_flush(sbox, 0);
	}
	*uidvalidity = dbox->st.uidvalidity;
	*src = s;
	*dst = d;
	*n = k;
	s = d = NULL;
	rc = 0;
done:
	free(s);
	free(d);
	box_put(dbox);
	return rc;
}

/* ---- STATUS, QRESYNC, deliveries */

/*
 * A message's size for STATUS=SIZE: RFC822.SIZE once known, else what
 * its name states (exact for CRLF files), and only failing that read
 * from the file: a STATUS of every folder must not read every message.
 */
static uint64_t
status_size(struct mailbox *box, struct mail_msg *m)
{
	uint64_t s;

	if (m->size != 0)
		return m->size;
	if ((s = name_stated_size(
		 mail_msg_name(&box->st, m), m->base_len, 'S')) != 0)
		return s;
	box_msg_learn(box, m);
	return m->size;
}

int
mailbox_status(struct mail_user *u, const char *folder,
    struct mailbox_status *out, char *err, size_t errsz)
{
	struct mailbox *box;
	struct mail_msg *m;
	size_t i;

	if ((box = box_get(u, folder, err, errsz)) == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	out->uidnext = box->st.uidnext;
	out->uidvalidity = box->st.uidvalidity;
	out->highestmodseq = box->st.highestmodseq;
	for (i = 0; i < box->st.nmsgs; i++) {
		m = &box->st.msgs[i];
		if (m->expunged)
			continue;
		out->messages++;
		if (m->recent)
			out->recent++;
		if (!(m->flags & MAILDIR_FLAG_SEEN))
			out->unseen++;
		if (m->flags & MAIL_FLAG_DELETED)
			out->deleted++;
		out->size += status_size(box, m);
	}
	box_put(box);
	return 0;
}

int
mailbox_view_vanished_since(struct mailbox_view *v, uint64_t modseq,
    struct mail_uid_range **out, size_t *n)
{
	const struct index_state *st = &v->box->st;
	struct mail_uid_range *r;
	uint32_t next = 1;
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	if (modseq >= st->vanished_floor) {
		if ((r = reallocarray(NULL, st->nvanished + 1, sizeof(*r))) ==
		    NULL)
			return -1;
		for (i = 0; i < st->nvanished; i++)
			if (st->vanished[i].modseq > modseq)
				r[k++] = st->vanished[i];
		*out = r;
		*n = k;
		return 0;
	}
	/* forgotten that far back: every UID below UIDNEXT not here now */
	if ((r = reallocarray(NULL, st->nmsgs + 1, sizeof(*r))) == NULL)
		return -1;
	for (i = 0; i < st->nmsgs; i++) {
		if (st->msgs[i].expunged)
			continue;
		if (st->msgs[i].uid > next) {
			r[k].first = next;
			r[k].last = st->msgs[i].uid - 1;
			r[k++].modseq = st->highestmodseq;
		}
		next = st->msgs[i].uid + 1;
	}
	if (next < st->uidnext) {
		r[k].first = next;
		r[k].last = st->uidnext - 1;
		r[k++].modseq = st->highestmodseq;
	}
	*out = r;
	*n = k;
	return 1;
}

void
mailbox_notify_delivery(const char *mailbox)
{
	struct mail_user *u;
	struct mailbox *box;
	struct timeval tv = {0, RESCAN_DELAY_MS * 1000};

	TAILQ_FOREACH(u, &mail_users, entry) {
		if (strcmp(u->mailbox, mailbox) != 0)
			continue;
		TAILQ_FOREACH(box, &u->boxes, entry) {
			if (strcmp(box->dir, ".") != 0)
				continue;
			box->dirty = 1;
			if (box->rescanev != NULL)
				evtimer_add(box->rescanev, &tv);
		}
	}
}
