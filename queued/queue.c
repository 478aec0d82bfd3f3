/*
 * The queue role: creates spool files for smtp, commits them in batches
 * (one flush covers every message that arrived meanwhile), hands
 * committed messages to mda, and retries what could not be delivered.
 */

#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
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
	TAILQ_ENTRY(qmsg) wait;
	uint64_t msgid;
	uint32_t attempts;
	time_t first_try;
	int inflight;
	int waiting;
	struct event *timer;
};

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
	q->first_try = (time_t)(msgid >> 32); /* when it was received */
	if (RB_INSERT(qmsg_tree, &qmsgs, q) != NULL)
		fatalx("message %016" PRIx64 " queued twice", msgid);
	stat_queued++;
	return q;
}

static void
queue_forget(struct qmsg *q)
{
	if (q->timer != NULL)
		event_free(q->timer);
	if (q->waiting)
		TAILQ_REMOVE(&waiting, q, wait);
	RB_REMOVE(qmsg_tree, &qmsgs, q);
	stat_queued--;
	free(q);
}

/* hand one message to mda: the fd travels with the request */
static void
queue_send_mda(struct qmsg *q, int fd, const struct envelope *env,
    uint64_t body_offset, uint64_t body_size)
{
	struct msg_writer w;
	uint32_t i;

	msg_writer_init(&w);
	msg_put_u64(&w, q->msgid);
	msg_put_u64(&w, body_offset);
	msg_put_u64(&w, body_size);
	msg_put_str(&w, env->sender);
	msg_put_u32(&w, env->nrcpt);
	for (i = 0; i < env->nrcpt; i++)
		msg_put_str(&w, env->rcpt[i].mailbox);
	child_send(PROC_MDA, IMSG_MDA_DELIVER, 0, fd, &w);
	q->inflight = 1;
	q->attempts++;
	inflight++;
}

static void
queue_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	queue_deliver(arg);
}

static void queue_schedule_retry(struct qmsg *);

/* a retry, or a message found at start: all of it is checked again */
static void
queue_deliver(struct qmsg *q)
{
	struct envelope env;
	struct spool_msg m;
	char why[256];
	int fd;

	if (inflight >= QUEUE_INFLIGHT_MAX) {
		if (!q->waiting) {
			TAILQ_INSERT_TAIL(&waiting, q, wait);
			q->waiting = 1;
		}
		return;
	}
	switch (fd = spool_load(&spool, q->msgid, &env, &m, why, sizeof(why))) {
	case SPOOL_BAD:
		spool_move(&spool, q->msgid, SPOOL_CORRUPT, why);
		queue_forget(q);
		return;
	case SPOOL_GONE:
		log_warnx("message %016" PRIx64 " is no longer in %s/: "
			  "forgotten",
		    q->msgid, SPOOL_QUEUE);
		queue_forget(q);
		return;
	case SPOOL_TEMP:
		/* out of fds, an I/O error: nothing says the message is bad */
		log_warnx("message %016" PRIx64 " cannot be read now (%s): "
			  "will try again",
		    q->msgid, why);
		q->attempts++;
		queue_schedule_retry(q);
		return;
	}
	queue_send_mda(q, fd, &env, m.body_offset, m.body_size);
	envelope_clear(&env);
}

static void
queue_schedule_retry(struct qmsg *q)
{
	struct timeval tv;
	uint64_t delay;
	uint32_t i;

	if ((uint64_t)(time(NULL) - q->first_try) >= child->conf.queue_expire) {
		log_warnx("message %016" PRIx64 " expired after %u attempts",
		    q->msgid, q->attempts);
		spool_move(&spool, q->msgid, SPOOL_FAILED, NULL);
		queue_forget(q);
		return;
	}
	delay = child->conf.queue_retry;
	for (i = 1; i < q->attempts && delay < child->conf.queue_max_retry; i++)
		delay *= 2;
	if (delay > child->conf.queue_max_retry)
		delay = child->conf.queue_max_retry;
	if (q->timer == NULL &&
	    (q->timer = evtimer_new(child->base, queue_retry_cb, q)) == NULL)
		fatalx("evtimer_new");
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	evtimer_add(q->timer, &tv);
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
	struct qmsg *q;
	char byte;
	size_t i;
	int mdafd;

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
		/*
		 * The first delivery trusts the envelope queue wrote itself;
		 * mda gets a read-only descriptor of its own.
		 */
		if (inflight >= QUEUE_INFLIGHT_MAX) {
			TAILQ_INSERT_TAIL(&waiting, q, wait);
			q->waiting = 1;
		} else if ((mdafd = spool_open_message(&spool, in->msgid)) ==
		    -1) {
			log_warn("message %016" PRIx64 ": open for delivery",
			    in->msgid);
			q->attempts++;
			queue_schedule_retry(q);
		} else
			queue_send_mda(q, mdafd, &in->env, in->body_offset,
			    b->sc[i].body_size);
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
	spool_remove(&spool, msgid);
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
	struct timeval tv;
	uint64_t ms;

	/* a quarter of the bound, between 1 s and 1 min */
	ms = queue_incoming_max_ms() / 4;
	if (ms < 1000)
		ms = 1000;
	if (ms > 60000)
		ms = 60000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(reap_ev, &tv);
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
		spool_remove(&spool, in->msgid);
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

static void
queue_mda_done(struct msg_reader *r, struct imsg *imsg)
{
	struct qmsg key, *q;
	uint32_t status;
	char why[512];

	if (msg_get_u64(r, &key.msgid) == -1 || msg_get_u32(r, &status) == -1 ||
	    msg_get_str(r, why, sizeof(why)) == -1 || msg_get_end(r) == -1)
		child_bad_imsg(imsg, "mda done");
	if ((q = RB_FIND(qmsg_tree, &qmsgs, &key)) == NULL || !q->inflight)
		fatalx("mda reports on unknown message %016" PRIx64, key.msgid);
	q->inflight = 0;
	inflight--;
	switch (status) {
	case MDA_OK:
		spool_remove(&spool, q->msgid);
		stat_delivered++;
		queue_forget(q);
		break;
	case MDA_TEMPFAIL:
		log_warnx("message %016" PRIx64 ": delivery deferred: %s",
		    q->msgid, why);
		queue_schedule_retry(q);
		break;
	default:
		log_warnx("message %016" PRIx64 ": delivery failed: %s",
		    q->msgid, why);
		spool_move(&spool, q->msgid, SPOOL_FAILED, NULL);
		queue_forget(q);
		break;
	}
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

static void
queue_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_writer w;
	uint64_t v[CTL_COUNTERS] = {0};

	switch (imsg->hdr.type) {
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
	queue_reap_arm();

	handlers[PROC_SMTP] = queue_dispatch_smtp;
	handlers[PROC_MDA] = queue_dispatch_mda;
	handlers[PROC_CONTROL] = queue_dispatch_control;
	/* the channels must exist before recovered mail goes to mda */
	child_connect(handlers);
	spool_recover(&spool, queue_recovered, NULL);
	if (stat_queued > 0)
		log_info("recovered %zu messages from the spool", stat_queued);
	child_run(NULL);
}
