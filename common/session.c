/*
 * What the roles that serve clients on listeners (smtp, imap) share
 * around their sessions.
 */

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
