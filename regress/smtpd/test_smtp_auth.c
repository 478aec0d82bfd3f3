/*
 * Submission's parsers: SASL PLAIN (common/sasl.c) and LOGIN's fields,
 * the header section kept as a message streams by, and the From:
 * addresses read from it, with hostile input.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"
#include "test.h"

static int
plain(const char *b64, char *user, char *pass)
{
	return sasl_plain_decode(b64, strlen(b64), user,
	    AUTH_LOGIN_USER_MAX + 1, pass, AUTH_LOGIN_PASSWORD_MAX + 1);
}

static void
test_plain(void)
{
	char user[AUTH_LOGIN_USER_MAX + 1], pass[AUTH_LOGIN_PASSWORD_MAX + 1];
	char *big;

	/* "\0alice@x.test\0secret" */
	CHECK("plain",
	    plain("AGFsaWNlQHgudGVzdABzZWNyZXQ=", user, pass) == 0 &&
		strcmp(user, "alice@x.test") == 0 &&
		strcmp(pass, "secret") == 0);
	/* "alice@x.test\0alice@x.test\0secret" */
	CHECK("plain, the same authzid",
	    plain("YWxpY2VAeC50ZXN0AGFsaWNlQHgudGVzdABzZWNyZXQ=", user, pass) ==
		0);
	/* "bob@x.test\0alice@x.test\0secret" */
	CHECK("plain, another authzid",
	    plain("Ym9iQHgudGVzdABhbGljZUB4LnRlc3QAc2VjcmV0", user, pass) ==
		    -2 &&
		pass[0] == '\0');
	CHECK("plain, empty", plain("", user, pass) == -1);
	CHECK("plain, no NUL", plain("YWxpY2U=", user, pass) == -1);
	/* "\0alice" */
	CHECK("plain, one NUL", plain("AGFsaWNl", user, pass) == -1);
	/* "\0a\0b\0c" */
	CHECK("plain, three NULs", plain("AGEAYgBj", user, pass) == -1);
	CHECK("plain, bad base64", plain("!!!!", user, pass) == -1);
	CHECK(
	    "plain, no padding", plain("AGFsaWNlAHNlY3JldA", user, pass) == -1);
	CHECK("plain, junk after padding",
	    plain("AGFsaWNlAHNlY3JldA==AAAA", user, pass) == -1);
	big = malloc(8001);
	memset(big, 'Q', 8000);
	big[8000] = '\0';
	CHECK("plain, too long", big != NULL && plain(big, user, pass) == -1);
	free(big);
}

static void
test_login(void)
{
	char out[64];

	CHECK("login field",
	    smtp_auth_login_decode("YWxpY2U=", 8, out, sizeof(out)) == 0 &&
		strcmp(out, "alice") == 0);
	CHECK("login field, empty",
	    smtp_auth_login_decode("", 0, out, sizeof(out)) == -1);
	CHECK("login field, a NUL",
	    smtp_auth_login_decode("YQBi", 4, out, sizeof(out)) == -1);
	CHECK("login field, bad base64",
	    smtp_auth_login_decode("YW*j", 4, out, sizeof(out)) == -1);
	CHECK("login field, too long for out",
	    smtp_auth_login_decode("YWxpY2U=", 8, out, 5) == -1 &&
		out[0] == '\0');
	CHECK("login field, exactly fits",
	    smtp_auth_login_decode("YWxpY2U=", 8, out, 6) == 0);
	CHECK("login field, no room",
	    smtp_auth_login_decode("YWxpY2U=", 8, out, 0) == -1);
}

/* the From: addresses of msg fed in pieces of step octets */
static int
from_of(const char *msg, size_t step, struct smtp_from *f)
{
	struct smtp_headers h;
	size_t len = strlen(msg), i, n;
	int rv;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		smtp_headers_feed(&h, msg + i, n);
	}
	rv = smtp_headers_from(&h, f);
	smtp_headers_reset(&h);
	return rv;
}

static int
from_is(const char *msg, const char *want)
{
	struct smtp_from f;
	char got[4096] = "";
	size_t i, step;
	int ok = 1;

	for (step = 1; step <= 4096 && ok; step *= 7) {
		got[0] = '\0';
		if (from_of(msg, step, &f) != SMTP_FROM_OK) {
			ok = 0;
			break;
		}
		for (i = 0; i < f.n; i++) {
			if (i > 0)
				strlcat(got, " ", sizeof(got));
			strlcat(got, f.addr[i], sizeof(got));
		}
		smtp_from_clear(&f);
		if (strcmp(got, want) != 0) {
			printf("# step %zu: got \"%s\", want \"%s\"\n", step,
			    got, want);
			ok = 0;
		}
	}
	return ok;
}

static int
from_fails(const char *msg, int want)
{
	struct smtp_from f;
	int rv = from_of(msg, 5, &f);

	if (rv != want)
		printf("# got %d, want %d\n", rv, want);
	return rv == want && f.n == 0;
}

#define RCVD "Received: from x ([127.0.0.1])\n\tby y (boxd); now\n"

static void
test_from(void)
{
	char *big;
	size_t i, o;

	CHECK("from, plain",
	    from_is(RCVD "From: a@x.test\n\nbody\n", "a@x.test"));
	CHECK("from, display name",
	    from_is(RCVD "From: \"A, B\" <a@x.test>\n\n", "a@x.test"));
	CHECK("from, comment",
	    from_is(RCVD "From: a@x.test (b@y.test)\n\n", "a@x.test"));
	CHECK("from, encoded word",
	    from_is(RCVD "From: =?utf-8?q?b=40y.test?= <a@x.test>\n\n",
		"a@x.test"));
	CHECK("from, folded",
	    from_is(RCVD "From: A\n <a@x.test>,\n\tB <b@x.test>\n\n",
		"a@x.test b@x.test"));
	/* RFC 5322 3.6.2: From: is a mailbox-list, no groups */
	CHECK("from, group",
	    from_fails(RCVD "From: G: a@x.test, b@x.test;\n\n", SMTP_FROM_BAD));
	CHECK("from, every field",
	    from_is(RCVD "From: a@x.test\nTo: c@z.test\nFROM: b@y.test\n\n",
		"a@x.test b@y.test"));
	CHECK("from, each once",
	    from_is(RCVD "From: a@x.test, A@X.test\nFrom: a@x.test\n\n",
		"a@x.test"));
	CHECK("from, name before colon",
	    from_is(RCVD "From : a@x.test\n\n", "a@x.test"));
	CHECK("from, only in the header",
	    from_is(RCVD "From: a@x.test\n\nFrom: b@y.test\n", "a@x.test"));
	CHECK("from, quoted local part",
	    from_is(RCVD "From: \"a b\"@x.test\n\n", "a b@x.test"));
	CHECK(
	    "from, none", from_fails(RCVD "To: a@x.test\n\n", SMTP_FROM_NONE));
	CHECK("from, no header at all", from_fails("", SMTP_FROM_NONE));
	CHECK("from, empty", from_fails(RCVD "From:\n\n", SMTP_FROM_NONE));
	CHECK("from, a name alone",
	    from_fails(RCVD "From: just a name\n\n", SMTP_FROM_BAD));
	CHECK("from, an address then a name",
	    from_fails(RCVD "From: a@x.test, name\n\n", SMTP_FROM_BAD));
	CHECK("from, no domain",
	    from_fails(RCVD "From: <a@>\n\n", SMTP_FROM_BAD));
	CHECK("from, unclosed group",
	    from_fails(RCVD "From: G: a@x.test\n\n", SMTP_FROM_BAD));
	/* what another reader would take for one more author */
	CHECK("from, an address after an angle address",
	    from_fails(RCVD "From: <a@x.test> ceo@bank.test\n\n",
		SMTP_FROM_BAD));
	CHECK("from, a word after a bare address",
	    from_fails(RCVD "From: a@x.test ceo@bank.test\n\n", SMTP_FROM_BAD));
	CHECK("from, an address as the display name",
	    from_fails(RCVD "From: ceo@bank.test <a@x.test>\n\n",
		SMTP_FROM_BAD));
	CHECK("from, a group named as an address",
	    from_fails(RCVD "From: \"ceo@bank.test\" : a@x.test;\n\n",
		SMTP_FROM_BAD));
	CHECK("from, a stray closing bracket",
	    from_fails(RCVD "From: a@x.test>\n\n", SMTP_FROM_BAD));
	CHECK("from, an unclosed comment",
	    from_fails(RCVD "From: a@x.test (x\n\n", SMTP_FROM_BAD));
	CHECK("from, quoted and commented names stay allowed",
	    from_is(RCVD "From: \"Ceo, <c@b.test>\" (x@y.test) <a@x.test> "
			 "(note)\n\n",
		"a@x.test"));

	/* more addresses than one sender check carries */
	big = malloc(SMTP_HEADERS_MAX * 2);
	o = (size_t)snprintf(big, 64, "From: ");
	for (i = 0; i <= AUTH_SENDER_MAX; i++)
		o += (size_t)snprintf(big + o, 64, "u%zu@x.test, ", i);
	snprintf(big + o, 64, "z@x.test\n\n");
	CHECK("from, too many", from_fails(big, SMTP_FROM_BAD));

	/* a header section past the bound: refused, not cut */
	o = (size_t)snprintf(big, 64, "From: a@x.test\n");
	while (o < SMTP_HEADERS_MAX + 100)
		o += (size_t)snprintf(big + o, 80, "X-Pad: %060d\n", 0);
	snprintf(big + o, 64, "From: b@y.test\n\n");
	CHECK("from, header section too long",
	    from_fails(big, SMTP_FROM_TOO_LONG));

	/* one field past MIME_FIELD_MAX: the parser would see part of it */
	o = (size_t)snprintf(big, 64, "From: a@x.test");
	while (o < MIME_FIELD_MAX + 100)
		o += (size_t)snprintf(big + o, 80, "\n (%060d)", 0);
	snprintf(big + o, 64, ", b@y.test\n\n");
	CHECK("from, one field too long", from_fails(big, SMTP_FROM_BAD));

	/* NULs and 8-bit octets do not confuse it */
	memcpy(big, "From: a@x.test\n\xff\xfe: \x01\n\n", 23);
	big[22] = '\0';
	CHECK("from, junk fields", from_is(big, "a@x.test"));
	free(big);
}

int
main(void)
{
	log_init(1, LOG_LEVEL_INFO, "test_smtp_auth");
	test_plain();
	test_login();
	test_from();
	TEST_EXIT();
}
