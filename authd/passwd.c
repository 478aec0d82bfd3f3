/*
 * Password hashes through libxcrypt: new ones are yescrypt; yescrypt,
 * bcrypt and SHA-crypt hashes from Dovecot or Mail-in-a-Box verify as
 * they are.
 */

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"

/* the hash formats we verify; anything else never matches */
static const char *const passwd_prefixes[] = {"$y$", /* yescrypt */
    "$2b$",					     /* bcrypt */
    "$2y$", /* bcrypt, as PHP and Dovecot write it */
    "$6$",  /* SHA-512 crypt */
    "$5$",  /* SHA-256 crypt */
    NULL};

/* 0 if equal; the time taken depends on len alone */
static int
passwd_bytes_differ(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *pa = a, *pb = b;
	unsigned char diff = 0;
	size_t i;

	for (i = 0; i < len; i++)
		diff |= pa[i] ^ pb[i];
	return diff != 0;
}

int
passwd_hash_known(const char *hash)
{
	size_t i;

	for (i = 0; passwd_prefixes[i] != NULL; i++)
		if (strncmp(hash, passwd_prefixes[i],
			strlen(passwd_prefixes[i])) == 0)
			return 1;
	return 0;
}

int
passwd_hash(const char *password, char *hash, size_t hashsz)
{
	struct crypt_data *data;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *out;
	int rv = -1;

	auth_libs_load();
	if (strlen(password) > PASSWD_MAX)
		return -1;
	/* a NULL rbytes makes libxcrypt draw the salt from getrandom() */
	if (authlib.crypt_gensalt_rn(
		"$y$", 0, NULL, 0, setting, (int)sizeof(setting)) == NULL)
		return -1;
	if ((data = calloc(1, sizeof(*data))) == NULL)
		return -1;
	out = authlib.crypt_rn(password, setting, data, (int)sizeof(*data));
	if (out != NULL && out[0] != '*' && strlcpy(hash, out, hashsz) < hashsz)
		rv = 0;
	freezero(data, sizeof(*data));
	return rv;
}

int
passwd_verify(const char *password, const char *hash)
{
	struct crypt_data *data;
	const char *out;
	size_t len;
	int ok = 0;

	auth_libs_load();
	if (!passwd_hash_known(hash) || strlen(password) > PASSWD_MAX)
		return 0;
	if ((data = calloc(1, sizeof(*data))) == NULL)
		return 0;
	out = authlib.crypt_rn(password, hash, data, (int)sizeof(*data));
	if (out != NULL && out[0] != '*') {
		len = strlen(hash);
		/* the length is no secret; the bytes are compared in
		 * constant time */
		if (strlen(out) == len && !passwd_bytes_differ(out, hash, len))
			ok = 1;
	}
	freezero(data, sizeof(*data));
	return ok;
}
