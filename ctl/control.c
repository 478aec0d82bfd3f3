/*
 * The control role: serves the control socket.  It checks who connects
 * (SO_PEERCRED: root, the user who started boxd, or a member of the
 * control socket's group), checks the shape of each request, and routes
 * it: table commands to auth, reload and the process list to the parent,
 * counters from smtp, queue and imap.  A user list's rows wait for imap
 * to tell each user's usage, which auth may not read.  A client that
 * sends anything malformed, or any descriptor (closed at once), is
 * dropped with a log line; control itself goes on.  Passwords pass
 * through on their way to auth: the buffers they touch are wiped.
 */

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"
#include "ctl.h"

TAILQ_HEAD(control_conns, control_conn);

static struct {
	int fd; /* the listening socket */
	struct event *ev_accept;
	struct event *ev_resume; /* after running out of fds */
	uid_t uid;		 /* besides root, may connect */
	/* the control socket's group, as the parent resolved it */
	char group[CONFIG_GROUP_MAX]; /* "" : none */
	gid_t gid;
	uid_t *members;
	size_t nmembers;
	uint32_t next_id;
	uint64_t next_usage_reqid;
	size_t nconns;
	struct control_conns conns;
	struct control_conns dead; /* freed from the loop */
	int reap_pending;
} control = {.fd = -1};

static void control_dispatch_parent(struct imsgev *, struct imsg *);
static void control_dispatch_auth(struct imsgev *, struct imsg *);
static void control_dispatch_stats(struct imsgev *, struct imsg *);
static void control_dispatch_imap(struct imsgev *, struct imsg *);
static void control_dispatch_queue(struct imsgev *, struct imsg *);
static void control_dispatch_client(struct imsgev *, struct imsg *);
static void control_client_request(struct control_conn *, struct imsg *);
static void control_hello(struct control_conn *, struct imsg *);
static void
control_refuse_client(struct control_conn *, const char *, const char *);
static void control_set_group(struct imsg *, struct msg_reader *);
static int control_admits(const struct ucred *);
static void
control_refuse(int, const char *, ...) __attribute__((format(printf, 2, 3)));
static void control_listen(int);
static void control_accept(evutil_socket_t, short, void *);
static void control_resume(evutil_socket_t, short, void *);
static void control_client_closed(struct imsgev *);
static void control_drop(struct control_conn *, const char *);
static void control_reap(evutil_socket_t, short, void *);
static struct control_conn *control_find(uint32_t);
static int control_request_valid(struct imsg *);
static void control_send(struct control_conn *, uint32_t, struct msg_writer *);
static void control_request_done(struct control_conn *);
static void control_idle(evutil_socket_t, short, void *);
static void control_forward(struct control_conn *, struct imsg *);
static void control_status_start(struct control_conn *);
static void control_status_proc(struct control_conn *, const struct ctl_proc *);
static void control_status_done(struct control_conn *);
static void control_status_timeout(evutil_socket_t, short, void *);
static int control_mailbox(const char *, char *, size_t);
static void control_usage_hold(
    struct control_conn *, struct imsg *, const struct ctl_row *);
static void control_usage_pump(struct control_conn *);
static void control_usage_ask(struct control_conn *);
static void control_usage_answer(struct imsg *);
static void control_usage_release(
    struct control_conn *, struct control_held *, const struct ctl_usage *);
static void control_usage_timeout(evutil_socket_t, short, void *);
static void control_usage_clear(struct control_conn *);
static void control_dispatch_signer(struct imsgev *, struct imsg *);
static void control_dkim_name(struct control_conn *, struct imsg *);
static void control_dkim_start(struct control_conn *, struct imsg *);
static void control_domain_checked(struct control_conn *);
static void control_dkim_parent(struct control_conn *, uint32_t);
static void control_dns_record(const struct dns_record *, void *);
static void control_dns_zone(struct control_conn *, struct dns_zone *);

void
control_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};

	child_init(PROC_CONTROL, control_dispatch_parent);
	child_forget_tls();
	/* whoever started boxd may talk to it; root always may */
	control.uid = getuid();
	TAILQ_INIT(&control.conns);
	TAILQ_INIT(&control.dead);
	child_drop();
	child_sandbox();
	handlers[PROC_AUTH] = control_dispatch_auth;
	handlers[PROC_SMTP] = control_dispatch_stats;
	handlers[PROC_QUEUE] = control_dispatch_queue;
	handlers[PROC_IMAP] = control_dispatch_imap;
	handlers[PROC_SIGNER] = control_dispatch_signer;
	child_connect(handlers);
	/* requests with passwords go out this way */
	child->peer[PROC_AUTH]->ibuf.wipe = 1;
	child_run(NULL);
}

static void
control_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	struct control_conn *c;
	struct msg_reader r;
	struct ctl_proc proc;
	char *why;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_CONF_CONTROL:
		if (imsg->fd == -1 || msg_get_end(&r) == -1)
			child_bad_imsg(imsg, "control socket");
		control_listen(imsg->fd);
		imsg->fd = -1;
		return;
	case IMSG_CONF_CONTROL_GROUP:
		control_set_group(imsg, &r);
		return;
	case IMSG_PARENT_PROC:
		if (ctl_proc_decode(&proc, imsg->data, imsg->datalen) == -1)
			child_bad_imsg(imsg, "process");
		break;
	case IMSG_CTL_OK:
		if (ctl_empty_decode(imsg->data, imsg->datalen) == -1)
			child_bad_imsg(imsg, "ok");
		break;
	case IMSG_CTL_FAIL:
		if (ctl_fail_decode(&why, imsg->data, imsg->datalen) == -1)
			child_bad_imsg(imsg, "fail");
		free(why);
		break;
	default:
		child_bad_imsg(imsg, "from parent");
	}

	if ((c = control_find(imsg->hdr.peerid)) == NULL)
		return; /* the client has gone */
	switch (imsg->hdr.type) {
	case IMSG_PARENT_PROC:
		if (c->pending == CONTROL_STATUS)
			control_status_proc(c, &proc);
		break;
	case IMSG_CTL_OK:
	case IMSG_CTL_FAIL:
		if (c->pending == CONTROL_RELOAD ||
		    c->pending == CONTROL_DKIM) {
			/* the same payload: nothing, or the message */
			control_request_done(c);
			control_forward(c, imsg);
		} else if (c->pending == CONTROL_STATUS && c->wait_procs) {
			c->wait_procs = 0;
			/* the counters may come late: see the timeout */
			if (imsg->hdr.type == IMSG_CTL_FAIL)
				control_refuse_client(
				    c, "no process list", "status failed");
			else
				control_status_done(c);
		}
		break;
	}
}

/* rows and the end of a table command, routed back by client id */
/* a table command's rows and end, from auth or the queue */
static void
control_dispatch_table(struct imsg *imsg, const char *from)
{
	struct control_conn *c;
	struct ctl_row row = {0};
	char *why;

	switch (imsg->hdr.type) {
	case IMSG_CTL_LINE:
		if (ctl_row_decode(&row, imsg->data, imsg->datalen) == -1)
			child_bad_imsg(imsg, "line");
		break;
	case IMSG_CTL_FAIL:
		if (ctl_fail_decode(&why, imsg->data, imsg->datalen) == -1)
			child_bad_imsg(imsg, "fail");
		free(why);
		break;
	case IMSG_CTL_OK:
		if (ctl_empty_decode(imsg->data, imsg->datalen) == -1)
			child_bad_imsg(imsg, "ok");
		break;
	default:
		child_bad_imsg(imsg, from);
	}

	if ((c = control_find(imsg->hdr.peerid)) != NULL &&
	    c->pending == CONTROL_DOMAIN_CHECK) {
		if (imsg->hdr.type == IMSG_CTL_LINE) {
			if (ctl_row_get(&row, "domain") != NULL &&
			    strcasecmp(
				ctl_row_get(&row, "domain"), c->domain) == 0)
				c->domain_found = 1;
		} else if (imsg->hdr.type == IMSG_CTL_OK)
			control_domain_checked(c);
		else {
			control_request_done(c);
			control_forward(c, imsg);
		}
	} else if (c != NULL && c->pending == CONTROL_TABLE &&
	    c->request == IMSG_CTL_DOMAIN_ADD &&
	    imsg->hdr.type == IMSG_CTL_OK) {
		/* the domain is in: now its first keys */
		control_dkim_parent(c, DKIM_OP_ADD);
	} else if (c != NULL && c->pending == CONTROL_TABLE) {
		if (c->usage)
			control_usage_hold(c, imsg, &row);
		else {
			if (imsg->hdr.type != IMSG_CTL_LINE)
				control_request_done(c);
			control_forward(c, imsg);
		}
	}
	ctl_row_clear(&row);
}

static void
control_dispatch_auth(struct imsgev *iev, struct imsg *imsg)
{
	control_dispatch_table(imsg, "from auth");
}

/* counters for status, the rows of boxctl queue */
static void
control_dispatch_queue(struct imsgev *iev, struct imsg *imsg)
{
	if (imsg->hdr.type == IMSG_STATS)
		control_dispatch_stats(iev, imsg);
	else
		control_dispatch_table(imsg, "from queue");
}

/* IMSG_STATS from smtp, queue or imap */
static void
control_dispatch_stats(struct imsgev *iev, struct imsg *imsg)
{
	struct control_conn *c;
	uint64_t v[CTL_COUNTERS];
	int i;

	if (imsg->hdr.type != IMSG_STATS)
		child_bad_imsg(imsg, "from smtp, queue or imap");
	if (ctl_stats_decode(v, imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "stats");

	if ((c = control_find(imsg->hdr.peerid)) == NULL ||
	    c->pending != CONTROL_STATUS || c->wait_stats == 0)
		return;
	for (i = 0; i < CTL_COUNTERS; i++)
		c->counters[i] += v[i];
	c->wait_stats--;
	control_status_done(c);
}

/* counters for status, usage for a user list */
static void
control_dispatch_imap(struct imsgev *iev, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_STATS:
		control_dispatch_stats(iev, imsg);
		break;
	case IMSG_IMAP_USAGE:
		control_usage_answer(imsg);
		break;
	default:
		child_bad_imsg(imsg, "from imap");
	}
}

/* who may connect besides root and boxd's user; again on every reload */
static void
control_set_group(struct imsg *imsg, struct msg_reader *r)
{
	char name[CONFIG_GROUP_MAX];
	uint32_t gid, n, i, uid;
	uid_t *members;

	if (msg_get_str(r, name, sizeof(name)) == -1 ||
	    msg_get_u32(r, &gid) == -1 || msg_get_u32(r, &n) == -1 ||
	    n > r->left / 4)
		child_bad_imsg(imsg, "control group");
	members = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*members));
	for (i = 0; i < n; i++) {
		if (msg_get_u32(r, &uid) == -1)
			child_bad_imsg(imsg, "control group");
		members[i] = (uid_t)uid;
	}
	if (msg_get_end(r) == -1)
		child_bad_imsg(imsg, "control group");
	free(control.members);
	control.members = members;
	control.nmembers = n;
	control.gid = (gid_t)gid;
	strlcpy(control.group, name, sizeof(control.group));
	if (name[0] != '\0')
		log_debug("control socket group %s (gid %u): %u members", name,
		    gid, n);
}

/*
 * The socket's mode already keeps others out; this is the same rule once
 * more, in case the mode is not what it should be.
 */
static int
control_admits(const struct ucred *cred)
{
	size_t i;

	if (cred->uid == 0 || cred->uid == control.uid)
		return 1;
	if (control.group[0] == '\0')
		return 0;
	if (cred->gid == control.gid)
		return 1;
	for (i = 0; i < control.nmembers; i++)
		if (control.members[i] == cred->uid)
			return 1;
	return 0;
}

/* turn a peer away with a reason boxctl prints, then hang up */
static void
control_refuse(int s, const char *fmt, ...)
{
	struct imsgbuf ibuf;
	struct msg_writer w;
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	msg_writer_init(&w);
	ctl_fail_encode(&w, why);
	imsgbuf_init(&ibuf, s, IMSG_CTL_MAX_SIZE);
	/* a new socket's buffer takes this at once; if not, close says it */
	if (!w.error &&
	    imsgbuf_compose(&ibuf, IMSG_CTL_FAIL, 0, -1, w.buf, w.len) == 0)
		imsgbuf_flush(&ibuf);
	imsgbuf_clear(&ibuf);
	msg_writer_free(&w);
	close(s);
}

/* ---------------------------------------------------------------- clients */

static void
control_listen(int fd)
{
	if (control.ev_accept != NULL) {
		event_free(control.ev_accept);
		close(control.fd);
	}
	if (control.ev_resume == NULL &&
	    (control.ev_resume =
		    evtimer_new(child->base, control_resume, NULL)) == NULL)
		fatalx("evtimer_new");
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		fatal("fcntl control socket");
	control.fd = fd;
	control.ev_accept = event_new(
	    child->base, fd, EV_READ | EV_PERSIST, control_accept, NULL);
	if (control.ev_accept == NULL)
		fatalx("event_new");
	event_add(control.ev_accept, NULL);
	log_debug("listening on the control socket");
}

static void
control_resume(evutil_socket_t fd, short events, void *arg)
{
	event_add(control.ev_accept, NULL);
}

static void
control_accept(evutil_socket_t fd, short events, void *arg)
{
	struct control_conn *c;
	struct ucred cred;
	struct timeval tv = {1, 0}, idle = {CONTROL_IDLE_TIMEOUT, 0};
	socklen_t len = sizeof(cred);
	int s;

	if ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			/* out of fds: let the others finish, try again */
			log_warn("accept");
			event_del(control.ev_accept);
			evtimer_add(control.ev_resume, &tv);
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(s);
		return;
	}
	if (!control_admits(&cred)) {
		if (control.group[0] != '\0') {
			log_warnx("refused uid %u (pid %d): not root or a "
				  "member of group %s",
			    (unsigned)cred.uid, (int)cred.pid, control.group);
			control_refuse(s,
			    "permission denied: uid %u is not root or a member "
			    "of group %s",
			    (unsigned)cred.uid, control.group);
		} else {
			log_warnx("refused uid %u (pid %d): not root or the "
				  "user who started boxd",
			    (unsigned)cred.uid, (int)cred.pid);
			control_refuse(s,
			    "permission denied: uid %u is not root or the user "
			    "who started boxd",
			    (unsigned)cred.uid);
		}
		return;
	}
	if (control.nconns >= CONTROL_CLIENTS_MAX) {
		log_warnx("more than %d clients, refused uid %u "
			  "(pid %d)",
		    CONTROL_CLIENTS_MAX, (unsigned)cred.uid, (int)cred.pid);
		control_refuse(s, "busy: %d clients connected, try again later",
		    CONTROL_CLIENTS_MAX);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	do {
		c->id = ++control.next_id;
	} while (c->id == 0 || control_find(c->id) != NULL);
	snprintf(c->name, sizeof(c->name), "client %u (uid %u)", c->id,
	    (unsigned)cred.uid);
	c->iev.name = c->name;
	c->iev.peer = PROC_CONTROL;
	c->iev.on_close = control_client_closed;
	/* what it sends drops it at worst, never the control process */
	c->iev.untrusted = 1;
	imsgev_init(&c->iev, child->base, s, IMSG_CTL_MAX_SIZE,
	    control_dispatch_client, c);
	c->iev.ibuf.wipe = 1; /* its requests may hold passwords */
	TAILQ_INIT(&c->held);
	if ((c->idle = evtimer_new(child->base, control_idle, c)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(c->idle, &idle);
	TAILQ_INSERT_TAIL(&control.conns, c, entry);
	control.nconns++;
	log_debug("%s connected", c->name);
}

static struct control_conn *
control_find(uint32_t id)
{
	struct control_conn *c;

	TAILQ_FOREACH(c, &control.conns, entry)
		if (c->id == id)
			return c;
	return NULL;
}

/* the peer hung up, or sent something imsg could not frame (logged) */
static void
control_client_closed(struct imsgev *iev)
{
	struct control_conn *c = iev->arg;

	control_drop(c, NULL);
}

/*
 * Forget a client.  Its imsgev may be in the middle of dispatching (this
 * can be called from its own handler), so the memory goes later.
 */
static void
control_drop(struct control_conn *c, const char *why)
{
	struct timeval tv = {0, 0};

	if (c->dead)
		return;
	c->dead = 1;
	if (why != NULL)
		log_warnx("dropping %s: %s", c->name, why);
	else
		log_debug("%s closed", c->name);
	imsgev_clear(&c->iev);
	if (c->timeout != NULL) {
		event_free(c->timeout);
		c->timeout = NULL;
	}
	if (c->idle != NULL) {
		event_free(c->idle);
		c->idle = NULL;
	}
	control_usage_clear(c);
	TAILQ_REMOVE(&control.conns, c, entry);
	control.nconns--;
	TAILQ_INSERT_TAIL(&control.dead, c, entry);
	if (!control.reap_pending) {
		if (event_base_once(child->base, -1, EV_TIMEOUT, control_reap,
			NULL, &tv) == -1)
			fatalx("event_base_once");
		control.reap_pending = 1;
	}
}

static void
control_reap(evutil_socket_t fd, short events, void *arg)
{
	struct control_conn *c;

	while ((c = TAILQ_FIRST(&control.dead)) != NULL) {
		TAILQ_REMOVE(&control.dead, c, entry);
		free(c);
	}
	control.reap_pending = 0;
}

/* 0 if the request has the fields its type names, and nothing more */
static int
control_request_valid(struct imsg *imsg)
{
	struct ctl_request req;

	if (ctl_request_decode(
		&req, imsg->hdr.type, imsg->data, imsg->datalen) == -1)
		return -1;
	ctl_request_clear(&req);
	return 0;
}

static void
control_dispatch_client(struct imsgev *iev, struct imsg *imsg)
{
	control_client_request(iev->arg, imsg);
	/* passwords pass through here: leave no copy behind, on every path */
	if (imsg->data != NULL)
		explicit_bzero(imsg->data, imsg->datalen);
}

static void
control_client_request(struct control_conn *c, struct imsg *imsg)
{
	char why[64];

	/* a descriptor never gets this far: imsgev refuses it (nofds) */
	if (!c->hello) {
		control_hello(c, imsg);
		return;
	}
	/* legitimate clients ask once and read all; this one piles up */
	if (c->iev.ibuf.outlen > CONTROL_UNREAD_MAX) {
		control_drop(c, "not reading its replies");
		return;
	}
	if (c->pending != CONTROL_IDLE) {
		control_drop(c, "sent a request before the last one ended");
		return;
	}
	if (control_request_valid(imsg) == -1) {
		snprintf(why, sizeof(why), "malformed request %s",
		    imsg_type_name(imsg->hdr.type));
		control_drop(c, why);
		return;
	}
	evtimer_del(c->idle);
	c->request = imsg->hdr.type;
	switch (imsg->hdr.type) {
	case IMSG_CTL_STATUS:
		control_status_start(c);
		break;
	case IMSG_CTL_RELOAD:
		log_info("reload requested by %s", c->name);
		c->pending = CONTROL_RELOAD;
		child_send(PROC_PARENT, IMSG_PARENT_RELOAD, c->id, -1, NULL);
		break;
	case IMSG_CTL_DNS:
	case IMSG_CTL_DKIM_ROTATE:
	case IMSG_CTL_DKIM_RETIRE:
		control_dkim_start(c, imsg);
		break;
	case IMSG_CTL_QUEUE_LIST:
	case IMSG_CTL_QUEUE_SHOW:
	case IMSG_CTL_QUEUE_FLUSH:
	case IMSG_CTL_QUEUE_REMOVE:
		c->pending = CONTROL_TABLE;
		c->usage = 0;
		if (imsgev_compose(child->peer[PROC_QUEUE], imsg->hdr.type,
			c->id, -1, imsg->data, imsg->datalen) == -1)
			fatal(
			    "imsg %s to queue", imsg_type_name(imsg->hdr.type));
		break;
	default:
		if (imsg->hdr.type == IMSG_CTL_DOMAIN_ADD)
			control_dkim_name(c, imsg);
		c->pending = CONTROL_TABLE;
		c->usage = imsg->hdr.type == IMSG_CTL_USER_LIST;
		c->usage_off = 0;
		if (imsgev_compose(child->peer[PROC_AUTH], imsg->hdr.type,
			c->id, -1, imsg->data, imsg->datalen) == -1)
			fatal(
			    "imsg %s to auth", imsg_type_name(imsg->hdr.type));
		break;
	}
}

/*
 * A client's first message says which protocol it speaks.  boxctl 0.1
 * says none and sends its request at once, numbered as it is here: it
 * gets the IMSG_CTL_FAIL it knows, with a message it prints.
 */
static void
control_hello(struct control_conn *c, struct imsg *imsg)
{
	struct ctl_hello h;
	struct msg_writer w;
	char why[256], logline[128];

	if (imsg->hdr.type != IMSG_CTL_HELLO) {
		if (!ctl_request_type(imsg->hdr.type)) {
			snprintf(logline, sizeof(logline),
			    "sent %s before HELLO",
			    imsg_type_name(imsg->hdr.type));
			control_drop(c, logline);
			return;
		}
		snprintf(why, sizeof(why),
		    "this boxctl speaks no control protocol version (it is "
		    "older), boxd %s speaks %u: use the boxctl of the same "
		    "build",
		    BOXD_VERSION, CTL_PROTOCOL_VERSION);
		control_refuse_client(
		    c, why, "a boxctl without a protocol version");
		return;
	}
	if (ctl_hello_decode(&h, imsg->data, imsg->datalen) == -1) {
		control_drop(c, "malformed HELLO");
		return;
	}
	if (h.protocol != CTL_PROTOCOL_VERSION) {
		snprintf(why, sizeof(why),
		    "boxctl %s speaks control protocol %u, boxd %s speaks %u: "
		    "use the boxctl of the same build",
		    h.version, h.protocol, BOXD_VERSION, CTL_PROTOCOL_VERSION);
		snprintf(logline, sizeof(logline),
		    "boxctl %s speaks control protocol %u", h.version,
		    h.protocol);
		control_refuse_client(c, why, logline);
		return;
	}
	c->hello = 1;
	msg_writer_init(&w);
	ctl_hello_encode(&w);
	control_send(c, IMSG_CTL_HELLO, &w);
}

/*
 * Say why to the client, then drop it: the FAIL goes out first, after
 * what was queued before it, as far as the socket's buffer takes it now.
 */
static void
control_refuse_client(
    struct control_conn *c, const char *why, const char *logline)
{
	struct msg_writer w;

	msg_writer_init(&w);
	ctl_fail_encode(&w, why);
	if (!w.error &&
	    imsgbuf_compose(&c->iev.ibuf, IMSG_CTL_FAIL, 0, -1, w.buf, w.len) ==
		0)
		imsgbuf_flush(&c->iev.ibuf);
	msg_writer_free(&w);
	control_drop(c, logline);
}

static void
control_send(struct control_conn *c, uint32_t type, struct msg_writer *w)
{
	int rv;

	if (c->dead) {
		msg_writer_free(w);
		return;
	}
	if (w == NULL)
		rv = imsgev_compose(&c->iev, type, 0, -1, NULL, 0);
	else
		rv = imsgev_compose_msg(&c->iev, type, 0, -1, w);
	if (rv == -1)
		control_drop(c, "cannot queue a reply");
	else if (c->iev.ibuf.outlen > CONTROL_OUTQ_MAX)
		control_drop(c, "not reading its replies");
}

/* the reply is complete: the client may ask again, or should go */
static void
control_request_done(struct control_conn *c)
{
	struct timeval tv = {CONTROL_IDLE_TIMEOUT, 0};

	c->pending = CONTROL_IDLE;
	if (!c->dead)
		evtimer_add(c->idle, &tv);
}

/* connected, and asking nothing: give the slot to someone else */
static void
control_idle(evutil_socket_t fd, short events, void *arg)
{
	struct control_conn *c = arg;

	control_drop(c, "idle");
}

/* a reply from inside boxd, passed on as it is */
static void
control_forward(struct control_conn *c, struct imsg *imsg)
{
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_data(&w, imsg->data, imsg->datalen);
	control_send(c, imsg->hdr.type, &w);
}

/* ---------------------------------------------------------------- status */

static void
control_status_start(struct control_conn *c)
{
	struct timeval tv = {CONTROL_STATUS_TIMEOUT, 0};

	c->pending = CONTROL_STATUS;
	c->wait_procs = 1;
	c->wait_stats = 3;
	memset(c->counters, 0, sizeof(c->counters));
	if ((c->timeout = evtimer_new(
		 child->base, control_status_timeout, c)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(c->timeout, &tv);
	child_send(PROC_PARENT, IMSG_PARENT_PROCS, c->id, -1, NULL);
	child_send(PROC_SMTP, IMSG_STATS_REQ, c->id, -1, NULL);
	child_send(PROC_QUEUE, IMSG_STATS_REQ, c->id, -1, NULL);
	child_send(PROC_IMAP, IMSG_STATS_REQ, c->id, -1, NULL);
}

static void
control_status_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct control_conn *c = arg;

	log_warnx("status: no answer from %s",
	    c->wait_procs ? "the parent" : "smtp, queue or imap");
	/*
	 * The answers may still come, under this client's id, and would be
	 * taken for those of its next request (a late OK for a reload's):
	 * the client goes, and what comes for it finds nobody.
	 */
	control_refuse_client(
	    c, "timed out waiting for the processes", "status timed out");
}

static void
control_status_proc(struct control_conn *c, const struct ctl_proc *proc)
{
	struct msg_writer w;
	char pid[16], uptime[32];
	uint64_t now = (uint64_t)time(NULL);

	snprintf(pid, sizeof(pid), "%u", proc->pid);
	snprintf(uptime, sizeof(uptime), "%llu",
	    (unsigned long long)(now > proc->started ? now - proc->started
						     : 0));
	msg_writer_init(&w);
	ctl_row_encode(&w, "role", proc->role, "pid", pid, "user", proc->user,
	    "uptime", uptime, NULL);
	control_send(c, IMSG_CTL_LINE, &w);
}

_Static_assert(CTL_COUNTERS == 5, "control_status_done() names each counter");

/* once the process list and both counters are in */
static void
control_status_done(struct control_conn *c)
{
	struct msg_writer w;
	char v[CTL_COUNTERS][32];
	int i;

	if (c->wait_procs || c->wait_stats > 0)
		return;
	event_free(c->timeout);
	c->timeout = NULL;
	control_request_done(c);
	for (i = 0; i < CTL_COUNTERS; i++)
		snprintf(v[i], sizeof(v[i]), "%llu",
		    (unsigned long long)c->counters[i]);
	msg_writer_init(&w);
	ctl_row_encode(&w, ctl_counter_name(CTL_SESSIONS), v[CTL_SESSIONS],
	    ctl_counter_name(CTL_RECEIVED), v[CTL_RECEIVED],
	    ctl_counter_name(CTL_DELIVERED), v[CTL_DELIVERED],
	    ctl_counter_name(CTL_QUEUED), v[CTL_QUEUED],
	    ctl_counter_name(CTL_IMAP_SESSIONS), v[CTL_IMAP_SESSIONS], NULL);
	control_send(c, IMSG_CTL_LINE, &w);
	control_send(c, IMSG_CTL_OK, NULL);
}

/* ---------------------------------------------------------------- usage */

/* "domain/user", the Maildir, as auth's login_mailbox() makes it */
static int
control_mailbox(const char *address, char *buf, size_t bufsz)
{
	const char *at;

	if ((at = strrchr(address, '@')) == NULL ||
	    (size_t)snprintf(buf, bufsz, "%s/%.*s", at + 1, (int)(at - address),
		address) >= bufsz)
		return -1;
	return envelope_mailbox_valid(buf) ? 0 : -1;
}

/*
 * A row of a user list, or its end, from auth: held, in order, until
 * imap has told the usage of the rows before it and its own.
 */
static void
control_usage_hold(
    struct control_conn *c, struct imsg *imsg, const struct ctl_row *row)
{
	struct control_held *h;
	const char *address;

	h = xcalloc(1, sizeof(*h) + imsg->datalen);
	h->type = imsg->hdr.type;
	h->len = imsg->datalen;
	if (h->len > 0)
		memcpy(h->data, imsg->data, h->len);
	if ((address = ctl_row_get(row, "address")) == NULL ||
	    control_mailbox(address, h->mailbox, sizeof(h->mailbox)) == -1)
		h->mailbox[0] = '\0';
	TAILQ_INSERT_TAIL(&c->held, h, entry);
	c->held_bytes += h->len;
	if (c->held_bytes + c->iev.ibuf.outlen > CONTROL_OUTQ_MAX) {
		control_drop(c, "a user list too large to hold");
		return;
	}
	control_usage_pump(c);
}

/* pass on what needs no usage, ask for the next batch of what does */
static void
control_usage_pump(struct control_conn *c)
{
	struct control_held *h;

	if (c->usage_reqid != 0)
		return; /* one batch at a time: the answers come in order */
	while (!c->dead && (h = TAILQ_FIRST(&c->held)) != NULL) {
		if (h->type == IMSG_CTL_LINE && h->mailbox[0] != '\0' &&
		    !c->usage_off) {
			control_usage_ask(c);
			return;
		}
		control_usage_release(c, h, NULL);
	}
}

static void
control_usage_ask(struct control_conn *c)
{
	static struct ctl_usage_req req;
	struct timeval tv = {CONTROL_USAGE_TIMEOUT, 0};
	struct control_held *h;
	struct msg_writer w;

	req.n = 0;
	TAILQ_FOREACH(h, &c->held, entry) {
		if (h->type != IMSG_CTL_LINE)
			break;
		if (h->mailbox[0] != '\0') {
			if (req.n == CTL_USAGE_BATCH)
				break;
			memcpy(req.mailbox[req.n++], h->mailbox,
			    sizeof(h->mailbox));
		}
		h->asked = 1;
	}
	do
		req.reqid = ++control.next_usage_reqid;
	while (req.reqid == 0);
	c->usage_reqid = req.reqid;
	msg_writer_init(&w);
	ctl_usage_req_encode(&w, &req);
	child_send(PROC_IMAP, IMSG_IMAP_USAGE_REQ, c->id, -1, &w);
	if (c->usage_timeout == NULL &&
	    (c->usage_timeout =
		    evtimer_new(child->base, control_usage_timeout, c)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(c->usage_timeout, &tv);
}

/* IMSG_IMAP_USAGE: the batch asked, in order */
static void
control_usage_answer(struct imsg *imsg)
{
	static struct ctl_usage_reply rep;
	struct control_conn *c;
	struct control_held *h;
	uint32_t i = 0;

	if (ctl_usage_reply_decode(&rep, imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "usage");
	/* the client has gone, or had its rows sent without */
	if ((c = control_find(imsg->hdr.peerid)) == NULL ||
	    c->usage_reqid == 0 || rep.reqid != c->usage_reqid)
		return;
	c->usage_reqid = 0;
	evtimer_del(c->usage_timeout);
	while (!c->dead && (h = TAILQ_FIRST(&c->held)) != NULL && h->asked) {
		if (h->mailbox[0] == '\0')
			control_usage_release(c, h, NULL);
		else if (i < rep.n)
			control_usage_release(c, h, &rep.usage[i++]);
		else
			child_bad_imsg(imsg, "usage: fewer than asked");
	}
	if (c->dead)
		return;
	if (i != rep.n)
		child_bad_imsg(imsg, "usage: more than asked");
	control_usage_pump(c);
}

/* to the client, with the usage if imap could tell it */
static void
control_usage_release(
    struct control_conn *c, struct control_held *h, const struct ctl_usage *u)
{
	struct msg_writer w;
	struct ctl_row row;
	char used[32], messages[32];
	uint32_t type = h->type;

	TAILQ_REMOVE(&c->held, h, entry);
	c->held_bytes -= h->len;
	msg_writer_init(&w);
	if (u != NULL && u->status == CTL_USAGE_OK) {
		if (ctl_row_decode(&row, h->data, h->len) == -1)
			fatalx("%s: a held row", __func__);
		snprintf(
		    used, sizeof(used), "%llu", (unsigned long long)u->bytes);
		snprintf(messages, sizeof(messages), "%llu",
		    (unsigned long long)u->messages);
		ctl_row_encode_more(
		    &w, &row, "used", used, "messages", messages, NULL);
		ctl_row_clear(&row);
	} else
		msg_put_data(&w, h->data, h->len);
	free(h);
	if (type != IMSG_CTL_LINE) {
		control_request_done(c);
		c->usage = 0;
	}
	control_send(c, type, &w);
}

static void
control_usage_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct control_conn *c = arg;

	log_warnx("%s: no usage from imap in %d seconds: the user list goes "
		  "without",
	    c->name, CONTROL_USAGE_TIMEOUT);
	c->usage_off = 1;
	c->usage_reqid = 0;
	control_usage_pump(c);
}

static void
control_usage_clear(struct control_conn *c)
{
	struct control_held *h;

	while ((h = TAILQ_FIRST(&c->held)) != NULL) {
		TAILQ_REMOVE(&c->held, h, entry);
		free(h);
	}
	c->held_bytes = 0;
	c->usage_reqid = 0;
	if (c->usage_timeout != NULL) {
		event_free(c->usage_timeout);
		c->usage_timeout = NULL;
	}
}

/* ---------------------------------------------------------------- dkim, dns */

/* what control_dns_record() needs besides the record */
struct control_dns {
	struct control_conn *c;
	const char *selector; /* of a DKIM record; else NULL */
	int signs;
};

/* the domain (and selector) a request names, as the client sent them */
static void
control_dkim_name(struct control_conn *c, struct imsg *imsg)
{
	struct ctl_request req;

	if (ctl_request_decode(
		&req, imsg->hdr.type, imsg->data, imsg->datalen) == -1)
		fatalx("%s: a request checked before", __func__);
	strlcpy(c->domain, req.name, sizeof(c->domain));
	strlcpy(c->selector, req.selector != NULL ? req.selector : "",
	    sizeof(c->selector));
	ctl_request_clear(&req);
}

/*
 * boxctl dns, dkim rotate and dkim retire: first auth's domain list, to
 * tell an unknown domain from one without keys
 */
static void
control_dkim_start(struct control_conn *c, struct imsg *imsg)
{
	struct msg_writer w;

	control_dkim_name(c, imsg);
	if (!domain_valid(c->domain, 0) ||
	    (c->request == IMSG_CTL_DKIM_RETIRE &&
		!dkim_selector_valid(c->selector))) {
		control_request_done(c);
		msg_writer_init(&w);
		ctl_fail_encode(&w,
		    c->request == IMSG_CTL_DKIM_RETIRE
			? "invalid domain or selector"
			: "invalid domain name");
		control_send(c, IMSG_CTL_FAIL, &w);
		return;
	}
	c->pending = CONTROL_DOMAIN_CHECK;
	c->domain_found = 0;
	msg_writer_init(&w);
	ctl_request_encode(
	    &w, &(struct ctl_request){.type = IMSG_CTL_DOMAIN_LIST});
	child_send(PROC_AUTH, IMSG_CTL_DOMAIN_LIST, c->id, -1, &w);
}

static void
control_domain_checked(struct control_conn *c)
{
	struct msg_writer w;
	struct dns_zone z;
	struct control_dns d = {c, NULL, 0};
	char why[SMTP_DOMAIN_MAX + 64];

	if (!c->domain_found) {
		control_request_done(c);
		snprintf(why, sizeof(why), "unknown domain: %s", c->domain);
		msg_writer_init(&w);
		ctl_fail_encode(&w, why);
		control_send(c, IMSG_CTL_FAIL, &w);
		return;
	}
	switch (c->request) {
	case IMSG_CTL_DNS:
		c->pending = CONTROL_DNS;
		c->dns_keys = 0;
		control_dns_zone(c, &z);
		if (dns_zone_head(&z, control_dns_record, &d) == -1)
			log_warnx("dns %s: a record does not fit", c->domain);
		msg_writer_init(&w);
		msg_put_str(&w, c->domain);
		child_send(PROC_SIGNER, IMSG_SIGNER_PUBKEYS, c->id, -1, &w);
		break;
	case IMSG_CTL_DKIM_ROTATE:
		control_dkim_parent(c, DKIM_OP_ROTATE);
		break;
	case IMSG_CTL_DKIM_RETIRE:
		control_dkim_parent(c, DKIM_OP_RETIRE);
		break;
	default:
		fatalx("%s: request %u", __func__, c->request);
	}
}

/* the key files change in the parent, which answers OK or FAIL */
static void
control_dkim_parent(struct control_conn *c, uint32_t op)
{
	struct msg_writer w;

	c->pending = CONTROL_DKIM;
	msg_writer_init(&w);
	msg_put_u32(&w, op);
	msg_put_str(&w, c->domain);
	msg_put_str(&w, c->selector);
	child_send(PROC_PARENT, IMSG_PARENT_DKIM, c->id, -1, &w);
}

static void
control_dns_zone(struct control_conn *c, struct dns_zone *z)
{
	lowercase(c->domain);
	memset(z, 0, sizeof(*z));
	z->domain = c->domain;
	z->hostname = child->conf.hostname;
	dns_zone_ports(z, &child->conf);
}

/*
 * One record, as a row: its zone-file line and its parts for -j; a DKIM
 * record also names its selector and whether it signs now.
 */
static void
control_dns_record(const struct dns_record *r, void *arg)
{
	struct control_dns *d = arg;
	struct msg_writer w;
	char line[DNS_OWNER_MAX + DNS_VALUE_MAX + 64], ttl[16];

	if (dns_record_line(r, line, sizeof(line)) == -1)
		return;
	snprintf(ttl, sizeof(ttl), "%d", DNS_TTL);
	msg_writer_init(&w);
	if (d->selector != NULL)
		ctl_row_encode(&w, "record", line, "name", r->name, "ttl", ttl,
		    "type", r->type, "value", r->value, "selector", d->selector,
		    "signs", d->signs ? "yes" : "no", NULL);
	else
		ctl_row_encode(&w, "record", line, "name", r->name, "ttl", ttl,
		    "type", r->type, "value", r->value, NULL);
	control_send(d->c, IMSG_CTL_LINE, &w);
}

/* signer's public keys of the domain, then the records after them */
static void
control_dispatch_signer(struct imsgev *iev, struct imsg *imsg)
{
	struct control_conn *c;
	struct msg_reader r;
	struct msg_writer w;
	struct dns_zone z;
	struct control_dns d = {NULL, NULL, 0};
	char selector[DKIM_SELECTOR_MAX], p[DKIM_PUBKEY_MAX];
	char policy[DNS_POLICY_MAX], url[SMTP_DOMAIN_MAX + 64];
	char note[SMTP_DOMAIN_MAX + 64];
	uint32_t alg, signs;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_SIGNER_PUBKEY:
		if (msg_get_str(&r, selector, sizeof(selector)) == -1 ||
		    msg_get_u32(&r, &alg) == -1 ||
		    msg_get_str(&r, p, sizeof(p)) == -1 ||
		    msg_get_u32(&r, &signs) == -1 || msg_get_end(&r) == -1 ||
		    (alg != DKIM_RSA_SHA256 && alg != DKIM_ED25519_SHA256))
			child_bad_imsg(imsg, "public key");
		break;
	case IMSG_SIGNER_PUBKEYS_END:
		if (msg_get_end(&r) == -1)
			child_bad_imsg(imsg, "public keys end");
		break;
	default:
		child_bad_imsg(imsg, "from signer");
	}
	if ((c = control_find(imsg->hdr.peerid)) == NULL ||
	    c->pending != CONTROL_DNS)
		return;
	control_dns_zone(c, &z);
	d.c = c;
	if (imsg->hdr.type == IMSG_SIGNER_PUBKEY) {
		d.selector = selector;
		d.signs = signs != 0;
		c->dns_keys++;
		if (dns_zone_dkim(
			&z, selector, alg, p, control_dns_record, &d) == -1)
			log_warnx("dns %s: selector %s does not fit", c->domain,
			    selector);
		return;
	}
	if (c->dns_keys == 0) {
		snprintf(note, sizeof(note),
		    "no DKIM key: boxctl dkim rotate %s makes a pair",
		    c->domain);
		msg_writer_init(&w);
		ctl_row_encode(&w, "comment", note, NULL);
		control_send(c, IMSG_CTL_LINE, &w);
	}
	if (dns_zone_tail(&z, control_dns_record, &d) == -1)
		log_warnx("dns %s: a record does not fit", c->domain);
	/* the MTA-STS policy: a file for a web server, not a record */
	if (dns_mta_sts_policy(&z, policy, sizeof(policy)) == 0) {
		snprintf(url, sizeof(url),
		    "https://mta-sts.%s/.well-known/mta-sts.txt", c->domain);
		msg_writer_init(&w);
		ctl_row_encode(&w, "file", url, "text", policy, NULL);
		control_send(c, IMSG_CTL_LINE, &w);
	}
	control_request_done(c);
	control_send(c, IMSG_CTL_OK, NULL);
}
