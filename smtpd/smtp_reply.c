/*
 * A server's replies, as mta reads them (RFC 5321 4.2, 4.5.3.1.5), with
 * the enhanced status codes of RFC 3463 and the extensions an EHLO reply
 * offers.  The octets come from the network: they may hold anything and
 * be split anywhere; every bound is checked before a byte is kept.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

#define SMTP_REPLY_TEXT_MIN   256 /* the text buffer's first size */
#define SMTP_EHLO_KEYWORD_MAX 64  /* octets of a keyword we look at */
#define SMTP_EHLO_PARAMS_MAX  32  /* AUTH mechanisms looked at */
#define SMTP_SIZE_DIGITS_MAX  20  /* RFC 1870 */

static const char *const smtp_reply_errors[] = {
    [SMTP_REPLY_ERR_NONE] = "no error",
    [SMTP_REPLY_ERR_SYNTAX] = "reply line without a code and separator",
    [SMTP_REPLY_ERR_CODE] = "reply code out of range",
    [SMTP_REPLY_ERR_CODE_CHANGED] = "reply code changed within a reply",
    [SMTP_REPLY_ERR_BARE_LF] = "bare LF in reply",
    [SMTP_REPLY_ERR_BARE_CR] = "bare CR in reply",
    [SMTP_REPLY_ERR_NUL] = "NUL in reply",
    [SMTP_REPLY_ERR_LINE_TOO_LONG] = "reply line too long",
    [SMTP_REPLY_ERR_TOO_MANY_LINES] = "reply has too many lines",
    [SMTP_REPLY_ERR_NOMEM] = "out of memory for a reply",
};

void
smtp_reply_parser_init(struct smtp_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void
smtp_reply_parser_free(struct smtp_reply_parser *p)
{
	free(p->reply.text);
	memset(p, 0, sizeof(*p));
}

const char *
smtp_reply_strerror(enum smtp_reply_error e)
{
	if ((size_t)e >=
		sizeof(smtp_reply_errors) / sizeof(smtp_reply_errors[0]) ||
	    smtp_reply_errors[e] == NULL)
		return "unknown reply error";
	return smtp_reply_errors[e];
}

const char *
smtp_reply_line(const struct smtp_reply *r, uint32_t i)
{
	if (i >= r->nlines || r->text == NULL)
		return "";
	return r->text + r->line[i];
}

/* a new reply starts: the text buffer stays for reuse */
static void
reply_clear(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->nlines = 0;
	r->textlen = 0;
}

/*
 * RFC 3463: class "." subject "." detail, 1 to 3 digits each, then the
 * end of the text or a space.  Kept only when its class is the code's.
 */
static void
reply_enhanced(struct smtp_reply *r, const char *text)
{
	const char *s = text;
	int part, digits;

	if (*s != '2' && *s != '4' && *s != '5')
		return;
	if (*s - '0' != r->code / 100)
		return;
	s++;
	for (part = 0; part < 2; part++) {
		if (*s++ != '.')
			return;
		for (digits = 0; isdigit((unsigned char)*s); digits++, s++)
			if (digits == 3)
				return;
		if (digits == 0)
			return;
	}
	if (*s != '\0' && *s != ' ')
		return;
	/* at most 9 octets: it fits SMTP_REPLY_ESC_MAX */
	memcpy(r->enhanced, text, s - text);
	r->enhanced[s - text] = '\0';
}

/* the text of a line into the reply, made printable */
static int
reply_add_text(struct smtp_reply *r, const char *text, size_t len)
{
	size_t need, size, i;
	char *t;

	need = r->textlen + len + 1;
	if (need > r->textsize) {
		size = r->textsize == 0 ? SMTP_REPLY_TEXT_MIN : r->textsize;
		while (size < need)
			size *= 2;
		if ((t = realloc(r->text, size)) == NULL)
			return -1;
		r->text = t;
		r->textsize = size;
	}
	r->line[r->nlines++] = r->textlen;
	t = r->text + r->textlen;
	for (i = 0; i < len; i++) {
		unsigned char c = text[i];

		t[i] = (c == '\t' || (c >= 0x20 && c < 0x7f)) ? c : '?';
	}
	t[len] = '\0';
	r->textlen += len + 1;
	return 0;
}

/*
 * One whole line, CRLF gone: 1 if it ends the reply, 0 if more lines
 * follow, -1 and p->error if it is bad.
 */
static int
reply_line(struct smtp_reply_parser *p, const char *line, size_t len)
{
	struct smtp_reply *r = &p->reply;
	int code, last;

	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2])) {
		p->error = SMTP_REPLY_ERR_SYNTAX;
		return -1;
	}
	/* 2yz to 5yz, and y at most 5 */
	if (line[0] < '2' || line[0] > '5' || line[1] > '5') {
		p->error = SMTP_REPLY_ERR_CODE;
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0';
	if (len == 3)
		last = 1;
	else if (line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else {
		p->error = SMTP_REPLY_ERR_SYNTAX;
		return -1;
	}
	if (r->nlines > 0 && code != r->code) {
		p->error = SMTP_REPLY_ERR_CODE_CHANGED;
		return -1;
	}
	if (r->nlines == SMTP_REPLY_LINES_MAX) {
		p->error = SMTP_REPLY_ERR_TOO_MANY_LINES;
		return -1;
	}
	r->code = code;
	if (reply_add_text(r, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0) ==
	    -1) {
		p->error = SMTP_REPLY_ERR_NOMEM;
		return -1;
	}
	if (r->nlines == 1)
		reply_enhanced(r, smtp_reply_line(r, 0));
	return last;
}

enum smtp_reply_status
smtp_reply_feed(
    struct smtp_reply_parser *p, const void *data, size_t len, size_t *used)
{
	const unsigned char *s = data;
	size_t i;
	int rv;

	*used = 0;
	if (p->error != SMTP_REPLY_ERR_NONE)
		return SMTP_REPLY_ERROR;
	if (p->done) {
		reply_clear(&p->reply);
		p->done = 0;
	}
	for (i = 0; i < len; i++) {
		if (p->cr) {
			if (s[i] != '\n') {
				p->error = SMTP_REPLY_ERR_BARE_CR;
				*used = i;
				return SMTP_REPLY_ERROR;
			}
			p->cr = 0;
			rv = reply_line(p, p->buf, p->linelen);
			p->linelen = 0;
			if (rv == -1) {
				*used = i + 1;
				return SMTP_REPLY_ERROR;
			}
			if (rv == 1) {
				p->done = 1;
				*used = i + 1;
				return SMTP_REPLY_DONE;
			}
			continue;
		}
		switch (s[i]) {
		case '\r':
			p->cr = 1;
			continue;
		case '\n':
			p->error = SMTP_REPLY_ERR_BARE_LF;
			break;
		case '\0':
			p->error = SMTP_REPLY_ERR_NUL;
			break;
		default:
			/* room for the CRLF that must end it */
			if (p->linelen + 2 >= SMTP_REPLY_LINE_MAX)
				p->error = SMTP_REPLY_ERR_LINE_TOO_LONG;
			else
				p->buf[p->linelen++] = s[i];
			break;
		}
		if (p->error != SMTP_REPLY_ERR_NONE) {
			*used = i;
			return SMTP_REPLY_ERROR;
		}
	}
	*used = len;
	return SMTP_REPLY_MORE;
}

size_t
smtp_reply_format(const struct smtp_reply *r, char *buf, size_t size)
{
	const char *text;
	size_t esclen;
	uint32_t i;
	int n;

	if (size == 0)
		return 0;
	n = snprintf(buf, size, "%03d", r->code);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return 0;
	}
	esclen = strlen(r->enhanced);
	for (i = 0; i < r->nlines; i++) {
		text = smtp_reply_line(r, i);
		/* the enhanced code again on each line says nothing new */
		if (i > 0 && esclen > 0 &&
		    strncmp(text, r->enhanced, esclen) == 0 &&
		    (text[esclen] == ' ' || text[esclen] == '\0'))
			text += esclen + (text[esclen] == ' ');
		if (*text == '\0')
			continue;
		if (strlcat(buf, " ", size) >= size ||
		    strlcat(buf, text, size) >= size)
			return strlen(buf);
	}
	return strlen(buf);
}

/* "SIZE n": the limit, 0 when none is stated or it is not a number */
static uint64_t
ehlo_size(const char *param)
{
	uint64_t v = 0;
	size_t digits;
	unsigned int d;

	for (digits = 0; isdigit((unsigned char)param[digits]); digits++) {
		d = param[digits] - '0';
		if (digits == SMTP_SIZE_DIGITS_MAX || v > UINT64_MAX / 10 ||
		    (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return 0;
		v = v * 10 + d;
	}
	if (param[digits] != '\0' && param[digits] != ' ')
		return 0;
	return v;
}

/* AUTH's mechanisms, space-separated, up to SMTP_EHLO_PARAMS_MAX */
static uint32_t
ehlo_auth(const char *s)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} mechs[] = {
	    {"PLAIN", SMTP_AUTH_PLAIN},
	    {"LOGIN", SMTP_AUTH_LOGIN},
	    {"CRAM-MD5", SMTP_AUTH_CRAM_MD5},
	    {"XOAUTH2", SMTP_AUTH_XOAUTH2},
	};
	uint32_t bits = 0;
	size_t len, i;
	int n;

	for (n = 0; n < SMTP_EHLO_PARAMS_MAX; n++) {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		len = strcspn(s, " ");
		for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
			if (strlen(mechs[i].name) == len &&
			    strncasecmp(s, mechs[i].name, len) == 0)
				bits |= mechs[i].bit;
		s += len;
	}
	return bits;
}

int
smtp_reply_ehlo(const struct smtp_reply *r, struct smtp_ehlo *e)
{
	static const struct {
		const char *keyword;
		uint32_t bit;
	} exts[] = {
	    {"PIPELINING", SMTP_EXT_PIPELINING},
	    {"SIZE", SMTP_EXT_SIZE},
	    {"8BITMIME", SMTP_EXT_8BITMIME},
	    {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
	    {"STARTTLS", SMTP_EXT_STARTTLS},
	    {"AUTH", SMTP_EXT_AUTH},
	    {"DSN", SMTP_EXT_DSN},
	    {"CHUNKING", SMTP_EXT_CHUNKING},
	    {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
	    {"BINARYMIME", SMTP_EXT_BINARYMIME},
	};
	const char *line, *param;
	size_t len, i;
	uint32_t n;

	memset(e, 0, sizeof(*e));
	if (r->code != 250 || r->nlines == 0)
		return -1;
	/* the first line greets; each other names one extension */
	for (n = 1; n < r->nlines; n++) {
		line = smtp_reply_line(r, n);
		/* "AUTH=LOGIN PLAIN": the form older clients needed */
		len = strcspn(line, " =");
		if (len == 0 || len > SMTP_EHLO_KEYWORD_MAX)
			continue;
		param = line + len;
		if (*param != '\0')
			param++;
		for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
			if (strlen(exts[i].keyword) != len ||
			    strncasecmp(line, exts[i].keyword, len) != 0)
				continue;
			if (exts[i].bit == SMTP_EXT_SIZE && line[len] != '=') {
				e->ext |= SMTP_EXT_SIZE;
				if (e->size_max == 0)
					e->size_max = ehlo_size(param);
			} else if (exts[i].bit == SMTP_EXT_AUTH) {
				e->ext |= SMTP_EXT_AUTH;
				e->auth |= ehlo_auth(param);
			} else if (exts[i].bit != SMTP_EXT_SIZE &&
			    line[len] != '=')
				e->ext |= exts[i].bit;
		}
	}
	return 0;
}
