/*
 * SMTP command syntax: RFC 5321 4.1, with the parameters of RFC 1870
 * (SIZE), 6152 (BODY), 3030 (BDAT), 3461 (DSN), 4954 (AUTH) and 6531
 * (SMTPUTF8).  The line comes from the network: it may hold any octet,
 * and nothing here reads past len.  After the octet checks the line is
 * copied to a NUL-terminated buffer, so the rest works on C strings.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

#define SMTP_CMDLINE_MAX       (SMTP_LINE_MAX - 2) /* without CRLF */
#define SMTP_PARAMS_MAX	       10
#define SMTP_PARAM_LEN_MAX     512
#define SMTP_NUMBER_DIGITS_MAX 20 /* RFC 1870 and RFC 3030 */
#define SMTP_SASL_MECH_MAX     20 /* RFC 4422 */
#define SMTP_LITERAL_MAX       64

struct smtp_verb_def {
	const char *name;
	enum smtp_verb verb;
	int (*parse)(char *, struct smtp_command *, char *, size_t);
};

struct smtp_param_def {
	const char *keyword;
	int (*parse)(const char *, struct smtp_command *, char *, size_t);
};

static int parse_helo(char *, struct smtp_command *, char *, size_t);
static int parse_mail(char *, struct smtp_command *, char *, size_t);
static int parse_rcpt(char *, struct smtp_command *, char *, size_t);
static int parse_bdat(char *, struct smtp_command *, char *, size_t);
static int parse_auth(char *, struct smtp_command *, char *, size_t);
static int parse_no_arg(char *, struct smtp_command *, char *, size_t);
static int parse_opt_text(char *, struct smtp_command *, char *, size_t);
static int parse_req_text(char *, struct smtp_command *, char *, size_t);

static int param_size(const char *, struct smtp_command *, char *, size_t);
static int param_body(const char *, struct smtp_command *, char *, size_t);
static int param_smtputf8(const char *, struct smtp_command *, char *, size_t);
static int param_ret(const char *, struct smtp_command *, char *, size_t);
static int param_envid(const char *, struct smtp_command *, char *, size_t);
static int param_auth(const char *, struct smtp_command *, char *, size_t);
static int param_notify(const char *, struct smtp_command *, char *, size_t);
static int param_orcpt(const char *, struct smtp_command *, char *, size_t);

static const struct smtp_verb_def smtp_verbs[] = {
    {"HELO", SMTP_CMD_HELO, parse_helo},
    {"EHLO", SMTP_CMD_EHLO, parse_helo},
    {"MAIL", SMTP_CMD_MAIL, parse_mail},
    {"RCPT", SMTP_CMD_RCPT, parse_rcpt},
    {"DATA", SMTP_CMD_DATA, parse_no_arg},
    {"BDAT", SMTP_CMD_BDAT, parse_bdat},
    {"RSET", SMTP_CMD_RSET, parse_no_arg},
    {"NOOP", SMTP_CMD_NOOP, parse_opt_text},
    {"QUIT", SMTP_CMD_QUIT, parse_no_arg},
    {"VRFY", SMTP_CMD_VRFY, parse_req_text},
    {"EXPN", SMTP_CMD_EXPN, parse_req_text},
    {"HELP", SMTP_CMD_HELP, parse_opt_text},
    {"STARTTLS", SMTP_CMD_STARTTLS, parse_no_arg},
    {"AUTH", SMTP_CMD_AUTH, parse_auth},
};

static const struct smtp_param_def mail_params[] = {
    {"SIZE", param_size},
    {"BODY", param_body},
    {"SMTPUTF8", param_smtputf8},
    {"RET", param_ret},
    {"ENVID", param_envid},
    {"AUTH", param_auth},
};

static const struct smtp_param_def rcpt_params[] = {
    {"NOTIFY", param_notify},
    {"ORCPT", param_orcpt},
};

static int
smtp_reply(char *err, size_t errsz, int code, const char *text)
{
	if (errsz > 0)
		(void)strlcpy(err, text, errsz);
	return code;
}

static int
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/*
 * 1*20DIGIT into *v: 0 ok, -1 syntax, -2 a number of 20 digits that does
 * not fit in 64 bits.
 */
static int
parse_number(const char *s, uint64_t *v)
{
	uint64_t n = 0;
	size_t i;
	int overflow = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= SMTP_NUMBER_DIGITS_MAX)
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			overflow = 1;
		else
			n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -1;
	if (overflow)
		return -2;
	*v = n;
	return 0;
}

/*
 * xtext (RFC 3461 4): "+HH" for an octet, anything else as itself.  The
 * decoded text must be valid UTF-8 without controls; with ascii set,
 * printable US-ASCII only.
 */
static int
xtext_decode(const char *s, char *dst, size_t dstsz, int ascii)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, o = 0, n;
	int hi, lo, c;

	for (i = 0; p[i] != '\0'; i++) {
		c = p[i];
		if (c == '+') {
			if ((hi = ascii_hex_value(p[i + 1])) == -1 ||
			    (lo = ascii_hex_value(p[i + 2])) == -1)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || (ascii && c >= 0x80))
			return -1;
		if (o + 1 >= dstsz)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	for (i = 0; i < o; i += n) {
		if ((unsigned char)dst[i] < 0x80)
			n = 1;
		else if ((n = utf8_seqlen((unsigned char *)dst + i)) == 0)
			return -1;
	}
	return 0;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int
esmtp_keyword_valid(const char *s)
{
	size_t i;

	if (!ascii_alnum((unsigned char)s[0]))
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!ascii_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), and UTF-8 (RFC 6531 3.3) */
static int
esmtp_value_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	if (p[0] == '\0')
		return 0;
	while (p[i] != '\0') {
		if (p[i] >= 0x80) {
			if ((n = utf8_seqlen(p + i)) == 0)
				return 0;
			i += n;
		} else if (p[i] >= 33 && p[i] <= 126 && p[i] != '=')
			i++;
		else
			return 0;
	}
	return 1;
}

/* an RFC 5321 address literal: "[" IPv4 or "IPv6:" IPv6 "]" */
static int
address_literal_valid(const char *s)
{
	char buf[SMTP_LITERAL_MAX];
	struct in_addr in4;
	struct in6_addr in6;
	size_t n = strlen(s);

	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, &in6) == 1;
	return inet_pton(AF_INET, buf, &in4) == 1;
}

/* the next token separated by spaces, NUL-terminated in place; NULL at end */
static char *
next_token(char **pp)
{
	char *p = *pp, *tok;

	while (*p == ' ')
		p++;
	if (*p == '\0') {
		*pp = p;
		return NULL;
	}
	tok = p;
	while (*p != '\0' && *p != ' ')
		p++;
	if (*p == ' ')
		*p++ = '\0';
	*pp = p;
	return tok;
}

static int
parse_helo(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	char *name;

	if ((name = next_token(&args)) == NULL || next_token(&args) != NULL)
		return smtp_reply(err, errsz, 501,
		    cmd->verb == SMTP_CMD_HELO ? "5.5.4 Syntax: HELO hostname"
					       : "5.5.4 Syntax: EHLO hostname");
	/*
	 * RFC 5321 gives HELO a Domain alone; a client without a name may
	 * still send its address there, and that harms nobody.
	 */
	if (name[0] == '[') {
		if (!address_literal_valid(name))
			return smtp_reply(
			    err, errsz, 501, "5.5.4 Invalid address literal");
	} else if (!domain_valid(name, 1))
		return smtp_reply(err, errsz, 501, "5.5.4 Invalid domain name");
	(void)strlcpy(cmd->arg, name, sizeof(cmd->arg));
	return 0;
}

/* the '>' that closes a path, past quoted strings; NULL if there is none */
static char *
path_end(char *p)
{
	int quoted = 0;

	for (; *p != '\0'; p++) {
		if (quoted) {
			if (*p == '\\') {
				if (p[1] == '\0')
					return NULL;
				p++;
			} else if (*p == '"')
				quoted = 0;
		} else if (*p == '"')
			quoted = 1;
		else if (*p == '>')
			return p;
	}
	return NULL;
}

/* A-d-l = At-domain *( "," At-domain ): checked, then ignored (RFC 5321 C) */
static int
source_route_valid(char *route)
{
	char *hop;

	while ((hop = strsep(&route, ",")) != NULL)
		if (hop[0] != '@' || !domain_valid(hop + 1, 1))
			return 0;
	return 1;
}

/*
 * "<" [ A-d-l ":" ] Mailbox ">" at *pp, or "<>"; on success *pp points
 * past the '>', at the end or at the space before the parameters.
 */
static int
parse_path(
    char **pp, int rcpt, struct smtp_command *cmd, char *err, size_t errsz)
{
	const char *bad = rcpt ? "5.1.3 Invalid recipient address"
			       : "5.1.7 Invalid sender address";
	char *p = *pp, *end, *mailbox, *colon;
	size_t len;

	if (*p != '<' || (end = path_end(p + 1)) == NULL ||
	    (end[1] != '\0' && end[1] != ' '))
		return smtp_reply(err, errsz, 501,
		    rcpt ? "5.5.4 Syntax: RCPT TO:<address>"
			 : "5.5.4 Syntax: MAIL FROM:<address>");
	*end = '\0';
	*pp = end + 1;
	mailbox = p + 1;
	len = (size_t)(end - mailbox);
	if (len == 0) {
		if (rcpt)
			return smtp_reply(err, errsz, 553, bad);
		cmd->null_path = 1;
		return 0;
	}
	/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its <> */
	if (len > SMTP_PATH_MAX - 2)
		return smtp_reply(err, errsz, 553,
		    rcpt ? "5.1.3 Path too long" : "5.1.7 Path too long");
	if (mailbox[0] == '@') {
		if ((colon = strchr(mailbox, ':')) == NULL)
			return smtp_reply(err, errsz, 553, bad);
		*colon = '\0';
		if (!source_route_valid(mailbox))
			return smtp_reply(err, errsz, 553, bad);
		mailbox = colon + 1;
	}
	/* RFC 5321 4.5.1: the one address that needs no domain */
	if (rcpt && strcasecmp(mailbox, "postmaster") == 0) {
		(void)strlcpy(
		    cmd->addr.local, "postmaster", sizeof(cmd->addr.local));
		cmd->addr.domain[0] = '\0';
		return 0;
	}
	if (mailaddr_parse(&cmd->addr, mailbox, 1) == -1)
		return smtp_reply(err, errsz, 553, bad);
	cmd->addr_utf8 = has_8bit(mailbox);
	return 0;
}

static int
parse_params(char *p, const struct smtp_param_def *defs, size_t ndefs,
    struct smtp_command *cmd, char *err, size_t errsz)
{
	char *params[SMTP_PARAMS_MAX];
	char *param, *value;
	size_t nparams = 0, i, d;
	uint32_t seen = 0;
	int rv;

	/* bound the count before looking at any of them */
	while ((param = next_token(&p)) != NULL) {
		if (nparams == SMTP_PARAMS_MAX)
			return smtp_reply(
			    err, errsz, 501, "5.5.4 Too many parameters");
		params[nparams++] = param;
	}
	for (i = 0; i < nparams; i++) {
		param = params[i];
		if (strlen(param) > SMTP_PARAM_LEN_MAX)
			return smtp_reply(
			    err, errsz, 501, "5.5.4 Parameter too long");
		if ((value = strchr(param, '=')) != NULL)
			*value++ = '\0';
		if (!esmtp_keyword_valid(param) ||
		    (value != NULL && !esmtp_value_valid(value)))
			return smtp_reply(
			    err, errsz, 501, "5.5.4 Invalid parameter syntax");
		for (d = 0; d < ndefs; d++)
			if (strcasecmp(param, defs[d].keyword) == 0)
				break;
		if (d == ndefs)
			return smtp_reply(
			    err, errsz, 555, "5.5.4 Unsupported parameter");
		if (seen & (1U << d))
			return smtp_reply(
			    err, errsz, 555, "5.5.4 Duplicate parameter");
		seen |= 1U << d;
		if ((rv = defs[d].parse(value, cmd, err, errsz)) != 0)
			return rv;
	}
	return 0;
}

static int
parse_mail(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	int rv;

	if (strncasecmp(args, "FROM:", 5) != 0)
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Syntax: MAIL FROM:<address>");
	args += 5;
	if (*args == ' ')
		args++;
	if ((rv = parse_path(&args, 0, cmd, err, errsz)) != 0)
		return rv;
	return parse_params(args, mail_params,
	    sizeof(mail_params) / sizeof(mail_params[0]), cmd, err, errsz);
}

static int
parse_rcpt(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	int rv;

	if (strncasecmp(args, "TO:", 3) != 0)
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Syntax: RCPT TO:<address>");
	args += 3;
	if (*args == ' ')
		args++;
	if ((rv = parse_path(&args, 1, cmd, err, errsz)) != 0)
		return rv;
	return parse_params(args, rcpt_params,
	    sizeof(rcpt_params) / sizeof(rcpt_params[0]), cmd, err, errsz);
}

static int
param_size(const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	switch (value == NULL ? -1 : parse_number(value, &cmd->size)) {
	case 0:
		break;
	case -2:
		/* larger than any limit: the session answers 552 */
		cmd->size = UINT64_MAX;
		break;
	default:
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Invalid SIZE parameter");
	}
	cmd->has_size = 1;
	return 0;
}

static int
param_body(const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	if (value != NULL && strcasecmp(value, "7BIT") == 0)
		cmd->body = SMTP_BODY_7BIT;
	else if (value != NULL && strcasecmp(value, "8BITMIME") == 0)
		cmd->body = SMTP_BODY_8BITMIME;
	else if (value != NULL && strcasecmp(value, "BINARYMIME") == 0)
		cmd->body = SMTP_BODY_BINARYMIME;
	else
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Invalid BODY parameter");
	return 0;
}

static int
param_smtputf8(
    const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	if (value != NULL)
		return smtp_reply(
		    err, errsz, 501, "5.5.4 SMTPUTF8 takes no value");
	cmd->smtputf8 = 1;
	return 0;
}

static int
param_ret(const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	if (value != NULL && strcasecmp(value, "FULL") == 0)
		cmd->ret = SMTP_RET_FULL;
	else if (value != NULL && strcasecmp(value, "HDRS") == 0)
		cmd->ret = SMTP_RET_HDRS;
	else
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Invalid RET parameter");
	return 0;
}

/* RFC 3461 4.4: at most 100 printable US-ASCII characters */
static int
param_envid(
    const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	if (value == NULL ||
	    xtext_decode(value, cmd->envid, sizeof(cmd->envid), 1) == -1)
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Invalid ENVID parameter");
	return 0;
}

static int
param_auth(const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	if (value == NULL ||
	    xtext_decode(value, cmd->auth_param, sizeof(cmd->auth_param), 0) ==
		-1)
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Invalid AUTH parameter");
	return 0;
}

static int
param_notify(
    const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	const char *p = value, *comma;
	size_t len;
	uint32_t flag;

	if (value == NULL)
		goto bad;
	for (;;) {
		if ((comma = strchr(p, ',')) != NULL)
			len = (size_t)(comma - p);
		else
			len = strlen(p);
		if (len == 5 && strncasecmp(p, "NEVER", len) == 0)
			flag = DSN_NOTIFY_NEVER;
		else if (len == 7 && strncasecmp(p, "SUCCESS", len) == 0)
			flag = DSN_NOTIFY_SUCCESS;
		else if (len == 7 && strncasecmp(p, "FAILURE", len) == 0)
			flag = DSN_NOTIFY_FAILURE;
		else if (len == 5 && strncasecmp(p, "DELAY", len) == 0)
			flag = DSN_NOTIFY_DELAY;
		else
			goto bad;
		if (cmd->notify & flag)
			goto bad;
		cmd->notify |= flag;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	/* NEVER stands alone */
	if ((cmd->notify & DSN_NOTIFY_NEVER) && cmd->notify != DSN_NOTIFY_NEVER)
		goto bad;
	return 0;
bad:
	cmd->notify = 0;
	return smtp_reply(err, errsz, 501, "5.5.4 Invalid NOTIFY parameter");
}

/* ORCPT=addr-type ";" xtext, kept as "addr-type;decoded" */
static int
param_orcpt(
    const char *value, struct smtp_command *cmd, char *err, size_t errsz)
{
	char decoded[SMTP_PATH_MAX];
	const char *semi;
	size_t typelen, i;
	int n;

	if (value == NULL || (semi = strchr(value, ';')) == NULL)
		goto bad;
	typelen = (size_t)(semi - value);
	if (typelen == 0 || typelen > 32)
		goto bad;
	for (i = 0; i < typelen; i++)
		if (!ascii_alnum((unsigned char)value[i]) && value[i] != '-')
			goto bad;
	if (xtext_decode(semi + 1, decoded, sizeof(decoded), 0) == -1 ||
	    decoded[0] == '\0')
		goto bad;
	n = snprintf(cmd->orcpt, sizeof(cmd->orcpt), "%.*s;%s", (int)typelen,
	    value, decoded);
	if (n < 0 || (size_t)n >= sizeof(cmd->orcpt))
		goto bad;
	return 0;
bad:
	cmd->orcpt[0] = '\0';
	return smtp_reply(err, errsz, 501, "5.5.4 Invalid ORCPT parameter");
}

/* RFC 3030: "BDAT" SP chunk-size [ SP "LAST" ] */
static int
parse_bdat(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	char *size, *last;

	if ((size = next_token(&args)) == NULL)
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Syntax: BDAT size [LAST]");
	if (parse_number(size, &cmd->chunk_size) != 0)
		return smtp_reply(err, errsz, 501, "5.5.4 Invalid chunk size");
	if ((last = next_token(&args)) != NULL) {
		if (strcasecmp(last, "LAST") != 0 || next_token(&args) != NULL)
			return smtp_reply(
			    err, errsz, 501, "5.5.4 Syntax: BDAT size [LAST]");
		cmd->last = 1;
	}
	return 0;
}

/* base64 with its padding, as an AUTH initial response is sent */
static int
base64_valid(const char *s)
{
	size_t i, len = strlen(s), pad = 0;

	if (len == 0 || len % 4 != 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '=') {
			if (i < len - 2)
				return 0;
			pad++;
		} else if (pad > 0)
			return 0;
		else if (!ascii_alnum((unsigned char)s[i]) && s[i] != '+' &&
		    s[i] != '/')
			return 0;
	}
	return 1;
}

/* RFC 4954: "AUTH" SP sasl-mech [ SP initial-response ] */
static int
parse_auth(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	char *mech, *initial;
	size_t i;

	if ((mech = next_token(&args)) == NULL)
		return smtp_reply(err, errsz, 501,
		    "5.5.4 Syntax: AUTH mechanism [initial-response]");
	if (strlen(mech) > SMTP_SASL_MECH_MAX)
		return smtp_reply(
		    err, errsz, 501, "5.5.4 Invalid mechanism name");
	for (i = 0; mech[i] != '\0'; i++) {
		if (!ascii_alnum((unsigned char)mech[i]) && mech[i] != '-' &&
		    mech[i] != '_')
			return smtp_reply(
			    err, errsz, 501, "5.5.4 Invalid mechanism name");
		if (mech[i] >= 'a' && mech[i] <= 'z')
			mech[i] -= 'a' - 'A';
	}
	(void)strlcpy(cmd->arg, mech, sizeof(cmd->arg));
	if ((initial = next_token(&args)) == NULL)
		return 0;
	if (next_token(&args) != NULL)
		return smtp_reply(err, errsz, 501,
		    "5.5.4 Syntax: AUTH mechanism [initial-response]");
	if (strcmp(initial, "=") != 0 && !base64_valid(initial))
		return smtp_reply(err, errsz, 501, "5.5.2 Invalid base64 data");
	(void)strlcpy(cmd->auth_initial, initial, sizeof(cmd->auth_initial));
	return 0;
}

static int
parse_no_arg(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	(void)cmd;
	if (args[0] != '\0')
		return smtp_reply(
		    err, errsz, 501, "5.5.4 No parameters allowed");
	return 0;
}

static int
parse_opt_text(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	(void)err;
	(void)errsz;
	while (*args == ' ')
		args++;
	(void)strlcpy(cmd->arg, args, sizeof(cmd->arg));
	return 0;
}

static int
parse_req_text(char *args, struct smtp_command *cmd, char *err, size_t errsz)
{
	while (*args == ' ')
		args++;
	if (*args == '\0')
		return smtp_reply(err, errsz, 501, "5.5.4 Argument required");
	(void)strlcpy(cmd->arg, args, sizeof(cmd->arg));
	return 0;
}

int
smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd,
    char *err, size_t errsz)
{
	char buf[SMTP_CMDLINE_MAX + 1];
	char *verb, *args;
	unsigned char c;
	size_t i;
	int rv;

	memset(cmd, 0, sizeof(*cmd));
	if (errsz > 0)
		err[0] = '\0';
	if (len > SMTP_CMDLINE_MAX)
		return smtp_reply(err, errsz, 500, "5.5.2 Line too long");
	for (i = 0; i < len; i++) {
		c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return smtp_reply(err, errsz, 500,
			    "5.5.2 Invalid character in command");
	}
	if (len > 0)
		memcpy(buf, line, len);
	buf[len] = '\0';
	/* a trailing blank is a common client slip, and harmless */
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';

	verb = buf;
	if ((args = strchr(buf, ' ')) != NULL)
		*args++ = '\0';
	else
		args = buf + len;
	for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++)
		if (strcasecmp(verb, smtp_verbs[i].name) == 0)
			break;
	if (i == sizeof(smtp_verbs) / sizeof(smtp_verbs[0])) {
		explicit_bzero(buf, len);
		return smtp_reply(
		    err, errsz, 500, "5.5.2 Command unrecognized");
	}
	cmd->verb = smtp_verbs[i].verb;
	if ((rv = smtp_verbs[i].parse(args, cmd, err, errsz)) != 0) {
		memset(cmd, 0, sizeof(*cmd));
		cmd->verb = smtp_verbs[i].verb;
	}
	/* an AUTH line holds a password: no copy left on the stack */
	explicit_bzero(buf, sizeof(buf));
	return rv;
}
