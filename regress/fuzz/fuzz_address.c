/*
 * mailaddr_parse() on arbitrary octets, ASCII and UTF-8: whatever parses
 * formats, and the formatted text parses back to the same address.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_round_trip(const struct mailaddr *addr, int utf8)
{
	struct mailaddr	 again;
	char		 buf[SMTP_LOCALPART_MAX + SMTP_DOMAIN_MAX + 2];
	size_t		 i;

	if (mailaddr_format(addr, buf, sizeof(buf)) == -1)
		abort();
	if (mailaddr_parse(&again, buf, utf8) == -1)
		abort();
	if (memcmp(addr, &again, sizeof(again)) != 0)
		abort();
	if (!domain_valid(addr->domain, utf8))
		abort();
	for (i = 0; addr->domain[i] != '\0'; i++)
		if (addr->domain[i] >= 'A' && addr->domain[i] <= 'Z')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailaddr	 ascii, utf8;
	char		*s;
	int		 rv_ascii, rv_utf8;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';

	rv_ascii = mailaddr_parse(&ascii, s, 0);
	rv_utf8 = mailaddr_parse(&utf8, s, 1);
	if (rv_ascii == 0) {
		check_round_trip(&ascii, 0);
		/* UTF-8 mode is a superset of ASCII mode */
		if (rv_utf8 != 0 || memcmp(&ascii, &utf8, sizeof(utf8)) != 0)
			abort();
	}
	if (rv_utf8 == 0)
		check_round_trip(&utf8, 1);

	(void)domain_valid(s, 0);
	(void)domain_valid(s, 1);
	(void)path_component_valid(s);
	lowercase(s);
	free(s);
	return 0;
}
