/*
 * Fake messages behind the search engine's accessor, for the SEARCH, SORT
 * and THREAD tests and the fuzz target: a table of structs, headers as
 * "Name: value" lines, the body handed out in small pieces so that matches
 * across pieces are tried.
 */

#ifndef BOXD_SEARCH_FAKE_H
#define BOXD_SEARCH_FAKE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

struct fake_msg {
	uint32_t seq, uid, flags;
	const char *keywords; /* " a b " */
	uint64_t modseq, size;
	int64_t idate; /* internal date */
	int itz;
	int has_sdate; /* the Date: header as the accessor parsed it */
	int64_t sdate;
	int stz;
	const char *headers; /* "Name: value\n" lines */
	const char *body;
	int unreadable; /* header() and body() fail */
};

/* pieces the body is handed out in */
static size_t fake_body_piece = 3;
/* how often header() and body() were called */
static unsigned fake_header_calls, fake_body_calls;

static uint32_t
fake_seq(void *m)
{
	return ((struct fake_msg *)m)->seq;
}

static uint32_t
fake_uid(void *m)
{
	return ((struct fake_msg *)m)->uid;
}

static uint32_t
fake_flags(void *m)
{
	return ((struct fake_msg *)m)->flags;
}

static int
fake_keyword(void *m, const char *name)
{
	const char *kw = ((struct fake_msg *)m)->keywords, *p;
	size_t len = strlen(name);

	if (kw == NULL)
		return 0;
	for (p = kw; (p = strcasestr(p, name)) != NULL; p++)
		if (p > kw && p[-1] == ' ' && p[len] == ' ')
			return 1;
	return 0;
}

static uint64_t
fake_modseq(void *m)
{
	return ((struct fake_msg *)m)->modseq;
}

static uint64_t
fake_size(void *m)
{
	return ((struct fake_msg *)m)->size;
}

static int64_t
fake_internal_date(void *m, int *tzoff)
{
	*tzoff = ((struct fake_msg *)m)->itz;
	return ((struct fake_msg *)m)->idate;
}

static int
fake_sent_date(void *m, int64_t *when, int *tzoff)
{
	struct fake_msg *msg = m;

	if (!msg->has_sdate)
		return -1;
	*when = msg->sdate;
	*tzoff = msg->stz;
	return 0;
}

static int
fake_header(void *m, const char *name, search_text_cb cb, void *arg)
{
	struct fake_msg *msg = m;
	const char *p, *eol, *colon, *v;
	size_t nlen = name != NULL ? strlen(name) : 0;

	fake_header_calls++;
	if (msg->unreadable)
		return -1;
	for (p = msg->headers; p != NULL && *p != '\0'; p = eol + 1) {
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p);
		if ((colon = memchr(p, ':', eol - p)) == NULL)
			break;
		if (name == NULL) {
			if (cb(arg, p, eol - p))
				return 0;
		} else if ((size_t)(colon - p) == nlen &&
		    strncasecmp(p, name, nlen) == 0) {
			for (v = colon + 1; *v == ' '; v++)
				;
			if (cb(arg, v, eol - v))
				return 0;
		}
		if (*eol == '\0')
			break;
	}
	return 0;
}

static int
fake_body(void *m, search_text_cb cb, void *arg)
{
	struct fake_msg *msg = m;
	const char *p;
	size_t len, n;

	fake_body_calls++;
	if (msg->unreadable)
		return -1;
	if (msg->body == NULL)
		return 0;
	p = msg->body;
	len = strlen(p);
	while (len > 0) {
		n = len < fake_body_piece ? len : fake_body_piece;
		if (cb(arg, p, n))
			return 0;
		p += n;
		len -= n;
	}
	return 0;
}

struct fake_value {
	char buf[1024];
	int found;
};

static int
fake_first_value(void *arg, const char *text, size_t len)
{
	struct fake_value *v = arg;

	if (len >= sizeof(v->buf))
		len = sizeof(v->buf) - 1;
	memcpy(v->buf, text, len);
	v->buf[len] = '\0';
	v->found = 1;
	return 1;
}

/* "Name <local@host>, ..." or "local@host": the first address */
static int
fake_address(void *m, const char *field, struct search_address *a)
{
	static struct fake_value v;
	static char mailbox[256], host[256], name[256];
	char *lt, *at, *end, *comma;

	memset(&v, 0, sizeof(v));
	if (fake_header(m, field, fake_first_value, &v) == -1 || !v.found)
		return 1;
	if ((comma = strchr(v.buf, ',')) != NULL)
		*comma = '\0';
	name[0] = '\0';
	if ((lt = strchr(v.buf, '<')) != NULL) {
		end = lt;
		while (end > v.buf && end[-1] == ' ')
			end--;
		*end = '\0';
		(void)strlcpy(name, v.buf, sizeof(name));
		lt++;
		if ((end = strchr(lt, '>')) != NULL)
			*end = '\0';
	} else
		lt = v.buf;
	if ((at = strchr(lt, '@')) != NULL)
		*at++ = '\0';
	else
		at = lt + strlen(lt);
	(void)strlcpy(mailbox, lt, sizeof(mailbox));
	(void)strlcpy(host, at, sizeof(host));
	a->mailbox = mailbox;
	a->host = host;
	a->name = name;
	return 0;
}

static const struct search_msg_ops fake_ops = {
	.seq = fake_seq,
	.uid = fake_uid,
	.flags = fake_flags,
	.keyword = fake_keyword,
	.modseq = fake_modseq,
	.size = fake_size,
	.internal_date = fake_internal_date,
	.sent_date = fake_sent_date,
	.header = fake_header,
	.body = fake_body,
	.address = fake_address,
};

/* the arguments of "T SEARCH <text>"; 0 or -1 */
static int
fake_parse_args(struct imap_command *cmd, const char *text)
{
	static char buf[IMAP_LINE_MAX + 64];
	char err[256];
	int n;

	n = snprintf(buf, sizeof(buf), "T SEARCH %s", text);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return imap_command_parse(cmd, buf, n, err, sizeof(err));
}

#endif
