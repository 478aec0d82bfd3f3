/*
 * crc32.c: the check value of the standard, and every length and
 * alignment against the plain one-octet-a-step definition, in one call
 * and in pieces.
 */

#include <stdint.h>
#include <string.h>

#include "common.h"
#include "test.h"

/* the definition, one bit at a time */
static uint32_t
crc32_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	int k;

	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = crc & 1 ? 0xedb88320U ^ (crc >> 1) : crc >> 1;
	}
	return ~crc;
}

int
main(void)
{
	uint8_t buf[600];
	uint32_t seed = 1, crc;
	size_t i, off, len, cut;
	int ok = 1;

	CHECK("crc32 check value",
	    crc32_update(0, "123456789", 9) == 0xcbf43926U);
	CHECK("crc32 empty",
	    crc32_update(0, "", 0) == 0 &&
		crc32_update(0x12345678U, "", 0) == 0x12345678U);
	for (i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245U + 12345U;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (off = 0; off < 8; off++)
		for (len = 0; len + off <= 300; len++)
			if (crc32_update(0, buf + off, len) !=
			    crc32_bitwise(0, buf + off, len))
				ok = 0;
	CHECK("crc32 every length and alignment", ok);
	for (ok = 1, cut = 0; cut <= 300; cut += 7) {
		crc = crc32_update(0, buf, cut);
		if (crc32_update(crc, buf + cut, 300 - cut) !=
		    crc32_bitwise(0, buf, 300))
			ok = 0;
	}
	CHECK("crc32 in pieces", ok);
	TEST_EXIT();
}
