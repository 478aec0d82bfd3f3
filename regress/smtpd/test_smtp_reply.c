/*
 * The SMTP reply parser: whole replies however the octets are split,
 * multi-line replies, enhanced status codes, EHLO extensions, and every
 * malformed or oversized reply a hostile server can send.
 */

#include <stdlib.h>
#include <string.h>

#include "smtpd.h"
#include "test.h"

/* feed s in chunks of step octets; the status of the first reply */
static enum smtp_reply_status
feed_steps(struct smtp_reply_parser *p, const char *s, size_t len, size_t step,
    size_t *total)
{
	enum smtp_reply_status st = SMTP_REPLY_MORE;
	size_t off = 0, n, used;

	while (off < len) {
		n = len - off < step ? len - off : step;
		st = smtp_reply_feed(p, s + off, n, &used);
		off += used;
		if (st != SMTP_REPLY_MORE)
			break;
		if (used != n)
			return SMTP_REPLY_ERROR;
	}
	*total = off;
	return st;
}

/* one reply from s, all at once: its status; the error in *err */
static enum smtp_reply_status
parse_one(
    struct smtp_reply_parser *p, const char *s, enum smtp_reply_error *err)
{
	size_t used;
	enum smtp_reply_status st;

	smtp_reply_parser_init(p);
	st = feed_steps(p, s, strlen(s), strlen(s) + 1, &used);
	*err = p->error;
	return st;
}

static enum smtp_reply_error
error_of(const char *s)
{
	struct smtp_reply_parser p;
	enum smtp_reply_error err;

	parse_one(&p, s, &err);
	smtp_reply_parser_free(&p);
	return err;
}

static void
test_simple(void)
{
	struct smtp_reply_parser p;
	enum smtp_reply_error err;
	char buf[256];

	CHECK("simple done",
	    parse_one(&p, "220 mx.example ESMTP ready\r\n", &err) ==
		SMTP_REPLY_DONE);
	CHECK("simple code", p.reply.code == 220);
	CHECK("simple lines", p.reply.nlines == 1);
	CHECK("simple text",
	    strcmp(smtp_reply_line(&p.reply, 0), "mx.example ESMTP ready") ==
		0);
	CHECK("simple no enhanced", p.reply.enhanced[0] == '\0');
	CHECK("line past the last", *smtp_reply_line(&p.reply, 1) == '\0');
	smtp_reply_format(&p.reply, buf, sizeof(buf));
	CHECK("simple format", strcmp(buf, "220 mx.example ESMTP ready") == 0);
	smtp_reply_parser_free(&p);

	CHECK("code alone", parse_one(&p, "250\r\n", &err) == SMTP_REPLY_DONE);
	CHECK("code alone text",
	    p.reply.code == 250 && *smtp_reply_line(&p.reply, 0) == '\0');
	smtp_reply_format(&p.reply, buf, sizeof(buf));
	CHECK("code alone format", strcmp(buf, "250") == 0);
	smtp_reply_parser_free(&p);

	CHECK("empty continuation",
	    parse_one(&p, "250-\r\n250 ok\r\n", &err) == SMTP_REPLY_DONE &&
		p.reply.nlines == 2);
	smtp_reply_parser_free(&p);

	CHECK("incomplete", parse_one(&p, "250 ok", &err) == SMTP_REPLY_MORE);
	CHECK("incomplete cr",
	    parse_one(&p, "250 ok\r", &err) == SMTP_REPLY_MORE);
	CHECK("incomplete multi",
	    parse_one(&p, "250-a\r\n250-b\r\n", &err) == SMTP_REPLY_MORE);
	smtp_reply_parser_free(&p);
}

static const char ehlo_reply[] =
    "250-mx.example.org Hello client.example [192.0.2.1]\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 52428800\r\n"
    "250-8BITMIME\r\n"
    "250-SMTPUTF8\r\n"
    "250-STARTTLS\r\n"
    "250-auth PLAIN LOGIN XOAUTH2 SCRAM-SHA-256\r\n"
    "250-DSN\r\n"
    "250-CHUNKING\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-X-UNKNOWN with params\r\n"
    "250 BINARYMIME\r\n";

static void
test_split(void)
{
	struct smtp_reply_parser p;
	size_t step, used, len = strlen(ehlo_reply);
	int same = 1;

	for (step = 1; step <= len; step++) {
		smtp_reply_parser_init(&p);
		if (feed_steps(&p, ehlo_reply, len, step, &used) !=
			SMTP_REPLY_DONE ||
		    used != len || p.reply.nlines != 12 ||
		    p.reply.code != 250 ||
		    strcmp(smtp_reply_line(&p.reply, 11), "BINARYMIME") != 0 ||
		    strcmp(smtp_reply_line(&p.reply, 2), "SIZE 52428800") != 0)
			same = 0;
		smtp_reply_parser_free(&p);
	}
	CHECK("split anywhere", same);
}

static void
test_pipelined(void)
{
	static const char s[] = "250 2.1.0 ok\r\n"
				"550-5.1.1 no such\r\n"
				"550 5.1.1 user\r\n"
				"354 go ahead\r\n";
	struct smtp_reply_parser p;
	size_t used, off = 0;
	char buf[256];

	smtp_reply_parser_init(&p);
	CHECK("pipelined 1",
	    smtp_reply_feed(&p, s, strlen(s), &used) == SMTP_REPLY_DONE &&
		used == 14 && p.reply.code == 250 &&
		strcmp(p.reply.enhanced, "2.1.0") == 0);
	off += used;
	CHECK("pipelined 2",
	    smtp_reply_feed(&p, s + off, strlen(s) - off, &used) ==
		    SMTP_REPLY_DONE &&
		p.reply.code == 550 && p.reply.nlines == 2 &&
		strcmp(p.reply.enhanced, "5.1.1") == 0);
	smtp_reply_format(&p.reply, buf, sizeof(buf));
	CHECK("pipelined 2 format", strcmp(buf, "550 5.1.1 no such user") == 0);
	off += used;
	CHECK("pipelined 3",
	    smtp_reply_feed(&p, s + off, strlen(s) - off, &used) ==
		    SMTP_REPLY_DONE &&
		p.reply.code == 354 && p.reply.nlines == 1 &&
		off + used == strlen(s));
	CHECK("pipelined nothing left",
	    smtp_reply_feed(&p, "", 0, &used) == SMTP_REPLY_MORE && used == 0);
	smtp_reply_parser_free(&p);
}

static void
test_enhanced(void)
{
	static const struct {
		const char *reply;
		const char *esc;
	} cases[] = {
	    {"550 5.1.1 User unknown\r\n", "5.1.1"},
	    {"250 2.0.0\r\n", "2.0.0"},
	    {"550 5.1.10 null MX\r\n", "5.1.10"},
	    {"451 4.123.123 x\r\n", "4.123.123"},
	    {"550 4.1.1 wrong class\r\n", ""},
	    {"250 5.0.0 wrong class\r\n", ""},
	    {"550 5.1.1234 too long\r\n", ""},
	    {"550 5..1 empty subject\r\n", ""},
	    {"550 5.1. empty detail\r\n", ""},
	    {"550 5.1.1x glued\r\n", ""},
	    {"550 3.1.1 bad class\r\n", ""},
	    {"550 5.1\r\n", ""},
	    {"550 5\r\n", ""},
	    {"550  5.1.1 two spaces\r\n", ""},
	};
	struct smtp_reply_parser p;
	enum smtp_reply_error err;
	size_t i;
	int ok = 1;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse_one(&p, cases[i].reply, &err) != SMTP_REPLY_DONE ||
		    strcmp(p.reply.enhanced, cases[i].esc) != 0) {
			printf(
			    "# %s -> '%s'\n", cases[i].reply, p.reply.enhanced);
			ok = 0;
		}
		smtp_reply_parser_free(&p);
	}
	CHECK("enhanced codes", ok);
}

static void
test_malformed(void)
{
	CHECK("code changed",
	    error_of("250-a\r\n251 b\r\n") == SMTP_REPLY_ERR_CODE_CHANGED);
	CHECK("class changed",
	    error_of("250-a\r\n550 b\r\n") == SMTP_REPLY_ERR_CODE_CHANGED);
	CHECK("missing space", error_of("250ok\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK(
	    "tab separator", error_of("250\tok\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK("short code", error_of("25 ok\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK("empty line", error_of("\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK("letters", error_of("abc def\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK("letter inside", error_of("2a0 ok\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK(
	    "leading space", error_of(" 250 ok\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK("sign", error_of("+50 ok\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK("1yz", error_of("199 ok\r\n") == SMTP_REPLY_ERR_CODE);
	CHECK("6yz", error_of("600 ok\r\n") == SMTP_REPLY_ERR_CODE);
	CHECK("0yz", error_of("000 ok\r\n") == SMTP_REPLY_ERR_CODE);
	CHECK("x6z", error_of("260 ok\r\n") == SMTP_REPLY_ERR_CODE);
	CHECK("559 is fine", error_of("559 ok\r\n") == SMTP_REPLY_ERR_NONE);
	CHECK("bare lf", error_of("250 ok\n") == SMTP_REPLY_ERR_BARE_LF);
	CHECK("bare lf continuation",
	    error_of("250-ok\n250 ok\r\n") == SMTP_REPLY_ERR_BARE_LF);
	CHECK("bare cr", error_of("250 o\rk\r\n") == SMTP_REPLY_ERR_BARE_CR);
	CHECK("cr cr lf", error_of("250 ok\r\r\n") == SMTP_REPLY_ERR_BARE_CR);
	CHECK("four digits", error_of("2500 ok\r\n") == SMTP_REPLY_ERR_SYNTAX);
	CHECK("strerror",
	    strcmp(smtp_reply_strerror(SMTP_REPLY_ERR_BARE_LF),
		"bare LF in reply") == 0 &&
		strcmp(smtp_reply_strerror(99), "unknown reply error") == 0);
}

static void
test_nul(void)
{
	static const char s[] = "250 o\0k\r\n";
	struct smtp_reply_parser p;
	size_t used;

	smtp_reply_parser_init(&p);
	CHECK("nul",
	    smtp_reply_feed(&p, s, sizeof(s) - 1, &used) == SMTP_REPLY_ERROR &&
		p.error == SMTP_REPLY_ERR_NUL && used == 5);
	CHECK("error stays",
	    smtp_reply_feed(&p, "250 ok\r\n", 8, &used) == SMTP_REPLY_ERROR &&
		used == 0);
	smtp_reply_parser_free(&p);
}

static void
test_bounds(void)
{
	struct smtp_reply_parser p;
	enum smtp_reply_error err;
	size_t len, i, used;
	char *s;

	/* the longest line: SMTP_REPLY_LINE_MAX octets with its CRLF */
	len = SMTP_REPLY_LINE_MAX;
	if ((s = malloc(len + 16)) == NULL)
		abort();
	memcpy(s, "250 ", 4);
	memset(s + 4, 'x', len - 6);
	memcpy(s + len - 2, "\r\n", 3);
	CHECK("longest line",
	    parse_one(&p, s, &err) == SMTP_REPLY_DONE &&
		strlen(smtp_reply_line(&p.reply, 0)) == len - 6);
	smtp_reply_parser_free(&p);
	memcpy(s + len - 2, "x\r\n", 4);
	CHECK("line too long", error_of(s) == SMTP_REPLY_ERR_LINE_TOO_LONG);
	/* a line that never ends is refused at the bound, not buffered */
	smtp_reply_parser_init(&p);
	memset(s, 'y', len + 16);
	memcpy(s, "250 ", 4);
	CHECK("endless line",
	    smtp_reply_feed(&p, s, len + 16, &used) == SMTP_REPLY_ERROR &&
		p.error == SMTP_REPLY_ERR_LINE_TOO_LONG &&
		used == SMTP_REPLY_LINE_MAX - 2);
	smtp_reply_parser_free(&p);
	free(s);

	/* RFC 5321's 512 octets are not the limit */
	if ((s = malloc(700)) == NULL)
		abort();
	memcpy(s, "250 ", 4);
	memset(s + 4, 'z', 600);
	memcpy(s + 604, "\r\n", 3);
	CHECK("600-octet line", error_of(s) == SMTP_REPLY_ERR_NONE);
	free(s);

	/* SMTP_REPLY_LINES_MAX lines, and one more */
	if ((s = malloc(10 * (SMTP_REPLY_LINES_MAX + 2))) == NULL)
		abort();
	s[0] = '\0';
	for (i = 0; i < SMTP_REPLY_LINES_MAX - 1; i++)
		strcat(s, "250-line\r\n");
	strcat(s, "250 last\r\n");
	CHECK("most lines",
	    parse_one(&p, s, &err) == SMTP_REPLY_DONE &&
		p.reply.nlines == SMTP_REPLY_LINES_MAX);
	smtp_reply_parser_free(&p);
	s[0] = '\0';
	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		strcat(s, "250-line\r\n");
	strcat(s, "250 last\r\n");
	CHECK("too many lines", error_of(s) == SMTP_REPLY_ERR_TOO_MANY_LINES);
	free(s);
}

static void
test_text(void)
{
	struct smtp_reply_parser p;
	enum smtp_reply_error err;
	char buf[16];
	size_t n;

	CHECK("8-bit text",
	    parse_one(&p, "250 caf\xc3\xa9\x1b[0m\tok\x7f\r\n", &err) ==
		    SMTP_REPLY_DONE &&
		strcmp(smtp_reply_line(&p.reply, 0), "caf???[0m\tok?") == 0);
	smtp_reply_parser_free(&p);

	parse_one(
	    &p, "550-5.7.1 a long first line\r\n550 5.7.1 second\r\n", &err);
	n = smtp_reply_format(&p.reply, buf, sizeof(buf));
	CHECK("format truncated",
	    n == strlen(buf) && n == sizeof(buf) - 1 &&
		strncmp(buf, "550 5.7.1 a lo", 14) == 0);
	CHECK("format tiny",
	    smtp_reply_format(&p.reply, buf, 3) == 0 && buf[0] == '\0');
	CHECK("format none", smtp_reply_format(&p.reply, buf, 0) == 0);
	smtp_reply_parser_free(&p);

	/* the text buffer is reused, and grows, across replies */
	smtp_reply_parser_init(&p);
	n = 0;
	{
		size_t used, i;
		int ok = 1;

		for (i = 0; i < 50; i++) {
			if (smtp_reply_feed(&p, ehlo_reply, strlen(ehlo_reply),
				&used) != SMTP_REPLY_DONE ||
			    p.reply.nlines != 12)
				ok = 0;
			if (smtp_reply_feed(&p, "221 bye\r\n", 9, &used) !=
				SMTP_REPLY_DONE ||
			    p.reply.nlines != 1 ||
			    strcmp(smtp_reply_line(&p.reply, 0), "bye") != 0)
				ok = 0;
		}
		CHECK("parser reused", ok);
	}
	smtp_reply_parser_free(&p);
}

static void
test_ehlo(void)
{
	struct smtp_reply_parser p;
	struct smtp_ehlo e;
	enum smtp_reply_error err;

	parse_one(&p, ehlo_reply, &err);
	CHECK("ehlo parsed", smtp_reply_ehlo(&p.reply, &e) == 0);
	CHECK("ehlo all",
	    e.ext ==
		(SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
		    SMTP_EXT_SMTPUTF8 | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH |
		    SMTP_EXT_DSN | SMTP_EXT_CHUNKING |
		    SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_BINARYMIME));
	CHECK("ehlo size", e.size_max == 52428800);
	CHECK("ehlo auth",
	    e.auth == (SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN | SMTP_AUTH_XOAUTH2));
	smtp_reply_parser_free(&p);

	parse_one(&p, "250 mx.example\r\n", &err);
	CHECK("ehlo bare",
	    smtp_reply_ehlo(&p.reply, &e) == 0 && e.ext == 0 &&
		e.size_max == 0 && e.auth == 0);
	smtp_reply_parser_free(&p);

	parse_one(&p, "502 5.5.1 no EHLO\r\n", &err);
	CHECK("ehlo refused", smtp_reply_ehlo(&p.reply, &e) == -1);
	smtp_reply_parser_free(&p);

	parse_one(&p,
	    "250-mx\r\n250-SIZE\r\n250-AUTH=LOGIN PLAIN\r\n"
	    "250-pipelining\r\n250-STARTTLSX\r\n250-8BITMIME=1\r\n"
	    "250 SIZE 1000\r\n",
	    &err);
	CHECK("ehlo odd forms",
	    smtp_reply_ehlo(&p.reply, &e) == 0 &&
		e.ext ==
		    (SMTP_EXT_SIZE | SMTP_EXT_AUTH | SMTP_EXT_PIPELINING) &&
		e.size_max == 1000 &&
		e.auth == (SMTP_AUTH_LOGIN | SMTP_AUTH_PLAIN));
	smtp_reply_parser_free(&p);

	parse_one(&p,
	    "250-mx\r\n250-SIZE 99999999999999999999999\r\n"
	    "250-AUTH\r\n250 ENHANCEDSTATUSCODES\r\n",
	    &err);
	CHECK("ehlo size overflow",
	    smtp_reply_ehlo(&p.reply, &e) == 0 && (e.ext & SMTP_EXT_SIZE) &&
		e.size_max == 0 && e.auth == 0);
	smtp_reply_parser_free(&p);

	parse_one(
	    &p, "250-mx\r\n250-SIZE 18446744073709551615\r\n250 x\r\n", &err);
	CHECK("ehlo size max",
	    smtp_reply_ehlo(&p.reply, &e) == 0 && e.size_max == UINT64_MAX);
	smtp_reply_parser_free(&p);

	parse_one(
	    &p, "250-mx\r\n250-SIZE 12x\r\n250- SIZE 5\r\n250 =\r\n", &err);
	CHECK("ehlo size junk",
	    smtp_reply_ehlo(&p.reply, &e) == 0 && e.ext == SMTP_EXT_SIZE &&
		e.size_max == 0);
	smtp_reply_parser_free(&p);
}

int
main(void)
{
	test_simple();
	test_split();
	test_pipelined();
	test_enhanced();
	test_malformed();
	test_nul();
	test_bounds();
	test_text();
	test_ehlo();
	TEST_EXIT();
}
