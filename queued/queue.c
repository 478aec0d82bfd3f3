/*
 * The queue role: creates spool files for smtp, commits them in batches
 * (one flush covers every message that arrived meanwhile), hands
 * committed messages to mda, and keeps each recipient's state: what mda
 * could not deliver is tried again on the backoff schedule, recipient
 * by recipient, and a message leaves the spool once no recipient is
 * pending (into failed/ if one failed, after a report to its sender:
 * the bounce, a message of its own).  Before a retry, auth says
 * whether each mailbox is still a user's: one whose user was deleted
 * meanwhile fails, alone, rather than be delivered into what is left of
 * its Maildir.
 */

#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"
#include "queued.h"

#define QUEUE_INFLIGHT_MAX 256 /* messages handed to mda at once */
/* records of abandoned receptions kept at most (some 64 bytes each) */
#define QUEUE_REAPED_MAX 65536

/* a message between create and commit */
struct incoming {
	RB_ENTRY(incoming) entry;
	uint64_t msgid;
	int fd; /* ours, read-write; smtp has an append-only one */
	uint64_t body_offset;
	uint32_t hdr_crc;
	uint64_t created; /* now_ms() */
	int committing;	  /* in a commit batch: the commit decides */
	struct envelope env;
};

/*
 * A reception the safety net removed (smtp held it too long): its COMMIT
 * may still come, and must fail rather than meet an unknown id.  smtp
 * ends every reception with a COMMIT or an ABORT, which drops the
 * record; only the oldest go if smtp has lost a great many.
 */
struct reaped {
	RB_ENTRY(reaped) entry;
	TAILQ_ENTRY(reaped) age;
	uint64_t msgid;
};

/* a committed message waiting for (or in) delivery */
struct qmsg {
	RB_ENTRY(qmsg) entry;
	TAILQ_ENTRY(qmsg) wait;	  /* for a delivery slot */
	TAILQ_ENTRY(qmsg) settle; /* for its state to be written */
	uint64_t msgid;
	uint64_t received;	/* rcpt_received(): expiry counts from it */
	uint32_t nrcpt;		/* 0 until its envelope was read */
	struct rcpt_state *rs;	/* NULL: every recipient pending, none tried */
	uint32_t load_failures; /* reads of its file that failed for now */
	int state_read;		/* ID.state was looked for */
	int state_on_disk;	/* spool/ID.state exists */
	int inflight;		/* a job is out to mda */
	int checking;		/* its chosen mailboxes are out to auth */
	int checked;		/* auth answered: the chosen go to mda */
	int fresh;		/* just committed, never out to mda */
	int waiting;
	int settling;
	int state_written; /* queue_settled(): this round's write went well */
	int leaving;	   /* QUEUE_LEAVE_*: done with, not yet out of spool/ */
	int bouncing;	   /* auth is finding its sender's mailboxes */
	uint32_t leave_failures;
	struct event *timer;
};

/* where a message goes once it is done with */
#define QUEUE_LEAVE_DELIVERED 1 /* removed */
#define QUEUE_LEAVE_FAILED    2 /* into failed/ */

struct commit {
	uint64_t reqid;
	struct incoming *in;
};

/* commits gathered while the previous batch is being flushed */
struct commit_batch {
	struct commit *c;
	struct spool_commit *sc;
	size_t n;
	size_t cap;
};

RB_HEAD(incoming_tree, incoming);
RB_HEAD(reaped_tree, reaped);
RB_HEAD(qmsg_tree, qmsg);
TAILQ_HEAD(qmsg_list, qmsg);

static int
incoming_cmp(struct incoming *a, struct incoming *b)
{
	return a->msgid < b->msgid ? -1 : a->msgid > b->msgid;
}

static int
reaped_cmp(struct reaped *a, struct reaped *b)
{
	return a->msgid < b->msgid ? -1 : a->msgid > b->msgid;
}

static int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	return a->msgid < b->msgid ? -1 : a->msgid > b->msgid;
}

RB_GENERATE_STATIC(incoming_tree, incoming, entry, incoming_cmp);
RB_GENERATE_STATIC(reaped_tree, reaped, entry, reaped_cmp);
RB_GENERATE_STATIC(qmsg_tree, qmsg, entry, qmsg_cmp);

static struct spool spool;
static struct incoming_tree incomings = RB_INITIALIZER(&incomings);
static struct reaped_tree reapeds = RB_INITIALIZER(&reapeds);
static TAILQ_HEAD(, reaped) reaped_age = TAILQ_HEAD_INITIALIZER(reaped_age);
static size_t nreaped;
static struct event *reap_ev;
static struct qmsg_tree qmsgs = RB_INITIALIZER(&qmsgs);
static struct qmsg_list waiting = TAILQ_HEAD_INITIALIZER(waiting);
/* messages whose new state is to be written and flushed, then acted on */
static TAILQ_HEAD(, qmsg) settling = TAILQ_HEAD_INITIALIZER(settling);
static struct event *settle_ev;
static uint32_t settle_failures; /* rounds in a row that kept a message */
static struct commit_batch batches[2];
static struct commit_batch *gathering = &batches[0];
static struct commit_batch *flushing = &batches[1];
static struct event *commit_ev;

/*
 * The flusher thread does the blocking part of a commit (trailers and
 * the flush) so that the queue keeps creating spool files and gathering
 * the next batch meanwhile.
 */
static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int todo; /* a batch is handed over */
	int busy; /* main loop: flushing is out */
	int donefd[2];
	struct event *done_ev;
} flusher = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};
static size_t inflight;
static uint64_t stat_received, stat_delivered;
static size_t stat_queued;

static void queue_deliver(struct qmsg *);
static uint64_t queue_unused_msgid(void);

/* the creation time in the high half (Maildir names use it), then noise */
static uint64_t
queue_new_msgid(void)
{
	return (uint64_t)time(NULL) << 32 | arc4random();
}

static struct qmsg *
queue_track(uint64_t msgid)
{
	struct qmsg *q;

	q = xcalloc(1, sizeof(*q));
	q->msgid = msgid;
	/* the creation time (queue_new_msgid()) */
	q->received = rcpt_received(msgid >> 32, (uint64_t)time(NULL));
	if (RB_INSERT(qmsg_tree, &qmsgs, q) != NULL)
		fatalx("message %016" PRIx64 " queued twice", msgid);
	stat_queued++;
	return q;
}

static void
queue_forget(struct qmsg *q)
{
	if (q->settling)
		fatalx("message %016" PRIx64 " forgotten while settling",
		    q->msgid);
	/* auth's answer, should it come, finds no message and is dropped */
	if (q->checking)
		inflight--;
	if (q->timer != NULL)
		event_free(q->timer);
	if (q->waiting)
		TAILQ_REMOVE(&waiting, q, wait);
	RB_REMOVE(qmsg_tree, &qmsgs, q);
	stat_queued--;
	free(q->rs);
	free(q);
}

/* its retry schedule: expiry counts from when it was received */
static void
queue_policy(const struct qmsg *q, struct rcpt_policy *p)
{
	p->received = q->received;
	p->retry = child->conf.queue_retry;
	p->max_retry = child->conf.queue_max_retry;
	p->expire = child->conf.queue_expire;
}

/*
 * Its recipients' states, made when the first of them is not pending:
 * NULL if there is no memory for them (nrcpt is at most
 * ENVELOPE_RCPT_MAX, but comes from disk: no reason to die).
 */
static struct rcpt_state *
queue_rcpts(struct qmsg *q)
{
	if (q->rs == NULL)
		q->rs = calloc(q->nrcpt, sizeof(*q->rs));
	return q->rs;
}

/*
 * Choose the recipients of one job: all of them the first time (no
 * states), else those pending whose time has come, as many as one job's
 * imsg holds (the others follow when it is done); each chosen is out,
 * its attempt counted.  0, or -1 (ENOMEM) with none chosen.
 */
static int
queue_choose(struct qmsg *q, const struct envelope *env)
{
	uint64_t now = (uint64_t)time(NULL);
	size_t room, len;
	uint32_t i, n = 0;

	room = IMSG_MAX_SIZE - IMSG_HDR_SIZE -
	    (8 + 8 + 8 + 8 + 4 + 4 + strlen(env->sender) + 4 + 4);
	if (q->rs == NULL) {
		for (i = 0, len = 0; i < env->nrcpt; i++)
			len += 8 + strlen(env->rcpt[i].mailbox);
		if ((env->nrcpt > MDA_RCPT_MAX || len > room) &&
		    queue_rcpts(q) == NULL)
			return -1;
	}
	if (q->rs == NULL)
		return 0;
	for (i = 0, len = 0; i < env->nrcpt; i++) {
		if (!rcpt_due(&q->rs[i], now))
			continue;
		len += 8 + strlen(env->rcpt[i].mailbox);
		if (n == MDA_RCPT_MAX || len > room)
			break;
		q->rs[i].inflight = 1;
		q->rs[i].attempts++;
		n++;
	}
	return 0;
}

/* the chosen were not handed out after all: no attempt to count */
static void
queue_unchoose(struct qmsg *q)
{
	uint32_t i;

	for (i = 0; q->rs != NULL && i < q->nrcpt; i++)
		if (q->rs[i].inflight) {
			q->rs[i].inflight = 0;
			q->rs[i].attempts--;
		}
}

/*
 * Hand the chosen recipients to mda (queue_choose() first unless
 * chosen says auth's check came between).  The fd travels with them:
 * 0, or -1 (ENOMEM) with nothing sent and the fd still the caller's.
 */
static int
queue_send_mda(struct qmsg *q, int fd, const struct envelope *env,
    const struct spool_msg *m, int chosen)
{
	struct msg_writer w;
	uint32_t i, n = 0;

	if (!chosen && queue_choose(q, env) == -1)
		return -1;
	if (q->rs == NULL)
		n = env->nrcpt;
	else
		for (i = 0; i < env->nrcpt; i++)
			n += q->rs[i].inflight;
	msg_writer_init(&w);
	msg_put_u64(&w, q->msgid);
	msg_put_u64(&w, m->body_offset);
	msg_put_u64(&w, m->body_size);
	msg_put_u64(&w, m->prepend_offset);
	msg_put_u32(&w, m->prepend_size);
	msg_put_str(&w, env->sender);
	/* what was out before may have been delivered, its report lost */
	msg_put_u32(&w, q->fresh ? 0 : MDA_DELIVER_RETRY);
	msg_put_u32(&w, n);
	for (i = 0; i < env->nrcpt; i++) {
		if (q->rs != NULL && !q->rs[i].inflight)
			continue;
		msg_put_u32(&w, i);
		msg_put_str(&w, env->rcpt[i].mailbox);
	}
	child_send(PROC_MDA, IMSG_MDA_DELIVER, 0, fd, &w);
	q->fresh = 0;
	q->inflight = 1;
	inflight++;
	return 0;
}

/*
 * Before a retry, ask auth whether each chosen recipient's mailbox is
 * still a user's (smtp asked at RCPT moments before a first attempt).
 * The check holds the message's delivery slot and no descriptor: the
 * answer reloads the file.  It fits one imsg: each mailbox costs less
 * than in the job queue_choose() sized.  0, or -1 (ENOMEM), none out.
 */
static int
queue_check(struct qmsg *q, const struct envelope *env)
{
	struct msg_writer w;
	uint32_t i, n = 0;

	if (queue_rcpts(q) == NULL || queue_choose(q, env) == -1)
		return -1;
	for (i = 0; i < env->nrcpt; i++)
		n += q->rs[i].inflight;
	msg_writer_init(&w);
	msg_put_u64(&w, q->msgid);
	msg_put_u32(&w, n);
	for (i = 0; i < env->nrcpt; i++)
		if (q->rs[i].inflight)
			msg_put_str(&w, env->rcpt[i].mailbox);
	child_send(PROC_AUTH, IMSG_AUTH_MAILBOX_CHECK, 0, -1, &w);
	q->checking = 1;
	inflight++;
	return 0;
}

static void
queue_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	queue_deliver(arg);
}

static void
queue_timer(struct qmsg *q, uint64_t delay)
{
	struct timeval tv;

	if (q->timer == NULL &&
	    (q->timer = evtimer_new(child->base, queue_retry_cb, q)) == NULL)
		fatalx("evtimer_new");
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	evtimer_add(q->timer, &tv);
}

/*
 * Only remote recipients are pending: they stay in the spool, across
 * restarts, until the mta role delivers them.
 */
static void
queue_held(struct qmsg *q)
{
	uint32_t i, n = 0;

	for (i = 0; i < q->nrcpt; i++)
		n += q->rs[i].status == RCPT_PENDING && q->rs[i].remote;
	log_info("message %016" PRIx64 ": %u remote recipients held in the "
		 "queue: no remote delivery yet",
	    q->msgid, n);
}

/*
 * The remote recipients of env marked in the states (made for them):
 * how many there are, or -1 (ENOMEM) when there are some but no states.
 */
static int
queue_mark_remote(struct qmsg *q, const struct envelope *env)
{
	uint32_t i, n = 0;

	for (i = 0; i < env->nrcpt; i++)
		n += env->rcpt[i].mailbox[0] == '\0';
	if (n == 0)
		return 0;
	if (queue_rcpts(q) == NULL)
		return -1;
	for (i = 0; i < env->nrcpt; i++)
		q->rs[i].remote = env->rcpt[i].mailbox[0] == '\0';
	return (int)n;
}

/* wait for the earliest next attempt of a pending recipient */
static void
queue_schedule(struct qmsg *q)
{
	struct rcpt_policy p;
	uint64_t next, now = (uint64_t)time(NULL);

	queue_policy(q, &p);
	next = q->rs != NULL ? rcpt_next_try(q->rs, q->nrcpt) : now;
	if (next == 0) {
		queue_held(q);
		return;
	}
	queue_timer(q, rcpt_wait(next, now, &p));
}

/*
 * A rename or unlink in the spool failed (an I/O error, a read-only
 * file system, a hand-changed mode): the message is kept and the same
 * step tried again later, never forgotten while its file is there.
 */
static void
queue_fs_later(struct qmsg *q)
{
	struct rcpt_policy p;
	uint64_t delay;

	queue_policy(q, &p);
	delay = rcpt_retry_delay(++q->leave_failures, &p);
	log_warnx("message %016" PRIx64 ": stays in %s/ for now, tried again "
		  "in %" PRIu64 " s",
	    q->msgid, SPOOL_QUEUE, delay);
	queue_timer(q, delay);
}

/* out of spool/ as q->leaving says, then forgotten; or later */
static void
queue_leave(struct qmsg *q)
{
	int rv;

	if (q->leaving == QUEUE_LEAVE_DELIVERED)
		rv = spool_remove(&spool, q->msgid, q->state_on_disk);
	else
		rv = spool_move(&spool, q->msgid, SPOOL_FAILED, NULL);
	if (rv == 0)
		queue_forget(q);
	else
		queue_fs_later(q);
}

/*
 * The file cannot be read now (out of fds, an I/O error): nothing says
 * it is bad, so it is tried again on the schedule, until it expires.
 */
static void
queue_load_failed(struct qmsg *q, const char *why)
{
	struct rcpt_policy p;
	uint64_t now = (uint64_t)time(NULL);

	queue_policy(q, &p);
	q->load_failures++;
	if (now >= p.received && now - p.received >= p.expire) {
		log_warnx("message %016" PRIx64 " expired: it could not be "
			  "read (%s)",
		    q->msgid, why);
		q->leaving = QUEUE_LEAVE_FAILED;
		queue_leave(q);
		return;
	}
	log_warnx("message %016" PRIx64 " cannot be read now (%s): "
		  "will try again",
	    q->msgid, why);
	queue_timer(q, rcpt_retry_delay(q->load_failures, &p));
}

/* every recipient delivered: the message goes, with its state if any */
static void
queue_delivered(struct qmsg *q)
{
	stat_delivered++;
	q->leaving = QUEUE_LEAVE_DELIVERED;
	queue_leave(q);
}

/*
 * Where the recipients stand after an attempt: all delivered, the
 * message goes (no state is ever written for it); otherwise the new
 * state is written and flushed first, then acted on (queue_settled()).
 */
static void
queue_settle(struct qmsg *q, int changed)
{
	enum rcpt_outcome o;

	o = q->rs != NULL ? rcpt_outcome(q->rs, q->nrcpt) : RCPT_SOME_PENDING;
	if (o == RCPT_ALL_DELIVERED) {
		queue_delivered(q);
		return;
	}
	if (o == RCPT_SOME_PENDING && !changed) {
		queue_schedule(q);
		return;
	}
	TAILQ_INSERT_TAIL(&settling, q, settle);
	q->settling = 1;
	/* after every imsg already read: one flush for all of them */
	event_active(settle_ev, EV_TIMEOUT, 0);
}

/*
 * No recipient is pending and some failed: the sender gets a report, if
 * it has an address and asked for one, and the message moves to failed/
 * with its state, for the admin.  auth says where the sender's mail goes
 * first.
 */
static void
queue_give_up(struct qmsg *q)
{
	struct envelope env;
	struct spool_msg m;
	struct msg_writer w;
	struct dsn d;
	uint32_t i, failed = 0;
	char why[256];
	int fd;

	for (i = 0; i < q->nrcpt; i++)
		failed += q->rs[i].status == RCPT_FAILED;
	log_warnx("message %016" PRIx64 ": %u of %u recipients failed, "
		  "none pending",
	    q->msgid, failed, q->nrcpt);
	q->leaving = QUEUE_LEAVE_FAILED;
	/* the envelope decides: the body is read only for a report */
	if ((fd = spool_peek(&spool, q->msgid, &env, &m, why, sizeof(why))) <
	    0) {
		log_warnx(
		    "message %016" PRIx64 ": no report: %s", q->msgid, why);
		queue_leave(q);
		return;
	}
	close(fd);
	memset(&d, 0, sizeof(d));
	d.env = &env;
	d.rs = q->rs;
	d.action = DSN_FAILED;
	if (env.sender[0] == '\0') {
		/* a report that failed is not reported: no loop */
		log_warnx("message %016" PRIx64 ": from the null sender: "
			  "discarded",
		    q->msgid);
		q->leaving = QUEUE_LEAVE_DELIVERED;
	} else if (dsn_wanted(&d) == 0)
		log_warnx("message %016" PRIx64 ": no report asked for: kept "
			  "in %s/",
		    q->msgid, SPOOL_FAILED);
	else {
		msg_writer_init(&w);
		msg_put_u64(&w, q->msgid);
		msg_put_str(&w, env.sender);
		child_send(PROC_AUTH, IMSG_AUTH_RCPT, 0, -1, &w);
		q->bouncing = 1;
		envelope_clear(&env);
		return;
	}
	envelope_clear(&env);
	queue_leave(q);
}

/*
 * The report for q in the spool, to these mailboxes of its sender,
 * committed: its msgid, or 0 if it could not be made (logged).
 */
static uint64_t
queue_bounce_write(struct qmsg *q, char *const *mailboxes, uint32_t n)
{
	struct envelope env, report;
	struct envelope_rcpt r;
	struct spool_commit sc;
	struct spool_file sf;
	struct spool_msg m;
	struct dsn d;
	uint64_t off, size, id = 0;
	uint32_t i, crc;
	char why[256];
	int fd;

	if ((fd = spool_load(&spool, q->msgid, &env, &m, why, sizeof(why))) <
	    0) {
		log_warnx(
		    "message %016" PRIx64 ": no report: %s", q->msgid, why);
		return 0;
	}
	memset(&report, 0, sizeof(report));
	strlcpy(report.helo, child->conf.hostname, sizeof(report.helo));
	strlcpy(report.client_addr, "127.0.0.1", sizeof(report.client_addr));
	report.time = (uint64_t)time(NULL);
	/* the original comes back in it, 8-bit as it was */
	report.flags = env.flags & (ENVELOPE_8BITMIME | ENVELOPE_SMTPUTF8);
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		strlcpy(r.addr, env.sender, sizeof(r.addr));
		strlcpy(r.mailbox, mailboxes[i], sizeof(r.mailbox));
		r.dsn_notify = DSN_NOTIFY_NEVER;
		if (envelope_add_rcpt(&report, &r) == -1)
			goto done;
	}
	if (envelope_check(&report, why, sizeof(why)) == -1) {
		log_warnx(
		    "message %016" PRIx64 ": no report: %s", q->msgid, why);
		goto done;
	}
	/*
	 * A remote sender gets the header alone, whatever RET asked: the
	 * sender of mail that came in may be forged, and a report must not
	 * carry a stranger's message to a third party.
	 */
	if (n > 0 && mailboxes[0][0] == '\0')
		env.flags &= ~ENVELOPE_DSN_RET_FULL;
	id = queue_unused_msgid();
	if (spool_create(&spool, id, &report, &sf) == -1) {
		id = 0;
		goto done;
	}
	close(sf.appendfd);
	memset(&d, 0, sizeof(d));
	d.hostname = child->conf.hostname;
	d.env = &env;
	d.rs = q->rs;
	d.action = DSN_FAILED;
	d.now = report.time;
	d.id = id;
	off = sf.body_offset;
	memset(&sc, 0, sizeof(sc));
	if (dsn_write(&d, fd, &m, sf.fd, &off, &size, &crc) == 0) {
		sc.msgid = id;
		sc.fd = sf.fd;
		sc.body_offset = sf.body_offset;
		sc.body_size = size;
		sc.hdr_crc = sf.hdr_crc;
		sc.body_crc = crc;
		/* rare enough to flush here rather than in a batch */
		spool_commit_batch(&spool, &sc, 1);
	} else
		log_warn("message %016" PRIx64 ": its report", q->msgid);
	close(sf.fd);
	if (!sc.ok) {
		spool_remove(&spool, id, 0);
		id = 0;
		goto done;
	}
	log_info("message %016" PRIx64 ": reported to <%s> in message "
		 "%016" PRIx64,
	    q->msgid, env.sender, id);
done:
	close(fd);
	envelope_clear(&env);
	envelope_clear(&report);
	return id;
}

/* auth said where the sender's mail goes: the report, then q leaves */
static void
queue_bounce_result(struct msg_reader *r, struct imsg *imsg)
{
	static char none[] = "";
	char *mailboxes[TABLE_RCPT_MAX], *remote[1] = {none};
	char **to = mailboxes;
	struct qmsg key, *q, *b;
	uint32_t status, n, nto, i;
	uint64_t id;

	if (msg_get_u64(r, &key.msgid) == -1 || msg_get_u32(r, &status) == -1 ||
	    msg_get_u32(r, &n) == -1 || n > TABLE_RCPT_MAX ||
	    (status == AUTH_RCPT_OK) != (n > 0))
		child_bad_imsg(imsg, "rcpt lookup result");
	for (i = 0; i < n; i++)
		if (msg_get_strdup(r, &mailboxes[i], ENVELOPE_MAILBOX_MAX) ==
			-1 ||
		    !envelope_mailbox_valid(mailboxes[i]))
			child_bad_imsg(imsg, "rcpt lookup result");
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "rcpt lookup result");
	nto = n;
	if ((q = RB_FIND(qmsg_tree, &qmsgs, &key)) != NULL && q->bouncing) {
		q->bouncing = 0;
		/* a remote sender's report waits for mta, as other mail does */
		if (status == AUTH_RCPT_NOTLOCAL) {
			to = remote;
			nto = 1;
		}
		if (nto == 0)
			log_warnx("message %016" PRIx64 ": no report: its "
				  "sender is %s",
			    q->msgid,
			    status == AUTH_RCPT_TEMPFAIL
				? "not found now (a table error)"
				: "no user here");
		else if ((id = queue_bounce_write(q, to, nto)) != 0) {
			b = queue_track(id);
			b->nrcpt = nto;
			b->state_read = 1;
			b->fresh = 1;
			queue_deliver(b);
		}
		/* reported or not, the admin finds it in failed/ */
		queue_leave(q);
	}
	for (i = 0; i < n; i++)
		free(mailboxes[i]);
}

/*
 * Write and flush the states, then act on those that are on disk.  A
 * message whose state could not be written or flushed stays as it is,
 * neither retried nor given up on, and its state is written again
 * later: nothing is done that a restart would not know about.
 */
static void
queue_settled(evutil_socket_t fd, short events, void *arg)
{
	struct rcpt_policy p;
	struct timeval tv;
	struct qmsg *q, *next;
	uint64_t delay;
	int flushed, synced;

	TAILQ_FOREACH(q, &settling, settle)
		q->state_written =
		    spool_state_write(&spool, q->msgid, q->rs, q->nrcpt) == 0;
	/* the data first, then the names: no state is ever found empty */
	flushed = spool_state_flush(&spool) == 0;
	TAILQ_FOREACH(q, &settling, settle) {
		if (!q->state_written)
			continue;
		q->state_written =
		    flushed && spool_state_rename(&spool, q->msgid) == 0;
		if (q->state_written)
			q->state_on_disk = 1;
	}
	synced = spool_sync(&spool) == 0;
	TAILQ_FOREACH_SAFE(q, &settling, settle, next) {
		if (!synced || !q->state_written)
			continue;
		TAILQ_REMOVE(&settling, q, settle);
		q->settling = 0;
		if (rcpt_outcome(q->rs, q->nrcpt) == RCPT_SOME_FAILED)
			queue_give_up(q);
		else
			queue_schedule(q);
	}
	if ((q = TAILQ_FIRST(&settling)) == NULL) {
		settle_failures = 0;
		return;
	}
	queue_policy(q, &p);
	delay = rcpt_retry_delay(++settle_failures, &p);
	TAILQ_FOREACH(q, &settling, settle)
		log_warnx("message %016" PRIx64 ": its state is not on disk: "
			  "kept as it is, written again in %" PRIu64 " s",
		    q->msgid, delay);
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	event_add(settle_ev, &tv);
}

/* what a recipient's result means, said in the log */
static void
queue_rcpt_result(struct qmsg *q, uint32_t idx, uint32_t mda_status,
    const char *reply, uint64_t now)
{
	struct rcpt_policy p;
	struct rcpt_state *r = &q->rs[idx];

	queue_policy(q, &p);
	switch (rcpt_result(r, mda_status, reply, now, &p)) {
	case RCPT_DELIVERED:
		log_debug("message %016" PRIx64 ": recipient %u delivered "
			  "at attempt %u",
		    q->msgid, idx, r->attempts);
		break;
	case RCPT_FAILED:
		log_warnx("message %016" PRIx64 ": recipient %u failed "
			  "permanently at attempt %u: %s",
		    q->msgid, idx, r->attempts, r->reply);
		break;
	default:
		log_warnx("message %016" PRIx64 ": recipient %u: temporary "
			  "failure at attempt %u, next in %" PRIu64 " s: %s",
		    q->msgid, idx, r->attempts, r->next_try - now, r->reply);
		break;
	}
}

/*
 * ID.state, once: 0 read (or there is none), SPOOL_TEMP.  One that does
 * not check out proves nothing delivered: every recipient is pending.
 */
static int
queue_read_state(struct qmsg *q)
{
	struct rcpt_state *rs;
	char why[256];
	int rv;

	if ((rs = calloc(q->nrcpt, sizeof(*rs))) == NULL) {
		log_warn("message %016" PRIx64 ": its state", q->msgid);
		return SPOOL_TEMP;
	}
	rv = spool_state_load(&spool, q->msgid, rs, q->nrcpt, why, sizeof(why));
	switch (rv) {
	case 0:
		q->rs = rs;
		q->state_on_disk = 1;
		break;
	case SPOOL_GONE:
		free(rs);
		break;
	case SPOOL_BAD:
		log_warnx("message %016" PRIx64 ": its state does not check "
			  "out (%s): every recipient counts as pending",
		    q->msgid, why);
		spool_state_set_aside(&spool, q->msgid);
		free(rs);
		break;
	default:
		free(rs);
		log_warnx("message %016" PRIx64 ": its state cannot be read "
			  "now (%s)",
		    q->msgid, why);
		return SPOOL_TEMP;
	}
	q->state_read = 1;
	return 0;
}

/* a retry, or a message found at start: all of it is checked again */
static void
queue_deliver(struct qmsg *q)
{
	struct rcpt_policy p;
	struct envelope env;
	struct spool_msg m;
	uint64_t now;
	uint32_t i, due = 0;
	char why[256], show[80];
	int fd, changed = 0, checked;

	if (q->inflight || q->settling || q->checking || q->bouncing)
		return; /* what ends them schedules the next attempt */
	if (q->leaving) {
		queue_leave(q);
		return;
	}
	if (inflight >= QUEUE_INFLIGHT_MAX) {
		if (!q->waiting) {
			TAILQ_INSERT_TAIL(&waiting, q, wait);
			q->waiting = 1;
		}
		return;
	}
	checked = q->checked;
	q->checked = 0;
	if ((fd = spool_load(&spool, q->msgid, &env, &m, why, sizeof(why))) <
		0 &&
	    checked)
		queue_unchoose(q);
	switch (fd) {
	case SPOOL_BAD:
		/* if it cannot be moved, the next load finds it bad again */
		if (spool_move(&spool, q->msgid, SPOOL_CORRUPT, why) == 0)
			queue_forget(q);
		else
			queue_fs_later(q);
		return;
	case SPOOL_GONE:
		log_warnx("message %016" PRIx64 " is no longer in %s/: "
			  "forgotten",
		    q->msgid, SPOOL_QUEUE);
		queue_forget(q);
		return;
	case SPOOL_TEMP:
		queue_load_failed(q, why);
		return;
	}
	if (q->rs != NULL && q->nrcpt != env.nrcpt) {
		/* another file under its name: what was known is not of it */
		log_warnx("message %016" PRIx64 ": %u recipients, not %u: "
			  "every recipient counts as pending",
		    q->msgid, env.nrcpt, q->nrcpt);
		free(q->rs);
		q->rs = NULL;
		checked = 0;
	}
	q->nrcpt = env.nrcpt;
	if (!q->state_read && queue_read_state(q) == SPOOL_TEMP) {
		close(fd);
		envelope_clear(&env);
		queue_load_failed(q, "its state cannot be read");
		return;
	}
	if (queue_mark_remote(q, &env) == -1) {
		close(fd);
		envelope_clear(&env);
		queue_load_failed(q, strerror(ENOMEM));
		return;
	}
	q->load_failures = 0;
	now = (uint64_t)time(NULL);
	/* a time read from disk, or the clock set back, delays no more */
	if (q->rs != NULL) {
		queue_policy(q, &p);
		rcpt_clamp(q->rs, q->nrcpt, now, &p);
	}
	/* only a hand-made file holds a bad name: that recipient fails */
	for (i = 0; i < env.nrcpt; i++) {
		if ((q->rs != NULL && q->rs[i].status != RCPT_PENDING) ||
		    env.rcpt[i].mailbox[0] == '\0' ||
		    envelope_mailbox_valid(env.rcpt[i].mailbox))
			continue;
		if (queue_rcpts(q) == NULL) {
			close(fd);
			envelope_clear(&env);
			queue_load_failed(q, strerror(ENOMEM));
			return;
		}
		q->rs[i].attempts++;
		snprintf(why, sizeof(why), "invalid mailbox name \"%s\"",
		    envelope_show(env.rcpt[i].mailbox, show, sizeof(show)));
		queue_rcpt_result(q, i, MDA_PERMFAIL, why, now);
		changed = 1;
	}
	if (checked)
		/* auth answered for the chosen: those it knows go to mda */
		for (i = 0; i < env.nrcpt; i++) {
			if (!q->rs[i].inflight)
				continue;
			if (!q->rs[i].gone) {
				due++;
				continue;
			}
			snprintf(why, sizeof(why),
			    "%s: no such user (deleted after the message "
			    "was accepted)",
			    envelope_show(
				env.rcpt[i].mailbox, show, sizeof(show)));
			queue_rcpt_result(q, i, MDA_PERMFAIL, why, now);
			changed = 1;
		}
	else if (q->rs == NULL)
		due = env.nrcpt;
	else
		for (i = 0; i < env.nrcpt; i++)
			due += rcpt_due(&q->rs[i], now);
	if (due == 0) {
		close(fd);
		envelope_clear(&env);
		queue_settle(q, changed);
		return;
	}
	if (!checked && !q->fresh) {
		close(fd);
		if (queue_check(q, &env) == -1)
			queue_load_failed(q, strerror(ENOMEM));
	} else if (queue_send_mda(q, fd, &env, &m, checked) == -1) {
		close(fd);
		queue_load_failed(q, strerror(ENOMEM));
	}
	envelope_clear(&env);
}

static void
queue_release_waiting(void)
{
	struct qmsg *q;

	while (inflight < QUEUE_INFLIGHT_MAX &&
	    (q = TAILQ_FIRST(&waiting)) != NULL) {
		TAILQ_REMOVE(&waiting, q, wait);
		q->waiting = 0;
		queue_deliver(q);
	}
}

static void
queue_recovered(uint64_t msgid, void *arg)
{
	struct qmsg *q;

	q = queue_track(msgid);
	queue_deliver(q);
}

static void
queue_reply(uint32_t type, uint64_t reqid, uint64_t msgid, int fd)
{
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_u64(&w, reqid);
	if (type == IMSG_QUEUE_CREATE_OK)
		msg_put_u64(&w, msgid);
	child_send(PROC_SMTP, type, 0, fd, &w);
}

static struct incoming *
queue_find_incoming(uint64_t msgid)
{
	struct incoming key;

	key.msgid = msgid;
	return RB_FIND(incoming_tree, &incomings, &key);
}

static struct reaped *
queue_find_reaped(uint64_t msgid)
{
	struct reaped key;

	key.msgid = msgid;
	return RB_FIND(reaped_tree, &reapeds, &key);
}

/* an id no reception, record or queued message has */
static uint64_t
queue_unused_msgid(void)
{
	struct qmsg key;
	uint64_t msgid;

	do {
		msgid = queue_new_msgid();
		key.msgid = msgid;
	} while (queue_find_incoming(msgid) != NULL ||
	    queue_find_reaped(msgid) != NULL ||
	    RB_FIND(qmsg_tree, &qmsgs, &key) != NULL);
	return msgid;
}

static void
queue_create(struct msg_reader *r, struct imsg *imsg)
{
	struct incoming *in;
	struct spool_file sf;
	uint64_t reqid;
	char why[256];

	in = xcalloc(1, sizeof(*in));
	if (msg_get_u64(r, &reqid) == -1 ||
	    envelope_unmarshal(&in->env, r) == -1 || msg_get_end(r) == -1)
		child_bad_imsg(imsg, "queue create");
	/* what the spool would refuse to load is not accepted either */
	if (envelope_check(&in->env, why, sizeof(why)) == -1) {
		log_warnx("queue create: envelope refused: %s", why);
		goto fail;
	}
	in->msgid = queue_unused_msgid();
	if (spool_create(&spool, in->msgid, &in->env, &sf) == -1)
		goto fail;
	in->fd = sf.fd;
	in->body_offset = sf.body_offset;
	in->hdr_crc = sf.hdr_crc;
	in->created = now_ms();
	RB_INSERT(incoming_tree, &incomings, in);
	/* the imsg takes smtp's descriptor with it */
	queue_reply(IMSG_QUEUE_CREATE_OK, reqid, in->msgid, sf.appendfd);
	return;
fail:
	envelope_clear(&in->env);
	free(in);
	queue_reply(IMSG_QUEUE_CREATE_FAIL, reqid, 0, -1);
}

static void
queue_incoming_free(struct incoming *in)
{
	RB_REMOVE(incoming_tree, &incomings, in);
	if (in->fd != -1)
		close(in->fd);
	envelope_clear(&in->env);
	free(in);
}

static void
queue_reaped_free(struct reaped *rp)
{
	RB_REMOVE(reaped_tree, &reapeds, rp);
	TAILQ_REMOVE(&reaped_age, rp, age);
	nreaped--;
	free(rp);
}

/* a COMMIT or ABORT of a reaped reception: 1 if it was one (now forgotten) */
static int
queue_reaped_done(uint64_t msgid)
{
	struct reaped *rp;

	if ((rp = queue_find_reaped(msgid)) == NULL)
		return 0;
	queue_reaped_free(rp);
	return 1;
}

static void
queue_commit(struct msg_reader *r, struct imsg *imsg)
{
	struct commit_batch *b = gathering;
	struct spool_commit *sc;
	struct incoming *in;
	uint64_t reqid, msgid, size;
	uint32_t crc;

	if (msg_get_u64(r, &reqid) == -1 || msg_get_u64(r, &msgid) == -1 ||
	    msg_get_u64(r, &size) == -1 || msg_get_u32(r, &crc) == -1 ||
	    msg_get_end(r) == -1)
		child_bad_imsg(imsg, "queue commit");
	if ((in = queue_find_incoming(msgid)) == NULL) {
		if (!queue_reaped_done(msgid))
			fatalx("commit of unknown message %016" PRIx64, msgid);
		log_warnx("message %016" PRIx64 ": commit after the reception "
			  "was abandoned: refused",
		    msgid);
		queue_reply(IMSG_QUEUE_COMMIT_FAIL, reqid, 0, -1);
		return;
	}
	if (in->committing)
		fatalx("message %016" PRIx64 " committed twice", msgid);
	in->committing = 1;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->c = xreallocarray(b->c, b->cap, sizeof(*b->c));
		b->sc = xreallocarray(b->sc, b->cap, sizeof(*b->sc));
	}
	b->c[b->n].reqid = reqid;
	b->c[b->n].in = in;
	sc = &b->sc[b->n++];
	sc->msgid = msgid;
	sc->fd = in->fd;
	sc->body_offset = in->body_offset;
	sc->body_size = size;
	sc->hdr_crc = in->hdr_crc;
	sc->body_crc = crc;
	/* headers computed over the body (DKIM) will be prepended here */
	sc->prepend = NULL;
	sc->prepend_len = 0;
	/* after every imsg already read: that is the batch */
	event_active(commit_ev, EV_TIMEOUT, 0);
}

static void *
flusher_main(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&flusher.lock);
		while (!flusher.todo)
			pthread_cond_wait(&flusher.cond, &flusher.lock);
		flusher.todo = 0;
		pthread_mutex_unlock(&flusher.lock);
		spool_commit_batch(&spool, flushing->sc, flushing->n);
		if (write(flusher.donefd[1], "", 1) != 1)
			fatal("flusher wake-up");
	}
	return NULL;
}

/* hand the gathered batch to the flusher, unless one is out already */
static void
queue_commit_start(evutil_socket_t fd, short events, void *arg)
{
	struct commit_batch *b;

	if (flusher.busy || gathering->n == 0)
		return;
	b = flushing;
	flushing = gathering;
	gathering = b;
	flusher.busy = 1;
	pthread_mutex_lock(&flusher.lock);
	flusher.todo = 1;
	pthread_cond_signal(&flusher.cond);
	pthread_mutex_unlock(&flusher.lock);
}

/* the flusher is done: answer smtp, hand the messages to mda */
static void
queue_commit_done(evutil_socket_t fd, short events, void *arg)
{
	struct commit_batch *b = flushing;
	struct incoming *in;
	struct spool_msg m;
	struct qmsg *q;
	char byte;
	size_t i;
	int mdafd, nremote;

	if (read(fd, &byte, 1) != 1)
		return;
	log_debug("committed a batch of %zu", b->n);
	for (i = 0; i < b->n; i++) {
		in = b->c[i].in;
		if (!b->sc[i].ok) {
			queue_reply(
			    IMSG_QUEUE_COMMIT_FAIL, b->c[i].reqid, 0, -1);
			queue_incoming_free(in);
			continue;
		}
		queue_reply(IMSG_QUEUE_COMMIT_OK, b->c[i].reqid, 0, -1);
		stat_received++;
		q = queue_track(in->msgid);
		/* just committed: every recipient pending, and no ID.state */
		q->nrcpt = in->env.nrcpt;
		q->state_read = 1;
		q->fresh = 1;
		/*
		 * The first delivery trusts the envelope queue wrote itself;
		 * mda gets a read-only descriptor of its own.
		 */
		if (inflight >= QUEUE_INFLIGHT_MAX) {
			TAILQ_INSERT_TAIL(&waiting, q, wait);
			q->waiting = 1;
		} else if ((nremote = queue_mark_remote(q, &in->env)) == -1)
			queue_load_failed(q, strerror(ENOMEM));
		else if ((uint32_t)nremote == q->nrcpt) {
			q->fresh = 0;
			queue_held(q);
		} else if ((mdafd = spool_open_message(&spool, in->msgid)) ==
		    -1)
			queue_load_failed(q, strerror(errno));
		else {
			memset(&m, 0, sizeof(m));
			m.body_offset = in->body_offset;
			m.body_size = b->sc[i].body_size;
			m.prepend_offset = m.body_offset + m.body_size;
			m.prepend_size = b->sc[i].prepend_len;
			if (queue_send_mda(q, mdafd, &in->env, &m, 0) == -1) {
				close(mdafd);
				queue_load_failed(q, strerror(ENOMEM));
			}
		}
		queue_incoming_free(in);
	}
	b->n = 0;
	flusher.busy = 0;
	if (gathering->n > 0)
		event_active(commit_ev, EV_TIMEOUT, 0);
}

static void
queue_abort(struct msg_reader *r, struct imsg *imsg)
{
	struct incoming *in;
	uint64_t msgid;

	if (msg_get_u64(r, &msgid) == -1 || msg_get_end(r) == -1)
		child_bad_imsg(imsg, "queue abort");
	if ((in = queue_find_incoming(msgid)) == NULL) {
		queue_reaped_done(msgid);
		return;
	}
	if (in->committing)
		return; /* too late: it is being committed */
	/* a file left behind has no trailer: the start-up removes it */
	spool_remove(&spool, msgid, 0);
	queue_incoming_free(in);
}

/*
 * How long smtp may hold a reception between CREATE and COMMIT or ABORT.
 * smtp ends every session within SMTP_SESSION_LIFETIME times the sum of
 * the command and data timeouts, aborting its reception; one more such
 * sum is the margin.  A reception older than that is taken to be lost
 * (its ABORT never came) and removed, so that no entry, fd or spool file
 * leaks; should its COMMIT come after all, it fails with a 4xx.
 */
static uint64_t
queue_incoming_max_ms(void)
{
	return 1000ULL * (SMTP_SESSION_LIFETIME + 1) *
	    ((uint64_t)child->conf.timeout_command + child->conf.timeout_data);
}

static void
queue_reap_arm(void)
{
	uint64_t ms;

	/* a quarter of the bound, between 1 s and 1 min */
	ms = queue_incoming_max_ms() / 4;
	if (ms < 1000)
		ms = 1000;
	if (ms > 60000)
		ms = 60000;
	timer_add_ms(reap_ev, ms);
}

static void
queue_reap(evutil_socket_t fd, short events, void *arg)
{
	struct incoming *in, *next;
	struct reaped *rp;
	uint64_t now = now_ms(), max = queue_incoming_max_ms();

	RB_FOREACH_SAFE(in, incoming_tree, &incomings, next) {
		if (in->committing || now - in->created <= max)
			continue;
		log_warnx("message %016" PRIx64 ": smtp held the reception "
			  "for %" PRIu64 " s without a commit: removed",
		    in->msgid, (now - in->created) / 1000);
		if (nreaped == QUEUE_REAPED_MAX) {
			rp = TAILQ_FIRST(&reaped_age);
			log_warnx("message %016" PRIx64 ": record of an "
				  "abandoned reception dropped (%d kept)",
			    rp->msgid, QUEUE_REAPED_MAX);
			queue_reaped_free(rp);
		}
		rp = xcalloc(1, sizeof(*rp));
		rp->msgid = in->msgid;
		RB_INSERT(reaped_tree, &reapeds, rp);
		TAILQ_INSERT_TAIL(&reaped_age, rp, age);
		nreaped++;
		spool_remove(&spool, in->msgid, 0);
		queue_incoming_free(in);
	}
	queue_reap_arm();
}

static void
queue_dispatch_smtp(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_QUEUE_CREATE:
		queue_create(&r, imsg);
		break;
	case IMSG_QUEUE_COMMIT:
		queue_commit(&r, imsg);
		break;
	case IMSG_QUEUE_ABORT:
		queue_abort(&r, imsg);
		break;
	default:
		child_bad_imsg(imsg, "from smtp");
	}
}

/*
 * mda's report: a status and a reply for each recipient it was given,
 * in the order it was given them.  Delivered at the first attempt, the
 * message goes at once; otherwise each recipient's state is updated.
 */
static void
queue_mda_done(struct msg_reader *r, struct imsg *imsg)
{
	struct qmsg key, *q;
	uint64_t now = (uint64_t)time(NULL);
	uint32_t n, k, j, idx, status, next = 0;
	char reply[RCPT_REPLY_MAX];

	if (msg_get_u64(r, &key.msgid) == -1 || msg_get_u32(r, &n) == -1)
		child_bad_imsg(imsg, "mda done");
	if ((q = RB_FIND(qmsg_tree, &qmsgs, &key)) == NULL || !q->inflight)
		fatalx("mda reports on unknown message %016" PRIx64, key.msgid);
	if (q->rs == NULL && n != q->nrcpt)
		child_bad_imsg(imsg, "mda done: recipient count");
	for (k = 0; k < n; k++) {
		if (msg_get_u32(r, &idx) == -1 ||
		    msg_get_u32(r, &status) == -1 ||
		    msg_get_str(r, reply, sizeof(reply)) == -1 ||
		    status > MDA_PERMFAIL)
			child_bad_imsg(imsg, "mda done");
		if (q->rs == NULL) {
			if (idx != k)
				child_bad_imsg(imsg, "mda done: recipient");
			if (status == MDA_OK)
				continue;
			/* the first that is not delivered: states from here */
			if (queue_rcpts(q) == NULL)
				fatal("message %016" PRIx64 ": recipient "
				      "states",
				    q->msgid);
			for (j = 0; j < q->nrcpt; j++) {
				q->rs[j].attempts = 1;
				q->rs[j].inflight = j >= k;
				q->rs[j].status =
				    j < k ? RCPT_DELIVERED : RCPT_PENDING;
			}
			next = k;
		}
		/* the next recipient out is the one reported */
		while (next < q->nrcpt && !q->rs[next].inflight)
			next++;
		if (next != idx)
			child_bad_imsg(imsg, "mda done: recipient");
		queue_rcpt_result(q, idx, status, reply, now);
		next++;
	}
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "mda done");
	for (; q->rs != NULL && next < q->nrcpt; next++)
		if (q->rs[next].inflight)
			child_bad_imsg(imsg, "mda done: a recipient missing");
	q->inflight = 0;
	inflight--;
	if (q->rs == NULL)
		queue_delivered(q); /* every one at the first attempt */
	else
		queue_settle(q, 1);
	queue_release_waiting();
}

static void
queue_dispatch_mda(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_MDA_DONE:
		queue_mda_done(&r, imsg);
		break;
	default:
		child_bad_imsg(imsg, "from mda");
	}
}

/*
 * auth's answer to queue_check(): a status for each chosen recipient,
 * in order.  A recipient no user has any more fails when the file is
 * read again (its reply names the mailbox); one auth could not tell
 * about is delivered as before the check: a table error holds no mail.
 */
static void
queue_mailbox_result(struct msg_reader *r, struct imsg *imsg)
{
	struct qmsg key, *q;
	uint32_t n, k, i, status, out = 0;

	if (msg_get_u64(r, &key.msgid) == -1 || msg_get_u32(r, &n) == -1 ||
	    n > ENVELOPE_RCPT_MAX)
		child_bad_imsg(imsg, "mailbox check result");
	for (k = 0; k < n; k++)
		if (msg_get_u32(r, &status) == -1 ||
		    status > AUTH_MAILBOX_TEMPFAIL)
			child_bad_imsg(imsg, "mailbox check result");
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "mailbox check result");
	if ((q = RB_FIND(qmsg_tree, &qmsgs, &key)) == NULL || !q->checking) {
		log_debug("message %016" PRIx64 ": mailbox check of a "
			  "message no longer waiting for it: dropped",
		    key.msgid);
		return;
	}
	for (i = 0; i < q->nrcpt; i++)
		out += q->rs[i].inflight;
	if (n != out)
		child_bad_imsg(imsg, "mailbox check result: recipient count");
	msg_reader_init(r, imsg->data, imsg->datalen);
	if (msg_get_u64(r, &key.msgid) == -1 || msg_get_u32(r, &n) == -1)
		child_bad_imsg(imsg, "mailbox check result");
	for (i = 0; i < q->nrcpt; i++) {
		if (!q->rs[i].inflight)
			continue;
		if (msg_get_u32(r, &status) == -1)
			child_bad_imsg(imsg, "mailbox check result");
		q->rs[i].gone = status == AUTH_MAILBOX_GONE;
	}
	q->checking = 0;
	inflight--;
	q->checked = 1;
	queue_deliver(q);
	queue_release_waiting();
}

static void
queue_dispatch_auth(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_AUTH_MAILBOX_RESULT:
		queue_mailbox_result(&r, imsg);
		break;
	case IMSG_AUTH_RCPT_RESULT:
		queue_bounce_result(&r, imsg);
		break;
	default:
		child_bad_imsg(imsg, "from auth");
	}
}

/* ---- boxctl queue */

#define QUEUE_CTL_HEADER_MAX 8192 /* of the message, in queue show */

static void queue_ctl_fail(uint32_t, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
queue_ctl_fail(uint32_t peerid, const char *fmt, ...)
{
	struct msg_writer w;
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	msg_writer_init(&w);
	ctl_fail_encode(&w, why);
	child_send(PROC_CONTROL, IMSG_CTL_FAIL, peerid, -1, &w);
}

static void
queue_ctl_ok(uint32_t peerid)
{
	child_send(PROC_CONTROL, IMSG_CTL_OK, peerid, -1, NULL);
}

/* the message an id names (16 hex digits), or NULL with the reply sent */
static struct qmsg *
queue_ctl_find(const char *id, uint32_t peerid)
{
	struct qmsg key, *q;
	size_t i;
	int d;

	key.msgid = 0;
	for (i = 0; id[i] != '\0' && i < 16; i++) {
		if ((d = ascii_hex_value(id[i])) < 0)
			break;
		key.msgid = key.msgid << 4 | (uint64_t)d;
	}
	if (i != 16 || id[i] != '\0') {
		queue_ctl_fail(peerid, "invalid message id (16 hex digits)");
		return NULL;
	}
	if ((q = RB_FIND(qmsg_tree, &qmsgs, &key)) == NULL)
		queue_ctl_fail(peerid, "no message %s in the queue", id);
	return q;
}

static const char *
queue_ctl_status(const struct qmsg *q, uint32_t i)
{
	if (q->rs == NULL)
		return q->inflight ? "delivering" : "pending";
	if (q->rs[i].inflight)
		return "delivering";
	switch (q->rs[i].status) {
	case RCPT_DELIVERED:
		return "delivered";
	case RCPT_FAILED:
		return "failed";
	default:
		return "pending";
	}
}

/* the first lines of the message, up to its blank line, in text */
static void
queue_ctl_header(int fd, const struct spool_msg *m, char *buf, size_t len)
{
	uint64_t want = m->body_size < len - 1 ? m->body_size : len - 1;
	ssize_t got;
	char *end;
	size_t i, n;

	buf[0] = '\0';
	if ((got = pread(fd, buf, (size_t)want, (off_t)m->body_offset)) <= 0)
		return;
	buf[got] = '\0';
	if ((end = strstr(buf, "\n\n")) != NULL)
		end[1] = '\0';
	/* for a terminal: text, line ends and tabs; no NUL inside */
	for (i = 0; buf[i] != '\0'; i += n)
		if (buf[i] == '\n' || buf[i] == '\t')
			n = 1;
		else if ((n = text_safe_len((unsigned char *)buf + i)) == 0) {
			buf[i] = '?';
			n = 1;
		}
}

/*
 * q's rows: with show, one of the message first; then one per
 * recipient (id and sender on each, for scripts).
 */
static void
queue_ctl_rows(struct qmsg *q, uint32_t peerid, int show)
{
	char id[32], received[24], size[24], attempts[16], next[24];
	char why[256], header[QUEUE_CTL_HEADER_MAX];
	const char *sender;
	struct envelope env;
	struct spool_msg m;
	struct msg_writer w;
	uint32_t i;
	int fd;

	snprintf(id, sizeof(id), "%016" PRIx64, q->msgid);
	snprintf(received, sizeof(received), "%" PRIu64, q->received);
	if ((fd = spool_peek(&spool, q->msgid, &env, &m, why, sizeof(why))) <
	    0) {
		msg_writer_init(&w);
		ctl_row_encode(&w, "id", id, "error", why, NULL);
		child_send(PROC_CONTROL, IMSG_CTL_LINE, peerid, -1, &w);
		return;
	}
	sender = env.sender[0] != '\0' ? env.sender : "<>";
	if (show) {
		snprintf(size, sizeof(size), "%" PRIu64,
		    m.body_size + m.prepend_size);
		queue_ctl_header(fd, &m, header, sizeof(header));
		msg_writer_init(&w);
		ctl_row_encode(&w, "id", id, "sender", sender, "received",
		    received, "size", size, "helo", env.helo, "client",
		    env.client_addr, "envid", env.envid, "ret",
		    (env.flags & ENVELOPE_DSN_RET_FULL)	      ? "full"
			: (env.flags & ENVELOPE_DSN_RET_HDRS) ? "headers"
							      : "",
		    "header", header, NULL);
		child_send(PROC_CONTROL, IMSG_CTL_LINE, peerid, -1, &w);
	}
	close(fd);
	for (i = 0; i < env.nrcpt && i < q->nrcpt; i++) {
		snprintf(attempts, sizeof(attempts), "%u",
		    q->rs != NULL ? q->rs[i].attempts : 0);
		next[0] = '\0';
		if (q->rs != NULL && q->rs[i].status == RCPT_PENDING &&
		    !q->rs[i].inflight)
			snprintf(
			    next, sizeof(next), "%" PRIu64, q->rs[i].next_try);
		msg_writer_init(&w);
		ctl_row_encode(&w, "id", id, "sender", sender, "recipient",
		    env.rcpt[i].addr, "status", queue_ctl_status(q, i),
		    "attempts", attempts, "next", next, "error",
		    q->rs != NULL ? q->rs[i].reply : "", NULL);
		child_send(PROC_CONTROL, IMSG_CTL_LINE, peerid, -1, &w);
	}
	envelope_clear(&env);
}

/* every pending recipient of q tried now */
static void
queue_ctl_flush_one(struct qmsg *q)
{
	uint32_t i;

	if (q->leaving)
		return;
	for (i = 0; q->rs != NULL && i < q->nrcpt; i++)
		if (q->rs[i].status == RCPT_PENDING && !q->rs[i].inflight)
			q->rs[i].next_try = 0;
	queue_deliver(q);
}

static void
queue_ctl(struct imsg *imsg)
{
	struct ctl_request req;
	struct qmsg *q, *next;
	uint32_t peerid = imsg->hdr.peerid;

	if (ctl_request_decode(
		&req, imsg->hdr.type, imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "queue request");
	switch (imsg->hdr.type) {
	case IMSG_CTL_QUEUE_LIST:
		RB_FOREACH(q, qmsg_tree, &qmsgs)
			if (!q->leaving)
				queue_ctl_rows(q, peerid, 0);
		queue_ctl_ok(peerid);
		break;
	case IMSG_CTL_QUEUE_SHOW:
		if ((q = queue_ctl_find(req.name, peerid)) != NULL) {
			queue_ctl_rows(q, peerid, 1);
			queue_ctl_ok(peerid);
		}
		break;
	case IMSG_CTL_QUEUE_FLUSH:
		if (req.name[0] == '\0') {
			log_info("queue flushed by boxctl");
			RB_FOREACH_SAFE(q, qmsg_tree, &qmsgs, next)
				queue_ctl_flush_one(q);
			queue_ctl_ok(peerid);
		} else if ((q = queue_ctl_find(req.name, peerid)) != NULL) {
			log_info("message %016" PRIx64 " flushed by boxctl",
			    q->msgid);
			queue_ctl_flush_one(q);
			queue_ctl_ok(peerid);
		}
		break;
	default:
		if ((q = queue_ctl_find(req.name, peerid)) == NULL)
			break;
		if (q->inflight || q->checking || q->settling || q->bouncing ||
		    q->leaving) {
			queue_ctl_fail(peerid,
			    "message %s is being delivered or reported now: "
			    "try again in a moment",
			    req.name);
			break;
		}
		if (spool_remove(&spool, q->msgid, q->state_on_disk) == -1) {
			queue_ctl_fail(peerid,
			    "message %s cannot be removed (see the log)",
			    req.name);
			break;
		}
		log_info("message %016" PRIx64 " removed by boxctl", q->msgid);
		queue_forget(q);
		queue_ctl_ok(peerid);
		break;
	}
	ctl_request_clear(&req);
}

static void
queue_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_writer w;
	uint64_t v[CTL_COUNTERS] = {0};

	switch (imsg->hdr.type) {
	case IMSG_CTL_QUEUE_LIST:
	case IMSG_CTL_QUEUE_SHOW:
	case IMSG_CTL_QUEUE_FLUSH:
	case IMSG_CTL_QUEUE_REMOVE:
		queue_ctl(imsg);
		break;
	case IMSG_STATS_REQ:
		if (ctl_empty_decode(imsg->data, imsg->datalen) == -1)
			child_bad_imsg(imsg, "stats request");
		v[CTL_RECEIVED] = stat_received;
		v[CTL_DELIVERED] = stat_delivered;
		v[CTL_QUEUED] = stat_queued;
		msg_writer_init(&w);
		ctl_stats_encode(&w, v);
		child_send(PROC_CONTROL, IMSG_STATS, imsg->hdr.peerid, -1, &w);
		break;
	default:
		child_bad_imsg(imsg, "from control");
	}
}

void
queue_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};

	child_init(PROC_QUEUE, NULL);
	child_drop();
	spool_open(&spool);
	if (pipe2(flusher.donefd, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	if ((errno = pthread_create(
		 &flusher.thread, NULL, flusher_main, NULL)) != 0)
		fatal("pthread_create");
	child_sandbox();

	if (event_base_priority_init(child->base, 3) == -1)
		fatalx("event_base_priority_init");
	if ((commit_ev = event_new(
		 child->base, -1, 0, queue_commit_start, NULL)) == NULL)
		fatalx("event_new");
	event_priority_set(commit_ev, 2);
	if ((flusher.done_ev = event_new(child->base, flusher.donefd[0],
		 EV_READ | EV_PERSIST, queue_commit_done, NULL)) == NULL)
		fatalx("event_new");
	event_add(flusher.done_ev, NULL);
	if ((reap_ev = evtimer_new(child->base, queue_reap, NULL)) == NULL)
		fatalx("evtimer_new");
	if ((settle_ev = event_new(child->base, -1, 0, queue_settled, NULL)) ==
	    NULL)
		fatalx("event_new");
	event_priority_set(settle_ev, 2);
	queue_reap_arm();

	handlers[PROC_SMTP] = queue_dispatch_smtp;
	handlers[PROC_MDA] = queue_dispatch_mda;
	handlers[PROC_AUTH] = queue_dispatch_auth;
	handlers[PROC_CONTROL] = queue_dispatch_control;
	/* the channels must exist before recovered mail goes to mda */
	child_connect(handlers);
	spool_recover(&spool, queue_recovered, NULL);
	if (stat_queued > 0)
		log_info("recovered %zu messages from the spool", stat_queued);
	child_run(NULL);
}
