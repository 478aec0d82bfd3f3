/*
 * Strings in responses: NIL, an atom, a quoted string or a literal, the
 * shortest form the octets allow.
 */

#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"

/* past this a literal is as short and easier on clients' line limits */
#define QUOTED_MAX 1000

static int
quotable(const char *s, size_t len, int utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, n;
	uint32_t cp;

	if (len > QUOTED_MAX)
		return 0;
	for (i = 0; i < len; i += n) {
		n = 1;
		if (u[i] == '\0' || u[i] == '\r' || u[i] == '\n')
			return 0;
		if (u[i] >= 0x80 &&
		    (!utf8 || (n = imap_utf8_decode(u + i, len - i, &cp)) == 0))
			return 0;
	}
	return 1;
}

int
imap_write_string(struct evbuffer *out, const char *s, size_t len, int utf8)
{
	size_t i, run;

	if (s == NULL)
		return evbuffer_add(out, "NIL", 3);
	if (!quotable(s, len, utf8)) {
		if (evbuffer_add_printf(out, "{%zu}\r\n", len) == -1)
			return -1;
		return evbuffer_add(out, s, len);
	}
	if (evbuffer_add(out, "\"", 1) == -1)
		return -1;
	for (i = 0; i < len; i += run) {
		if (s[i] == '"' || s[i] == '\\') {
			if (evbuffer_add(out, "\\", 1) == -1 ||
			    evbuffer_add(out, s + i, 1) == -1)
				return -1;
			run = 1;
			continue;
		}
		for (run = 0;
		     i + run < len && s[i + run] != '"' && s[i + run] != '\\';
		     run++)
			;
		if (evbuffer_add(out, s + i, run) == -1)
			return -1;
	}
	return evbuffer_add(out, "\"", 1);
}

int
imap_write_nstring(struct evbuffer *out, const char *s, size_t len, int utf8)
{
	return imap_write_string(out, s, len, utf8);
}

int
imap_write_astring(struct evbuffer *out, const char *s, size_t len, int utf8)
{
	size_t i;

	/* NIL as an atom would read as nil where an nstring may stand */
	if (s == NULL || len == 0 || len > QUOTED_MAX ||
	    (len == 3 && strncasecmp(s, "NIL", 3) == 0))
		return imap_write_string(out, s, len, utf8);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 ||
		    (unsigned char)s[i] >= 0x7f ||
		    strchr("(){%*\"\\[]", s[i]) != NULL)
			return imap_write_string(out, s, len, utf8);
	return evbuffer_add(out, s, len);
}
