/*
 * smtp_dkim.c: signer's table arrives whole and replaces the one before,
 * lookups find a domain whatever its case; a message is signed through
 * a socketpair answered by the signer's own handler, with both keys,
 * and each signature verifies; a failure, a cancelled session and
 * anything malformed from signer (another boxd process, so fatal: a
 * child process tries each and must die).
 */

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"
#include "signerd.h"
#include "smtpd.h"
#include "test.h"

static void
deliver(uint32_t type, struct msg_writer *w)
{
	struct imsg imsg;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = type;
	imsg.fd = -1;
	if (w != NULL) {
		imsg.data = w->buf;
		imsg.datalen = w->len;
	}
	smtp_dispatch_signer(NULL, &imsg);
	if (w != NULL)
		msg_writer_free(w);
}

static void
domain(const char *d, const char *rsa, const char *ed)
{
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_str(&w, d);
	msg_put_str(&w, rsa);
	msg_put_str(&w, ed);
	deliver(IMSG_SIGNER_DOMAIN, &w);
}

/* what the done callback got */
static int got_calls;
static enum smtp_dkim_status got_status;
static char got_fields[2 * DKIM_SIGNED_FIELD_MAX];

static void
done_cb(void *arg, enum smtp_dkim_status status, const char *fields,
    size_t len)
{
	got_calls++;
	got_status = status;
	if (len >= sizeof(got_fields))
		len = 0;
	memcpy(got_fields, fields != NULL ? fields : "", len);
	got_fields[len] = '\0';
}

static void
test_table(void)
{
	const struct smtp_dkim_domain *d;

	CHECK("empty", smtp_dkim_lookup("example.org") == NULL);
	deliver(IMSG_SIGNER_TABLE, NULL);
	domain("example.org", "b20261208r", "b20261208e");
	domain("only-ed.test", "", "b20251101e");
	domain("a.test", "b20240101r02", "b20240101e02");
	/* nothing changes until the end of the table */
	CHECK("not before the end", smtp_dkim_lookup("example.org") == NULL);
	deliver(IMSG_SIGNER_TABLE_END, NULL);
	d = smtp_dkim_lookup("Example.ORG");
	CHECK("lookup", d != NULL && strcmp(d->rsa, "b20261208r") == 0 &&
		strcmp(d->ed25519, "b20261208e") == 0);
	d = smtp_dkim_lookup("only-ed.test");
	CHECK("lookup one algorithm", d != NULL && d->rsa[0] == '\0' &&
		strcmp(d->ed25519, "b20251101e") == 0);
	CHECK("lookup sorted", smtp_dkim_lookup("a.test") != NULL);
	CHECK("lookup none", smtp_dkim_lookup("example.net") == NULL &&
		smtp_dkim_lookup("") == NULL);
	/* a new table replaces the old one whole */
	deliver(IMSG_SIGNER_TABLE, NULL);
	domain("example.org", "b20261209r", "b20261209e");
	deliver(IMSG_SIGNER_TABLE_END, NULL);
	d = smtp_dkim_lookup("example.org");
	CHECK("replaced", d != NULL && strcmp(d->rsa, "b20261209r") == 0 &&
		smtp_dkim_lookup("a.test") == NULL);
	deliver(IMSG_SIGNER_TABLE, NULL);
	deliver(IMSG_SIGNER_TABLE_END, NULL);
	CHECK("emptied", smtp_dkim_lookup("example.org") == NULL);
}

/* smtp's channel to signer, and signer's end, answered by its handler */
static struct imsgev *to_signer;
static struct imsgbuf signer_end;
static struct signer_keys keys;

static void
channel(void)
{
	struct event_base *base;
	int fds[2];

	if ((base = event_base_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1)
		fatal("channel");
	child = xcalloc(1, sizeof(*child));
	child->role = PROC_SMTP;
	child->base = base;
	to_signer = xcalloc(1, sizeof(*to_signer));
	to_signer->name = "signer";
	to_signer->peer = PROC_SIGNER;
	imsgev_init(to_signer, base, fds[0], IMSG_MAX_SIZE, NULL, NULL);
	child->peer[PROC_SIGNER] = to_signer;
	imsgbuf_init(&signer_end, fds[1], IMSG_MAX_SIZE);
}

static int
get(struct imsgbuf *ibuf, struct imsg *imsg)
{
	int rv;

	while ((rv = imsgbuf_get(ibuf, imsg)) == 0)
		if (imsgbuf_read(ibuf) != 1)
			return -1;
	return rv == 1 ? 0 : -1;
}

/*
 * n requests through the channel, each answered by signer's handler (or
 * by status if not SIGNER_OK), each answer delivered to smtp
 */
static int
serve(int n, uint32_t status)
{
	struct msg_writer reply;
	struct msg_reader r;
	struct imsg imsg;
	uint64_t reqid;
	int i;

	if (imsgbuf_flush(&to_signer->ibuf) != 1)
		return -1;
	for (i = 0; i < n; i++) {
		if (get(&signer_end, &imsg) == -1 ||
		    imsg.hdr.type != IMSG_SIGNER_SIGN)
			return -1;
		msg_writer_init(&reply);
		if (status == SIGNER_OK) {
			if (signer_sign_request(&keys, imsg.data, imsg.datalen,
				&reply) == -1)
				return -1;
		} else {
			msg_reader_init(&r, imsg.data, imsg.datalen);
			if (msg_get_u64(&r, &reqid) == -1)
				return -1;
			msg_put_u64(&reply, reqid);
			msg_put_u32(&reply, status);
			msg_put_u32(&reply, 0);
		}
		imsg_free(&imsg);
		if (imsgbuf_compose(&signer_end, IMSG_SIGNER_SIGNATURE, 0, -1,
			reply.buf, reply.len) == -1 ||
		    imsgbuf_flush(&signer_end) != 1)
			return -1;
		msg_writer_free(&reply);
		if (get(&to_signer->ibuf, &imsg) == -1)
			return -1;
		smtp_dispatch_signer(to_signer, &imsg);
		imsg_free(&imsg);
	}
	return 0;
}

static const char message[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject:  a  test \r\n"
    "Date: Tue, 08 Dec 2026 00:00:00 +0000\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hello,  world \r\n"
    "\r\n"
    "\r\n";

/* every DKIM-Signature of the signed message verifies with its key */
static int
verify_all(const char *signed_msg, size_t len)
{
	struct dkim_headers h;
	struct dkim_signature sig;
	struct dkim_body body;
	const struct signer_key *k;
	struct dkim_key *pub;
	unsigned char bh[DKIM_DIGEST_LEN], digest[DKIM_DIGEST_LEN];
	char err[128];
	size_t off, i;
	uint64_t blen;
	int n = 0, ok = 1;

	if (dkim_headers_parse(&h, signed_msg, len, &off, err, sizeof(err)) ==
	    -1)
		return -1;
	for (i = 0; i < h.n && ok; i++) {
		if (h.v[i].namelen != 14 ||
		    strncasecmp(h.v[i].field, "DKIM-Signature", 14) != 0)
			continue;
		n++;
		if (dkim_signature_parse(&sig, h.v[i].field, h.v[i].len, err,
			sizeof(err)) == -1 ||
		    strcmp(sig.domain, "example.org") != 0 ||
		    (k = signer_keys_find(&keys, sig.domain, sig.selector)) ==
			NULL ||
		    k->alg != sig.alg || dkim_body_init(&body, sig.bcanon,
					     sig.l) == -1 ||
		    dkim_body_update(&body, signed_msg + off, len - off) ==
			-1 ||
		    dkim_body_final(&body, bh, &blen) == -1 ||
		    memcmp(bh, sig.bh, sizeof(bh)) != 0 ||
		    dkim_verify_prepare(&h, i, &sig, digest, err,
			sizeof(err)) == -1 ||
		    (pub = dkim_key_from_dns(k->alg, k->p, err, sizeof(err))) ==
			NULL) {
			ok = 0;
			break;
		}
		ok = dkim_verify_digest(pub, digest, sig.b, sig.blen) == 1;
		dkim_key_free(pub);
	}
	dkim_headers_free(&h);
	return ok ? n : -1;
}

static void
test_signing(void)
{
	struct dkim_message m;
	struct smtp_dkim_job *job;
	static char signed_msg[3 * DKIM_SIGNED_FIELD_MAX];
	char err[256], *pem;
	size_t len;
	int rv;

	dkim_load();
	if (dkim_key_generate(DKIM_RSA_SHA256, &pem, &len) == -1 ||
	    signer_keys_add(&keys, "example.org", "b20261208r", pem, len, err,
		sizeof(err)) == -1 ||
	    signer_keys_add(&keys, "rsa-only.test", "b20261208r", pem, len,
		err, sizeof(err)) == -1) {
		CHECK("keys", 0);
		return;
	}
	freezero(pem, len);
	if (dkim_key_generate(DKIM_ED25519_SHA256, &pem, &len) == -1 ||
	    signer_keys_add(&keys, "example.org", "b20261208e", pem, len, err,
		sizeof(err)) == -1) {
		CHECK("keys", 0);
		return;
	}
	freezero(pem, len);
	signer_keys_done(&keys);
	channel();
	deliver(IMSG_SIGNER_TABLE, NULL);
	domain("example.org", "b20261208r", "b20261208e");
	domain("rsa-only.test", "b20261208r", "");
	deliver(IMSG_SIGNER_TABLE_END, NULL);

	if (dkim_message_init(&m) == -1 ||
	    dkim_message_update(&m, message, sizeof(message) - 1, err,
		sizeof(err)) == -1 ||
	    dkim_message_final(&m, err, sizeof(err)) == -1) {
		CHECK("message", 0);
		return;
	}
	CHECK("no key for the domain",
	    smtp_dkim_start("example.net", &m, 1796688000, done_cb, NULL, &job,
		err, sizeof(err)) == 0 &&
		job == NULL);
	rv = smtp_dkim_start("EXAMPLE.org", &m, 1796688000, done_cb, NULL,
	    &job, err, sizeof(err));
	CHECK("started", rv == 1 && job != NULL && got_calls == 0);
	CHECK("signed", serve(2, SIGNER_OK) == 0 && got_calls == 1 &&
		got_status == SMTP_DKIM_SIGNED);
	CHECK("rsa first, then ed25519",
	    strncmp(got_fields, "DKIM-Signature: v=1; a=rsa-sha256;", 34) ==
		    0 &&
		strstr(got_fields, "\r\nDKIM-Signature: v=1; "
				   "a=ed25519-sha256;") != NULL);
	len = strlcpy(signed_msg, got_fields, sizeof(signed_msg));
	len += strlcpy(signed_msg + len, message, sizeof(signed_msg) - len);
	CHECK("both verify", verify_all(signed_msg, len) == 2);
	/* a changed body no longer verifies */
	signed_msg[len - 7] = 'W';
	CHECK("changed body fails", verify_all(signed_msg, len) == -1);

	/* signer cannot: the session hears of a failure */
	got_calls = 0;
	rv = smtp_dkim_start("example.org", &m, 1796688000, done_cb, NULL,
	    &job, err, sizeof(err));
	CHECK("failure", rv == 1 && serve(2, SIGNER_NOKEY) == 0 &&
		got_calls == 1 && got_status == SMTP_DKIM_FAILED);
	/* one key only: one signature */
	got_calls = 0;
	rv = smtp_dkim_start("rsa-only.test", &m, 1796688000, done_cb, NULL,
	    &job, err, sizeof(err));
	CHECK("one key", rv == 1 && serve(1, SIGNER_OK) == 0 &&
		got_calls == 1 && got_status == SMTP_DKIM_SIGNED &&
		strstr(got_fields, "ed25519") == NULL);
	/* the session went: the answers find nobody */
	got_calls = 0;
	rv = smtp_dkim_start("example.org", &m, 1796688000, done_cb, NULL,
	    &job, err, sizeof(err));
	smtp_dkim_cancel(job);
	CHECK("cancelled", rv == 1 && serve(2, SIGNER_OK) == 0 &&
		got_calls == 0);
	dkim_message_free(&m);

	/* no From: nothing to sign, and nothing asked */
	if (dkim_message_init(&m) == 0 &&
	    dkim_message_update(&m, "Subject: x\r\n\r\nbody\r\n", 20, err,
		sizeof(err)) == 0 &&
	    dkim_message_final(&m, err, sizeof(err)) == 0) {
		CHECK("no From", smtp_dkim_start("example.org", &m, 1796688000,
				     done_cb, NULL, &job, err,
				     sizeof(err)) == -1 &&
			job == NULL && to_signer->ibuf.outlen == 0);
		dkim_message_free(&m);
	} else
		CHECK("no From message", 0);
}

/* what signer must never send: each kills the process */
enum hostile {
	DOMAIN_OUTSIDE,
	TABLE_TWICE,
	END_ALONE,
	SHORT_DOMAIN,
	LONG_SELECTOR,
	TRAILING,
	SIG_TOO_LONG,
	SIG_OK_EMPTY,
	SIG_SHORT,
	SIG_TWICE,
	UNKNOWN_TYPE,
	HOSTILE_COUNT
};

/* one request of a job of two answered twice */
static void
sig_twice(void)
{
	struct dkim_message m;
	struct smtp_dkim_job *job;
	struct msg_writer w;
	struct msg_reader r;
	struct imsg imsg;
	uint64_t reqid;
	char err[128];
	int i;

	if (dkim_message_init(&m) == -1 ||
	    dkim_message_update(&m, message, sizeof(message) - 1, err,
		sizeof(err)) == -1 ||
	    dkim_message_final(&m, err, sizeof(err)) == -1 ||
	    smtp_dkim_start("example.org", &m, 0, done_cb, NULL, &job, err,
		sizeof(err)) != 1 ||
	    imsgbuf_flush(&to_signer->ibuf) != 1 ||
	    get(&signer_end, &imsg) == -1)
		_exit(0);
	msg_reader_init(&r, imsg.data, imsg.datalen);
	if (msg_get_u64(&r, &reqid) == -1)
		_exit(0);
	imsg_free(&imsg);
	for (i = 0; i < 2; i++) {
		msg_writer_init(&w);
		msg_put_u64(&w, reqid);
		msg_put_u32(&w, SIGNER_NOKEY);
		msg_put_u32(&w, 0);
		deliver(IMSG_SIGNER_SIGNATURE, &w);
	}
}

static void
hostile(enum hostile h)
{
	struct msg_writer w;
	char big[200];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	msg_writer_init(&w);
	switch (h) {
	case DOMAIN_OUTSIDE:
		domain("example.org", "r", "e");
		break;
	case TABLE_TWICE:
		deliver(IMSG_SIGNER_TABLE, NULL);
		deliver(IMSG_SIGNER_TABLE, NULL);
		break;
	case END_ALONE:
		deliver(IMSG_SIGNER_TABLE_END, NULL);
		break;
	case SHORT_DOMAIN:
		deliver(IMSG_SIGNER_TABLE, NULL);
		msg_put_str(&w, "example.org");
		msg_put_str(&w, "r");
		deliver(IMSG_SIGNER_DOMAIN, &w);
		break;
	case LONG_SELECTOR:
		deliver(IMSG_SIGNER_TABLE, NULL);
		domain("example.org", big, "e");
		break;
	case TRAILING:
		deliver(IMSG_SIGNER_TABLE, NULL);
		msg_put_str(&w, "example.org");
		msg_put_str(&w, "r");
		msg_put_str(&w, "e");
		msg_put_u8(&w, 0);
		deliver(IMSG_SIGNER_DOMAIN, &w);
		break;
	case SIG_TOO_LONG:
		msg_put_u64(&w, 1);
		msg_put_u32(&w, SIGNER_OK);
		msg_put_u32(&w, DKIM_SIG_MAX + 1);
		deliver(IMSG_SIGNER_SIGNATURE, &w);
		break;
	case SIG_OK_EMPTY:
		msg_put_u64(&w, 1);
		msg_put_u32(&w, SIGNER_OK);
		msg_put_u32(&w, 0);
		deliver(IMSG_SIGNER_SIGNATURE, &w);
		break;
	case SIG_SHORT:
		msg_put_u64(&w, 1);
		msg_put_u32(&w, SIGNER_OK);
		msg_put_u32(&w, 64);
		msg_put_data(&w, big, 10);
		deliver(IMSG_SIGNER_SIGNATURE, &w);
		break;
	case SIG_TWICE:
		sig_twice();
		break;
	case UNKNOWN_TYPE:
		deliver(IMSG_STATS, NULL);
		break;
	default:
		break;
	}
	msg_writer_free(&w);
}

static void
test_hostile(void)
{
	pid_t pid;
	int h, status, ok = 1;

	for (h = 0; h < HOSTILE_COUNT; h++) {
		fflush(stdout);
		if ((pid = fork()) == -1) {
			ok = 0;
			break;
		}
		if (pid == 0) {
			/* the log line of the fatal error is expected */
			if (freopen("/dev/null", "w", stderr) == NULL)
				_exit(99);
			hostile(h);
			_exit(0);
		}
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("# hostile %d did not kill\n", h);
			ok = 0;
		}
	}
	CHECK("malformed from signer is fatal", ok);
}

int
main(void)
{
	log_init(1, 0, "test_smtp_dkim");
	test_table();
	test_signing();
	test_hostile();
	TEST_EXIT();
}
