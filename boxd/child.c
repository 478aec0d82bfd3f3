/*
 * The frame of every child role: receive the configuration from the
 * parent, let the role drop privileges, then open the peer channels and
 * serve.
 */

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"

struct child *child;

static imsgev_handler child_parent_handler;
static imsgev_handler child_peer_handlers[PROC_COUNT];
static void child_unexpected(struct imsgev *, struct imsg *);
/* the channel whose message is being handled, for child_bad_imsg() */
static struct imsgev *child_current;
static int child_configured;

static void
child_fatal_hook(const char *why)
{
	struct imsgbuf *ibuf;
	struct msg_writer w;

	if (child == NULL || child->parent == NULL)
		return;
	ibuf = &child->parent->ibuf;
	msg_writer_init(&w);
	msg_put_str(&w, why);
	if (!w.error &&
	    imsgbuf_compose(ibuf, IMSG_PROC_FATAL, 0, -1, w.buf, w.len) == 0)
		imsgbuf_flush(ibuf);
	msg_writer_free(&w);
}

void
child_bad_imsg(struct imsg *imsg, const char *what)
{
	fatalx("malformed imsg %s from %s (%s)", imsg_type_name(imsg->hdr.type),
	    child_current != NULL ? child_current->name : "?", what);
}

void
child_forget_tls(void)
{
	tls_server_forget(&child->tls);
}

static void
child_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	child_current = iev;
	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (child_configured) {
		/*
		 * Every role takes a reload the same way, and says so at its
		 * end, after the messages between (TLS) that are the role's.
		 */
		switch (imsg->hdr.type) {
		case IMSG_CONF_RELOAD:
			if (config_unmarshal(&child->conf, &r) == -1)
				child_bad_imsg(imsg, "reload");
			log_setlevel(child->conf.log_level);
			break;
		case IMSG_CONF_END:
			child_send(
			    PROC_PARENT, IMSG_PROC_RELOADED, 0, -1, NULL);
			break;
		default:
			child_parent_handler(iev, imsg);
			break;
		}
		child_current = NULL;
		return;
	}
	switch (imsg->hdr.type) {
	case IMSG_CONF_START:
		if (config_unmarshal(&child->conf, &r) == -1)
			child_bad_imsg(imsg, "config");
		log_setlevel(child->conf.log_level);
		break;
	case IMSG_CONF_TLS:
		if (tls_server_set_pem(&child->tls, &r) == -1)
			child_bad_imsg(imsg, "tls");
		break;
	case IMSG_CONF_END:
		child_configured = 1;
		event_base_loopbreak(child->base);
		break;
	case IMSG_DKIM_KEY:
	case IMSG_DKIM_KEYS_END:
		/* the signer's keys come with its configuration */
		if (!role_get(child->role)->dkim_keys)
			child_bad_imsg(imsg, "dkim keys");
		child_parent_handler(iev, imsg);
		break;
	default:
		child_bad_imsg(imsg, "unexpected before configuration");
	}
	child_current = NULL;
}

static void
child_dispatch_peer(struct imsgev *iev, struct imsg *imsg)
{
	child_current = iev;
	child_peer_handlers[iev->peer](iev, imsg);
	child_current = NULL;
}

static void
child_unexpected(struct imsgev *iev, struct imsg *imsg)
{
	fatalx("unexpected imsg %s from %s", imsg_type_name(imsg->hdr.type),
	    iev->name);
}

/* the parent is gone: nobody is left to stop us */
static void
child_parent_closed(struct imsgev *iev)
{
	log_debug("channel to the parent closed");
	exit(0);
}

/*
 * A peer hung up.  The parent sees its death, says why and stops the
 * service; until its SIGTERM comes we stay, so that the log names the
 * process that failed rather than the first to notice.  (A channel that
 * garbles or loses what the peer sent is another matter: imsgev makes
 * that fatal here, naming the peer.)
 */
static void
child_peer_closed(struct imsgev *iev)
{
	log_debug("channel to %s closed", iev->name);
	event_del(iev->ev);
}

static void
child_signal(evutil_socket_t sig, short events, void *arg)
{
	if (sig == SIGTERM || sig == SIGINT)
		event_base_loopexit(child->base, NULL);
}

void
child_init(enum proc_type role, imsgev_handler parent_handler)
{
	static struct event *sigterm, *sigint;

	child = xcalloc(1, sizeof(*child));
	child->role = role;
	child->started = time(NULL);
	config_defaults(&child->conf);
	tls_server_init(&child->tls, child->conf.tls_cert, child->conf.tls_key);
	if ((child->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigterm = evsignal_new(child->base, SIGTERM, child_signal, NULL);
	sigint = evsignal_new(child->base, SIGINT, child_signal, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);

	child_parent_handler =
	    parent_handler != NULL ? parent_handler : child_unexpected;
	child->parent = xcalloc(1, sizeof(*child->parent));
	child->parent->name = "parent";
	child->parent->peer = PROC_PARENT;
	child->parent->on_close = child_parent_closed;
	imsgev_init(child->parent, child->base, proc_fd(PROC_PARENT),
	    IMSG_MAX_SIZE, child_dispatch_parent, NULL);
	/* the keys come this way: no copy stays in its buffers */
	child->parent->ibuf.wipe =
	    role_get(role)->tls_server || role_get(role)->dkim_keys;
	log_set_fatal_hook(child_fatal_hook);

	if (event_base_dispatch(child->base) == -1 || !child_configured)
		fatalx("no configuration from the parent");
}

void
child_connect(imsgev_handler handlers[PROC_COUNT])
{
	struct imsgev *iev;
	int p;

	for (p = PROC_PARENT + 1; p < PROC_COUNT; p++) {
		if (!proc_linked(child->role, p))
			continue;
		iev = xcalloc(1, sizeof(*iev));
		iev->name = proc_name(p);
		iev->peer = p;
		iev->on_close = child_peer_closed;
		child_peer_handlers[p] =
		    handlers[p] != NULL ? handlers[p] : child_unexpected;
		imsgev_init(iev, child->base, proc_fd(p), IMSG_MAX_SIZE,
		    child_dispatch_peer, NULL);
		child->peer[p] = iev;
	}
}

void
child_run(imsgev_handler handlers[PROC_COUNT])
{
	if (handlers != NULL)
		child_connect(handlers);
	child_send(PROC_PARENT, IMSG_PROC_READY, 0, -1, NULL);
	/* give back what setting up (config, filter, libraries) left free */
	malloc_trim(0);
	event_base_dispatch(child->base);
	if (child->stop != NULL)
		child->stop();
	log_debug("exiting");
	exit(0);
}

void
child_send(enum proc_type to, uint32_t type, uint32_t peerid, int fd,
    struct msg_writer *w)
{
	struct imsgev *iev;
	int rv;

	iev = to == PROC_PARENT ? child->parent : child->peer[to];
	if (iev == NULL)
		fatalx("no channel to %s", proc_name(to));
	if (w == NULL)
		rv = imsgev_compose(iev, type, peerid, fd, NULL, 0);
	else
		rv = imsgev_compose_msg(iev, type, peerid, fd, w);
	if (rv == -1)
		fatal("imsg %s to %s", imsg_type_name(type), proc_name(to));
}

/* STORAGE/jail, or STORAGE/empty for a role without files of its own */
static const char *
child_jail(enum proc_type role, const struct boxd_config *conf)
{
	static char path[PATH_MAX];
	const char *jail = role_get(role)->jail;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", conf->storage,
		jail != NULL ? jail : "empty") >= sizeof(path))
		fatalx("storage path too long");
	return path;
}

void
child_drop(void)
{
	privsep_drop(
	    proc_user(child->role), child_jail(child->role, &child->conf));
}

void
child_sandbox(void)
{
	sandbox_init(role_get(child->role)->sandbox);
}
