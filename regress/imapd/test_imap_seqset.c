/*
 * imap_seqset.c: sequence sets parsed, bounded, resolved against a
 * mailbox, searched and written back.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"
#include "test.h"

static struct imap_seqset set;

static int
parse(const char *s, size_t max)
{
	imap_seqset_free(&set);
	return imap_seqset_parse(s, &set, max);
}

static int
range(size_t i, uint32_t lo, uint32_t hi)
{
	return i < set.n && set.r[i].lo == lo && set.r[i].hi == hi;
}

/* s resolved with star: the numbers 1..limit it holds, as a string */
static const char *
members(const char *s, uint32_t star, uint32_t limit)
{
	static char out[1024];
	char num[16];
	uint32_t v;

	out[0] = '\0';
	if (parse(s, 100) == -1)
		return "error";
	imap_seqset_resolve(&set, star);
	for (v = 1; v <= limit; v++) {
		if (!imap_seqset_contains(&set, v))
			continue;
		snprintf(num, sizeof(num), "%s%u", out[0] ? "," : "", v);
		strlcat(out, num, sizeof(out));
	}
	return out;
}

static void
test_parse(void)
{
	static const char *bad[] = { "", ",", "1,", ",1", "1,,2", "1::2",
		"1:", ":1", ":", "0", "0:5", "5:0", "01", "1:01", "-1", "+1",
		"1 ", " 1", "1 2", "a", "1a", "1:*:3", "**", "*1", "1*",
		"4294967296", "1:4294967296", "99999999999999999999", "$,1",
		"1,$", "$$", "$:1", "1.5", "1;2", "\xff" };
	size_t i;
	int ok;

	CHECK("one", parse("1", 1) == 0 && set.n == 1 && range(0, 1, 1) &&
	    !set.dollar);
	CHECK("RFC set", parse("1:3,5,7:*", 3) == 0 && set.n == 3 &&
	    range(0, 1, 3) && range(1, 5, 5) && range(2, 7, UINT32_MAX));
	CHECK("star", parse("*", 1) == 0 && range(0, UINT32_MAX, UINT32_MAX));
	CHECK("star first", parse("*:4", 1) == 0 &&
	    range(0, UINT32_MAX, 4));
	CHECK("reversed kept", parse("9:2", 1) == 0 && range(0, 9, 2));
	/* the largest number is not '*': no message has it */
	CHECK("largest",
	    parse("4294967295", 1) == 0 &&
		range(0, UINT32_MAX - 1, UINT32_MAX - 1));
	CHECK("largest is not star",
	    parse("7:4294967295", 1) == 0 &&
		(imap_seqset_resolve(&set, 6),
		    !imap_seqset_contains(&set, 6)) &&
		imap_seqset_contains(&set, 7));
	CHECK("dollar", parse("$", 0) == 0 && set.dollar && set.n == 0 &&
	    set.r == NULL);
	ok = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], 100) != -1 || set.r != NULL || set.n != 0) {
			printf("# accepted \"%s\"\n", bad[i]);
			ok = 0;
		}
	CHECK("malformed refused", ok);
	CHECK("max at limit", parse("1,2,3", 3) == 0 && set.n == 3);
	CHECK("max past limit", parse("1,2,3", 2) == -1 && set.r == NULL);
	CHECK("max zero", parse("1", 0) == -1);
}

static void
test_hostile(void)
{
	char *s;
	size_t i, n = 1000000;

	/* a million commas refused before anything is allocated */
	if ((s = malloc(2 * n + 1)) == NULL)
		abort();
	for (i = 0; i < n; i++)
		memcpy(s + 2 * i, "1,", 2);
	s[2 * n - 1] = '\0';
	CHECK("many ranges refused", parse(s, 1000) == -1 && set.r == NULL);
	CHECK("many ranges allowed", parse(s, n) == 0 && set.n == n);
	imap_seqset_resolve(&set, 5);
	CHECK("many ranges merged", set.n == 1 && range(0, 1, 1));
	/* a long run of digits is refused at once */
	memset(s, '9', 2 * n);
	s[2 * n] = '\0';
	CHECK("long number", parse(s, 10) == -1);
	free(s);
}

static void
test_resolve(void)
{
	char big[16384], num[16];
	uint32_t v;
	int ok;

	CHECK("RFC members", strcmp(members("1:3,5,7:*", 10, 12),
	    "1,2,3,5,7,8,9,10") == 0);
	CHECK("merged", parse("5,1:3,4", 10) == 0 &&
	    (imap_seqset_resolve(&set, 10), set.n == 1) && range(0, 1, 5));
	CHECK("overlaps", parse("10:20,15:30,1:2,3,40", 10) == 0 &&
	    (imap_seqset_resolve(&set, 99), set.n == 3) && range(0, 1, 3) &&
	    range(1, 10, 30) && range(2, 40, 40));
	CHECK("contained", parse("1:100,5:6,7", 10) == 0 &&
	    (imap_seqset_resolve(&set, 99), set.n == 1) && range(0, 1, 100));
	CHECK("star past end", strcmp(members("8:*", 5, 10), "5,6,7,8") ==
	    0);
	CHECK("star reversed", strcmp(members("*:3", 5, 10), "3,4,5") == 0);
	CHECK("empty mailbox", strcmp(members("*", 0, 10), "") == 0);
	CHECK("empty mailbox range", strcmp(members("3:*", 0, 10),
	    "1,2,3") == 0);
	CHECK("swapped", strcmp(members("4:2", 9, 10), "2,3,4") == 0);
	CHECK("top of range", parse("4294967294,*", 10) == 0 &&
	    (imap_seqset_resolve(&set, UINT32_MAX), set.n == 1) &&
	    range(0, 4294967294u, UINT32_MAX) &&
	    imap_seqset_contains(&set, UINT32_MAX) &&
	    !imap_seqset_contains(&set, 4294967293u));
	CHECK("no ranges", parse("$", 1) == 0 &&
	    (imap_seqset_resolve(&set, 5), !imap_seqset_contains(&set, 1)));

	/* every odd number to 4001: a search among 2001 ranges */
	big[0] = '\0';
	for (v = 0; v < 2001; v++) {
		snprintf(num, sizeof(num), "%s%u", big[0] ? "," : "",
		    4001 - 2 * v);
		strlcat(big, num, sizeof(big));
	}
	ok = parse(big, 2001) == 0;
	imap_seqset_resolve(&set, 4001);
	ok = ok && set.n == 2001;
	for (v = 0; v <= 4010; v++)
		if (imap_seqset_contains(&set, v) != (v % 2 == 1 && v <= 4001))
			ok = 0;
	CHECK("odd numbers", ok);
}

static int
writes(const uint32_t *v, size_t n, const char *want)
{
	struct evbuffer *b;
	char out[256];
	size_t len;
	int ok;

	if ((b = evbuffer_new()) == NULL)
		abort();
	ok = imap_seqset_write(b, v, n) == 0;
	len = evbuffer_get_length(b);
	ok = ok && len < sizeof(out);
	if (ok) {
		evbuffer_remove(b, out, len);
		out[len] = '\0';
		ok = strcmp(out, want) == 0;
	}
	evbuffer_free(b);
	return ok;
}

static void
test_write(void)
{
	static const uint32_t a[] = { 1, 2, 3, 5 }, b[] = { 1, 3, 5 },
			      c[] = { 1, 1, 2, 2, 4 },
			      d[] = { 4294967294u, 4294967295u },
			      e[] = { 7 }, f[] = { 0, 1, 9, 10, 11, 20 };

	CHECK("write none", writes(a, 0, ""));
	CHECK("write one", writes(e, 1, "7"));
	CHECK("write run", writes(a, 4, "1:3,5"));
	CHECK("write singles", writes(b, 3, "1,3,5"));
	CHECK("write duplicates", writes(c, 5, "1:2,4"));
	CHECK("write top", writes(d, 2, "4294967294:4294967295"));
	CHECK("write mixed", writes(f, 6, "0:1,9:11,20"));
	CHECK("write parses back", parse("1:3,5", 2) == 0 && set.n == 2);
}

int
main(void)
{
	test_parse();
	test_hostile();
	test_resolve();
	test_write();
	imap_seqset_free(&set);
	imap_seqset_free(&set);
	TEST_EXIT();
}
