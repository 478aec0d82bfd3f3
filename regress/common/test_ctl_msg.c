/*
 * ctl_msg.c: the control protocol's payloads round trip, and every
 * decoder refuses what a hostile client or a damaged peer could send:
 * truncated input, bytes left over, counts past the end, embedded NULs,
 * strings past their bounds, types that are no request.
 */

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "test.h"

/* every proper prefix of w refused by decode */
static int
prefixes_refused(const struct msg_writer *w,
    int (*decode)(const void *, size_t))
{
	size_t	 n;

	for (n = 0; n < w->len; n++)
		if (decode(w->buf, n) != -1)
			return 0;
	return 1;
}

/* the same bytes and one more */
static int
trailing_refused(const struct msg_writer *w,
    int (*decode)(const void *, size_t))
{
	struct msg_writer	 more;
	int			 rv;

	msg_writer_init(&more);
	msg_put_data(&more, w->buf, w->len);
	msg_put_u8(&more, 0);
	rv = decode(more.buf, more.len) == -1;
	msg_writer_free(&more);
	return rv;
}

/* ---------------------------------------------------------------- hello */

static int
hello_decode(const void *data, size_t len)
{
	struct ctl_hello	 h;

	return ctl_hello_decode(&h, data, len);
}

static void
test_hello(void)
{
	struct msg_writer	 w;
	struct ctl_hello	 h;
	char			 long_version[300];

	msg_writer_init(&w);
	ctl_hello_encode(&w);
	CHECK("hello round trip", ctl_hello_decode(&h, w.buf, w.len) == 0 &&
	    h.protocol == CTL_PROTOCOL_VERSION &&
	    strcmp(h.version, BOXD_VERSION) == 0);
	CHECK("hello truncated", prefixes_refused(&w, hello_decode));
	/* a later protocol may say more: the version is still read */
	msg_put_data(&w, "more", 4);
	CHECK("hello trailing bytes read past", ctl_hello_decode(&h, w.buf,
	    w.len) == 0 && strcmp(h.version, BOXD_VERSION) == 0);
	msg_writer_free(&w);

	msg_writer_init(&w);
	msg_put_u32(&w, 7);
	msg_put_str(&w, "1.0\x1b[2J\x7f\xc3\xa9");
	CHECK("hello version tamed", ctl_hello_decode(&h, w.buf, w.len) ==
	    0 && h.protocol == 7 && strcmp(h.version, "1.0?[2J???") == 0);
	msg_writer_free(&w);

	msg_writer_init(&w);
	msg_put_u32(&w, 7);
	msg_put_str(&w, "0123456789012345678901234567890123456789");
	CHECK("hello long version cut", ctl_hello_decode(&h, w.buf, w.len) ==
	    0 && strlen(h.version) == CTL_VERSION_MAX - 1);
	msg_writer_free(&w);

	memset(long_version, 'v', sizeof(long_version) - 1);
	long_version[sizeof(long_version) - 1] = '\0';
	msg_writer_init(&w);
	msg_put_u32(&w, 7);
	msg_put_str(&w, long_version);
	CHECK("hello huge version refused", ctl_hello_decode(&h, w.buf,
	    w.len) == -1 && h.protocol == 0);
	msg_writer_free(&w);

	msg_writer_init(&w);
	msg_put_u32(&w, 7);
	msg_put_u32(&w, 3);
	msg_put_data(&w, "a\0b", 3);
	CHECK("hello NUL in version", ctl_hello_decode(&h, w.buf, w.len) ==
	    -1);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u32(&w, 7);
	msg_put_u32(&w, UINT32_MAX);
	CHECK("hello version past the end", ctl_hello_decode(&h, w.buf,
	    w.len) == -1);
	msg_writer_free(&w);
}

/* ---------------------------------------------------------------- requests */

static uint32_t	 decode_type;

static int
request_decode(const void *data, size_t len)
{
	struct ctl_request	 req;
	int			 rv;

	rv = ctl_request_decode(&req, decode_type, data, len);
	if (rv == 0)
		ctl_request_clear(&req);
	return rv;
}

/* encode, decode, encode again: the same bytes, the same fields */
static int
request_round_trip(const struct ctl_request *req)
{
	struct msg_writer	 w, again;
	struct ctl_request	 got;
	uint32_t		 i;
	int			 ok;

	msg_writer_init(&w);
	ctl_request_encode(&w, req);
	if (w.error || ctl_request_decode(&got, req->type, w.buf,
	    w.len) == -1) {
		msg_writer_free(&w);
		return 0;
	}
	ok = got.type == req->type && got.quota == req->quota &&
	    got.ntargets == req->ntargets;
	if (req->name != NULL)
		ok = ok && got.name != NULL && strcmp(got.name, req->name) == 0;
	if (req->password != NULL)
		ok = ok && got.password != NULL &&
		    strcmp(got.password, req->password) == 0;
	if (req->selector != NULL)
		ok = ok && got.selector != NULL &&
		    strcmp(got.selector, req->selector) == 0;
	for (i = 0; ok && i < req->ntargets; i++)
		ok = strcmp(got.targets[i], req->targets[i]) == 0;
	msg_writer_init(&again);
	ctl_request_encode(&again, &got);
	ok = ok && again.len == w.len &&
	    (w.len == 0 || memcmp(again.buf, w.buf, w.len) == 0);
	/* and every shorter form, and a longer one, refused */
	decode_type = req->type;
	ok = ok && prefixes_refused(&w, request_decode) &&
	    trailing_refused(&w, request_decode);
	ctl_request_clear(&got);
	ok = ok && got.name == NULL && got.password == NULL &&
	    got.targets == NULL && got.ntargets == 0;
	msg_writer_free(&w);
	msg_writer_free(&again);
	return ok;
}

static void
test_requests(void)
{
	static const uint32_t	 none[] = {IMSG_CTL_STATUS,
	    IMSG_CTL_DOMAIN_LIST, IMSG_CTL_RELOAD};
	static const uint32_t	 named[] = {IMSG_CTL_DOMAIN_ADD,
	    IMSG_CTL_DOMAIN_DEL, IMSG_CTL_USER_DEL, IMSG_CTL_USER_LIST,
	    IMSG_CTL_USER_DISABLE, IMSG_CTL_USER_ENABLE, IMSG_CTL_ALIAS_DEL,
	    IMSG_CTL_ALIAS_LIST};
	struct ctl_request	 req;
	char			*targets[] = {"a@b.test", "", "c@d.test"};
	size_t			 i;
	int			 ok;

	for (i = 0, ok = 1; i < sizeof(none) / sizeof(none[0]); i++) {
		memset(&req, 0, sizeof(req));
		req.type = none[i];
		ok = ok && request_round_trip(&req) &&
		    ctl_request_type(none[i]);
	}
	CHECK("requests without fields", ok);
	for (i = 0, ok = 1; i < sizeof(named) / sizeof(named[0]); i++) {
		memset(&req, 0, sizeof(req));
		req.type = named[i];
		req.name = "example.test";
		ok = ok && request_round_trip(&req);
		req.name = "";
		ok = ok && request_round_trip(&req);
	}
	CHECK("requests with a name", ok);

	memset(&req, 0, sizeof(req));
	req.type = IMSG_CTL_USER_ADD;
	req.name = "u@example.test";
	req.password = "correct horse battery";
	CHECK("request user add", request_round_trip(&req));
	req.type = IMSG_CTL_USER_PASSWD;
	req.password = "";
	CHECK("request user passwd", request_round_trip(&req));

	memset(&req, 0, sizeof(req));
	req.type = IMSG_CTL_USER_QUOTA;
	req.name = "u@example.test";
	req.quota = UINT64_MAX;
	CHECK("request user quota", request_round_trip(&req));

	memset(&req, 0, sizeof(req));
	req.type = IMSG_CTL_ALIAS_ADD;
	req.name = "@example.test";
	req.targets = targets;
	req.ntargets = 3;
	CHECK("request alias add", request_round_trip(&req));
	req.ntargets = 0;
	CHECK("request alias add, no target", request_round_trip(&req));
	memset(&req, 0, sizeof(req));
	req.type = IMSG_CTL_DNS;
	req.name = "example.test";
	CHECK("request dns", request_round_trip(&req));
	req.type = IMSG_CTL_DKIM_ROTATE;
	CHECK("request dkim rotate", request_round_trip(&req));
	req.type = IMSG_CTL_DKIM_RETIRE;
	req.selector = "b20261208r";
	CHECK("request dkim retire", request_round_trip(&req));
}

static void
test_request_refusals(void)
{
	struct msg_writer	 w;
	struct ctl_request	 req;
	char			*big;
	uint32_t		 t;
	int			 ok = 1;

	/* nothing but the requests */
	for (t = 0; t < IMSG_INTERNAL_BASE + 64; t++) {
		if ((t >= IMSG_CTL_STATUS && t <= IMSG_CTL_RELOAD) ||
		    (t >= IMSG_CTL_DNS && t <= IMSG_CTL_DKIM_RETIRE) ||
		    (t >= IMSG_CTL_QUEUE_LIST && t <= IMSG_CTL_QUEUE_REMOVE))
			continue;
		if (ctl_request_type(t) ||
		    ctl_request_decode(&req, t, NULL, 0) != -1)
			ok = 0;
	}
	CHECK("request types: the requests alone", ok &&
	    !ctl_request_type(IMSG_CTL_HELLO) &&
	    !ctl_request_type(IMSG_CTL_FAIL));
	memset(&req, 0, sizeof(req));
	req.type = IMSG_CTL_LINE;
	msg_writer_init(&w);
	ctl_request_encode(&w, &req);
	CHECK("request encode of no request", w.error);
	msg_writer_free(&w);

	/* a count of targets far past the end: refused before allocating */
	msg_writer_init(&w);
	msg_put_str(&w, "a@b.test");
	msg_put_u32(&w, 0x7fffffff);
	msg_put_str(&w, "c@d.test");
	CHECK("request huge target count", ctl_request_decode(&req,
	    IMSG_CTL_ALIAS_ADD, w.buf, w.len) == -1 && req.targets == NULL);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_str(&w, "a@b.test");
	msg_put_u32(&w, 2);
	msg_put_str(&w, "c@d.test");
	msg_put_u32(&w, 0);
	msg_put_u32(&w, 0);
	CHECK("request target count one past", ctl_request_decode(&req,
	    IMSG_CTL_ALIAS_ADD, w.buf, w.len) == -1 && req.targets == NULL);
	msg_writer_free(&w);

	msg_writer_init(&w);
	msg_put_u32(&w, 8);
	msg_put_data(&w, "a.t\0est", 8);
	CHECK("request NUL in a name", ctl_request_decode(&req,
	    IMSG_CTL_DOMAIN_ADD, w.buf, w.len) == -1 && req.name == NULL);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_str(&w, "u@x.test");
	msg_put_u32(&w, 4);
	msg_put_data(&w, "pw\0d", 4);
	CHECK("request NUL in a password", ctl_request_decode(&req,
	    IMSG_CTL_USER_ADD, w.buf, w.len) == -1 && req.name == NULL);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u32(&w, UINT32_MAX);
	CHECK("request string past the end", ctl_request_decode(&req,
	    IMSG_CTL_USER_DEL, w.buf, w.len) == -1);
	msg_writer_free(&w);

	/* longer than any client may send */
	big = xcalloc(1, IMSG_CTL_MAX_SIZE + 2);
	memset(big, 'a', IMSG_CTL_MAX_SIZE + 1);
	msg_writer_init(&w);
	msg_put_str(&w, big);
	CHECK("request string too long", ctl_request_decode(&req,
	    IMSG_CTL_DOMAIN_ADD, w.buf, w.len) == -1);
	msg_writer_free(&w);
	free(big);
	CHECK("request empty for a name", ctl_request_decode(&req,
	    IMSG_CTL_DOMAIN_ADD, "", 0) == -1);
	CHECK("request bytes for none", ctl_request_decode(&req,
	    IMSG_CTL_STATUS, "x", 1) == -1);
}

/* ---------------------------------------------------------------- replies */

static int
row_decode(const void *data, size_t len)
{
	struct ctl_row	 row;
	int		 rv;

	rv = ctl_row_decode(&row, data, len);
	if (rv == 0)
		ctl_row_clear(&row);
	return rv;
}

static int
fail_decode(const void *data, size_t len)
{
	char	*why;
	int	 rv;

	if ((rv = ctl_fail_decode(&why, data, len)) == 0)
		free(why);
	else if (why != NULL)
		return 0;
	return rv;
}

static int
stats_decode(const void *data, size_t len)
{
	uint64_t	 v[CTL_COUNTERS];

	return ctl_stats_decode(v, data, len);
}

static int
proc_decode(const void *data, size_t len)
{
	struct ctl_proc	 p;

	return ctl_proc_decode(&p, data, len);
}

static void
test_rows(void)
{
	struct msg_writer	 w;
	struct ctl_row		 row;
	int			 ok;

	msg_writer_init(&w);
	ctl_row_encode(&w, "address", "u@x.test", "quota", "0", "disabled",
	    "no", NULL);
	ok = ctl_row_decode(&row, w.buf, w.len) == 0 && row.n == 3;
	CHECK("row round trip", ok &&
	    strcmp(ctl_row_get(&row, "address"), "u@x.test") == 0 &&
	    strcmp(ctl_row_get(&row, "disabled"), "no") == 0 &&
	    ctl_row_get(&row, "nothing") == NULL);
	if (ok)
		ctl_row_clear(&row);
	CHECK("row cleared", row.n == 0 && row.key == NULL);
	CHECK("row truncated", prefixes_refused(&w, row_decode));
	CHECK("row trailing byte", trailing_refused(&w, row_decode));
	msg_writer_free(&w);

	msg_writer_init(&w);
	ctl_row_encode(&w, NULL);
	CHECK("row empty", w.len == 4 && ctl_row_decode(&row, w.buf,
	    w.len) == 0 && row.n == 0);
	ctl_row_clear(&row);
	msg_writer_free(&w);

	msg_writer_init(&w);
	msg_put_u32(&w, UINT32_MAX);
	msg_put_str(&w, "k");
	msg_put_str(&w, "v");
	CHECK("row huge count", ctl_row_decode(&row, w.buf, w.len) == -1 &&
	    row.key == NULL && row.n == 0);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u32(&w, 2);
	msg_put_str(&w, "k");
	msg_put_str(&w, "v");
	msg_put_u32(&w, 0);
	CHECK("row count one past", ctl_row_decode(&row, w.buf, w.len) ==
	    -1 && row.key == NULL);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u32(&w, 1);
	msg_put_u32(&w, 3);
	msg_put_data(&w, "k\0y", 3);
	msg_put_str(&w, "v");
	CHECK("row NUL in a key", ctl_row_decode(&row, w.buf, w.len) == -1);
	msg_writer_free(&w);
}

static void
test_ends(void)
{
	struct msg_writer	 w;
	char			*why;

	msg_writer_init(&w);
	ctl_fail_encode(&w, "no such domain");
	CHECK("fail round trip", ctl_fail_decode(&why, w.buf, w.len) == 0 &&
	    strcmp(why, "no such domain") == 0);
	free(why);
	CHECK("fail truncated", prefixes_refused(&w, fail_decode));
	CHECK("fail trailing byte", trailing_refused(&w, fail_decode) &&
	    ctl_fail_decode(&why, "\0\0\0\0x", 5) == -1 && why == NULL);
	msg_writer_free(&w);
	CHECK("fail NUL in message", ctl_fail_decode(&why, "\0\0\0\2a\0", 6) ==
	    -1);
	CHECK("ok empty", ctl_empty_decode(NULL, 0) == 0 &&
	    ctl_empty_decode("x", 1) == -1);
}

static void
test_status(void)
{
	struct msg_writer	 w;
	struct ctl_proc		 p, q;
	uint64_t		 v[CTL_COUNTERS] = {1, 2, UINT64_MAX, 0};
	uint64_t		 got[CTL_COUNTERS];

	msg_writer_init(&w);
	ctl_stats_encode(&w, v);
	CHECK("stats round trip", w.len == 8 * CTL_COUNTERS &&
	    ctl_stats_decode(got, w.buf, w.len) == 0 &&
	    memcmp(got, v, sizeof(v)) == 0);
	CHECK("stats truncated", prefixes_refused(&w, stats_decode));
	CHECK("stats trailing byte", trailing_refused(&w, stats_decode));
	msg_writer_free(&w);
	CHECK("counter names", strcmp(ctl_counter_name(CTL_SESSIONS),
	    "sessions") == 0 && strcmp(ctl_counter_name(CTL_QUEUED),
	    "queued") == 0 && strcmp(ctl_counter_name(CTL_COUNTERS), "?") == 0);

	memset(&p, 0, sizeof(p));
	strlcpy(p.role, "control", sizeof(p.role));
	p.pid = 4242;
	strlcpy(p.user, "_boxd", sizeof(p.user));
	p.started = 1700000000;
	msg_writer_init(&w);
	ctl_proc_encode(&w, &p);
	CHECK("proc round trip", ctl_proc_decode(&q, w.buf, w.len) == 0 &&
	    memcmp(&p, &q, sizeof(p)) == 0);
	CHECK("proc truncated", prefixes_refused(&w, proc_decode));
	CHECK("proc trailing byte", trailing_refused(&w, proc_decode));
	msg_writer_free(&w);
	memset(p.user, 'u', sizeof(p.user));
	msg_writer_init(&w);
	msg_put_str(&w, "control");
	msg_put_u32(&w, 1);
	msg_put_u32(&w, sizeof(p.user));
	msg_put_data(&w, p.user, sizeof(p.user));
	msg_put_u64(&w, 0);
	CHECK("proc user too long", ctl_proc_decode(&q, w.buf, w.len) == -1);
	msg_writer_free(&w);
}

/* ---------------------------------------------------------------- usage */

static int
usage_req_decode(const void *data, size_t len)
{
	static struct ctl_usage_req	 req;

	return ctl_usage_req_decode(&req, data, len);
}

static int
usage_reply_decode(const void *data, size_t len)
{
	static struct ctl_usage_reply	 rep;

	return ctl_usage_reply_decode(&rep, data, len);
}

static void
test_usage_requests(void)
{
	static struct ctl_usage_req	 req, got;
	static const char *const	 bad[] = {"", "bob", "../etc",
	    "x/../../etc", "example.org/../x", "/etc/passwd",
	    "example.org/a/b", "example.org/.", "example.org/..", NULL};
	struct msg_writer		 w;
	char				 big[ENVELOPE_MAILBOX_MAX + 8];
	char				 name[64];
	uint32_t			 i;

	memset(&req, 0, sizeof(req));
	req.reqid = 77;
	req.n = 2;
	strlcpy(req.mailbox[0], "example.org/bob", sizeof(req.mailbox[0]));
	strlcpy(req.mailbox[1], "example.org/carol", sizeof(req.mailbox[1]));
	msg_writer_init(&w);
	ctl_usage_req_encode(&w, &req);
	CHECK("usage request round trip", !w.error &&
	    ctl_usage_req_decode(&got, w.buf, w.len) == 0 && got.reqid == 77 &&
	    got.n == 2 && strcmp(got.mailbox[1], "example.org/carol") == 0);
	CHECK("usage request truncated", prefixes_refused(&w,
	    usage_req_decode));
	CHECK("usage request trailing byte", trailing_refused(&w,
	    usage_req_decode));
	msg_writer_free(&w);

	/* a full batch fits; one more is refused both ways */
	req.n = CTL_USAGE_BATCH;
	for (i = 0; i < CTL_USAGE_BATCH; i++)
		snprintf(req.mailbox[i], sizeof(req.mailbox[i]),
		    "example.org/u%u", i);
	msg_writer_init(&w);
	ctl_usage_req_encode(&w, &req);
	CHECK("usage request full batch", !w.error && w.len + IMSG_HDR_SIZE <=
	    IMSG_MAX_SIZE && ctl_usage_req_decode(&got, w.buf, w.len) == 0 &&
	    got.n == CTL_USAGE_BATCH && strcmp(got.mailbox[CTL_USAGE_BATCH -
	    1], req.mailbox[CTL_USAGE_BATCH - 1]) == 0);
	msg_writer_free(&w);
	req.n = CTL_USAGE_BATCH + 1;
	msg_writer_init(&w);
	ctl_usage_req_encode(&w, &req);
	CHECK("usage request over a batch not encoded", w.error);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	msg_put_u32(&w, CTL_USAGE_BATCH + 1);
	for (i = 0; i <= CTL_USAGE_BATCH; i++)
		msg_put_str(&w, "example.org/bob");
	CHECK("usage request over a batch refused",
	    ctl_usage_req_decode(&got, w.buf, w.len) == -1 && got.n == 0);
	msg_writer_free(&w);

	/* what imap opens under its jail: no path of anyone's choosing */
	for (i = 0; bad[i] != NULL; i++) {
		msg_writer_init(&w);
		msg_put_u64(&w, 1);
		msg_put_u32(&w, 1);
		msg_put_str(&w, bad[i]);
		snprintf(name, sizeof(name), "usage request refuses \"%s\"",
		    bad[i]);
		CHECK(name, ctl_usage_req_decode(&got, w.buf, w.len) == -1);
		msg_writer_free(&w);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "example.org/", 12);
	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	msg_put_u32(&w, 1);
	msg_put_str(&w, big);
	CHECK("usage request mailbox too long",
	    ctl_usage_req_decode(&got, w.buf, w.len) == -1);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	msg_put_u32(&w, 1);
	msg_put_u32(&w, 5);
	msg_put_data(&w, "a/b\0c", 5);
	CHECK("usage request NUL in a mailbox",
	    ctl_usage_req_decode(&got, w.buf, w.len) == -1);
	msg_writer_free(&w);
}

static void
test_usage_replies(void)
{
	static struct ctl_usage_reply	 rep, got;
	struct msg_writer		 w;

	memset(&rep, 0, sizeof(rep));
	rep.reqid = UINT64_MAX;
	rep.n = 3;
	rep.usage[0].bytes = 4096;
	rep.usage[0].messages = 3;
	rep.usage[1].status = CTL_USAGE_UNKNOWN;
	rep.usage[2].bytes = UINT64_MAX;
	rep.usage[2].messages = UINT64_MAX;
	msg_writer_init(&w);
	ctl_usage_reply_encode(&w, &rep);
	CHECK("usage reply round trip", !w.error &&
	    ctl_usage_reply_decode(&got, w.buf, w.len) == 0 &&
	    got.reqid == UINT64_MAX && got.n == 3 &&
	    got.usage[0].bytes == 4096 && got.usage[0].messages == 3 &&
	    got.usage[1].status == CTL_USAGE_UNKNOWN &&
	    got.usage[2].messages == UINT64_MAX);
	CHECK("usage reply truncated", prefixes_refused(&w,
	    usage_reply_decode));
	CHECK("usage reply trailing byte", trailing_refused(&w,
	    usage_reply_decode));
	msg_writer_free(&w);

	rep.n = CTL_USAGE_BATCH + 1;
	msg_writer_init(&w);
	ctl_usage_reply_encode(&w, &rep);
	CHECK("usage reply over a batch not encoded", w.error);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	msg_put_u32(&w, UINT32_MAX);
	msg_put_u32(&w, CTL_USAGE_OK);
	msg_put_u64(&w, 1);
	msg_put_u64(&w, 1);
	CHECK("usage reply huge count", ctl_usage_reply_decode(&got, w.buf,
	    w.len) == -1 && got.n == 0);
	msg_writer_free(&w);
	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	msg_put_u32(&w, 1);
	msg_put_u32(&w, 7);
	msg_put_u64(&w, 1);
	msg_put_u64(&w, 1);
	CHECK("usage reply unknown status", ctl_usage_reply_decode(&got,
	    w.buf, w.len) == -1);
	msg_writer_free(&w);
}

static void
test_row_more(void)
{
	struct msg_writer	 w, more;
	struct ctl_row		 row, got;

	msg_writer_init(&w);
	ctl_row_encode(&w, "address", "u@x.test", "quota", "0", NULL);
	CHECK("row to add to", ctl_row_decode(&row, w.buf, w.len) == 0);
	msg_writer_init(&more);
	ctl_row_encode_more(&more, &row, "used", "12", "messages", "3", NULL);
	CHECK("row with more", ctl_row_decode(&got, more.buf, more.len) ==
	    0 && got.n == 4 && strcmp(got.key[0], "address") == 0 &&
	    strcmp(ctl_row_get(&got, "quota"), "0") == 0 &&
	    strcmp(got.key[2], "used") == 0 &&
	    strcmp(ctl_row_get(&got, "messages"), "3") == 0);
	ctl_row_clear(&got);
	msg_writer_free(&more);
	msg_writer_init(&more);
	ctl_row_encode_more(&more, &row, NULL);
	CHECK("row with nothing more", more.len == w.len &&
	    memcmp(more.buf, w.buf, w.len) == 0);
	msg_writer_free(&more);
	ctl_row_clear(&row);
	msg_writer_free(&w);
}

int
main(void)
{
	test_hello();
	test_requests();
	test_request_refusals();
	test_rows();
	test_ends();
	test_status();
	test_usage_requests();
	test_usage_replies();
	test_row_more();
	TEST_EXIT();
}
