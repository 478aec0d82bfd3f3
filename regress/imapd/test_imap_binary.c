/*
 * imap_binary.c: binary APPENDs stored as text.  Every binary leaf part
 * comes back from BINARY as the octets sent; what is stored holds no NUL
 * and no bare CR; text parts and base64 and quoted-printable parts are
 * kept octet for octet; hostile structure neither crashes nor loses any.
 */

#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"
#include "test.h"

static struct evbuffer *out;

/* the re-encoded form of msg (len octets), or NULL if none; rv set */
static char *
recode(const char *msg, size_t len, int *rv, size_t *outlen)
{
	char *s;

	evbuffer_drain(out, evbuffer_get_length(out));
	*rv = imap_binary_recode(msg, len, out);
	*outlen = evbuffer_get_length(out);
	if (*outlen == 0)
		return NULL;
	if ((s = malloc(*outlen + 1)) == NULL)
		exit(1);
	evbuffer_remove(out, s, *outlen);
	s[*outlen] = '\0';
	return s;
}

/* has s a NUL or a CR that no LF follows */
static int
has_binary(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\0' ||
		    (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n')))
			return 1;
	return 0;
}

/* BINARY[spec] of msg equals want (wantlen octets) */
static int
binary_is(const char *msg, size_t len, const char *spec, const char *want,
    size_t wantlen)
{
	struct imap_section sec;
	struct mime_message *m;
	struct evbuffer *b;
	int ok;

	if ((m = mime_parse(msg, len)) == NULL || (b = evbuffer_new()) == NULL)
		exit(1);
	if (imap_section_parse(&sec, spec, strlen(spec), 1) == -1)
		exit(1);
	ok = imap_section_binary(b, m, &sec) == 0 &&
	    evbuffer_get_length(b) == wantlen &&
	    memcmp(evbuffer_pullup(b, -1), want, wantlen) == 0;
	imap_section_free(&sec);
	evbuffer_free(b);
	mime_free(m);
	return ok;
}

static const char bin[] = "\0\1bin\rary\0\n\r\n\377\0end\r";

static void
test_multipart(void)
{
	char msg[1024], *s;
	size_t len, n;
	int rv;

	len = (size_t)snprintf(msg, sizeof(msg),
	    "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=xx\r\n"
	    "\r\n--xx\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xx\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-transfer-encoding:\r\n binary\r\nX-After: 1\r\n\r\n");
	memcpy(msg + len, bin, sizeof(bin) - 1);
	len += sizeof(bin) - 1;
	len += (size_t)snprintf(msg + len, sizeof(msg) - len,
	    "\r\n--xx\r\nContent-Type: text/plain\r\n\r\nbye\r\n--xx--\r\n");
	s = recode(msg, len, &rv, &n);
	CHECK("multipart recoded", rv == 1 && s != NULL);
	if (s == NULL)
		return;
	CHECK("multipart no binary left", !has_binary(s, n));
	CHECK("multipart base64 header", strstr(s,
					     "application/octet-stream\r\n"
					     "X-After: 1\r\n"
					     "Content-Transfer-Encoding: "
					     "base64\r\n\r\nAAFiaW4NYXJ5AAoNCv8AZW5kDQ==\r\n"
					     "--xx\r\n") != NULL);
	CHECK("multipart old field gone", strstr(s, "binary") == NULL);
	CHECK("multipart text kept", strstr(s, "text/plain\r\n\r\nhello\r\n"
					       "--xx\r\n") != NULL);
	CHECK("multipart binary[2]",
	    binary_is(s, n, "2", bin, sizeof(bin) - 1));
	CHECK("multipart binary[1]", binary_is(s, n, "1", "hello", 5));
	CHECK("multipart binary[3]", binary_is(s, n, "3", "bye", 3));
	CHECK("multipart tail kept",
	    n > 13 && memcmp(s + n - 13, "bye\r\n--xx--\r\n", 13) == 0);
	free(s);
}

static void
test_kept(void)
{
	static const char text[] = "Subject: x\r\n\r\nplain\r\ntext\n";
	static const char b64[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nAA\0\rBB\r\n--b\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=00\0\r\n"
	    "--b--\r\n";
	char *s;
	size_t n;
	int rv;

	s = recode(text, sizeof(text) - 1, &rv, &n);
	CHECK("text not recoded", rv == 0 && s == NULL);
	s = recode(b64, sizeof(b64) - 1, &rv, &n);
	CHECK("base64 and qp not recoded", rv == 0 && s == NULL);
	s = recode("", 0, &rv, &n);
	CHECK("empty not recoded", rv == 0 && s == NULL);
	/* no header at all: the whole is a body, given a header of its own */
	s = recode("a\0b\r\n", 5, &rv, &n);
	CHECK("headerless recoded", rv == 1 && s != NULL &&
		strcmp(s, "Content-Transfer-Encoding: base64\r\n\r\n"
			  "YQBiDQo=") == 0);
	CHECK("headerless binary[1]",
	    s != NULL && binary_is(s, n, "1", "a\0b\r\n", 5));
	free(s);
}

static void
test_single(void)
{
	static const char lf[] = "Subject: s\n\nx\0y\n";
	static const char cte[] = "Content-Transfer-Encoding: BINARY\r\n\r\nok";
	static const char noblank[] = "Content-Transfer-Encoding: binary";
	char *s;
	size_t n;
	int rv;

	s = recode(lf, sizeof(lf) - 1, &rv, &n);
	CHECK("lf recoded", rv == 1 && s != NULL);
	CHECK("lf binary[1]", s != NULL && binary_is(s, n, "1", "x\0y\n", 4));
	CHECK("lf header", s != NULL &&
		strncmp(s, "Subject: s\nContent-Transfer-Encoding: base64\r\n\n",
		    47) == 0);
	free(s);
	s = recode(cte, sizeof(cte) - 1, &rv, &n);
	CHECK("cte binary recoded", rv == 1 && s != NULL &&
		strcmp(s, "Content-Transfer-Encoding: base64\r\n\r\nb2s=") ==
		    0);
	free(s);
	s = recode(noblank, sizeof(noblank) - 1, &rv, &n);
	CHECK("no body not recoded", rv == 0 && s == NULL);
	s = recode("X: 1\r\n\r\na\rb", 11, &rv, &n);
	CHECK("bare cr recoded", rv == 1 && s != NULL &&
		strcmp(s, "X: 1\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			  "YQ1i") == 0);
	free(s);
}

static void
test_nested(void)
{
	static const char msg[] =
	    "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
	    "Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\n"
	    "a\0b\r\n--i--\r\n";
	char *s;
	size_t n;
	int rv;

	s = recode(msg, sizeof(msg) - 1, &rv, &n);
	CHECK("nested recoded", rv == 1 && s != NULL && !has_binary(s, n));
	CHECK("nested binary[1.1]",
	    s != NULL && binary_is(s, n, "1.1", "a\0b", 3));
	CHECK("nested header", s != NULL &&
		strstr(s, "--i\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			  "YQBi\r\n--i--\r\n") != NULL);
	free(s);
}

static void
test_base64_lines(void)
{
	unsigned char src[300];
	struct evbuffer *dec;
	const char *p, *nl;
	size_t i, len, ok = 1;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 7 + 3);
	if ((dec = evbuffer_new()) == NULL)
		exit(1);
	for (len = 0; len <= sizeof(src); len++) {
		evbuffer_drain(out, evbuffer_get_length(out));
		evbuffer_drain(dec, evbuffer_get_length(dec));
		if (imap_base64_lines(out, src, len) == -1 ||
		    evbuffer_add(out, "", 1) == -1) {
			ok = 0;
			break;
		}
		p = (const char *)evbuffer_pullup(out, -1);
		/* lines of 76 but the last, no line end after it */
		while ((nl = strchr(p, '\n')) != NULL) {
			if (nl - p != 77 || nl[-1] != '\r')
				ok = 0;
			p = nl + 1;
		}
		if (strlen(p) > 76 || (len > 0 && strlen(p) == 0))
			ok = 0;
		if (mime_base64_decode((const char *)evbuffer_pullup(out, -1),
			evbuffer_get_length(out) - 1, dec) == -1 ||
		    evbuffer_get_length(dec) != len ||
		    (len > 0 && memcmp(evbuffer_pullup(dec, -1), src, len) != 0))
			ok = 0;
	}
	CHECK("base64 lines round trip", ok);
	evbuffer_free(dec);
}

static void
test_hostile(void)
{
	static const char unterminated[] =
	    "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\n\0";
	static const char noparts[] =
	    "Content-Type: multipart/mixed; boundary=q\r\n\r\n\0\r";
	struct evbuffer *big;
	char *s;
	size_t n, i;
	int rv;

	/* more parts than the parser keeps: the rest is one opaque body */
	if ((big = evbuffer_new()) == NULL)
		exit(1);
	evbuffer_add_printf(big, "Content-Type: multipart/mixed; boundary=z"
				 "\r\n\r\n");
	for (i = 0; i < MIME_PARTS_MAX + 10; i++)
		evbuffer_add_printf(big, "--z\r\nContent-Transfer-Encoding: "
					 "binary\r\n\r\n%zu\r\n",
		    i);
	evbuffer_add_printf(big, "--z--\r\n");
	n = evbuffer_get_length(big);
	s = recode((const char *)evbuffer_pullup(big, -1), n, &rv, &n);
	CHECK("many parts recoded", rv == 1 && s != NULL);
	CHECK("many parts part 1",
	    s != NULL && binary_is(s, n, "1", "0", 1));
	free(s);
	evbuffer_free(big);
	/* an unterminated multipart, a boundary never seen */
	s = recode(unterminated, sizeof(unterminated) - 1, &rv, &n);
	CHECK("unterminated recoded", rv == 1 && s != NULL &&
		!has_binary(s, n));
	free(s);
	s = recode(noparts, sizeof(noparts) - 1, &rv, &n);
	CHECK("no parts not recoded", rv == 0 && s == NULL);
}

int
main(void)
{
	if ((out = evbuffer_new()) == NULL)
		return 1;
	test_multipart();
	test_kept();
	test_single();
	test_nested();
	test_base64_lines();
	test_hostile();
	evbuffer_free(out);
	TEST_EXIT();
}
