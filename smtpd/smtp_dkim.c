/*
 * smtp's side of signer: the table of which selectors sign for each
 * domain, sent whole by signer at start and after every key change, and
 * the signing of a message: the templates and their digests are made
 * here, where the message is, only the digests cross to signer, and the
 * signatures that come back finish the fields to prepend.
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

/* a message being signed: a signature asked for each key */
struct smtp_dkim_job {
	TAILQ_ENTRY(smtp_dkim_job) entry;
	size_t n;	 /* signatures asked: 1 or 2 */
	size_t answered; /* of them */
	int failed;
	uint64_t reqid[2];
	int got[2]; /* its answer came */
	struct dkim_template t[2];
	unsigned char sig[2][DKIM_SIG_MAX];
	size_t siglen[2];
	smtp_dkim_done_cb done;
	void *arg;
};

/* the table in use, and the one arriving */
static struct smtp_dkim_table dkim_table, dkim_next;
static int dkim_receiving;
static TAILQ_HEAD(, smtp_dkim_job) dkim_jobs = TAILQ_HEAD_INITIALIZER(
    dkim_jobs);

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

/* every signature is in: the fields, or the failure, to the session */
static void
smtp_dkim_finish(struct smtp_dkim_job *job)
{
	char *fields;
	size_t len = 0, i;
	ssize_t n;

	TAILQ_REMOVE(&dkim_jobs, job, entry);
	if (job->failed) {
		job->done(job->arg, SMTP_DKIM_FAILED, NULL, 0);
		free(job);
		return;
	}
	fields = xcalloc(job->n, DKIM_SIGNED_FIELD_MAX);
	for (i = 0; i < job->n; i++) {
		n = dkim_sign_finish(&job->t[i], job->sig[i], job->siglen[i],
		    fields + len, DKIM_SIGNED_FIELD_MAX);
		if (n == -1)
			fatalx("%s: a DKIM-Signature past its room", __func__);
		len += (size_t)n;
	}
	job->done(job->arg, SMTP_DKIM_SIGNED, fields, len);
	free(fields);
	free(job);
}

static void
smtp_dkim_signature(struct imsg *imsg)
{
	struct smtp_dkim_job *job;
	struct msg_reader r;
	unsigned char sig[DKIM_SIG_MAX];
	uint64_t reqid;
	uint32_t status, len;
	size_t i = 0;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	if (msg_get_u64(&r, &reqid) == -1 || msg_get_u32(&r, &status) == -1 ||
	    msg_get_u32(&r, &len) == -1 || len > sizeof(sig) ||
	    msg_get_data(&r, sig, len) == -1 || msg_get_end(&r) == -1 ||
	    (status == SIGNER_OK && len == 0))
		child_bad_imsg(imsg, "signature");
	TAILQ_FOREACH(job, &dkim_jobs, entry) {
		for (i = 0; i < job->n; i++)
			if (job->reqid[i] == reqid)
				break;
		if (i < job->n)
			break;
	}
	/* the session went, and its job with it */
	if (job == NULL)
		return;
	if (job->got[i])
		child_bad_imsg(imsg, "a second signature");
	job->got[i] = 1;
	if (status != SIGNER_OK) {
		log_warnx("DKIM: signer could not sign (%s)",
		    status == SIGNER_NOKEY ? "no such key" : "failed");
		job->failed = 1;
	} else {
		memcpy(job->sig[i], sig, len);
		job->siglen[i] = len;
	}
	if (++job->answered == job->n)
		smtp_dkim_finish(job);
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

int
smtp_dkim_start(const char *domain, const struct dkim_message *m, int64_t now,
    smtp_dkim_done_cb done, void *arg, struct smtp_dkim_job **jobp, char *err,
    size_t errsz)
{
	const struct smtp_dkim_domain *d;
	struct dkim_sign_request req;
	struct smtp_dkim_job *job;
	struct msg_writer w;
	const char *selector[2];
	enum dkim_alg alg[2];
	size_t i, n = 0;

	*jobp = NULL;
	if ((d = smtp_dkim_lookup(domain)) == NULL)
		return 0;
	/* RSA first: the one every verifier knows */
	if (d->rsa[0] != '\0') {
		selector[n] = d->rsa;
		alg[n++] = DKIM_RSA_SHA256;
	}
	if (d->ed25519[0] != '\0') {
		selector[n] = d->ed25519;
		alg[n++] = DKIM_ED25519_SHA256;
	}
	if (n == 0)
		return 0;
	job = xcalloc(1, sizeof(*job));
	job->n = n;
	job->done = done;
	job->arg = arg;
	for (i = 0; i < n; i++) {
		req.alg = alg[i];
		req.domain = d->domain;
		req.selector = selector[i];
		req.time = now;
		if (dkim_sign_prepare(&req, &m->headers, m->bh, &job->t[i], err,
			errsz) == -1) {
			free(job);
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		job->reqid[i] = smtp_new_reqid();
		msg_writer_init(&w);
		msg_put_u64(&w, job->reqid[i]);
		msg_put_str(&w, d->domain);
		msg_put_str(&w, selector[i]);
		msg_put_u32(&w, alg[i]);
		msg_put_data(&w, job->t[i].digest, DKIM_DIGEST_LEN);
		child_send(PROC_SIGNER, IMSG_SIGNER_SIGN, 0, -1, &w);
	}
	TAILQ_INSERT_TAIL(&dkim_jobs, job, entry);
	*jobp = job;
	return 1;
}

void
smtp_dkim_cancel(struct smtp_dkim_job *job)
{
	if (job == NULL)
		return;
	TAILQ_REMOVE(&dkim_jobs, job, entry);
	free(job);
}
