/*
 * The mda role: local delivery into Maildir.  Messages that arrive
 * together are flushed together: every tmp/ file of the batch, one
 * flush, the renames into new/, one more flush, then the queue hears
 * how each recipient fared: delivered, failed for good, or to be tried
 * again.  A batch that would hold more tmp/ files open than half the
 * descriptors is flushed and renamed in parts as it comes in.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"
#include "queued.h"

/* one recipient of a job, and how it fared */
struct mda_rcpt {
	uint32_t idx; /* in the envelope: part of the Maildir name */
	uint32_t status;
	int fd;	       /* the tmp file to publish, or -1 */
	int sync;      /* its new/ entry is to be flushed */
	uint64_t size; /* written now (0: an earlier try had delivered it) */
	struct maildir_delivery d;
	char why[RCPT_REPLY_MAX];
};

struct mda_job {
	TAILQ_ENTRY(mda_job) entry;
	uint64_t msgid;
	struct mda_rcpt *r;
	uint32_t n;
};

#define MDA_BATCH_MAX  128
#define MDA_BATCH_USEC 5000

static TAILQ_HEAD(, mda_job) jobs = TAILQ_HEAD_INITIALIZER(jobs);
static size_t njobs;
/*
 * tmp/ files held open until their flush, and how many may be: half the
 * descriptors, the rest for what comes in meanwhile (a descriptor that
 * finds no room in an imsg from the queue is fatal)
 */
static size_t nopen, open_max;
static const struct timeval batch_delay = {0, MDA_BATCH_USEC};
static struct event *flush_ev;
static int rootfd = -1;

/*
 * What cannot succeed however often it is tried: a name that is no
 * mailbox, a mail store whose structure is wrong where the mailbox
 * should be (a file or a symbolic link loop in its path).  Everything
 * else (permissions, a full or read-only file system, quotas, I/O
 * errors, running out of descriptors or memory) can be repaired, and
 * is tried again until the message expires.
 */
static int
mda_errno_permanent(int e)
{
	switch (e) {
	case EINVAL:
	case ENAMETOOLONG:
	case ENOTDIR:
	case ELOOP:
		return 1;
	default:
		return 0;
	}
}

/*
 * One recipient failed; the others are served on their own.  The queue
 * logs it, with what it does about it.
 */
static void
mda_rcpt_failed(struct mda_rcpt *rc, uint32_t status, const char *why)
{
	rc->status = status;
	strlcpy(rc->why, why, sizeof(rc->why));
}

static void mda_publish(void);
static void mda_tell_imap(struct mda_job *);
static int mda_over_quota(const char *, uint64_t);

static void
mda_deliver(struct msg_reader *r, struct imsg *imsg)
{
	struct mda_job *job;
	struct mda_rcpt *rc;
	struct spool_msg m;
	struct stat st;
	uint32_t n, i, flags;
	char sender[SMTP_PATH_MAX], mailbox[ENVELOPE_MAILBOX_MAX];
	char why[RCPT_REPLY_MAX], show[80];
	int fd, sender_ok, done;

	memset(&m, 0, sizeof(m));
	job = xcalloc(1, sizeof(*job));
	if (msg_get_u64(r, &job->msgid) == -1 ||
	    msg_get_u64(r, &m.body_offset) == -1 ||
	    msg_get_u64(r, &m.body_size) == -1 ||
	    msg_get_u64(r, &m.prepend_offset) == -1 ||
	    msg_get_u32(r, &m.prepend_size) == -1 ||
	    msg_get_str(r, sender, sizeof(sender)) == -1 ||
	    msg_get_u32(r, &flags) == -1 || (flags & ~MDA_DELIVER_RETRY) != 0 ||
	    msg_get_u32(r, &n) == -1 || n == 0 || n > MDA_RCPT_MAX ||
	    n > r->left / 8 || imsg->fd == -1)
		child_bad_imsg(imsg, "mda deliver");
	job->r = xcalloc(n, sizeof(*job->r));
	job->n = n;
	for (i = 0; i < n; i++)
		job->r[i].fd = -1;
	/* in the list from now on: a flush for room covers it too */
	TAILQ_INSERT_TAIL(&jobs, job, entry);
	/*
	 * The queue checked all of it, but mda trusts no name it makes a
	 * path or a header line of: a bad one fails, and is logged.
	 */
	if (!(sender_ok = envelope_sender_valid(sender)))
		log_warnx("message %016" PRIx64 ": refusing sender <%s>",
		    job->msgid, envelope_show(sender, show, sizeof(show)));
	for (i = 0; i < n; i++) {
		rc = &job->r[i];
		rc->status = MDA_OK;
		if (msg_get_u32(r, &rc->idx) == -1 ||
		    msg_get_str(r, mailbox, sizeof(mailbox)) == -1)
			child_bad_imsg(imsg, "mda deliver");
		if (!sender_ok) {
			snprintf(why, sizeof(why), "%s: invalid sender address",
			    envelope_show(mailbox, show, sizeof(show)));
			mda_rcpt_failed(rc, MDA_PERMFAIL, why);
			continue;
		}
		if (!envelope_mailbox_valid(mailbox)) {
			snprintf(why, sizeof(why),
			    "invalid mailbox name \"%s\"",
			    envelope_show(mailbox, show, sizeof(show)));
			mda_rcpt_failed(rc, MDA_PERMFAIL, why);
			continue;
		}
		/* an earlier try may have delivered it, its report lost */
		done = 0;
		if (flags & MDA_DELIVER_RETRY)
			done = maildir_delivered(
			    rootfd, mailbox, job->msgid, rc->idx);
		if (done == 1) {
			strlcpy(rc->d.mailbox, mailbox, sizeof(rc->d.mailbox));
			rc->sync = 1;
			continue;
		}
		rc->size = m.body_size + m.prepend_size;
		if (mda_over_quota(mailbox, rc->size)) {
			snprintf(why, sizeof(why), "%s: 4.2.2 mailbox full",
			    envelope_show(mailbox, show, sizeof(show)));
			mda_rcpt_failed(rc, MDA_TEMPFAIL, why);
			continue;
		}
		if (nopen >= open_max)
			mda_publish();
		fd = -1;
		if (done == 0)
			fd = maildir_write(rootfd, mailbox, job->msgid, rc->idx,
			    child->conf.hostname, sender, imsg->fd, &m, &rc->d);
		if (fd == -1) {
			snprintf(why, sizeof(why), "%.150s: %.100s", mailbox,
			    strerror(errno));
			mda_rcpt_failed(rc,
			    mda_errno_permanent(errno) ? MDA_PERMFAIL
						       : MDA_TEMPFAIL,
			    why);
			continue;
		}
		rc->fd = fd;
		nopen++;
		/* what quota counts: the file, with the header mda wrote */
		if (fstat(fd, &st) == 0)
			rc->size = (uint64_t)st.st_size;
	}
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "mda deliver");
	/*
	 * Nobody waits on a delivery but the queue: gather a few ms worth
	 * of them so the flushes stay few and leave the disk to commits.
	 */
	if (++njobs >= MDA_BATCH_MAX)
		event_active(flush_ev, EV_TIMEOUT, 0);
	else if (njobs == 1)
		evtimer_add(flush_ev, &batch_delay);
}

size_t
mda_reply_room(uint32_t n)
{
	size_t each;

	if (n == 0)
		return RCPT_REPLY_MAX - 1;
	/* the message id and count, then index, status, length and reply */
	each = (IMSG_MAX_SIZE - IMSG_HDR_SIZE - 12) / n;
	each = each > 12 ? each - 12 : 0;
	return each < RCPT_REPLY_MAX - 1 ? each : RCPT_REPLY_MAX - 1;
}

/*
 * One status and reply per recipient, in the order the queue sent them;
 * the replies are cut so that the most recipients a job has fit one imsg.
 */
static void
mda_reply(struct mda_job *job)
{
	struct msg_writer w;
	char why[RCPT_REPLY_MAX];
	size_t room;
	uint32_t i;

	room = mda_reply_room(job->n);
	msg_writer_init(&w);
	msg_put_u64(&w, job->msgid);
	msg_put_u32(&w, job->n);
	for (i = 0; i < job->n; i++) {
		snprintf(why, room + 1, "%s", job->r[i].why);
		msg_put_u32(&w, job->r[i].idx);
		msg_put_u32(&w, job->r[i].status);
		msg_put_str(&w, why);
	}
	child_send(PROC_QUEUE, IMSG_MDA_DONE, 0, -1, &w);
}

/* make the renames durable: one flush, or the new/ of each delivery */
static int
mda_sync_dirs(void)
{
#ifdef __linux__
	return syncfs(rootfd);
#else
	struct mda_job *job;
	char path[PATH_MAX];
	uint32_t i;
	int fd, rv = 0;

	TAILQ_FOREACH(job, &jobs, entry) {
		for (i = 0; i < job->n; i++) {
			if (!job->r[i].sync)
				continue;
			snprintf(
			    path, sizeof(path), "%s/new", job->r[i].d.mailbox);
			if ((fd = openat(rootfd, path,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
			    fsync(fd) == -1)
				rv = -1;
			if (fd != -1)
				close(fd);
		}
	}
	return rv;
#endif
}

/* the flush of new/ failed: no delivery of the batch is sure */
static void
mda_sync_failed(void)
{
	struct mda_job *job;
	char why[RCPT_REPLY_MAX];
	uint32_t i;

	TAILQ_FOREACH(job, &jobs, entry) {
		for (i = 0; i < job->n; i++) {
			if (!job->r[i].sync)
				continue;
			snprintf(why, sizeof(why),
			    "%.150s: flush of the mail store failed",
			    job->r[i].d.mailbox);
			mda_rcpt_failed(&job->r[i], MDA_TEMPFAIL, why);
		}
	}
}

/*
 * Flush every open tmp/ file and rename it into new/, closing it: at the
 * end of a batch, or in the middle of one when the files open reach
 * open_max.  The queue hears of none before mda_flush() has flushed the
 * directories too.
 */
static void
mda_publish(void)
{
	struct mda_job *job;
	struct mda_rcpt *rc;
	char why[RCPT_REPLY_MAX];
	uint32_t i;
	int batch = 0;

	if (nopen == 0)
		return;
#ifdef __linux__
	/* also covers the directories of a Maildir made just now */
	if (syncfs(rootfd) == 0)
		batch = 1;
#endif
	TAILQ_FOREACH(job, &jobs, entry) {
		for (i = 0; i < job->n; i++) {
			rc = &job->r[i];
			if (rc->fd == -1)
				continue;
			/* nothing is published that is not on disk */
			if (!batch && fsync(rc->fd) == -1) {
				snprintf(why, sizeof(why),
				    "%.150s: fsync: %.80s", rc->d.mailbox,
				    strerror(errno));
				mda_rcpt_failed(rc, MDA_TEMPFAIL, why);
			} else if (maildir_publish(rootfd, &rc->d) == -1) {
				snprintf(why, sizeof(why),
				    "%.150s: rename into new/: %.80s",
				    rc->d.mailbox, strerror(errno));
				mda_rcpt_failed(rc, MDA_TEMPFAIL, why);
			} else
				rc->sync = 1;
			close(rc->fd);
			rc->fd = -1;
		}
	}
	nopen = 0;
}

/* flush every file of every job, publish, flush the directories, reply */
static void
mda_flush(evutil_socket_t unused, short events, void *arg)
{
	struct mda_job *job;
	uint32_t i;
	size_t syncs = 0;

	mda_publish();
	TAILQ_FOREACH(job, &jobs, entry)
		for (i = 0; i < job->n; i++)
			syncs += job->r[i].sync;
	/* what a retry found delivered before is flushed again too */
	if (syncs > 0 && mda_sync_dirs() == -1)
		mda_sync_failed();
	evtimer_del(flush_ev);
	njobs = 0;
	while ((job = TAILQ_FIRST(&jobs)) != NULL) {
		TAILQ_REMOVE(&jobs, job, entry);
		mda_reply(job);
		mda_tell_imap(job);
		free(job->r);
		free(job);
	}
}

/* what was delivered counts against the quota, and wakes IDLE */
static void
mda_tell_imap(struct mda_job *job)
{
	struct msg_writer w;
	uint32_t i;
	int fd;

	for (i = 0; i < job->n; i++) {
		if (job->r[i].status != MDA_OK || !job->r[i].sync)
			continue;
		if (job->r[i].size > 0 &&
		    (fd = openat(rootfd, job->r[i].d.mailbox,
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
			if (quota_add(fd, (int64_t)job->r[i].size, 1) == -1)
				log_warnx("%s: quota usage not updated",
				    job->r[i].d.mailbox);
			close(fd);
		}
		msg_writer_init(&w);
		msg_put_str(&w, job->r[i].d.mailbox);
		child_send(PROC_IMAP, IMSG_MDA_DELIVERED, 0, -1, &w);
	}
}

/*
 * Over quota is a temporary failure (RFC 3463 4.2.2): the queue tries
 * again, and the user may make room meanwhile.  1 over, 0 not (or no
 * Maildir yet, no quota).
 */
static int
mda_over_quota(const char *mailbox, uint64_t size)
{
	int fd, rv;

	if ((fd = openat(
		 rootfd, mailbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	rv = quota_check(fd, size, 1);
	close(fd);
	return rv == 1;
}

static void
mda_dispatch_queue(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_MDA_DELIVER:
		mda_deliver(&r, imsg);
		break;
	default:
		child_bad_imsg(imsg, "from queue");
	}
}

void
mda_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};

	child_init(PROC_MDA, NULL);
	child_drop();
	if ((rootfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("open mail store");
	open_max = fd_limit_raise() / 2;
	if (open_max == 0)
		open_max = 1;
	umask(0077);
	child_sandbox();

	if (event_base_priority_init(child->base, 3) == -1)
		fatalx("event_base_priority_init");
	if ((flush_ev = evtimer_new(child->base, mda_flush, NULL)) == NULL)
		fatalx("event_new");
	event_priority_set(flush_ev, 2);
	handlers[PROC_QUEUE] = mda_dispatch_queue;
	child_run(handlers);
}
