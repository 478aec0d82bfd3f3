/*
 * imap_parse.c and imap_string.c: the commands of RFC 3501 and RFC 9051
 * examples, every limit at and past its edge, malformed quotes, literals
 * and lists, framing one octet at a time, and response strings read back.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"
#include "test.h"

static struct imap_command cmd;
static char err[128];

/* parse len octets copied to a buffer of exactly that size */
static int
parse_len(const char *s, size_t len)
{
	char *copy;
	int rv;

	imap_command_free(&cmd);
	if ((copy = malloc(len == 0 ? 1 : len)) == NULL)
		abort();
	memcpy(copy, s, len);
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rv = imap_command_parse(&cmd, copy, len, err, sizeof(err));
	free(copy);
	return rv;
}

static int
parse(const char *s)
{
	return parse_len(s, strlen(s));
}

/* refused with a reason starting with why, and the tag kept */
static int
bad(const char *s, const char *tag, const char *why)
{
	return parse(s) == -1 && strcmp(cmd.tag, tag) == 0 &&
	    strncmp(err, why, strlen(why)) == 0 && cmd.nargs == 0 &&
	    cmd.args == NULL;
}

static int
is_str(const struct imap_arg *a, enum imap_arg_type type, const char *s)
{
	return a->type == type && a->len == strlen(s) &&
	    strcmp(a->str, s) == 0;
}

static void
test_rfc_examples(void)
{
	const struct imap_arg *a, *l;
	uint64_t n64;
	uint32_t n;

	CHECK("NOOP", parse("a002 NOOP") == 0 && strcmp(cmd.tag, "a002") ==
	    0 && strcmp(cmd.name, "NOOP") == 0 && cmd.nargs == 0 &&
	    cmd.uid == 0);
	CHECK("name upper-cased", parse("a1 capability") == 0 &&
	    strcmp(cmd.name, "CAPABILITY") == 0);
	CHECK("LOGIN", parse("a001 login SMITH sesame") == 0 &&
	    strcmp(cmd.name, "LOGIN") == 0 && cmd.nargs == 2 &&
	    is_str(&cmd.args[0], IMAP_ARG_ATOM, "SMITH") &&
	    is_str(&cmd.args[1], IMAP_ARG_ATOM, "sesame") &&
	    strcmp(imap_arg_astring(&cmd.args[1]), "sesame") == 0);
	CHECK("LOGIN quoted", parse("A1 LOGIN \"fred\" \"foo \\\"b\\\\r\"") ==
	    0 && cmd.nargs == 2 &&
	    is_str(&cmd.args[0], IMAP_ARG_STRING, "fred") &&
	    is_str(&cmd.args[1], IMAP_ARG_STRING, "foo \"b\\r") &&
	    cmd.args[1].literal == 0);
	CHECK("SELECT", parse("A142 SELECT INBOX") == 0 && cmd.nargs == 1 &&
	    imap_arg_is_atom(&cmd.args[0], "INBOX"));
	CHECK("SELECT CONDSTORE", parse("A1 SELECT INBOX (CONDSTORE)") == 0 &&
	    cmd.nargs == 2 && cmd.args[1].type == IMAP_ARG_LIST &&
	    cmd.args[1].nlist == 1 && cmd.args[1].str == NULL &&
	    imap_arg_is_atom(&cmd.args[1].list[0], "condstore"));
	CHECK("UID FETCH", parse("A999 UID FETCH 4827313:4828442 FLAGS") ==
	    0 && cmd.uid == 1 && strcmp(cmd.name, "FETCH") == 0 &&
	    cmd.nargs == 2 && is_str(&cmd.args[0], IMAP_ARG_ATOM,
	    "4827313:4828442"));
	CHECK("uid lower", parse("x uid store 1 +FLAGS \\Seen") == 0 &&
	    cmd.uid == 1 && strcmp(cmd.name, "STORE") == 0 &&
	    cmd.nargs == 3 && is_str(&cmd.args[2], IMAP_ARG_ATOM, "\\Seen"));
	CHECK("UID alone", parse("a UID") == 0 && cmd.uid == 0 &&
	    strcmp(cmd.name, "UID") == 0);

	CHECK("FETCH sections", parse("A654 FETCH 2:4 (FLAGS "
	    "BODY[HEADER.FIELDS (DATE FROM)] BODY.PEEK[1.2.MIME] "
	    "BINARY[1]<5.10> BODY[]<0.100>)") == 0 && cmd.nargs == 2 &&
	    (l = &cmd.args[1])->type == IMAP_ARG_LIST && l->nlist == 5 &&
	    is_str(&l->list[0], IMAP_ARG_ATOM, "FLAGS") &&
	    is_str(&l->list[1], IMAP_ARG_ATOM,
	    "BODY[HEADER.FIELDS (DATE FROM)]") &&
	    is_str(&l->list[2], IMAP_ARG_ATOM, "BODY.PEEK[1.2.MIME]") &&
	    is_str(&l->list[3], IMAP_ARG_ATOM, "BINARY[1]<5.10>") &&
	    is_str(&l->list[4], IMAP_ARG_ATOM, "BODY[]<0.100>"));
	CHECK("FETCH section alone", parse("a FETCH 1 "
	    "BODY.PEEK[HEADER.FIELDS.NOT (X-A X-B)]") == 0 &&
	    cmd.nargs == 2 && is_str(&cmd.args[1], IMAP_ARG_ATOM,
	    "BODY.PEEK[HEADER.FIELDS.NOT (X-A X-B)]"));
	CHECK("FETCH CHANGEDSINCE", parse("s100 UID FETCH 1:* (FLAGS) "
	    "(CHANGEDSINCE 12345 VANISHED)") == 0 && cmd.nargs == 3 &&
	    cmd.args[2].nlist == 3 &&
	    imap_arg_number64(&cmd.args[2].list[1], &n64) == 0 &&
	    n64 == 12345 && imap_arg_is_atom(&cmd.args[2].list[2],
	    "VANISHED"));
	CHECK("STORE", parse("A003 STORE 2:4 +FLAGS (\\Deleted \\Seen $Junk)")
	    == 0 && cmd.nargs == 3 && is_str(&cmd.args[1], IMAP_ARG_ATOM,
	    "+FLAGS") && cmd.args[2].nlist == 3 &&
	    is_str(&cmd.args[2].list[2], IMAP_ARG_ATOM, "$Junk"));
	CHECK("STORE UNCHANGEDSINCE", parse("d105 STORE 7,5,9 "
	    "(UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)") == 0 &&
	    cmd.nargs == 4 && imap_arg_number64(&cmd.args[1].list[1], &n64) ==
	    0 && n64 == 320162338);
	CHECK("SEARCH", parse("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "
	    "\"Smith\"") == 0 && cmd.nargs == 6 &&
	    is_str(&cmd.args[5], IMAP_ARG_STRING, "Smith"));
	CHECK("SEARCH OR lists", parse("a SEARCH OR (SEEN FROM x) "
	    "(NOT (DELETED)) CHARSET UTF-8") == 0 && cmd.nargs == 5 &&
	    cmd.args[1].nlist == 3 && cmd.args[2].nlist == 2 &&
	    cmd.args[2].list[1].nlist == 1);
	CHECK("SEARCH RETURN", parse("A1 UID SEARCH RETURN (MIN MAX COUNT) "
	    "UNDELETED") == 0 && cmd.nargs == 3 && cmd.args[1].nlist == 3);
	CHECK("LIST", parse("A101 LIST \"\" *") == 0 && cmd.nargs == 2 &&
	    is_str(&cmd.args[0], IMAP_ARG_STRING, "") &&
	    strcmp(imap_arg_astring(&cmd.args[0]), "") == 0 &&
	    imap_arg_astring(&cmd.args[1]) == NULL &&
	    strcmp(imap_arg_list_mailbox(&cmd.args[1]), "*") == 0);
	CHECK("LIST %", parse("A202 LIST ~/Mail/ %") == 0 &&
	    strcmp(imap_arg_list_mailbox(&cmd.args[0]), "~/Mail/") == 0 &&
	    strcmp(imap_arg_list_mailbox(&cmd.args[1]), "%") == 0);
	CHECK("LIST-EXTENDED", parse("A04 LIST (SUBSCRIBED REMOTE) \"\" "
	    "(\"INBOX\" \"Drafts\") RETURN (CHILDREN STATUS (MESSAGES "
	    "UNSEEN))") == 0 && cmd.nargs == 5 && cmd.args[0].nlist == 2 &&
	    cmd.args[2].nlist == 2 && cmd.args[4].nlist == 3 &&
	    cmd.args[4].list[2].nlist == 2);
	CHECK("STATUS", parse("A042 STATUS blurdybloop (UIDNEXT MESSAGES)") ==
	    0 && cmd.nargs == 2 && cmd.args[1].nlist == 2);
	CHECK("mailbox with brackets", parse("a SELECT [Gmail]/Sent") == 0 &&
	    strcmp(imap_arg_astring(&cmd.args[0]), "[Gmail]/Sent") == 0);
	CHECK("mailbox with ]", parse("a SELECT foo]") == 0 &&
	    strcmp(imap_arg_astring(&cmd.args[0]), "foo]") == 0);
	CHECK("mailbox UTF-7", parse("a CREATE Entw&APw-rfe") == 0 &&
	    strcmp(imap_arg_astring(&cmd.args[0]), "Entw&APw-rfe") == 0);
	CHECK("mailbox UTF-8 quoted", parse("a CREATE \"Entw\xc3\xbcrfe "
	    "\xe6\x97\xa5\xf0\x9f\x98\x80\"") == 0 &&
	    is_str(&cmd.args[0], IMAP_ARG_STRING,
	    "Entw\xc3\xbcrfe \xe6\x97\xa5\xf0\x9f\x98\x80"));
	CHECK("AUTHENTICATE SASL-IR", parse("a AUTHENTICATE PLAIN "
	    "AGZyZWQAc2VzYW1l") == 0 && cmd.nargs == 2);
	CHECK("AUTHENTICATE =", parse("a AUTHENTICATE PLAIN =") == 0 &&
	    is_str(&cmd.args[1], IMAP_ARG_ATOM, "="));
	CHECK("ID NIL", parse("a ID NIL") == 0 &&
	    imap_arg_is_nil(&cmd.args[0]));
	CHECK("ID list", parse("a023 ID (\"name\" \"sodr\" \"version\" NIL)") ==
	    0 && cmd.args[0].nlist == 4 &&
	    imap_arg_is_nil(&cmd.args[0].list[3]) &&
	    !imap_arg_is_nil(&cmd.args[0].list[0]));
	CHECK("quoted NIL is a string", parse("a X \"NIL\" nil") == 0 &&
	    !imap_arg_is_nil(&cmd.args[0]) && imap_arg_is_nil(&cmd.args[1]));
	CHECK("ENABLE", parse("t2 ENABLE CONDSTORE UTF8=ACCEPT IMAP4rev2") ==
	    0 && cmd.nargs == 3);
	CHECK("empty list", parse("a X () (())") == 0 &&
	    cmd.args[0].type == IMAP_ARG_LIST && cmd.args[0].nlist == 0 &&
	    cmd.args[1].nlist == 1 && cmd.args[1].list[0].nlist == 0);
	CHECK("flag \\*", parse("a X (\\* \\Answered)") == 0 &&
	    is_str(&cmd.args[0].list[0], IMAP_ARG_ATOM, "\\*"));
	CHECK("seq $", parse("a UID COPY $ Trash") == 0 &&
	    is_str(&cmd.args[0], IMAP_ARG_ATOM, "$"));
	CHECK("atom ~", parse("a X ~ ~a") == 0 && cmd.nargs == 2 &&
	    is_str(&cmd.args[1], IMAP_ARG_ATOM, "~a"));
	CHECK("number", parse("a X 0 4294967295 4294967296 12a 007") == 0 &&
	    imap_arg_number(&cmd.args[0], &n) == 0 && n == 0 &&
	    imap_arg_number(&cmd.args[1], &n) == 0 && n == UINT32_MAX &&
	    imap_arg_number(&cmd.args[2], &n) == -1 &&
	    imap_arg_number(&cmd.args[3], &n) == -1 &&
	    imap_arg_number(&cmd.args[4], &n) == 0 && n == 7);
	CHECK("number64", parse("a X 9223372036854775807 9223372036854775808 "
	    "\"5\" (1)") == 0 &&
	    imap_arg_number64(&cmd.args[0], &n64) == 0 && n64 == INT64_MAX &&
	    imap_arg_number64(&cmd.args[1], &n64) == -1 &&
	    imap_arg_number64(&cmd.args[2], &n64) == -1 &&
	    imap_arg_number(&cmd.args[2], &n) == -1 &&
	    imap_arg_number64(&cmd.args[3], &n64) == -1);
	CHECK("astring refusals", parse("a X \\Seen (a) * a%") == 0 &&
	    imap_arg_astring(&cmd.args[0]) == NULL &&
	    imap_arg_astring(&cmd.args[1]) == NULL &&
	    imap_arg_list_mailbox(&cmd.args[1]) == NULL &&
	    imap_arg_astring(&cmd.args[2]) == NULL &&
	    imap_arg_astring(&cmd.args[3]) == NULL &&
	    imap_arg_list_mailbox(&cmd.args[0]) == NULL &&
	    imap_arg_is_atom(&cmd.args[0], "\\SEEN") &&
	    !imap_arg_is_atom(&cmd.args[1], "A"));
	a = NULL;
	CHECK("tag with ]", parse("a]1 NOOP") == 0 &&
	    strcmp(cmd.tag, "a]1") == 0 && (a = cmd.args) == NULL);
	CHECK("tag odd chars", parse("!#$&'-./:;<=>?@[^_`|}~ NOOP") == 0);
}

static void
test_literals(void)
{
	static const char append[] = "A003 APPEND saved-messages (\\Seen) "
	    "\"07-Feb-1994 21:52:25 -0800\" {24}\r\n"
	    "Subject: x\r\n\r\nhello\r\n.\r\n";
	static const char bin[] = "a APPEND x ~{5}\r\na\0b\r\n";
	const struct imap_arg *a;

	CHECK("APPEND", parse(append) == 0 && cmd.nargs == 4 &&
	    cmd.args[1].nlist == 1 && (a = &cmd.args[3])->type ==
	    IMAP_ARG_STRING && a->literal == 1 && a->len == 24 &&
	    strcmp(a->str, "Subject: x\r\n\r\nhello\r\n.\r\n") == 0);
	CHECK("LOGIN literals", parse("A001 LOGIN {11}\r\nFRED FOOBAR {7}\r\n"
	    "fat man") == 0 && cmd.nargs == 2 &&
	    is_str(&cmd.args[0], IMAP_ARG_STRING, "FRED FOOBAR") &&
	    is_str(&cmd.args[1], IMAP_ARG_STRING, "fat man") &&
	    strcmp(imap_arg_astring(&cmd.args[1]), "fat man") == 0);
	CHECK("nonsync", parse("a LOGIN {3+}\r\nabc {0+}\r\n") == 0 &&
	    cmd.nargs == 2 && is_str(&cmd.args[0], IMAP_ARG_STRING, "abc") &&
	    cmd.args[1].literal == 1 && cmd.args[1].len == 0);
	CHECK("literal8", parse_len(bin, sizeof(bin) - 1) == 0 &&
	    cmd.nargs == 2 && cmd.args[1].literal == 2 &&
	    cmd.args[1].len == 5 && memcmp(cmd.args[1].str, "a\0b\r\n", 6) ==
	    0 && imap_arg_astring(&cmd.args[1]) == NULL);
	CHECK("literal8 nonsync", parse("a X ~{1+}\r\nz") == 0 &&
	    cmd.args[0].literal == 2);
	CHECK("literal in list", parse("a X ({2}\r\n() {1}\r\n)) y") == 0 &&
	    cmd.nargs == 2 && cmd.args[0].nlist == 2 &&
	    is_str(&cmd.args[0].list[0], IMAP_ARG_STRING, "()") &&
	    is_str(&cmd.args[0].list[1], IMAP_ARG_STRING, ")"));
	CHECK("8-bit literal", parse("a X {2}\r\n\xff\xfe") == 0 &&
	    cmd.args[0].len == 2);
	CHECK("literal with leading zeros", parse("a X {003}\r\nabc") == 0);
	CHECK("NUL in literal", parse_len("a X {3}\r\na\0b", 12) == -1 &&
	    strncmp(err, "NUL in a literal", 16) == 0);
	CHECK("literal too short", bad("a X {5}\r\nabcd", "a",
	    "literal longer"));
	CHECK("literal huge", bad("a X {18446744073709551615}\r\nabcd", "a",
	    "literal too long"));
	CHECK("literal 2^63", bad("a X {9223372036854775808}\r\nabcd", "a",
	    "literal too long"));
	CHECK("literal 2^63-1", bad("a X {9223372036854775807}\r\nabcd", "a",
	    "literal longer"));
	CHECK("literal no CRLF", bad("a X {3}abc", "a", "bad literal"));
	CHECK("literal bare LF", bad("a X {3}\nabc", "a", "bad literal"));
	CHECK("literal bare CR", bad("a X {3}\rabc", "a", "bad literal"));
	CHECK("literal at end", bad("a X {3}", "a", "bad literal"));
	CHECK("literal letters", bad("a X {abc}\r\nabc", "a", "bad literal"));
	CHECK("literal empty", bad("a X {}\r\n", "a", "bad literal"));
	CHECK("literal +only", bad("a X {+}\r\n", "a", "bad literal"));
	CHECK("literal ++", bad("a X {1++}\r\na", "a", "bad literal"));
	CHECK("literal -", bad("a X {1-}\r\na", "a", "bad literal"));
	CHECK("literal space", bad("a X { 1}\r\na", "a", "bad literal"));
	CHECK("literal8 broken", bad("a X ~{x}\r\na", "a", "bad literal"));
	CHECK("literal glued", bad("a X {1}\r\nab", "a", "expected a space"));
	CHECK("literal after atom", bad("a X ab{1}\r\na", "a",
	    "expected a space"));
	CHECK("literal8 in atom", bad("a X a~{1}\r\na", "a",
	    "expected a space"));
}

static void
test_malformed(void)
{
	char buf[IMAP_TAG_MAX + 16];

	CHECK("empty", bad("", "*", "empty command"));
	CHECK("tag only", bad("a", "a", "missing command name"));
	CHECK("tag space", bad("a ", "a", "missing command name"));
	CHECK("two spaces", bad("a  NOOP", "a", "missing command name"));
	CHECK("leading space", bad(" a NOOP", "*", "invalid tag"));
	CHECK("tag +", bad("a+ NOOP", "*", "invalid tag"));
	CHECK("tag *", bad("* NOOP", "*", "invalid tag"));
	CHECK("tag +alone", bad("+ NOOP", "*", "invalid tag"));
	CHECK("tag (", bad("a(1 NOOP", "*", "invalid tag"));
	CHECK("tag %", bad("a% NOOP", "*", "invalid tag"));
	CHECK("tag quote", bad("\"a\" NOOP", "*", "invalid tag"));
	CHECK("tag {", bad("a{1} NOOP", "*", "invalid tag"));
	CHECK("tag tab", bad("a\tNOOP", "*", "invalid tag"));
	CHECK("tag 8-bit", bad("\xc3\xa9 NOOP", "*", "invalid tag"));
	CHECK("tag NUL", parse_len("a\0 NOOP", 7) == -1 &&
	    strcmp(cmd.tag, "*") == 0);
	memset(buf, 't', IMAP_TAG_MAX);
	strlcpy(buf + IMAP_TAG_MAX, " NOOP", sizeof(buf) - IMAP_TAG_MAX);
	CHECK("tag at limit", parse(buf) == 0 &&
	    strlen(cmd.tag) == IMAP_TAG_MAX);
	memset(buf, 't', IMAP_TAG_MAX + 1);
	strlcpy(buf + IMAP_TAG_MAX + 1, " NOOP",
	    sizeof(buf) - IMAP_TAG_MAX - 1);
	CHECK("tag past limit", bad(buf, "*", "invalid tag"));
	CHECK("name 31", parse("a ABCDEFGHIJABCDEFGHIJABCDEFGHIJA") == 0);
	CHECK("name 32", bad("a ABCDEFGHIJABCDEFGHIJABCDEFGHIJAB", "a",
	    "unknown command"));
	CHECK("name (", bad("a (NOOP)", "a", "missing command name"));
	CHECK("name glued", bad("a NOOP(", "a", "unexpected character"));
	CHECK("name 8-bit", bad("a N\xc3\xa9", "a", "unexpected character"));
	CHECK("name *", bad("a NO*OP", "a", "unexpected character"));
	CHECK("name [", bad("a BODY[]", "a", "unexpected character"));
	CHECK("UID then nothing", bad("a UID ", "a", "missing command name"));
	CHECK("UID two spaces", bad("a UID  FETCH 1", "a",
	    "missing command name"));
	CHECK("trailing space", bad("a NOOP ", "a", "missing argument"));
	CHECK("trailing space arg", bad("a X y ", "a", "extra space"));
	CHECK("two spaces between", bad("a FETCH 1  FLAGS", "a",
	    "extra space"));
	CHECK("tab between", bad("a FETCH 1\tFLAGS", "a",
	    "expected a space"));
	CHECK("CRLF at end", bad("a NOOP\r\n", "a", "unexpected character"));
	CHECK("CRLF after arg", bad("a X y\r\n", "a", "expected a space"));
	CHECK("bare LF", bad("a LOGIN a\nb c", "a", "expected a space"));
	CHECK("NUL in atom", parse_len("a X ab\0c", 8) == -1 &&
	    strcmp(cmd.tag, "a") == 0);
	CHECK("8-bit atom", bad("a SELECT \xc3\xa9", "a",
	    "unexpected character"));
	CHECK("DEL atom", bad("a SELECT \x7f", "a", "unexpected character"));
	CHECK("unclosed list", bad("a FETCH 1 (FLAGS", "a",
	    "unterminated list"));
	CHECK("unclosed list space", bad("a FETCH 1 (FLAGS ", "a",
	    "extra space"));
	CHECK("unclosed (", bad("a FETCH 1 (", "a", "unterminated list"));
	CHECK("stray )", bad("a FETCH 1 FLAGS)", "a", "unexpected )"));
	CHECK("lone )", bad("a X )", "a", "unexpected )"));
	CHECK("space before )", bad("a FETCH 1 (FLAGS )", "a",
	    "extra space"));
	CHECK("space after (", bad("a FETCH 1 ( FLAGS)", "a",
	    "unexpected character"));
	CHECK("lists glued", bad("a X (a)(b)", "a", "expected a space"));
	CHECK("atom after list", bad("a X (a)b", "a", "expected a space"));
	CHECK("string glued", bad("a X \"a\"b", "a", "expected a space"));
	CHECK("unterminated quote", bad("a LOGIN \"fred", "a",
	    "unterminated quoted"));
	CHECK("quote at end", bad("a LOGIN \"", "a", "unterminated quoted"));
	CHECK("escape at end", bad("a LOGIN \"ab\\", "a", "bad escape"));
	CHECK("escape n", bad("a LOGIN \"a\\nb\"", "a", "bad escape"));
	CHECK("escape x", bad("a LOGIN \"a\\x41\"", "a", "bad escape"));
	CHECK("CR in quote", bad("a LOGIN \"a\rb\"", "a", "CR, LF or NUL"));
	CHECK("LF in quote", bad("a LOGIN \"a\nb\"", "a", "CR, LF or NUL"));
	CHECK("NUL in quote", parse_len("a LOGIN \"a\0b\"", 13) == -1 &&
	    strncmp(err, "CR, LF or NUL", 13) == 0);
	CHECK("tab in quote", parse("a LOGIN \"a\tb\"") == 0);
	CHECK("bad UTF-8 ff", bad("a X \"\xff\"", "a", "invalid UTF-8"));
	CHECK("bad UTF-8 cont", bad("a X \"\x80\"", "a", "invalid UTF-8"));
	CHECK("overlong", bad("a X \"\xc0\x80\"", "a", "invalid UTF-8"));
	CHECK("overlong 3", bad("a X \"\xe0\x80\xaf\"", "a",
	    "invalid UTF-8"));
	CHECK("surrogate", bad("a X \"\xed\xa0\x80\"", "a", "invalid UTF-8"));
	CHECK("past 10FFFF", bad("a X \"\xf4\x90\x80\x80\"", "a",
	    "invalid UTF-8"));
	CHECK("truncated UTF-8", bad("a X \"\xe6\x97\"", "a",
	    "invalid UTF-8"));
	CHECK("truncated at end", bad("a X \"\xe6\x97", "a",
	    "invalid UTF-8"));
	CHECK("lone backslash", bad("a X \\", "a", "unexpected character"));
	CHECK("backslash mid-atom", bad("a SELECT foo\\bar", "a",
	    "expected a space"));
	CHECK("\\** ", bad("a X \\**", "a", "expected a space"));
	CHECK("unterminated section",
	    bad("a FETCH 1 BODY[HEADER", "a", "unterminated section"));
	CHECK("section CR",
	    bad("a FETCH 1 BODY[a\r\n]", "a", "unterminated section"));
	CHECK("section nested",
	    bad("a FETCH 1 BODY.PEEK[a[b]]", "a", "unterminated section"));
	CHECK("section 8-bit",
	    bad("a FETCH 1 binary[\xc3\xa9]", "a", "unterminated section"));
	CHECK("section in list unclosed",
	    bad("a FETCH 1 (BODY[1 FLAGS)", "a", "unterminated section"));
	/* elsewhere [ is an ATOM-CHAR: mailbox names may have one */
	CHECK("atom-specials but ]",
	    parse("a SELECT "
		  "!#$&'+,-.0123456789:;<=>?@^_`|[}") == 0 &&
		cmd.nargs == 1 &&
		is_str(&cmd.args[0], IMAP_ARG_ATOM,
		    "!#$&'+,-.0123456789:;<=>?@^_`|[}"));
	CHECK("list-mailbox with [",
	    parse("a LIST \"\" "
		  "!#$&'+,-.0123456789:;<=>?@^_`|[}%*") == 0 &&
		cmd.nargs == 2 &&
		is_str(&cmd.args[1], IMAP_ARG_ATOM,
		    "!#$&'+,-.0123456789:;<=>?@^_`|[}%*"));
	CHECK("[ then a string",
	    parse("a X AGY[DSHAR \"fat mU]\"") == 0 && cmd.nargs == 2 &&
		is_str(&cmd.args[0], IMAP_ARG_ATOM, "AGY[DSHAR") &&
		is_str(&cmd.args[1], IMAP_ARG_STRING, "fat mU]"));
	CHECK("[ [ ]",
	    parse("a X a[b[c]") == 0 && cmd.nargs == 1 &&
		is_str(&cmd.args[0], IMAP_ARG_ATOM, "a[b[c]"));
	CHECK("many [", parse("a X [[[[[[[[[[[[[[[[[[[[") == 0);
	CHECK("BODYX[ is no section",
	    parse("a X BODYX[a b]") == 0 && cmd.nargs == 2);
	CHECK("small err buffer", imap_command_parse(&cmd, "a (", 3, err, 4) ==
	    -1 && strlen(err) == 3);
	CHECK("no err buffer", imap_command_parse(&cmd, "a (", 3, NULL, 0) ==
	    -1);
}

/* n nested lists around one atom */
static char *
nested(size_t n)
{
	char *s;
	size_t i;

	if ((s = malloc(2 * n + 8)) == NULL)
		abort();
	memcpy(s, "a X ", 4);
	for (i = 0; i < n; i++)
		s[4 + i] = '(';
	s[4 + n] = 'z';
	for (i = 0; i < n; i++)
		s[5 + n + i] = ')';
	s[5 + 2 * n] = '\0';
	return s;
}

static void
test_limits(void)
{
	const struct imap_arg *a;
	char *s;
	size_t i, n, len;

	s = nested(IMAP_DEPTH_MAX);
	CHECK("depth at limit", parse(s) == 0);
	for (a = &cmd.args[0], i = 0; i < IMAP_DEPTH_MAX &&
	    a->type == IMAP_ARG_LIST && a->nlist == 1; i++)
		a = &a->list[0];
	CHECK("depth walk", i == IMAP_DEPTH_MAX &&
	    is_str(a, IMAP_ARG_ATOM, "z"));
	free(s);
	s = nested(IMAP_DEPTH_MAX + 1);
	CHECK("depth past limit", bad(s, "a", "lists too deeply nested"));
	free(s);
	s = nested(100000);
	CHECK("depth hostile", bad(s, "a", "lists too deeply nested"));
	free(s);

	/* IMAP_ARGS_MAX: the list and its elements count alike */
	n = IMAP_ARGS_MAX - 1;
	len = 6 + 2 * n;
	if ((s = malloc(len + 8)) == NULL)
		abort();
	memcpy(s, "a X (", 5);
	for (i = 0; i < n; i++)
		memcpy(s + 5 + 2 * i, i + 1 < n ? "x " : "x)", 2);
	s[5 + 2 * n] = '\0';
	CHECK("args at limit", parse(s) == 0 && cmd.nargs == 1 &&
	    cmd.args[0].nlist == n);
	memcpy(s + 5 + 2 * (n - 1), "x x)", 5);
	CHECK("args past limit", bad(s, "a", "too many arguments"));
	free(s);

	/* IMAP_LINE_MAX counts the text, not the literal payloads */
	len = IMAP_LINE_MAX;
	if ((s = malloc(len + 200000)) == NULL)
		abort();
	memcpy(s, "a X ", 4);
	memset(s + 4, 'y', len - 4);
	s[len] = '\0';
	CHECK("line at limit", parse(s) == 0 && cmd.args[0].len == len - 4);
	s[len] = 'y';
	s[len + 1] = '\0';
	CHECK("line past limit", bad(s, "a", "command too long"));
	memcpy(s, "a X {100000}\r\n", 14);
	memset(s + 14, 'q', 100000);
	memcpy(s + 14 + 100000, " \"", 2);
	memset(s + 14 + 100002, 'y', IMAP_LINE_MAX - 14 - 3);
	s[14 + 100002 + IMAP_LINE_MAX - 14 - 3] = '"';
	CHECK("payload not counted", parse_len(s, 100000 + IMAP_LINE_MAX) ==
	    0 && cmd.nargs == 2 && cmd.args[0].len == 100000 &&
	    cmd.args[1].len == IMAP_LINE_MAX - 17);
	s[14 + 100002 + IMAP_LINE_MAX - 14 - 3] = 'y';
	s[14 + 100002 + IMAP_LINE_MAX - 14 - 2] = '"';
	CHECK("payload and text past", parse_len(s, 100001 + IMAP_LINE_MAX) ==
	    -1 && strcmp(err, "command too long") == 0);
	free(s);
}

/*
 * A session's reading loop: lines to CRLF, each checked for a literal
 * marker, the payload taken as it is, one octet at a time.  The joined
 * commands are parsed and their names collected, space-separated.
 */
static int
frame(const char *stream, size_t len, char *names, size_t namesz)
{
	char *buf;
	size_t i, used = 0, linestart = 0;
	uint64_t want = 0, size;
	int nonsync, binary, rv;

	names[0] = '\0';
	if ((buf = malloc(len + 1)) == NULL)
		abort();
	for (i = 0; i < len; i++) {
		buf[used++] = stream[i];
		if (want > 0) {
			if (--want == 0)
				linestart = used;
			continue;
		}
		if (used - linestart < 2 || buf[used - 2] != '\r' ||
		    buf[used - 1] != '\n')
			continue;
		rv = imap_line_literal(buf + linestart, used - 2 - linestart,
		    &size, &nonsync, &binary);
		if (rv == -1) {
			free(buf);
			return -1;
		}
		if (rv == 1 && size > 0) {
			want = size;
			continue;
		}
		if (rv == 1) {
			linestart = used;
			continue;
		}
		if (parse_len(buf, used - 2) == -1) {
			strlcat(names, "BAD ", namesz);
		} else {
			strlcat(names, cmd.name, namesz);
			strlcat(names, " ", namesz);
		}
		used = linestart = 0;
	}
	free(buf);
	return used == 0 ? 0 : -1;
}

static void
test_framing(void)
{
	static const char stream[] = "a1 LOGIN {4}\r\nfred {5+}\r\nx\r\ny}\r\n"
	    "a2 SELECT foo}\r\n"
	    "a3 APPEND x (\\Seen) ~{6}\r\n\r\n\0{1}\r\n"
	    "a4 X {0}\r\n {0+}\r\n\r\n"
	    "a5 NOOP\r\n"
	    "a6 X \"{1}\r\nz\"\r\n"
	    "\r\n";
	char names[256], tag[IMAP_TAG_MAX + 1];
	uint64_t size;
	int nonsync, binary;

	CHECK("framing", frame(stream, sizeof(stream) - 1, names,
	    sizeof(names)) == 0 && strcmp(names,
	    "LOGIN SELECT APPEND X NOOP BAD BAD ") == 0);
	CHECK("literal marker", imap_line_literal("a LOGIN {5}", 11, &size,
	    &nonsync, &binary) == 1 && size == 5 && !nonsync && !binary);
	CHECK("marker +", imap_line_literal("a X {12+}", 9, &size, &nonsync,
	    &binary) == 1 && size == 12 && nonsync && !binary);
	CHECK("marker ~", imap_line_literal("a X ~{0}", 8, &size, &nonsync,
	    &binary) == 1 && size == 0 && !nonsync && binary);
	CHECK("marker ~+", imap_line_literal("a X (~{7+}", 10, &size,
	    &nonsync, &binary) == 1 && size == 7 && nonsync && binary);
	CHECK("marker max", imap_line_literal("{9223372036854775807}", 21,
	    &size, &nonsync, &binary) == 1 && size == INT64_MAX);
	CHECK("marker 2^63", imap_line_literal("{9223372036854775808}", 21,
	    &size, &nonsync, &binary) == -1);
	CHECK("marker 2^64", imap_line_literal("{99999999999999999999}", 22,
	    &size, &nonsync, &binary) == -1);
	CHECK("marker letters", imap_line_literal("a X {abc}", 9, &size,
	    &nonsync, &binary) == -1);
	CHECK("marker empty", imap_line_literal("a X {}", 6, &size, &nonsync,
	    &binary) == -1);
	CHECK("marker +only", imap_line_literal("a X {+}", 7, &size,
	    &nonsync, &binary) == -1);
	CHECK("marker ++", imap_line_literal("a X {1++}", 9, &size,
	    &nonsync, &binary) == -1);
	CHECK("atom with }", imap_line_literal("a SELECT foo}", 13, &size,
	    &nonsync, &binary) == 0);
	CHECK("} alone", imap_line_literal("}", 1, &size, &nonsync,
	    &binary) == 0);
	CHECK("no marker", imap_line_literal("a NOOP", 6, &size, &nonsync,
	    &binary) == 0);
	CHECK("empty line", imap_line_literal("", 0, &size, &nonsync,
	    &binary) == 0);
	CHECK("marker not last", imap_line_literal("a X {5} y", 9, &size,
	    &nonsync, &binary) == 0);
	CHECK("spaced braces", imap_line_literal("a X {a b}", 9, &size,
	    &nonsync, &binary) == 0);
	CHECK("line tag", imap_line_tag("a1 APPEND x {999999999}", 23, tag,
	    sizeof(tag)) == 2 && strcmp(tag, "a1") == 0);
	CHECK("line tag alone", imap_line_tag("a1", 2, tag, sizeof(tag)) ==
	    2 && strcmp(tag, "a1") == 0);
	CHECK("line tag bad", imap_line_tag("a+ X", 4, tag, sizeof(tag)) ==
	    -1 && strcmp(tag, "*") == 0);
	CHECK("line tag empty", imap_line_tag("", 0, tag, sizeof(tag)) ==
	    -1 && strcmp(tag, "*") == 0);
	CHECK("line tag small", imap_line_tag("abc X", 5, tag, 3) == -1 &&
	    strcmp(tag, "*") == 0 && imap_line_tag("abc X", 5, tag, 4) == 3);
	CHECK("len not NUL", imap_line_literal("a X {5}zzz", 7, &size,
	    &nonsync, &binary) == 1 && size == 5);
}

/* what imap_write_*() wrote, as a string in out */
static const char *
written(struct evbuffer *b)
{
	static char out[4096];
	size_t n = evbuffer_get_length(b);

	if (n >= sizeof(out))
		n = sizeof(out) - 1;
	evbuffer_remove(b, out, n);
	out[n] = '\0';
	evbuffer_drain(b, evbuffer_get_length(b));
	return out;
}

/* what imap_write_string() wrote reads back as the same string */
static int
round_trip(struct evbuffer *b, const char *s, size_t len, int utf8)
{
	char *line;
	size_t n;
	int ok;

	evbuffer_add(b, "t X ", 4);
	if (imap_write_string(b, s, len, utf8) == -1)
		return 0;
	n = evbuffer_get_length(b);
	if ((line = malloc(n)) == NULL)
		abort();
	evbuffer_remove(b, line, n);
	ok = parse_len(line, n) == 0 && cmd.nargs == 1 &&
	    cmd.args[0].type == IMAP_ARG_STRING && cmd.args[0].len == len &&
	    memcmp(cmd.args[0].str, s, len) == 0;
	free(line);
	return ok;
}

static void
test_strings(void)
{
	struct evbuffer *b;
	char big[1002];
	unsigned int c;
	char s[2];
	int ok;

	if ((b = evbuffer_new()) == NULL)
		abort();
	imap_write_string(b, "abc", 3, 0);
	CHECK("quoted", strcmp(written(b), "\"abc\"") == 0);
	imap_write_string(b, "a\"b\\c", 5, 0);
	CHECK("escaped", strcmp(written(b), "\"a\\\"b\\\\c\"") == 0);
	imap_write_string(b, NULL, 0, 0);
	CHECK("NIL", strcmp(written(b), "NIL") == 0);
	imap_write_nstring(b, NULL, 0, 1);
	CHECK("nstring NIL", strcmp(written(b), "NIL") == 0);
	imap_write_nstring(b, "", 0, 1);
	CHECK("nstring empty", strcmp(written(b), "\"\"") == 0);
	imap_write_string(b, "a\r\nb", 4, 0);
	CHECK("CRLF literal", strcmp(written(b), "{4}\r\na\r\nb") == 0);
	imap_write_string(b, "a\0b", 3, 0);
	CHECK("NUL literal", evbuffer_get_length(b) == 8 &&
	    strcmp(written(b), "{3}\r\na") == 0);
	imap_write_string(b, "\xc3\xa9", 2, 0);
	CHECK("8-bit literal", strcmp(written(b), "{2}\r\n\xc3\xa9") == 0);
	imap_write_string(b, "\xc3\xa9", 2, 1);
	CHECK("UTF-8 quoted", strcmp(written(b), "\"\xc3\xa9\"") == 0);
	imap_write_string(b, "\xc3(", 2, 1);
	CHECK("bad UTF-8 literal", strcmp(written(b), "{2}\r\n\xc3(") == 0);
	imap_write_string(b, "\xed\xa0\x80", 3, 1);
	CHECK("surrogate literal", strncmp(written(b), "{3}", 3) == 0);
	memset(big, 'x', sizeof(big));
	imap_write_string(b, big, 1000, 0);
	CHECK("1000 quoted", evbuffer_get_length(b) == 1002);
	evbuffer_drain(b, evbuffer_get_length(b));
	imap_write_string(b, big, 1001, 0);
	CHECK("1001 literal", evbuffer_get_length(b) == 1001 + 8);
	evbuffer_drain(b, evbuffer_get_length(b));

	imap_write_astring(b, "INBOX", 5, 0);
	CHECK("astring atom", strcmp(written(b), "INBOX") == 0);
	imap_write_astring(b, "Entw&APw-rfe.x_y", 16, 0);
	CHECK("astring UTF-7 atom", strcmp(written(b), "Entw&APw-rfe.x_y") ==
	    0);
	imap_write_astring(b, "My Folder", 9, 0);
	CHECK("astring space", strcmp(written(b), "\"My Folder\"") == 0);
	imap_write_astring(b, "", 0, 0);
	CHECK("astring empty", strcmp(written(b), "\"\"") == 0);
	imap_write_astring(b, "nil", 3, 0);
	CHECK("astring NIL", strcmp(written(b), "\"nil\"") == 0);
	imap_write_astring(b, "[Gmail]", 7, 0);
	CHECK("astring brackets", strcmp(written(b), "\"[Gmail]\"") == 0);
	imap_write_astring(b, "a*%", 3, 0);
	CHECK("astring wildcards", strcmp(written(b), "\"a*%\"") == 0);
	imap_write_astring(b, "a\"", 2, 0);
	CHECK("astring quote", strcmp(written(b), "\"a\\\"\"") == 0);
	imap_write_astring(b, "\xc3\xa9", 2, 1);
	CHECK("astring UTF-8", strcmp(written(b), "\"\xc3\xa9\"") == 0);
	imap_write_astring(b, NULL, 0, 1);
	CHECK("astring NULL", strcmp(written(b), "NIL") == 0);

	/* every octet alone, and a long and a mixed string, read back */
	ok = 1;
	for (c = 0; c < 256; c++) {
		s[0] = c;
		if (c != 0 && !round_trip(b, s, 1, 0))
			ok = 0;
		if (c < 0x80 && c != 0 && !round_trip(b, s, 1, 1))
			ok = 0;
	}
	CHECK("octets read back", ok);
	CHECK("long read back", round_trip(b, big, 1001, 0));
	CHECK("mixed read back", round_trip(b, "a\"\\\r\n\xc3\xa9z", 8, 1) &&
	    round_trip(b, "a\"\\\r\n\xc3\xa9z", 8, 0));
	evbuffer_free(b);
}

int
main(void)
{
	test_rfc_examples();
	test_literals();
	test_malformed();
	test_limits();
	test_framing();
	test_strings();
	imap_command_free(&cmd);
	imap_command_free(&cmd);
	TEST_EXIT();
}
