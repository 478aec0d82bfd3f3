/*
 * dkim_keys.c: the selectors boxd makes parse back to their pair and
 * algorithm, sort by age, and the next pair of a rotation is always the
 * newest; key file names split into domain and selector.  Everything
 * else (names by hand, hostile file names) is refused or left alone.
 */

#include <string.h>
#include <time.h>

#include "common.h"
#include "test.h"

/* 2026-12-08 12:00 UTC */
#define DEC8 ((time_t)1796731200)

static void
test_selectors(void)
{
	struct dkim_pair p = {20261208, 1}, q;
	enum dkim_alg alg;
	char buf[DKIM_SELECTOR_MAX], big[DKIM_SELECTOR_MAX + 8];

	CHECK("make rsa", dkim_selector_make(&p, DKIM_RSA_SHA256, buf,
			      sizeof(buf)) == 0 &&
		strcmp(buf, "b20261208r") == 0);
	CHECK("make ed25519", dkim_selector_make(&p, DKIM_ED25519_SHA256, buf,
				  sizeof(buf)) == 0 &&
		strcmp(buf, "b20261208e") == 0);
	p.seq = 2;
	CHECK("make seq", dkim_selector_make(&p, DKIM_RSA_SHA256, buf,
			      sizeof(buf)) == 0 &&
		strcmp(buf, "b20261208r02") == 0);
	p.seq = 99;
	CHECK("make seq 99", dkim_selector_make(&p, DKIM_ED25519_SHA256, buf,
				 sizeof(buf)) == 0 &&
		strcmp(buf, "b20261208e99") == 0);
	p.seq = 100;
	CHECK("make seq 100 refused",
	    dkim_selector_make(&p, DKIM_RSA_SHA256, buf, sizeof(buf)) == -1);
	p.seq = 0;
	CHECK("make seq 0 refused",
	    dkim_selector_make(&p, DKIM_RSA_SHA256, buf, sizeof(buf)) == -1);
	p.seq = 1;
	CHECK("make too small",
	    dkim_selector_make(&p, DKIM_RSA_SHA256, buf, 10) == -1);
	p.date = 20261332;
	CHECK("make bad date",
	    dkim_selector_make(&p, DKIM_RSA_SHA256, buf, sizeof(buf)) == -1);

	CHECK("parse rsa", dkim_selector_parse("b20261208r", &q, &alg) == 0 &&
		q.date == 20261208 && q.seq == 1 && alg == DKIM_RSA_SHA256);
	CHECK("parse ed seq",
	    dkim_selector_parse("b20261208e17", &q, &alg) == 0 &&
		q.date == 20261208 && q.seq == 17 &&
		alg == DKIM_ED25519_SHA256);
	CHECK("parse 01 refused", dkim_selector_parse("b20261208r01", &q,
				      &alg) == -1);
	CHECK("parse 00 refused", dkim_selector_parse("b20261208r00", &q,
				      &alg) == -1);
	CHECK("parse other letter",
	    dkim_selector_parse("b20261208x", &q, &alg) == -1);
	CHECK("parse hand-made", dkim_selector_parse("default", &q, &alg) ==
		-1);
	CHECK("parse mail2024", dkim_selector_parse("mail2024", &q, &alg) ==
		-1);
	CHECK("parse short", dkim_selector_parse("b2026120r", &q, &alg) == -1);
	CHECK("parse long", dkim_selector_parse("b20261208r123", &q, &alg) ==
		-1);
	CHECK("parse month 13",
	    dkim_selector_parse("b20261308r", &q, &alg) == -1);
	CHECK("parse day 0", dkim_selector_parse("b20261200r", &q, &alg) ==
		-1);
	CHECK("parse day 32", dkim_selector_parse("b20260132r", &q, &alg) ==
		-1);
	CHECK("parse sign", dkim_selector_parse("b+0261208r", &q, &alg) == -1);
	CHECK("parse seq letters",
	    dkim_selector_parse("b20261208rxx", &q, &alg) == -1);
	CHECK("parse empty", dkim_selector_parse("", &q, &alg) == -1);
	CHECK("parse B", dkim_selector_parse("B20261208r", &q, &alg) == -1);

	CHECK("valid", dkim_selector_valid("b20261208r") &&
		dkim_selector_valid("mail-2024") && dkim_selector_valid("s1"));
	CHECK("valid refuses dot", !dkim_selector_valid("a.b"));
	CHECK("valid refuses slash", !dkim_selector_valid("../x"));
	CHECK("valid refuses empty", !dkim_selector_valid(""));
	CHECK("valid refuses hyphen ends",
	    !dkim_selector_valid("-a") && !dkim_selector_valid("a-"));
	CHECK("valid refuses 8-bit", !dkim_selector_valid("s\xc3\xa9"));
	CHECK("valid refuses space", !dkim_selector_valid("a b"));
	/* a DNS label's 63 octets at most, and a buffer's NUL */
	memset(big, 'a', sizeof(big));
	big[DKIM_SELECTOR_MAX] = '\0';
	CHECK("valid refuses long", !dkim_selector_valid(big));
	big[DKIM_SELECTOR_MAX - 1] = '\0';
	CHECK("valid takes the longest", dkim_selector_valid(big));
}

/* within an algorithm, names sort as their pairs do */
static void
test_order(void)
{
	static const char *const names[] = {"b20251231r", "b20261207r",
	    "b20261208r", "b20261208r02", "b20261208r10", "b20261208r99",
	    "b20261209r", "b20270101r"};
	struct dkim_pair a, b;
	enum dkim_alg alg;
	size_t i;
	int ok = 1;

	for (i = 0; i + 1 < sizeof(names) / sizeof(names[0]); i++) {
		if (dkim_selector_parse(names[i], &a, &alg) == -1 ||
		    dkim_selector_parse(names[i + 1], &b, &alg) == -1 ||
		    dkim_pair_cmp(&a, &b) >= 0 || dkim_pair_cmp(&b, &a) <= 0 ||
		    strcmp(names[i], names[i + 1]) >= 0)
			ok = 0;
	}
	CHECK("order by age, by name too", ok);
	CHECK("same pair", dkim_pair_cmp(&a, &a) == 0);
}

static void
test_next(void)
{
	struct dkim_pair newest, next;

	CHECK("next first", dkim_pair_next(NULL, DEC8, &next) == 0 &&
		next.date == 20261208 && next.seq == 1);
	newest = (struct dkim_pair){20261201, 4};
	CHECK("next later day", dkim_pair_next(&newest, DEC8, &next) == 0 &&
		next.date == 20261208 && next.seq == 1);
	newest = (struct dkim_pair){20261208, 1};
	CHECK("next same day", dkim_pair_next(&newest, DEC8, &next) == 0 &&
		next.date == 20261208 && next.seq == 2);
	/* a clock set back still makes the newest pair */
	newest = (struct dkim_pair){20270105, 3};
	CHECK("next clock back", dkim_pair_next(&newest, DEC8, &next) == 0 &&
		next.date == 20270105 && next.seq == 4);
	newest = (struct dkim_pair){20261208, DKIM_PAIR_SEQ_MAX};
	CHECK("next day full", dkim_pair_next(&newest, DEC8, &next) == -1);
}

static void
test_files(void)
{
	char name[DKIM_KEY_FILE_MAX], d[SMTP_DOMAIN_MAX + 1];
	char s[DKIM_SELECTOR_MAX], big[600];

	CHECK("file name", dkim_key_file_name("example.org", "b20261208r",
			       name, sizeof(name)) == 0 &&
		strcmp(name, "example.org.b20261208r.key") == 0);
	CHECK("file name bad domain",
	    dkim_key_file_name("../etc", "s", name, sizeof(name)) == -1);
	CHECK("file name bad selector",
	    dkim_key_file_name("example.org", "a/b", name, sizeof(name)) ==
		-1);
	CHECK("file name small",
	    dkim_key_file_name("example.org", "s", name, 10) == -1);
	CHECK("parse", dkim_key_file_parse("mail.example.org.b20261208e.key",
			   d, sizeof(d), s, sizeof(s)) == 0 &&
		strcmp(d, "mail.example.org") == 0 &&
		strcmp(s, "b20261208e") == 0);
	CHECK("parse no suffix", dkim_key_file_parse("example.org.s.pem", d,
				     sizeof(d), s, sizeof(s)) == -1);
	CHECK("parse only suffix",
	    dkim_key_file_parse(".key", d, sizeof(d), s, sizeof(s)) == -1);
	CHECK("parse no domain",
	    dkim_key_file_parse("s.key", d, sizeof(d), s, sizeof(s)) == -1);
	CHECK("parse empty selector", dkim_key_file_parse("example.org..key",
					  d, sizeof(d), s, sizeof(s)) == -1);
	CHECK("parse tmp", dkim_key_file_parse(".example.org.s.key.tmp", d,
			       sizeof(d), s, sizeof(s)) == -1);
	CHECK("parse dot first", dkim_key_file_parse(".example.org.s.key", d,
				     sizeof(d), s, sizeof(s)) == -1);
	CHECK("parse bad domain", dkim_key_file_parse("exa mple.org.s.key", d,
				      sizeof(d), s, sizeof(s)) == -1);
	CHECK("parse small buffers",
	    dkim_key_file_parse("example.org.selector.key", d, 5, s,
		sizeof(s)) == -1 &&
		dkim_key_file_parse("example.org.selector.key", d, sizeof(d), s,
		    4) == -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + sizeof(big) - 7, ".s.key", 6);
	CHECK("parse long",
	    dkim_key_file_parse(big, d, sizeof(d), s, sizeof(s)) == -1);
}

int
main(void)
{
	test_selectors();
	test_order();
	test_next();
	test_files();
	TEST_EXIT();
}
