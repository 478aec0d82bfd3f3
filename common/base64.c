/*
 * Base64 (RFC 4648 §4) as SASL sends it: the whole alphabet, padding
 * required, nothing else in between.  MIME's tolerant decoding of bodies
 * is mime.c's.
 */

#include <string.h>

#include "common.h"

int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode_buf(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	size_t i, n = 0;
	int v[4], j, pad;

	if (len % 4 != 0 || len / 4 * 3 > outsz)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = base64_value(in[i + j])) == -1)
				return -1;
		}
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] =
			    (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (int)n;
}
