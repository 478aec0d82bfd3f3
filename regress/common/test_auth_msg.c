/*
 * auth_msg.c: a login and its answer round trip, the request's writer
 * wipes, and the decoders refuse truncated input, bytes left over,
 * embedded NULs, strings past their bounds, unknown services and
 * statuses, and an OK whose mailbox could leave the mail root.
 */

#include <stdint.h>
#include <string.h>

#include "common.h"
#include "test.h"

static struct auth_login
login_sample(void)
{
	struct auth_login	 l;

	memset(&l, 0, sizeof(l));
	l.reqid = 0x0102030405060708ULL;
	l.service = AUTH_SERVICE_POP3;
	strlcpy(l.user, "Alice@Example.org", sizeof(l.user));
	strlcpy(l.password, "p\xc3\xa4ss w\"rd\x01", sizeof(l.password));
	strlcpy(l.client_addr, "2001:db8::1", sizeof(l.client_addr));
	return l;
}

static struct auth_login_result
result_sample(void)
{
	struct auth_login_result r;

	memset(&r, 0, sizeof(r));
	r.reqid = 42;
	r.status = AUTH_LOGIN_OK;
	strlcpy(r.user, "alice@example.org", sizeof(r.user));
	strlcpy(r.mailbox, "example.org/alice", sizeof(r.mailbox));
	r.quota = 1ULL << 40;
	return r;
}

static int
login_decodes(const void *data, size_t len)
{
	struct auth_login	 l;
	int			 rv;

	rv = auth_login_decode(&l, data, len);
	auth_login_clear(&l);
	return rv;
}

static int
result_decodes(const void *data, size_t len)
{
	struct auth_login_result r;

	return auth_login_result_decode(&r, data, len);
}

/* every proper prefix refused, and the bytes with one more */
static int
bounded(const struct msg_writer *w, int (*decode)(const void *, size_t))
{
	struct msg_writer	 more;
	size_t			 n;
	int			 ok = 1;

	for (n = 0; n < w->len; n++)
		if (decode(w->buf, n) != -1)
			ok = 0;
	msg_writer_init(&more);
	msg_put_data(&more, w->buf, w->len);
	msg_put_u8(&more, 0);
	if (decode(more.buf, more.len) != -1)
		ok = 0;
	msg_writer_free(&more);
	return ok;
}

/* a request written by hand, for what the encoder will not write */
static int
raw_login(uint32_t service, const char *user, size_t userlen,
    const char *password, const char *addr)
{
	struct msg_writer	 w;
	int			 rv;

	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	msg_put_u32(&w, service);
	msg_put_u32(&w, (uint32_t)userlen);
	msg_put_data(&w, user, userlen);
	msg_put_str(&w, password);
	msg_put_str(&w, addr);
	rv = login_decodes(w.buf, w.len);
	msg_writer_free(&w);
	return rv;
}

static int
raw_result(uint32_t status, const char *user, const char *mailbox)
{
	struct msg_writer	 w;
	int			 rv;

	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	msg_put_u32(&w, status);
	msg_put_str(&w, user);
	msg_put_str(&w, mailbox);
	msg_put_u64(&w, 0);
	rv = result_decodes(w.buf, w.len);
	msg_writer_free(&w);
	return rv;
}

static void
test_login(void)
{
	struct auth_login	 l = login_sample(), d;
	struct msg_writer	 w;
	char			 big[AUTH_LOGIN_PASSWORD_MAX + 2];

	msg_writer_init(&w);
	auth_login_encode(&w, &l);
	CHECK("login encodes", !w.error);
	CHECK("login writer wipes", w.wipe == 1);
	CHECK("login round trip", auth_login_decode(&d, w.buf, w.len) == 0 &&
	    d.reqid == l.reqid && d.service == l.service &&
	    strcmp(d.user, l.user) == 0 &&
	    strcmp(d.password, l.password) == 0 &&
	    strcmp(d.client_addr, l.client_addr) == 0);
	auth_login_clear(&d);
	CHECK("login clear wipes", d.password[0] == '\0' && d.reqid == 0);
	CHECK("login bounded", bounded(&w, login_decodes));
	msg_writer_free(&w);

	/* the longest user and password pass, one more octet does not */
	memset(big, 'u', AUTH_LOGIN_USER_MAX);
	big[AUTH_LOGIN_USER_MAX] = '\0';
	CHECK("login longest user", raw_login(0, big, AUTH_LOGIN_USER_MAX,
	    "x", "192.0.2.1") == 0);
	CHECK("login empty user", raw_login(0, "", 0, "x", "192.0.2.1") == 0);
	big[AUTH_LOGIN_USER_MAX] = 'u';
	CHECK("login user too long", raw_login(0, big,
	    AUTH_LOGIN_USER_MAX + 1, "x", "192.0.2.1") == -1);
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK("login password too long", raw_login(0, "u", 1, big,
	    "192.0.2.1") == -1);
	big[AUTH_LOGIN_PASSWORD_MAX] = '\0';
	CHECK("login longest password", raw_login(0, "u", 1, big,
	    "192.0.2.1") == 0);
	CHECK("login user with NUL", raw_login(0, "a\0b", 3, "x",
	    "192.0.2.1") == -1);
	CHECK("login unknown service", raw_login(AUTH_SERVICES, "u", 1, "x",
	    "192.0.2.1") == -1);
	CHECK("login huge service", raw_login(UINT32_MAX, "u", 1, "x",
	    "192.0.2.1") == -1);
	CHECK("login address too long", raw_login(0, "u", 1, "x",
	    "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000"
	    "0") == -1);
	CHECK("login empty", login_decodes(NULL, 0) == -1);

	/* the encoder refuses what the decoder would */
	l = login_sample();
	l.service = AUTH_SERVICES;
	msg_writer_init(&w);
	auth_login_encode(&w, &l);
	CHECK("login encode unknown service", w.error);
	msg_writer_free(&w);
	l = login_sample();
	memset(l.password, 'p', sizeof(l.password));
	msg_writer_init(&w);
	auth_login_encode(&w, &l);
	CHECK("login encode unterminated password", w.error);
	msg_writer_free(&w);
	l = login_sample();
	memset(l.client_addr, '1', sizeof(l.client_addr));
	msg_writer_init(&w);
	auth_login_encode(&w, &l);
	CHECK("login encode unterminated address", w.error);
	msg_writer_free(&w);
}

static void
test_result(void)
{
	struct auth_login_result r = result_sample(), d;
	struct msg_writer	 w;

	msg_writer_init(&w);
	auth_login_result_encode(&w, &r);
	CHECK("result round trip", !w.error &&
	    auth_login_result_decode(&d, w.buf, w.len) == 0 &&
	    d.reqid == r.reqid && d.status == r.status &&
	    strcmp(d.user, r.user) == 0 &&
	    strcmp(d.mailbox, r.mailbox) == 0 && d.quota == r.quota);
	CHECK("result bounded", bounded(&w, result_decodes));
	msg_writer_free(&w);

	CHECK("result refusals carry no user", raw_result(AUTH_LOGIN_BAD, "",
	    "") == 0 && raw_result(AUTH_LOGIN_LIMITED, "", "") == 0 &&
	    raw_result(AUTH_LOGIN_TEMPFAIL, "", "") == 0 &&
	    raw_result(AUTH_LOGIN_DISABLED, "", "") == 0);
	CHECK("result unknown status", raw_result(AUTH_LOGIN_TEMPFAIL + 1,
	    "", "") == -1);
	CHECK("result OK without user", raw_result(AUTH_LOGIN_OK, "",
	    "example.org/alice") == -1);
	CHECK("result OK without mailbox", raw_result(AUTH_LOGIN_OK,
	    "alice@example.org", "") == -1);
	CHECK("result OK mailbox up", raw_result(AUTH_LOGIN_OK,
	    "alice@example.org", "example.org/..") == -1);
	CHECK("result OK mailbox absolute", raw_result(AUTH_LOGIN_OK,
	    "alice@example.org", "/etc/passwd") == -1);
	CHECK("result OK mailbox deep", raw_result(AUTH_LOGIN_OK,
	    "alice@example.org", "example.org/a/b") == -1);
	CHECK("result empty", result_decodes(NULL, 0) == -1);

	r.status = 99;
	msg_writer_init(&w);
	auth_login_result_encode(&w, &r);
	CHECK("result encode unknown status", w.error);
	msg_writer_free(&w);
}

/* a request made from the client's text, too long text included */
static void
test_make(void)
{
	struct auth_login d;
	struct msg_writer w;
	char big[AUTH_LOGIN_PASSWORD_MAX + 2];

	msg_writer_init(&w);
	auth_login_make(&w, 7, AUTH_SERVICE_SMTP, "alice@example.org", "pw",
	    "192.0.2.1");
	CHECK("make round trip", !w.error && w.wipe == 1 &&
		auth_login_decode(&d, w.buf, w.len) == 0 && d.reqid == 7 &&
		d.service == AUTH_SERVICE_SMTP &&
		strcmp(d.user, "alice@example.org") == 0 &&
		strcmp(d.password, "pw") == 0 &&
		strcmp(d.client_addr, "192.0.2.1") == 0);
	auth_login_clear(&d);
	msg_writer_free(&w);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	msg_writer_init(&w);
	auth_login_make(&w, 8, AUTH_SERVICE_IMAP, "alice@example.org", big,
	    "192.0.2.1");
	CHECK("make, a password too long: no user, no password",
	    !w.error && auth_login_decode(&d, w.buf, w.len) == 0 &&
		d.user[0] == '\0' && d.password[0] == '\0');
	auth_login_clear(&d);
	msg_writer_free(&w);
	msg_writer_init(&w);
	auth_login_make(&w, 9, AUTH_SERVICE_POP3, big, "pw", "192.0.2.1");
	CHECK("make, a user too long: no user",
	    !w.error && auth_login_decode(&d, w.buf, w.len) == 0 &&
		d.user[0] == '\0');
	auth_login_clear(&d);
	msg_writer_free(&w);
}

int
main(void)
{
	test_login();
	test_make();
	test_result();
	TEST_EXIT();
}
