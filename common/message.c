/*
 * What a message's text says of its own shape, without parsing it as
 * MIME: FETCH and SEARCH read a header this way before they know more,
 * and the MIME parsers walk lines with it.
 */

#include <string.h>

#include "common.h"

size_t
message_header_len(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len, *nl;

	for (;;) {
		/* p is at the start of a line */
		if (p < end && *p == '\n')
			return p + 1 - msg;
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return p + 2 - msg;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			return len;
		p = nl + 1;
	}
}

size_t
message_line_end(const char *s, size_t len, size_t i)
{
	const char *lf;

	if ((lf = memchr(s + i, '\n', len - i)) == NULL)
		return len;
	return lf - s + 1;
}
