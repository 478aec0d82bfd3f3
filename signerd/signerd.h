/*
 * signerd: the signer role.  It holds the DKIM private keys, which the
 * parent reads and sends (it has no file access at all), and answers
 * sign requests: a 32-octet digest in, a signature out.
 */

#ifndef BOXD_SIGNERD_H
#define BOXD_SIGNERD_H

#include "common.h"

/* ---------------------------------------------------------------- signer.c */
struct dkim_key;

struct signer_key {
	char domain[SMTP_DOMAIN_MAX + 1];
	char selector[DKIM_SELECTOR_MAX];
	enum dkim_alg alg;
	int named; /* a selector boxd made: pair is set */
	struct dkim_pair pair;
	struct dkim_key *key;
	char p[DKIM_PUBKEY_MAX]; /* the public key, as DNS publishes it */
};

/* a key set, sorted by domain then selector once complete */
struct signer_keys {
	struct signer_key *v;
	size_t n;
	size_t cap;
};

/*
 * Add a key from its PEM text (wiped by the caller).  -1 with err if the
 * name or the key is bad; the set is then unchanged.
 */
int signer_keys_add(struct signer_keys *, const char *domain,
    const char *selector, const char *pem, size_t len, char *err, size_t errsz);
/* sort, once every key is in; then find and sign work */
void signer_keys_done(struct signer_keys *);
void signer_keys_free(struct signer_keys *);
const struct signer_key *signer_keys_find(
    const struct signer_keys *, const char *domain, const char *selector);
/*
 * The keys that sign for the domain of keys->v[i] (the first of its
 * domain): per algorithm the newest that boxd named, NULL if none.  The
 * index of the next domain's first key.
 */
size_t signer_keys_signing(const struct signer_keys *, size_t i,
    const struct signer_key **rsa, const struct signer_key **ed25519);
/*
 * An IMSG_SIGNER_SIGN payload answered: the IMSG_SIGNER_SIGNATURE
 * payload into reply.  -1 if the request is malformed.
 */
int signer_sign_request(
    const struct signer_keys *, const void *, size_t, struct msg_writer *reply);

#endif
