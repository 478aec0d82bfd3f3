/*
 * RFC 5321 mailbox and domain syntax, with the UTF-8 of RFC 6531.  The
 * input is hostile: every scan stops at the terminating NUL, and UTF-8 is
 * accepted only as well-formed RFC 3629 sequences (no overlongs, no
 * surrogates, nothing above U+10FFFF).
 */

#include <stdio.h>
#include <string.h>

#include "common.h"

#define DOMAIN_LABEL_MAX   63
#define PATH_COMPONENT_MAX 255

size_t
text_safe_len(const unsigned char *p)
{
	if (p[0] >= 0x20 && p[0] < 0x7f)
		return 1;
	if (p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return utf8_seqlen(p);
}

size_t
utf8_seqlen(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	/* a NUL fails these tests, so nothing past it is read */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* RFC 5322 atext */
static int
ascii_atext(unsigned char c)
{
	return ascii_alnum(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 qtextSMTP */
static int
ascii_qtext(unsigned char c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) ||
	    (c >= 93 && c <= 126);
}

/* Dot-string = Atom *("." Atom); its length in *len */
static int
parse_dot_string(const char *s, size_t *len, int utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, atom = 0, n;

	for (;;) {
		if (p[i] == '.') {
			if (atom == 0)
				return -1; /* leading or double dot */
			atom = 0;
			i++;
		} else if (ascii_atext(p[i])) {
			atom++;
			i++;
		} else if (utf8 && p[i] >= 0x80 &&
		    (n = utf8_seqlen(p + i)) > 0) {
			atom += n;
			i += n;
		} else
			break;
		if (i > SMTP_LOCALPART_MAX)
			return -1;
	}
	if (atom == 0)
		return -1; /* empty, or a trailing dot */
	*len = i;
	return 0;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; its length in *len */
static int
parse_quoted_string(const char *s, size_t *len, int utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 1, n;

	if (p[0] != '"')
		return -1;
	for (;;) {
		if (i > SMTP_LOCALPART_MAX)
			return -1;
		if (p[i] == '"')
			break;
		if (p[i] == '\\') {
			/* quoted-pairSMTP: a backslash and one of %d32-126 */
			if (p[i + 1] < 32 || p[i + 1] > 126)
				return -1;
			i += 2;
		} else if (ascii_qtext(p[i]))
			i++;
		else if (utf8 && p[i] >= 0x80 && (n = utf8_seqlen(p + i)) > 0)
			i += n;
		else
			return -1; /* NUL (unterminated) or bad octet */
	}
	*len = i + 1;
	return 0;
}

int
domain_valid(const char *s, int utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, label = 0, n;
	int hyphen = 0;

	for (;;) {
		if (p[i] == '\0' || p[i] == '.') {
			/* no empty label; none ends with a hyphen */
			if (label == 0 || hyphen)
				return 0;
			if (p[i] == '\0')
				break;
			label = 0;
			i++;
			continue;
		}
		if (ascii_alnum(p[i])) {
			hyphen = 0;
			n = 1;
		} else if (p[i] == '-') {
			if (label == 0)
				return 0; /* none starts with one */
			hyphen = 1;
			n = 1;
		} else if (utf8 && p[i] >= 0x80 && (n = utf8_seqlen(p + i)) > 0)
			hyphen = 0;
		else
			return 0;
		label += n;
		i += n;
		if (label > DOMAIN_LABEL_MAX || i > SMTP_DOMAIN_MAX)
			return 0;
	}
	return 1;
}

int
mailaddr_parse(struct mailaddr *addr, const char *s, int utf8)
{
	const char *domain;
	size_t len;
	int rv;

	memset(addr, 0, sizeof(*addr));
	if (s[0] == '"')
		rv = parse_quoted_string(s, &len, utf8);
	else
		rv = parse_dot_string(s, &len, utf8);
	if (rv == -1 || len > SMTP_LOCALPART_MAX || s[len] != '@')
		return -1;
	domain = s + len + 1;
	/* address literals ([...]) fail here too: '[' is no label octet */
	if (!domain_valid(domain, utf8))
		return -1;
	memcpy(addr->local, s, len);
	addr->local[len] = '\0';
	if (strlcpy(addr->domain, domain, sizeof(addr->domain)) >=
	    sizeof(addr->domain)) {
		memset(addr, 0, sizeof(*addr));
		return -1;
	}
	lowercase(addr->domain);
	return 0;
}

/* an empty domain (RCPT TO:<postmaster>) formats as the local part alone */
int
mailaddr_format(const struct mailaddr *addr, char *buf, size_t bufsz)
{
	int n;

	if (addr->domain[0] == '\0')
		n = snprintf(buf, bufsz, "%s", addr->local);
	else
		n = snprintf(buf, bufsz, "%s@%s", addr->local, addr->domain);
	if (n < 0 || (size_t)n >= bufsz)
		return -1;
	return 0;
}

void
lowercase(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

int
path_component_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (p[0] == '\0' || p[0] == '.')
		return 0;
	for (i = 0; p[i] != '\0'; i++) {
		if (i >= PATH_COMPONENT_MAX)
			return 0;
		if (p[i] == '/' || p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	}
	return 1;
}
