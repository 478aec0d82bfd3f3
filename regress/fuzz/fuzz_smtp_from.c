/*
 * Submission's parsers on arbitrary octets: the header section kept as
 * a message streams by (cut where the input says) and its From:
 * addresses, and the SASL answers of AUTH PLAIN and LOGIN.  An accepted
 * From: gives between 1 and AUTH_SENDER_MAX addresses, each once, each
 * local@domain without a line end; the same input cut otherwise gives
 * the same answer.
 *
 * Input: one octet for the piece length (0: whole), then the octets.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
from_of(const uint8_t *data, size_t len, size_t step, struct smtp_from *f)
{
	struct smtp_headers h;
	size_t i, n;
	int rv;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < len; i += n) {
		n = step == 0 || len - i < step ? len - i : step;
		smtp_headers_feed(&h, data + i, n);
	}
	rv = smtp_headers_from(&h, f);
	smtp_headers_reset(&h);
	return rv;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_from f, g;
	char user[AUTH_LOGIN_USER_MAX + 1], pass[AUTH_LOGIN_PASSWORD_MAX + 1];
	size_t i, j, step;
	int rv;

	if (size < 1)
		return 0;
	step = data[0];
	data++;
	size--;

	rv = from_of(data, size, step, &f);
	if (rv == SMTP_FROM_OK) {
		if (f.n == 0 || f.n > AUTH_SENDER_MAX)
			abort();
		for (i = 0; i < f.n; i++) {
			if (strchr(f.addr[i], '@') == NULL ||
			    strpbrk(f.addr[i], "\r\n") != NULL)
				abort();
			for (j = 0; j < i; j++)
				if (strcasecmp(f.addr[i], f.addr[j]) == 0)
					abort();
		}
	} else if (f.n != 0)
		abort();
	if (from_of(data, size, 0, &g) != rv || g.n != f.n)
		abort();
	for (i = 0; i < f.n; i++)
		if (strcmp(f.addr[i], g.addr[i]) != 0)
			abort();
	smtp_from_clear(&f);
	smtp_from_clear(&g);

	/* the answers to a 334 are at most a command line */
	if (size < SMTP_LINE_MAX) {
		if (sasl_plain_decode((const char *)data, size, user,
			sizeof(user), pass, sizeof(pass)) == 0 &&
		    (strlen(user) >= sizeof(user) ||
			strlen(pass) >= sizeof(pass)))
			abort();
		if (smtp_auth_login_decode(
			(const char *)data, size, user, sizeof(user)) == 0 &&
		    strlen(user) >= sizeof(user))
			abort();
	}
	return 0;
}
