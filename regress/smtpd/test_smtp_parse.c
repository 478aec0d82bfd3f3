/*
 * smtp_parse.c: every command, every parameter, every error class with its
 * reply code, and hostile lines.
 */

#include <stdint.h>
#include <string.h>

#include "smtpd.h"
#include "test.h"

static struct smtp_command	 cmd;
static char			 err[256];
static char			 line[4096];

static int
parse_len(const char *s, size_t len)
{
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	return smtp_parse_command(s, len, &cmd, err, sizeof(err));
}

static int
parse(const char *s)
{
	return parse_len(s, strlen(s));
}

/* the reply code and the start of the enhanced status text */
static int
reply(const char *s, int code, const char *status)
{
	return parse(s) == code && strncmp(err, status, strlen(status)) == 0;
}

static int
reply_len(const char *s, size_t len, int code, const char *status)
{
	return parse_len(s, len) == code &&
	    strncmp(err, status, strlen(status)) == 0;
}

/* a line of text followed by n copies of c and then tail, in line */
static const char *
build(const char *head, char c, size_t n, const char *tail)
{
	size_t	 off;

	strlcpy(line, head, sizeof(line));
	off = strlen(line);
	if (n > sizeof(line) - off - 1)
		n = sizeof(line) - off - 1;
	memset(line + off, c, n);
	line[off + n] = '\0';
	strlcat(line, tail, sizeof(line));
	return line;
}

/* head, a local part and a domain of those lengths, and tail, in line */
static const char *
path_line(const char *head, size_t locallen, size_t domainlen,
    const char *tail)
{
	size_t	 off, take;

	build(head, 'a', locallen, "@");
	off = strlen(line);
	while (domainlen > 0 && off + 65 < sizeof(line)) {
		/* labels of at most 63, none empty */
		take = domainlen > 63 ? 63 : domainlen;
		if (domainlen > 63 && domainlen - take < 2)
			take = domainlen - 2;
		memset(line + off, 'd', take);
		off += take;
		domainlen -= take;
		if (domainlen > 0) {
			line[off++] = '.';
			domainlen--;
		}
	}
	line[off] = '\0';
	strlcat(line, tail, sizeof(line));
	return line;
}

static void
test_simple_verbs(void)
{
	CHECK("DATA", parse("DATA") == 0 && cmd.verb == SMTP_CMD_DATA);
	CHECK("data lower", parse("data") == 0 && cmd.verb == SMTP_CMD_DATA);
	CHECK("RSET", parse("RSET") == 0 && cmd.verb == SMTP_CMD_RSET);
	CHECK("QUIT mixed", parse("qUiT") == 0 && cmd.verb == SMTP_CMD_QUIT);
	CHECK("STARTTLS", parse("STARTTLS") == 0 &&
	    cmd.verb == SMTP_CMD_STARTTLS);
	CHECK("trailing space", parse("QUIT ") == 0 &&
	    cmd.verb == SMTP_CMD_QUIT);
	CHECK("DATA arg", reply("DATA x", 501, "5.5.4 "));
	CHECK("RSET arg", reply("RSET now", 501, "5.5.4 "));
	CHECK("QUIT arg", reply("QUIT please", 501, "5.5.4 "));
	CHECK("STARTTLS arg", reply("STARTTLS x", 501, "5.5.4 "));
	CHECK("NOOP", parse("NOOP") == 0 && cmd.verb == SMTP_CMD_NOOP &&
	    cmd.arg[0] == '\0');
	CHECK("NOOP arg", parse("NOOP hello there") == 0 &&
	    strcmp(cmd.arg, "hello there") == 0);
	CHECK("HELP", parse("HELP") == 0 && cmd.verb == SMTP_CMD_HELP);
	CHECK("HELP arg", parse("help MAIL") == 0 &&
	    strcmp(cmd.arg, "MAIL") == 0);
	CHECK("VRFY", parse("VRFY postmaster") == 0 &&
	    cmd.verb == SMTP_CMD_VRFY && strcmp(cmd.arg, "postmaster") == 0);
	CHECK("VRFY no arg", reply("VRFY", 501, "5.5.4 "));
	CHECK("VRFY blank arg", reply("VRFY   ", 501, "5.5.4 "));
	CHECK("EXPN", parse("EXPN list") == 0 && cmd.verb == SMTP_CMD_EXPN &&
	    strcmp(cmd.arg, "list") == 0);
	CHECK("EXPN no arg", reply("EXPN", 501, "5.5.4 "));
	CHECK("unknown verb", reply("FOO", 500, "5.5.2 "));
	CHECK("unknown verb arg", reply("XEXCH50 1 2", 500, "5.5.2 "));
	CHECK("verb prefix", reply("DAT", 500, "5.5.2 "));
	CHECK("verb longer", reply("DATAX", 500, "5.5.2 "));
	CHECK("verb colon", reply("MAIL:FROM:<a@b.c>", 500, "5.5.2 "));
	CHECK("leading space", reply(" QUIT", 500, "5.5.2 "));
	CHECK("empty line", reply("", 500, "5.5.2 "));
	CHECK("spaces only", reply("   ", 500, "5.5.2 "));
	CHECK("empty line NULL", parse_len(NULL, 0) == 500);
	CHECK("tab after verb", reply("QUIT\tx", 500, "5.5.2 "));
	CHECK("trailing tab", parse("RSET\t") == 0);
	CHECK("err NUL-terminated", parse("FOO") == 500 &&
	    memchr(err, '\0', sizeof(err)) != NULL);
	CHECK("zero errsz", smtp_parse_command("FOO", 3, &cmd, NULL, 0) ==
	    500);
	CHECK("tiny errsz", smtp_parse_command("FOO", 3, &cmd, err, 4) ==
	    500 && strcmp(err, "5.5") == 0);
}

static void
test_helo(void)
{
	CHECK("HELO", parse("HELO mail.example.org") == 0 &&
	    cmd.verb == SMTP_CMD_HELO &&
	    strcmp(cmd.arg, "mail.example.org") == 0);
	CHECK("EHLO", parse("EHLO Mail.Example.ORG") == 0 &&
	    cmd.verb == SMTP_CMD_EHLO &&
	    strcmp(cmd.arg, "Mail.Example.ORG") == 0);
	CHECK("EHLO single label", parse("ehlo localhost") == 0);
	CHECK("EHLO v4 literal", parse("EHLO [192.0.2.1]") == 0 &&
	    strcmp(cmd.arg, "[192.0.2.1]") == 0);
	CHECK("EHLO v6 literal", parse("EHLO [IPv6:2001:db8::1]") == 0);
	CHECK("EHLO v6 literal lower", parse("EHLO [ipv6:::1]") == 0);
	CHECK("HELO v4 literal", parse("HELO [192.0.2.1]") == 0);
	CHECK("EHLO utf8", parse("EHLO b\xc3\xbc" "cher.example") == 0);
	CHECK("EHLO no arg", reply("EHLO", 501, "5.5.4 "));
	CHECK("HELO no arg", reply("HELO", 501, "5.5.4 "));
	CHECK("EHLO two args", reply("EHLO a.example b.example", 501,
	    "5.5.4 "));
	CHECK("EHLO underscore", reply("EHLO my_host", 501, "5.5.4 "));
	CHECK("EHLO trailing dot", reply("EHLO example.org.", 501,
	    "5.5.4 "));
	CHECK("EHLO bad literal", reply("EHLO [300.1.1.1]", 501, "5.5.4 "));
	CHECK("EHLO v6 without tag", reply("EHLO [2001:db8::1]", 501,
	    "5.5.4 "));
	CHECK("EHLO general literal", reply("EHLO [x400:foo]", 501,
	    "5.5.4 "));
	CHECK("EHLO unbalanced [", reply("EHLO [192.0.2.1", 501, "5.5.4 "));
	CHECK("EHLO unbalanced ]", reply("EHLO 192.0.2.1]", 501, "5.5.4 "));
	CHECK("EHLO empty literal", reply("EHLO []", 501, "5.5.4 "));
	CHECK("EHLO long literal", reply(build("EHLO [IPv6:", '1', 100, "]"),
	    501, "5.5.4 "));
	CHECK("EHLO bad utf8", reply("EHLO b\xfc" "cher.example", 501,
	    "5.5.4 "));
	CHECK("EHLO 300-char domain", reply(build("EHLO ", 'a', 300, ""),
	    501, "5.5.4 "));
	CHECK("EHLO tab", reply("EHLO\texample.org", 500, "5.5.2 "));
}

static void
test_mail(void)
{
	CHECK("MAIL", parse("MAIL FROM:<user@Example.ORG>") == 0 &&
	    cmd.verb == SMTP_CMD_MAIL && !cmd.null_path &&
	    strcmp(cmd.addr.local, "user") == 0 &&
	    strcmp(cmd.addr.domain, "example.org") == 0 && !cmd.addr_utf8 &&
	    !cmd.has_size && cmd.body == SMTP_BODY_7BIT &&
	    cmd.ret == SMTP_RET_NONE && cmd.envid[0] == '\0');
	CHECK("mail lower", parse("mail from:<a@b.c>") == 0);
	CHECK("MAIL space after colon", parse("MAIL FROM: <a@b.c>") == 0 &&
	    strcmp(cmd.addr.domain, "b.c") == 0);
	CHECK("MAIL two spaces after colon", reply("MAIL FROM:  <a@b.c>",
	    501, "5.5.4 "));
	CHECK("MAIL space before colon", reply("MAIL FROM :<a@b.c>", 501,
	    "5.5.4 "));
	CHECK("MAIL null path", parse("MAIL FROM:<>") == 0 && cmd.null_path);
	CHECK("MAIL null path params", parse("MAIL FROM:<> SIZE=10") == 0 &&
	    cmd.null_path && cmd.has_size && cmd.size == 10);
	CHECK("MAIL source route", parse("MAIL FROM:<@a.example,@b.example:"
	    "user@d.example>") == 0 && strcmp(cmd.addr.local, "user") == 0 &&
	    strcmp(cmd.addr.domain, "d.example") == 0);
	CHECK("MAIL bad source route", reply("MAIL FROM:<@a_b.example:"
	    "user@d.example>", 553, "5.1.7 "));
	CHECK("MAIL route no colon", reply("MAIL FROM:<@a.example>", 553,
	    "5.1.7 "));
	CHECK("MAIL route empty hop", reply("MAIL FROM:<@a.example,:"
	    "u@d.example>", 553, "5.1.7 "));
	CHECK("MAIL quoted local", parse("MAIL FROM:<\"a b>c\"@ex.org>") ==
	    0 && strcmp(cmd.addr.local, "\"a b>c\"") == 0);
	CHECK("MAIL utf8", parse("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc.de> "
	    "SMTPUTF8") == 0 && cmd.addr_utf8 && cmd.smtputf8 &&
	    strcmp(cmd.addr.local, "j\xc3\xb6rg") == 0);
	CHECK("MAIL utf8 without SMTPUTF8 parses",
	    parse("MAIL FROM:<j\xc3\xb6rg@example.org>") == 0 &&
	    cmd.addr_utf8 && !cmd.smtputf8);
	CHECK("MAIL no FROM", reply("MAIL <a@b.c>", 501, "5.5.4 "));
	CHECK("MAIL no arg", reply("MAIL", 501, "5.5.4 "));
	CHECK("MAIL TO", reply("MAIL TO:<a@b.c>", 501, "5.5.4 "));
	CHECK("MAIL no brackets", reply("MAIL FROM:a@b.c", 501, "5.5.4 "));
	CHECK("MAIL no close", reply("MAIL FROM:<a@b.c", 501, "5.5.4 "));
	CHECK("MAIL no open", reply("MAIL FROM:a@b.c>", 501, "5.5.4 "));
	CHECK("MAIL junk after", reply("MAIL FROM:<a@b.c>x", 501, "5.5.4 "));
	CHECK("MAIL unbalanced quote", reply("MAIL FROM:<\"a@b.c>", 501,
	    "5.5.4 "));
	CHECK("MAIL escaped quote at end", reply("MAIL FROM:<\"a\\", 501,
	    "5.5.4 "));
	CHECK("MAIL nested brackets", reply("MAIL FROM:<<a@b.c>>", 501,
	    "5.5.4 "));
	CHECK("MAIL open bracket inside", reply("MAIL FROM:<<a@b.c>", 553,
	    "5.1.7 "));
	CHECK("MAIL bad address", reply("MAIL FROM:<a..b@c.d>", 553,
	    "5.1.7 "));
	CHECK("MAIL no domain", reply("MAIL FROM:<user>", 553, "5.1.7 "));
	CHECK("MAIL postmaster no domain", reply("MAIL FROM:<postmaster>",
	    553, "5.1.7 "));
	CHECK("MAIL address literal", reply("MAIL FROM:<a@[192.0.2.1]>",
	    553, "5.1.7 "));
	CHECK("MAIL bad utf8", reply("MAIL FROM:<j\xf6rg@example.org>", 553,
	    "5.1.7 "));
	CHECK("MAIL overlong utf8", reply("MAIL FROM:<\xc0\xaf@example.org>",
	    553, "5.1.7 "));
	CHECK("MAIL local 65", reply(build("MAIL FROM:<", 'a', 65,
	    "@example.org>"), 553, "5.1.7 "));
	CHECK("MAIL local 64", parse(build("MAIL FROM:<", 'a', 64,
	    "@example.org>")) == 0);
	CHECK("MAIL label 64", reply(build("MAIL FROM:<a@", 'b', 64,
	    ".org>"), 553, "5.1.7 "));
	CHECK("MAIL domain 300", reply(build("MAIL FROM:<a@", 'b', 300,
	    ">"), 553, "5.1.7 "));
	/* 64 + 1 + 189 = 254: the longest path that fits 256 with <> */
	CHECK("MAIL path 254", parse(path_line("MAIL FROM:<", 64, 189, ">"))
	    == 0);
	CHECK("MAIL path 255", reply(path_line("MAIL FROM:<", 64, 190, ">"),
	    553, "5.1.7 "));
	CHECK("RCPT path 255", reply(path_line("RCPT TO:<", 64, 190, ">"),
	    553, "5.1.3 "));
}

static void
test_mail_params(void)
{
	CHECK("SIZE", parse("MAIL FROM:<a@b.c> SIZE=12345") == 0 &&
	    cmd.has_size && cmd.size == 12345);
	CHECK("size lower", parse("MAIL FROM:<a@b.c> size=1") == 0 &&
	    cmd.has_size && cmd.size == 1);
	CHECK("SIZE 0", parse("MAIL FROM:<a@b.c> SIZE=0") == 0 &&
	    cmd.has_size && cmd.size == 0);
	CHECK("SIZE max", parse("MAIL FROM:<a@b.c> SIZE=18446744073709551615")
	    == 0 && cmd.size == UINT64_MAX);
	CHECK("SIZE overflow clamps", parse("MAIL FROM:<a@b.c> "
	    "SIZE=18446744073709551616") == 0 && cmd.size == UINT64_MAX);
	CHECK("SIZE 20 nines clamps", parse("MAIL FROM:<a@b.c> "
	    "SIZE=99999999999999999999") == 0 && cmd.size == UINT64_MAX);
	CHECK("SIZE 21 digits", reply("MAIL FROM:<a@b.c> "
	    "SIZE=100000000000000000000", 501, "5.5.4 "));
	CHECK("SIZE 500 digits", reply(build("MAIL FROM:<a@b.c> SIZE=", '9',
	    500, ""), 501, "5.5.4 "));
	CHECK("SIZE empty", reply("MAIL FROM:<a@b.c> SIZE=", 501, "5.5.4 "));
	CHECK("SIZE no value", reply("MAIL FROM:<a@b.c> SIZE", 501,
	    "5.5.4 "));
	CHECK("SIZE negative", reply("MAIL FROM:<a@b.c> SIZE=-1", 501,
	    "5.5.4 "));
	CHECK("SIZE hex", reply("MAIL FROM:<a@b.c> SIZE=0x10", 501,
	    "5.5.4 "));
	CHECK("SIZE plus", reply("MAIL FROM:<a@b.c> SIZE=+1", 501, "5.5.4 "));
	CHECK("SIZE space", reply("MAIL FROM:<a@b.c> SIZE= 1", 501,
	    "5.5.4 "));
	CHECK("BODY 8BITMIME", parse("MAIL FROM:<a@b.c> BODY=8BITMIME") ==
	    0 && cmd.body == SMTP_BODY_8BITMIME);
	CHECK("BODY 7bit", parse("MAIL FROM:<a@b.c> body=7bit") == 0 &&
	    cmd.body == SMTP_BODY_7BIT);
	CHECK("BODY BINARYMIME", parse("MAIL FROM:<a@b.c> BODY=BINARYMIME")
	    == 0 && cmd.body == SMTP_BODY_BINARYMIME);
	CHECK("BODY bad", reply("MAIL FROM:<a@b.c> BODY=8BIT", 501,
	    "5.5.4 "));
	CHECK("BODY no value", reply("MAIL FROM:<a@b.c> BODY", 501,
	    "5.5.4 "));
	CHECK("SMTPUTF8", parse("MAIL FROM:<a@b.c> SMTPUTF8") == 0 &&
	    cmd.smtputf8);
	CHECK("SMTPUTF8 value", reply("MAIL FROM:<a@b.c> SMTPUTF8=yes", 501,
	    "5.5.4 "));
	CHECK("RET FULL", parse("MAIL FROM:<a@b.c> RET=FULL") == 0 &&
	    cmd.ret == SMTP_RET_FULL);
	CHECK("RET hdrs", parse("MAIL FROM:<a@b.c> ret=hdrs") == 0 &&
	    cmd.ret == SMTP_RET_HDRS);
	CHECK("RET bad", reply("MAIL FROM:<a@b.c> RET=BODY", 501, "5.5.4 "));
	CHECK("ENVID", parse("MAIL FROM:<a@b.c> ENVID=QQ314159") == 0 &&
	    strcmp(cmd.envid, "QQ314159") == 0);
	CHECK("ENVID xtext", parse("MAIL FROM:<a@b.c> ENVID=a+2Bb+3Dc+20d")
	    == 0 && strcmp(cmd.envid, "a+b=c d") == 0);
	CHECK("ENVID lower hex", parse("MAIL FROM:<a@b.c> ENVID=a+2bb") ==
	    0 && strcmp(cmd.envid, "a+b") == 0);
	CHECK("ENVID bad xtext", reply("MAIL FROM:<a@b.c> ENVID=a+2", 501,
	    "5.5.4 "));
	CHECK("ENVID bad hex", reply("MAIL FROM:<a@b.c> ENVID=a+GG", 501,
	    "5.5.4 "));
	CHECK("ENVID NUL", reply("MAIL FROM:<a@b.c> ENVID=a+00b", 501,
	    "5.5.4 "));
	CHECK("ENVID CRLF", reply("MAIL FROM:<a@b.c> ENVID=a+0D+0Ab", 501,
	    "5.5.4 "));
	CHECK("ENVID 8bit", reply("MAIL FROM:<a@b.c> ENVID=a+C3+B6", 501,
	    "5.5.4 "));
	CHECK("ENVID 100", parse(build("MAIL FROM:<a@b.c> ENVID=", 'e', 100,
	    "")) == 0 && strlen(cmd.envid) == 100);
	CHECK("ENVID 101", reply(build("MAIL FROM:<a@b.c> ENVID=", 'e', 101,
	    ""), 501, "5.5.4 "));
	CHECK("ENVID 100 encoded", parse(build("MAIL FROM:<a@b.c> ENVID=",
	    'e', 99, "+2B")) == 0 && strlen(cmd.envid) == 100);
	CHECK("AUTH param", parse("MAIL FROM:<a@b.c> AUTH=e+3Dmc2@b.c") == 0
	    && strcmp(cmd.auth_param, "e=mc2@b.c") == 0);
	CHECK("AUTH param null", parse("MAIL FROM:<a@b.c> AUTH=<>") == 0 &&
	    strcmp(cmd.auth_param, "<>") == 0);
	CHECK("AUTH param control", reply("MAIL FROM:<a@b.c> AUTH=a+0A", 501,
	    "5.5.4 "));
	CHECK("AUTH param bad utf8", reply("MAIL FROM:<a@b.c> AUTH=a+C3", 501,
	    "5.5.4 "));
	CHECK("AUTH param too long", reply(build("MAIL FROM:<a@b.c> AUTH=",
	    'a', 256, ""), 501, "5.5.4 "));
	CHECK("all params", parse("MAIL FROM:<a@b.c> SIZE=1 BODY=8BITMIME "
	    "SMTPUTF8 RET=HDRS ENVID=x AUTH=<>") == 0 && cmd.size == 1 &&
	    cmd.body == SMTP_BODY_8BITMIME && cmd.smtputf8 &&
	    cmd.ret == SMTP_RET_HDRS && strcmp(cmd.envid, "x") == 0);
	CHECK("two spaces between", parse("MAIL FROM:<a@b.c>  SIZE=1  "
	    "SMTPUTF8") == 0 && cmd.size == 1 && cmd.smtputf8);
	CHECK("unknown param", reply("MAIL FROM:<a@b.c> FOO=bar", 555,
	    "5.5.4 "));
	CHECK("RCPT param in MAIL", reply("MAIL FROM:<a@b.c> NOTIFY=NEVER",
	    555, "5.5.4 "));
	CHECK("duplicate SIZE", reply("MAIL FROM:<a@b.c> SIZE=1 SIZE=2", 555,
	    "5.5.4 "));
	CHECK("duplicate mixed case", reply("MAIL FROM:<a@b.c> BODY=7BIT "
	    "body=8bitmime", 555, "5.5.4 "));
	CHECK("duplicate SMTPUTF8", reply("MAIL FROM:<a@b.c> SMTPUTF8 "
	    "SMTPUTF8", 555, "5.5.4 "));
	CHECK("keyword syntax", reply("MAIL FROM:<a@b.c> =1", 501,
	    "5.5.4 "));
	CHECK("keyword hyphen first", reply("MAIL FROM:<a@b.c> -X=1", 501,
	    "5.5.4 "));
	CHECK("keyword underscore", reply("MAIL FROM:<a@b.c> X_Y=1", 501,
	    "5.5.4 "));
	CHECK("value with =", reply("MAIL FROM:<a@b.c> ENVID=a=b", 501,
	    "5.5.4 "));
	CHECK("value with tab", reply("MAIL FROM:<a@b.c> ENVID=a\tb", 501,
	    "5.5.4 "));
	CHECK("value bad utf8", reply("MAIL FROM:<a@b.c> X=\xff", 501,
	    "5.5.4 "));
	CHECK("tab before params", reply("MAIL FROM:<a@b.c>\tSIZE=1", 501,
	    "5.5.4 "));
	CHECK("10 params", parse("MAIL FROM:<a@b.c> SIZE=1 BODY=7BIT "
	    "SMTPUTF8 RET=FULL ENVID=a AUTH=<> X1 X2 X3 X4") == 555);
	CHECK("11 params", reply("MAIL FROM:<a@b.c> SIZE=1 BODY=7BIT "
	    "SMTPUTF8 RET=FULL ENVID=a AUTH=<> X1 X2 X3 X4 X5", 501,
	    "5.5.4 "));
	CHECK("50 params", reply(build("MAIL FROM:<a@b.c>", ' ', 0,
	    " A=1 B=1 C=1 D=1 E=1 F=1 G=1 H=1 I=1 J=1 K=1 L=1 M=1 N=1 O=1"
	    " P=1 Q=1 R=1 S=1 T=1 U=1 V=1 W=1 X=1 Y=1 Z=1 A1 B1 C1 D1 E1"
	    " F1 G1 H1 I1 J1 K1 L1 M1 N1 O1 P1 Q1 R1 S1 T1 U1 V1 W1 X1"),
	    501, "5.5.4 "));
	CHECK("50 SIZE params", reply("MAIL FROM:<a@b.c> SIZE=1 SIZE=1 "
	    "SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 "
	    "SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 "
	    "SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 "
	    "SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 "
	    "SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 SIZE=1 "
	    "SIZE=1 SIZE=1 SIZE=1", 501, "5.5.4 "));
	CHECK("param too long", reply(build("MAIL FROM:<a@b.c> X-LONG=", 'v',
	    600, ""), 501, "5.5.4 "));
	CHECK("failed parse clears cmd", parse("MAIL FROM:<a@b.c> SIZE=5 "
	    "BODY=BAD") == 501 && !cmd.has_size &&
	    cmd.addr.local[0] == '\0' && cmd.verb == SMTP_CMD_MAIL);
}

static void
test_rcpt(void)
{
	CHECK("RCPT", parse("RCPT TO:<User@Example.ORG>") == 0 &&
	    cmd.verb == SMTP_CMD_RCPT && strcmp(cmd.addr.local, "User") == 0 &&
	    strcmp(cmd.addr.domain, "example.org") == 0 && cmd.notify == 0 &&
	    cmd.orcpt[0] == '\0');
	CHECK("RCPT space after colon", parse("rcpt to: <a@b.c>") == 0);
	CHECK("RCPT postmaster", parse("RCPT TO:<postmaster>") == 0 &&
	    strcmp(cmd.addr.local, "postmaster") == 0 &&
	    cmd.addr.domain[0] == '\0');
	CHECK("RCPT Postmaster", parse("RCPT TO:<PostMaster>") == 0 &&
	    strcmp(cmd.addr.local, "postmaster") == 0 &&
	    cmd.addr.domain[0] == '\0');
	CHECK("RCPT postmaster@domain", parse("RCPT TO:<postmaster@b.c>") ==
	    0 && strcmp(cmd.addr.domain, "b.c") == 0);
	CHECK("RCPT null path", reply("RCPT TO:<>", 553, "5.1.3 "));
	CHECK("RCPT no domain", reply("RCPT TO:<user>", 553, "5.1.3 "));
	CHECK("RCPT bad address", reply("RCPT TO:<a b@c.d>", 553, "5.1.3 "));
	CHECK("RCPT literal", reply("RCPT TO:<a@[IPv6:::1]>", 553,
	    "5.1.3 "));
	CHECK("RCPT source route", parse("RCPT TO:<@hop.example:u@d.example>")
	    == 0 && strcmp(cmd.addr.local, "u") == 0);
	CHECK("RCPT route postmaster", parse("RCPT TO:<@h.example:"
	    "postmaster>") == 0 && cmd.addr.domain[0] == '\0');
	CHECK("RCPT utf8", parse("RCPT TO:<\xe2\x82\xac@example.org>") == 0 &&
	    cmd.addr_utf8);
	CHECK("RCPT no TO", reply("RCPT <a@b.c>", 501, "5.5.4 "));
	CHECK("RCPT FROM", reply("RCPT FROM:<a@b.c>", 501, "5.5.4 "));
	CHECK("RCPT no brackets", reply("RCPT TO:a@b.c", 501, "5.5.4 "));
	CHECK("RCPT unbalanced", reply("RCPT TO:<a@b.c", 501, "5.5.4 "));
	CHECK("RCPT local 900", reply(build("RCPT TO:<", 'a', 900,
	    "@b.c>"), 553, "5.1.3 "));
	CHECK("NOTIFY NEVER", parse("RCPT TO:<a@b.c> NOTIFY=NEVER") == 0 &&
	    cmd.notify == DSN_NOTIFY_NEVER);
	CHECK("NOTIFY list", parse("RCPT TO:<a@b.c> "
	    "NOTIFY=SUCCESS,failure,Delay") == 0 &&
	    cmd.notify == (DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE |
	    DSN_NOTIFY_DELAY));
	CHECK("NOTIFY one", parse("RCPT TO:<a@b.c> NOTIFY=FAILURE") == 0 &&
	    cmd.notify == DSN_NOTIFY_FAILURE);
	CHECK("NOTIFY NEVER mixed", reply("RCPT TO:<a@b.c> "
	    "NOTIFY=NEVER,SUCCESS", 501, "5.5.4 "));
	CHECK("NOTIFY mixed NEVER", reply("RCPT TO:<a@b.c> "
	    "NOTIFY=DELAY,NEVER", 501, "5.5.4 "));
	CHECK("NOTIFY repeat", reply("RCPT TO:<a@b.c> NOTIFY=DELAY,DELAY",
	    501, "5.5.4 "));
	CHECK("NOTIFY empty item", reply("RCPT TO:<a@b.c> NOTIFY=SUCCESS,",
	    501, "5.5.4 "));
	CHECK("NOTIFY leading comma", reply("RCPT TO:<a@b.c> NOTIFY=,DELAY",
	    501, "5.5.4 "));
	CHECK("NOTIFY unknown", reply("RCPT TO:<a@b.c> NOTIFY=ALWAYS", 501,
	    "5.5.4 "));
	CHECK("NOTIFY prefix", reply("RCPT TO:<a@b.c> NOTIFY=SUCC", 501,
	    "5.5.4 "));
	CHECK("NOTIFY no value", reply("RCPT TO:<a@b.c> NOTIFY", 501,
	    "5.5.4 "));
	CHECK("ORCPT", parse("RCPT TO:<a@b.c> ORCPT=rfc822;Joe+2Bx@b.c") ==
	    0 && strcmp(cmd.orcpt, "rfc822;Joe+x@b.c") == 0);
	CHECK("ORCPT utf-8 type", parse("RCPT TO:<a@b.c> "
	    "ORCPT=utf-8;j\xc3\xb6rg@b.c") == 0 &&
	    strcmp(cmd.orcpt, "utf-8;j\xc3\xb6rg@b.c") == 0);
	CHECK("ORCPT no type", reply("RCPT TO:<a@b.c> ORCPT=;a@b.c", 501,
	    "5.5.4 "));
	CHECK("ORCPT no semicolon", reply("RCPT TO:<a@b.c> ORCPT=a@b.c", 501,
	    "5.5.4 "));
	CHECK("ORCPT empty address", reply("RCPT TO:<a@b.c> ORCPT=rfc822;",
	    501, "5.5.4 "));
	CHECK("ORCPT bad type", reply("RCPT TO:<a@b.c> ORCPT=rfc/822;a@b.c",
	    501, "5.5.4 "));
	CHECK("ORCPT bad xtext", reply("RCPT TO:<a@b.c> ORCPT=rfc822;a+4", 501,
	    "5.5.4 "));
	CHECK("ORCPT control", reply("RCPT TO:<a@b.c> ORCPT=rfc822;a+0Db",
	    501, "5.5.4 "));
	CHECK("ORCPT too long", reply(build("RCPT TO:<a@b.c> ORCPT=rfc822;",
	    'o', 250, ""), 501, "5.5.4 "));
	CHECK("ORCPT fits", parse(build("RCPT TO:<a@b.c> ORCPT=rfc822;",
	    'o', 248, "")) == 0 && strlen(cmd.orcpt) == 255);
	CHECK("RCPT both params", parse("RCPT TO:<a@b.c> NOTIFY=NEVER "
	    "ORCPT=rfc822;a@b.c") == 0 && cmd.notify == DSN_NOTIFY_NEVER &&
	    strcmp(cmd.orcpt, "rfc822;a@b.c") == 0);
	CHECK("RCPT unknown param", reply("RCPT TO:<a@b.c> SIZE=1", 555,
	    "5.5.4 "));
	CHECK("RCPT duplicate NOTIFY", reply("RCPT TO:<a@b.c> NOTIFY=NEVER "
	    "NOTIFY=NEVER", 555, "5.5.4 "));
	CHECK("RCPT duplicate ORCPT", reply("RCPT TO:<a@b.c> "
	    "ORCPT=rfc822;a@b.c orcpt=rfc822;a@b.c", 555, "5.5.4 "));
}

static void
test_bdat(void)
{
	CHECK("BDAT", parse("BDAT 1000") == 0 && cmd.verb == SMTP_CMD_BDAT &&
	    cmd.chunk_size == 1000 && !cmd.last);
	CHECK("BDAT LAST", parse("bdat 0 last") == 0 && cmd.chunk_size == 0 &&
	    cmd.last);
	CHECK("BDAT max", parse("BDAT 18446744073709551615 LAST") == 0 &&
	    cmd.chunk_size == UINT64_MAX && cmd.last);
	CHECK("BDAT overflow", reply("BDAT 18446744073709551616", 501,
	    "5.5.4 "));
	CHECK("BDAT 20 nines", reply("BDAT 99999999999999999999", 501,
	    "5.5.4 "));
	CHECK("BDAT 21 digits", reply("BDAT 000000000000000000001", 501,
	    "5.5.4 "));
	CHECK("BDAT 900 digits", reply(build("BDAT ", '7', 900, ""), 501,
	    "5.5.4 "));
	CHECK("BDAT no size", reply("BDAT", 501, "5.5.4 "));
	CHECK("BDAT negative", reply("BDAT -1", 501, "5.5.4 "));
	CHECK("BDAT letters", reply("BDAT 12a", 501, "5.5.4 "));
	CHECK("BDAT bad marker", reply("BDAT 12 FIRST", 501, "5.5.4 "));
	CHECK("BDAT extra", reply("BDAT 12 LAST x", 501, "5.5.4 "));
	CHECK("BDAT LAST only", reply("BDAT LAST", 501, "5.5.4 "));
}

static void
test_auth(void)
{
	CHECK("AUTH", parse("AUTH PLAIN") == 0 && cmd.verb == SMTP_CMD_AUTH &&
	    strcmp(cmd.arg, "PLAIN") == 0 && cmd.auth_initial[0] == '\0');
	CHECK("AUTH lower mech", parse("auth login") == 0 &&
	    strcmp(cmd.arg, "LOGIN") == 0);
	CHECK("AUTH initial", parse("AUTH PLAIN AHVzZXIAcGFzcw==") == 0 &&
	    strcmp(cmd.auth_initial, "AHVzZXIAcGFzcw==") == 0);
	CHECK("AUTH empty initial", parse("AUTH PLAIN =") == 0 &&
	    strcmp(cmd.auth_initial, "=") == 0);
	CHECK("AUTH mech hyphen", parse("AUTH SCRAM-SHA-256") == 0 &&
	    strcmp(cmd.arg, "SCRAM-SHA-256") == 0);
	CHECK("AUTH no mech", reply("AUTH", 501, "5.5.4 "));
	CHECK("AUTH bad mech", reply("AUTH PL@IN", 501, "5.5.4 "));
	CHECK("AUTH long mech", reply(build("AUTH ", 'X', 21, ""), 501,
	    "5.5.4 "));
	CHECK("AUTH 20-char mech", parse(build("AUTH ", 'X', 20, "")) == 0);
	CHECK("AUTH bad base64", reply("AUTH PLAIN abc!", 501, "5.5.2 "));
	CHECK("AUTH base64 length", reply("AUTH PLAIN abcde", 501, "5.5.2 "));
	CHECK("AUTH base64 pad middle", reply("AUTH PLAIN ab=c", 501,
	    "5.5.2 "));
	CHECK("AUTH base64 pad 3", reply("AUTH PLAIN a===", 501, "5.5.2 "));
	CHECK("AUTH base64 ==", reply("AUTH PLAIN ==", 501, "5.5.2 "));
	CHECK("AUTH extra", reply("AUTH PLAIN AAAA BBBB", 501, "5.5.4 "));
	CHECK("AUTH long initial", parse(build("AUTH PLAIN ", 'A', 900,
	    "")) == 0 && strlen(cmd.auth_initial) == 900);
}

static void
test_hostile(void)
{
	static const char nul[] = "MAIL FROM:<a@b.c>\0 SIZE=1";
	static const char nul_verb[] = "QU\0IT";
	char	 buf[2100];
	size_t	 i;
	int	 ok;

	CHECK("NUL in line", reply_len(nul, sizeof(nul) - 1, 500, "5.5.2 "));
	CHECK("NUL in verb", reply_len(nul_verb, sizeof(nul_verb) - 1, 500,
	    "5.5.2 "));
	CHECK("NUL at end", reply_len("QUIT\0", 5, 500, "5.5.2 "));
	CHECK("NUL only", reply_len("\0", 1, 500, "5.5.2 "));
	CHECK("len stops before NUL", reply_len("QUIT\0junk", 4, 0, ""));
	CHECK("len shorter than string", parse_len("QUIT NOW", 4) == 0 &&
	    cmd.verb == SMTP_CMD_QUIT);
	CHECK("bare CR", reply("RSET\rQUIT", 500, "5.5.2 "));
	CHECK("bare LF", reply("RSET\nQUIT", 500, "5.5.2 "));
	CHECK("CRLF inside", reply("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>", 500,
	    "5.5.2 "));
	CHECK("trailing CRLF", reply("QUIT\r\n", 500, "5.5.2 "));
	CHECK("escape char", reply("NOOP \x1b[2J", 500, "5.5.2 "));
	CHECK("DEL char", reply("NOOP \x7f", 500, "5.5.2 "));
	CHECK("8bit in verb", reply("QU\xc3\x8fT", 500, "5.5.2 "));
	CHECK("8bit NOOP", parse("NOOP \xff\xfe") == 0);

	CHECK("998 octets", parse(build("NOOP ", 'x', 993, "")) == 0 &&
	    strlen(cmd.arg) == 993);
	CHECK("999 octets", reply(build("NOOP ", 'x', 994, ""), 500,
	    "5.5.2 "));
	memset(buf, 'A', sizeof(buf));
	CHECK("2000-octet line", reply_len(buf, 2000, 500, "5.5.2 "));
	CHECK("2000-octet MAIL", reply(build("MAIL FROM:<", 'a', 1990, ">"),
	    500, "5.5.2 "));
	CHECK("huge len", reply_len(buf, SIZE_MAX, 500, "5.5.2 "));
	CHECK("990-octet local", reply(build("MAIL FROM:<", 'a', 970,
	    "@b.c>"), 553, "5.1.7 "));
	CHECK("990-octet quoted", reply(build("MAIL FROM:<\"", 'a', 970,
	    "\"@b.c>"), 553, "5.1.7 "));
	CHECK("990-octet open quote", reply(build("MAIL FROM:<\"", 'a', 970,
	    "@b.c>"), 501, "5.5.4 "));
	CHECK("many brackets", reply(build("MAIL FROM:", '<', 900, ""), 501,
	    "5.5.4 "));
	CHECK("many closing", reply(build("MAIL FROM:<a@b.c", '>', 900, ""),
	    501, "5.5.4 "));
	CHECK("many quotes", reply(build("MAIL FROM:<", '"', 900, ">"), 553,
	    "5.1.7 "));
	CHECK("many backslashes", reply(build("MAIL FROM:<\"", '\\', 901,
	    ""), 501, "5.5.4 "));
	CHECK("many spaces", parse(build("MAIL FROM:<a@b.c>", ' ', 900,
	    "SIZE=1")) == 0 && cmd.size == 1);
	CHECK("many route hops", reply(build("MAIL FROM:<@a", ',', 240,
	    ":u@b.c>"), 553, "5.1.7 "));
	CHECK("many plus signs", reply(build("MAIL FROM:<a@b.c> ENVID=", '+',
	    300, ""), 501, "5.5.4 "));
	CHECK("many equals", reply(build("MAIL FROM:<a@b.c> SIZE=", '=',
	    300, ""), 501, "5.5.4 "));
	CHECK("many commas", reply(build("RCPT TO:<a@b.c> NOTIFY=", ',',
	    300, ""), 501, "5.5.4 "));

	/* every single octet as a one-octet line, and after a verb */
	ok = 1;
	for (i = 0; i < 256; i++) {
		buf[0] = (char)i;
		if (parse_len(buf, 1) != 500)
			ok = 0;
		memcpy(buf, "MAIL FROM:<a@b.c> ", 18);
		buf[18] = (char)i;
		(void)parse_len(buf, 19);
		if (memchr(err, '\0', sizeof(err)) == NULL)
			ok = 0;
	}
	CHECK("every octet", ok);
}

int
main(void)
{
	test_simple_verbs();
	test_helo();
	test_mail();
	test_mail_params();
	test_rcpt();
	test_bdat();
	test_auth();
	test_hostile();
	TEST_EXIT();
}
