/*
 * SASL mechanisms' messages (RFC 4422), decoded alike for every role that
 * authenticates users: imap, pop3 and smtp.
 */

#include <string.h>

#include "common.h"

/*
 * A SASL PLAIN message (RFC 4616), base64: authzid, authcid and password
 * joined by NULs.  Logging in as someone else (an authzid that is not
 * the authcid) is refused: -2; malformed or too long: -1.
 */
int
sasl_plain_decode(const char *b64, size_t len, char *user, size_t usersz,
    char *pass, size_t passsz)
{
	unsigned char raw[SASL_PLAIN_MAX];
	const unsigned char *authz, *authc, *pw, *end;
	int n, rv = -1;

	if (len >= sizeof(raw) ||
	    (n = base64_decode_buf(b64, len, raw, sizeof(raw))) <= 0)
		return -1;
	end = raw + n;
	authz = raw;
	if ((authc = memchr(authz, '\0', end - authz)) == NULL)
		goto done;
	authc++;
	if ((pw = memchr(authc, '\0', end - authc)) == NULL)
		goto done;
	pw++;
	if (memchr(pw, '\0', end - pw) != NULL ||
	    (size_t)(pw - authc - 1) >= usersz || (size_t)(end - pw) >= passsz)
		goto done;
	memcpy(user, authc, pw - authc - 1);
	user[pw - authc - 1] = '\0';
	memcpy(pass, pw, end - pw);
	pass[end - pw] = '\0';
	rv = 0;
	if (authc - 1 != authz &&
	    ((size_t)(authc - 1 - authz) != strlen(user) ||
		memcmp(authz, user, authc - 1 - authz) != 0)) {
		explicit_bzero(pass, passsz);
		rv = -2;
	}
done:
	explicit_bzero(raw, sizeof(raw));
	return rv;
}
