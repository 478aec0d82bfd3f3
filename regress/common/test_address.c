/*
 * address.c: RFC 5321 mailboxes and domains, RFC 6531 UTF-8, and the
 * file-system name check, against valid and hostile input.
 */

#include <string.h>

#include "common.h"
#include "test.h"

static char	 big[4096];

/* a string of n copies of c, in big */
static const char *
repeat(char c, size_t n)
{
	if (n >= sizeof(big))
		n = sizeof(big) - 1;
	memset(big, c, n);
	big[n] = '\0';
	return big;
}

/* a, b and c into dst; the tests size dst to fit */
static const char *
join(char *dst, size_t dstsz, const char *a, const char *b, const char *c)
{
	strlcpy(dst, a, dstsz);
	strlcat(dst, b, dstsz);
	strlcat(dst, c, dstsz);
	return dst;
}

static int
parses(const char *s, int utf8, const char *local, const char *domain)
{
	struct mailaddr	 a;

	if (mailaddr_parse(&a, s, utf8) == -1)
		return 0;
	return strcmp(a.local, local) == 0 && strcmp(a.domain, domain) == 0;
}

static int
fails(const char *s, int utf8)
{
	struct mailaddr	 a;

	memset(&a, 'x', sizeof(a));
	if (mailaddr_parse(&a, s, utf8) != -1)
		return 0;
	return a.local[0] == '\0' && a.domain[0] == '\0';
}

static int
round_trip(const char *s, int utf8)
{
	struct mailaddr	 a, b;
	char		 buf[SMTP_LOCALPART_MAX + SMTP_DOMAIN_MAX + 2];

	if (mailaddr_parse(&a, s, utf8) == -1 ||
	    mailaddr_format(&a, buf, sizeof(buf)) == -1 ||
	    mailaddr_parse(&b, buf, utf8) == -1)
		return 0;
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* a domain of nlabels labels of len octets each */
static const char *
domain_of(size_t nlabels, size_t len)
{
	size_t	 i, off = 0;

	for (i = 0; i < nlabels && off + len + 1 < sizeof(big); i++) {
		if (i > 0)
			big[off++] = '.';
		memset(big + off, 'a', len);
		off += len;
	}
	big[off] = '\0';
	return big;
}

static void
test_mailaddr_valid(void)
{
	CHECK("simple", parses("user@example.org", 0, "user",
	    "example.org"));
	CHECK("domain lower-cased", parses("User@Example.ORG", 0, "User",
	    "example.org"));
	CHECK("dots in local", parses("first.last@example.org", 0,
	    "first.last", "example.org"));
	CHECK("atext specials", parses("a!#$%&'*+-/=?^_`{|}~z@example.org",
	    0, "a!#$%&'*+-/=?^_`{|}~z", "example.org"));
	CHECK("plus tag", parses("user+tag@example.org", 0, "user+tag",
	    "example.org"));
	CHECK("quoted local kept", parses("\"john doe\"@example.org", 0,
	    "\"john doe\"", "example.org"));
	CHECK("quoted with @ and >", parses("\"a@b>c\"@example.org", 0,
	    "\"a@b>c\"", "example.org"));
	CHECK("quoted pair", parses("\"a\\\"b\\\\c\"@example.org", 0,
	    "\"a\\\"b\\\\c\"", "example.org"));
	CHECK("empty quoted", parses("\"\"@example.org", 0, "\"\"",
	    "example.org"));
	CHECK("single-label domain", parses("root@localhost", 0, "root",
	    "localhost"));
	CHECK("digit labels", parses("a@123.example.org", 0, "a",
	    "123.example.org"));
	CHECK("hyphen inside label", parses("a@ex-am--ple.org", 0, "a",
	    "ex-am--ple.org"));
	CHECK("local 64 octets", mailaddr_parse(&(struct mailaddr){ 0 },
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@example.org", 0) == 0);
	CHECK("utf8 local", parses("j\xc3\xb6rg@example.org", 1,
	    "j\xc3\xb6rg", "example.org"));
	CHECK("utf8 domain", parses("a@b\xc3\xbc" "cher.Example", 1, "a",
	    "b\xc3\xbc" "cher.example"));
	CHECK("utf8 quoted", parses("\"\xe2\x82\xac x\"@example.org", 1,
	    "\"\xe2\x82\xac x\"", "example.org"));
	CHECK("utf8 4-octet", parses("\xf0\x9f\x93\xa7@example.org", 1,
	    "\xf0\x9f\x93\xa7", "example.org"));
	CHECK("utf8 U+10FFFF", parses("\xf4\x8f\xbf\xbf@example.org", 1,
	    "\xf4\x8f\xbf\xbf", "example.org"));
	CHECK("utf8 U+FFFD", parses("\xef\xbf\xbd@example.org", 1,
	    "\xef\xbf\xbd", "example.org"));
	CHECK("utf8 mode takes ASCII", parses("user@example.org", 1, "user",
	    "example.org"));
}

static void
test_mailaddr_invalid(void)
{
	char	 buf[1024], buf2[1024];

	CHECK("empty", fails("", 0));
	CHECK("no at", fails("user", 0));
	CHECK("no local", fails("@example.org", 0));
	CHECK("no domain", fails("user@", 0));
	CHECK("two ats", fails("a@b@example.org", 0));
	CHECK("leading dot", fails(".user@example.org", 0));
	CHECK("trailing dot local", fails("user.@example.org", 0));
	CHECK("double dot", fails("us..er@example.org", 0));
	CHECK("space in local", fails("us er@example.org", 0));
	CHECK("comma in local", fails("a,b@example.org", 0));
	CHECK("bracket in local", fails("a<b@example.org", 0));
	CHECK("backslash unquoted", fails("a\\b@example.org", 0));
	CHECK("quote in middle", fails("a\"b\"@example.org", 0));
	CHECK("unterminated quote", fails("\"abc@example.org", 0));
	CHECK("unterminated quote at end", fails("\"abc", 0));
	CHECK("quoted backslash at end", fails("\"abc\\", 0));
	CHECK("quoted tab", fails("\"a\tb\"@example.org", 0));
	CHECK("quoted-pair control", fails("\"a\\\x01\"@example.org", 0));
	CHECK("quoted then junk", fails("\"a\"b@example.org", 0));
	CHECK("address literal v4", fails("user@[192.0.2.1]", 0));
	CHECK("address literal v6", fails("user@[IPv6:2001:db8::1]", 0));
	CHECK("unbalanced bracket", fails("user@[192.0.2.1", 0));
	CHECK("domain leading dot", fails("a@.example.org", 0));
	CHECK("domain trailing dot", fails("a@example.org.", 0));
	CHECK("domain double dot", fails("a@example..org", 0));
	CHECK("label leading hyphen", fails("a@-example.org", 0));
	CHECK("label trailing hyphen", fails("a@example-.org", 0));
	CHECK("underscore in domain", fails("a@ex_ample.org", 0));
	CHECK("space in domain", fails("a@exa mple.org", 0));
	CHECK("control in local", fails("a\x01@example.org", 0));
	CHECK("DEL in local", fails("a\x7f@example.org", 0));
	CHECK("CRLF in domain", fails("a@example.org\r\nRCPT", 0));

	/* lengths */
	join(buf, sizeof(buf), repeat('a', 65), "@example.org", "");
	CHECK("local 65 octets", fails(buf, 0));
	join(buf, sizeof(buf), repeat('a', 1000), "@example.org", "");
	CHECK("local 1000 octets", fails(buf, 0));
	join(buf, sizeof(buf), "\"", repeat('a', 63), "\"@example.org");
	CHECK("quoted local 65 octets", fails(buf, 0));
	join(buf, sizeof(buf), "\"", repeat('a', 62), "\"@example.org");
	CHECK("quoted local 64 octets", mailaddr_parse(
	    &(struct mailaddr){ 0 }, buf, 0) == 0);
	join(buf, sizeof(buf), "a@", repeat('b', 63), ".org");
	CHECK("label 63 octets", mailaddr_parse(&(struct mailaddr){ 0 },
	    buf, 0) == 0);
	join(buf, sizeof(buf), "a@", repeat('b', 64), ".org");
	CHECK("label 64 octets", fails(buf, 0));
	join(buf, sizeof(buf), "a@", domain_of(4, 63), "");
	CHECK("domain 255 octets", strlen(buf) == 257 &&
	    mailaddr_parse(&(struct mailaddr){ 0 }, buf, 0) == 0);
	join(buf, sizeof(buf), "a@", domain_of(4, 63), ".b");
	CHECK("domain 257 octets", fails(buf, 0));
	join(buf, sizeof(buf), "a@", domain_of(75, 3), "");
	CHECK("domain 299 octets", strlen(buf) == 301 && fails(buf, 0));
	join(buf, sizeof(buf), "a@", repeat('b', 300), "");
	CHECK("domain 300-octet label", fails(buf, 0));

	/* UTF-8 */
	CHECK("utf8 refused without flag", fails("j\xc3\xb6rg@example.org",
	    0));
	CHECK("utf8 domain refused without flag", fails("a@b\xc3\xbc.de",
	    0));
	CHECK("lone continuation", fails("a\x80@example.org", 1));
	CHECK("truncated 2-octet", fails("a\xc3@example.org", 1));
	CHECK("truncated at end", fails("a@example.de\xc3", 1));
	CHECK("truncated 3-octet", fails("a\xe2\x82@example.org", 1));
	CHECK("overlong C0", fails("\xc0\xaf@example.org", 1));
	CHECK("overlong C1", fails("\xc1\xbf@example.org", 1));
	CHECK("overlong E0", fails("\xe0\x80\xaf@example.org", 1));
	CHECK("overlong F0", fails("\xf0\x80\x80\xaf@example.org", 1));
	CHECK("surrogate", fails("\xed\xa0\x80@example.org", 1));
	CHECK("above U+10FFFF", fails("\xf4\x90\x80\x80@example.org", 1));
	CHECK("F5 lead", fails("\xf5\x80\x80\x80@example.org", 1));
	CHECK("FF octet", fails("\xff@example.org", 1));
	CHECK("FE octet in domain", fails("a@ex\xfe.org", 1));
	CHECK("utf8 in literal", fails("a@[\xc3\xb6]", 1));
	/* 32 two-octet characters are 64 octets, one more is too many */
	join(buf, sizeof(buf),
	    "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
	    "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
	    "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
	    "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6",
	    "@example.org", "");
	CHECK("utf8 local 64 octets", mailaddr_parse(&(struct mailaddr){ 0 },
	    buf, 1) == 0);
	join(buf2, sizeof(buf2), "\xc3\xb6", buf, "");
	CHECK("utf8 local 66 octets", fails(buf2, 1));
}

static void
test_mailaddr_format(void)
{
	struct mailaddr	 a;
	char		 buf[SMTP_LOCALPART_MAX + SMTP_DOMAIN_MAX + 2];
	char		 small[8];

	CHECK("format parse", mailaddr_parse(&a, "Joe@Example.ORG", 0) == 0);
	CHECK("format", mailaddr_format(&a, buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "Joe@example.org") == 0);
	CHECK("format too small", mailaddr_format(&a, small,
	    sizeof(small)) == -1);
	CHECK("format exact fit fails by one", mailaddr_format(&a, buf,
	    strlen("Joe@example.org")) == -1);
	CHECK("format exact fit", mailaddr_format(&a, buf,
	    strlen("Joe@example.org") + 1) == 0);
	CHECK("format zero size", mailaddr_format(&a, buf, 0) == -1);
	memset(&a, 0, sizeof(a));
	strlcpy(a.local, "postmaster", sizeof(a.local));
	CHECK("format no domain", mailaddr_format(&a, buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "postmaster") == 0);

	CHECK("round trip simple", round_trip("a.b@Ex.Org", 0));
	CHECK("round trip quoted", round_trip("\"a b\\\"c\"@ex.org", 0));
	CHECK("round trip utf8", round_trip("\xc3\xb6@\xc3\xa4.ORG", 1));
	join(buf, sizeof(buf), repeat('x', 64), "@", "y.z");
	CHECK("round trip long local", round_trip(buf, 0));
}

static void
test_domain_valid(void)
{
	char	 buf[600];

	CHECK("domain ok", domain_valid("example.org", 0));
	CHECK("domain mixed case", domain_valid("Mail.Example.ORG", 0));
	CHECK("domain single label", domain_valid("localhost", 0));
	CHECK("domain digits", domain_valid("1.2.3.4", 0));
	CHECK("domain one char", domain_valid("a", 0));
	CHECK("domain xn--", domain_valid("xn--bcher-kva.example", 0));
	CHECK("domain empty", !domain_valid("", 0));
	CHECK("domain dot", !domain_valid(".", 0));
	CHECK("domain trailing dot", !domain_valid("example.org.", 0));
	CHECK("domain hyphen start", !domain_valid("-a.org", 0));
	CHECK("domain hyphen end", !domain_valid("a-.org", 0));
	CHECK("domain only hyphen", !domain_valid("-", 0));
	CHECK("domain literal", !domain_valid("[192.0.2.1]", 0));
	CHECK("domain underscore", !domain_valid("_dmarc.example.org", 0));
	CHECK("domain slash", !domain_valid("a/b.org", 0));
	CHECK("domain utf8 off", !domain_valid("b\xc3\xbc" "cher.de", 0));
	CHECK("domain utf8 on", domain_valid("b\xc3\xbc" "cher.de", 1));
	CHECK("domain utf8 bad", !domain_valid("b\xc3" "cher.de", 1));
	CHECK("domain utf8 label end hyphen", !domain_valid("\xc3\xbc-.de",
	    1));
	CHECK("domain 255", domain_valid(domain_of(4, 63), 0));
	join(buf, sizeof(buf), domain_of(4, 63), ".a", "");
	CHECK("domain 257", !domain_valid(buf, 0));
	join(buf, sizeof(buf), domain_of(100, 4), "", "");
	CHECK("domain 499", !domain_valid(buf, 0));
	CHECK("domain label 63", domain_valid(repeat('a', 63), 0));
	CHECK("domain label 64", !domain_valid(repeat('a', 64), 0));
	CHECK("domain label 2000", !domain_valid(repeat('a', 2000), 0));
}

static void
test_lowercase(void)
{
	char	 s[] = "AbC.\xc3\x84Z-09@";

	lowercase(s);
	CHECK("lowercase ascii only", strcmp(s, "abc.\xc3\x84z-09@") == 0);
	s[0] = '\0';
	lowercase(s);
	CHECK("lowercase empty", s[0] == '\0');
}

static void
test_path_component(void)
{
	char	 buf[300];

	CHECK("path ok", path_component_valid("example.org"));
	CHECK("path user", path_component_valid("first.last+tag"));
	CHECK("path utf8", path_component_valid("j\xc3\xb6rg"));
	CHECK("path empty", !path_component_valid(""));
	CHECK("path dot", !path_component_valid("."));
	CHECK("path dotdot", !path_component_valid(".."));
	CHECK("path hidden", !path_component_valid(".hidden"));
	CHECK("path slash", !path_component_valid("a/b"));
	CHECK("path traversal", !path_component_valid("../etc"));
	CHECK("path slash end", !path_component_valid("a/"));
	CHECK("path newline", !path_component_valid("a\nb"));
	CHECK("path tab", !path_component_valid("a\tb"));
	CHECK("path DEL", !path_component_valid("a\x7f"));
	CHECK("path 255", path_component_valid(repeat('a', 255)));
	CHECK("path 256", !path_component_valid(repeat('a', 256)));
	join(buf, sizeof(buf), repeat('b', 299), "", "");
	CHECK("path 299", !path_component_valid(buf));
}

int
main(void)
{
	test_mailaddr_valid();
	test_mailaddr_invalid();
	test_mailaddr_format();
	test_domain_valid();
	test_lowercase();
	test_path_component();
	TEST_EXIT();
}
