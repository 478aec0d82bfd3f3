/*
 * smtp_body.c: DATA and BDAT intake.  Every message is fed whole, cut at
 * every octet (twice over for short ones) and one octet at a time, and
 * must come out the same: the smuggling variants, bare CR and LF,
 * dot-stuffing, the line and size limits, chunk sequences, the writer,
 * and the Received header.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpd.h"
#include "test.h"

#define T_2026	 ((time_t)1767225600) /* Thu, 01 Jan 2026 00:00:00 UTC */
#define NO_LIMIT UINT64_MAX

/* the writer: everything in memory; fails from write fail_at on */
struct sink {
	uint8_t *buf;
	size_t len;
	int writes;
	int fail_at; /* 0: never */
};

static int
sink_write(void *arg, const void *data, size_t len)
{
	struct sink *k = arg;

	if (k->fail_at != 0 && k->writes + 1 >= k->fail_at)
		return -1;
	k->writes++;
	if ((k->buf = realloc(k->buf, k->len + len)) == NULL)
		abort();
	memcpy(k->buf + k->len, data, len);
	k->len += len;
	return 0;
}

static const struct smtp_received plain = {"mx.test", 1, NULL, T_2026, 0};

/* a transaction as the session has it at DATA: one recipient */
static void
txn_init(struct smtp_transaction *t, int nrcpt)
{
	struct envelope_rcpt r;
	int i;

	memset(t, 0, sizeof(*t));
	t->active = 1;
	strlcpy(t->env.helo, "client.test", sizeof(t->env.helo));
	strlcpy(t->env.client_addr, "192.0.2.1", sizeof(t->env.client_addr));
	strlcpy(t->env.sender, "bob@client.test", sizeof(t->env.sender));
	for (i = 0; i < nrcpt; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(r.addr, sizeof(r.addr), "alice%d@example.test", i);
		snprintf(
		    r.mailbox, sizeof(r.mailbox), "example.test/alice%d", i);
		envelope_add_rcpt(&t->env, &r);
	}
	t->msgid = 0x1234;
}

static size_t
header_len(void)
{
	struct smtp_transaction t;
	char hdr[SMTP_RECEIVED_MAX];
	size_t n;

	txn_init(&t, 1);
	n = smtp_received_header(&t, &plain, hdr, sizeof(hdr));
	smtp_transaction_reset(&t);
	return n;
}

/* what one feeding of a message gave */
struct outcome {
	int done;      /* DATA ended, or the LAST chunk was read */
	int status;    /* enum smtp_body_status, -1 if not done */
	size_t taken;  /* octets the body took */
	uint8_t *body; /* what was written, the Received header cut off */
	size_t bodylen;
	uint64_t size; /* as the transaction counted it */
	uint32_t crc;
	int crc_ok; /* crc and size are those of what was written */
};

static void
outcome_free(struct outcome *o)
{
	free(o->body);
	memset(o, 0, sizeof(*o));
}

static int
outcome_same(const struct outcome *a, const struct outcome *b)
{
	if (a->done != b->done || a->status != b->status ||
	    a->taken != b->taken)
		return 0;
	/* what a refused message wrote does not matter */
	if (a->status != SMTP_BODY_OK)
		return 1;
	return a->bodylen == b->bodylen &&
	    memcmp(a->body, b->body, a->bodylen) == 0 && a->size == b->size &&
	    a->crc == b->crc && b->crc_ok;
}

static void
outcome_take(
    struct outcome *o, struct smtp_transaction *t, struct sink *k, int status)
{
	size_t hl = header_len();

	o->done = status != -1;
	o->status = status;
	o->size = t->size;
	o->crc = t->crc;
	o->crc_ok = status == SMTP_BODY_OK && k->len == t->size &&
	    crc32_update(0, k->buf, k->len) == t->crc;
	if (k->len >= hl) {
		o->bodylen = k->len - hl;
		if ((o->body = malloc(o->bodylen + 1)) == NULL)
			abort();
		memcpy(o->body, k->buf + hl, o->bodylen);
	}
	free(k->buf);
	smtp_transaction_reset(t);
}

/*
 * DATA: the wire in pieces ending at cuts[] (increasing), then the rest;
 * it stops where the body says DATA ended.
 */
static void
data_feed(const char *wire, size_t len, const size_t *cuts, size_t ncuts,
    uint64_t max, int fail_at, struct outcome *o)
{
	struct smtp_transaction t;
	struct sink k = {NULL, 0, 0, fail_at};
	size_t from = 0, to, i, n;
	int done = 0;

	memset(o, 0, sizeof(*o));
	txn_init(&t, 1);
	smtp_body_begin(&t, max, sink_write, &k, &plain);
	for (i = 0; i <= ncuts && !done; i++) {
		to = i < ncuts ? cuts[i] : len;
		n = smtp_body_data(&t, wire + from, to - from, &done);
		o->taken += n;
		/* a piece is taken whole unless DATA ended in it */
		if (!done && n != to - from)
			o->taken = SIZE_MAX;
		from = to;
	}
	outcome_take(o, &t, &k, done ? (int)smtp_body_finish(&t) : -1);
}

/*
 * BDAT: the message in chunks ending at cuts[], the last one LAST; each
 * chunk is fed with more input after it, as a pipelining client sends it.
 * With empty_last the chunks end with a BDAT 0 LAST.
 */
static void
bdat_feed(const char *msg, size_t len, const size_t *cuts, size_t ncuts,
    int empty_last, uint64_t max, struct outcome *o)
{
	struct smtp_transaction t;
	struct sink k = {NULL, 0, 0, 0};
	/* what follows a chunk on the wire, which it must not take */
	static const char more[] = "BDAT 0 LAST\r\n";
	size_t from = 0, to, i, n, wlen = len + sizeof(more) - 1;
	char *wire;

	memset(o, 0, sizeof(*o));
	if ((wire = malloc(wlen)) == NULL)
		abort();
	memcpy(wire, msg, len);
	memcpy(wire + len, more, sizeof(more) - 1);
	txn_init(&t, 1);
	t.bdat = 1;
	smtp_body_begin(&t, max, sink_write, &k, &plain);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : len;
		smtp_body_chunk_begin(&t, to - from, i == ncuts && !empty_last);
		n = smtp_body_chunk(&t, wire + from, wlen - from);
		if (n != to - from || t.chunk_left != 0)
			o->taken = SIZE_MAX;
		else if (o->taken != SIZE_MAX)
			o->taken += n;
		from = to;
	}
	if (empty_last) {
		smtp_body_chunk_begin(&t, 0, 1);
		if (smtp_body_chunk(&t, wire + len, wlen - len) != 0)
			o->taken = SIZE_MAX;
	}
	free(wire);
	outcome_take(o, &t, &k, t.chunk_last ? (int)smtp_body_finish(&t) : -1);
}

/*
 * The wire fed whole must give status, taken and (if accepted) body;
 * then cut once at every octet, twice at every pair for short wires, and
 * one octet at a time it must give the same.
 */
static void
check_data_max(const char *name, const char *wire, size_t len, int status,
    const char *body, size_t taken, uint64_t max)
{
	struct outcome whole, o;
	size_t cuts[2], *bytes, i, j, bad = 0;
	char what[256];

	data_feed(wire, len, NULL, 0, max, 0, &whole);
	snprintf(what, sizeof(what), "%s: whole", name);
	CHECK(what,
	    whole.status == status && whole.taken == taken &&
		(status != SMTP_BODY_OK ||
		    (whole.bodylen == strlen(body) &&
			memcmp(whole.body, body, whole.bodylen) == 0 &&
			whole.crc_ok)));
	for (i = 1; i < len; i++) {
		cuts[0] = i;
		data_feed(wire, len, cuts, 1, max, 0, &o);
		bad += !outcome_same(&whole, &o);
		outcome_free(&o);
		for (j = i + 1; len <= 80 && j < len; j++) {
			cuts[1] = j;
			data_feed(wire, len, cuts, 2, max, 0, &o);
			bad += !outcome_same(&whole, &o);
			outcome_free(&o);
		}
	}
	snprintf(what, sizeof(what), "%s: cut everywhere", name);
	CHECK(what, bad == 0);
	if ((bytes = calloc(len + 1, sizeof(*bytes))) == NULL)
		abort();
	for (i = 0; i + 1 < len; i++)
		bytes[i] = i + 1;
	data_feed(wire, len, bytes, len > 0 ? len - 1 : 0, max, 0, &o);
	snprintf(what, sizeof(what), "%s: one octet at a time", name);
	CHECK(what, outcome_same(&whole, &o));
	outcome_free(&o);
	free(bytes);
	outcome_free(&whole);
}

static void
check_data(const char *name, const char *wire, int status, const char *body,
    size_t taken)
{
	check_data_max(name, wire, strlen(wire), status, body, taken, NO_LIMIT);
}

/* the same for BDAT: chunk boundaries everywhere, then 1-octet chunks */
static void
check_bdat_max(const char *name, const char *msg, size_t len, int status,
    const char *body, uint64_t max)
{
	struct outcome whole, o;
	size_t cuts[2], *bytes, i, j, bad = 0;
	char what[256];

	bdat_feed(msg, len, NULL, 0, 0, max, &whole);
	snprintf(what, sizeof(what), "%s: one chunk", name);
	CHECK(what,
	    whole.status == status && whole.taken == len &&
		(status != SMTP_BODY_OK ||
		    (whole.bodylen == strlen(body) &&
			memcmp(whole.body, body, whole.bodylen) == 0 &&
			whole.crc_ok)));
	bdat_feed(msg, len, NULL, 0, 1, max, &o);
	snprintf(what, sizeof(what), "%s: then BDAT 0 LAST", name);
	CHECK(what, outcome_same(&whole, &o));
	outcome_free(&o);
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		bdat_feed(msg, len, cuts, 1, i % 2, max, &o);
		bad += !outcome_same(&whole, &o);
		outcome_free(&o);
		for (j = i; len <= 80 && j <= len; j++) {
			cuts[1] = j;
			bdat_feed(msg, len, cuts, 2, 0, max, &o);
			bad += !outcome_same(&whole, &o);
			outcome_free(&o);
		}
	}
	snprintf(what, sizeof(what), "%s: chunks cut everywhere", name);
	CHECK(what, bad == 0);
	if ((bytes = calloc(len + 1, sizeof(*bytes))) == NULL)
		abort();
	for (i = 0; i + 1 < len; i++)
		bytes[i] = i + 1;
	bdat_feed(msg, len, bytes, len > 0 ? len - 1 : 0, 0, max, &o);
	snprintf(what, sizeof(what), "%s: one-octet chunks", name);
	CHECK(what, outcome_same(&whole, &o));
	outcome_free(&o);
	free(bytes);
	outcome_free(&whole);
}

static void
check_bdat(const char *name, const char *msg, int status, const char *body)
{
	check_bdat_max(name, msg, strlen(msg), status, body, NO_LIMIT);
}

#define HEAD	"Subject: x\r\n\r\n"
#define HEAD_LF "Subject: x\n\n"
#define SMUGGLED                                                         \
	"MAIL FROM:<evil@client.test>\r\nRCPT TO:<bob@example.test>\r\n" \
	"DATA\r\nSubject: smuggled\r\n\r\nINNER\r\n"
#define AFTER "QUIT\r\n"
/* a bare LF, a dot line that is text after it, the end */
#define LF_DOT_DOT "\n.\r\n.\r\n"

/* a smuggling attempt: refused, and DATA ends at the real CRLF.CRLF only */
static void
check_smuggle(const char *name, const char *fake_end)
{
	char wire[1024];
	size_t taken;

	snprintf(wire, sizeof(wire), "%sfake end%s%s\r\n.\r\n", HEAD, fake_end,
	    SMUGGLED);
	taken = strlen(wire);
	strlcat(wire, AFTER, sizeof(wire));
	check_data(name, wire, SMTP_BODY_BARE_CRLF, NULL, taken);
}

static void
test_data(void)
{
	check_data("data plain", HEAD "body\r\n.\r\n", SMTP_BODY_OK,
	    HEAD_LF "body\n", strlen(HEAD "body\r\n.\r\n"));
	check_data("data commands after the end",
	    HEAD "body\r\n.\r\nMAIL FROM:<a@b.test>\r\n", SMTP_BODY_OK,
	    HEAD_LF "body\n", strlen(HEAD "body\r\n.\r\n"));
	check_data("data empty", ".\r\n", SMTP_BODY_OK, "", 3);
	check_data("data empty, then more", ".\r\n.\r\n", SMTP_BODY_OK, "", 3);
	check_data("data one empty line", "\r\n.\r\n", SMTP_BODY_OK, "\n", 5);
	check_data("data not ended", HEAD "body\r\n.", -1, NULL,
	    strlen(HEAD "body\r\n."));
	check_data("data not ended by CR", HEAD "body\r\n.\r", -1, NULL,
	    strlen(HEAD "body\r\n.\r"));
	check_data("data 8-bit", "\xff\xfe\x80x\r\n.\r\n", SMTP_BODY_OK,
	    "\xff\xfe\x80x\n", 9);
}

static void
test_data_nul(void)
{
	static const char wire[] = "a\0b\r\n\0\r\n.\r\n";
	static const char body[] = "a\0b\n\0\n";
	struct outcome o;

	data_feed(wire, sizeof(wire) - 1, NULL, 0, NO_LIMIT, 0, &o);
	CHECK("data NUL octets kept",
	    o.status == SMTP_BODY_OK && o.taken == sizeof(wire) - 1 &&
		o.bodylen == sizeof(body) - 1 &&
		memcmp(o.body, body, o.bodylen) == 0);
	outcome_free(&o);
}

static void
test_dot_stuffing(void)
{
	check_data("dot-stuffed line", "..x\r\n.\r\n", SMTP_BODY_OK, ".x\n", 8);
	check_data("dot-stuffed dot", "..\r\n.\r\n", SMTP_BODY_OK, ".\n", 7);
	check_data("dot-stuffed dots", "...\r\n.\r\n", SMTP_BODY_OK, "..\n", 8);
	check_data("unstuffed dot line", ".x\r\n.\r\n", SMTP_BODY_OK, "x\n", 7);
	check_data("dot then space", ". \r\n.\r\n", SMTP_BODY_OK, " \n", 7);
	check_data("dot inside a line", "a.b\r\n.a\r\n.\r\n", SMTP_BODY_OK,
	    "a.b\na\n", 12);
	check_data("dot lines between lines", "a\r\n..\r\nb\r\n.\r\n",
	    SMTP_BODY_OK, "a\n.\nb\n", 13);
}

static void
test_smuggling(void)
{
	check_smuggle("smuggle LF.LF", "\n.\n");
	check_smuggle("smuggle LF.CRLF", "\n.\r\n");
	check_smuggle("smuggle CRLF.LF", "\r\n.\n");
	check_smuggle("smuggle CR.CR", "\r.\r");
	check_smuggle("smuggle CRLF.CR", "\r\n.\r");
	check_smuggle("smuggle CR.CRLF", "\r.\r\n");
	check_smuggle("smuggle CR.LF", "\r.\n");
	check_smuggle("smuggle LF.CR", "\n.\r");
	check_smuggle("smuggle CRLF.CRCRLF", "\r\n.\r\r\n");
	check_smuggle("smuggle CRLF.SP", "\r\n. \r");

	check_data("bare CR mid-line", HEAD "a\rb\r\n.\r\n",
	    SMTP_BODY_BARE_CRLF, NULL, strlen(HEAD "a\rb\r\n.\r\n"));
	check_data("bare LF mid-line", HEAD "a\nb\r\n.\r\n",
	    SMTP_BODY_BARE_CRLF, NULL, strlen(HEAD "a\nb\r\n.\r\n"));
	check_data("bare CR at line start", HEAD "\rab\r\n.\r\n",
	    SMTP_BODY_BARE_CRLF, NULL, strlen(HEAD "\rab\r\n.\r\n"));
	check_data("bare LF at line start", HEAD "\nab\r\n.\r\n",
	    SMTP_BODY_BARE_CRLF, NULL, strlen(HEAD "\nab\r\n.\r\n"));
	check_data("bare CR at the start", "\r\r\n.\r\n", SMTP_BODY_BARE_CRLF,
	    NULL, 6);
	check_data("bare LF at the start", "\n.\r\n.\r\n", SMTP_BODY_BARE_CRLF,
	    NULL, 7);
	check_data("CR before CRLF", HEAD "ab\r\r\n.\r\n", SMTP_BODY_BARE_CRLF,
	    NULL, strlen(HEAD "ab\r\r\n.\r\n"));
	check_data("bare CR after a dot", ".\rx\r\n.\r\n", SMTP_BODY_BARE_CRLF,
	    NULL, 8);
	/* after a line with a bare LF, CRLF.CRLF is two lines' worth away */
	check_data("dot after bare LF is text", "a\n.\r\nb\r\n.\r\n",
	    SMTP_BODY_BARE_CRLF, NULL, 11);
}

/* a line of n octets, CRLF included, made of c, starting with first */
static char *
line_of(size_t n, char first, const char *end)
{
	static char buf[8192];

	memset(buf, 'x', n - 2);
	buf[0] = first;
	memcpy(buf + n - 2, "\r\n", 2);
	buf[n] = '\0';
	strlcat(buf, end, sizeof(buf));
	return buf;
}

static void
test_line_limit(void)
{
	char body[1100], *wire;

	memset(body, 'x', 998);
	memcpy(body + 998, "\n", 2);
	wire = line_of(1000, 'x', ".\r\n");
	check_data("data line of 1000 octets", wire, SMTP_BODY_OK, body, 1003);
	wire = line_of(1001, 'x', ".\r\n");
	check_data("data line of 1001 octets", wire, SMTP_BODY_LINE_TOO_LONG,
	    NULL, 1004);
	/* the stuffing dot counts: it is on the wire */
	wire = line_of(1000, '.', ".\r\n");
	check_data("data stuffed line of 1000 octets", wire, SMTP_BODY_OK,
	    body + 1, 1003);
	wire = line_of(1001, '.', ".\r\n");
	check_data("data stuffed line of 1001 octets", wire,
	    SMTP_BODY_LINE_TOO_LONG, NULL, 1004);
	/* in DATA an overlong line is that, whatever else is wrong in it */
	wire = line_of(1500, 'x', ".\r\n");
	wire[700] = '\r';
	check_data("data overlong line with a bare CR", wire,
	    SMTP_BODY_LINE_TOO_LONG, NULL, 1503);
	/* after a line ending in a bare LF, a dot line is text */
	wire = line_of(1500, 'x', "");
	memcpy(wire + 1498, LF_DOT_DOT, sizeof(LF_DOT_DOT));
	check_data("data overlong line ending in LF", wire,
	    SMTP_BODY_LINE_TOO_LONG, NULL, 1505);
	/* 999 octets and a bare LF: not too long, bare */
	wire = line_of(1001, 'x', "");
	memcpy(wire + 999, LF_DOT_DOT, sizeof(LF_DOT_DOT));
	check_data("data 999 octets and a bare LF", wire, SMTP_BODY_BARE_CRLF,
	    NULL, 1006);
	/* an overlong line in CRLF still lets the dot after it end DATA */
	wire = line_of(5000, 'x', ".\r\nQUIT\r\n");
	check_data("data end after an overlong line", wire,
	    SMTP_BODY_LINE_TOO_LONG, NULL, 5003);
	/* a bare CR elsewhere still wins */
	wire = line_of(1500, 'x', "a\rb\r\n.\r\n");
	check_data("data bare CR beats a long line", wire, SMTP_BODY_BARE_CRLF,
	    NULL, 1508);
}

static void
test_size_limit(void)
{
	const char *wire = HEAD "0123456789\r\n.\r\n";
	uint64_t exact = header_len() + strlen(HEAD_LF "0123456789\n");

	check_data_max("data size exactly at the limit", wire, strlen(wire),
	    SMTP_BODY_OK, HEAD_LF "0123456789\n", strlen(wire), exact);
	check_data_max("data size one past the limit", wire, strlen(wire),
	    SMTP_BODY_TOO_BIG, NULL, strlen(wire), exact - 1);
	check_data_max("data Received alone too big", ".\r\n", 3,
	    SMTP_BODY_TOO_BIG, NULL, 3, header_len() - 1);
	check_data_max("data Received alone at the limit", ".\r\n", 3,
	    SMTP_BODY_OK, "", 3, header_len());
	check_data_max("data bare LF beats too big", "a\nb\r\n.\r\n", 8,
	    SMTP_BODY_BARE_CRLF, NULL, 8, header_len());
	check_data_max("data long line beats too big",
	    line_of(1200, 'x', ".\r\n"), 1203, SMTP_BODY_LINE_TOO_LONG, NULL,
	    1203, header_len() + 10);

	check_bdat_max("bdat size exactly at the limit", "0123456789\r\n", 12,
	    SMTP_BODY_OK, "0123456789\n", header_len() + 11);
	check_bdat_max("bdat size one past the limit", "0123456789\r\n", 12,
	    SMTP_BODY_TOO_BIG, NULL, header_len() + 10);
	check_bdat_max("bdat unterminated line at the limit", "0123456789", 10,
	    SMTP_BODY_OK, "0123456789\n", header_len() + 11);
	check_bdat_max("bdat unterminated line past the limit", "0123456789",
	    10, SMTP_BODY_TOO_BIG, NULL, header_len() + 10);
}

static void
test_bdat(void)
{
	char body[1100], *msg;

	check_bdat(
	    "bdat plain", HEAD "body\r\n", SMTP_BODY_OK, HEAD_LF "body\n");
	check_bdat("bdat empty", "", SMTP_BODY_OK, "");
	check_bdat("bdat dot lines are text", ".\r\n..\r\n.x\r\n", SMTP_BODY_OK,
	    ".\n..\n.x\n");
	check_bdat("bdat CRLF.CRLF is text", "a\r\n.\r\nb\r\n", SMTP_BODY_OK,
	    "a\n.\nb\n");
	check_bdat(
	    "bdat last line without CRLF", "a\r\nb", SMTP_BODY_OK, "a\nb\n");
	check_bdat(
	    "bdat bare LF", HEAD "bare\nLF\r\n", SMTP_BODY_BARE_CRLF, NULL);
	check_bdat(
	    "bdat bare CR", HEAD "bare\rCR\r\n", SMTP_BODY_BARE_CRLF, NULL);
	check_bdat(
	    "bdat bare LF at the start", "\nx\r\n", SMTP_BODY_BARE_CRLF, NULL);
	check_bdat(
	    "bdat bare CR at the start", "\rx\r\n", SMTP_BODY_BARE_CRLF, NULL);
	check_bdat("bdat CR at the end", "x\r\ny\r", SMTP_BODY_BARE_CRLF, NULL);
	check_bdat("bdat LF at the end", "x\r\ny\n", SMTP_BODY_BARE_CRLF, NULL);
	check_bdat("bdat CR CR LF", "x\r\r\n", SMTP_BODY_BARE_CRLF, NULL);
	check_bdat("bdat smuggling LF.LF", "a\n.\nMAIL FROM:<x@y.test>\r\n",
	    SMTP_BODY_BARE_CRLF, NULL);
	check_bdat("bdat smuggling CR.CR", "a\r.\rMAIL FROM:<x@y.test>\r\n",
	    SMTP_BODY_BARE_CRLF, NULL);

	memset(body, 'x', 998);
	memcpy(body + 998, "\n", 2);
	msg = line_of(1000, 'x', "");
	check_bdat("bdat line of 1000 octets", msg, SMTP_BODY_OK, body);
	msg = line_of(1001, 'x', "");
	check_bdat(
	    "bdat line of 1001 octets", msg, SMTP_BODY_LINE_TOO_LONG, NULL);
	msg = line_of(1000, 'x', "");
	msg[998] = '\0';
	check_bdat("bdat last line of 998 octets", msg, SMTP_BODY_OK, body);
	msg = line_of(1001, 'x', "");
	msg[999] = '\0';
	check_bdat(
	    "bdat last line of 999 octets", msg, SMTP_BODY_LINE_TOO_LONG, NULL);
	/* in BDAT a bare CR is that, even in an overlong line */
	msg = line_of(1500, 'x', "");
	msg[700] = '\r';
	check_bdat("bdat overlong line with a bare CR", msg,
	    SMTP_BODY_BARE_CRLF, NULL);
}

static void
test_chunks(void)
{
	struct smtp_transaction t;
	struct sink k = {NULL, 0, 0, 0};
	uint64_t size;

	txn_init(&t, 1);
	t.bdat = 1;
	smtp_body_begin(&t, NO_LIMIT, sink_write, &k, &plain);
	size = t.size;
	smtp_body_chunk_begin(&t, 10, 0);
	CHECK("chunk takes its size",
	    smtp_body_chunk(&t, "0123456789BDAT 3 LAST", 21) == 10 &&
		t.chunk_left == 0 && t.chunk_size == 10 && !t.chunk_last);
	CHECK("chunk done takes nothing", smtp_body_chunk(&t, "BDAT", 4) == 0);
	smtp_body_chunk_begin(&t, 5, 0);
	CHECK("chunk in pieces",
	    smtp_body_chunk(&t, "ab", 2) == 2 && t.chunk_left == 3 &&
		smtp_body_chunk(&t, "cdefg", 5) == 3 && t.chunk_left == 0);
	smtp_body_chunk_begin(&t, 4, 0);
	t.chunk_discard = 1;
	CHECK("chunk discarded",
	    smtp_body_chunk(&t, "wxyz", 4) == 4 && t.chunk_left == 0 &&
		t.size == size + 15);
	smtp_body_chunk_begin(&t, 2, 1);
	CHECK("chunk begin clears discard",
	    !t.chunk_discard && !t.chunk_failed && t.chunk_last);
	CHECK("last chunk", smtp_body_chunk(&t, "\r\n", 2) == 2);
	CHECK("chunks joined",
	    smtp_body_finish(&t) == SMTP_BODY_OK && k.len == size + 16 &&
		memcmp(k.buf + size, "0123456789abcde\n", 16) == 0);
	free(k.buf);
	smtp_transaction_reset(&t);
	CHECK("reset zeroes",
	    t.buf == NULL && !t.active && t.env.nrcpt == 0 &&
		t.env.rcpt == NULL && t.size == 0 && !t.bdat);
}

/* a message larger than the buffer reaches the writer whole, in pieces */
static void
test_writer(void)
{
	static char wire[300000];
	struct outcome o;
	size_t i, n = 0;

	for (i = 0; n + 100 < sizeof(wire); i++)
		n += (size_t)snprintf(wire + n, sizeof(wire) - n,
		    "%sline %zu of a long message\r\n", i % 7 ? "" : "..", i);
	n += (size_t)snprintf(wire + n, sizeof(wire) - n, ".\r\n");
	data_feed(wire, n, NULL, 0, NO_LIMIT, 0, &o);
	CHECK("large message accepted",
	    o.status == SMTP_BODY_OK && o.taken == n && o.crc_ok &&
		memchr(o.body, '\r', o.bodylen) == NULL && o.bodylen < n &&
		memcmp(o.body, ".line 0 ", 8) == 0);
	outcome_free(&o);
	data_feed(wire, n, NULL, 0, NO_LIMIT, 2, &o);
	CHECK("writer failure",
	    o.status == SMTP_BODY_WRITE_ERROR && o.taken == n);
	outcome_free(&o);
	data_feed(".\r\n", 3, NULL, 0, NO_LIMIT, 1, &o);
	CHECK("writer failure at the end", o.status == SMTP_BODY_WRITE_ERROR);
	outcome_free(&o);
}

static int
received_is(int nrcpt, const char *addr, uint32_t flags,
    const struct smtp_received *r, const char *want)
{
	struct smtp_transaction t;
	char hdr[SMTP_RECEIVED_MAX];
	size_t n;
	int ok;

	txn_init(&t, nrcpt);
	strlcpy(t.env.client_addr, addr, sizeof(t.env.client_addr));
	t.env.flags = flags;
	n = smtp_received_header(&t, r, hdr, sizeof(hdr));
	ok = n == strlen(want) && strcmp(hdr, want) == 0;
	if (!ok)
		printf("# got %s# want %s", hdr, want);
	smtp_transaction_reset(&t);
	return ok;
}

static void
test_received(void)
{
	static const char tls[] = "TLSv1.3 TLS_AES_256_GCM_SHA384";
	struct smtp_received r = {"mx.test", 1, NULL, T_2026, 0};
	struct smtp_transaction t;
	struct envelope_rcpt rc;
	char hdr[SMTP_RECEIVED_MAX];
	size_t n;

	CHECK("received esmtp",
	    received_is(1, "192.0.2.1", 0, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with ESMTP\n"
		"\tid 0000000000001234\n"
		"\tfor <alice0@example.test>; Thu, 01 Jan 2026 00:00:00 "
		"+0000\n"));
	CHECK("received two recipients",
	    received_is(2, "192.0.2.1", 0, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with ESMTP\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));
	CHECK("received ipv6",
	    received_is(2, "2001:db8::1", 0, &r,
		"Received: from client.test ([IPv6:2001:db8::1])\n"
		"\tby mx.test (boxd) with ESMTP\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));
	CHECK("received smtputf8",
	    received_is(2, "192.0.2.1", ENVELOPE_SMTPUTF8, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with UTF8SMTP\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));
	r.tls = tls;
	CHECK("received esmtp over tls",
	    received_is(2, "192.0.2.1", 0, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with ESMTPS (TLSv1.3 "
		"TLS_AES_256_GCM_SHA384)\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));
	CHECK("received smtputf8 over tls",
	    received_is(1, "192.0.2.1", ENVELOPE_SMTPUTF8, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with UTF8SMTPS (TLSv1.3 "
		"TLS_AES_256_GCM_SHA384)\n"
		"\tid 0000000000001234\n"
		"\tfor <alice0@example.test>; Thu, 01 Jan 2026 00:00:00 "
		"+0000\n"));
	r.auth = 1;
	CHECK("received authenticated over tls (RFC 3848)",
	    received_is(2, "192.0.2.1", 0, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with ESMTPSA (TLSv1.3 "
		"TLS_AES_256_GCM_SHA384)\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));
	CHECK("received smtputf8 authenticated",
	    received_is(2, "192.0.2.1", ENVELOPE_SMTPUTF8, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with UTF8SMTPSA (TLSv1.3 "
		"TLS_AES_256_GCM_SHA384)\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));
	r.auth = 0;
	r.esmtp = 0;
	CHECK("received helo over tls",
	    received_is(2, "192.0.2.1", 0, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with SMTP (TLSv1.3 "
		"TLS_AES_256_GCM_SHA384)\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));
	r.tls = NULL;
	CHECK("received helo",
	    received_is(2, "192.0.2.1", 0, &r,
		"Received: from client.test ([192.0.2.1])\n"
		"\tby mx.test (boxd) with SMTP\n"
		"\tid 0000000000001234; Thu, 01 Jan 2026 00:00:00 +0000\n"));

	/* every field at its longest still fits */
	memset(&t, 0, sizeof(t));
	memset(t.env.helo, 'h', sizeof(t.env.helo) - 1);
	memset(t.env.client_addr, ':', sizeof(t.env.client_addr) - 1);
	memset(&rc, 0, sizeof(rc));
	memset(rc.addr, 'a', sizeof(rc.addr) - 1);
	strlcpy(rc.mailbox, "d/u", sizeof(rc.mailbox));
	envelope_add_rcpt(&t.env, &rc);
	t.msgid = UINT64_MAX;
	memset(hdr, 'n', SMTP_DOMAIN_MAX);
	hdr[SMTP_DOMAIN_MAX] = '\0';
	r.hostname = strdup(hdr);
	r.tls = "TLSv1.3 TLS_AES_128_CCM_8_SHA256 with a long name to spare";
	r.esmtp = 1;
	t.env.flags = ENVELOPE_SMTPUTF8;
	n = smtp_received_header(&t, &r, hdr, sizeof(hdr));
	CHECK("received longest fits", n > 1000 && n == strlen(hdr));
	CHECK("received too small a buffer",
	    smtp_received_header(&t, &r, hdr, 100) == 0);
	free((char *)r.hostname);
	smtp_transaction_reset(&t);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_data();
	test_data_nul();
	test_dot_stuffing();
	test_smuggling();
	test_line_limit();
	test_size_limit();
	test_bdat();
	test_chunks();
	test_writer();
	test_received();
	TEST_EXIT();
}
