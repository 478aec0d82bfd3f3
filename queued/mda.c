/*
 * The mda role: local delivery into Maildir.  Messages that arrive
 * together are flushed together: every tmp/ file of the batch, one
 * flush, the renames into new/, one more flush, then the queue hears
 * that they are delivered and may forget them.
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

struct mda_job {
	TAILQ_ENTRY(mda_job) entry;
	uint64_t msgid;
	int status;
	char why[512];
	struct maildir_delivery *d; /* to publish */
	int *fds;		    /* their tmp files */
	size_t nd;
};

#define MDA_BATCH_MAX  128
#define MDA_BATCH_USEC 5000

static TAILQ_HEAD(, mda_job) jobs = TAILQ_HEAD_INITIALIZER(jobs);
static size_t njobs;
static const struct timeval batch_delay = {0, MDA_BATCH_USEC};
static struct event *flush_ev;
static int rootfd = -1;

/*
 * One recipient could not be served; the others still are.  A temporary
 * failure outranks a permanent one: the message comes back, and what was
 * delivered already is recognised then.
 */
static void
mda_rcpt_failed(struct mda_job *job, int status, const char *why)
{
	static const int rank[] = {
	    [MDA_OK] = 0, [MDA_PERMFAIL] = 1, [MDA_TEMPFAIL] = 2};

	if (rank[status] <= rank[job->status])
		return;
	job->status = status;
	strlcpy(job->why, why, sizeof(job->why));
}

static void
mda_deliver(struct msg_reader *r, struct imsg *imsg)
{
	struct mda_job *job;
	uint64_t body_offset, body_size;
	uint32_t n, i;
	char sender[SMTP_PATH_MAX], mailbox[ENVELOPE_MAILBOX_MAX];
	char why[512], show[80];
	int fd, sender_ok;

	job = xcalloc(1, sizeof(*job));
	if (msg_get_u64(r, &job->msgid) == -1 ||
	    msg_get_u64(r, &body_offset) == -1 ||
	    msg_get_u64(r, &body_size) == -1 ||
	    msg_get_str(r, sender, sizeof(sender)) == -1 ||
	    msg_get_u32(r, &n) == -1 || n == 0 || n > r->left / 4 ||
	    imsg->fd == -1)
		child_bad_imsg(imsg, "mda deliver");
	job->d = xcalloc(n, sizeof(*job->d));
	job->fds = xcalloc(n, sizeof(*job->fds));
	job->status = MDA_OK;
	/*
	 * The queue checked all of it, but mda trusts no name it makes a
	 * path or a header line of: a bad one fails, and is logged.
	 */
	if (!(sender_ok = envelope_sender_valid(sender))) {
		log_warnx("message %016" PRIx64 ": refusing sender <%s>",
		    job->msgid, envelope_show(sender, show, sizeof(show)));
		mda_rcpt_failed(job, MDA_PERMFAIL, "invalid sender address");
	}
	for (i = 0; i < n; i++) {
		if (msg_get_str(r, mailbox, sizeof(mailbox)) == -1)
			child_bad_imsg(imsg, "mda deliver");
		if (!sender_ok)
			continue;
		if (!envelope_mailbox_valid(mailbox)) {
			envelope_show(mailbox, show, sizeof(show));
			log_warnx("message %016" PRIx64 ": refusing mailbox "
				  "name \"%s\"",
			    job->msgid, show);
			snprintf(why, sizeof(why),
			    "invalid mailbox name \"%s\"", show);
			mda_rcpt_failed(job, MDA_PERMFAIL, why);
			continue;
		}
		fd = maildir_write(rootfd, mailbox, job->msgid, i,
		    child->conf.hostname, sender, imsg->fd, body_offset,
		    body_size, &job->d[job->nd]);
		if (fd == MAILDIR_DONE_BEFORE)
			continue;
		if (fd == -1) {
			snprintf(why, sizeof(why), "%.300s: %.100s", mailbox,
			    strerror(errno));
			mda_rcpt_failed(job,
			    errno == ENOSPC || errno == EDQUOT ||
				    errno == EIO || errno == EMFILE ||
				    errno == ENFILE
				? MDA_TEMPFAIL
				: MDA_PERMFAIL,
			    why);
			continue;
		}
		job->fds[job->nd++] = fd;
	}
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "mda deliver");
	TAILQ_INSERT_TAIL(&jobs, job, entry);
	/*
	 * Nobody waits on a delivery but the queue: gather a few ms worth
	 * of them so the flushes stay few and leave the disk to commits.
	 */
	if (++njobs >= MDA_BATCH_MAX)
		event_active(flush_ev, EV_TIMEOUT, 0);
	else if (njobs == 1)
		evtimer_add(flush_ev, &batch_delay);
}

static void
mda_reply(struct mda_job *job)
{
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_u64(&w, job->msgid);
	msg_put_u32(&w, (uint32_t)job->status);
	msg_put_str(&w, job->why);
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
	size_t i;
	int fd, rv = 0;

	TAILQ_FOREACH(job, &jobs, entry) {
		for (i = 0; i < job->nd; i++) {
			snprintf(
			    path, sizeof(path), "%s/new", job->d[i].mailbox);
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

/* flush every file of every job, publish, flush the directories */
static void
mda_flush(evutil_socket_t unused, short events, void *arg)
{
	struct mda_job *job;
	char why[512];
	size_t i, files = 0;
	int batch = 0, flushed;

	TAILQ_FOREACH(job, &jobs, entry)
		files += job->nd;
#ifdef __linux__
	/* also covers the directories of a Maildir made just now */
	if (files > 0 && syncfs(rootfd) == 0)
		batch = 1;
#endif
	TAILQ_FOREACH(job, &jobs, entry) {
		flushed = 1;
		for (i = 0; i < job->nd && !batch && flushed; i++)
			if (fsync(job->fds[i]) == -1) {
				mda_rcpt_failed(
				    job, MDA_TEMPFAIL, strerror(errno));
				flushed = 0;
			}
		for (i = 0; i < job->nd; i++)
			close(job->fds[i]);
		/* nothing is published that is not on disk */
		for (i = 0; i < job->nd && flushed; i++)
			if (maildir_publish(rootfd, &job->d[i]) == -1) {
				snprintf(why, sizeof(why),
				    "rename into %.300s/new: %.100s",
				    job->d[i].mailbox, strerror(errno));
				mda_rcpt_failed(job, MDA_TEMPFAIL, why);
			}
	}
	if (files > 0 && mda_sync_dirs() == -1)
		TAILQ_FOREACH(job, &jobs, entry)
			mda_rcpt_failed(job, MDA_TEMPFAIL,
			    "flush of the mail store failed");
	evtimer_del(flush_ev);
	njobs = 0;
	while ((job = TAILQ_FIRST(&jobs)) != NULL) {
		TAILQ_REMOVE(&jobs, job, entry);
		mda_reply(job);
		free(job->d);
		free(job->fds);
		free(job);
	}
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
