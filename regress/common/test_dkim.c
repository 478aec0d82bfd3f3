/*
 * common/dkim.c: RFC 6376's canonicalisation example, the empty body's
 * hashes, any chunking of a body, header selection bottom-up with From
 * oversigned, hostile header blocks and DKIM-Signature fields, the
 * signature field's folding, sign and verify round trips for both
 * algorithms, and messages signed by dkimpy (relaxed and simple).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "test.h"

/* made by regress' author with dkimpy 1.1 and keys of dkim_tool keygen */
static const char dkimpy_p_rsa[] =
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtOC74Jv/yIxfrcv1BYXFO4"
    "3jKVW/dVERA+BE94s8VzBO0O0PdlmBEu7VlVEqybuyWE3M9UDY3BtFtvA6H1yh8j0X"
    "Qmro5j6zTd5Bqvf30BoA5iJUuC+Ryp0n3NW3C3Kz+ZLf3pRNq2rkzmTdQ3b1ILR6Mf"
    "riWu+dTNDN/CM/fNutmiBVWyBjF4+V5YAlYHXxEzOtb3dH9sRbsPwmQU/qYdR4o21D"
    "OPDYN+U+UmmqTaNY5hEQJqfCkKpLh3YUpuj127ZI59d6yc/EzrwPrLZe5/jlhWF1bz"
    "UTOelj82FfC0e+xOi4bw6KCz6EC7meqol/TV6M47+RB1envqqYz4eJ8QIDAQAB";
static const char dkimpy_p_ed25519[] =
    "g+DHIwASy8jWvs1cpNvxraOZrhoSiR8s0DcBvmjRQ4A=";
static const char dkimpy_ed_relaxed[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=exampl"
    "e.org;\r\n"
    " i=@example.org; q=dns/txt; s=e; t=1796688837; h=from : to : subje"
    "ct :\r\n"
    " date : message-id; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8"
    "=;\r\n"
    " b=xTvqQv7bSBZYFDZWaJsrEC9vbU5YwhuAZ6gYXLUDoFIMk6ET7NewLK0l4lpUD45"
    "+9TieF\r\n"
    " MGqeicHo9pOyYd9DQ==\r\n"
    "Received: from x by y; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
    "From: Joe  SixPack <joe@example.org>\r\n"
    "To: Suzie Q <suzie@example.net>,\r\n"
    "\t  Other <o@example.net>\r\n"
    "Subject: Is dinner  ready?\t\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.   Are you hungry yet?  \r\n"
    "\r\n"
    "Joe.\r\n"
    "\r\n"
    "\r\n";
static const char dkimpy_rsa_relaxed[] =
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.or"
    "g;\r\n"
    " i=@example.org; q=dns/txt; s=r; t=1796688837; h=from : to : subje"
    "ct :\r\n"
    " date : message-id; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8"
    "=;\r\n"
    " b=Db5XPKpggaaCIZhlRiMfcFABGKYieKex5gPbNm+Wokurue4p6jsF+5HHhi3H5zs"
    "lAETGe\r\n"
    " xgDiW+x2SQOHgB4QIq/sDI0EFIbP2hPEpn5ThSHWHNNAVJLzJ7sThBFLCXcgPiiRu"
    "z4P+AK\r\n"
    " 4aUmWKHx7Y4B97GUf3v43nifuSUPdkzVhzBDXp0A/mXgX4fYU38zomJEefuqyjxaV"
    "HlVNzO\r\n"
    " y3N0NUW3/D48oIiSSBd7Ynk4z9vxfZAkbBod1DUCIm3z9GanycPWtw7ITDYxZvFv1"
    "v86RZn\r\n"
    " k2W1cPoQ3YL7mwcAoggYNaPgwcb0yRKT5vzSZV3doN6h0CupF4qbU9cYXPhw==\r\n"
    "Received: from x by y; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
    "From: Joe  SixPack <joe@example.org>\r\n"
    "To: Suzie Q <suzie@example.net>,\r\n"
    "\t  Other <o@example.net>\r\n"
    "Subject: Is dinner  ready?\t\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.   Are you hungry yet?  \r\n"
    "\r\n"
    "Joe.\r\n"
    "\r\n"
    "\r\n";
static const char dkimpy_rsa_simple[] =
    "DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=example.org;"
    "\r\n"
    " i=@example.org; q=dns/txt; s=r; t=1796688837; h=from : to : subje"
    "ct :\r\n"
    " date : message-id; bh=VLgvdl4Sr8qGg5KUWtQIfywbYToQ+xEnYd8+ygYU0V4"
    "=;\r\n"
    " b=hwtJpXfPcfsb1jjy9K4BkH/zhnvevPJ/SLD4G5rfZ+oss2Z7sbPJ5nC9g/TwX+v"
    "SeA+rr\r\n"
    " SfFR3ARSjo/iMC/eJuyIQAaGcd55v9NldQYLO+gNhatPxG4Kbgc8TGoa5ttuVP5Tu"
    "zR7nXs\r\n"
    " Pa3Sxl3dMtG6hmaNwy6V1k/Jj+/sC9/p4pbfCIT5ccZz+5ppwy83JP+3PaD8qwCwT"
    "Z2bKLH\r\n"
    " rIFBx2R5GbC9CCVP0VF3zlrS4HsMv0lnvOmBnBPggXrMMpkLdbijhlmiRWl6330kw"
    "VwnjF5\r\n"
    " pOwMKo6UjQJjVJoGJ6yLEVS8lYEAGbyz6NXR4/pwtPcDDOvo0B6riDSldxRg==\r\n"
    "Received: from x by y; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
    "From: Joe  SixPack <joe@example.org>\r\n"
    "To: Suzie Q <suzie@example.net>,\r\n"
    "\t  Other <o@example.net>\r\n"
    "Subject: Is dinner  ready?\t\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.   Are you hungry yet?  \r\n"
    "\r\n"
    "Joe.\r\n"
    "\r\n"
    "\r\n";

static void
b64(const unsigned char *in, size_t len, char *out)
{
	static const char d[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, n = 0;
	unsigned v;

	for (i = 0; i < len; i += 3) {
		v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[n++] = d[v >> 18];
		out[n++] = d[v >> 12 & 63];
		out[n++] = i + 1 < len ? d[v >> 6 & 63] : '=';
		out[n++] = i + 2 < len ? d[v & 63] : '=';
	}
	out[n] = '\0';
}

/* bh of a body fed in chunks of chunk octets (0: all at once), base64 */
static int
body_hash(enum dkim_canon canon, const char *body, size_t len, size_t chunk,
    char *out, uint64_t *clen)
{
	struct dkim_body b;
	unsigned char bh[DKIM_DIGEST_LEN];
	size_t i, k;

	if (dkim_body_init(&b, canon, UINT64_MAX) == -1)
		return -1;
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	for (i = 0; i < len; i += k) {
		k = len - i < chunk ? len - i : chunk;
		if (dkim_body_update(&b, body + i, k) == -1) {
			dkim_body_free(&b);
			return -1;
		}
	}
	if (dkim_body_final(&b, bh, clen) == -1)
		return -1;
	b64(bh, sizeof(bh), out);
	return 0;
}

static int
relaxed_is(const char *field, const char *want)
{
	char out[256];
	ssize_t n;

	n = dkim_header_relaxed(field, strlen(field), out, sizeof(out));
	return n == (ssize_t)strlen(want) && memcmp(out, want, (size_t)n) == 0;
}

static void
test_rfc6376_example(void)
{
	/* RFC 6376 3.4.5, both halves */
	const char *msg = "A: X\r\n"
			  "B : Y\t\r\n"
			  "\tZ  \r\n"
			  "\r\n"
			  " C \r\n"
			  "D \t E\r\n"
			  "\r\n"
			  "\r\n";
	struct dkim_headers h;
	size_t off;
	char bh[64], err[128];
	uint64_t clen;

	CHECK("rfc6376 headers parse",
	    dkim_headers_parse(&h, msg, strlen(msg), &off, err, sizeof(err)) ==
		    0 &&
		h.n == 2);
	CHECK("rfc6376 header A", relaxed_is("A: X", "a:X\r\n"));
	CHECK("rfc6376 header B",
	    h.n == 2 && h.v[1].namelen == 1 &&
		relaxed_is("B : Y\t\r\n\tZ  ", "b:Y Z\r\n"));
	CHECK("rfc6376 field B as parsed",
	    h.n == 2 && h.v[1].len == strlen("B : Y\t\r\n\tZ  ") &&
		memcmp(h.v[1].field, "B : Y\t\r\n\tZ  ", h.v[1].len) == 0);
	CHECK("rfc6376 body offset", off == 22);
	CHECK("rfc6376 body relaxed",
	    body_hash(DKIM_RELAXED, msg + off, strlen(msg) - off, 0, bh,
		&clen) == 0 &&
		strcmp(bh, "unak6JHq0wL+Q1HP7dW1tjBx9FLA6DffoZ0qrLwbbpo=") ==
		    0 &&
		clen == strlen(" C\r\nD E\r\n"));
	dkim_headers_free(&h);
}

static void
test_empty_body(void)
{
	char bh[64];
	uint64_t clen;

	CHECK("empty body relaxed",
	    body_hash(DKIM_RELAXED, "", 0, 0, bh, &clen) == 0 &&
		strcmp(bh, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") ==
		    0 &&
		clen == 0);
	CHECK("empty body simple",
	    body_hash(DKIM_SIMPLE, "", 0, 0, bh, &clen) == 0 &&
		strcmp(bh, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=") ==
		    0 &&
		clen == 2);
	CHECK("blank lines only relaxed",
	    body_hash(DKIM_RELAXED, "\r\n\r\n \t\r\n\r\n", 10, 0, bh, &clen) ==
		    0 &&
		strcmp(bh, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") ==
		    0);
	CHECK("blank lines only simple",
	    body_hash(DKIM_SIMPLE, "\r\n\r\n\r\n", 6, 0, bh, &clen) == 0 &&
		strcmp(bh, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=") ==
		    0);
	/* WSP ends the line even without its CRLF (dkimpy keeps one SP) */
	CHECK("last line without CRLF, WSP dropped",
	    body_hash(DKIM_RELAXED, "last line  ", 11, 0, bh, &clen) == 0 &&
		strcmp(bh, "Iz3U+maXmP4RLYqrm1gRKfziMb1b1967QiE7wshQXs8=") ==
		    0 &&
		clen == 11);
	CHECK("wsp only, no CRLF, relaxed",
	    body_hash(DKIM_RELAXED, "  \t ", 4, 0, bh, &clen) == 0 &&
		clen == 0);
}

static void
test_chunks(void)
{
	const char *bodies[] = {
	    "Hi.\r\n\r\nWe lost the game.   Are you hungry yet?  \r\n"
	    "\r\nJoe.\r\n\r\n\r\n",
	    " C \r\nD \t E\r\n\r\n\r\n",
	    "no final CRLF  \t",
	    "bare\rCR and bare\nLF\r\n \r\n\r",
	    "\r\n\r\nx\r\n\r\n \r\ny \r",
	    "trailing CR\r",
	};
	char one[64], chunked[64], name[64];
	uint64_t l1, l2;
	size_t i, c;
	int same, canon;

	for (canon = 0; canon < 2; canon++)
		for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			same = body_hash(canon, bodies[i], strlen(bodies[i]), 0,
				   one, &l1) == 0;
			for (c = 1; same && c <= 7; c++)
				same = body_hash(canon, bodies[i],
					   strlen(bodies[i]), c, chunked,
					   &l2) == 0 &&
				    strcmp(one, chunked) == 0 && l1 == l2;
			snprintf(name, sizeof(name), "chunking %s body %zu",
			    canon == DKIM_RELAXED ? "relaxed" : "simple", i);
			CHECK(name, same);
		}
	/* CRLF split across two updates, then the hash of "a b\r\n" */
	{
		struct dkim_body b;
		unsigned char bh[DKIM_DIGEST_LEN];
		uint64_t len;

		CHECK("split CRLF",
		    dkim_body_init(&b, DKIM_RELAXED, UINT64_MAX) == 0 &&
			dkim_body_update(&b, "a  b \r", 6) == 0 &&
			dkim_body_update(&b, "\n\r", 2) == 0 &&
			dkim_body_update(&b, "\n", 1) == 0 &&
			dkim_body_final(&b, bh, &len) == 0 && len == 5 &&
			(b64(bh, sizeof(bh), one), 1) &&
			strcmp(one,
			    "SuEZjyiTjUp1XHpGpmLw9XKayjy3FMrk431guExO6cw=") ==
			    0);
	}
	/* "simple" keeps WSP, and l= stops the hash but not the count */
	{
		struct dkim_body b;
		unsigned char bh[DKIM_DIGEST_LEN];
		uint64_t len;

		CHECK("l= limit",
		    dkim_body_init(&b, DKIM_RELAXED, 5) == 0 &&
			dkim_body_update(&b, "a \t b\r\nmore text\r\n", 18) ==
			    0 &&
			dkim_body_final(&b, bh, &len) == 0 && len == 16 &&
			(b64(bh, sizeof(bh), one), 1) &&
			strcmp(one,
			    "SuEZjyiTjUp1XHpGpmLw9XKayjy3FMrk431guExO6cw=") ==
			    0);
	}
}

static void
test_long_wsp(void)
{
	char *body, bh[64], ref[64];
	size_t n = 1024 * 1024, c;
	uint64_t len;
	int ok = 1;

	if ((body = malloc(n + 8)) == NULL)
		return;
	body[0] = 'a';
	memset(body + 1, ' ', n);
	memcpy(body + 1 + n, "b\t\t\r\n", 5);
	memset(body + 1 + n / 2, '\t', 1000);
	for (c = 0; ok && c < 3; c++)
		ok = body_hash(DKIM_RELAXED, body, n + 6, c == 0 ? 0 : c * 4093,
			 bh, &len) == 0 &&
		    strcmp(bh,
			"SuEZjyiTjUp1XHpGpmLw9XKayjy3FMrk431guExO6cw=") == 0 &&
		    len == 5;
	CHECK("a megabyte of WSP becomes one SP", ok);
	/* every line a WSP run: all of them trailing, the body empty */
	for (c = 0; c < n; c += 64)
		memcpy(body + c, "\r\n", 2);
	CHECK("lines of WSP alone",
	    body_hash(DKIM_RELAXED, body, n, 1000, ref, &len) == 0 && len == 0);
	free(body);
}

static void
test_header_relaxed(void)
{
	CHECK("relaxed folded",
	    relaxed_is("Subject: a  folded\r\n\t  subject \t\r\n ",
		"subject:a folded subject\r\n"));
	CHECK("relaxed colon in value",
	    relaxed_is("Subject:  x: y", "subject:x: y\r\n"));
	CHECK("relaxed empty value", relaxed_is("X-Empty: \t", "x-empty:\r\n"));
	CHECK("relaxed no space", relaxed_is("To:b@x", "to:b@x\r\n"));
	CHECK("relaxed 8-bit kept",
	    relaxed_is(
		"Subject: \xc3\xa9t\xc3\xa9", "subject:\xc3\xa9t\xc3\xa9\r\n"));
	{
		char out[8];

		CHECK("relaxed no colon",
		    dkim_header_relaxed("Subject", 7, out, sizeof(out)) == -1);
		CHECK("relaxed out too small",
		    dkim_header_relaxed("A: bcdef", 8, out, sizeof(out)) == -1);
	}
}

static int
names_are(
    char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX], int n, const char *want)
{
	char got[4096] = "";
	int i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			strlcat(got, ":", sizeof(got));
		strlcat(got, names[i], sizeof(got));
	}
	if (strcmp(got, want) != 0)
		printf("# got %s\n", got);
	return strcmp(got, want) == 0;
}

static void
test_select(void)
{
	const char *msg = "Received: from a\r\n"
			  "From: one@example.org\r\n"
			  "To: x@example.net\r\n"
			  "X-Mailer: none\r\n"
			  "to: y@example.net\r\n"
			  "SUBJECT: s\r\n"
			  "Message-ID: <1@x>\r\n"
			  "List-Id: <l.example.org>\r\n"
			  "Resent-From: r@example.org\r\n"
			  "DKIM-Signature: v=1\r\n"
			  "\r\n";
	char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX], err[128];
	size_t idx[DKIM_SIGN_NAMES_MAX];
	struct dkim_headers h;
	int n;

	if (dkim_headers_parse(&h, msg, strlen(msg), NULL, err, sizeof(err)) ==
	    -1) {
		CHECK("select parse", 0);
		return;
	}
	n = dkim_select_headers(&h, names, idx, err, sizeof(err));
	CHECK("select bottom-up, From oversigned",
	    n == 8 &&
		names_are(names, n,
		    "resent-from:list-id:message-id:subject:to:to:"
		    "from:from"));
	CHECK("select instances bottom-up",
	    n == 8 && idx[0] == 8 && idx[3] == 5 && idx[4] == 4 &&
		idx[5] == 2 && idx[6] == 1 && idx[7] == SIZE_MAX);
	dkim_headers_free(&h);

	msg = "From: a@x\r\nFrom: b@x\r\nSubject: s\r\n";
	if (dkim_headers_parse(&h, msg, strlen(msg), NULL, err, sizeof(err)) ==
	    0) {
		n = dkim_select_headers(&h, names, idx, err, sizeof(err));
		CHECK("two Froms, three from in h=",
		    n == 4 && names_are(names, n, "subject:from:from:from") &&
			idx[1] == 1 && idx[2] == 0);
		dkim_headers_free(&h);
	}
	msg = "Subject: no from\r\nTo: x@y\r\n\r\nbody\r\n";
	if (dkim_headers_parse(&h, msg, strlen(msg), NULL, err, sizeof(err)) ==
	    0) {
		CHECK("no From refused",
		    dkim_select_headers(&h, names, idx, err, sizeof(err)) ==
			    -1 &&
			strstr(err, "From") != NULL);
		dkim_headers_free(&h);
	}
}

/* a header block of n fields "To: x" and a From */
static char *
many_fields(size_t n, size_t *len)
{
	char *s;
	size_t i;

	if ((s = malloc(n * 7 + 32)) == NULL)
		return NULL;
	memcpy(s, "From: a@x\r\n", 11);
	*len = 11;
	for (i = 0; i < n; i++, *len += 7)
		memcpy(s + *len, "To: x\r\n", 7);
	return s;
}

static int
parse_fails(const char *s, size_t len, const char *why)
{
	struct dkim_headers h;
	char err[128] = "";

	if (dkim_headers_parse(&h, s, len, NULL, err, sizeof(err)) == 0) {
		dkim_headers_free(&h);
		return 0;
	}
	if (strstr(err, why) == NULL)
		printf("# error: %s\n", err);
	return h.v == NULL && strstr(err, why) != NULL;
}

static void
test_hostile_headers(void)
{
	char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX], err[128];
	size_t idx[DKIM_SIGN_NAMES_MAX], len;
	struct dkim_headers h;
	struct dkim_message m;
	char *s;

	CHECK("no colon", parse_fails("From: a\r\nSubject\r\n", 18, "colon"));
	CHECK("name only WSP", parse_fails("From: a\r\nX   \r\n", 15, "colon"));
	CHECK("empty name", parse_fails(": a\r\n", 5, "name"));
	CHECK("NUL", parse_fails("From: a\0b\r\n", 11, "NUL"));
	CHECK("bare LF", parse_fails("From: a\nTo: b\r\n", 15, "LF"));
	CHECK("bare CR", parse_fails("From: a\rTo: b\r\n", 15, "CR"));
	CHECK("CR at the end", parse_fails("From: a\r", 8, "CR"));
	CHECK("continuation first",
	    parse_fails(" a\r\nFrom: b\r\n", 13, "continuation"));
	CHECK("8-bit name", parse_fails("Fr\xc3\xb6m: a\r\n", 11, "name"));

	if ((s = malloc(1024 * 1024 + 64)) != NULL) {
		memcpy(s, "Subject: ", 9);
		memset(s + 9, 'x', 1024 * 1024);
		memcpy(s + 9 + 1024 * 1024, "\r\n\r\n", 4);
		CHECK("1 MiB field",
		    parse_fails(s, 1024 * 1024 + 13, "too long"));
		/* the same length folded into many lines */
		for (len = 100; len < 1024 * 1024; len += 100)
			memcpy(s + len, "\r\n ", 3);
		CHECK("1 MiB folded field",
		    parse_fails(s, 1024 * 1024 + 13, "too long"));
		CHECK("message over the header block limit",
		    dkim_message_init(&m) == 0 &&
			dkim_message_update(
			    &m, s, 1024 * 1024 + 13, err, sizeof(err)) == -1 &&
			strstr(err, "too large") != NULL);
		dkim_message_free(&m);
		free(s);
	}
	if ((s = many_fields(DKIM_HEADERS_MAX, &len)) != NULL) {
		CHECK("too many fields", parse_fails(s, len, "too many"));
		free(s);
	}
	if ((s = many_fields(DKIM_HEADERS_MAX - 1, &len)) != NULL) {
		CHECK("as many fields as allowed",
		    dkim_headers_parse(&h, s, len, NULL, err, sizeof(err)) ==
			    0 &&
			h.n == DKIM_HEADERS_MAX);
		CHECK("too many fields to sign",
		    dkim_select_headers(&h, names, idx, err, sizeof(err)) ==
			    -1 &&
			strstr(err, "too many") != NULL);
		dkim_headers_free(&h);
		free(s);
	}
	if ((s = many_fields(DKIM_SIGN_NAMES_MAX - 3, &len)) != NULL) {
		CHECK("as many to sign as allowed",
		    dkim_headers_parse(&h, s, len, NULL, err, sizeof(err)) ==
			    0 &&
			dkim_select_headers(&h, names, idx, err, sizeof(err)) ==
			    DKIM_SIGN_NAMES_MAX - 1);
		dkim_headers_free(&h);
		free(s);
	}
}

static void
test_message_stream(void)
{
	const char *msg = "From: a@example.org\r\nSubject: s\r\n\r\n"
			  "body \r\n\r\n";
	struct dkim_message m;
	char err[128], bh[64];
	size_t i, c, len = strlen(msg);
	int ok = 1;

	for (c = 1; ok && c <= len; c++) {
		ok = dkim_message_init(&m) == 0;
		for (i = 0; ok && i < len; i += c)
			ok = dkim_message_update(&m, msg + i,
				 len - i < c ? len - i : c, err,
				 sizeof(err)) == 0;
		ok = ok && dkim_message_final(&m, err, sizeof(err)) == 0 &&
		    m.headers.n == 2 && m.bodylen == 6;
		dkim_message_free(&m);
	}
	CHECK("message in any chunks", ok);
	CHECK("message without a body",
	    dkim_message_init(&m) == 0 &&
		dkim_message_update(
		    &m, "From: a@x\r\n", 11, err, sizeof(err)) == 0 &&
		dkim_message_final(&m, err, sizeof(err)) == 0 &&
		m.headers.n == 1 && m.bodylen == 0 &&
		(b64(m.bh, sizeof(m.bh), bh), 1) &&
		strcmp(bh, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") ==
		    0);
	dkim_message_free(&m);
	CHECK("message with an empty header block",
	    dkim_message_init(&m) == 0 &&
		dkim_message_update(&m, "\r\nFrom: not a header\r\n", 22, err,
		    sizeof(err)) == 0 &&
		dkim_message_final(&m, err, sizeof(err)) == 0 &&
		m.headers.n == 0 && m.bodylen == 20);
	dkim_message_free(&m);
	CHECK("message with bare LF refused",
	    dkim_message_init(&m) == 0 &&
		dkim_message_update(
		    &m, "From: a\n\nx\n", 11, err, sizeof(err)) == 0 &&
		dkim_message_final(&m, err, sizeof(err)) == -1);
	dkim_message_free(&m);
}

/* the whole of a verification, as dkim_tool's */
static int
verify_message(const char *msg, const char *p, enum dkim_alg alg)
{
	struct dkim_headers h;
	struct dkim_signature *sig;
	struct dkim_body body;
	struct dkim_key *key;
	unsigned char bh[DKIM_DIGEST_LEN], digest[DKIM_DIGEST_LEN];
	char err[128];
	size_t off, i, len = strlen(msg);
	uint64_t blen;
	int ok = 0;

	if (dkim_headers_parse(&h, msg, len, &off, err, sizeof(err)) == -1)
		return 0;
	for (i = 0; i < h.n; i++)
		if (h.v[i].namelen == 14 &&
		    strncasecmp(h.v[i].field, "DKIM-Signature", 14) == 0)
			break;
	if (i == h.n || (sig = malloc(sizeof(*sig))) == NULL) {
		dkim_headers_free(&h);
		return 0;
	}
	if (dkim_signature_parse(
		sig, h.v[i].field, h.v[i].len, err, sizeof(err)) == 0 &&
	    sig->alg == alg &&
	    dkim_body_init(&body, sig->bcanon, sig->l) == 0 &&
	    dkim_body_update(&body, msg + off, len - off) == 0 &&
	    dkim_body_final(&body, bh, &blen) == 0 &&
	    memcmp(bh, sig->bh, sizeof(bh)) == 0 &&
	    dkim_verify_prepare(&h, i, sig, digest, err, sizeof(err)) == 0 &&
	    (key = dkim_key_from_dns(alg, p, err, sizeof(err))) != NULL) {
		ok = dkim_verify_digest(key, digest, sig->b, sig->blen);
		dkim_key_free(key);
	}
	free(sig);
	dkim_headers_free(&h);
	return ok;
}

static void
test_dkimpy(void)
{
	char *msg;

	CHECK("dkimpy ed25519 relaxed",
	    verify_message(
		dkimpy_ed_relaxed, dkimpy_p_ed25519, DKIM_ED25519_SHA256));
	CHECK("dkimpy rsa relaxed",
	    verify_message(dkimpy_rsa_relaxed, dkimpy_p_rsa, DKIM_RSA_SHA256));
	CHECK("dkimpy rsa simple",
	    verify_message(dkimpy_rsa_simple, dkimpy_p_rsa, DKIM_RSA_SHA256));
	CHECK("dkimpy wrong key",
	    !verify_message(
		dkimpy_rsa_relaxed, dkimpy_p_ed25519, DKIM_RSA_SHA256));
	/* relaxed forgives a refold and WSP; simple does not */
	if ((msg = strdup(dkimpy_rsa_relaxed)) != NULL) {
		char *p = strstr(msg, "Joe  SixPack");

		p[4] = '\t';
		CHECK("relaxed: WSP changed",
		    verify_message(msg, dkimpy_p_rsa, DKIM_RSA_SHA256));
		p[3] = 'x';
		CHECK("relaxed: header changed",
		    !verify_message(msg, dkimpy_p_rsa, DKIM_RSA_SHA256));
		free(msg);
	}
	if ((msg = strdup(dkimpy_rsa_simple)) != NULL) {
		char *p = strstr(msg, "Joe  SixPack");

		p[4] = '\t';
		CHECK("simple: WSP changed",
		    !verify_message(msg, dkimpy_p_rsa, DKIM_RSA_SHA256));
		free(msg);
	}
	if ((msg = strdup(dkimpy_ed_relaxed)) != NULL) {
		char *p = strstr(msg, "hungry");

		p[0] = 'H';
		CHECK("body changed",
		    !verify_message(
			msg, dkimpy_p_ed25519, DKIM_ED25519_SHA256));
		free(msg);
	}
}

/* sign msg with a new key of alg; the signed message, malloc'ed */
static char *
sign_message(const char *msg, enum dkim_alg alg, char *p, size_t psz,
    char *field, size_t fieldsz)
{
	struct dkim_sign_request req = {alg, "example.org", "sel", 1700000000};
	struct dkim_message m;
	struct dkim_template t;
	struct dkim_key *key;
	unsigned char sig[DKIM_SIG_MAX];
	char *pem, *out = NULL, err[128];
	size_t pemlen, siglen;
	ssize_t n;

	if (dkim_key_generate(alg, &pem, &pemlen) == -1)
		return NULL;
	key = dkim_key_from_pem(pem, pemlen, err, sizeof(err));
	freezero(pem, pemlen);
	if (key == NULL || dkim_key_alg(key) != alg ||
	    dkim_key_public(key, p, psz) == -1)
		goto done;
	if (dkim_message_init(&m) == -1)
		goto done;
	if (dkim_message_update(&m, msg, strlen(msg), err, sizeof(err)) == 0 &&
	    dkim_message_final(&m, err, sizeof(err)) == 0 &&
	    dkim_sign_prepare(&req, &m.headers, m.bh, &t, err, sizeof(err)) ==
		0 &&
	    dkim_sign_digest(key, t.digest, sig, &siglen, sizeof(sig)) == 0 &&
	    (n = dkim_sign_finish(&t, sig, siglen, field, fieldsz)) > 0 &&
	    (out = malloc((size_t)n + strlen(msg) + 1)) != NULL) {
		memcpy(out, field, (size_t)n);
		memcpy(out + n, msg, strlen(msg) + 1);
	}
	dkim_message_free(&m);
done:
	dkim_key_free(key);
	return out;
}

/* every line at most 78 octets, CRLF ended, continuations start TAB */
static int
folded_well(const char *field)
{
	const char *p = field, *e;

	if (strncmp(field, "DKIM-Signature: v=1; a=", 23) != 0)
		return 0;
	while (*p != '\0') {
		if ((e = strstr(p, "\r\n")) == NULL || e - p > 78)
			return 0;
		if (p != field && *p != '\t')
			return 0;
		p = e + 2;
	}
	return 1;
}

static void
test_round_trip(void)
{
	const char *msgs[] = {
	    "From: Joe <joe@example.org>\r\nTo: a@example.net\r\n"
	    "Subject: round\r\n trip\r\n\r\nHello  \r\n\r\n",
	    "From: a@example.org\r\n",
	    "Received: x\r\nfrom: a@example.org\r\nDate: now\r\n"
	    "Reply-To: r@x\r\nCc: c@x\r\nCc: d@x\r\n\r\n\xc3\xa9\r\n",
	};
	enum dkim_alg algs[] = {DKIM_RSA_SHA256, DKIM_ED25519_SHA256};
	char p[DKIM_PUBKEY_MAX], field[DKIM_SIGNED_FIELD_MAX], name[64];
	char *signed_msg, *forged;
	size_t i, a;

	for (a = 0; a < 2; a++)
		for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
			signed_msg = sign_message(msgs[i], algs[a], p,
			    sizeof(p), field, sizeof(field));
			snprintf(name, sizeof(name), "round trip %s %zu",
			    dkim_alg_name(algs[a]), i);
			CHECK(name,
			    signed_msg != NULL &&
				verify_message(signed_msg, p, algs[a]));
			snprintf(name, sizeof(name), "folded %s %zu",
			    dkim_alg_name(algs[a]), i);
			CHECK(name, signed_msg != NULL && folded_well(field));
			if (signed_msg == NULL)
				continue;
			/* a From added above the signed one: oversigning */
			if (asprintf(&forged, "%sFrom: evil@example.com\r\n%s",
				field, msgs[i]) != -1) {
				snprintf(name, sizeof(name),
				    "added From fails %s %zu",
				    dkim_alg_name(algs[a]), i);
				CHECK(
				    name, !verify_message(forged, p, algs[a]));
				free(forged);
			}
			free(signed_msg);
		}
	{
		struct dkim_key *k;
		char err[128];

		CHECK("RSA p= for ed25519 refused",
		    (k = dkim_key_from_dns(DKIM_ED25519_SHA256, dkimpy_p_rsa,
			 err, sizeof(err))) == NULL);
		dkim_key_free(k);
		CHECK("ed25519 p= for RSA refused",
		    (k = dkim_key_from_dns(DKIM_RSA_SHA256, dkimpy_p_ed25519,
			 err, sizeof(err))) == NULL);
		dkim_key_free(k);
		CHECK("junk PEM refused",
		    dkim_key_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n"
				      "-----END PRIVATE KEY-----\n",
			58, err, sizeof(err)) == NULL);
	}
}

static int
sig_fails(const char *field, const char *why)
{
	struct dkim_signature *sig;
	char err[128] = "";
	int rv;

	if ((sig = malloc(sizeof(*sig))) == NULL)
		return 0;
	rv = dkim_signature_parse(
		 sig, field, strlen(field), err, sizeof(err)) == -1 &&
	    strstr(err, why) != NULL;
	if (!rv)
		printf("# error: %s\n", err);
	free(sig);
	return rv;
}

#define GOOD_TAGS                                              \
	"v=1; a=rsa-sha256; d=example.org; s=sel; h=from:to; " \
	"bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"

static void
test_signature_parse(void)
{
	struct dkim_signature *sig;
	char err[128], *big;
	size_t i;

	if ((sig = malloc(sizeof(*sig))) == NULL)
		return;
	CHECK("sig good",
	    dkim_signature_parse(sig, "DKIM-Signature: " GOOD_TAGS,
		strlen("DKIM-Signature: " GOOD_TAGS), err, sizeof(err)) == 0 &&
		sig->hcanon == DKIM_SIMPLE && sig->bcanon == DKIM_SIMPLE &&
		sig->nnames == 2 && strcmp(sig->names[1], "to") == 0 &&
		sig->blen == 3 && sig->l == UINT64_MAX && sig->t == -1);
	CHECK("sig FWS everywhere",
	    dkim_signature_parse(sig,
		"dkim-signature :\r\n v = 1 ;a=ed25519-sha256;\r\n\tc=relaxed ;"
		"d=example.org; s=sel; h= From\r\n : TO ; l=10; t=5; x=6;"
		"bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu\r\n FU=; b=AA\r\n"
		" AA; zz=unknown;",
		strlen("dkim-signature :\r\n v = 1 ;a=ed25519-sha256;\r\n\tc="
		       "relaxed ;d=example.org; s=sel; h= From\r\n : TO ; l=10;"
		       " t=5; x=6;bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu"
		       "\r\n FU=; b=AA\r\n AA; zz=unknown;"),
		err, sizeof(err)) == 0 &&
		sig->alg == DKIM_ED25519_SHA256 &&
		sig->hcanon == DKIM_RELAXED && sig->bcanon == DKIM_SIMPLE &&
		strcmp(sig->names[0], "from") == 0 &&
		strcmp(sig->names[1], "to") == 0 && sig->l == 10 &&
		sig->t == 5 && sig->x == 6);
	free(sig);
	CHECK("sig not DKIM", sig_fails("Subject: " GOOD_TAGS, "not a DKIM"));
	CHECK("sig no colon", sig_fails("DKIM-Signature", "not a header"));
	CHECK("sig missing v",
	    sig_fails("DKIM-Signature: a=rsa-sha256; "
		      "d=x; s=y; h=from; bh=47DEQpj8HBSa+/"
		      "TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
		"missing"));
	CHECK("sig v=2",
	    sig_fails("DKIM-Signature: v=2; a=rsa-sha256; "
		      "d=x; s=y; h=from; bh=47DEQpj8HBSa+/"
		      "TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
		"v="));
	CHECK("sig twice",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; d=other.org", "twice"));
	CHECK("sig rsa-sha1",
	    sig_fails("DKIM-Signature: v=1; a=rsa-sha1; "
		      "d=x; s=y; h=from; b=AAAA; bh=AAAA",
		"algorithm"));
	CHECK("sig h= without from",
	    sig_fails("DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; h=to; "
		      "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
		"h="));
	CHECK("sig h= empty name",
	    sig_fails(
		"DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; "
		"h=from::to; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
		"; b=AAAA",
		"h="));
	CHECK("sig bh short",
	    sig_fails("DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; h=from; "
		      "bh=AAAA; b=AAAA",
		"bh="));
	CHECK("sig b not base64",
	    sig_fails("DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; h=from; "
		      "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=A*AA",
		"b="));
	CHECK("sig l= overflow",
	    sig_fails(
		"DKIM-Signature: " GOOD_TAGS "; l=99999999999999999999", "l="));
	CHECK("sig t= negative",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; t=-1", "t="));
	CHECK("sig d= with space",
	    sig_fails("DKIM-Signature: v=1; a=rsa-sha256; d=x y; s=y; h=from; "
		      "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
		"d="));
	CHECK("sig 8-bit",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; z=\xc3\xa9", "octet"));
	CHECK("sig NUL",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; z=a\x01", "octet"));
	CHECK("sig i= in d=",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; i=@evil.org", "i=") &&
		sig_fails(
		    "DKIM-Signature: " GOOD_TAGS "; i=a@xexample.org", "i=") &&
		sig_fails("DKIM-Signature: " GOOD_TAGS "; i=no-at", "i="));
	CHECK("sig x= before t=",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; t=10; x=9", "x="));
	if ((sig = malloc(sizeof(*sig))) != NULL) {
		const char *f = "DKIM-Signature: " GOOD_TAGS
				"; i=joe@Mail.EXAMPLE.org; t=9; x=10";

		CHECK("sig i= in a subdomain of d=",
		    dkim_signature_parse(sig, f, strlen(f), err, sizeof(err)) ==
			0);
		f = "DKIM-Signature: " GOOD_TAGS "; i=\"j@e\"@example.org";
		CHECK("sig i= with a quoted local part",
		    dkim_signature_parse(sig, f, strlen(f), err, sizeof(err)) ==
			0);
		free(sig);
	}
	CHECK("sig tag without =",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; novalue", "value"));
	CHECK("sig bad tag name",
	    sig_fails("DKIM-Signature: " GOOD_TAGS "; 1a=b", "tag name"));
	/* h= longer than DKIM_SIGN_NAMES_MAX names, and a name too long */
	if ((big = malloc(64 * 1024)) != NULL) {
		strlcpy(big,
		    "DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; "
		    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
		    "b=AAAA; h=from",
		    64 * 1024);
		for (i = 0; i < DKIM_SIGN_NAMES_MAX; i++)
			strlcat(big, ":to", 64 * 1024);
		CHECK("sig h= too long", sig_fails(big, "h="));
		strlcpy(big,
		    "DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; "
		    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
		    "b=AAAA; h=from:",
		    64 * 1024);
		for (i = 0; i < DKIM_NAME_MAX; i++)
			strlcat(big, "x", 64 * 1024);
		CHECK("sig h= name too long", sig_fails(big, "h="));
		free(big);
	}
}

static void
test_prepare_refuses(void)
{
	struct dkim_sign_request req = {
	    DKIM_RSA_SHA256, "example.org", "sel", 1};
	const char *msg = "From: a@example.org\r\n";
	unsigned char bh[DKIM_DIGEST_LEN] = {0};
	struct dkim_template t;
	struct dkim_headers h;
	char err[128];

	if (dkim_headers_parse(&h, msg, strlen(msg), NULL, err, sizeof(err)) ==
	    -1)
		return;
	req.domain = "exa mple.org";
	CHECK("prepare bad domain",
	    dkim_sign_prepare(&req, &h, bh, &t, err, sizeof(err)) == -1);
	req.domain = "example.org";
	req.selector = "s;h=to";
	CHECK("prepare bad selector",
	    dkim_sign_prepare(&req, &h, bh, &t, err, sizeof(err)) == -1);
	req.selector = "2026a.mail";
	CHECK("prepare dotted selector",
	    dkim_sign_prepare(&req, &h, bh, &t, err, sizeof(err)) == 0 &&
		strstr(t.field, "s=2026a.mail;") != NULL &&
		t.len == strlen(t.field) &&
		strcmp(t.field + t.len - 3, " b=") == 0);
	dkim_headers_free(&h);
}

static int
record_ok(const char *txt, struct dkim_key_record *rec)
{
	char err[128];

	if (dkim_key_record_parse(rec, txt, strlen(txt), err, sizeof(err)) == 0)
		return 1;
	printf("# %s: %s\n", txt, err);
	return 0;
}

static int
record_fails(const char *txt, const char *why)
{
	struct dkim_key_record rec;
	char err[128] = "";

	return dkim_key_record_parse(
		   &rec, txt, strlen(txt), err, sizeof(err)) == -1 &&
	    strstr(err, why) != NULL;
}

static void
test_key_record(void)
{
	struct dkim_key_record rec;
	char *big;

	CHECK("record rsa",
	    record_ok("v=DKIM1; k=rsa; p=AAAA", &rec) &&
		rec.alg == DKIM_RSA_SHA256 && strcmp(rec.p, "AAAA") == 0 &&
		!rec.testing && !rec.strict);
	CHECK("record default rsa",
	    record_ok("p=AAAA;", &rec) && rec.alg == DKIM_RSA_SHA256);
	CHECK("record ed25519",
	    record_ok("v=DKIM1;k=ed25519;p=AB", &rec) &&
		rec.alg == DKIM_ED25519_SHA256);
	CHECK("record FWS in p",
	    record_ok("v=DKIM1; p= AB CD\r\n\tEF ; n=a note", &rec) &&
		strcmp(rec.p, "ABCDEF") == 0);
	CHECK("record revoked",
	    record_ok("v=DKIM1; p=", &rec) && rec.p[0] == '\0');
	CHECK("record flags",
	    record_ok("t = y : s ; h=sha1:sha256; s=email; p=A", &rec) &&
		rec.testing && rec.strict);
	CHECK("record s=*", record_ok("s=*; p=A; x=unknown", &rec));
	CHECK("record v not first", record_fails("p=A; v=DKIM1", "v="));
	CHECK("record v=DKIM2", record_fails("v=DKIM2; p=A", "v="));
	CHECK("record h=sha1", record_fails("h=sha1; p=A", "h="));
	CHECK("record s=tlsrpt", record_fails("s=tlsrpt; p=A", "s="));
	CHECK("record k=dsa", record_fails("k=dsa; p=A", "key type"));
	CHECK("record no p", record_fails("v=DKIM1; k=rsa", "p="));
	CHECK("record p twice", record_fails("p=A; p=B", "twice"));
	CHECK("record junk", record_fails("v=DKIM1; p", "value"));
	CHECK("record 8-bit", record_fails("n=\xc3\xa9; p=A", "octet"));
	if ((big = malloc(4 * DKIM_PUBKEY_MAX + 16)) != NULL) {
		memcpy(big, "p=", 2);
		memset(big + 2, 'A', DKIM_PUBKEY_MAX);
		big[DKIM_PUBKEY_MAX + 2] = '\0';
		CHECK("record p too long", record_fails(big, "p="));
		memset(big + 2, ' ', 4 * DKIM_PUBKEY_MAX);
		big[4 * DKIM_PUBKEY_MAX + 2] = '\0';
		CHECK("record too long", record_fails(big, "too long"));
		free(big);
	}
	/* the record a key of this file's dkimpy messages is published in */
	{
		struct dkim_key *k = NULL;
		char txt[DKIM_PUBKEY_MAX + 32], err[128];

		snprintf(txt, sizeof(txt), "v=DKIM1; k=ed25519; p=%s",
		    dkimpy_p_ed25519);
		CHECK("record to key",
		    record_ok(txt, &rec) &&
			(k = dkim_key_from_dns(
			     rec.alg, rec.p, err, sizeof(err))) != NULL);
		dkim_key_free(k);
	}
}

/*
 * Ed25519 signs the same digest the same way every time: the whole field
 * for a fixed key, time and message, as dkimpy verified it when it was
 * written down.  A change to the tags, their order or the folding shows.
 */
static const char kat_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIMx0mNeb5Lzvw6+iiBaOhB05rVdIP4/IhYAZywuTT8oF\n"
    "-----END PRIVATE KEY-----\n";
static const char kat_p[] = "3DvjBpBUqDUwEGN5QOFk31T0FwAiMiTui8rYDN19EIQ=";
static const char kat_msg[] = "Received: from a by b\r\n"
			      "From: Joe <joe@example.org>\r\n"
			      "To: Suzie <suzie@example.net>\r\n"
			      "Subject: known\r\n answer\r\n"
			      "Date: Tue, 8 Dec 2026 00:00:00 +0000\r\n"
			      "\r\n"
			      "body  \r\n\r\n";
static const char kat_field[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; "
    "d=example.org;\r\n"
    "\ts=b20261208e; t=1765152000; h=date:subject:to:from:from;\r\n"
    "\tbh=Ck5SoRNWUpSR4X0COv7R5ub2pUTtl6xz4dTFz++ji4M=; "
    "b=YtEpqTaB/t+YT2ScGd+w6RPnOO\r\n"
    "\tj6pH6ZCJFty0pt1Xo6C1eTLJj3TqnNLs3WYA43va6GuLGKe8rCSHhllV0bDg==\r\n";

static void
test_known_answer(void)
{
	struct dkim_sign_request req = {
	    DKIM_ED25519_SHA256, "example.org", "b20261208e", 1765152000};
	unsigned char sig[DKIM_SIG_MAX];
	char out[DKIM_SIGNED_FIELD_MAX], p[DKIM_PUBKEY_MAX], err[128];
	struct dkim_message m;
	struct dkim_template t;
	struct dkim_key *key;
	size_t siglen;
	char *signed_msg;

	key = dkim_key_from_pem(kat_key, strlen(kat_key), err, sizeof(err));
	CHECK("kat key",
	    key != NULL && dkim_key_public(key, p, sizeof(p)) == 0 &&
		strcmp(p, kat_p) == 0);
	if (key == NULL || dkim_message_init(&m) == -1)
		goto done;
	CHECK("kat sign",
	    dkim_message_update(
		&m, kat_msg, strlen(kat_msg), err, sizeof(err)) == 0 &&
		dkim_message_final(&m, err, sizeof(err)) == 0 &&
		dkim_sign_prepare(
		    &req, &m.headers, m.bh, &t, err, sizeof(err)) == 0 &&
		dkim_sign_digest(key, t.digest, sig, &siglen, sizeof(sig)) ==
		    0 &&
		siglen == 64 &&
		dkim_sign_finish(&t, sig, siglen, out, sizeof(out)) > 0);
	if (strcmp(out, kat_field) != 0)
		printf("# got:\n%s", out);
	CHECK("kat field", strcmp(out, kat_field) == 0);
	dkim_message_free(&m);
	if (asprintf(&signed_msg, "%s%s", kat_field, kat_msg) != -1) {
		CHECK("kat verifies",
		    verify_message(signed_msg, kat_p, DKIM_ED25519_SHA256));
		free(signed_msg);
	}
done:
	dkim_key_free(key);
}

/* the most fields h= may hold, with long names: the template still fits */
static void
test_prepare_full(void)
{
	struct dkim_sign_request req = {DKIM_RSA_SHA256,
	    "a-rather-long-subdomain.example.org", "b20261208r1", 1700000000};
	unsigned char bh[DKIM_DIGEST_LEN] = {0}, sig[256] = {0};
	char *msg, *out, err[128];
	struct dkim_template *t;
	struct dkim_headers h;
	size_t i, len = 0;
	ssize_t n;

	msg = malloc(DKIM_SIGN_NAMES_MAX * 64);
	t = malloc(sizeof(*t));
	out = malloc(DKIM_SIGNED_FIELD_MAX);
	if (msg == NULL || t == NULL || out == NULL)
		goto done;
	len = strlcpy(msg, "From: a@example.org\r\n", 64);
	for (i = 0; i < DKIM_SIGN_NAMES_MAX - 2; i++) {
		memcpy(msg + len, "Content-Transfer-Encoding: 8bit\r\n", 33);
		len += 33;
	}
	CHECK("full h= parses",
	    dkim_headers_parse(&h, msg, len, NULL, err, sizeof(err)) == 0);
	CHECK("full h= prepared",
	    dkim_sign_prepare(&req, &h, bh, t, err, sizeof(err)) == 0);
	n = dkim_sign_finish(t, sig, sizeof(sig), out, DKIM_SIGNED_FIELD_MAX);
	CHECK("full h= finished", n > 0 && folded_well(out));
	CHECK("sign_finish refuses a short buffer",
	    dkim_sign_finish(t, sig, sizeof(sig), out, (size_t)n) == -1);
	CHECK("sign_finish refuses a long signature",
	    dkim_sign_finish(
		t, sig, DKIM_SIG_MAX + 1, out, DKIM_SIGNED_FIELD_MAX) == -1);
	dkim_headers_free(&h);
done:
	free(out);
	free(t);
	free(msg);
}

int
main(void)
{
	log_init(1, LOG_LEVEL_INFO, "test_dkim");
	dkim_load();
	test_rfc6376_example();
	test_empty_body();
	test_chunks();
	test_long_wsp();
	test_header_relaxed();
	test_select();
	test_hostile_headers();
	test_message_stream();
	test_dkimpy();
	test_round_trip();
	test_signature_parse();
	test_prepare_refuses();
	test_prepare_full();
	test_key_record();
	test_known_answer();
	TEST_EXIT();
}
