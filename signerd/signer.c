/*
 * The signer role: holds the DKIM private keys and signs digests with
 * them.  The parent reads the key files and sends them at start, inside
 * every reload and after boxctl dkim, over a channel that wipes them; a
 * set arrives whole (DKIM_KEY..., DKIM_KEYS_END) and replaces the one
 * before.  The signer itself opens no file: it runs in the empty jail
 * with a filter that has no file call at all.
 *
 * smtp learns which selectors sign for each domain from the table sent
 * after every set, so that it can build the DKIM-Signature templates
 * without asking; then only the digests come here.
 */

#include <stdlib.h>
#include <string.h>

#include "boxd.h"
#include "signerd.h"

/* a key as the parent sent it, parsed once the whole set is in */
struct signer_pem {
	char domain[SMTP_DOMAIN_MAX + 1];
	char selector[DKIM_SELECTOR_MAX];
	char *pem; /* wiped when freed */
};

/* the set in use, and the one arriving from the parent */
static struct signer_keys signer_current;
static struct {
	struct signer_pem *v;
	size_t n;
	size_t cap;
	int complete; /* its DKIM_KEYS_END came */
	uint64_t gen;
} signer_next;
/* privileges dropped: keys are parsed as _boxsign, never as root */
static int signer_dropped;

static void signer_dispatch_parent(struct imsgev *, struct imsg *);
static void signer_dispatch_sign(struct imsgev *, struct imsg *);
static void signer_dispatch_control(struct imsgev *, struct imsg *);
static void signer_key_in(struct imsg *);
static void signer_keys_end(struct imsg *);
static void signer_send_table(void);
static void signer_keys_apply(void);

int
signer_keys_add(struct signer_keys *keys, const char *domain,
    const char *selector, const char *pem, size_t len, char *err, size_t errsz)
{
	struct signer_key *k;
	struct dkim_key *key;
	enum dkim_alg alg;

	if (!domain_valid(domain, 0) || strlen(domain) > SMTP_DOMAIN_MAX ||
	    !dkim_selector_valid(selector)) {
		strlcpy(err, "not a key file name boxd uses", errsz);
		return -1;
	}
	if ((key = dkim_key_from_pem(pem, len, err, errsz)) == NULL)
		return -1;
	if (dkim_selector_parse(selector, &(struct dkim_pair){0}, &alg) == 0 &&
	    alg != dkim_key_alg(key)) {
		snprintf(err, errsz, "an %s key under a selector named for %s",
		    dkim_alg_name(dkim_key_alg(key)), dkim_alg_name(alg));
		dkim_key_free(key);
		return -1;
	}
	if (keys->n == keys->cap) {
		keys->cap = keys->cap == 0 ? 16 : keys->cap * 2;
		keys->v = xreallocarray(keys->v, keys->cap, sizeof(*keys->v));
	}
	k = &keys->v[keys->n];
	memset(k, 0, sizeof(*k));
	strlcpy(k->domain, domain, sizeof(k->domain));
	lowercase(k->domain);
	strlcpy(k->selector, selector, sizeof(k->selector));
	k->key = key;
	k->alg = dkim_key_alg(key);
	k->named = dkim_selector_parse(selector, &k->pair, &alg) == 0;
	if (dkim_key_public(key, k->p, sizeof(k->p)) == -1) {
		strlcpy(err, "cannot derive the public key", errsz);
		dkim_key_free(key);
		return -1;
	}
	keys->n++;
	return 0;
}

static int
signer_key_cmp(const void *a, const void *b)
{
	const struct signer_key *ka = a, *kb = b;
	int c;

	if ((c = strcmp(ka->domain, kb->domain)) != 0)
		return c;
	return strcmp(ka->selector, kb->selector);
}

void
signer_keys_done(struct signer_keys *keys)
{
	if (keys->n > 0)
		qsort(keys->v, keys->n, sizeof(*keys->v), signer_key_cmp);
}

void
signer_keys_free(struct signer_keys *keys)
{
	size_t i;

	for (i = 0; i < keys->n; i++)
		dkim_key_free(keys->v[i].key);
	free(keys->v);
	memset(keys, 0, sizeof(*keys));
}

const struct signer_key *
signer_keys_find(
    const struct signer_keys *keys, const char *domain, const char *selector)
{
	struct signer_key k;

	if (keys->n == 0 ||
	    strlcpy(k.domain, domain, sizeof(k.domain)) >= sizeof(k.domain) ||
	    strlcpy(k.selector, selector, sizeof(k.selector)) >=
		sizeof(k.selector))
		return NULL;
	lowercase(k.domain);
	return bsearch(&k, keys->v, keys->n, sizeof(*keys->v), signer_key_cmp);
}

size_t
signer_keys_signing(const struct signer_keys *keys, size_t i,
    const struct signer_key **rsa, const struct signer_key **ed25519)
{
	const struct signer_key *k, **best;
	size_t first = i;

	*rsa = *ed25519 = NULL;
	for (; i < keys->n &&
	     strcmp(keys->v[i].domain, keys->v[first].domain) == 0;
	     i++) {
		k = &keys->v[i];
		if (!k->named)
			continue;
		best = k->alg == DKIM_RSA_SHA256 ? rsa : ed25519;
		if (*best == NULL ||
		    dkim_pair_cmp(&k->pair, &(*best)->pair) > 0)
			*best = k;
	}
	return i;
}

int
signer_sign_request(const struct signer_keys *keys, const void *data,
    size_t len, struct msg_writer *reply)
{
	struct msg_reader r;
	const struct signer_key *k;
	char domain[SMTP_DOMAIN_MAX + 1], selector[DKIM_SELECTOR_MAX];
	unsigned char digest[DKIM_DIGEST_LEN], sig[DKIM_SIG_MAX];
	size_t siglen = 0;
	uint64_t reqid;
	uint32_t alg, status = SIGNER_OK;

	msg_reader_init(&r, data, len);
	if (msg_get_u64(&r, &reqid) == -1 ||
	    msg_get_str(&r, domain, sizeof(domain)) == -1 ||
	    msg_get_str(&r, selector, sizeof(selector)) == -1 ||
	    msg_get_u32(&r, &alg) == -1 ||
	    msg_get_data(&r, digest, sizeof(digest)) == -1 ||
	    msg_get_end(&r) == -1 ||
	    (alg != DKIM_RSA_SHA256 && alg != DKIM_ED25519_SHA256))
		return -1;
	if ((k = signer_keys_find(keys, domain, selector)) == NULL ||
	    k->alg != (enum dkim_alg)alg)
		status = SIGNER_NOKEY;
	else if (dkim_sign_digest(k->key, digest, sig, &siglen, sizeof(sig)) ==
	    -1) {
		log_warnx("%s.%s: the key would not sign", domain, selector);
		status = SIGNER_FAIL;
		siglen = 0;
	}
	msg_put_u64(reply, reqid);
	msg_put_u32(reply, status);
	msg_put_u32(reply, (uint32_t)siglen);
	msg_put_data(reply, sig, siglen);
	return 0;
}

void
signer_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};

	/* before the jail: the library is a file */
	dkim_load();
	child_init(PROC_SIGNER, signer_dispatch_parent);
	child_forget_tls();
	child_drop();
	signer_dropped = 1;
	/* the set that came with the configuration */
	if (signer_next.complete)
		signer_keys_apply();
	child_sandbox();
	handlers[PROC_SMTP] = signer_dispatch_sign;
	handlers[PROC_MTA] = signer_dispatch_sign;
	handlers[PROC_CONTROL] = signer_dispatch_control;
	child_connect(handlers);
	signer_send_table();
	child_run(NULL);
}

static void
signer_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_DKIM_KEY:
		signer_key_in(imsg);
		break;
	case IMSG_DKIM_KEYS_END:
		signer_keys_end(imsg);
		break;
	case IMSG_CONF_TLS:
		/* a reload's: not ours, wiped with the channel's buffers */
		break;
	default:
		child_bad_imsg(imsg, "signer");
	}
}

static void
signer_key_in(struct imsg *imsg)
{
	struct signer_pem *k;
	struct msg_reader r;

	if (signer_next.complete)
		child_bad_imsg(imsg, "dkim key after the end of its set");
	if (signer_next.n == signer_next.cap) {
		signer_next.cap =
		    signer_next.cap == 0 ? 16 : signer_next.cap * 2;
		signer_next.v = xreallocarray(
		    signer_next.v, signer_next.cap, sizeof(*signer_next.v));
	}
	k = &signer_next.v[signer_next.n];
	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_str(&r, k->domain, sizeof(k->domain)) == -1 ||
	    msg_get_str(&r, k->selector, sizeof(k->selector)) == -1 ||
	    msg_get_strdup(&r, &k->pem, IMSG_MAX_SIZE) == -1)
		child_bad_imsg(imsg, "dkim key");
	signer_next.n++;
	if (msg_get_end(&r) == -1)
		child_bad_imsg(imsg, "dkim key");
}

static void
signer_keys_end(struct imsg *imsg)
{
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (signer_next.complete || msg_get_u64(&r, &signer_next.gen) == -1 ||
	    msg_get_end(&r) == -1)
		child_bad_imsg(imsg, "dkim keys end");
	signer_next.complete = 1;
	/* at start the keys wait until root's privileges are gone */
	if (signer_dropped)
		signer_keys_apply();
}

/*
 * The set that came replaces the one in use.  A bad key is the admin's
 * to fix: logged by its file name, and the others still load.
 */
static void
signer_keys_apply(void)
{
	struct signer_keys keys = {0};
	struct signer_pem *k;
	struct msg_writer w;
	char err[256];
	size_t i;

	for (i = 0; i < signer_next.n; i++) {
		k = &signer_next.v[i];
		if (signer_keys_add(&keys, k->domain, k->selector, k->pem,
			strlen(k->pem), err, sizeof(err)) == -1)
			log_warnx("DKIM key %s/%s/%s.%s%s not loaded: %s",
			    child->conf.storage, DKIM_KEYS_DIR, k->domain,
			    k->selector, DKIM_KEY_SUFFIX, err);
		freezero(k->pem, strlen(k->pem));
	}
	free(signer_next.v);
	signer_keys_free(&signer_current);
	signer_current = keys;
	signer_keys_done(&signer_current);
	log_info("%zu DKIM key%s loaded", signer_current.n,
	    signer_current.n == 1 ? "" : "s");
	msg_writer_init(&w);
	msg_put_u64(&w, signer_next.gen);
	memset(&signer_next, 0, sizeof(signer_next));
	/* at start smtp's channel opens later, and hears of it then */
	if (child->peer[PROC_SMTP] != NULL)
		signer_send_table();
	child_send(PROC_PARENT, IMSG_DKIM_KEYS_TAKEN, 0, -1, &w);
}

static void
signer_send_table(void)
{
	const struct signer_key *rsa, *ed25519;
	struct msg_writer w;
	size_t i, next;

	child_send(PROC_SMTP, IMSG_SIGNER_TABLE, 0, -1, NULL);
	for (i = 0; i < signer_current.n; i = next) {
		next = signer_keys_signing(&signer_current, i, &rsa, &ed25519);
		if (rsa == NULL && ed25519 == NULL)
			continue;
		msg_writer_init(&w);
		msg_put_str(&w, signer_current.v[i].domain);
		msg_put_str(&w, rsa != NULL ? rsa->selector : "");
		msg_put_str(&w, ed25519 != NULL ? ed25519->selector : "");
		child_send(PROC_SMTP, IMSG_SIGNER_DOMAIN, 0, -1, &w);
	}
	child_send(PROC_SMTP, IMSG_SIGNER_TABLE_END, 0, -1, NULL);
}

/* IMSG_SIGNER_SIGN from smtp (mta's later) */
static void
signer_dispatch_sign(struct imsgev *iev, struct imsg *imsg)
{
	struct msg_writer w;

	if (imsg->hdr.type != IMSG_SIGNER_SIGN)
		child_bad_imsg(imsg, "signer");
	msg_writer_init(&w);
	if (signer_sign_request(
		&signer_current, imsg->data, imsg->datalen, &w) == -1) {
		msg_writer_free(&w);
		child_bad_imsg(imsg, "sign request");
	}
	child_send(iev->peer, IMSG_SIGNER_SIGNATURE, imsg->hdr.peerid, -1, &w);
}

/* boxctl dns: a domain's public keys, and which of them sign */
static void
signer_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	const struct signer_key *k, *rsa, *ed25519;
	struct msg_reader r;
	struct msg_writer w;
	char domain[SMTP_DOMAIN_MAX + 1];
	size_t i, end;

	if (imsg->hdr.type != IMSG_SIGNER_PUBKEYS)
		child_bad_imsg(imsg, "signer");
	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_str(&r, domain, sizeof(domain)) == -1 ||
	    msg_get_end(&r) == -1)
		child_bad_imsg(imsg, "public keys");
	lowercase(domain);
	for (i = 0; i < signer_current.n &&
	     strcmp(signer_current.v[i].domain, domain) < 0;
	     i++)
		;
	if (i < signer_current.n &&
	    strcmp(signer_current.v[i].domain, domain) == 0) {
		end = signer_keys_signing(&signer_current, i, &rsa, &ed25519);
		for (; i < end; i++) {
			k = &signer_current.v[i];
			msg_writer_init(&w);
			msg_put_str(&w, k->selector);
			msg_put_u32(&w, k->alg);
			msg_put_str(&w, k->p);
			msg_put_u32(&w, k == rsa || k == ed25519);
			child_send(PROC_CONTROL, IMSG_SIGNER_PUBKEY,
			    imsg->hdr.peerid, -1, &w);
		}
	}
	child_send(
	    PROC_CONTROL, IMSG_SIGNER_PUBKEYS_END, imsg->hdr.peerid, -1, NULL);
}
