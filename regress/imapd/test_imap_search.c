/*
 * The SEARCH engine: every key on a table of fake messages, NOT/OR
 * nesting, date edges, charsets, RETURN, folding and hostile programs.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "search_fake.h"

#define NOW 1709596800 /* 2024-03-05 00:00:00 UTC */

static struct fake_msg msgs[] = {
	{ .seq = 1, .uid = 10,
	    .flags = SEARCH_FLAG_SEEN | SEARCH_FLAG_ANSWERED,
	    .keywords = " $Forwarded work ", .modseq = 5, .size = 1000,
	    .idate = 1709294400, /* 2024-03-01 12:00 UTC */
	    .has_sdate = 1, .sdate = 1709267400, .stz = -300, /* 29-Feb */
	    .headers = "Subject: Hello World\n"
		       "From: Alice <alice@example.com>\n"
		       "To: bob@example.org\n"
		       "Cc: Carol <carol@example.net>\n"
		       "Message-ID: <1@x>\n",
	    .body = "The quick brown fox jumps over the lazy dog.\r\n" },
	{ .seq = 2, .uid = 20, .flags = SEARCH_FLAG_FLAGGED | SEARCH_FLAG_RECENT,
	    .modseq = 10, .size = 5000,
	    .idate = 1709335800, .itz = 60, /* 2024-03-02 00:30 +0100 */
	    .headers = "Subject: Re: Grüße aus MÜNCHEN\n"
		       "From: Jörg <joerg@example.de>\n"
		       "To: Alice <alice@example.com>\n"
		       "Bcc: secret@example.com\n"
		       "X-Spam: yes\n",
	    .body = "ΚΑΛΗΜΕΡΑ κόσμε — Привет МИР, ÉCOLE" },
	{ .seq = 3, .uid = 30,
	    .flags = SEARCH_FLAG_DELETED | SEARCH_FLAG_DRAFT |
		SEARCH_FLAG_RECENT | SEARCH_FLAG_SEEN,
	    .modseq = 15, .size = 200, .idate = 1709114400, /* 28-Feb */
	    .has_sdate = 1, .sdate = 1709114400,
	    .headers = "Subject: \n"
		       "From: bob@example.org\n"
		       "X-Empty: \n" },
	{ .seq = 4, .uid = 40, .keywords = " Junk ", .modseq = 20,
	    .size = 1024, .idate = 1704067199, /* 2023-12-31 23:59:59 */
	    .has_sdate = 1, .sdate = 1704067199,
	    .headers = "Subject: [list] Meeting notes\n"
		       "From: Dave <dave@example.com>\n",
	    .body = "line one\r\nsecret word: xyzzy\r\n" },
	{ .seq = 5, .uid = 50, .flags = SEARCH_FLAG_RECENT, .modseq = 1,
	    .idate = 1709553600, /* 2024-03-04 12:00 */
	    .unreadable = 1 },
};

static void *msgp[] = { &msgs[0], &msgs[1], &msgs[2], &msgs[3], &msgs[4] };

static uint32_t saved_uids[] = { 20, 40 };

/* the result of "SEARCH text" as "1 2 3", "BAD reason" or "BADCHARSET" */
static const char *
search(const char *text, int uid, int flags)
{
	static char out[1024];
	struct imap_command cmd;
	struct search_program prog;
	struct search_context ctx;
	struct search_result res;
	char err[256];
	size_t i;
	int rv;

	memset(&cmd, 0, sizeof(cmd));
	if (fake_parse_args(&cmd, text) == -1) {
		imap_command_free(&cmd);
		return "PARSE";
	}
	rv = search_parse(&prog, cmd.args, cmd.nargs, flags, err, sizeof(err));
	imap_command_free(&cmd);
	if (rv == SEARCH_BADCHARSET) {
		search_program_free(&prog);
		return "BADCHARSET";
	}
	if (rv != 0) {
		snprintf(out, sizeof(out), "BAD %s", err);
		search_program_free(&prog);
		return out;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.ops = &fake_ops;
	ctx.nmsgs = 5;
	ctx.uidmax = 50;
	ctx.saved = saved_uids;
	ctx.nsaved = 2;
	ctx.now = NOW;
	if (search_run(&prog, &ctx, msgp, 5, uid, &res) == -1) {
		search_program_free(&prog);
		return "ENOMEM";
	}
	out[0] = '\0';
	for (i = 0; i < res.n; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%s%u", i ? " " : "", res.ids[i]);
		strlcat(out, num, sizeof(out));
	}
	if (prog.modseq) {
		char ms[32];

		snprintf(ms, sizeof(ms), " (MODSEQ %llu)",
		    (unsigned long long)res.highest_modseq);
		strlcat(out, ms, sizeof(out));
	}
	search_result_free(&res);
	search_program_free(&prog);
	return out;
}

#define EXPECT(name, text, want) \
	CHECK(name, strcmp(search(text, 0, 0), want) == 0 || \
		(printf("# %s -> \"%s\"\n", text, search(text, 0, 0)), 0))
#define EXPECT_UID(name, text, want) \
	CHECK(name, strcmp(search(text, 1, 0), want) == 0)
#define IS_BAD(name, text) CHECK(name, strncmp(search(text, 0, 0), "BAD ", 4) == 0)

static void
test_flags(void)
{
	EXPECT("all", "ALL", "1 2 3 4 5");
	EXPECT("answered", "ANSWERED", "1");
	EXPECT("unanswered", "UNANSWERED", "2 3 4 5");
	EXPECT("deleted", "DELETED", "3");
	EXPECT("undeleted", "undeleted", "1 2 4 5");
	EXPECT("draft", "DRAFT", "3");
	EXPECT("undraft", "UNDRAFT", "1 2 4 5");
	EXPECT("flagged", "FLAGGED", "2");
	EXPECT("unflagged", "UNFLAGGED", "1 3 4 5");
	EXPECT("seen", "SEEN", "1 3");
	EXPECT("unseen", "UNSEEN", "2 4 5");
	EXPECT("recent", "RECENT", "2 3 5");
	EXPECT("new", "NEW", "2 5");
	EXPECT("old", "OLD", "1 4");
	EXPECT("keyword", "KEYWORD work", "1");
	EXPECT("keyword case", "KEYWORD JUNK", "4");
	EXPECT("keyword $", "KEYWORD $Forwarded", "1");
	EXPECT("unkeyword", "UNKEYWORD junk", "1 2 3 5");
	IS_BAD("keyword string", "KEYWORD \"a b\"");
	IS_BAD("keyword missing", "KEYWORD");
}

static void
test_sets(void)
{
	EXPECT("seq", "2:3", "2 3");
	EXPECT("seq star", "4:*", "4 5");
	EXPECT("seq star rev", "*:4", "4 5");
	EXPECT("seq list", "1,3,5", "1 3 5");
	EXPECT("seq beyond", "6:9", "");
	EXPECT("uid", "UID 20:40", "2 3 4");
	EXPECT("uid star", "UID 45:*", "5");
	EXPECT("uid beyond", "UID 60:70", "");
	EXPECT("uid none", "UID 11:19", "");
	EXPECT_UID("uid result", "UID 20:40", "20 30 40");
	EXPECT_UID("uid result seq", "1,5", "10 50");
	EXPECT("dollar", "$", "2 4");
	EXPECT("uid dollar", "UID $", "2 4");
	EXPECT("dollar and", "$ FLAGGED", "2");
	IS_BAD("seq bad", "1:");
	IS_BAD("seq zero", "0");
	IS_BAD("seq junk", "1x");
	IS_BAD("uid missing", "UID");
	IS_BAD("uid bad", "UID abc");
}

static void
test_sizes_dates(void)
{
	EXPECT("larger", "LARGER 1000", "2 4");
	EXPECT("smaller", "SMALLER 1000", "3 5");
	EXPECT("larger 0", "LARGER 0", "1 2 3 4");
	EXPECT("smaller 0", "SMALLER 0", "");
	IS_BAD("larger neg", "LARGER -1");
	IS_BAD("larger word", "LARGER big");
	IS_BAD("larger string", "LARGER \"5\"");
	IS_BAD("larger huge", "LARGER 99999999999999999999999");
	EXPECT("on", "ON 1-Mar-2024", "1");
	/* the internal date in its own zone: 2 March at +0100 */
	EXPECT("on zone", "ON 2-Mar-2024", "2");
	EXPECT("since", "SINCE 1-Mar-2024", "1 2 5");
	EXPECT("before", "BEFORE 1-Mar-2024", "3 4");
	EXPECT("before year", "BEFORE 1-Jan-2024", "4");
	EXPECT("on last second", "ON 31-Dec-2023", "4");
	EXPECT("since next day", "SINCE 1-Jan-2024", "1 2 3 5");
	EXPECT("quoted date", "ON \"01-MAR-2024\"", "1");
	EXPECT("leap day", "SENTON 29-Feb-2024", "1");
	EXPECT("senton", "SENTON 28-feb-2024", "3");
	EXPECT("sentbefore", "SENTBEFORE 29-Feb-2024", "3 4");
	EXPECT("sentsince", "SENTSINCE 29-Feb-2024", "1");
	EXPECT("sentsince no date", "NOT SENTSINCE 1-Jan-1990", "2 5");
	IS_BAD("date 30 feb", "ON 30-Feb-2024");
	IS_BAD("date 29 feb 2023", "ON 29-Feb-2023");
	IS_BAD("date month", "ON 1-Foo-2024");
	IS_BAD("date 3 digit day", "ON 001-Mar-2024");
	IS_BAD("date short year", "ON 1-Mar-24");
	IS_BAD("date trailing", "ON 1-Mar-20245");
	IS_BAD("date zero", "ON 0-Mar-2024");
	IS_BAD("date missing", "ON");
	IS_BAD("date list", "ON (1-Mar-2024)");
	EXPECT("date 1900", "SINCE 1-Jan-1900", "1 2 3 4 5");
	EXPECT("older", "OLDER 43200", "1 2 3 4 5");
	EXPECT("older more", "OLDER 43201", "1 2 3 4");
	EXPECT("younger", "YOUNGER 43201", "5");
	EXPECT("younger edge", "YOUNGER 43200", "");
	IS_BAD("older zero", "OLDER 0");
	IS_BAD("younger huge", "YOUNGER 99999999999");
	EXPECT("modseq", "MODSEQ 10", "2 3 4 (MODSEQ 20)");
	EXPECT("modseq none", "MODSEQ 100", " (MODSEQ 0)");
	EXPECT("modseq or", "OR MODSEQ 15 SEEN", "1 3 4 (MODSEQ 20)");
	EXPECT("modseq entry", "MODSEQ \"/flags/\\\\Seen\" all 12", "3 4 (MODSEQ 20)");
	EXPECT("modseq keyword entry", "MODSEQ \"/flags/work\" priv 1",
	    "1 2 3 4 5 (MODSEQ 20)");
	IS_BAD("modseq entry type", "MODSEQ \"/flags/\\\\Seen\" any 12");
	IS_BAD("modseq entry name", "MODSEQ \"/foo\" all 12");
	IS_BAD("modseq missing", "MODSEQ");
}

static void
test_strings(void)
{
	EXPECT("subject", "SUBJECT hello", "1");
	EXPECT("subject case", "SUBJECT WORLD", "1");
	EXPECT("subject utf8", "SUBJECT \"grüsse\"", "");
	EXPECT("subject utf8 fold", "SUBJECT \"GRÜSSE\"", "");
	EXPECT("subject umlaut", "SUBJECT \"GRÜẞE\"", "2");
	EXPECT("subject münchen", "SUBJECT \"münchen\"", "2");
	EXPECT("subject empty", "SUBJECT \"\"", "1 2 3 4");
	EXPECT("subject blob", "SUBJECT \"[list]\"", "4");
	EXPECT("from", "FROM alice", "1");
	EXPECT("from domain", "FROM example.com", "1 4");
	EXPECT("from name", "FROM \"jörg\"", "2");
	EXPECT("to", "TO alice", "2");
	EXPECT("cc", "CC carol", "1");
	EXPECT("bcc", "BCC secret", "2");
	EXPECT("header", "HEADER X-Spam yes", "2");
	EXPECT("header case", "HEADER x-spam YES", "2");
	EXPECT("header present", "HEADER X-Empty \"\"", "3");
	EXPECT("header absent", "HEADER X-None \"\"", "");
	EXPECT("header message-id", "HEADER Message-ID <1@x>", "1");
	IS_BAD("header empty name", "HEADER \"\" x");
	IS_BAD("header colon name", "HEADER \"a:b\" x");
	IS_BAD("header space name", "HEADER \"a b\" x");
	IS_BAD("header missing", "HEADER X-Spam");
	EXPECT("body", "BODY fox", "1");
	EXPECT("body across pieces", "BODY \"lazy dog\"", "1");
	EXPECT("body case", "BODY \"THE QUICK\"", "1");
	EXPECT("body greek", "BODY \"καλημέρα\"", "");
	EXPECT("body greek upper", "BODY \"καλημερα\"", "2");
	EXPECT("body greek tonos", "BODY \"ΚΌΣΜΕ\"", "2");
	EXPECT("body cyrillic", "BODY \"привет мир\"", "2");
	EXPECT("body latin1", "BODY \"école\"", "2");
	CHECK("body lines", strcmp(search("BODY \"one\r\nsecret\"", 0, 0), "PARSE") == 0);
	EXPECT("body crlf literal", "BODY {11}\r\none\r\nsecret", "4");
	EXPECT("body empty", "BODY \"\"", "1 2 3 4 5");
	EXPECT("body not in header", "BODY hello", "");
	EXPECT("text header", "TEXT hello", "1");
	EXPECT("text body", "TEXT xyzzy", "4");
	EXPECT("text name", "TEXT x-spam", "2");
	EXPECT("literal", "SUBJECT {5}\r\nworld", "1");
	IS_BAD("literal8", "SUBJECT ~{5}\r\nworld");
	IS_BAD("string list", "SUBJECT (a)");
	IS_BAD("string missing", "SUBJECT");
}

static void
test_logic(void)
{
	EXPECT("and", "SEEN ANSWERED", "1");
	EXPECT("and list", "(SEEN ANSWERED)", "1");
	EXPECT("or", "OR SEEN FLAGGED", "1 2 3");
	EXPECT("not", "NOT SEEN", "2 4 5");
	EXPECT("not not", "NOT NOT SEEN", "1 3");
	EXPECT("or nested", "OR (SEEN DELETED) OR FLAGGED KEYWORD junk",
	    "2 3 4");
	EXPECT("not or", "NOT OR SEEN FLAGGED", "4 5");
	EXPECT("not list", "NOT (SEEN ANSWERED)", "2 3 4 5");
	EXPECT("lists", "((SEEN) (NOT DELETED))", "1");
	EXPECT("mixed", "UID 1:30 NOT DELETED SUBJECT e", "1 2");
	EXPECT("unreadable not", "NOT BODY x", "2 3 5");
	EXPECT("unreadable or", "OR BODY fox UID 50", "1 5");
	IS_BAD("or one", "OR SEEN");
	IS_BAD("or none", "OR");
	IS_BAD("not none", "NOT");
	IS_BAD("empty list", "()");
	IS_BAD("empty inner list", "SEEN ()");
	IS_BAD("unknown", "FOO");
	IS_BAD("unknown inner", "OR SEEN (FOO)");
	IS_BAD("string key", "\"SEEN\"");
	IS_BAD("nil key", "NIL");
}

static void
test_charset_return(void)
{
	EXPECT("charset utf8", "CHARSET UTF-8 SUBJECT hello", "1");
	EXPECT("charset ascii", "CHARSET us-ascii SEEN", "1 3");
	EXPECT("charset quoted", "CHARSET \"utf-8\" SEEN", "1 3");
	CHECK("charset other",
	    strcmp(search("CHARSET ISO-8859-1 SEEN", 0, 0), "BADCHARSET") ==
		0);
	IS_BAD("charset missing", "CHARSET");
	IS_BAD("charset only", "CHARSET UTF-8");
	IS_BAD("charset late", "SEEN CHARSET UTF-8");
	CHECK("sort charset",
	    strcmp(search("UTF-8 SEEN", 0, SEARCH_PARSE_CHARSET), "1 3") == 0);
	CHECK("sort charset other",
	    strcmp(search("KOI8-R SEEN", 0, SEARCH_PARSE_CHARSET),
		"BADCHARSET") == 0);
	CHECK("sort charset missing",
	    strncmp(search("", 0, SEARCH_PARSE_CHARSET), "BAD ", 4) == 0 ||
		strcmp(search("", 0, SEARCH_PARSE_CHARSET), "PARSE") == 0);
	CHECK("return refused",
	    strncmp(search("RETURN (MIN) SEEN", 0, 0), "BAD ", 4) == 0);
	CHECK("return",
	    strcmp(search("RETURN (MIN MAX) SEEN", 0, SEARCH_PARSE_RETURN),
		"1 3") == 0);
	CHECK("return charset",
	    strcmp(search("RETURN () CHARSET UTF-8 SEEN", 0,
		       SEARCH_PARSE_RETURN),
		"1 3") == 0);
	CHECK("return unknown",
	    strncmp(search("RETURN (FOO) SEEN", 0, SEARCH_PARSE_RETURN),
		"BAD ", 4) == 0);
	CHECK("return atom",
	    strncmp(search("RETURN MIN SEEN", 0, SEARCH_PARSE_RETURN), "BAD ",
		4) == 0);
	CHECK("return only",
	    strncmp(search("RETURN (MIN)", 0, SEARCH_PARSE_RETURN), "BAD ",
		4) == 0);
}

/* the program's fields that the session reads */
static void
test_program_fields(void)
{
	struct imap_command cmd;
	struct search_program prog;
	char err[128];
	int rv;

	memset(&cmd, 0, sizeof(cmd));
	rv = fake_parse_args(&cmd, "RETURN (COUNT SAVE min) $ MODSEQ 3");
	CHECK("fields parse", rv == 0);
	rv = search_parse(&prog, cmd.args, cmd.nargs, SEARCH_PARSE_RETURN, err,
	    sizeof(err));
	CHECK("fields ok", rv == 0);
	CHECK("fields esearch", prog.esearch == 1);
	CHECK("fields ret", prog.ret == (SEARCH_RETURN_COUNT |
					    SEARCH_RETURN_SAVE |
					    SEARCH_RETURN_MIN));
	CHECK("fields dollar", prog.dollar == 1);
	CHECK("fields modseq", prog.modseq == 1);
	search_program_free(&prog);
	imap_command_free(&cmd);

	rv = fake_parse_args(&cmd, "RETURN () ALL");
	rv = search_parse(&prog, cmd.args, cmd.nargs, SEARCH_PARSE_RETURN, err,
	    sizeof(err));
	CHECK("fields return empty", rv == 0 && prog.ret == SEARCH_RETURN_ALL &&
					 prog.esearch && !prog.dollar &&
					 !prog.modseq);
	search_program_free(&prog);
	imap_command_free(&cmd);

	rv = fake_parse_args(&cmd, "ALL");
	rv = search_parse(&prog, cmd.args, cmd.nargs, SEARCH_PARSE_RETURN, err,
	    sizeof(err));
	CHECK("fields plain", rv == 0 && prog.ret == 0 && !prog.esearch);
	search_program_free(&prog);
	imap_command_free(&cmd);
}

/* a SUBJECT search reads headers only, and cheap keys spare the reading */
static void
test_cost_order(void)
{
	fake_header_calls = fake_body_calls = 0;
	EXPECT("order subject", "SUBJECT hello", "1");
	CHECK("order subject no body", fake_body_calls == 0);
	fake_header_calls = fake_body_calls = 0;
	(void)search("BODY fox SEEN", 0, 0);
	CHECK("order body after flag", fake_body_calls == 2);
	fake_header_calls = fake_body_calls = 0;
	(void)search("OR BODY fox UID 10", 0, 0);
	CHECK("order or cheap first", fake_body_calls == 4);
	fake_header_calls = fake_body_calls = 0;
	(void)search("TEXT fox HEADER X-Spam yes SUBJECT e DRAFT", 0, 0);
	CHECK("order text last", fake_body_calls == 0);
}

static void
test_fold(void)
{
	char out[64];
	size_t n;

	n = search_fold("ABCxyz", 6, out);
	CHECK("fold ascii", n == 6 && memcmp(out, "abcxyz", 6) == 0);
	n = search_fold("ÀÖØÞ×", strlen("ÀÖØÞ×"), out);
	CHECK("fold latin1", n == strlen("àöøþ×") &&
				 memcmp(out, "àöøþ×", n) == 0);
	n = search_fold("ŸĀŁŽſ", strlen("ŸĀŁŽſ"), out);
	CHECK("fold latin ext", n == strlen("ÿāłžs") &&
				    memcmp(out, "ÿāłžs", n) == 0);
	n = search_fold("ΣΑΣς", strlen("ΣΑΣς"), out);
	CHECK("fold greek", n == strlen("σασσ") && memcmp(out, "σασσ", n) == 0);
	n = search_fold("ЁЖЯѢ", strlen("ЁЖЯѢ"), out);
	CHECK("fold cyrillic", n == strlen("ёжяѣ") &&
				   memcmp(out, "ёжяѣ", n) == 0);
	n = search_fold("Ḁẞ", strlen("Ḁẞ"), out);
	CHECK("fold latin additional", n == strlen("ḁß") &&
					   memcmp(out, "ḁß", n) == 0);
	n = search_fold("\xff\xc3\x28\xe2\x82", 5, out);
	CHECK("fold invalid", n == 5 && memcmp(out, "\xff\xc3\x28\xe2\x82", 5) ==
						0);
	n = search_fold("\xc3", 1, out);
	CHECK("fold truncated", n == 1 && out[0] == '\xc3');
	n = search_fold("A\0B", 3, out);
	CHECK("fold nul", n == 3 && memcmp(out, "a\0b", 3) == 0);
}

/* a multibyte character cut by the body's pieces still matches */
static void
test_pieces(void)
{
	size_t piece;
	int ok = 1;

	for (piece = 1; piece <= 9; piece++) {
		fake_body_piece = piece;
		if (strcmp(search("BODY \"привет мир, école\"", 0, 0), "2") != 0)
			ok = 0;
		if (strcmp(search("BODY {11}\r\nlazy dog.\r\n", 0, 0), "1") !=
		    0)
			ok = 0;
	}
	fake_body_piece = 3;
	CHECK("pieces", ok);
}

static void
test_hostile(void)
{
	char *buf, *p;
	size_t i;

	if ((buf = malloc(64 * 1024)) == NULL)
		abort();
	/* nesting past the limit */
	p = buf;
	for (i = 0; i < SEARCH_DEPTH_MAX + 1; i++)
		p += sprintf(p, "NOT ");
	strcpy(p, "SEEN");
	IS_BAD("deep not", buf);
	p = buf;
	for (i = 0; i < SEARCH_DEPTH_MAX; i++)
		p += sprintf(p, "NOT ");
	strcpy(p, "SEEN");
	EXPECT("deep not at limit", buf, "1 3");
	p = buf;
	for (i = 0; i < SEARCH_DEPTH_MAX + 1; i++)
		p += sprintf(p, "OR SEEN ");
	strcpy(p, "SEEN");
	IS_BAD("deep or", buf);
	/* keys past the limit */
	p = buf;
	for (i = 0; i < SEARCH_KEYS_MAX + 1; i++)
		p += sprintf(p, "%sSEEN", i ? " " : "");
	IS_BAD("many keys", buf);
	p = buf;
	for (i = 0; i < SEARCH_KEYS_MAX - 1; i++)
		p += sprintf(p, "%sSEEN", i ? " " : "");
	EXPECT("many keys at limit", buf, "1 3");
	/* a string past the limit */
	p = buf + sprintf(buf, "SUBJECT \"");
	memset(p, 'a', SEARCH_STRING_MAX + 1);
	strcpy(p + SEARCH_STRING_MAX + 1, "\"");
	IS_BAD("long string", buf);
	p = buf + sprintf(buf, "BODY \"");
	memset(p, 'a', SEARCH_STRING_MAX);
	strcpy(p + SEARCH_STRING_MAX, "\"");
	EXPECT("long string at limit", buf, "");
	/* a sequence set with too many ranges */
	p = buf;
	for (i = 0; i < SEARCH_RANGES_MAX + 1; i++)
		p += sprintf(p, "%s%zu", i ? "," : "", 2 * i + 1);
	IS_BAD("many ranges", buf);
	free(buf);
}

/* 10,000 messages: SUBJECT reads each one's Subject once, no body */
static void
test_large(void)
{
	enum { N = 10000 };
	struct fake_msg *big;
	void **ptrs;
	char **hdrs;
	struct imap_command cmd;
	struct search_program prog;
	struct search_context ctx;
	struct search_result res;
	char err[128];
	size_t i;
	int ok = 1;

	big = calloc(N, sizeof(*big));
	ptrs = calloc(N, sizeof(*ptrs));
	hdrs = calloc(N, sizeof(*hdrs));
	if (big == NULL || ptrs == NULL || hdrs == NULL)
		abort();
	for (i = 0; i < N; i++) {
		if (asprintf(&hdrs[i], "Subject: message %zu%s\n", i,
			i % 1000 == 7 ? " ÜBER" : "") == -1)
			abort();
		big[i].seq = i + 1;
		big[i].uid = 2 * i + 1;
		big[i].headers = hdrs[i];
		big[i].body = "über";
		ptrs[i] = &big[i];
	}
	memset(&cmd, 0, sizeof(cmd));
	CHECK("large parse",
	    fake_parse_args(&cmd, "CHARSET UTF-8 SUBJECT \"über\"") == 0 &&
		search_parse(&prog, cmd.args, cmd.nargs, 0, err,
		    sizeof(err)) == 0);
	imap_command_free(&cmd);
	memset(&ctx, 0, sizeof(ctx));
	ctx.ops = &fake_ops;
	ctx.nmsgs = N;
	ctx.uidmax = 2 * N - 1;
	fake_header_calls = fake_body_calls = 0;
	CHECK("large run", search_run(&prog, &ctx, ptrs, N, 1, &res) == 0);
	CHECK("large headers once", fake_header_calls == N);
	CHECK("large no body", fake_body_calls == 0);
	CHECK("large count", res.n == N / 1000);
	for (i = 0; i < res.n; i++)
		if (res.ids[i] != 2 * (i * 1000 + 7) + 1)
			ok = 0;
	CHECK("large ids", ok);
	/* one message at a time, as SORT and THREAD pick their messages */
	search_prepare(&prog, &ctx);
	CHECK("match one", search_match(&prog, &ctx, ptrs[1007]) == 1 &&
			       search_match(&prog, &ctx, ptrs[1008]) == 0);
	search_result_free(&res);
	search_program_free(&prog);
	for (i = 0; i < N; i++)
		free(hdrs[i]);
	free(hdrs);
	free(ptrs);
	free(big);
}

int
main(void)
{
	test_flags();
	test_sets();
	test_sizes_dates();
	test_strings();
	test_logic();
	test_charset_return();
	test_program_fields();
	test_cost_order();
	test_fold();
	test_pieces();
	test_hostile();
	test_large();
	TEST_EXIT();
}
