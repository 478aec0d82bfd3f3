/*
 * common/dkim.c on arbitrary octets.  The first two octets choose chunk
 * sizes; the rest is a message.  Its body is canonicalised (relaxed and
 * simple) in chunks and at once, which must agree; the message streams
 * through dkim_message in chunks and at once, which must agree too; its
 * header block is parsed, the fields to sign are chosen and the template
 * hashed; every DKIM-Signature in it is parsed and its verification digest
 * computed; the input as one DKIM-Signature field, as a key record and
 * as a p= value.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
body_both_ways(
    enum dkim_canon canon, const uint8_t *p, size_t len, size_t chunk)
{
	struct dkim_body a, b;
	unsigned char bha[DKIM_DIGEST_LEN], bhb[DKIM_DIGEST_LEN];
	uint64_t la, lb;
	size_t i, k;

	if (dkim_body_init(&a, canon, UINT64_MAX) == -1)
		return;
	if (dkim_body_init(&b, canon, UINT64_MAX) == -1) {
		dkim_body_free(&a);
		return;
	}
	if (dkim_body_update(&a, p, len) == -1)
		abort();
	for (i = 0; i < len; i += k) {
		k = len - i < chunk ? len - i : chunk;
		if (dkim_body_update(&b, p + i, k) == -1)
			abort();
	}
	if (dkim_body_final(&a, bha, &la) == -1 ||
	    dkim_body_final(&b, bhb, &lb) == -1)
		abort();
	if (la != lb || memcmp(bha, bhb, sizeof(bha)) != 0)
		abort();
	/* the canonical body is never longer than the body and one CRLF */
	if (la > len + 2)
		abort();
}

static void
message_both_ways(const uint8_t *p, size_t len, size_t chunk)
{
	struct dkim_message a, b;
	char erra[128], errb[128];
	int ra, rb;
	size_t i, k;

	if (dkim_message_init(&a) == -1)
		return;
	if (dkim_message_init(&b) == -1) {
		dkim_message_free(&a);
		return;
	}
	ra = dkim_message_update(&a, p, len, erra, sizeof(erra));
	if (ra == 0)
		ra = dkim_message_final(&a, erra, sizeof(erra));
	rb = 0;
	for (i = 0; i < len && rb == 0; i += k) {
		k = len - i < chunk ? len - i : chunk;
		rb = dkim_message_update(&b, p + i, k, errb, sizeof(errb));
	}
	if (rb == 0)
		rb = dkim_message_final(&b, errb, sizeof(errb));
	if (ra != rb)
		abort();
	if (ra == 0 &&
	    (a.headers.n != b.headers.n || a.bodylen != b.bodylen ||
		memcmp(a.bh, b.bh, sizeof(a.bh)) != 0))
		abort();
	dkim_message_free(&a);
	dkim_message_free(&b);
}

static void
headers(const char *s, size_t len)
{
	struct dkim_sign_request req = {
	    DKIM_ED25519_SHA256, "example.org", "sel", 1};
	char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX], err[128];
	size_t idx[DKIM_SIGN_NAMES_MAX], off, i;
	unsigned char bh[DKIM_DIGEST_LEN] = {0}, digest[DKIM_DIGEST_LEN];
	struct dkim_signature *sig;
	struct dkim_template *t;
	struct dkim_headers h;
	char *out;
	ssize_t n;
	int nn;

	if (dkim_headers_parse(&h, s, len, &off, err, sizeof(err)) == -1)
		return;
	if (off > len)
		abort();
	nn = dkim_select_headers(&h, names, idx, err, sizeof(err));
	for (i = 0; nn > 0 && i < (size_t)nn; i++)
		if (idx[i] != SIZE_MAX &&
		    (idx[i] >= h.n ||
			strncasecmp(h.v[idx[i]].field, names[i],
			    h.v[idx[i]].namelen) != 0))
			abort();
	if ((t = malloc(sizeof(*t))) != NULL &&
	    dkim_sign_prepare(&req, &h, bh, t, err, sizeof(err)) == 0) {
		if (nn <= 0 || t->len != strlen(t->field))
			abort();
		if ((out = malloc(DKIM_FIELD_MAX + 256)) != NULL) {
			n = dkim_sign_finish(
			    t, bh, sizeof(bh), out, DKIM_FIELD_MAX + 256);
			if (n == -1 || (size_t)n != strlen(out))
				abort();
			free(out);
		}
	}
	free(t);
	if ((sig = malloc(sizeof(*sig))) != NULL) {
		for (i = 0; i < h.n; i++) {
			if (h.v[i].namelen != 14 ||
			    strncasecmp(h.v[i].field, "DKIM-Signature", 14) !=
				0)
				continue;
			if (dkim_signature_parse(sig, h.v[i].field, h.v[i].len,
				err, sizeof(err)) == -1)
				continue;
			if (sig->nnames == 0 || sig->blen == 0 ||
			    sig->bend > h.v[i].len)
				abort();
			(void)dkim_verify_prepare(
			    &h, i, sig, digest, err, sizeof(err));
		}
		free(sig);
	}
	dkim_headers_free(&h);
}

static void
one_field(const char *s, size_t len)
{
	struct dkim_signature *sig;
	struct dkim_key_record *rec;
	struct dkim_key *key;
	char *field, *relaxed, err[128];
	ssize_t n;

	if ((field = malloc(len + 16)) == NULL)
		return;
	memcpy(field, "DKIM-Signature:", 15);
	memcpy(field + 15, s, len);
	if ((sig = malloc(sizeof(*sig))) != NULL) {
		if (dkim_signature_parse(
			sig, field, len + 15, err, sizeof(err)) == 0 &&
		    (sig->boff > sig->bend || sig->bend > len + 15))
			abort();
		free(sig);
	}
	if ((relaxed = malloc(len + 18)) != NULL) {
		n = dkim_header_relaxed(field, len + 15, relaxed, len + 18);
		if (len + 15 <= DKIM_HEADER_LEN_MAX &&
		    (n < 17 || (size_t)n > len + 17))
			abort();
		free(relaxed);
	}
	free(field);
	if ((rec = malloc(sizeof(*rec))) != NULL) {
		if (dkim_key_record_parse(rec, s, len, err, sizeof(err)) == 0 &&
		    strlen(rec->p) >= sizeof(rec->p))
			abort();
		free(rec);
	}
	if (len < DKIM_PUBKEY_MAX && memchr(s, '\0', len) == NULL &&
	    (field = strndup(s, len)) != NULL) {
		key =
		    dkim_key_from_dns(DKIM_RSA_SHA256, field, err, sizeof(err));
		dkim_key_free(key);
		key = dkim_key_from_dns(
		    DKIM_ED25519_SHA256, field, err, sizeof(err));
		dkim_key_free(key);
		free(field);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk1, chunk2;

	dkim_load();
	if (size < 2)
		return 0;
	chunk1 = data[0] % 64 + 1;
	chunk2 = (size_t)data[1] * 16 + 1;
	data += 2;
	size -= 2;
	body_both_ways(DKIM_RELAXED, data, size, chunk1);
	body_both_ways(DKIM_SIMPLE, data, size, chunk2);
	message_both_ways(data, size, chunk1);
	headers((const char *)data, size);
	one_field((const char *)data, size);
	return 0;
}
