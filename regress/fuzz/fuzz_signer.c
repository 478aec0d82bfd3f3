/*
 * The signer's parsers on any bytes: the sign request handler (a key set
 * of one ed25519 key, made once), key file names and selectors (what
 * parses makes the very same name again), and TXT quoting into buffers
 * of every size.  The first octet picks which.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "signerd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct signer_keys keys;

static void
setup(void)
{
	char *pem, err[256];
	size_t len;

	if (keys.n > 0)
		return;
	dkim_load();
	if (dkim_key_generate(DKIM_ED25519_SHA256, &pem, &len) == -1 ||
	    signer_keys_add(&keys, "example.org", "b20261208e", pem, len, err,
		sizeof(err)) == -1)
		abort();
	freezero(pem, len);
	signer_keys_done(&keys);
}

static void
check_request(const uint8_t *data, size_t len)
{
	struct msg_writer w;

	setup();
	msg_writer_init(&w);
	if (signer_sign_request(&keys, data, len, &w) == 0 &&
	    (w.error || w.len < 16))
		abort();
	msg_writer_free(&w);
}

static void
check_names(const char *s)
{
	char domain[SMTP_DOMAIN_MAX + 1], selector[DKIM_SELECTOR_MAX];
	char again[DKIM_KEY_FILE_MAX + 1];
	struct dkim_pair pair;
	enum dkim_alg alg;

	if (dkim_key_file_parse(s, domain, sizeof(domain), selector,
		sizeof(selector)) == 0 &&
	    (dkim_key_file_name(domain, selector, again, sizeof(again)) == -1 ||
		strcmp(again, s) != 0))
		abort();
	if (dkim_selector_parse(s, &pair, &alg) == 0 &&
	    (dkim_selector_make(&pair, alg, again, sizeof(again)) == -1 ||
		strcmp(again, s) != 0 || !dkim_selector_valid(s)))
		abort();
}

static void
check_quote(const char *s, size_t outsz)
{
	char *out;

	if ((out = malloc(outsz + 1)) == NULL)
		return;
	if (dns_txt_quote(s, out, outsz) == 0 && strlen(out) >= outsz)
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s;

	if (len < 1)
		return 0;
	if (data[0] % 3 == 0) {
		check_request(data + 1, len - 1);
		return 0;
	}
	if ((s = malloc(len)) == NULL)
		return 0;
	memcpy(s, data + 1, len - 1);
	s[len - 1] = '\0';
	if (data[0] % 3 == 1)
		check_names(s);
	else
		check_quote(s, (size_t)data[0] * 8);
	free(s);
	return 0;
}
