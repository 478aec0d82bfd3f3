/*
 * The smtp role: accepts connections on the smtp, submission and
 * submissions listeners and routes the answers of auth and queue to the
 * sessions waiting for them.
 */

#include <sys/socket.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"
#include "smtpd.h"

struct client_count {
	RB_ENTRY(client_count) entry;
	char addr[64];
	uint32_t n;
};

RB_HEAD(client_tree, client_count);

static int
client_cmp(struct client_count *a, struct client_count *b)
{
	return strcmp(a->addr, b->addr);
}

RB_GENERATE_STATIC(client_tree, client_count, entry, client_cmp);

/*
 * The TLS context is made when the first client asks for TLS: until then
 * the process carries no OpenSSL state (the parent has checked the
 * certificate and key already).
 */
static void *tls_ctx;
static char *tls_cert_pem, *tls_key_pem;
static struct client_tree clients = RB_INITIALIZER(&clients);
static struct smtp_listener listeners[CONFIG_LISTEN_MAX];
static uint64_t next_reqid = 1;
static uint64_t stat_sessions;

uint64_t
smtp_new_reqid(void)
{
	return next_reqid++;
}

void
smtp_stat_session(void)
{
	stat_sessions++;
}

int
smtp_client_add(const char *addr)
{
	struct client_count key, *c;

	strlcpy(key.addr, addr, sizeof(key.addr));
	if ((c = RB_FIND(client_tree, &clients, &key)) == NULL) {
		c = xcalloc(1, sizeof(*c));
		strlcpy(c->addr, addr, sizeof(c->addr));
		RB_INSERT(client_tree, &clients, c);
	}
	if (c->n >= child->conf.limit_connections)
		return -1;
	c->n++;
	return 0;
}

void
smtp_client_del(const char *addr)
{
	struct client_count key, *c;

	strlcpy(key.addr, addr, sizeof(key.addr));
	if ((c = RB_FIND(client_tree, &clients, &key)) == NULL)
		return;
	if (c->n > 0)
		c->n--;
	if (c->n == 0) {
		RB_REMOVE(client_tree, &clients, c);
		free(c);
	}
}

static void
smtp_accept(evutil_socket_t lfd, short events, void *arg)
{
	struct smtp_listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, i;

	for (i = 0; i < 64; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED && errno != EINTR)
				log_warn("accept");
			return;
		}
		smtp_session_new(fd, (struct sockaddr *)&ss, len, l->kind);
	}
}

static void
smtp_add_listener(struct imsg *imsg)
{
	struct smtp_listener *l;
	uint32_t idx = imsg->hdr.peerid;

	if (idx >= child->conf.nlisteners || imsg->fd == -1)
		child_bad_imsg(imsg, "listener");
	l = &listeners[idx];
	l->fd = imsg->fd;
	imsg->fd = -1;
	l->kind = child->conf.listeners[idx].kind;
	if ((l->ev = event_new(child->base, l->fd, EV_READ | EV_PERSIST,
		 smtp_accept, l)) == NULL)
		fatalx("event_new");
	event_add(l->ev, NULL);
	log_debug("listening on %s port %u (%s)",
	    child->conf.listeners[idx].addr, child->conf.listeners[idx].port,
	    listen_kind_name(l->kind));
}

static void
smtp_forget_pem(void)
{
	if (tls_key_pem != NULL)
		freezero(tls_key_pem, strlen(tls_key_pem));
	free(tls_cert_pem);
	tls_cert_pem = tls_key_pem = NULL;
}

int
smtp_tls_available(void)
{
	return tls_ctx != NULL || tls_cert_pem != NULL;
}

void *
smtp_tls(void)
{
	char err[256] = "";
	void *ctx;

	if (tls_cert_pem == NULL)
		return tls_ctx;
	if ((ctx = tls_server_ctx(
		 tls_cert_pem, tls_key_pem, err, sizeof(err))) == NULL)
		log_warnx("tls: %s (%s, %s)", err, child->conf.tls_cert,
		    child->conf.tls_key);
	else {
		tls_ctx_free(tls_ctx);
		tls_ctx = ctx;
	}
	smtp_forget_pem();
	return tls_ctx;
}

/* a reload brings the certificate again: renewed ones take effect */
static void
smtp_reload_tls(struct imsg *imsg, struct msg_reader *r)
{
	smtp_forget_pem();
	if (msg_get_strdup(r, &tls_cert_pem, IMSG_MAX_SIZE) == -1 ||
	    msg_get_strdup(r, &tls_key_pem, IMSG_MAX_SIZE) == -1 ||
	    msg_get_end(r) == -1)
		child_bad_imsg(imsg, "tls");
	/* a context in use is replaced now, else on first use */
	if (tls_ctx != NULL)
		smtp_tls();
	log_info("tls: certificate reloaded");
}

static void
smtp_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_CONF_LISTENER:
		smtp_add_listener(imsg);
		break;
	case IMSG_CONF_TLS:
		smtp_reload_tls(imsg, &r);
		break;
	default:
		child_bad_imsg(imsg, "from parent");
	}
}

static void
smtp_dispatch_auth(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;
	uint64_t reqid;
	uint32_t status, n, i;
	char **mailboxes;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (imsg->hdr.type != IMSG_AUTH_RCPT_RESULT ||
	    msg_get_u64(&r, &reqid) == -1 || msg_get_u32(&r, &status) == -1 ||
	    msg_get_u32(&r, &n) == -1 || n > r.left / 4)
		child_bad_imsg(imsg, "from auth");
	mailboxes = xcalloc(n + 1, sizeof(*mailboxes));
	for (i = 0; i < n; i++)
		if (msg_get_strdup(
			&r, &mailboxes[i], ENVELOPE_MAILBOX_MAX - 1) == -1)
			child_bad_imsg(imsg, "rcpt result");
	if (msg_get_end(&r) == -1)
		child_bad_imsg(imsg, "rcpt result");
	smtp_session_rcpt_result(reqid, status, mailboxes, n);
	for (i = 0; i < n; i++)
		free(mailboxes[i]);
	free(mailboxes);
}

static void
smtp_dispatch_queue(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_reader r;
	uint64_t reqid, msgid;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_u64(&r, &reqid) == -1)
		child_bad_imsg(imsg, "from queue");
	switch (imsg->hdr.type) {
	case IMSG_QUEUE_CREATE_OK:
		if (msg_get_u64(&r, &msgid) == -1 || msg_get_end(&r) == -1 ||
		    imsg->fd == -1)
			child_bad_imsg(imsg, "create ok");
		smtp_session_created(reqid, msgid, imsg->fd);
		imsg->fd = -1;
		break;
	case IMSG_QUEUE_CREATE_FAIL:
		if (msg_get_end(&r) == -1)
			child_bad_imsg(imsg, "create fail");
		smtp_session_create_failed(reqid);
		break;
	case IMSG_QUEUE_COMMIT_OK:
	case IMSG_QUEUE_COMMIT_FAIL:
		if (msg_get_end(&r) == -1)
			child_bad_imsg(imsg, "commit");
		smtp_session_committed(
		    reqid, imsg->hdr.type == IMSG_QUEUE_COMMIT_OK);
		break;
	default:
		child_bad_imsg(imsg, "from queue");
	}
}

static void
smtp_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_writer w;

	if (imsg->hdr.type != IMSG_STATS_REQ)
		child_bad_imsg(imsg, "from control");
	msg_writer_init(&w);
	msg_put_u64(&w, stat_sessions);
	msg_put_u64(&w, 0);
	msg_put_u64(&w, 0);
	msg_put_u64(&w, 0);
	child_send(PROC_CONTROL, IMSG_STATS, imsg->hdr.peerid, -1, &w);
}

void
smtp_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};

	child_init(PROC_SMTP, smtp_dispatch_parent);
	/* loaded even without a certificate: a reload may bring one */
	tls_load();
	tls_cert_pem = child->tls_cert_pem;
	tls_key_pem = child->tls_key_pem;
	child->tls_cert_pem = child->tls_key_pem = NULL;
	child_drop();
	sandbox_init(PROC_SMTP);

	handlers[PROC_AUTH] = smtp_dispatch_auth;
	handlers[PROC_QUEUE] = smtp_dispatch_queue;
	handlers[PROC_CONTROL] = smtp_dispatch_control;
	child_run(handlers);
}
