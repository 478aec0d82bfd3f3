/*
 * imap_utf7.c: modified UTF-7 of mailbox names and UTF-8, both ways; the
 * one canonical spelling accepted, everything else refused.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "test.h"

static char out[1024];

static int
to_utf8(const char *in, const char *want)
{
	return imap_utf7_to_utf8(in, out, sizeof(out)) == 0 &&
	    strcmp(out, want) == 0;
}

static int
to_utf7(const char *in, const char *want)
{
	return imap_utf8_to_utf7(in, out, sizeof(out)) == 0 &&
	    strcmp(out, want) == 0;
}

/* both directions */
static int
pair(const char *utf7, const char *utf8)
{
	return to_utf8(utf7, utf8) && to_utf7(utf8, utf7);
}

static void
test_vectors(void)
{
	CHECK("ASCII", pair("INBOX.Sent Items", "INBOX.Sent Items"));
	CHECK("empty", pair("", ""));
	CHECK("RFC 3501", pair("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	    "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"));
	CHECK("ampersand", pair("&-", "&"));
	CHECK("ampersands", pair("a&-&-b", "a&&b"));
	CHECK("Entwurfe", pair("Entw&APw-rfe", "Entw\xc3\xbcrfe"));
	CHECK("one letter", pair("&AOQ-", "\xc3\xa4"));
	CHECK("emoji", pair("&2D3eAA-", "\xf0\x9f\x98\x80"));
	CHECK("control", pair("a&AAE-b", "a\x01" "b"));
	CHECK("DEL", pair("&AH8-", "\x7f"));
	CHECK("runs and &", pair("&AOk-&-&APw-", "\xc3\xa9&\xc3\xbc"));
	CHECK("long run", pair("&ZeVnLIqe2D3eAA-x",
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xf0\x9f\x98\x80x"));
	CHECK("three", pair("&AOkA6QDp-", "\xc3\xa9\xc3\xa9\xc3\xa9"));
	CHECK("U+FFFF", pair("&,,8-", "\xef\xbf\xbf"));
	CHECK("U+10FFFF", pair("&2,,f,w-", "\xf4\x8f\xbf\xbf"));
}

static void
test_refused(void)
{
	static const char *bad7[] = {
		"&",		/* unterminated */
		"a&",		/* unterminated */
		"&Jjo",		/* unterminated */
		"&Jjo!",	/* not base64 */
		"&AGE-",	/* 'a' in base64 */
		"&ACY-",	/* '&' in base64 */
		"&ACA-",	/* ' ' in base64 */
		"&U,BTFw-&ZeVnLIqe-", /* two runs side by side */
		"&AAA-",	/* NUL */
		"&2D0-",	/* lone high surrogate */
		"&2D3YPQ-",	/* high then high */
		"&3gA-",	/* lone low surrogate */
		"&AOR-",	/* padding bits not zero */
		"&AOQA-",	/* a sixth bit too many */
		"&AB-",		/* less than one unit */
		"&AOQ=-",	/* '=' padding */
		"&U/BTFw-",	/* '/' instead of ',' */
		"&--",		/* fine, then a stray... */
		"\x80",		/* 8-bit */
		"\xc3\xa4",	/* raw UTF-8 */
		"a\tb",		/* raw control */
		"\x7f",		/* raw DEL */
		"&AOQ- &AOQ",	/* second run unterminated */
	};
	static const char *bad8[] = {
		"\xff", "\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\xaf",
		"\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xe6\x97", "a\xe6", "\xf0\x9f\x98",
		"\xc3\xa9\xc3",
	};
	size_t i;
	int ok = 1;

	for (i = 0; i < sizeof(bad7) / sizeof(bad7[0]); i++) {
		if (strcmp(bad7[i], "&--") == 0) {
			/* "&-" then '-' is "&-" and nothing wrong */
			if (!to_utf8(bad7[i], "&-"))
				ok = 0;
			continue;
		}
		if (imap_utf7_to_utf8(bad7[i], out, sizeof(out)) != -1) {
			printf("# accepted \"%s\"\n", bad7[i]);
			ok = 0;
		}
	}
	CHECK("malformed UTF-7", ok);
	ok = 1;
	for (i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++)
		if (imap_utf8_to_utf7(bad8[i], out, sizeof(out)) != -1) {
			printf("# accepted UTF-8 %zu\n", i);
			ok = 0;
		}
	CHECK("malformed UTF-8", ok);
}

static void
test_sizes(void)
{
	char small[16];

	/* "Entw\xc3\xbcrfe" is 9 octets and a NUL; "Entw&APw-rfe" 12 */
	CHECK("utf8 fits", imap_utf7_to_utf8("Entw&APw-rfe", small, 10) ==
	    0 && strcmp(small, "Entw\xc3\xbcrfe") == 0);
	CHECK("utf8 short", imap_utf7_to_utf8("Entw&APw-rfe", small, 9) ==
	    -1);
	CHECK("utf8 short in run", imap_utf7_to_utf8("Entw&APw-rfe", small,
	    5) == -1);
	CHECK("utf7 fits", imap_utf8_to_utf7("Entw\xc3\xbcrfe", small, 13) ==
	    0 && strcmp(small, "Entw&APw-rfe") == 0);
	CHECK("utf7 short", imap_utf8_to_utf7("Entw\xc3\xbcrfe", small, 12) ==
	    -1);
	CHECK("utf7 short at -", imap_utf8_to_utf7("\xc3\xbc", small, 5) ==
	    -1 && imap_utf8_to_utf7("\xc3\xbc", small, 6) == 0);
	CHECK("utf7 short at &-", imap_utf8_to_utf7("&", small, 2) == -1 &&
	    imap_utf8_to_utf7("&", small, 3) == 0);
	CHECK("zero size", imap_utf8_to_utf7("", small, 0) == -1 &&
	    imap_utf7_to_utf8("", small, 0) == -1);
	CHECK("empty in one", imap_utf8_to_utf7("", small, 1) == 0 &&
	    small[0] == '\0');
}

/* the UTF-8 of cp into s; its length */
static size_t
encode(uint32_t cp, char *s)
{
	if (cp < 0x80) {
		s[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = 0xc0 | cp >> 6;
		s[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = 0xe0 | cp >> 12;
		s[1] = 0x80 | (cp >> 6 & 0x3f);
		s[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	s[0] = 0xf0 | cp >> 18;
	s[1] = 0x80 | (cp >> 12 & 0x3f);
	s[2] = 0x80 | (cp >> 6 & 0x3f);
	s[3] = 0x80 | (cp & 0x3f);
	return 4;
}

static void
test_round_trip(void)
{
	char in[64], utf7[256], back[64];
	uint32_t cp, seed = 1;
	size_t len, i;
	int ok = 1, n;

	/* every code point alone and between two others */
	for (cp = 1; cp <= 0x10ffff; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		len = encode(cp, in);
		in[len] = '\0';
		if (imap_utf8_to_utf7(in, utf7, sizeof(utf7)) == -1 ||
		    imap_utf7_to_utf8(utf7, back, sizeof(back)) == -1 ||
		    strcmp(in, back) != 0) {
			ok = 0;
			break;
		}
	}
	CHECK("every code point", ok);
	/* random mixtures of ASCII, '&' and wide characters */
	for (n = 0; ok && n < 20000; n++) {
		len = 0;
		for (i = 0; i < 8; i++) {
			seed = seed * 1103515245 + 12345;
			switch (seed >> 16 & 3) {
			case 0:
				in[len++] = 'a' + (seed >> 20) % 26;
				break;
			case 1:
				in[len++] = '&';
				break;
			case 2:
				len += encode(0x80 + (seed >> 8) % 0xd000,
				    in + len);
				break;
			default:
				len += encode(0x10000 + (seed >> 4) % 0x100000,
				    in + len);
			}
		}
		in[len] = '\0';
		if (imap_utf8_to_utf7(in, utf7, sizeof(utf7)) == -1 ||
		    imap_utf7_to_utf8(utf7, back, sizeof(back)) == -1 ||
		    strcmp(in, back) != 0)
			ok = 0;
	}
	CHECK("mixtures", ok);
}

int
main(void)
{
	test_vectors();
	test_refused();
	test_sizes();
	test_round_trip();
	TEST_EXIT();
}
