/*
 * What the roles that serve clients on listeners (smtp, imap) share
 * around their sessions.
 */

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common.h"

const char *
session_parent_imsg(struct listener_set *set, const struct boxd_config *conf,
    struct tls_server *tls, struct imsg *imsg)
{
	const struct listen_conf *lc;
	struct msg_reader r;
	uint32_t idx = imsg->hdr.peerid;

	switch (imsg->hdr.type) {
	case IMSG_CONF_LISTENER:
		if (idx >= conf->nlisteners || imsg->fd == -1)
			return "listener";
		lc = &conf->listeners[idx];
		listener_add(set, imsg->fd, lc->kind);
		imsg->fd = -1;
		log_debug("listening on %s port %u (%s)", lc->addr, lc->port,
		    listen_kind_name(lc->kind));
		return NULL;
	case IMSG_CONF_TLS:
		/* a reload brings the certificate again: renewed ones count */
		msg_reader_init(&r, imsg->data, imsg->datalen);
		return tls_server_reload(tls, &r) == -1 ? "tls" : NULL;
	default:
		return "from parent";
	}
}

struct bufferevent *
session_bufferevent(struct event_base *base, int fd, struct tls_server *tls,
    size_t input_max, void (*readcb)(struct bufferevent *, void *),
    void (*writecb)(struct bufferevent *, void *),
    void (*eventcb)(struct bufferevent *, short, void *), void *arg)
{
	struct bufferevent *bev;
	void *ctx;

	if (tls != NULL) {
		if ((ctx = tls_server_ctx(tls)) == NULL ||
		    (bev = tls_accept_bufferevent(base, fd, ctx)) == NULL)
			return NULL;
	} else if ((bev = bufferevent_socket_new(base, fd, 0)) == NULL)
		return NULL;
	bufferevent_setcb(bev, readcb, writecb, eventcb, arg);
	/* a session reads no more than a window ahead of its commands */
	bufferevent_setwatermark(bev, EV_READ, 0, input_max);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return bev;
}

void
timer_add_ms(struct event *ev, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}
