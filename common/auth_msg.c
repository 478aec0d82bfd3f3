/*
 * The login protocol between a role that serves users and auth
 * (common/imsg_types.h: IMSG_AUTH_LOGIN, IMSG_AUTH_LOGIN_RESULT): one
 * encoder and one decoder for each, so that imap and smtp read the same
 * bytes the same way.
 */

#include <string.h>

#include "common.h"

void
auth_login_encode(struct msg_writer *w, const struct auth_login *l)
{
	w->wipe = 1;
	if (l->service >= AUTH_SERVICES ||
	    strnlen(l->user, sizeof(l->user)) > AUTH_LOGIN_USER_MAX ||
	    strnlen(l->password, sizeof(l->password)) >
		AUTH_LOGIN_PASSWORD_MAX ||
	    memchr(l->client_addr, '\0', sizeof(l->client_addr)) == NULL) {
		w->error = 1;
		return;
	}
	msg_put_u64(w, l->reqid);
	msg_put_u32(w, l->service);
	msg_put_str(w, l->user);
	msg_put_str(w, l->password);
	msg_put_str(w, l->client_addr);
}

void
auth_login_make(struct msg_writer *w, uint64_t reqid, uint32_t service,
    const char *user, const char *password, const char *client_addr)
{
	struct auth_login req;

	memset(&req, 0, sizeof(req));
	req.reqid = reqid;
	req.service = service;
	/* too long to be anyone's: a failure auth counts unchecked */
	if (strlcpy(req.user, user, sizeof(req.user)) >= sizeof(req.user) ||
	    strlcpy(req.password, password, sizeof(req.password)) >=
		sizeof(req.password) ||
	    strlcpy(req.client_addr, client_addr, sizeof(req.client_addr)) >=
		sizeof(req.client_addr)) {
		req.user[0] = '\0';
		explicit_bzero(req.password, sizeof(req.password));
	}
	auth_login_encode(w, &req);
	auth_login_clear(&req);
}

int
auth_login_decode(struct auth_login *l, const void *data, size_t len)
{
	struct msg_reader r;

	memset(l, 0, sizeof(*l));
	msg_reader_init(&r, data, len);
	if (msg_get_u64(&r, &l->reqid) == -1 ||
	    msg_get_u32(&r, &l->service) == -1 ||
	    msg_get_str(&r, l->user, sizeof(l->user)) == -1 ||
	    msg_get_str(&r, l->password, sizeof(l->password)) == -1 ||
	    msg_get_str(&r, l->client_addr, sizeof(l->client_addr)) == -1 ||
	    msg_get_end(&r) == -1 || l->service >= AUTH_SERVICES) {
		auth_login_clear(l);
		return -1;
	}
	return 0;
}

void
auth_login_clear(struct auth_login *l)
{
	explicit_bzero(l, sizeof(*l));
}

void
auth_login_result_encode(
    struct msg_writer *w, const struct auth_login_result *res)
{
	if (res->status > AUTH_LOGIN_TEMPFAIL ||
	    memchr(res->user, '\0', sizeof(res->user)) == NULL ||
	    memchr(res->mailbox, '\0', sizeof(res->mailbox)) == NULL) {
		w->error = 1;
		return;
	}
	msg_put_u64(w, res->reqid);
	msg_put_u32(w, res->status);
	msg_put_str(w, res->user);
	msg_put_str(w, res->mailbox);
	msg_put_u64(w, res->quota);
}

int
auth_login_result_decode(
    struct auth_login_result *res, const void *data, size_t len)
{
	struct msg_reader r;

	memset(res, 0, sizeof(*res));
	msg_reader_init(&r, data, len);
	if (msg_get_u64(&r, &res->reqid) == -1 ||
	    msg_get_u32(&r, &res->status) == -1 ||
	    msg_get_str(&r, res->user, sizeof(res->user)) == -1 ||
	    msg_get_str(&r, res->mailbox, sizeof(res->mailbox)) == -1 ||
	    msg_get_u64(&r, &res->quota) == -1 || msg_get_end(&r) == -1 ||
	    res->status > AUTH_LOGIN_TEMPFAIL)
		goto bad;
	/* the mailbox becomes a path under the mail root */
	if (res->status == AUTH_LOGIN_OK &&
	    (res->user[0] == '\0' || !envelope_mailbox_valid(res->mailbox)))
		goto bad;
	return 0;
bad:
	explicit_bzero(res, sizeof(*res));
	return -1;
}
