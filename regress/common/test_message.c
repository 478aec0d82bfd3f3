/*
 * message.c: where a message's header ends, CRLF or LF, and the odd
 * cases: none at all, an empty header, a CR alone, a body-less end; and
 * where a line ends.
 */

#include <string.h>

#include "common.h"
#include "test.h"

static size_t
hlen(const char *s)
{
	return message_header_len(s, strlen(s));
}

int
main(void)
{
	CHECK("CRLF", hlen("A: b\r\nC: d\r\n\r\nbody") == 14);
	CHECK("LF", hlen("A: b\nC: d\n\nbody") == 11);
	CHECK("mixed", hlen("A: b\r\n\nbody") == 7);
	CHECK("an empty header, CRLF", hlen("\r\nbody") == 2);
	CHECK("an empty header, LF", hlen("\nbody") == 1);
	CHECK("no blank line: all of it", hlen("A: b\r\nC: d") == 10);
	CHECK("a blank line as the last octets", hlen("A: b\r\n\r\n") == 8);
	CHECK("a CR alone ends no line", hlen("A: b\r\r\nC: d\r\n\r\n") == 15);
	CHECK("a lone CR at the end", hlen("A: b\r\n\r") == 7);
	CHECK("nothing", message_header_len("", 0) == 0);
	CHECK("bounded by len, not by NUL",
	    message_header_len("A: b\r\n\r\n", 6) == 6);
	CHECK("a line's end is after its LF",
	    message_line_end("ab\ncd\n", 6, 0) == 3 &&
		message_line_end("ab\ncd\n", 6, 3) == 6);
	CHECK("a last line without LF ends at len",
	    message_line_end("ab\ncd", 5, 3) == 5);
	CHECK("at len: len", message_line_end("ab", 2, 2) == 2);
	CHECK("an LF beyond len is not seen",
	    message_line_end("ab\ncd\n", 5, 3) == 5);
	TEST_EXIT();
}
