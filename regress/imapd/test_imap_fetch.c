/*
 * imap_fetch.c's pure parts: FETCH's data items and modifiers, STORE's
 * arguments and INTERNALDATE, over commands parsed as the session parses
 * them; every item, the malformed ones and the bounds.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "test.h"

static struct imap_command cmd;
static struct fetch_request req;
static struct store_request sreq;
static char err[128];

/*
 * "FETCH 1 " + text parsed as a command, then its items (and modifiers)
 * parsed by fetch_parse(): its result, -2 if the command did not parse.
 */
static int
fetch(const char *text, int uid)
{
	char line[IMAP_LINE_MAX + 64];
	int n;

	fetch_request_free(&req);
	imap_command_free(&cmd);
	n = snprintf(line, sizeof(line), "a FETCH 1 %s", text);
	if (n < 0 || (size_t)n >= sizeof(line))
		abort();
	if (imap_command_parse(&cmd, line, n, err, sizeof(err)) == -1 ||
	    cmd.nargs < 2)
		return -2;
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if (cmd.nargs > 3)
		return -2;
	return fetch_parse(&req, &cmd.args[1],
	    cmd.nargs == 3 ? &cmd.args[2] : NULL, uid, err, sizeof(err));
}

/* refused with a reason starting with why */
static int
bad(const char *text, const char *why)
{
	return fetch(text, 0) == -1 && strncmp(err, why, strlen(why)) == 0;
}

static int
store(const char *text)
{
	char line[IMAP_LINE_MAX + 64];
	int n;

	imap_command_free(&cmd);
	n = snprintf(line, sizeof(line), "a STORE 1 %s", text);
	if (n < 0 || (size_t)n >= sizeof(line))
		abort();
	if (imap_command_parse(&cmd, line, n, err, sizeof(err)) == -1 ||
	    cmd.nargs < 1)
		return -2;
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	return store_parse(
	    &sreq, cmd.args + 1, cmd.nargs - 1, err, sizeof(err));
}

static void
test_macros(void)
{
	CHECK("macro ALL",
	    fetch("ALL", 0) == 0 &&
		req.items ==
		    (FETCH_FLAGS | FETCH_INTERNALDATE | FETCH_RFC822_SIZE |
			FETCH_ENVELOPE) &&
		req.nsections == 0 && !req.sets_seen);
	CHECK("macro FAST",
	    fetch("fast", 0) == 0 &&
		req.items ==
		    (FETCH_FLAGS | FETCH_INTERNALDATE | FETCH_RFC822_SIZE));
	CHECK("macro FULL",
	    fetch("Full", 0) == 0 &&
		req.items ==
		    (FETCH_FLAGS | FETCH_INTERNALDATE | FETCH_RFC822_SIZE |
			FETCH_ENVELOPE | FETCH_BODY));
	CHECK("macro in a list", bad("(ALL)", "Unknown"));
	CHECK("macro with another", bad("(FAST UID)", "Unknown"));
	CHECK("UID FETCH ALL has UID",
	    fetch("ALL", 1) == 0 && (req.items & FETCH_UID));
}

static void
test_simple(void)
{
	static const struct {
		const char *name;
		uint32_t item;
	} items[] = {
	    {"UID", FETCH_UID},
	    {"flags", FETCH_FLAGS},
	    {"INTERNALDATE", FETCH_INTERNALDATE},
	    {"RFC822.SIZE", FETCH_RFC822_SIZE},
	    {"Envelope", FETCH_ENVELOPE},
	    {"BODY", FETCH_BODY},
	    {"BODYSTRUCTURE", FETCH_BODYSTRUCTURE},
	    {"MODSEQ", FETCH_MODSEQ},
	};
	char name[64];
	size_t i;

	for (i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		snprintf(name, sizeof(name), "item %s", items[i].name);
		CHECK(name,
		    fetch(items[i].name, 0) == 0 &&
			req.items == items[i].item && req.nsections == 0);
	}
	CHECK("a list of all",
	    fetch("(UID FLAGS INTERNALDATE RFC822.SIZE "
		  "ENVELOPE BODY BODYSTRUCTURE MODSEQ)",
		0) == 0 &&
		req.items == 0xff);
	CHECK("duplicates",
	    fetch("(FLAGS FLAGS UID)", 0) == 0 &&
		req.items == (FETCH_FLAGS | FETCH_UID));
	CHECK("UID FETCH FLAGS has UID",
	    fetch("FLAGS", 1) == 0 && req.items == (FETCH_FLAGS | FETCH_UID));
	CHECK("empty list", fetch("()", 0) == 0 && req.items == 0);
	CHECK("unknown", bad("FOO", "Unknown"));
	CHECK("unknown in list", bad("(FLAGS FOO)", "Unknown"));
	CHECK("RFC822.SIZES", bad("RFC822.SIZES", "Unknown"));
	CHECK("a string", bad("\"FLAGS\"", "Invalid"));
	CHECK("a string in a list", bad("(\"FLAGS\")", "FETCH data items"));
	CHECK("a nested list", bad("((FLAGS))", "FETCH data items"));
	CHECK("a number", bad("1", "Unknown"));
	CHECK("BODY.PEEK alone", bad("BODY.PEEK", "Unknown"));
	CHECK("BINARY alone", bad("BINARY", "Unknown"));
	CHECK("BINARY.SIZE alone", bad("BINARY.SIZE", "Unknown"));
}

static void
test_rfc822(void)
{
	CHECK("RFC822",
	    fetch("RFC822", 0) == 0 && req.nsections == 1 &&
		strcmp(req.sections[0].name, "RFC822") == 0 &&
		req.sections[0].kind == FETCH_SECTION_BODY &&
		!req.sections[0].peek && req.sets_seen &&
		req.sections[0].section.npart == 0 &&
		req.sections[0].section.text == IMAP_SECTION_BODY);
	CHECK("RFC822.HEADER peeks",
	    fetch("rfc822.header", 0) == 0 && req.nsections == 1 &&
		strcmp(req.sections[0].name, "RFC822.HEADER") == 0 &&
		req.sections[0].peek && !req.sets_seen &&
		req.sections[0].section.text == IMAP_SECTION_HEADER);
	CHECK("RFC822.TEXT",
	    fetch("RFC822.TEXT", 0) == 0 && req.nsections == 1 &&
		strcmp(req.sections[0].name, "RFC822.TEXT") == 0 &&
		req.sets_seen &&
		req.sections[0].section.text == IMAP_SECTION_TEXT);
	CHECK("RFC822 partial", bad("RFC822<0.1>", "Unknown"));
}

static void
test_sections(void)
{
	struct fetch_section *fs;

	CHECK("BODY[]",
	    fetch("BODY[]", 0) == 0 && req.nsections == 1 &&
		strcmp(req.sections[0].name, "BODY[]") == 0 &&
		!req.sections[0].peek && req.sets_seen &&
		!req.sections[0].partial);
	CHECK("BODY.PEEK[]",
	    fetch("body.peek[]", 0) == 0 && req.nsections == 1 &&
		strcmp(req.sections[0].name, "BODY[]") == 0 &&
		req.sections[0].peek && !req.sets_seen);
	CHECK("BODY[HEADER] upper-cased",
	    fetch("BODY.PEEK[header]", 0) == 0 &&
		strcmp(req.sections[0].name, "BODY[HEADER]") == 0 &&
		req.sections[0].section.text == IMAP_SECTION_HEADER);
	CHECK("HEADER.FIELDS",
	    fetch("BODY.PEEK[HEADER.FIELDS (Subject From)]", 0) == 0 &&
		strcmp(req.sections[0].name,
		    "BODY[HEADER.FIELDS (SUBJECT FROM)]") == 0 &&
		req.sections[0].section.text == IMAP_SECTION_HEADER_FIELDS &&
		req.sections[0].section.nfields == 2);
	CHECK("HEADER.FIELDS.NOT",
	    fetch("(BODY.PEEK[1.2.HEADER.FIELDS.NOT (X)] UID)", 0) == 0 &&
		req.items == FETCH_UID && req.nsections == 1 &&
		req.sections[0].section.npart == 2 &&
		req.sections[0].section.part[0] == 1 &&
		req.sections[0].section.part[1] == 2 &&
		req.sections[0].section.text == IMAP_SECTION_HEADER_FIELDS_NOT);
	CHECK("part MIME",
	    fetch("BODY[3.MIME]", 0) == 0 &&
		req.sections[0].section.text == IMAP_SECTION_MIME &&
		req.sets_seen);
	CHECK("part TEXT",
	    fetch("BODY[2.TEXT]", 0) == 0 &&
		req.sections[0].section.text == IMAP_SECTION_TEXT);
	CHECK("peek and not",
	    fetch("(BODY.PEEK[1] BODY[2])", 0) == 0 && req.nsections == 2 &&
		req.sets_seen);
	CHECK("many sections",
	    fetch("(BODY.PEEK[1] BODY.PEEK[2] BINARY.PEEK[3] "
		  "BINARY.SIZE[4] FLAGS)",
		0) == 0 &&
		req.nsections == 4 && !req.sets_seen &&
		req.items == FETCH_FLAGS);
	CHECK("BINARY[1]",
	    fetch("BINARY[1]", 0) == 0 &&
		req.sections[0].kind == FETCH_SECTION_BINARY &&
		strcmp(req.sections[0].name, "BINARY[1]") == 0 &&
		req.sets_seen);
	CHECK("BINARY.PEEK[]",
	    fetch("BINARY.PEEK[]", 0) == 0 &&
		req.sections[0].kind == FETCH_SECTION_BINARY &&
		strcmp(req.sections[0].name, "BINARY[]") == 0 &&
		!req.sets_seen);
	CHECK("BINARY.SIZE[1.1]",
	    fetch("binary.size[1.1]", 0) == 0 &&
		req.sections[0].kind == FETCH_SECTION_BINARY_SIZE &&
		strcmp(req.sections[0].name, "BINARY.SIZE[1.1]") == 0 &&
		!req.sets_seen);
	CHECK("BINARY[HEADER]", bad("BINARY[HEADER]", "Invalid section"));
	CHECK("BINARY[1.TEXT]", bad("BINARY[1.TEXT]", "Invalid section"));
	CHECK("BODY[FOO]", bad("BODY[FOO]", "Invalid section"));
	CHECK("BODY[0]", bad("BODY[0]", "Invalid section"));
	CHECK("BODY[1.]", bad("BODY[1.]", "Invalid section"));
	CHECK("BODY[MIME]", bad("BODY[MIME]", "Invalid section"));
	CHECK("BODY[HEADER.FIELDS]", bad("BODY[HEADER.FIELDS]", "Invalid"));
	CHECK(
	    "BODY[HEADER.FIELDS ()]", bad("BODY[HEADER.FIELDS ()]", "Invalid"));
	CHECK("BODYX[]", bad("BODYX[]", "Unknown"));
	CHECK("BODY.PEK[]", bad("BODY.PEK[]", "Unknown"));
	CHECK("FLAGS[]", bad("FLAGS[]", "Unknown"));
	CHECK("unterminated section", fetch("BODY[", 0) == -2);
	CHECK("text after section", bad("BODY[]x", "Invalid partial"));

	CHECK("partial",
	    fetch("BODY[]<0.100>", 0) == 0 &&
		(fs = &req.sections[0])->partial && fs->offset == 0 &&
		fs->count == 100 && strcmp(fs->name, "BODY[]") == 0);
	CHECK("partial 2^63-1",
	    fetch("BINARY[1]<9223372036854775807.9223372036854775807>", 0) ==
		    0 &&
		req.sections[0].offset == INT64_MAX &&
		req.sections[0].count == INT64_MAX);
	CHECK("partial past 2^63-1",
	    bad("BODY[]<9223372036854775808.1>", "Invalid partial"));
	CHECK("partial count past 2^63-1",
	    bad("BODY[]<0.99999999999999999999>", "Invalid partial"));
	CHECK("partial count 0", bad("BODY[]<0.0>", "Invalid partial"));
	CHECK("partial no count", bad("BODY[]<0>", "Invalid partial"));
	CHECK("partial no dot",
	    bad("BODY[]<0 1>", "Invalid") || fetch("BODY[]<0 1>", 0) == -2);
	CHECK("partial empty", bad("BODY[]<>", "Invalid partial"));
	CHECK("partial unended", bad("BODY[]<1.2", "Invalid partial"));
	CHECK("partial letters", bad("BODY[]<a.b>", "Invalid partial"));
	CHECK("partial sign", bad("BODY[]<-1.2>", "Invalid partial"));
	CHECK("partial plus", bad("BODY[]<1.+2>", "Invalid partial"));
	CHECK("partial twice", bad("BODY[]<1.2><1.2>", "Invalid partial"));
	CHECK("partial trailing", bad("BODY[]<1.2>x", "Invalid partial"));
	CHECK("partial two dots", bad("BODY[]<1.2.3>", "Invalid partial"));
	CHECK("partial of BINARY.SIZE",
	    bad("BINARY.SIZE[1]<0.1>", "BINARY.SIZE"));
}

static void
test_modifiers(void)
{
	CHECK("CHANGEDSINCE",
	    fetch("(FLAGS) (CHANGEDSINCE 12345)", 0) == 0 &&
		req.changedsince_set && req.changedsince == 12345 &&
		!req.vanished && (req.items & FETCH_MODSEQ));
	CHECK("CHANGEDSINCE 0",
	    fetch("FLAGS (CHANGEDSINCE 0)", 0) == 0 && req.changedsince_set &&
		req.changedsince == 0);
	CHECK("CHANGEDSINCE VANISHED",
	    fetch("FLAGS (CHANGEDSINCE 7 VANISHED)", 1) == 0 && req.vanished &&
		req.changedsince == 7 && (req.items & FETCH_UID));
	CHECK("VANISHED CHANGEDSINCE",
	    fetch("FLAGS (vanished changedsince 7)", 1) == 0 && req.vanished &&
		req.changedsince == 7);
	CHECK("VANISHED without UID",
	    bad("FLAGS (CHANGEDSINCE 7 VANISHED)", "VANISHED is"));
	CHECK("VANISHED alone",
	    fetch("FLAGS (VANISHED)", 1) == -1 &&
		strncmp(err, "VANISHED needs", 14) == 0);
	CHECK("CHANGEDSINCE 2^63-1",
	    fetch("FLAGS (CHANGEDSINCE 9223372036854775807)", 0) == 0 &&
		req.changedsince == INT64_MAX);
	CHECK("CHANGEDSINCE 2^63",
	    bad("FLAGS (CHANGEDSINCE 9223372036854775808)", "Invalid"));
	CHECK("CHANGEDSINCE no number",
	    bad("FLAGS (CHANGEDSINCE)", "Unknown FETCH modifier"));
	CHECK("CHANGEDSINCE a word", bad("FLAGS (CHANGEDSINCE x)", "Invalid"));
	CHECK("CHANGEDSINCE -1", bad("FLAGS (CHANGEDSINCE -1)", "Invalid"));
	CHECK("CHANGEDSINCE twice",
	    bad("FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "Unknown"));
	CHECK("VANISHED twice",
	    fetch("FLAGS (CHANGEDSINCE 1 VANISHED VANISHED)", 1) == -1);
	CHECK("unknown modifier", bad("FLAGS (PARTIAL 1:5)", "Unknown"));
	CHECK("empty modifiers", bad("FLAGS ()", "Invalid FETCH modifiers"));
	CHECK("modifiers not a list",
	    bad("FLAGS CHANGEDSINCE", "Invalid FETCH modifiers"));
	CHECK(
	    "a fourth argument", fetch("FLAGS (CHANGEDSINCE 1) (X)", 0) == -2);
}

static void
test_bounds(void)
{
	char *text;
	size_t i, off;
	int rv;

	/* FETCH_ATTS_MAX items, then one more */
	if ((text = malloc(FETCH_ATTS_MAX * 8 + 16)) == NULL)
		abort();
	off = 0;
	text[off++] = '(';
	for (i = 0; i < FETCH_ATTS_MAX; i++)
		off += sprintf(text + off, "%sFLAGS", i ? " " : "");
	strcpy(text + off, ")");
	CHECK("items at the bound", fetch(text, 0) == 0);
	strcpy(text + off, " UID)");
	CHECK("items past the bound", bad(text, "Too many"));
	free(text);

	/* sections at the bound are each allocated once */
	if ((text = malloc(FETCH_ATTS_MAX * 20 + 16)) == NULL)
		abort();
	off = 0;
	text[off++] = '(';
	for (i = 0; i < FETCH_ATTS_MAX; i++)
		off += sprintf(
		    text + off, "%sBODY.PEEK[%zu]", i ? " " : "", i + 1);
	strcpy(text + off, ")");
	CHECK("sections at the bound",
	    fetch(text, 0) == 0 && req.nsections == FETCH_ATTS_MAX);
	free(text);

	/* header fields at and past IMAP_SECTION_FIELDS_MAX */
	if ((text = malloc(IMAP_SECTION_FIELDS_MAX * 8 + 64)) == NULL)
		abort();
	off = sprintf(text, "BODY[HEADER.FIELDS (");
	for (i = 0; i < IMAP_SECTION_FIELDS_MAX; i++)
		off += sprintf(text + off, "%sX%zu", i ? " " : "", i);
	strcpy(text + off, ")]");
	rv = fetch(text, 0);
	CHECK("fields at the bound",
	    rv == 0 &&
		req.sections[0].section.nfields == IMAP_SECTION_FIELDS_MAX);
	strcpy(text + off, " Y)]");
	CHECK("fields past the bound", bad(text, "Invalid section"));
	free(text);

	/* part numbers: deep and huge */
	CHECK("part 2^32", bad("BODY[4294967296]", "Invalid section"));
	CHECK("deep part",
	    fetch("BODY[1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1]", 0) == 0 &&
		req.sections[0].section.npart == 16);
}

static void
test_store(void)
{
	CHECK("FLAGS",
	    store("FLAGS (\\Seen)") == 0 && sreq.op == STORE_SET &&
		!sreq.silent && sreq.flags_list && sreq.nflags == 1 &&
		sreq.flags->type == IMAP_ARG_LIST && sreq.flags->nlist == 1 &&
		!sreq.unchangedsince_set);
	CHECK("+FLAGS",
	    store("+FLAGS (\\Seen \\Deleted)") == 0 && sreq.op == STORE_ADD &&
		sreq.flags->nlist == 2);
	CHECK("-flags.silent",
	    store("-flags.silent (\\Seen)") == 0 && sreq.op == STORE_REMOVE &&
		sreq.silent);
	CHECK("FLAGS.SILENT ()",
	    store("FLAGS.SILENT ()") == 0 && sreq.op == STORE_SET &&
		sreq.silent && sreq.flags_list && sreq.flags->nlist == 0);
	CHECK("flags without a list",
	    store("+FLAGS \\Seen $Junk") == 0 && !sreq.flags_list &&
		sreq.nflags == 2 && strcmp(sreq.flags[1].str, "$Junk") == 0);
	CHECK("UNCHANGEDSINCE",
	    store("(UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)") ==
		    0 &&
		sreq.unchangedsince_set && sreq.unchangedsince == 320162338 &&
		sreq.silent && sreq.op == STORE_ADD);
	CHECK("UNCHANGEDSINCE 0",
	    store("(UNCHANGEDSINCE 0) FLAGS ()") == 0 &&
		sreq.unchangedsince_set && sreq.unchangedsince == 0);
	CHECK("UNCHANGEDSINCE 2^63",
	    store("(UNCHANGEDSINCE 9223372036854775808) FLAGS ()") == -1);
	CHECK("UNCHANGEDSINCE no number",
	    store("(UNCHANGEDSINCE) FLAGS ()") == -1);
	CHECK("UNCHANGEDSINCE extra",
	    store("(UNCHANGEDSINCE 1 2) FLAGS ()") == -1);
	CHECK("unknown modifier", store("(FOO 1) FLAGS ()") == -1);
	CHECK("no flags", store("+FLAGS") == -1);
	CHECK("no item", store("(\\Seen)") == -1);
	CHECK("unknown item",
	    store("+LABELS (x)") == -1 &&
		strncmp(err, "Unknown STORE item", 18) == 0);
	CHECK("++FLAGS", store("++FLAGS (x)") == -1);
	CHECK("+FLAGS.SILENTX", store("+FLAGS.SILENTX (x)") == -1);
	CHECK("FLAGS.", store("FLAGS. (x)") == -1);
	CHECK("+", store("+ (x)") == -1);
	CHECK("item a string", store("\"FLAGS\" (x)") == -1);
	CHECK("list then more", store("FLAGS (\\Seen) \\Deleted") == -1);
	CHECK("a string flag", store("FLAGS \\Seen \"x\"") == -1);
	CHECK("a list among flags", store("FLAGS \\Seen (x)") == -1);
}

static void
test_date(void)
{
	char buf[64];

	CHECK("date epoch",
	    fetch_date_format(0, buf, sizeof(buf)) == 0 &&
		strcmp(buf, " 1-Jan-1970 00:00:00 +0000") == 0);
	CHECK("date two-digit day",
	    fetch_date_format(1796677278, buf, sizeof(buf)) == 0 &&
		strcmp(buf, "07-Dec-2026 21:01:18 +0000") != 0 &&
		strcmp(buf, " 7-Dec-2026 21:01:18 +0000") == 0);
	CHECK("date 31 Dec",
	    fetch_date_format(946684799, buf, sizeof(buf)) == 0 &&
		strcmp(buf, "31-Dec-1999 23:59:59 +0000") == 0);
	CHECK("date exact size",
	    fetch_date_format(946684799, buf, 27) == 0 && strlen(buf) == 26);
	CHECK("date too small", fetch_date_format(946684799, buf, 26) == -1);
	CHECK("date past 9999",
	    fetch_date_format(INT64_C(253402300800), buf, sizeof(buf)) == -1);
	CHECK("date hostile",
	    fetch_date_format(INT64_MAX, buf, sizeof(buf)) == -1);
	CHECK("date hostile negative",
	    fetch_date_format(INT64_MIN, buf, sizeof(buf)) == -1);
	CHECK("date year 0",
	    fetch_date_format(INT64_C(-62167219200), buf, sizeof(buf)) == 0 &&
		strcmp(buf, " 1-Jan-0000 00:00:00 +0000") == 0);
	CHECK("date before year 0",
	    fetch_date_format(INT64_C(-62167219201), buf, sizeof(buf)) == -1);
	CHECK("date last of 9999",
	    fetch_date_format(INT64_C(253402300799), buf, sizeof(buf)) == 0 &&
		strcmp(buf, "31-Dec-9999 23:59:59 +0000") == 0);
}

/* the arithmetic against gmtime_r() over the years IMAP can show */
static void
test_date_gmtime(void)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	const int64_t lo = INT64_C(-62167219200), hi = INT64_C(253402300799);
	char got[64], want[64];
	uint64_t x = 88172645463325252ULL;
	struct tm tm;
	time_t tt;
	int64_t t;
	int i, ok = 1;

	for (i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i % 4 == 0)
			t = (int64_t)(x % 4000000000ULL); /* 1970-2096 */
		else if (i % 4 == 1)
			t = (int64_t)(x % 86400) + 86400 * (int64_t)(i / 4 % 800 -
							      400);
		else
			t = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
		tt = (time_t)t;
		if (gmtime_r(&tt, &tm) == NULL)
			continue;
		snprintf(want, sizeof(want), "%2d-%s-%04d %02d:%02d:%02d +0000",
		    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		if (fetch_date_format(t, got, sizeof(got)) == -1 ||
		    strcmp(got, want) != 0) {
			fprintf(stderr, "%lld: %s, not %s\n", (long long)t, got,
			    want);
			ok = 0;
			break;
		}
	}
	CHECK("date as gmtime_r", ok);
}

int
main(void)
{
	test_macros();
	test_simple();
	test_rfc822();
	test_sections();
	test_modifiers();
	test_bounds();
	test_store();
	test_date();
	test_date_gmtime();
	fetch_request_free(&req);
	imap_command_free(&cmd);
	TEST_EXIT();
}
