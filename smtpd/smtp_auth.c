/*
 * What submission adds to a session, apart from the session: the SASL
 * messages of AUTH LOGIN (RFC 4954; PLAIN's are common/sasl.c's), and
 * the From: header of a submitted message, kept as the body streams by
 * and read for the addresses the user must own.  Everything here comes
 * from the network: bounded, and nothing is read past a length.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

int
smtp_auth_login_decode(const char *b64, size_t len, char *out, size_t outsz)
{
	unsigned char raw[SMTP_LINE_MAX];
	int n, rv = -1;

	if (outsz > 0)
		explicit_bzero(out, outsz);
	if (len > 0 &&
	    (n = base64_decode_buf(b64, len, raw, sizeof(raw))) > 0 &&
	    (size_t)n < outsz && memchr(raw, '\0', (size_t)n) == NULL) {
		memcpy(out, raw, (size_t)n);
		out[n] = '\0';
		rv = 0;
	}
	explicit_bzero(raw, sizeof(raw));
	return rv;
}

void
smtp_headers_reset(struct smtp_headers *h)
{
	free(h->buf);
	memset(h, 0, sizeof(*h));
}

void
smtp_headers_feed(struct smtp_headers *h, const void *data, size_t len)
{
	const char *p = data;
	size_t i, take, cap;
	char *nb;

	if (h->done || h->overflow)
		return;
	/* up to and with the empty line: "\n\n", the last octet seen kept */
	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && h->last_lf) {
			i++;
			h->done = 1;
			break;
		}
		h->last_lf = p[i] == '\n';
	}
	take = i;
	if (take > SMTP_HEADERS_MAX - h->len) {
		h->overflow = 1;
		return;
	}
	if (h->len + take > h->cap) {
		cap = h->cap == 0 ? 4096 : h->cap;
		while (cap < h->len + take)
			cap *= 2;
		if (cap > SMTP_HEADERS_MAX)
			cap = SMTP_HEADERS_MAX;
		if ((nb = realloc(h->buf, cap)) == NULL) {
			h->overflow = 1;
			return;
		}
		h->buf = nb;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, p, take);
	h->len += take;
}

/* 1 if addr is among the n in v */
static int
smtp_from_seen(char **v, size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(v[i], addr) == 0)
			return 1;
	return 0;
}

/* 1 if an entry at or after i ends a group */
static int
smtp_from_group_ends(const struct mime_addresses *as, size_t i)
{
	for (; i < as->n; i++)
		if (as->v[i].host == NULL && as->v[i].mailbox == NULL)
			return 1;
	return 0;
}

/*
 * A From: value is an RFC 5322 mailbox-list and nothing else, judged
 * before the lenient address parser sees it: that parser skips what
 * follows an address, which another reader may take as one more author
 * ("<mine@x> someone@else"), and would read an '@' in a display name, a
 * group (not allowed in From:), or a word after a bare address.
 * 0 if strict, -1 if not.
 */
int
smtp_from_strict(const char *v, size_t len)
{
	int depth = 0, quote = 0, angle = 0, closed = 0, bare_at = 0;
	int bare_end = 0, seen_angle = 0;
	size_t i;
	char c;

	for (i = 0; i < len; i++) {
		c = v[i];
		if ((quote || depth > 0) && c == '\\') {
			i++;
			continue;
		}
		if (quote) {
			quote = c != '"';
			continue;
		}
		if (c == '(') {
			depth++;
			continue;
		}
		if (depth > 0) {
			depth -= c == ')';
			continue;
		}
		if (c == ')')
			return -1;
		if (angle) {
			if (c == '<')
				return -1;
			if (c == '>') {
				angle = 0;
				closed = 1;
			} else if (c == '"')
				quote = 1;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			bare_end = bare_at;
			continue;
		}
		if (c == ',') {
			closed = bare_at = bare_end = seen_angle = 0;
			continue;
		}
		if (closed || bare_end || c == ':' || c == ';' || c == '>')
			return -1;
		if (c == '<') {
			if (bare_at)
				return -1;
			angle = seen_angle = 1;
			continue;
		}
		if (c == '@') {
			if (seen_angle)
				return -1;
			bare_at = 1;
		}
		if (c == '"')
			quote = 1;
	}
	/* an empty value is the parser's to judge (no address) */
	return depth == 0 && !quote && !angle ? 0 : -1;
}

/* one From: field's addresses onto f; SMTP_FROM_* */
static int
smtp_from_field(struct smtp_from *f, const struct mime_field *field)
{
	struct mime_addresses as;
	struct mime_address *a;
	char addr[SMTP_PATH_MAX];
	size_t i;
	int rv = SMTP_FROM_OK;

	/* past it, the parser would see only part of the field */
	if (field->valuelen >= MIME_FIELD_MAX ||
	    smtp_from_strict(field->value, field->valuelen) == -1)
		return SMTP_FROM_BAD;
	if (mime_address_parse(field->value, field->valuelen, 0, &as) == -1)
		return SMTP_FROM_NOMEM;
	if (as.n >= MIME_ADDRESSES_MAX)
		rv = SMTP_FROM_BAD;
	for (i = 0; i < as.n && rv == SMTP_FROM_OK; i++) {
		a = &as.v[i];
		if (a->host == NULL && a->mailbox == NULL)
			continue; /* the end of a group */
		if (a->host == NULL) {
			/* a group's name, if a group's end follows */
			if (smtp_from_group_ends(&as, i + 1))
				continue;
			rv = SMTP_FROM_BAD;
			break;
		}
		/* the parser names a missing domain MISSING_DOMAIN */
		if (a->mailbox == NULL || a->mailbox[0] == '\0' ||
		    !domain_valid(a->host, 1) ||
		    (size_t)snprintf(addr, sizeof(addr), "%s@%s", a->mailbox,
			a->host) >= sizeof(addr)) {
			rv = SMTP_FROM_BAD;
			break;
		}
		if (smtp_from_seen(f->addr, f->n, addr))
			continue;
		if (f->n >= AUTH_SENDER_MAX) {
			rv = SMTP_FROM_BAD;
			break;
		}
		if ((f->addr[f->n] = strdup(addr)) == NULL) {
			rv = SMTP_FROM_NOMEM;
			break;
		}
		f->n++;
	}
	mime_addresses_free(&as);
	return rv;
}

int
smtp_headers_from(const struct smtp_headers *h, struct smtp_from *f)
{
	struct mime_field field;
	size_t pos = 0;
	int rv = SMTP_FROM_OK, fields = 0;

	memset(f, 0, sizeof(*f));
	if (h->overflow)
		return SMTP_FROM_TOO_LONG;
	while (rv == SMTP_FROM_OK && h->buf != NULL &&
	    mime_header_next(h->buf, h->len, &pos, &field)) {
		if (field.namelen != 4 ||
		    strncasecmp(field.name, "From", 4) != 0)
			continue;
		fields++;
		rv = smtp_from_field(f, &field);
	}
	if (rv == SMTP_FROM_OK && (fields == 0 || f->n == 0))
		rv = SMTP_FROM_NONE;
	if (rv != SMTP_FROM_OK)
		smtp_from_clear(f);
	return rv;
}

void
smtp_from_clear(struct smtp_from *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->addr[i]);
	memset(f, 0, sizeof(*f));
}
