/*
 * mime_imap.c: ENVELOPE, BODY and BODYSTRUCTURE of the sample messages
 * (reasoned from RFC 3501 7.4.2 and its examples, and from what Dovecot
 * shows for the same), FETCH sections by RFC 3501 6.4.5, BINARY, and the
 * section parser against hostile specs.
 */

#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/mime_test.h"
#include "imapd.h"
#include "test.h"

static struct evbuffer *out;

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

static struct mime_message *
sample(const char *name)
{
	struct mime_message *m;
	size_t len;
	char *s;

	s = mime_sample(name, &len);
	if ((m = mime_parse(s, len)) == NULL)
		exit(1);
	return m;
}

static struct mime_message *
parse_str(const char *s)
{
	struct mime_message *m;

	if ((m = mime_parse(s, strlen(s))) == NULL)
		exit(1);
	return m;
}

static void
sample_free(struct mime_message *m)
{
	free((char *)m->msg);
	mime_free(m);
}

static int
structure_is(struct mime_message *m, int extended, int utf8, const char *want)
{
	const char *got;

	if (imap_bodystructure_write(out, m, m->root, extended, utf8) == -1)
		return 0;
	got = text();
	if (strcmp(got, want) != 0) {
		printf("# got  %s\n# want %s\n", got, want);
		return 0;
	}
	return 1;
}

static int
envelope_is(struct mime_message *m, const struct mime_part *p, int utf8,
    const char *want)
{
	const char *got;

	if (imap_envelope_write(out, m, p, utf8) == -1)
		return 0;
	got = text();
	if (strcmp(got, want) != 0) {
		printf("# got  %s\n# want %s\n", got, want);
		return 0;
	}
	return 1;
}

/* BODY[spec] is want (NULL: the spec is refused) */
static int
section_is(struct mime_message *m, const char *spec, const char *want)
{
	struct imap_section sec;
	const char *got;
	int rv;

	if (imap_section_parse(&sec, spec, strlen(spec), 0) == -1)
		return want == NULL;
	rv = imap_section_write(out, m, &sec);
	imap_section_free(&sec);
	got = text();
	if (rv == -1 || want == NULL)
		return 0;
	if (strcmp(got, want) != 0) {
		printf("# [%s] got  <<%s>>\n# want <<%s>>\n", spec, got, want);
		return 0;
	}
	return 1;
}

static int
binary_is(struct mime_message *m, const char *spec, int rv, const char *want)
{
	struct imap_section sec;

	if (imap_section_parse(&sec, spec, strlen(spec), 1) == -1)
		return 0;
	if (imap_section_binary(out, m, &sec) != rv) {
		imap_section_free(&sec);
		return 0;
	}
	imap_section_free(&sec);
	return strcmp(text(), want) == 0;
}

#define NESTED_TEXT                                                      \
	"(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "           \
	"\"quoted-printable\" 15 1"
#define NESTED_HTML                                                      \
	"(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 1"
#define NESTED_PNG                                                       \
	"(\"image\" \"png\" NIL \"<img1@example.org>\" NIL \"base64\" 12"
#define NESTED_PDF                                                       \
	"(\"application\" \"pdf\" (\"name*\" "                           \
	"\"utf-8''%E2%82%AC%20report.pdf\") NIL NIL \"base64\" 12"

static void
test_bodystructure(void)
{
	struct mime_message *m;

	m = sample("nested.eml");
	CHECK("body nested",
	    structure_is(m, 0, 0,
		"((" NESTED_TEXT ")(" NESTED_HTML ")" NESTED_PNG
		") \"related\") \"alternative\")" NESTED_PDF ") \"mixed\")"));
	CHECK("bodystructure nested",
	    structure_is(m, 1, 0,
		"((" NESTED_TEXT " NIL NIL NIL NIL)(" NESTED_HTML
		" NIL NIL NIL NIL)" NESTED_PNG
		" NIL (\"inline\" (\"filename\" \"a.png\")) NIL NIL) "
		"\"related\" (\"boundary\" \"rel\" \"type\" \"text/html\") "
		"NIL NIL NIL) \"alternative\" (\"boundary\" \"alt\") NIL NIL "
		"NIL)" NESTED_PDF " \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
		"(\"attachment\" (\"filename*\" "
		"\"utf-8''%E2%82%AC%20report.pdf\")) (\"en\" \"de\") "
		"\"http://example.org/r.pdf\") \"mixed\" (\"boundary\" "
		"\"outer\") NIL NIL NIL)"));
	/* with UTF8=ACCEPT the decoded names go as they are */
	CHECK("bodystructure utf8",
	    structure_is(m, 0, 1,
		"((" NESTED_TEXT ")(" NESTED_HTML ")" NESTED_PNG
		") \"related\") \"alternative\")(\"application\" \"pdf\" "
		"(\"name\" \"\xe2\x82\xac report.pdf\") NIL NIL \"base64\" "
		"12) \"mixed\")"));
	CHECK("envelope nested",
	    envelope_is(m, m->root, 0,
		"(\"Mon, 7 Dec 2026 10:00:00 +0100\" \"nested\" "
		"((\"Alice\" NIL \"alice\" \"example.org\")) "
		"((\"Alice\" NIL \"alice\" \"example.org\")) "
		"((\"Alice\" NIL \"alice\" \"example.org\")) "
		"((\"Bob\" NIL \"bob\" \"example.net\")"
		"(\"Carol, C.\" NIL \"carol\" \"example.net\")) NIL NIL NIL "
		"\"<nested@example.org>\")"));
	sample_free(m);

	m = sample("rfc822.eml");
	CHECK("bodystructure rfc822",
	    structure_is(m, 1, 0,
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 12 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL "
		"NIL \"forwarded\" \"7bit\" 256 (\"Sun, 6 Dec 2026 09:00:00 "
		"-0500\" \"inner\" ((\"Dave\" NIL \"dave\" \"example.com\")) "
		"((\"Dave\" NIL \"dave\" \"example.com\")) ((\"Dave\" NIL "
		"\"dave\" \"example.com\")) NIL NIL NIL NIL NIL) ((\"text\" "
		"\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 "
		"NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" "
		"\"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL) "
		"\"alternative\" (\"boundary\" \"b2\") NIL NIL NIL) 14 NIL "
		"NIL NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)"));
	sample_free(m);

	m = sample("digest.eml");
	CHECK("body digest",
	    structure_is(m, 0, 0,
		"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 42 (NIL "
		"\"one\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" "
		"\"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL "
		"NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") "
		"NIL NIL \"7bit\" 5 1) 4)(\"message\" \"rfc822\" NIL NIL NIL "
		"\"7bit\" 43 (NIL \"two\" ((NIL NIL \"b\" \"example.org\")) "
		"((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" "
		"\"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
		"(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1) 4)"
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 13 1) \"digest\")"));
	sample_free(m);

	m = sample("noboundary.eml");
	CHECK("body no boundary",
	    structure_is(m, 0, 0,
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 0 0) \"mixed\")"));
	CHECK("bodystructure no boundary",
	    structure_is(m, 1, 0,
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)"));
	sample_free(m);

	m = sample("badcte.eml");
	CHECK("body bad cte",
	    structure_is(m, 0, 0,
		"((\"application\" \"octet-stream\" NIL NIL NIL "
		"\"x-uuencode\" 11)(\"text\" \"plain\" (\"charset\" "
		"\"us-ascii\") NIL NIL \"base64\" 10 1)(\"text\" \"plain\" "
		"(\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 24 "
		"2) \"mixed\")"));
	sample_free(m);

	m = sample("barelf-lf.eml");
	CHECK("body bare lf",
	    structure_is(m, 0, 0,
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 17 2) \"mixed\")"));
	sample_free(m);

	m = sample("eightbit.eml");
	CHECK("envelope 8-bit as literals",
	    envelope_is(m, m->root, 0,
		"(NIL {17}\r\nGr\xc3\xbc\xc3\x9f"
		"e raw UTF-8 (({6}\r\nJ\xfcrgen NIL \"j\" \"example.de\")) "
		"(({6}\r\nJ\xfcrgen NIL \"j\" \"example.de\")) "
		"(({6}\r\nJ\xfcrgen NIL \"j\" \"example.de\")) "
		"((\"=?utf-8?Q?Ren=C3=A9?=\" NIL \"rene\" \"example.fr\")) "
		"NIL NIL NIL NIL)"));
	CHECK("envelope 8-bit utf8",
	    envelope_is(m, m->root, 1,
		"(NIL \"Gr\xc3\xbc\xc3\x9f"
		"e raw UTF-8\" (({6}\r\nJ\xfcrgen NIL \"j\" \"example.de\")) "
		"(({6}\r\nJ\xfcrgen NIL \"j\" \"example.de\")) "
		"(({6}\r\nJ\xfcrgen NIL \"j\" \"example.de\")) "
		"((\"=?utf-8?Q?Ren=C3=A9?=\" NIL \"rene\" \"example.fr\")) "
		"NIL NIL NIL NIL)"));
	sample_free(m);

	m = parse_str("Subject: x\r\nFrom: a@b\r\nSender: s@b\r\n"
		       "Reply-To: r@b\r\nTo: g: c@d;\r\nCc: \r\n"
		       "Message-ID: <1@b>\r\nIn-Reply-To: <0@b>\r\n\r\n");
	CHECK("envelope fields",
	    envelope_is(m, m->root, 0,
		"(NIL \"x\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"s\" \"b\")) "
		"((NIL NIL \"r\" \"b\")) ((NIL NIL \"g\" NIL)(NIL NIL \"c\" "
		"\"d\")(NIL NIL NIL NIL)) NIL NIL \"<0@b>\" \"<1@b>\")"));
	mime_free(m);
	m = parse_str("");
	CHECK("envelope empty",
	    envelope_is(m, m->root, 0, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL "
				       "NIL)"));
	CHECK("body empty",
	    structure_is(m, 1, 0,
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 0 0 NIL NIL NIL NIL)"));
	mime_free(m);
	m = parse_str("Content-Type: text/plain; format=flowed\r\n\r\n");
	CHECK("body default charset added",
	    structure_is(m, 0, 0,
		"(\"text\" \"plain\" (\"format\" \"flowed\" \"charset\" "
		"\"us-ascii\") NIL NIL \"7bit\" 0 0)"));
	mime_free(m);
	m = parse_str("Content-Type: message/rfc822\r\n"
		      "Content-Transfer-Encoding: base64\r\n\r\nAAAA");
	CHECK("body encoded message",
	    structure_is(m, 0, 0,
		"(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 4 (NIL NIL "
		"NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
		"(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 1)"));
	mime_free(m);
	m = parse_str("Content-Type: image/gif\r\n\r\n");
	CHECK("body no params",
	    structure_is(m, 0, 0,
		"(\"image\" \"gif\" NIL NIL NIL \"7bit\" 0)"));
	mime_free(m);
	m = parse_str("Content-Type: text/plain; charset=\"a\\\"b\"\r\n"
		       "Content-Language: en\r\nContent-Disposition: inline\r\n"
		       "\r\nx");
	CHECK("body quoting and single language",
	    structure_is(m, 1, 0,
		"(\"text\" \"plain\" (\"charset\" \"a\\\"b\") NIL NIL \"7bit\" "
		"1 1 NIL (\"inline\" NIL) \"en\" NIL)"));
	mime_free(m);
}

static void
test_sections(void)
{
	struct mime_message *m;

	m = sample("rfc822.eml");
	CHECK("section 1", section_is(m, "1", "see attached"));
	CHECK("section 1.MIME", section_is(m, "1.MIME",
				    "Content-Type: text/plain\r\n\r\n"));
	CHECK("section 2.HEADER",
	    section_is(m, "2.header",
		"From: Dave <dave@example.com>\r\nSubject: inner\r\n"
		"Date: Sun, 6 Dec 2026 09:00:00 -0500\r\nContent-Type: "
		"multipart/alternative; boundary=\"b2\"\r\n\r\n"));
	CHECK("section 2.1", section_is(m, "2.1", "inner text"));
	CHECK("section 2.2.MIME", section_is(m, "2.2.MIME",
				      "Content-Type: text/html\r\n\r\n"));
	CHECK("section 2.HEADER.FIELDS",
	    section_is(m, "2.HEADER.FIELDS (SUBJECT \"from\")",
		"From: Dave <dave@example.com>\r\nSubject: inner\r\n\r\n"));
	CHECK("section HEADER.FIELDS.NOT",
	    section_is(m, "HEADER.FIELDS.NOT (Subject To Content-Type)",
		"From: Alice <alice@example.org>\r\n\r\n"));
	CHECK("section HEADER.FIELDS none",
	    section_is(m, "HEADER.FIELDS (X-Nothing)", "\r\n"));
	CHECK("section TEXT of 1", section_is(m, "1.TEXT", ""));
	CHECK("section missing", section_is(m, "3", "") &&
		section_is(m, "1.1", "") && section_is(m, "2.3", "") &&
		section_is(m, "2.1.1", ""));
	CHECK("section header",
	    section_is(m, "HEADER",
		"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>"
		"\r\nSubject: Fwd: inner\r\nContent-Type: multipart/mixed; "
		"boundary=\"b1\"\r\n\r\n"));
	sample_free(m);

	/* RFC 3501 6.4.5, its example */
	m = sample("rfc3501.eml");
	CHECK("rfc3501 1", section_is(m, "1", "part 1"));
	CHECK("rfc3501 2", section_is(m, "2", "cGFydCAy") &&
		binary_is(m, "2", 0, "part 2"));
	CHECK("rfc3501 3.HEADER",
	    section_is(m, "3.HEADER",
		"Subject: part 3\r\nContent-Type: MULTIPART/MIXED; "
		"BOUNDARY=\"three\"\r\n\r\n"));
	CHECK("rfc3501 3.1", section_is(m, "3.1", "part 3.1") &&
		section_is(m, "3.2", "part 3.2"));
	CHECK("rfc3501 3.TEXT", section_is(m, "3.TEXT",
				    "--three\r\nContent-Type: TEXT/PLAIN\r\n"
				    "\r\npart 3.1\r\n--three\r\n"
				    "Content-Type: APPLICATION/OCTET-STREAM"
				    "\r\n\r\npart 3.2\r\n--three--"));
	CHECK("rfc3501 4.1", section_is(m, "4.1", "part 4.1") &&
		section_is(m, "4.1.MIME", "Content-Type: IMAGE/GIF\r\n\r\n"));
	CHECK("rfc3501 4.2.HEADER",
	    section_is(m, "4.2.HEADER.FIELDS (SUBJECT)",
		"Subject: part 4.2\r\n\r\n"));
	CHECK("rfc3501 4.2.1", section_is(m, "4.2.1", "part 4.2.1"));
	CHECK("rfc3501 4.2.2.1", section_is(m, "4.2.2.1", "part 4.2.2.1") &&
		section_is(m, "4.2.2.2", "part 4.2.2.2"));
	CHECK("rfc3501 beyond", section_is(m, "4.2.2.3", "") &&
		section_is(m, "4.2.2.1.1", "") && section_is(m, "5", ""));
	CHECK("rfc3501 bodystructure",
	    structure_is(m, 0, 0,
		"((\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL "
		"\"7bit\" 6 1)(\"application\" \"octet-stream\" NIL NIL NIL "
		"\"base64\" 8)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "
		"185 (NIL \"part 3\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 8 1)(\"application\" \"octet-stream\" NIL NIL NIL "
		"\"7bit\" 8) \"mixed\") 12)((\"image\" \"gif\" NIL NIL NIL "
		"\"7bit\" 8)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 310 "
		"(NIL \"part 4.2\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		"\"7bit\" 10 1)((\"text\" \"plain\" (\"charset\" "
		"\"us-ascii\") NIL NIL \"7bit\" 12 1)(\"text\" \"richtext\" "
		"(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1) "
		"\"alternative\") \"mixed\") 20) \"mixed\") \"mixed\")"));
	sample_free(m);

	/* a non-multipart message is its own part 1 */
	m = parse_str("Subject: s\r\n\r\nbody");
	CHECK("section 1 of single part", section_is(m, "1", "body") &&
		section_is(m, "1.MIME", "Subject: s\r\n\r\n") &&
		section_is(m, "2", "") && section_is(m, "TEXT", "body") &&
		section_is(m, "", "Subject: s\r\n\r\nbody"));
	mime_free(m);
	m = parse_str("Subject: folded\r\n continued\r\nX: y");
	CHECK("section fields folded, unended",
	    section_is(m, "HEADER.FIELDS (x subject)",
		"Subject: folded\r\n continued\r\nX: y\r\n\r\n"));
	mime_free(m);

	m = sample("badcte.eml");
	CHECK("binary unknown cte", binary_is(m, "1", 1, "begin 644 a"));
	CHECK("binary base64", binary_is(m, "2", 0, "Gre\xc3\xb6P"));
	CHECK("binary qp", binary_is(m, "3", 0, "caf\xe9 =ZZ softbreak"));
	CHECK("binary missing", binary_is(m, "4", 0, ""));
	sample_free(m);
}

static void
test_section_parse(void)
{
	struct imap_section sec;
	char big[8192];
	size_t i, n;

#define OK(spec, bin)                                                    \
	(imap_section_parse(&sec, spec, strlen(spec), bin) == 0 &&       \
	    (imap_section_free(&sec), 1))
	CHECK("spec valid", OK("", 0) && OK("1", 0) && OK("1.2.3", 0) &&
		OK("TEXT", 0) && OK("header", 0) && OK("1.MIME", 0) &&
		OK("4.2.HEADER.FIELDS (A)", 0) &&
		OK("HEADER.FIELDS.NOT (A \"B C\")", 0) && OK("1.2", 1) &&
		OK("", 1));
	CHECK("spec invalid", !OK("MIME", 0) && !OK("0", 0) && !OK("01", 0) &&
		!OK("1.", 0) && !OK(".1", 0) && !OK("1..2", 0) &&
		!OK("4294967296", 0) && !OK("TEXT ", 0) && !OK("HEADERS", 0) &&
		!OK("HEADER.FIELDS", 0) && !OK("HEADER.FIELDS ()", 0) &&
		!OK("HEADER.FIELDS (A", 0) && !OK("HEADER.FIELDS (A  B)", 0) &&
		!OK("HEADER.FIELDS (A )", 0) && !OK("HEADER.FIELDS (\"A)", 0) &&
		!OK("HEADER.FIELDS(A)", 0) && !OK("1.TEXT", 1) &&
		!OK("HEADER", 1) && !OK("1.2.X", 0));
	CHECK("spec fields", imap_section_parse(&sec,
				 "HEADER.FIELDS (From \"X-A\\\"\")", 28, 0) ==
		    0 &&
		sec.nfields == 2 && strcmp(sec.fields[0], "From") == 0 &&
		strcmp(sec.fields[1], "X-A\"") == 0 &&
		sec.text == IMAP_SECTION_HEADER_FIELDS);
	imap_section_free(&sec);
	/* part numbers: deeper than any tree is refused */
	for (i = 0, n = 0; i < MIME_DEPTH_MAX + 1; i++)
		n += snprintf(big + n, sizeof(big) - n, "%s1", i ? "." : "");
	CHECK("spec deepest", imap_section_parse(&sec, big, n, 0) == 0);
	imap_section_free(&sec);
	n += snprintf(big + n, sizeof(big) - n, ".1");
	CHECK("spec too deep", imap_section_parse(&sec, big, n, 0) == -1);
	/* field lists: at the bound and past it */
	n = snprintf(big, sizeof(big), "HEADER.FIELDS (");
	for (i = 0; i < IMAP_SECTION_FIELDS_MAX; i++)
		n += snprintf(big + n, sizeof(big) - n, "%sA", i ? " " : "");
	big[n++] = ')';
	CHECK("spec fields at bound", imap_section_parse(&sec, big, n, 0) == 0 &&
		sec.nfields == IMAP_SECTION_FIELDS_MAX);
	imap_section_free(&sec);
	memcpy(big + n - 1, " A)", 3);
	CHECK("spec fields past bound",
	    imap_section_parse(&sec, big, n + 2, 0) == -1);
#undef OK
}

static void
test_view(void)
{
	char path[] = "/tmp/test_mime_imap.XXXXXX", *t;
	size_t len;
	int fd, fds = test_open_fds();

	if ((fd = mkstemp(path)) == -1)
		exit(1);
	unlink(path);
	CHECK("view empty file",
	    imap_message_view(fd, IMAP_VIEW_BODY, &t, &len) == 0 &&
		strcmp(t, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
			  "NIL NIL \"7bit\" 0 0)") == 0 &&
		len == strlen(t));
	free(t);
	if (write(fd, "Subject: s\r\n\r\nx", 15) != 15)
		exit(1);
	CHECK("view envelope",
	    imap_message_view(fd, IMAP_VIEW_ENVELOPE, &t, &len) == 0 &&
		strcmp(t, "(NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL)") == 0);
	free(t);
	CHECK("view bodystructure",
	    imap_message_view(fd, IMAP_VIEW_BODYSTRUCTURE, &t, &len) == 0 &&
		strcmp(t, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
			  "NIL NIL \"7bit\" 1 1 NIL NIL NIL NIL)") == 0);
	free(t);
	if (ftruncate(fd, 0) == -1 || pwrite(fd, "S: s\n\nx\ny", 9, 0) != 9)
		exit(1);
	CHECK("view bare lf as crlf",
	    imap_message_view(fd, IMAP_VIEW_BODY, &t, &len) == 0 &&
		strcmp(t, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
			  "NIL NIL \"7bit\" 4 2)") == 0);
	free(t);
	close(fd);
	CHECK("view bad fd", imap_message_view(fd, IMAP_VIEW_BODY, &t, &len) ==
		-1);
	CHECK("view no fd leaked", test_open_fds() == fds);
}

/* ENVELOPE as from the whole message parsed, for the header-only path */
static char *
envelope_whole(const char *msg, size_t len)
{
	struct evbuffer *crlf;
	struct mime_message *m;
	const char *s = msg;
	char *t;
	size_t n = len;

	if ((crlf = evbuffer_new()) == NULL)
		exit(1);
	if (mime_crlf_needed(msg, len)) {
		if (mime_crlf(msg, len, crlf) == -1)
			exit(1);
		n = evbuffer_get_length(crlf);
		s = n > 0 ? (char *)evbuffer_pullup(crlf, -1) : "";
	}
	if ((m = mime_parse(s, n)) == NULL ||
	    imap_envelope_write(out, m, m->root, 0) == -1)
		exit(1);
	mime_free(m);
	evbuffer_free(crlf);
	if ((t = strdup(text())) == NULL)
		exit(1);
	return t;
}

/* the header-only ENVELOPE of msg, as a file, equals the whole one's */
static int
envelope_same(int fd, const char *msg, size_t len)
{
	char *want, *got;
	size_t n;
	int same;

	if (ftruncate(fd, 0) == -1 ||
	    (len > 0 && pwrite(fd, msg, len, 0) != (ssize_t)len))
		exit(1);
	want = envelope_whole(msg, len);
	if (imap_message_view(fd, IMAP_VIEW_ENVELOPE, &got, &n) == -1)
		return 0;
	same = strcmp(want, got) == 0 && n == strlen(got);
	if (!same)
		fprintf(stderr, "whole: %s\nheader: %s\n", want, got);
	free(want);
	free(got);
	return same;
}

static const char *const sample_names[] = {"badcte.eml", "barelf-lf.eml",
    "digest.eml", "eightbit.eml", "encoded.eml", "nested.eml", "noboundary.eml",
    "noclose.eml", "noseparator.eml", "nul-raw.eml", "quotedboundary.eml",
    "rfc3501.eml", "rfc822.eml"};

/* a header of n octets of fields (then "\r\n\r\nbody" if ended) */
static size_t
long_header(char *buf, size_t n, const char *eol, int ended)
{
	size_t o = 0, k = 0;

	for (; o + 40 < n; k++)
		o += (size_t)snprintf(buf + o, 40, "X-F%zu: %s%s", k,
		    k % 3 == 0 ? "\tfolded" : "v", eol);
	o += (size_t)snprintf(
	    buf + o, 80, "Subject: end%s%s", eol, ended ? "" : "From: a@b");
	if (ended)
		o += (size_t)snprintf(buf + o, 40, "%sbody%s", eol, eol);
	return o;
}

static void
test_envelope_header_only(void)
{
	static const char *const edge[] = {
	    "",
	    "\n",
	    "\r\n",
	    "\r",
	    "Subject: no line end",
	    "Subject: s\n\nFrom: not@header\n",
	    "Subject: s\r\rFrom: a@b\r\r",
	    "Subject: s\r\r\nFrom: a@b\n\n",
	    "From: a@b\r\n\r\n",
	    "From x@y Thu Jan  1 00:00:00 1970\nSubject: mbox\n\nb",
	    "From \n\nSubject: x\n",
	    "From: a@b\nnot a field\nSubject: lost\n\n",
	    "Subject: s\n folded\n\tmore\nTo: a@b,\n c@d\n\n",
	    "\nSubject: body only\n",
	    " Subject: continuation first\n\n",
	    "Subject: x\r\n\nTo: late@b\n",
	    "Subject: x\n\r\nTo: late@b\n",
	    "Sender: s@b\nFrom: f@b\nReply-To:\nfrom: second@b\n\n",
	};
	char path[] = "/tmp/test_mime_imap.XXXXXX", *buf, *msg, name[64];
	size_t i, len, n, at;
	unsigned int seed = 7;
	int fd, fds = test_open_fds(), ok;

	if ((fd = mkstemp(path)) == -1 || (buf = malloc(1 << 20)) == NULL)
		exit(1);
	unlink(path);
	for (i = 0; i < sizeof(sample_names) / sizeof(sample_names[0]); i++) {
		msg = mime_sample(sample_names[i], &len);
		snprintf(name, sizeof(name), "envelope header only %s",
		    sample_names[i]);
		CHECK(name, envelope_same(fd, msg, len));
		free(msg);
	}
	for (i = 0, ok = 1; i < sizeof(edge) / sizeof(edge[0]); i++)
		if (!envelope_same(fd, edge[i], strlen(edge[i]))) {
			fprintf(stderr, "edge %zu\n", i);
			ok = 0;
		}
	/* with the NULs the literal holds */
	n = sizeof("Subject: \0nul\nFrom: a\0@b\n\n") - 1;
	ok &= envelope_same(fd, "Subject: \0nul\nFrom: a\0@b\n\n", n);
	CHECK("envelope header only malformed", ok);
	/* headers around the first read's size and its doubling */
	for (ok = 1, n = 4000; n < 8400; n += 37) {
		len = long_header(buf, n, "\n", 1);
		ok &= envelope_same(fd, buf, len);
		len = long_header(buf, n, "\r\n", 1);
		ok &= envelope_same(fd, buf, len);
		len = long_header(buf, n, "\r", 0);
		ok &= envelope_same(fd, buf, len);
		len = long_header(buf, n, "\n", 0);
		ok &= envelope_same(fd, buf, len);
	}
	CHECK("envelope header only across reads", ok);
	/* a CR LF split by the end of a read */
	for (ok = 1, at = 4090; at < 4100; at++) {
		memset(buf, 0, 8192);
		len = long_header(buf, at, "\n", 0);
		memcpy(buf + len, "\r\nTo: x@y\r\n\r\n", 14);
		ok &= envelope_same(fd, buf, len + 14);
	}
	CHECK("envelope header only cr lf split", ok);
	/* past the header bound: the whole message is parsed */
	len = long_header(buf, 300 * 1024, "\n", 1);
	CHECK("envelope header only long header", envelope_same(fd, buf, len));
	len = long_header(buf, 300 * 1024, "\n", 0);
	CHECK("envelope header only long unended", envelope_same(fd, buf, len));
	memset(buf, 'a', 10000);
	CHECK(
	    "envelope header only no line end", envelope_same(fd, buf, 10000));
	/* random octets of the kinds that matter, around the read size */
	for (ok = 1, i = 0; i < 400; i++) {
		static const char *const bits[] = {"\r", "\n", "\r\n", " ",
		    "\t", ":", "From: ", "From ", "To: a@b", "Subject: x",
		    "\n\n", "\r\n\r\n", "x", "Sender: <s@t>", ",", "\""};
		len = 0;
		n = i % 2 ? 3900 + (size_t)(rand_r(&seed) % 400)
			  : (size_t)(rand_r(&seed) % 200);
		while (len < n) {
			const char *b = bits[rand_r(&seed) % 16];

			memcpy(buf + len, b, strlen(b));
			len += strlen(b);
		}
		ok &= envelope_same(fd, buf, len);
	}
	CHECK("envelope header only random", ok);
	free(buf);
	close(fd);
	CHECK("envelope header only no fd leaked", test_open_fds() == fds);
}

int
main(void)
{
	if ((out = evbuffer_new()) == NULL)
		return 1;
	test_bodystructure();
	test_sections();
	test_section_parse();
	test_view();
	test_envelope_header_only();
	evbuffer_free(out);
	TEST_EXIT();
}
