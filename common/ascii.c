/*
 * Character classes of the protocols' ASCII, whatever the locale: the
 * C library's ctype answers by the locale, and a byte above 127 is no
 * letter or digit in any of the grammars here.
 */

#include "common.h"

int
ascii_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

int
ascii_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}
