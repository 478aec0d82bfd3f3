/*
 * smtp's side of signer: the table of which selectors sign for each
 * domain, sent whole by signer at start and after every key change, and
 * the sign requests, of which only the digest crosses.
 */

#include <stdlib.h>
#include <string.h>

#include "boxd.h"
#include "smtpd.h"

struct smtp_dkim_table {
	struct smtp_dkim_domain *v; /* sorted by domain */
	size_t n;
	size_t cap;
};

/* the table in use, and the one arriving */
static struct smtp_dkim_table dkim_table, dkim_next;
static int dkim_receiving;
static smtp_dkim_signed_cb dkim_signed_cb;

static int
smtp_dkim_cmp(const void *a, const void *b)
{
	const struct smtp_dkim_domain *da = a, *db = b;

	return strcmp(da->domain, db->domain);
}

static void
smtp_dkim_table_in(struct imsg *imsg)
{
	struct smtp_dkim_domain *d;
	struct msg_reader r;

	if (!dkim_receiving)
		child_bad_imsg(imsg, "a domain outside a table");
	if (dkim_next.n == dkim_next.cap) {
		dkim_next.cap = dkim_next.cap == 0 ? 16 : dkim_next.cap * 2;
		dkim_next.v = xreallocarray(
		    dkim_next.v, dkim_next.cap, sizeof(*dkim_next.v));
	}
	d = &dkim_next.v[dkim_next.n];
	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_str(&r, d->domain, sizeof(d->domain)) == -1 ||
	    msg_get_str(&r, d->rsa, sizeof(d->rsa)) == -1 ||
	    msg_get_str(&r, d->ed25519, sizeof(d->ed25519)) == -1 ||
	    msg_get_end(&r) == -1)
		child_bad_imsg(imsg, "signer table");
	dkim_next.n++;
}

static void
smtp_dkim_signature(struct imsg *imsg)
{
	struct msg_reader r;
	unsigned char sig[DKIM_SIG_MAX];
	uint64_t reqid;
	uint32_t status, len;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_u64(&r, &reqid) == -1 || msg_get_u32(&r, &status) == -1 ||
	    msg_get_u32(&r, &len) == -1 || len > sizeof(sig) ||
	    msg_get_data(&r, sig, len) == -1 || msg_get_end(&r) == -1 ||
	    (status == SIGNER_OK && len == 0))
		child_bad_imsg(imsg, "signature");
	if (dkim_signed_cb == NULL)
		fatalx("a signature nobody asked for");
	dkim_signed_cb(reqid, status, sig, len);
}

void
smtp_dispatch_signer(struct imsgev *iev, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_SIGNER_TABLE:
		if (imsg->datalen != 0 || dkim_receiving)
			child_bad_imsg(imsg, "signer table");
		dkim_receiving = 1;
		dkim_next.n = 0;
		break;
	case IMSG_SIGNER_DOMAIN:
		smtp_dkim_table_in(imsg);
		break;
	case IMSG_SIGNER_TABLE_END:
		if (imsg->datalen != 0 || !dkim_receiving)
			child_bad_imsg(imsg, "signer table end");
		dkim_receiving = 0;
		free(dkim_table.v);
		dkim_table = dkim_next;
		memset(&dkim_next, 0, sizeof(dkim_next));
		if (dkim_table.n > 0)
			qsort(dkim_table.v, dkim_table.n, sizeof(*dkim_table.v),
			    smtp_dkim_cmp);
		log_debug("DKIM: %zu domains sign", dkim_table.n);
		break;
	case IMSG_SIGNER_SIGNATURE:
		smtp_dkim_signature(imsg);
		break;
	default:
		child_bad_imsg(imsg, "from signer");
	}
}

const struct smtp_dkim_domain *
smtp_dkim_lookup(const char *domain)
{
	struct smtp_dkim_domain key;

	if (dkim_table.n == 0 ||
	    strlcpy(key.domain, domain, sizeof(key.domain)) >=
		sizeof(key.domain))
		return NULL;
	lowercase(key.domain);
	return bsearch(&key, dkim_table.v, dkim_table.n, sizeof(*dkim_table.v),
	    smtp_dkim_cmp);
}

void
smtp_dkim_set_signed_cb(smtp_dkim_signed_cb cb)
{
	dkim_signed_cb = cb;
}

void
smtp_dkim_sign(uint64_t reqid, const char *domain, const char *selector,
    enum dkim_alg alg, const unsigned char digest[DKIM_DIGEST_LEN])
{
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_u64(&w, reqid);
	msg_put_str(&w, domain);
	msg_put_str(&w, selector);
	msg_put_u32(&w, alg);
	msg_put_data(&w, digest, DKIM_DIGEST_LEN);
	child_send(PROC_SIGNER, IMSG_SIGNER_SIGN, 0, -1, &w);
}
