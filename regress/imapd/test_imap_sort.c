/*
 * SORT: RFC 5256's base subject on its hard cases, every criterion with
 * REVERSE and ties on a table of fake messages, criteria parsing, and a
 * large mailbox.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "search_fake.h"

static struct fake_msg msgs[] = {
	{ .seq = 1, .uid = 10, .size = 300, .idate = 500, .has_sdate = 1,
	    .sdate = 100,
	    .headers = "Subject: Re: beta\n"
		       "From: Zed <zed@a.com>\n"
		       "To: x@b.com\n" },
	{ .seq = 2, .uid = 20, .size = 100, .idate = 50,
	    .headers = "Subject: alpha\n"
		       "From: amy@c.com\n"
		       "To: Bob <Bob@d.com>\n"
		       "Cc: c@c\n" },
	{ .seq = 3, .uid = 30, .size = 300, .idate = 100, .has_sdate = 1,
	    .sdate = 100,
	    .headers = "Subject: Beta\n"
		       "From: Åsa <asa@e.com>\n"
		       "To: \n" },
	{ .seq = 4, .uid = 40, .size = 200, .idate = 10, .has_sdate = 1,
	    .sdate = 300, .stz = 60,
	    .headers = "Subject: [x] Gamma\n"
		       "From: <mike@f.com>\n" },
	{ .seq = 5, .uid = 50, .size = 100, .idate = 400, .has_sdate = 1,
	    .sdate = -50, .headers = "X-Nothing: here\n" },
};

static void *msgp[] = { &msgs[0], &msgs[1], &msgs[2], &msgs[3], &msgs[4] };

static const char *
sort(const char *criteria, int uid)
{
	static char out[256];
	struct imap_command cmd;
	struct sort_program prog;
	uint32_t ids[5];
	char err[128];
	size_t i;

	memset(&cmd, 0, sizeof(cmd));
	if (fake_parse_args(&cmd, criteria) == -1 || cmd.nargs != 1) {
		imap_command_free(&cmd);
		return "PARSE";
	}
	if (sort_parse(&prog, &cmd.args[0], err, sizeof(err)) == -1) {
		imap_command_free(&cmd);
		return "BAD";
	}
	imap_command_free(&cmd);
	if (sort_run(&prog, &fake_ops, msgp, 5, uid, ids) == -1)
		return "ENOMEM";
	out[0] = '\0';
	for (i = 0; i < 5; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%s%u", i ? " " : "", ids[i]);
		strlcat(out, num, sizeof(out));
	}
	return out;
}

#define EXPECT(name, criteria, want)                                  \
	CHECK(name, strcmp(sort(criteria, 0), want) == 0 ||            \
			(printf("# %s -> %s\n", criteria, sort(criteria, 0)), \
			    0))

static int
base_is(const char *subject, const char *want, int want_reply)
{
	char *base;
	int reply, ok;

	if ((base = sort_base_subject(subject, strlen(subject), &reply)) ==
	    NULL)
		return 0;
	ok = strcmp(base, want) == 0 && reply == want_reply;
	if (!ok)
		printf("# \"%s\" -> \"%s\" reply %d\n", subject, base, reply);
	free(base);
	return ok;
}

static void
test_base_subject(void)
{
	CHECK("base plain", base_is("Hello", "hello", 0));
	CHECK("base empty", base_is("", "", 0));
	CHECK("base re", base_is("Re: foo", "foo", 1));
	CHECK("base re stack", base_is("RE:   Re[2]: FW: foo", "foo", 1));
	CHECK("base fwd blob re", base_is("Fwd: [list] Re: foo", "foo", 1));
	CHECK("base re space colon", base_is("Re : foo", "foo", 1));
	CHECK("base blob", base_is("[list] foo", "foo", 0));
	CHECK("base blob alone", base_is("[list]", "[list]", 0));
	CHECK("base blob then space", base_is("[list]   ", "[list]", 0));
	CHECK("base blobs", base_is("[a][b] foo", "foo", 0));
	CHECK("base empty blob", base_is("[]foo", "foo", 0));
	CHECK("base patch re", base_is("[PATCH 1/2] Re: x", "x", 1));
	CHECK("base trailer", base_is("foo (fwd)", "foo", 1));
	CHECK("base trailers", base_is("foo (FWD) (fwd)  ", "foo", 1));
	CHECK("base fwd wrap", base_is("[fwd: Re: foo]", "foo", 1));
	CHECK("base fwd wrap trailer", base_is("[Fwd: foo] (fwd)", "foo", 1));
	CHECK("base re fwd wrap", base_is("Re: [fwd: foo]", "foo", 1));
	CHECK("base nested wraps", base_is("[Fwd: [fwd: bar]]", "bar", 1));
	CHECK("base re only", base_is("Re:", "", 1));
	CHECK("base re re", base_is("re: re: re:", "", 1));
	CHECK("base spaces", base_is("  Hello   World\t\tAgain ",
				 "hello world again", 0));
	CHECK("base folded", base_is("Hello\r\n World", "hello world", 0));
	CHECK("base no colon", base_is("Reply to this", "reply to this", 0));
	CHECK("base fwd word", base_is("Fwd foo", "fwd foo", 0));
	CHECK("base fw", base_is("Fw: a", "a", 1));
	CHECK("base re inside", base_is("foo Re: bar", "foo re: bar", 0));
	CHECK("base utf8", base_is("Re: ÜNÏCODE", "ünïcode", 1));
	CHECK("base accent re", base_is("RÉ: x", "ré: x", 0));
	CHECK("base unterminated", base_is("[unterminated foo",
				       "[unterminated foo", 0));
	CHECK("base bracket in blob", base_is("[a[b] foo", "[a[b] foo", 0));
	CHECK("base fwd wrap empty", base_is("[fwd:]", "", 1));
	CHECK("base only trailer", base_is("(fwd)", "", 1));
}

static void
test_orders(void)
{
	EXPECT("arrival", "(ARRIVAL)", "4 2 3 5 1");
	EXPECT("reverse arrival", "(REVERSE ARRIVAL)", "1 5 3 2 4");
	/* no Date: the internal date; ties by sequence number */
	EXPECT("date", "(DATE)", "5 2 1 3 4");
	EXPECT("reverse date", "(REVERSE DATE)", "4 1 3 2 5");
	EXPECT("size", "(SIZE)", "2 5 4 1 3");
	EXPECT("reverse size", "(reverse size)", "1 3 4 2 5");
	EXPECT("subject", "(SUBJECT)", "5 2 1 3 4");
	EXPECT("subject arrival", "(SUBJECT ARRIVAL)", "5 2 3 1 4");
	EXPECT("reverse subject", "(REVERSE SUBJECT)", "4 1 3 2 5");
	EXPECT("from", "(FROM)", "5 2 3 4 1");
	EXPECT("displayfrom", "(DISPLAYFROM)", "5 2 4 1 3");
	EXPECT("to", "(TO)", "3 4 5 2 1");
	EXPECT("displayto", "(DISPLAYTO)", "3 4 5 2 1");
	EXPECT("cc", "(CC)", "1 3 4 5 2");
	EXPECT("reverse cc", "(REVERSE CC)", "2 1 3 4 5");
	EXPECT("reverse size subject", "(REVERSE SIZE SUBJECT)", "1 3 4 5 2");
	EXPECT("size reverse subject", "(SIZE REVERSE SUBJECT)", "2 5 4 1 3");
	CHECK("uid", strcmp(sort("(ARRIVAL)", 1), "40 20 30 50 10") == 0);
}

static void
test_parse(void)
{
	char many[512];
	int i, n = 0;

	CHECK("parse empty", strcmp(sort("()", 0), "BAD") == 0);
	CHECK("parse unknown", strcmp(sort("(FOO)", 0), "BAD") == 0);
	CHECK("parse reverse alone", strcmp(sort("(REVERSE)", 0), "BAD") == 0);
	CHECK("parse reverse trailing",
	    strcmp(sort("(DATE REVERSE)", 0), "BAD") == 0);
	CHECK("parse reverse twice",
	    strcmp(sort("(REVERSE REVERSE DATE)", 0), "BAD") == 0);
	CHECK("parse atom", strcmp(sort("DATE", 0), "BAD") == 0);
	CHECK("parse string", strcmp(sort("(\"DATE\")", 0), "BAD") == 0);
	CHECK("parse nested", strcmp(sort("((DATE))", 0), "BAD") == 0);
	n += snprintf(many + n, sizeof(many) - n, "(");
	for (i = 0; i < SORT_CRITERIA_MAX; i++)
		n += snprintf(many + n, sizeof(many) - n, "%sSIZE", i ? " " : "");
	snprintf(many + n, sizeof(many) - n, ")");
	CHECK("parse at limit", strcmp(sort(many, 0), "2 5 4 1 3") == 0);
	snprintf(many + n - 0, sizeof(many) - n, " DATE)");
	CHECK("parse too many", strcmp(sort(many, 0), "BAD") == 0);
}

/* 20,000 messages: keys read once each, the order right */
static void
test_large(void)
{
	enum { N = 20000 };
	struct fake_msg *big;
	void **ptrs;
	char **hdrs;
	uint32_t *ids;
	struct sort_program prog;
	size_t i;
	int ok = 1;

	big = calloc(N, sizeof(*big));
	ptrs = calloc(N, sizeof(*ptrs));
	hdrs = calloc(N, sizeof(*hdrs));
	ids = calloc(N, sizeof(*ids));
	if (big == NULL || ptrs == NULL || hdrs == NULL || ids == NULL)
		abort();
	for (i = 0; i < N; i++) {
		/* subjects in reverse order of arrival, every fifth a reply */
		if (asprintf(&hdrs[i], "Subject: %sitem %05zu\n",
			i % 5 ? "" : "Re: ", N - 1 - i) == -1)
			abort();
		big[i].seq = i + 1;
		big[i].uid = i + 1;
		big[i].headers = hdrs[i];
		ptrs[i] = &big[i];
	}
	memset(&prog, 0, sizeof(prog));
	prog.crit[0].key = SORT_SUBJECT;
	prog.n = 1;
	fake_header_calls = 0;
	CHECK("large run", sort_run(&prog, &fake_ops, ptrs, N, 0, ids) == 0);
	CHECK("large reads once", fake_header_calls == N);
	for (i = 0; i < N; i++)
		if (ids[i] != N - i)
			ok = 0;
	CHECK("large order", ok);
	for (i = 0; i < N; i++)
		free(hdrs[i]);
	free(hdrs);
	free(big);
	free(ptrs);
	free(ids);
}

/* i;ascii-casemap maps a-z to A-Z: [ and _ come after every letter */
static void
test_casemap(void)
{
	static struct fake_msg m[] = {
	    {.seq = 1, .uid = 1, .headers = "Subject: b\n"},
	    {.seq = 2, .uid = 2, .headers = "Subject: [xyz]\n"},
	    {.seq = 3, .uid = 3, .headers = "Subject: _\n"},
	    {.seq = 4, .uid = 4, .headers = "Subject: A\n"},
	    {.seq = 5, .uid = 5, .headers = "Subject: C\n"},
	};
	static const uint32_t want[] = {4, 1, 5, 2, 3};
	void *mp[] = {&m[0], &m[1], &m[2], &m[3], &m[4]};
	struct imap_command cmd;
	struct sort_program prog;
	uint32_t ids[5];
	char err[128];

	memset(&cmd, 0, sizeof(cmd));
	CHECK("casemap parse",
	    fake_parse_args(&cmd, "(SUBJECT)") == 0 &&
		sort_parse(&prog, &cmd.args[0], err, sizeof(err)) == 0);
	imap_command_free(&cmd);
	CHECK("casemap order",
	    sort_run(&prog, &fake_ops, mp, 5, 0, ids) == 0 &&
		memcmp(ids, want, sizeof(want)) == 0);
}

int
main(void)
{
	test_base_subject();
	test_orders();
	test_casemap();
	test_parse();
	test_large();
	TEST_EXIT();
}
