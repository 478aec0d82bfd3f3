/*
 * mime.c, mime_header.c, charset.c: the part tree of sample messages,
 * well-formed and broken, header decoding in the charsets mail uses,
 * RFC 2231 parameters, dates, address lists, transfer encodings, and
 * hostile input at and past every bound.
 */

#include <string.h>

#include <event2/buffer.h>

#include "common.h"
#include "mime_test.h"
#include "test.h"

static struct evbuffer *out;

/* the evbuffer's text, NUL-terminated, and emptied for the next use */
static const char *
text(void)
{
	static char *s;
	size_t n = evbuffer_get_length(out);

	free(s);
	if ((s = malloc(n + 1)) == NULL)
		exit(1);
	evbuffer_remove(out, s, n);
	s[n] = '\0';
	return s;
}

static int
body_is(const struct mime_message *m, const struct mime_part *p,
    const char *want)
{
	return p != NULL && p->body_len == strlen(want) &&
	    memcmp(m->msg + p->body_off, want, p->body_len) == 0;
}

static int
type_is(const struct mime_part *p, const char *type, const char *subtype)
{
	return p != NULL && strcmp(p->type, type) == 0 &&
	    strcmp(p->subtype, subtype) == 0;
}

static const struct mime_part *
nth(const struct mime_part *p, size_t n)
{
	for (p = p->child; p != NULL && n > 1; p = p->next)
		n--;
	return p;
}

static void
test_nested(void)
{
	struct mime_message *m;
	const struct mime_part *mixed, *alt, *rel, *pdf;
	char *s;
	size_t len;

	s = mime_sample("nested.eml", &len);
	m = mime_parse(s, len);
	CHECK("nested parses", m != NULL && m->flags == 0);
	mixed = m->root;
	CHECK("nested root", type_is(mixed, "multipart", "mixed") &&
		mixed->nchild == 2 && m->nparts == 7);
	alt = nth(mixed, 1);
	CHECK("nested alternative", type_is(alt, "multipart", "alternative") &&
		alt->nchild == 2);
	CHECK("nested text", type_is(nth(alt, 1), "text", "plain") &&
		body_is(m, nth(alt, 1), "Gr=C3=BC=C3=9Fe") &&
		strcmp(nth(alt, 1)->encoding, "quoted-printable") == 0 &&
		nth(alt, 1)->body_lines == 1);
	rel = nth(alt, 2);
	CHECK("nested related", type_is(rel, "multipart", "related") &&
		rel->nchild == 2 &&
		strcmp(mime_param_get(&rel->params, "type"), "text/html") == 0);
	CHECK("nested html", body_is(m, nth(rel, 1), "<p>hi</p>"));
	CHECK("nested image", type_is(nth(rel, 2), "image", "png") &&
		strcmp(nth(rel, 2)->id, "<img1@example.org>") == 0 &&
		strcmp(nth(rel, 2)->disposition, "inline") == 0 &&
		strcmp(mime_param_get(&nth(rel, 2)->dparams, "filename"),
		    "a.png") == 0);
	pdf = nth(mixed, 2);
	CHECK("nested rfc2231 name", type_is(pdf, "application", "pdf") &&
		strcmp(mime_param_get(&pdf->params, "name"),
		    "\xe2\x82\xac report.pdf") == 0);
	CHECK("nested rfc2231 continuation",
	    strcmp(mime_param_get(&pdf->dparams, "filename"),
		"\xe2\x82\xac report.pdf") == 0);
	CHECK("nested language etc", strcmp(pdf->language, "en, de") == 0 &&
		strcmp(pdf->location, "http://example.org/r.pdf") == 0 &&
		strcmp(pdf->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==") == 0);
	CHECK("nested pdf decoded", mime_part_decode(m, pdf, out) == 0 &&
		strcmp(text(), "%PDF-1.4\n") == 0);
	CHECK("nested qp text", mime_part_text(m, nth(alt, 1), out) == 0 &&
		strcmp(text(), "Gr\xc3\xbc\xc3\x9f"
			       "e") == 0);
	CHECK("nested search text", mime_message_text(m, out) == 0 &&
		strcmp(text(), "Gr\xc3\xbc\xc3\x9f"
			       "e\n<p>hi</p>\n") == 0);
	CHECK("nested parents", nth(rel, 1)->parent == rel &&
		rel->parent == alt && alt->parent == mixed);
	mime_free(m);
	free(s);
}

static void
test_rfc822_digest(void)
{
	struct mime_message *m;
	const struct mime_part *msg, *inner;
	char *s;
	size_t len;

	s = mime_sample("rfc822.eml", &len);
	m = mime_parse(s, len);
	msg = nth(m->root, 2);
	CHECK("rfc822 part", type_is(msg, "message", "rfc822") &&
		msg->nchild == 1 && strcmp(msg->description, "forwarded") == 0);
	inner = msg->child;
	CHECK("rfc822 inner", type_is(inner, "multipart", "alternative") &&
		inner->nchild == 2 && body_is(m, nth(inner, 1), "inner text") &&
		body_is(m, nth(inner, 2), "<b>inner</b>"));
	CHECK("rfc822 search text", mime_message_text(m, out) == 0 &&
		strcmp(text(), "see attached\ninner text\n<b>inner</b>\n") ==
		    0);
	CHECK("rfc822 inner header",
	    inner->hdr_off == msg->body_off && msg->body_lines == 14);
	mime_free(m);
	free(s);

	s = mime_sample("digest.eml", &len);
	m = mime_parse(s, len);
	CHECK("digest default", type_is(nth(m->root, 1), "message", "rfc822") &&
		type_is(nth(m->root, 2), "message", "rfc822") &&
		type_is(nth(m->root, 3), "text", "plain"));
	CHECK("digest message", body_is(m, nth(m->root, 1)->child, "first") &&
		body_is(m, nth(m->root, 2)->child, "second"));
	mime_free(m);
	free(s);
}

static void
test_malformed(void)
{
	struct mime_message *m;
	char *s;
	size_t len;

	s = mime_sample("noclose.eml", &len);
	m = mime_parse(s, len);
	CHECK("no final boundary", m->root->nchild == 2 &&
		body_is(m, nth(m->root, 1), "one") &&
		body_is(m, nth(m->root, 2), "two, then the end\r\n"));
	mime_free(m);
	free(s);

	s = mime_sample("noboundary.eml", &len);
	m = mime_parse(s, len);
	CHECK("no boundary",
	    type_is(m->root, "multipart", "mixed") && m->root->nchild == 0);
	mime_free(m);
	free(s);

	s = mime_sample("quotedboundary.eml", &len);
	m = mime_parse(s, len);
	CHECK("boundary in quotes", m->root->nchild == 1 &&
		body_is(m, nth(m->root, 1), "the part") &&
		strcmp(mime_param_get(&m->root->params, "boundary"),
		    "re;al=1") == 0);
	mime_free(m);
	free(s);

	s = mime_sample("badcte.eml", &len);
	m = mime_parse(s, len);
	CHECK("unknown cte", mime_part_decode(m, nth(m->root, 1), out) == 1 &&
		strcmp(text(), "begin 644 a") == 0);
	CHECK("base64 junk", mime_part_decode(m, nth(m->root, 2), out) == 0 &&
		strcmp(text(), "Gre\xc3\xb6P") == 0);
	CHECK("qp bad escape", mime_part_text(m, nth(m->root, 3), out) == 0 &&
		strcmp(text(), "caf\xc3\xa9 =ZZ softbreak") == 0);
	mime_free(m);
	free(s);

	s = mime_sample("barelf-lf.eml", &len);
	m = mime_parse(s, len);
	CHECK("bare lf", m->root->nchild == 1 &&
		body_is(m, nth(m->root, 1), "line one\nline two") &&
		nth(m->root, 1)->body_lines == 2);
	mime_free(m);
	free(s);

	s = mime_sample("noseparator.eml", &len);
	m = mime_parse(s, len);
	CHECK("no separator", body_is(m, m->root,
				  "This line is no header field\r\n"
				  "and neither is this\r\n") &&
		m->root->explicit_type);
	mime_free(m);
	free(s);

	s = mime_sample("nul-raw.eml", &len);
	m = mime_parse(s, len);
	CHECK("nul octets", m->root->body_len == 7);
	mime_free(m);
	free(s);

	s = "From a@b Mon Dec  7 10:00:00 2026\r\nSubject: x\r\n\r\nb";
	m = mime_parse(s, strlen(s));
	CHECK("mbox from line", body_is(m, m->root, "b"));
	mime_free(m);
	s = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "From here on\r\nno header\r\n--b--";
	m = mime_parse(s, strlen(s));
	CHECK("part starting with From",
	    body_is(m, nth(m->root, 1), "From here on\r\nno header"));
	mime_free(m);
	/* an inner multipart with its parent's boundary: the parent's wins */
	s = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "\r\ninner\r\n--b--\r\n--b--";
	m = mime_parse(s, strlen(s));
	CHECK("duplicate boundary", m->root->nchild == 2 &&
		nth(m->root, 1)->nchild == 0 &&
		body_is(m, nth(m->root, 2), "inner"));
	mime_free(m);
	s = NULL;
	m = mime_parse("", 0);
	CHECK("empty message", m != NULL && m->root->hdr_len == 0 &&
		m->root->body_len == 0 && type_is(m->root, "text", "plain"));
	mime_free(m);
	m = mime_parse("\r\n", 2);
	CHECK("blank line only", m->root->hdr_len == 2 &&
		m->root->body_len == 0);
	mime_free(m);
	m = mime_parse("Subject: x", 10);
	CHECK("header without line end", m->root->hdr_len == 10);
	mime_free(m);
	m = mime_parse("Content-Type: text/\r\n\r\nx", 24);
	CHECK("bad content-type", type_is(m->root, "text", "plain") &&
		!m->root->explicit_type);
	mime_free(m);
	m = mime_parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		       "--b\r\n\r\n--b\r\n\r\n--b--",
	    64);
	CHECK("empty parts", m->root->nchild == 2 &&
		nth(m->root, 1)->body_len == 0 &&
		nth(m->root, 2)->body_len == 0);
	mime_free(m);
	m = mime_parse("Content-Type: message/rfc822\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\nAAAA",
	    71);
	CHECK("encoded message/rfc822", m->root->child == NULL);
	mime_free(m);
}

static void
test_headers(void)
{
	struct mime_message *m;
	struct mime_field f;
	char *s, *d;
	size_t len;

	s = mime_sample("encoded.eml", &len);
	m = mime_parse(s, len);
	CHECK("get subject", mime_header_get(s, m->root->hdr_len, "SUBJECT",
				 &f) == 1);
	d = mime_header_decode(f.value, f.valuelen);
	CHECK("decode subject", strcmp(d,
				    "Gr\xc3\xbc\xc3\x9f"
				    "e aus K\xc3\xb6ln \xe2\x82\xac"
				    "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd"
				    "\xce\xb9\xce\xba\xce\xac plain x "
				    "=?utf-8?X?bad?=") == 0);
	free(d);
	mime_header_get(s, m->root->hdr_len, "from", &f);
	d = mime_header_decode(f.value, f.valuelen);
	CHECK("decode latin1 q", strcmp(d, "J\xc3\xbcrgen M\xc3\xbcller "
					   "<jm@example.de>") == 0);
	free(d);
	mime_header_get(s, m->root->hdr_len, "to", &f);
	d = mime_header_decode(f.value, f.valuelen);
	CHECK("decode koi8-r gb2312",
	    strcmp(d, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
		      "\xd0\xbc\xd0\xb8\xd1\x80 <ivan@example.ru>, "
		      "\xe4\xb8\xad\xe6\x96\x87\xe9\x82\xae\xe4\xbb\xb6 "
		      "<li@example.cn>") == 0);
	free(d);
	mime_header_get(s, m->root->hdr_len, "cc", &f);
	d = mime_header_decode(f.value, f.valuelen);
	CHECK("decode iso-2022-jp",
	    strcmp(d, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
		      "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88 <taro@example.jp>") ==
		0);
	free(d);
	CHECK("koi8-r body", mime_part_text(m, m->root, out) == 0 &&
		strcmp(text(), "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
			       "\xd0\xbc\xd0\xb8\xd1\x80") == 0);
	CHECK("absent field", !mime_header_get(s, m->root->hdr_len, "x", &f));
	mime_free(m);
	free(s);

	s = mime_sample("eightbit.eml", &len);
	m = mime_parse(s, len);
	mime_header_get(s, m->root->hdr_len, "subject", &f);
	d = mime_header_decode(f.value, f.valuelen);
	CHECK("raw utf-8 header", strcmp(d, "Gr\xc3\xbc\xc3\x9f"
					    "e raw UTF-8") == 0);
	free(d);
	mime_header_get(s, m->root->hdr_len, "from", &f);
	d = mime_header_decode(f.value, f.valuelen);
	CHECK("raw latin-1 header", strcmp(d, "J\xc3\xbcrgen <j@example.de>") ==
		0);
	free(d);
	mime_free(m);
	free(s);

	d = mime_header_unfold(" a\r\n  b\r\n\tc \r\n", 15);
	CHECK("unfold", strcmp(d, "a  b\tc") == 0);
	free(d);
#define DEC(name, in, want)                                              \
	do {                                                             \
		d = mime_header_decode(in, strlen(in));                  \
		CHECK(name, d != NULL && strcmp(d, want) == 0);          \
		free(d);                                                 \
	} while (0)
	DEC("2047 q underscore", "=?ISO-8859-1?q?a_b=3F?=", "a b?");
	DEC("2047 split utf-8", "=?utf-8?B?w6k=?= =?utf-8?B?w6k=?=",
	    "\xc3\xa9\xc3\xa9");
	DEC("2047 split mid-char", "=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=",
	    "\xc3\xa9");
	DEC("2047 text between", "=?utf-8?Q?a?= b =?utf-8?Q?c?=", "a b c");
	DEC("2047 unterminated", "=?utf-8?Q?abc", "=?utf-8?Q?abc");
	DEC("2047 empty charset", "=??Q?abc?=", "=??Q?abc?=");
	DEC("2047 language", "=?utf-8*en?Q?hi?=", "hi");
	DEC("2047 bad base64", "=?utf-8?B?!!!?=", "");
	DEC("2047 invalid utf-8", "=?utf-8?Q?=FF?=", "\xef\xbf\xbd");
	DEC("2047 unknown charset", "=?x-unknown?Q?=E9?=", "\xc3\xa9");
	/* a charset name of 64 octets is the longest an encoded word has */
	DEC("2047 charset of 64", "=?xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx?Q?a?=", "a");
	DEC("2047 charset of 65: no encoded word", "=?xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx?Q?a?=",
	    "=?xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx?Q?a?=");
	DEC("cp1252 raw", "\x80 \x93q\x94", "\xe2\x82\xac \xe2\x80\x9cq"
					     "\xe2\x80\x9d");
#undef DEC
}

static void
test_params(void)
{
	struct mime_params ps;
	char *first;

#define PARAMS(s) mime_params_parse(s, strlen(s), &first, &ps)
	CHECK("params plain", PARAMS("Text/Plain; Charset=\"UTF-8\"; "
				     "format=flowed") == 0 &&
		strcmp(first, "text/plain") == 0 && ps.n == 2 &&
		strcmp(ps.v[0].name, "charset") == 0 &&
		strcmp(ps.v[0].value, "UTF-8") == 0 &&
		strcmp(mime_param_get(&ps, "format"), "flowed") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params 2231 order", PARAMS("a; t*2=c; t*0=a; t*1=b") == 0 &&
		strcmp(mime_param_get(&ps, "t"), "abc") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params 2231 charset",
	    PARAMS("a; t*=iso-8859-1'fr'caf%E9") == 0 &&
		strcmp(mime_param_get(&ps, "t"), "caf\xc3\xa9") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params 2231 over plain",
	    PARAMS("a; name=\"x.txt\"; name*=utf-8''%C3%A9.txt") == 0 &&
		ps.n == 1 &&
		strcmp(mime_param_get(&ps, "name"), "\xc3\xa9.txt") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params 2047 filename",
	    PARAMS("a; filename=\"=?utf-8?B?w6kudHh0?=\"") == 0 &&
		strcmp(mime_param_get(&ps, "filename"), "\xc3\xa9.txt") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params boundary as is",
	    PARAMS("a; boundary=\"=?utf-8?Q?x?=\"") == 0 &&
		strcmp(mime_param_get(&ps, "boundary"), "=?utf-8?Q?x?=") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params junk", PARAMS(";;=;a;b=;=c; d = \"e\\\"f\" (c)") == 0 &&
		first == NULL && mime_param_get(&ps, "d") != NULL &&
		strcmp(mime_param_get(&ps, "d"), "e\"f") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params unterminated quote", PARAMS("a; b=\"abc") == 0 &&
		strcmp(mime_param_get(&ps, "b"), "abc") == 0);
	mime_params_free(&ps);
	free(first);
	CHECK("params empty", PARAMS("") == 0 && first == NULL && ps.n == 0);
	mime_params_free(&ps);
#undef PARAMS
}

static void
test_dates(void)
{
	int tz = 99;

#define DATE(s) mime_date_parse(s, strlen(s), &tz)
	CHECK("date rfc5322", DATE("Mon, 7 Dec 2026 10:00:00 +0100") ==
		1796634000 &&
		tz == 60);
	CHECK("date no day name", DATE("7 Dec 2026 09:00:00 GMT") ==
		1796634000 &&
		tz == 0);
	CHECK("date no seconds", DATE("07 Dec 2026 04:00 EST") == 1796634000 &&
		tz == -300);
	CHECK("date two-digit year", DATE("7 Dec 26 09:00:00 +0000") ==
		1796634000);
	CHECK("date 99", DATE("1 Jan 99 00:00:00 +0000") == 915148800);
	CHECK("date three-digit year", DATE("1 Jan 099 00:00:00 +0000") ==
		915148800);
	CHECK("date comment", DATE("Mon (x), 7 Dec 2026 (y) 10:00:00 +0100 "
				   "(CET)") == 1796634000);
	CHECK("date military zone", DATE("7 Dec 2026 09:00:00 Z") ==
		1796634000);
	CHECK("date unknown zone", DATE("7 Dec 2026 09:00:00 XYZ") ==
		1796634000);
	CHECK("date asctime", DATE("Mon Dec  7 09:00:00 2026") == 1796634000);
	CHECK("date negative zone", DATE("Mon, 7 Dec 2026 01:30:00 -0730") ==
		1796634000);
	CHECK("date hopeless", DATE("yesterday") == -1 && DATE("") == -1 &&
		DATE("32 Dec 2026 00:00:00") == -1 &&
		DATE("1 Dec 2026 24:00:00") == -1 &&
		DATE("1 Foo 2026 00:00:00") == -1 &&
		DATE("1 Dec 2026 1:") == -1);
	CHECK("date huge numbers",
	    DATE("99999999999999999999 Dec 2026 00:00:00") == -1);
	CHECK("date before epoch", DATE("1 Jan 1960 00:00:00 +0000") ==
		-315619200);
#undef DATE
}

static int
addr_is(const struct mime_address *a, const char *name, const char *adl,
    const char *mailbox, const char *host)
{
#define SAME(x, y) ((x) == NULL ? (y) == NULL : (y) != NULL && strcmp(x, y) == 0)
	return SAME(a->name, name) && SAME(a->adl, adl) &&
	    SAME(a->mailbox, mailbox) && SAME(a->host, host);
#undef SAME
}

static void
test_addresses(void)
{
	struct mime_addresses as;
	char *s;
	size_t i;

#define ADDR(s, d) mime_address_parse(s, strlen(s), d, &as)
	CHECK("addr simple", ADDR("a@b.example", 0) == 0 && as.n == 1 &&
		addr_is(&as.v[0], NULL, NULL, "a", "b.example"));
	mime_addresses_free(&as);
	CHECK("addr name", ADDR("\"Doe, J.\" <j.doe@x.example>, B <b@y>", 0) ==
		    0 &&
		as.n == 2 &&
		addr_is(&as.v[0], "Doe, J.", NULL, "j.doe", "x.example") &&
		addr_is(&as.v[1], "B", NULL, "b", "y"));
	mime_addresses_free(&as);
	CHECK("addr comment name", ADDR("a@b (Alice A)", 0) == 0 &&
		as.n == 1 && addr_is(&as.v[0], "Alice A", NULL, "a", "b"));
	mime_addresses_free(&as);
	CHECK("addr quoted local", ADDR("<\"john doe\"@x>", 0) == 0 &&
		as.n == 1 && addr_is(&as.v[0], NULL, NULL, "john doe", "x"));
	mime_addresses_free(&as);
	CHECK("addr route", ADDR("R <@r1.example,@r2.example:u@h>", 0) == 0 &&
		as.n == 1 &&
		addr_is(&as.v[0], "R", "@r1.example,@r2.example", "u", "h"));
	mime_addresses_free(&as);
	CHECK("addr group", ADDR("Team: a@x, B <b@y>;, c@z", 0) == 0 &&
		as.n == 5 && addr_is(&as.v[0], NULL, NULL, "Team", NULL) &&
		addr_is(&as.v[1], NULL, NULL, "a", "x") &&
		addr_is(&as.v[2], "B", NULL, "b", "y") &&
		addr_is(&as.v[3], NULL, NULL, NULL, NULL) &&
		addr_is(&as.v[4], NULL, NULL, "c", "z"));
	mime_addresses_free(&as);
	CHECK("addr empty group", ADDR("undisclosed-recipients:;", 0) == 0 &&
		as.n == 2 &&
		addr_is(&as.v[0], NULL, NULL, "undisclosed-recipients",
		    NULL) &&
		addr_is(&as.v[1], NULL, NULL, NULL, NULL));
	mime_addresses_free(&as);
	CHECK("addr unclosed group", ADDR("g: a@b", 0) == 0 && as.n == 3 &&
		addr_is(&as.v[2], NULL, NULL, NULL, NULL));
	mime_addresses_free(&as);
	CHECK("addr encoded name raw",
	    ADDR("=?utf-8?Q?Ren=C3=A9?= <r@x>", 0) == 0 &&
		addr_is(&as.v[0], "=?utf-8?Q?Ren=C3=A9?=", NULL, "r", "x"));
	mime_addresses_free(&as);
	CHECK("addr encoded name decoded",
	    ADDR("=?utf-8?Q?Ren=C3=A9?= <r@x>", 1) == 0 &&
		addr_is(&as.v[0], "Ren\xc3\xa9", NULL, "r", "x"));
	mime_addresses_free(&as);
	CHECK("addr missing parts", ADDR("alone, <@x>, <>", 0) == 0 &&
		as.n == 2 &&
		addr_is(&as.v[0], NULL, NULL, "alone", "MISSING_DOMAIN") &&
		addr_is(&as.v[1], NULL, NULL, "MISSING_MAILBOX", "x"));
	mime_addresses_free(&as);
	CHECK("addr folded name", ADDR("\"A\r\n B\" <a@b> (c\r\n d)", 0) ==
		    0 &&
		as.n == 1 && addr_is(&as.v[0], "A B", NULL, "a", "b"));
	mime_addresses_free(&as);
	CHECK("addr folded comment", ADDR("a@b (c\r\n\td)", 0) == 0 &&
		as.n == 1 && addr_is(&as.v[0], "c\td", NULL, "a", "b"));
	mime_addresses_free(&as);
	CHECK("addr empty", ADDR("", 0) == 0 && as.n == 0);
	mime_addresses_free(&as);
	CHECK("addr commas", ADDR(" , ,, ", 0) == 0 && as.n == 0);
	mime_addresses_free(&as);
	CHECK("addr junk", ADDR("<<<>>>@@@;;;:::\"\\", 0) == 0);
	mime_addresses_free(&as);
	CHECK("addr unclosed angle", ADDR("A <a@b", 0) == 0 && as.n == 1 &&
		addr_is(&as.v[0], "A", NULL, "a", "b"));
	mime_addresses_free(&as);
	CHECK("addr domain literal", ADDR("a@[192.0.2.1]", 0) == 0 &&
		addr_is(&as.v[0], NULL, NULL, "a", "[192.0.2.1]"));
	mime_addresses_free(&as);

	/* 100,000 addresses: at most the bound */
	if ((s = malloc(100000 * 4 + 1)) == NULL)
		exit(1);
	for (i = 0; i < 100000; i++)
		memcpy(s + 4 * i, "a@b,", 4);
	s[400000] = '\0';
	CHECK("addr bound", ADDR(s, 0) == 0 && as.n <= MIME_ADDRESSES_MAX);
	mime_addresses_free(&as);
	/* words longer than the parser keeps in place: they grow */
	memset(s, 'n', 1000);
	s[0] = '"';
	memcpy(s + 999, "\" <", 3);
	memset(s + 1002, 'l', 300);
	memcpy(s + 1302, "@h.example>", 12);
	CHECK("addr long words", ADDR(s, 0) == 0 && as.n == 1 &&
		as.v[0].name != NULL && strlen(as.v[0].name) == 998 &&
		as.v[0].mailbox != NULL && strlen(as.v[0].mailbox) == 300 &&
		strcmp(as.v[0].host, "h.example") == 0);
	mime_addresses_free(&as);
	free(s);
#undef ADDR
}

static void
test_charsets(void)
{
	CHECK("charset init", charset_init() == 0);
	CHECK("charset aliases",
	    strcmp(charset_canonical("LATIN1"), "iso-8859-1") == 0 &&
		strcmp(charset_canonical("cp1252"), "windows-1252") == 0 &&
		strcmp(charset_canonical("UTF8"), "utf-8") == 0 &&
		strcmp(charset_canonical("x-sjis"), "shift_jis") == 0 &&
		strcmp(charset_canonical("ks_c_5601-1987"), "euc-kr") == 0 &&
		strcmp(charset_canonical("ISO_8859-15"), "iso-8859-15") == 0 &&
		strcmp(charset_canonical("\"utf-8\""), "utf-8") == 0 &&
		charset_canonical("x-nonsense") == NULL &&
		charset_canonical("") == NULL);
#define CONV(name, cs, in, len, want, rv)                                \
	CHECK(name, charset_to_utf8(cs, in, len, out) == rv &&           \
		strcmp(text(), want) == 0)
	CONV("latin1", "iso-8859-1", "caf\xe9", 4, "caf\xc3\xa9", 0);
	CONV("cp1252", "windows-1252", "\x80\x81\x9f", 3,
	    "\xe2\x82\xac\xc2\x81\xc5\xb8", 0);
	CONV("ascii 8-bit", "us-ascii", "\xe9", 1, "\xc3\xa9", 0);
	CONV("utf-8 repair", "utf-8", "a\xff\xc3", 3,
	    "a\xef\xbf\xbd\xef\xbf\xbd", 0);
	CONV("utf-8 overlong", "utf-8", "\xc0\xaf", 2,
	    "\xef\xbf\xbd\xef\xbf\xbd", 0);
	CONV("unknown", "x-nonsense", "caf\xe9", 4, "caf\xc3\xa9", 1);
	CONV("koi8-u", "koi8-u", "\xa4", 1, "\xd1\x94", 0);
	CONV("iso-8859-2", "latin2", "\xb1", 1, "\xc4\x85", 0);
	CONV("windows-1251", "cp1251", "\xc0", 1, "\xd0\x90", 0);
	CONV("shift_jis", "sjis", "\x83\x65\x83\x58\x83\x67", 6,
	    "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", 0);
	CONV("euc-jp", "euc-jp", "\xc6\xfc", 2, "\xe6\x97\xa5", 0);
	CONV("euc-kr", "ks_c_5601-1987", "\xc7\xd1", 2, "\xed\x95\x9c", 0);
	CONV("big5", "big5", "\xa4\xa4", 2, "\xe4\xb8\xad", 0);
	CONV("gbk", "gbk", "\xd6\xd0", 2, "\xe4\xb8\xad", 0);
	CONV("utf-16 bom", "utf-16", "\xff\xfe\x41\x00", 4, "A", 0);
	CONV("utf-16be", "utf-16be", "\x00\x41\xd8", 3, "A\xef\xbf\xbd", 0);
	CONV("utf-7", "utf-7", "+AOk-", 5, "\xc3\xa9", 0);
	CONV("iso-2022-jp bad", "iso-2022-jp", "\x1b$B\xff\xff", 5,
	    "\xef\xbf\xbd\xef\xbf\xbd", 0);
	CONV("iconv reset", "iso-2022-jp", "A", 1, "A", 0);
	CONV("empty", "koi8-r", "", 0, "", 0);
#undef CONV
	CHECK("utf8 valid", charset_utf8_valid("\xc3\xa9", 2) &&
		!charset_utf8_valid("\xc3", 1) &&
		!charset_utf8_valid("\xed\xa0\x80", 3) &&
		!charset_utf8_valid("\xf4\x90\x80\x80", 4) &&
		charset_utf8_valid("", 0));
}

static void
test_crlf(void)
{
	CHECK("crlf not needed", !mime_crlf_needed("a\r\nb\r\n", 6) &&
		!mime_crlf_needed("", 0) && !mime_crlf_needed("ab", 2));
	CHECK("crlf needed", mime_crlf_needed("a\nb", 3) &&
		mime_crlf_needed("\n", 1) && mime_crlf_needed("a\rb", 3) &&
		mime_crlf_needed("a\r", 2) && mime_crlf_needed("a\r\nb\n", 5));
	CHECK("crlf form", mime_crlf("\na\nb\r\nc\rd\r", 10, out) == 0 &&
		strcmp(text(), "\r\na\r\nb\r\nc\r\nd\r\n") == 0);
	CHECK("crlf empty", mime_crlf("", 0, out) == 0 &&
		evbuffer_get_length(out) == 0);
}

static void
test_transfer(void)
{
	CHECK("base64 plain", mime_base64_decode("aGVsbG8=", 8, out) == 0 &&
		strcmp(text(), "hello") == 0);
	CHECK("base64 no padding", mime_base64_decode("aGVsbG8", 7, out) ==
		    0 &&
		strcmp(text(), "hello") == 0);
	CHECK("base64 lines", mime_base64_decode("aGVs\r\nbG8h\r\n", 12,
				  out) == 0 &&
		strcmp(text(), "hello!") == 0);
	CHECK("base64 one char", mime_base64_decode("a", 1, out) == 0 &&
		evbuffer_get_length(out) == 0);
	CHECK("qp soft break", mime_qp_decode("a=\r\nb= \t\nc=", 11, out) ==
		    0 &&
		strcmp(text(), "abc") == 0);
	CHECK("qp trailing space", mime_qp_decode("a  \r\nb", 6, out) == 0 &&
		strcmp(text(), "a\r\nb") == 0);
	CHECK("qp bad escapes", mime_qp_decode("=4=x=4G=", 8, out) == 0 &&
		strcmp(text(), "=4=x=4G") == 0);
	CHECK("qp lowercase hex", mime_qp_decode("=c3=a9", 6, out) == 0 &&
		strcmp(text(), "\xc3\xa9") == 0);
}

/* hostile: nesting, part counts, parameter counts, long lines */
static void
test_hostile(void)
{
	struct mime_message *m;
	struct mime_params ps;
	struct mime_field f;
	const struct mime_part *p;
	char *s, *first, *d;
	size_t i, n, depth;
	int fd_before = test_open_fds();

	/* 10,000 nested multiparts */
	n = 10000;
	if ((s = malloc(n * 64 + 64)) == NULL)
		exit(1);
	for (i = 0, first = s; i < n; i++)
		first += sprintf(first,
		    "Content-Type: multipart/mixed; boundary=b%zu\r\n\r\n"
		    "--b%zu\r\n",
		    i, i);
	m = mime_parse(s, first - s);
	CHECK("deep nesting", m != NULL && (m->flags & MIME_TRUNCATED));
	for (depth = 0, p = m->root; p->child != NULL; p = p->child)
		depth++;
	CHECK("deep nesting bounded", depth == MIME_DEPTH_MAX);
	mime_free(m);

	/* 10,000 nested message/rfc822 */
	for (i = 0, first = s; i < n; i++)
		first += sprintf(first, "Content-Type: message/rfc822\r\n\r\n");
	m = mime_parse(s, first - s);
	CHECK("deep messages", m != NULL && (m->flags & MIME_TRUNCATED) &&
		m->nparts == MIME_DEPTH_MAX + 1);
	mime_free(m);
	free(s);

	/* 100,000 parts */
	n = 100000;
	if ((s = malloc(n * 8 + 128)) == NULL)
		exit(1);
	first = s + sprintf(s, "Content-Type: multipart/mixed; "
			       "boundary=b\r\n\r\n");
	for (i = 0; i < n; i++)
		first += sprintf(first, "--b\r\n\r\n");
	m = mime_parse(s, first - s);
	CHECK("many parts", m != NULL && (m->flags & MIME_TRUNCATED) &&
		m->nparts == MIME_PARTS_MAX);
	mime_free(m);
	free(s);

	/* 10,000 parameters */
	n = 10000;
	if ((s = malloc(n * 16 + 64)) == NULL)
		exit(1);
	first = s + sprintf(s, "text/plain");
	for (i = 0; i < n; i++)
		first += sprintf(first, "; p%zu=v", i);
	CHECK("many params", mime_params_parse(s, first - s, &d, &ps) == 0 &&
		ps.n == MIME_PARAMS_MAX);
	mime_params_free(&ps);
	free(d);
	/* one parameter in 10,000 sections */
	first = s + sprintf(s, "a");
	for (i = 0; i < n; i++)
		first += sprintf(first, "; t*%zu=x", i);
	CHECK("many sections", mime_params_parse(s, first - s, &d, &ps) == 0 &&
		ps.n == 1 && strlen(ps.v[0].value) <= MIME_PARAMS_MAX);
	mime_params_free(&ps);
	free(d);
	free(s);

	/* a 1 MB header line */
	n = 1 << 20;
	if ((s = malloc(n + 64)) == NULL)
		exit(1);
	memcpy(s, "Subject: ", 9);
	memset(s + 9, 'a', n);
	memcpy(s + 9 + n, "\r\n\r\nbody", 8);
	m = mime_parse(s, n + 17);
	CHECK("long line", m != NULL && body_is(m, m->root, "body"));
	CHECK("long line get",
	    mime_header_get(s, m->root->hdr_len, "subject", &f) == 1 &&
		f.valuelen == n + 1);
	d = mime_header_decode(f.value, f.valuelen);
	CHECK("long line decode bounded", strlen(d) == MIME_FIELD_MAX - 1);
	free(d);
	mime_free(m);
	/* a 1 MB Content-Type */
	memcpy(s, "Content-Type: text/plain; a=", 28);
	memset(s + 28, 'x', n - 28);
	memcpy(s + n, "\r\n\r\nbody", 8);
	m = mime_parse(s, n + 8);
	CHECK("long content-type", m != NULL && body_is(m, m->root, "body"));
	mime_free(m);
	/* 100,000 header fields */
	for (i = 0; i < n / 4; i++)
		memcpy(s + 4 * i, "a:\r\n", 4);
	m = mime_parse(s, n);
	CHECK("many fields", m != NULL && (m->flags & MIME_TRUNCATED) &&
		m->root->hdr_len == n);
	mime_free(m);
	/* a field of unfinished encoded words: one pass, not one a word */
	for (i = 0; i + 7 <= MIME_FIELD_MAX; i += 7)
		memcpy(s + i, "=?a?Q?x", 7);
	d = mime_header_decode(s, i);
	CHECK("unfinished words", d != NULL && strlen(d) == i);
	free(d);
	/* only CRs, LFs and NULs */
	memset(s, '\r', n / 2);
	memset(s + n / 2, '\0', n / 2);
	m = mime_parse(s, n);
	CHECK("cr and nul", m != NULL);
	mime_free(m);
	free(s);
	CHECK("no fd leaked", test_open_fds() == fd_before);
}

/* mime_header_extent(): the extent and whether the rest could change it */
static int
extent_is(const char *s, int whole, int done, size_t want)
{
	size_t len = 99;

	return mime_header_extent(s, strlen(s), whole, &len) == done &&
	    (!done || len == want);
}

/* a charset name of 65 octets overran the one kept (64 and a NUL) */
static void
test_long_charset(void)
{
	char in[200], *d;

	snprintf(in, sizeof(in), "=?%064d?q?x?= =?%065d?q?y?=", 0, 0);
	d = mime_header_decode(in, strlen(in));
	CHECK("charset of 65 octets is no encoded word",
	    d != NULL && strstr(d, "?q?y?=") != NULL &&
		strstr(d, "?q?x?=") == NULL);
	free(d);
}

static void
test_header_extent(void)
{
	struct mime_message *m;
	const char *s;
	size_t len;

	CHECK("extent blank line", extent_is("A: b\r\n\r\nbody", 0, 1, 8));
	CHECK(
	    "extent blank line at the end", extent_is("A: b\r\n\r\n", 0, 1, 8));
	CHECK(
	    "extent no field line", extent_is("A: b\r\nno field\r\n", 0, 1, 6));
	CHECK("extent fields only, more may come",
	    extent_is("A: b\r\nC: d\r\n", 0, 0, 0));
	CHECK("extent fields only, whole",
	    extent_is("A: b\r\nC: d\r\n", 1, 1, 12));
	CHECK("extent continuation may come",
	    extent_is("A: b\r\n\tc\r\n", 0, 0, 0));
	CHECK("extent empty", extent_is("", 0, 0, 0));
	CHECK("extent empty whole", extent_is("", 1, 1, 0));
	CHECK("extent blank first", extent_is("\r\nbody", 0, 1, 2));
	CHECK("extent mbox from line",
	    extent_is("From x\r\nA: b\r\n\r\n", 0, 1, 16));
	CHECK("extent mbox from line alone", extent_is("From x\r\n", 0, 0, 0));
	/* the same header as mime_parse() finds */
	s = "From x\r\nA: b\r\n c\r\nnot: \x01\r\nD: e\r\n\r\n";
	if ((m = mime_parse(s, strlen(s))) == NULL)
		exit(1);
	CHECK("extent as mime_parse",
	    mime_header_extent(s, strlen(s), 0, &len) == 1 &&
		len == m->root->hdr_len);
	mime_free(m);
}

int
main(void)
{
	if ((out = evbuffer_new()) == NULL)
		return 1;
	test_charsets();
	test_nested();
	test_rfc822_digest();
	test_malformed();
	test_headers();
	test_params();
	test_dates();
	test_addresses();
	test_transfer();
	test_crlf();
	test_hostile();
	test_header_extent();
	test_long_charset();
	evbuffer_free(out);
	TEST_EXIT();
}
