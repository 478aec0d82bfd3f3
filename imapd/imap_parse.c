/*
 * The IMAP command parser (RFC 3501 9, RFC 9051 9): a tag, a command name
 * and its arguments (atoms, quoted strings, literals, lists) from one
 * whole command.  Two passes over the same grammar: the first checks the
 * command and measures it, so that one exact allocation holds every
 * argument and string, and the second fills it.
 */

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

struct parser {
	const char *buf;
	size_t len;
	size_t pos;
	int depth;
	int fill;	      /* second pass: write into the arena */
	int probe;	      /* second pass: counting a list's elements */
	size_t nargs;	      /* first pass: every argument, every level */
	size_t textsz;	      /* first pass: strings and their NULs */
	size_t payload;	      /* first pass: literal octets */
	struct imap_arg *arg; /* second pass: the next free slot */
	char *text;	      /* second pass: the next free octet */
	const char *err;
};

static int parse_seq(struct parser *, struct imap_arg *, size_t *, int);

static int
fail(struct parser *p, const char *why)
{
	if (p->err == NULL)
		p->err = why;
	return -1;
}

/* ATOM-CHAR, '%', '*' and ']': CHAR but CTL, SP, ( ) { " \ */
static int
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	return strchr("(){\"\\", c) == NULL;
}

/* ASTRING-CHAR: ATOM-CHAR or ']' */
static int
is_astring_char(unsigned char c)
{
	return is_atom_char(c) && c != '%' && c != '*';
}

/* ASTRING-CHAR except '+' */
static int
is_tag_char(unsigned char c)
{
	return is_astring_char(c) && c != '+';
}

/* in the first pass, account for one argument of n octets of text */
static int
count_arg(struct parser *p, size_t n)
{
	if (p->probe)
		return 0;
	if (++p->nargs > IMAP_ARGS_MAX)
		return fail(p, "too many arguments");
	p->textsz += n + 1;
	return 0;
}

/* n = n * 10 + digit c, refused past 2^63-1 */
static int
add_digit(uint64_t *n, char c)
{
	if (c < '0' || c > '9' || *n > ((uint64_t)INT64_MAX - (c - '0')) / 10)
		return -1;
	*n = *n * 10 + (c - '0');
	return 0;
}

/* in the second pass, a string argument of n octets; returns its copy */
static char *
fill_text(
    struct parser *p, struct imap_arg *a, enum imap_arg_type type, size_t n)
{
	char *s = p->text;

	a->type = type;
	a->str = s;
	a->len = n;
	s[n] = '\0';
	p->text += n + 1;
	return s;
}

/*
 * The FETCH items a section follows: only after one of them does [ open
 * a section (which may hold spaces and parentheses) that ] must close;
 * anywhere else [ is an ATOM-CHAR like any other, as in a mailbox name.
 */
static int
is_section_att(const char *s, size_t len)
{
	static const char *const atts[] = {
	    "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"};
	size_t i;

	for (i = 0; i < sizeof(atts) / sizeof(atts[0]); i++)
		if (strlen(atts[i]) == len && strncasecmp(atts[i], s, len) == 0)
			return 1;
	return 0;
}

static int
parse_atom(struct parser *p, struct imap_arg *a)
{
	size_t start = p->pos;
	unsigned char c;

	if (p->buf[p->pos] == '\\') {
		/* a flag, or \* of PERMANENTFLAGS */
		p->pos++;
		if (p->pos < p->len && p->buf[p->pos] == '*') {
			p->pos++;
			goto done;
		}
	}
	while (p->pos < p->len) {
		c = p->buf[p->pos];
		if (c == '[' &&
		    is_section_att(p->buf + start, p->pos - start)) {
			/* a section: spaces and parentheses are part of it */
			for (p->pos++; p->pos < p->len; p->pos++) {
				c = p->buf[p->pos];
				if (c == ']' || c < 0x20 || c >= 0x7f ||
				    c == '[')
					break;
			}
			if (p->pos == p->len || p->buf[p->pos] != ']')
				return fail(p, "unterminated section");
			p->pos++;
		} else if (is_atom_char(c))
			p->pos++;
		else
			break;
	}
	if (p->pos == start || (p->pos == start + 1 && p->buf[start] == '\\'))
		return fail(p, "unexpected character");
done:
	if (!p->fill)
		return count_arg(p, p->pos - start);
	memcpy(fill_text(p, a, IMAP_ARG_ATOM, p->pos - start), p->buf + start,
	    p->pos - start);
	return 0;
}

static int
parse_quoted(struct parser *p, struct imap_arg *a)
{
	const unsigned char *s = (const unsigned char *)p->buf;
	char *out = NULL;
	size_t n = 0, seq;
	uint32_t cp;

	p->pos++;
	if (p->fill)
		out = fill_text(p, a, IMAP_ARG_STRING, 0);
	for (;;) {
		if (p->pos == p->len)
			return fail(p, "unterminated quoted string");
		if (s[p->pos] == '"')
			break;
		if (s[p->pos] == '\\') {
			if (p->pos + 1 == p->len ||
			    (s[p->pos + 1] != '\\' && s[p->pos + 1] != '"'))
				return fail(p, "bad escape in quoted string");
			p->pos++;
			seq = 1;
		} else if (s[p->pos] == '\0' || s[p->pos] == '\r' ||
		    s[p->pos] == '\n')
			return fail(p, "CR, LF or NUL in quoted string");
		else if ((seq = imap_utf8_decode(
			      s + p->pos, p->len - p->pos, &cp)) == 0)
			return fail(p, "invalid UTF-8 in quoted string");
		if (out != NULL)
			memcpy(out + n, s + p->pos, seq);
		n += seq;
		p->pos += seq;
	}
	p->pos++;
	if (!p->fill)
		return count_arg(p, n);
	out[n] = '\0';
	a->len = n;
	p->text = out + n + 1;
	return 0;
}

/* {n}, {n+}, ~{n} or ~{n+} and CRLF at pos, then the payload */
static int
parse_literal(struct parser *p, struct imap_arg *a)
{
	uint64_t size = 0;
	size_t digits = 0;
	int binary = 0;

	if (p->buf[p->pos] == '~') {
		binary = 1;
		p->pos++;
		if (p->pos == p->len || p->buf[p->pos] != '{')
			return fail(p, "unexpected character");
	}
	for (p->pos++;
	     p->pos < p->len && p->buf[p->pos] >= '0' && p->buf[p->pos] <= '9';
	     p->pos++, digits++)
		if (add_digit(&size, p->buf[p->pos]) == -1)
			return fail(p, "literal too long");
	if (digits == 0)
		return fail(p, "bad literal");
	if (p->pos < p->len && p->buf[p->pos] == '+')
		p->pos++;
	if (p->len - p->pos < 3 || memcmp(p->buf + p->pos, "}\r\n", 3) != 0)
		return fail(p, "bad literal");
	p->pos += 3;
	if (size > p->len - p->pos)
		return fail(p, "literal longer than the command");
	if (!p->fill) {
		if (!p->probe && !binary &&
		    memchr(p->buf + p->pos, '\0', size) != NULL)
			return fail(p, "NUL in a literal, not literal8");
		p->payload += size;
		p->pos += size;
		return count_arg(p, size);
	}
	memcpy(fill_text(p, a, IMAP_ARG_STRING, size), p->buf + p->pos, size);
	a->literal = binary ? 2 : 1;
	p->pos += size;
	return 0;
}

static int
parse_list(struct parser *p, struct imap_arg *a)
{
	struct parser probe;
	size_t n;

	if (++p->depth > IMAP_DEPTH_MAX)
		return fail(p, "lists too deeply nested");
	p->pos++;
	if (!p->fill) {
		if (!p->probe && ++p->nargs > IMAP_ARGS_MAX)
			return fail(p, "too many arguments");
		if (parse_seq(p, NULL, &n, 1) == -1)
			return -1;
	} else {
		/* the elements of one list are contiguous: count them first */
		probe = *p;
		probe.fill = 0;
		probe.probe = 1;
		if (parse_seq(&probe, NULL, &n, 1) == -1)
			return fail(p, probe.err);
		a->type = IMAP_ARG_LIST;
		a->list = p->arg;
		a->nlist = n;
		p->arg += n;
		if (parse_seq(p, a->list, &n, 1) == -1)
			return -1;
	}
	p->pos++; /* the ')' that parse_seq() stopped at */
	p->depth--;
	return 0;
}

static int
parse_value(struct parser *p, struct imap_arg *a)
{
	if (p->fill)
		memset(a, 0, sizeof(*a));
	switch (p->buf[p->pos]) {
	case '(':
		return parse_list(p, a);
	case '"':
		return parse_quoted(p, a);
	case '{':
	case '~':
		if (p->buf[p->pos] == '{' ||
		    (p->pos + 1 < p->len && p->buf[p->pos + 1] == '{'))
			return parse_literal(p, a);
		return parse_atom(p, a);
	case ')':
		return fail(p, "unexpected )");
	default:
		return parse_atom(p, a);
	}
}

/*
 * Values separated by single spaces, up to the end of the command or, in a
 * list, up to its ')'; out (the second pass) has room for all of them.
 */
static int
parse_seq(struct parser *p, struct imap_arg *out, size_t *np, int inlist)
{
	size_t n = 0;

	*np = 0;
	if (inlist && p->pos < p->len && p->buf[p->pos] == ')')
		return 0;
	for (;;) {
		if (p->pos == p->len)
			return fail(p,
			    inlist ? "unterminated list" : "missing argument");
		if (parse_value(p, out == NULL ? NULL : &out[n]) == -1)
			return -1;
		n++;
		if (p->pos == p->len) {
			if (inlist)
				return fail(p, "unterminated list");
			break;
		}
		if (p->buf[p->pos] == ')') {
			if (!inlist)
				return fail(p, "unexpected )");
			break;
		}
		if (p->buf[p->pos] != ' ')
			return fail(p, "expected a space");
		p->pos++;
		if (p->pos == p->len || p->buf[p->pos] == ' ' ||
		    p->buf[p->pos] == ')')
			return fail(p, "extra space");
	}
	*np = n;
	return 0;
}

/* a command name: an atom without sections or wildcards, upper-cased */
static int
parse_name(struct parser *p, char *name, size_t namesz)
{
	size_t n = 0;
	unsigned char c;

	while (p->pos < p->len) {
		c = p->buf[p->pos];
		if (!is_astring_char(c) || c == ']' || c == '[')
			break;
		if (n + 1 >= namesz)
			return fail(p, "unknown command");
		name[n++] = toupper(c);
		p->pos++;
	}
	name[n] = '\0';
	if (n == 0)
		return fail(p, "missing command name");
	return 0;
}

static void
set_err(char *err, size_t errsz, const char *why)
{
	if (errsz > 0)
		strlcpy(err, why, errsz);
}

int
imap_command_parse(struct imap_command *cmd, const char *buf, size_t len,
    char *err, size_t errsz)
{
	struct parser p;
	size_t start, n;
	void *arena;
	int taglen;

	memset(cmd, 0, sizeof(*cmd));
	memset(&p, 0, sizeof(p));
	p.buf = buf;
	p.len = len;

	if ((taglen = imap_line_tag(buf, len, cmd->tag, sizeof(cmd->tag))) ==
	    -1) {
		set_err(err, errsz, len == 0 ? "empty command" : "invalid tag");
		return -1;
	}
	p.pos = taglen;
	if (p.pos == len) {
		set_err(err, errsz, "missing command name");
		return -1;
	}
	p.pos++;
	if (parse_name(&p, cmd->name, sizeof(cmd->name)) == -1)
		goto bad;
	if (strcmp(cmd->name, "UID") == 0 && p.pos < len && buf[p.pos] == ' ') {
		p.pos++;
		cmd->uid = 1;
		if (parse_name(&p, cmd->name, sizeof(cmd->name)) == -1)
			goto bad;
	}
	if (p.pos == len)
		return 0;
	if (buf[p.pos] != ' ') {
		fail(&p, "unexpected character");
		goto bad;
	}
	p.pos++;
	start = p.pos;
	if (parse_seq(&p, NULL, &cmd->nargs, 0) == -1)
		goto bad;
	if (len - p.payload > IMAP_LINE_MAX) {
		fail(&p, "command too long");
		goto bad;
	}

	if ((arena = malloc(p.nargs * sizeof(struct imap_arg) + p.textsz)) ==
	    NULL) {
		fail(&p, "out of memory");
		goto bad;
	}
	cmd->arena = arena;
	cmd->args = arena;
	p.arg = cmd->args + cmd->nargs;
	p.text = (char *)(cmd->args + p.nargs);
	p.fill = 1;
	p.pos = start;
	p.nargs = 0;
	p.depth = 0;
	/* a parser bug, never the client's doing: refused, not fatal */
	if (parse_seq(&p, cmd->args, &n, 0) == -1 || n != cmd->nargs) {
		log_warnx("%s: the second pass disagrees", __func__);
		fail(&p, "cannot parse this command");
		goto bad;
	}
	return 0;

bad:
	set_err(err, errsz, p.err);
	imap_command_free(cmd);
	return -1;
}

int
imap_line_tag(const char *line, size_t len, char *tag, size_t tagsz)
{
	size_t n = 0;

	while (n < len && n <= IMAP_TAG_MAX && is_tag_char(line[n]))
		n++;
	if (n == 0 || n > IMAP_TAG_MAX || n >= tagsz ||
	    (n < len && line[n] != ' ')) {
		strlcpy(tag, "*", tagsz);
		return -1;
	}
	memcpy(tag, line, n);
	tag[n] = '\0';
	return n;
}

void
imap_command_free(struct imap_command *cmd)
{
	free(cmd->arena);
	cmd->arena = NULL;
	cmd->args = NULL;
	cmd->nargs = 0;
}

int
imap_line_literal(
    const char *line, size_t len, uint64_t *size, int *nonsync, int *binary)
{
	size_t end, open, i;
	uint64_t n = 0;

	if (len == 0 || line[len - 1] != '}')
		return 0;
	end = len - 1;
	for (open = end;
	     open > 0 && line[open - 1] != '{' && line[open - 1] != ' '; open--)
		;
	/* no '{' in the last word: an atom that ends with '}' */
	if (open == 0 || line[open - 1] != '{')
		return 0;
	*nonsync = 0;
	if (end > open && line[end - 1] == '+') {
		*nonsync = 1;
		end--;
	}
	if (end == open)
		return -1;
	for (i = open; i < end; i++)
		if (add_digit(&n, line[i]) == -1)
			return -1;
	*size = n;
	*binary = open >= 2 && line[open - 2] == '~';
	return 1;
}

int
imap_arg_is_atom(const struct imap_arg *a, const char *upper)
{
	return a->type == IMAP_ARG_ATOM && strcasecmp(a->str, upper) == 0;
}

int
imap_arg_is_nil(const struct imap_arg *a)
{
	return imap_arg_is_atom(a, "NIL");
}

static const char *
string_or_atom(const struct imap_arg *a, int (*ok)(unsigned char))
{
	size_t i;

	if (a->type == IMAP_ARG_STRING)
		return a->literal == 2 ? NULL : a->str;
	if (a->type != IMAP_ARG_ATOM)
		return NULL;
	for (i = 0; i < a->len; i++)
		if (!ok(a->str[i]))
			return NULL;
	return a->str;
}

const char *
imap_arg_astring(const struct imap_arg *a)
{
	return string_or_atom(a, is_astring_char);
}

const char *
imap_arg_list_mailbox(const struct imap_arg *a)
{
	return string_or_atom(a, is_atom_char);
}

int
imap_arg_number64(const struct imap_arg *a, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (a->type != IMAP_ARG_ATOM || a->len == 0)
		return -1;
	for (i = 0; i < a->len; i++)
		if (add_digit(&n, a->str[i]) == -1)
			return -1;
	*out = n;
	return 0;
}

int
imap_arg_number(const struct imap_arg *a, uint32_t *out)
{
	uint64_t n;

	if (imap_arg_number64(a, &n) == -1 || n > UINT32_MAX)
		return -1;
	*out = n;
	return 0;
}
