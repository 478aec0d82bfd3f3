/*
 * DKIM (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463):
 * canonicalisation, hashing, the signature field, keys, and signing and
 * verifying a digest.  libcrypto is loaded with dlopen() like tls.c does,
 * by the roles that sign or verify alone, and reached through the
 * EVP calls LibreSSL has as well; macros that OpenSSL 3 turned into
 * renamed functions are avoided (EVP_PKEY_CTX_ctrl stands in for them).
 */

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common.h"

#define DKIM_FUNCTIONS(X)                \
	X(OPENSSL_init_crypto)           \
	X(ERR_clear_error)               \
	X(EVP_sha256)                    \
	X(EVP_MD_CTX_new)                \
	X(EVP_MD_CTX_free)               \
	X(EVP_DigestInit_ex)             \
	X(EVP_DigestUpdate)              \
	X(EVP_DigestFinal_ex)            \
	X(EVP_DigestSignInit)            \
	X(EVP_DigestSign)                \
	X(EVP_DigestVerifyInit)          \
	X(EVP_DigestVerify)              \
	X(EVP_PKEY_CTX_new)              \
	X(EVP_PKEY_CTX_new_id)           \
	X(EVP_PKEY_CTX_free)             \
	X(EVP_PKEY_CTX_ctrl)             \
	X(EVP_PKEY_sign_init)            \
	X(EVP_PKEY_sign)                 \
	X(EVP_PKEY_verify_init)          \
	X(EVP_PKEY_verify)               \
	X(EVP_PKEY_keygen_init)          \
	X(EVP_PKEY_keygen)               \
	X(EVP_PKEY_free)                 \
	X(EVP_PKEY_new_raw_public_key)   \
	X(EVP_PKEY_get_raw_public_key)   \
	X(BIO_new)                       \
	X(BIO_s_mem)                     \
	X(BIO_new_mem_buf)               \
	X(BIO_ctrl)                      \
	X(BIO_free)                      \
	X(PEM_read_bio_PrivateKey)       \
	X(PEM_write_bio_PKCS8PrivateKey) \
	X(i2d_PUBKEY)                    \
	X(d2i_PUBKEY)                    \
	X(d2i_PublicKey)

#define DKIM_POINTER(name) __typeof__(name) *name;
static struct {
	DKIM_FUNCTIONS(DKIM_POINTER)
} fn;

#define DKIM_LOOKUP(name)                                                  \
	if ((fn.name = (__typeof__(fn.name))dlsym(crypto, #name)) == NULL) \
		fatalx("%s: %s", #name, dlerror());

struct dkim_key {
	EVP_PKEY *pkey;
	enum dkim_alg alg;
};

/* the fields RFC 6376 5.4.1 recommends signing, and their kin */
static const char *const dkim_signed_names[] = {
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "sender",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
};

#define DKIM_SIGNED_NAMES_N \
	(sizeof(dkim_signed_names) / sizeof(dkim_signed_names[0]))

static const char b64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* DER of the AlgorithmIdentifier OIDs a SubjectPublicKeyInfo may carry */
static const unsigned char oid_rsa[] = {
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

void
dkim_load(void)
{
	void *crypto;

	if (fn.EVP_sha256 != NULL)
		return;
	if ((crypto = dlopen(TLS_LIBCRYPTO, RTLD_NOW | RTLD_GLOBAL)) == NULL)
		fatalx("cannot load libcrypto: %s", dlerror());
	DKIM_FUNCTIONS(DKIM_LOOKUP)
	/* no openssl.cnf, as in tls.c: a jailed role could not read it */
	if (fn.OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		fatalx("cannot initialise OpenSSL");
}

const char *
dkim_alg_name(enum dkim_alg alg)
{
	return alg == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

int
dkim_alg_parse(const char *s, enum dkim_alg *alg)
{
	if (strcmp(s, "rsa-sha256") == 0)
		*alg = DKIM_RSA_SHA256;
	else if (strcmp(s, "ed25519-sha256") == 0)
		*alg = DKIM_ED25519_SHA256;
	else
		return -1;
	return 0;
}

static void
set_err(char *err, size_t errsz, const char *msg)
{
	if (err != NULL && errsz > 0)
		strlcpy(err, msg, errsz);
}

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* base64 of len octets into out; the length written, or -1 */
static ssize_t
b64_encode(const unsigned char *in, size_t len, char *out, size_t outsz)
{
	size_t i, n = 0;
	uint32_t v;

	if (len > 1024 * 1024 || (len + 2) / 3 * 4 + 1 > outsz)
		return -1;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[n++] = b64_digits[v >> 18];
		out[n++] = b64_digits[v >> 12 & 63];
		out[n++] = b64_digits[v >> 6 & 63];
		out[n++] = b64_digits[v & 63];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[n++] = b64_digits[v >> 18];
		out[n++] = b64_digits[v >> 12 & 63];
		out[n++] = i + 1 < len ? b64_digits[v >> 6 & 63] : '=';
		out[n++] = '=';
	}
	out[n] = '\0';
	return (ssize_t)n;
}

/*
 * base64 as DKIM tags carry it, folding whitespace anywhere; the octets,
 * or -1 if malformed or longer than outsz.
 */
static int
b64_decode_fws(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	char *buf;
	size_t i, n = 0;
	int rv;

	if (len > 4 * DKIM_FIELD_MAX || (buf = malloc(len + 1)) == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		if (is_wsp(in[i]) || in[i] == '\r' || in[i] == '\n')
			continue;
		buf[n++] = in[i];
	}
	/* decoded in place, then copied: the last quantum may be short */
	rv = n == 0 ? -1 : base64_decode_buf(buf, n, (unsigned char *)buf, n);
	if (rv > 0 && (size_t)rv <= outsz)
		memcpy(out, buf, (size_t)rv);
	else
		rv = -1;
	free(buf);
	return rv;
}

/* ---- the body */

int
dkim_body_init(struct dkim_body *b, enum dkim_canon canon, uint64_t limit)
{
	memset(b, 0, sizeof(*b));
	b->canon = canon;
	b->limit = limit;
	if ((b->md = fn.EVP_MD_CTX_new()) == NULL)
		return -1;
	if (fn.EVP_DigestInit_ex(b->md, fn.EVP_sha256(), NULL) != 1) {
		dkim_body_free(b);
		return -1;
	}
	return 0;
}

void
dkim_body_free(struct dkim_body *b)
{
	if (b->md != NULL)
		fn.EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

static int
body_flush(struct dkim_body *b)
{
	if (b->fill > 0 && fn.EVP_DigestUpdate(b->md, b->buf, b->fill) != 1)
		return -1;
	b->fill = 0;
	return 0;
}

/* canonical octets out: counted in full, hashed up to the limit */
static int
body_put(struct dkim_body *b, const char *p, size_t n)
{
	size_t take;

	if (b->length < b->limit) {
		take = b->limit - b->length < n ? b->limit - b->length : n;
		while (take > 0) {
			size_t room = sizeof(b->buf) - b->fill;
			size_t k = take < room ? take : room;

			memcpy(b->buf + b->fill, p, k);
			b->fill += k;
			p += k;
			take -= k;
			if (b->fill == sizeof(b->buf) && body_flush(b) == -1)
				return -1;
		}
	}
	b->length += n;
	return 0;
}

/* an octet of a line's content: the empty lines withheld are not trailing */
static int
body_content(struct dkim_body *b, char c)
{
	if (!b->content) {
		for (; b->empty_lines > 0; b->empty_lines--)
			if (body_put(b, "\r\n", 2) == -1)
				return -1;
		b->content = 1;
	}
	if (b->wsp) {
		b->wsp = 0;
		if (body_put(b, " ", 1) == -1)
			return -1;
	}
	return body_put(b, &c, 1);
}

static int
body_eol(struct dkim_body *b)
{
	/* relaxed: the WSP at the end of a line goes */
	b->wsp = 0;
	if (!b->content) {
		b->empty_lines++;
		return 0;
	}
	b->content = 0;
	return body_put(b, "\r\n", 2);
}

int
dkim_body_update(struct dkim_body *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i, k;

	for (i = 0; i < len; i++) {
		/* inside a line, a run of plain octets goes out as it is */
		if (!b->cr && !b->wsp && b->content) {
			for (k = i; k < len && p[k] != '\r' &&
			     (b->canon == DKIM_SIMPLE || !is_wsp(p[k]));
			     k++)
				;
			if (k > i) {
				if (body_put(b, (const char *)p + i, k - i) ==
				    -1)
					return -1;
				if ((i = k) == len)
					break;
			}
		}
		if (b->cr) {
			b->cr = 0;
			if (p[i] == '\n') {
				if (body_eol(b) == -1)
					return -1;
				continue;
			}
			/* a bare CR is content like any other octet */
			if (body_content(b, '\r') == -1)
				return -1;
		}
		if (p[i] == '\r')
			b->cr = 1;
		else if (b->canon == DKIM_RELAXED && is_wsp(p[i]))
			b->wsp = 1;
		else if (body_content(b, (char)p[i]) == -1)
			return -1;
	}
	return 0;
}

int
dkim_body_final(
    struct dkim_body *b, unsigned char bh[DKIM_DIGEST_LEN], uint64_t *len)
{
	unsigned int n = DKIM_DIGEST_LEN;
	int rv = -1;

	if (b->cr) {
		b->cr = 0;
		if (body_content(b, '\r') == -1)
			goto done;
	}
	/* an unfinished last line gets its CRLF; simple's empty body is one */
	if (b->content || (b->canon == DKIM_SIMPLE && b->length == 0))
		if (body_put(b, "\r\n", 2) == -1)
			goto done;
	if (body_flush(b) == -1 || fn.EVP_DigestFinal_ex(b->md, bh, &n) != 1 ||
	    n != DKIM_DIGEST_LEN)
		goto done;
	if (len != NULL)
		*len = b->length;
	rv = 0;
done:
	dkim_body_free(b);
	return rv;
}

/* ---- the header block */

static int
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

int
dkim_headers_parse(struct dkim_headers *h, const char *s, size_t len,
    size_t *bodyoff, char *err, size_t errsz)
{
	struct dkim_header *v, *cur = NULL;
	size_t pos = 0, end, next, cap = 0, i;

	h->v = NULL;
	h->n = 0;
	while (pos < len) {
		/* the line: up to CRLF, or the end of the block */
		for (end = pos; end < len; end++) {
			if (s[end] == '\0') {
				set_err(err, errsz, "NUL in the header");
				goto fail;
			}
			if (s[end] == '\n') {
				set_err(err, errsz, "bare LF in the header");
				goto fail;
			}
			if (s[end] == '\r') {
				if (end + 1 == len || s[end + 1] != '\n') {
					set_err(err, errsz,
					    "bare CR in the header");
					goto fail;
				}
				break;
			}
		}
		next = end < len ? end + 2 : len;
		if (end == pos) {
			pos = next;
			break;
		}
		if (is_wsp((unsigned char)s[pos])) {
			if (cur == NULL) {
				set_err(err, errsz,
				    "header continuation before any field");
				goto fail;
			}
			cur->len = end - (size_t)(cur->field - s);
		} else {
			for (i = pos; i < end && is_ftext((unsigned char)s[i]);
			     i++)
				;
			cur = NULL;
			if (i == pos) {
				set_err(
				    err, errsz, "header field without name");
				goto fail;
			}
			/* obsolete syntax: WSP between the name and colon */
			for (next = i;
			     next < end && is_wsp((unsigned char)s[next]);
			     next++)
				;
			if (next == end) {
				set_err(
				    err, errsz, "header line without a colon");
				goto fail;
			}
			if (s[next] != ':') {
				set_err(err, errsz, "bad header field name");
				goto fail;
			}
			if (h->n == DKIM_HEADERS_MAX) {
				set_err(err, errsz, "too many header fields");
				goto fail;
			}
			if (h->n == cap) {
				cap = cap == 0 ? 32 : cap * 2;
				if (cap > DKIM_HEADERS_MAX)
					cap = DKIM_HEADERS_MAX;
				v = reallocarray(h->v, cap, sizeof(*v));
				if (v == NULL) {
					set_err(err, errsz, "out of memory");
					goto fail;
				}
				h->v = v;
			}
			cur = &h->v[h->n++];
			cur->field = s + pos;
			cur->namelen = i - pos;
			cur->len = end - pos;
			next = end < len ? end + 2 : len;
		}
		if (cur->len > DKIM_HEADER_LEN_MAX) {
			set_err(err, errsz, "header field too long");
			goto fail;
		}
		pos = next;
	}
	if (bodyoff != NULL)
		*bodyoff = pos;
	return 0;
fail:
	dkim_headers_free(h);
	return -1;
}

void
dkim_headers_free(struct dkim_headers *h)
{
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

ssize_t
dkim_header_relaxed(const char *field, size_t len, char *out, size_t outsz)
{
	const char *colon;
	size_t i, n = 0, namelen;
	int wsp = 0, value = 0;

	if (len > DKIM_HEADER_LEN_MAX || outsz < len + 3 ||
	    (colon = memchr(field, ':', len)) == NULL)
		return -1;
	for (namelen = (size_t)(colon - field);
	     namelen > 0 && is_wsp((unsigned char)field[namelen - 1]);
	     namelen--)
		;
	for (i = 0; i < namelen; i++)
		out[n++] = (char)tolower((unsigned char)field[i]);
	out[n++] = ':';
	for (i = (size_t)(colon - field) + 1; i < len; i++) {
		unsigned char c = (unsigned char)field[i];

		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			wsp = 1;
			continue;
		}
		/* no WSP right after the colon; runs become one SP */
		if (wsp && value)
			out[n++] = ' ';
		wsp = 0;
		value = 1;
		out[n++] = (char)c;
	}
	out[n++] = '\r';
	out[n++] = '\n';
	return (ssize_t)n;
}

static int
name_is(const struct dkim_header *hf, const char *name)
{
	return strlen(name) == hf->namelen &&
	    strncasecmp(hf->field, name, hf->namelen) == 0;
}

int
dkim_select_headers(const struct dkim_headers *h,
    char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX],
    size_t idx[DKIM_SIGN_NAMES_MAX], char *err, size_t errsz)
{
	size_t i, j, n = 0, from = 0;

	/* bottom-up, so each name in h= picks the instance RFC 6376 5.4.2 does
	 */
	for (i = h->n; i-- > 0;) {
		for (j = 0; j < DKIM_SIGNED_NAMES_N; j++)
			if (name_is(&h->v[i], dkim_signed_names[j]))
				break;
		if (j == DKIM_SIGNED_NAMES_N)
			continue;
		if (n == DKIM_SIGN_NAMES_MAX - 1) {
			set_err(err, errsz, "too many header fields to sign");
			return -1;
		}
		strlcpy(names[n], dkim_signed_names[j], DKIM_NAME_MAX);
		idx[n++] = i;
		if (j == 0)
			from++;
	}
	if (from == 0) {
		set_err(err, errsz, "no From header field");
		return -1;
	}
	/* oversigned: a From added on the way breaks the signature */
	strlcpy(names[n], "from", DKIM_NAME_MAX);
	idx[n++] = SIZE_MAX;
	return (int)n;
}

/* ---- a whole message */

int
dkim_message_init(struct dkim_message *m)
{
	memset(m, 0, sizeof(*m));
	/* the start counts as a line end: an empty first line ends the block */
	m->state = 2;
	return dkim_body_init(&m->body, DKIM_RELAXED, UINT64_MAX);
}

int
dkim_message_update(struct dkim_message *m, const void *data, size_t len,
    char *err, size_t errsz)
{
	const unsigned char *p = data;
	size_t i, sz;
	char *nh;

	for (i = 0; i < len && !m->inbody; i++) {
		if (m->headlen == m->headsz) {
			if (m->headsz == DKIM_HEADER_BLOCK_MAX) {
				set_err(err, errsz, "header block too large");
				return -1;
			}
			sz = m->headsz == 0 ? 4096 : m->headsz * 2;
			if (sz > DKIM_HEADER_BLOCK_MAX)
				sz = DKIM_HEADER_BLOCK_MAX;
			if ((nh = realloc(m->head, sz)) == NULL) {
				set_err(err, errsz, "out of memory");
				return -1;
			}
			m->head = nh;
			m->headsz = sz;
		}
		m->head[m->headlen++] = (char)p[i];
		if (p[i] == '\r')
			m->state = m->state == 2 ? 3 : 1;
		else if (p[i] == '\n' && (m->state == 1 || m->state == 3))
			m->state++;
		else
			m->state = 0;
		if (m->state == 4)
			m->inbody = 1;
	}
	if (i < len && dkim_body_update(&m->body, p + i, len - i) == -1) {
		set_err(err, errsz, "cannot hash the body");
		return -1;
	}
	return 0;
}

int
dkim_message_final(struct dkim_message *m, char *err, size_t errsz)
{
	if (dkim_headers_parse(&m->headers, m->head == NULL ? "" : m->head,
		m->headlen, NULL, err, errsz) == -1)
		return -1;
	if (dkim_body_final(&m->body, m->bh, &m->bodylen) == -1) {
		set_err(err, errsz, "cannot hash the body");
		return -1;
	}
	return 0;
}

void
dkim_message_free(struct dkim_message *m)
{
	dkim_body_free(&m->body);
	dkim_headers_free(&m->headers);
	free(m->head);
	m->head = NULL;
	m->headlen = m->headsz = 0;
}

/* ---- the signature field */

/* a field written with folds so that no line passes 78 octets */
struct field_writer {
	char *buf;
	size_t sz, len, col;
	int overflow;
};

static void
fw_raw(struct field_writer *w, const char *s, size_t n)
{
	const char *nl;

	if (w->overflow || w->len + n >= w->sz) {
		w->overflow = 1;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
	if ((nl = memrchr(s, '\n', n)) != NULL)
		w->col = n - (size_t)(nl - s) - 1;
	else
		w->col += n;
}

/* a token that stays on one line, folded before it if it does not fit */
static void
fw_token(struct field_writer *w, const char *s, int space)
{
	size_t n = strlen(s) + (space ? 1 : 0);

	if (w->col > 1 && w->col + n > 78) {
		fw_raw(w, "\r\n\t", 3);
		space = 0;
	}
	if (space)
		fw_raw(w, " ", 1);
	fw_raw(w, s, strlen(s));
}

static int
dns_label_text(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= max || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

static int
hash_canonical(void *md, const struct dkim_header *hf, enum dkim_canon canon,
    char *buf, size_t bufsz, int crlf)
{
	ssize_t n;

	if (canon == DKIM_SIMPLE) {
		if (hf->len + 2 > bufsz)
			return -1;
		memcpy(buf, hf->field, hf->len);
		memcpy(buf + hf->len, "\r\n", 2);
		n = (ssize_t)hf->len + 2;
	} else if ((n = dkim_header_relaxed(hf->field, hf->len, buf, bufsz)) ==
	    -1)
		return -1;
	if (!crlf)
		n -= 2;
	return fn.EVP_DigestUpdate(md, buf, (size_t)n) == 1 ? 0 : -1;
}

int
dkim_sign_prepare(const struct dkim_sign_request *req,
    const struct dkim_headers *h, const unsigned char bh[DKIM_DIGEST_LEN],
    struct dkim_template *t, char *err, size_t errsz)
{
	char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX];
	size_t idx[DKIM_SIGN_NAMES_MAX], maxlen, i;
	char tok[SMTP_DOMAIN_MAX + 16], b64[64], *buf = NULL;
	struct field_writer w;
	struct dkim_header self;
	EVP_MD_CTX *md = NULL;
	unsigned int dlen = DKIM_DIGEST_LEN;
	int n, rv = -1;

	if (!dns_label_text(req->domain, SMTP_DOMAIN_MAX + 1) ||
	    !dns_label_text(req->selector, DKIM_SELECTOR_MAX)) {
		set_err(err, errsz, "bad domain or selector");
		return -1;
	}
	if ((n = dkim_select_headers(h, names, idx, err, errsz)) == -1)
		return -1;

	memset(&w, 0, sizeof(w));
	w.buf = t->field;
	w.sz = sizeof(t->field);
	fw_raw(&w, "DKIM-Signature: v=1;", 20);
	snprintf(tok, sizeof(tok), "a=%s;", dkim_alg_name(req->alg));
	fw_token(&w, tok, 1);
	fw_token(&w, "c=relaxed/relaxed;", 1);
	snprintf(tok, sizeof(tok), "d=%s;", req->domain);
	fw_token(&w, tok, 1);
	snprintf(tok, sizeof(tok), "s=%s;", req->selector);
	fw_token(&w, tok, 1);
	snprintf(tok, sizeof(tok), "t=%lld;", (long long)req->time);
	fw_token(&w, tok, 1);
	for (i = 0; i < (size_t)n; i++) {
		snprintf(tok, sizeof(tok), "%s%s%s", i == 0 ? "h=" : "",
		    names[i], i + 1 == (size_t)n ? ";" : ":");
		fw_token(&w, tok, i == 0);
	}
	if (b64_encode(bh, DKIM_DIGEST_LEN, b64, sizeof(b64)) == -1)
		goto done;
	snprintf(tok, sizeof(tok), "bh=%s;", b64);
	fw_token(&w, tok, 1);
	fw_token(&w, "b=", 1);
	if (w.overflow) {
		set_err(err, errsz, "DKIM-Signature too long");
		goto done;
	}
	t->len = w.len;

	/* the signed fields, then this one with b= empty and no CRLF */
	maxlen = t->len;
	for (i = 0; i < (size_t)n; i++)
		if (idx[i] != SIZE_MAX && h->v[idx[i]].len > maxlen)
			maxlen = h->v[idx[i]].len;
	if ((buf = malloc(maxlen + 3)) == NULL ||
	    (md = fn.EVP_MD_CTX_new()) == NULL ||
	    fn.EVP_DigestInit_ex(md, fn.EVP_sha256(), NULL) != 1) {
		set_err(err, errsz, "out of memory");
		goto done;
	}
	for (i = 0; i < (size_t)n; i++)
		if (idx[i] != SIZE_MAX &&
		    hash_canonical(md, &h->v[idx[i]], DKIM_RELAXED, buf,
			maxlen + 3, 1) == -1) {
			set_err(err, errsz, "cannot hash the header");
			goto done;
		}
	self.field = t->field;
	self.len = t->len;
	self.namelen = strlen("DKIM-Signature");
	if (hash_canonical(md, &self, DKIM_RELAXED, buf, maxlen + 3, 0) == -1 ||
	    fn.EVP_DigestFinal_ex(md, t->digest, &dlen) != 1 ||
	    dlen != DKIM_DIGEST_LEN) {
		set_err(err, errsz, "cannot hash the header");
		goto done;
	}
	rv = 0;
done:
	if (md != NULL)
		fn.EVP_MD_CTX_free(md);
	free(buf);
	return rv;
}

ssize_t
dkim_sign_finish(const struct dkim_template *t, const unsigned char *sig,
    size_t siglen, char *out, size_t outsz)
{
	char b64[DKIM_SIG_MAX / 3 * 4 + 8];
	struct field_writer w;
	ssize_t n;
	size_t i, k;

	if (siglen > DKIM_SIG_MAX ||
	    (n = b64_encode(sig, siglen, b64, sizeof(b64))) == -1)
		return -1;
	memset(&w, 0, sizeof(w));
	w.buf = out;
	w.sz = outsz;
	fw_raw(&w, t->field, t->len);
	/* b= fills each line to 78 octets; verifiers drop FWS inside it */
	for (i = 0; i < (size_t)n; i += k) {
		if (w.col >= 78)
			fw_raw(&w, "\r\n\t", 3);
		k = 78 - w.col;
		if (k > (size_t)n - i)
			k = (size_t)n - i;
		fw_raw(&w, b64 + i, k);
	}
	fw_raw(&w, "\r\n", 2);
	if (w.overflow || outsz == 0)
		return -1;
	return (ssize_t)w.len;
}

/* ---- keys */

/* the algorithm of a DER SubjectPublicKeyInfo, by its OID; -1 if neither */
static int
spki_alg(const unsigned char *der, size_t len, enum dkim_alg *alg)
{
	size_t i = 0, n;

	/* SEQUENCE { SEQUENCE { OID ... } ... }; skip two headers */
	for (n = 0; n < 2; n++) {
		if (i + 2 > len || der[i] != 0x30)
			return -1;
		if (der[i + 1] < 0x80)
			i += 2;
		else if (der[i + 1] >= 0x81 && der[i + 1] <= 0x84)
			i += 2 + (der[i + 1] & 0x7f);
		else
			return -1;
	}
	if (i + sizeof(oid_rsa) <= len &&
	    memcmp(der + i, oid_rsa, sizeof(oid_rsa)) == 0)
		*alg = DKIM_RSA_SHA256;
	else if (i + sizeof(oid_ed25519) <= len &&
	    memcmp(der + i, oid_ed25519, sizeof(oid_ed25519)) == 0)
		*alg = DKIM_ED25519_SHA256;
	else
		return -1;
	return 0;
}

static int
pem_no_password(char *buf, int size, int rwflag, void *arg)
{
	return 0;
}

/* signature size; RFC 8301: RSA keys of fewer than 1024 bits are refused */
static int
key_check_size(struct dkim_key *k)
{
	EVP_PKEY_CTX *ctx;
	unsigned char digest[DKIM_DIGEST_LEN] = {0};
	size_t len = 0;
	int rv = -1;

	if (k->alg == DKIM_ED25519_SHA256)
		return 0;
	if ((ctx = fn.EVP_PKEY_CTX_new(k->pkey, NULL)) == NULL)
		return -1;
	if (fn.EVP_PKEY_sign_init(ctx) == 1 &&
	    fn.EVP_PKEY_sign(ctx, NULL, &len, digest, sizeof(digest)) == 1 &&
	    len >= 128 && len <= DKIM_SIG_MAX)
		rv = 0;
	fn.EVP_PKEY_CTX_free(ctx);
	return rv;
}

/* the DER SubjectPublicKeyInfo of a key, malloc'ed; NULL on error */
static unsigned char *
key_spki(EVP_PKEY *pkey, size_t *len)
{
	unsigned char *der, *p;
	int n;

	/* into a buffer of ours: OPENSSL_free() is a macro, not a symbol */
	if ((n = fn.i2d_PUBKEY(pkey, NULL)) <= 0 || n > DKIM_PUBKEY_MAX ||
	    (der = malloc((size_t)n)) == NULL)
		return NULL;
	p = der;
	if (fn.i2d_PUBKEY(pkey, &p) != n) {
		free(der);
		return NULL;
	}
	*len = (size_t)n;
	return der;
}

/* which algorithm a key is for */
static int
key_alg(EVP_PKEY *pkey, enum dkim_alg *alg)
{
	unsigned char *der;
	size_t len;
	int rv;

	if ((der = key_spki(pkey, &len)) == NULL)
		return -1;
	rv = spki_alg(der, len, alg);
	free(der);
	return rv;
}

struct dkim_key *
dkim_key_from_pem(const char *pem, size_t len, char *err, size_t errsz)
{
	struct dkim_key *k;
	BIO *bio;

	if (len > 64 * 1024) {
		set_err(err, errsz, "key file too large");
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		set_err(err, errsz, "out of memory");
		return NULL;
	}
	if ((bio = fn.BIO_new_mem_buf(pem, (int)len)) == NULL) {
		set_err(err, errsz, "out of memory");
		free(k);
		return NULL;
	}
	k->pkey = fn.PEM_read_bio_PrivateKey(bio, NULL, pem_no_password, NULL);
	fn.BIO_free(bio);
	fn.ERR_clear_error();
	if (k->pkey == NULL) {
		set_err(err, errsz, "not a PEM private key");
		goto fail;
	}
	if (key_alg(k->pkey, &k->alg) == -1) {
		set_err(err, errsz, "neither an RSA nor an Ed25519 key");
		goto fail;
	}
	if (key_check_size(k) == -1) {
		set_err(err, errsz, "RSA key shorter than 1024 bits");
		goto fail;
	}
	return k;
fail:
	fn.ERR_clear_error();
	dkim_key_free(k);
	return NULL;
}

struct dkim_key *
dkim_key_from_dns(enum dkim_alg alg, const char *p, char *err, size_t errsz)
{
	unsigned char der[DKIM_PUBKEY_MAX];
	const unsigned char *q = der;
	struct dkim_key *k;
	enum dkim_alg got;
	int n;

	n = b64_decode_fws(p, strlen(p), der, sizeof(der));
	if (n <= 0) {
		set_err(err, errsz, "p= is not base64 or too long");
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		set_err(err, errsz, "out of memory");
		return NULL;
	}
	k->alg = alg;
	if (alg == DKIM_ED25519_SHA256) {
		if (n == 32)
			k->pkey = fn.EVP_PKEY_new_raw_public_key(
			    EVP_PKEY_ED25519, NULL, der, 32);
	} else if (spki_alg(der, (size_t)n, &got) == 0) {
		if (got == DKIM_RSA_SHA256)
			k->pkey = fn.d2i_PUBKEY(NULL, &q, n);
	} else
		/* some publish the bare RSAPublicKey of PKCS#1 */
		k->pkey = fn.d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, n);
	fn.ERR_clear_error();
	if (k->pkey == NULL) {
		set_err(err, errsz, "p= is not a key for this algorithm");
		free(k);
		return NULL;
	}
	return k;
}

enum dkim_alg
dkim_key_alg(const struct dkim_key *k)
{
	return k->alg;
}

void
dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	if (k->pkey != NULL)
		fn.EVP_PKEY_free(k->pkey);
	free(k);
}

int
dkim_key_generate(enum dkim_alg alg, char **pem, size_t *len)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *data;
	long n;
	int rv = -1;

	*pem = NULL;
	ctx = fn.EVP_PKEY_CTX_new_id(
	    alg == DKIM_ED25519_SHA256 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);
	if (ctx == NULL || fn.EVP_PKEY_keygen_init(ctx) != 1)
		goto done;
	if (alg == DKIM_RSA_SHA256 &&
	    fn.EVP_PKEY_CTX_ctrl(ctx, EVP_PKEY_RSA, EVP_PKEY_OP_KEYGEN,
		EVP_PKEY_CTRL_RSA_KEYGEN_BITS, 2048, NULL) <= 0)
		goto done;
	if (fn.EVP_PKEY_keygen(ctx, &pkey) != 1)
		goto done;
	if ((bio = fn.BIO_new(fn.BIO_s_mem())) == NULL ||
	    fn.PEM_write_bio_PKCS8PrivateKey(
		bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		goto done;
	if ((n = fn.BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data)) <= 0 ||
	    (*pem = malloc((size_t)n + 1)) == NULL)
		goto done;
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = '\0';
	*len = (size_t)n;
	explicit_bzero(data, (size_t)n);
	rv = 0;
done:
	fn.ERR_clear_error();
	if (bio != NULL)
		fn.BIO_free(bio);
	if (pkey != NULL)
		fn.EVP_PKEY_free(pkey);
	if (ctx != NULL)
		fn.EVP_PKEY_CTX_free(ctx);
	return rv;
}

int
dkim_key_public(const struct dkim_key *k, char *p, size_t psz)
{
	unsigned char raw[32], *der;
	size_t rawlen = sizeof(raw), len;
	ssize_t rv;

	if (k->alg == DKIM_ED25519_SHA256) {
		if (fn.EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) !=
			1 ||
		    rawlen != sizeof(raw)) {
			fn.ERR_clear_error();
			return -1;
		}
		return b64_encode(raw, rawlen, p, psz) == -1 ? -1 : 0;
	}
	if ((der = key_spki(k->pkey, &len)) == NULL)
		return -1;
	rv = b64_encode(der, len, p, psz);
	free(der);
	return rv == -1 ? -1 : 0;
}

/* an RSA context for PKCS#1 v1.5 with SHA-256's DigestInfo */
static EVP_PKEY_CTX *
rsa_ctx(const struct dkim_key *k, int sign)
{
	EVP_PKEY_CTX *ctx;

	if ((ctx = fn.EVP_PKEY_CTX_new(k->pkey, NULL)) == NULL)
		return NULL;
	if ((sign ? fn.EVP_PKEY_sign_init(ctx)
		  : fn.EVP_PKEY_verify_init(ctx)) != 1 ||
	    fn.EVP_PKEY_CTX_ctrl(ctx, EVP_PKEY_RSA, -1,
		EVP_PKEY_CTRL_RSA_PADDING, RSA_PKCS1_PADDING, NULL) <= 0 ||
	    fn.EVP_PKEY_CTX_ctrl(ctx, -1, EVP_PKEY_OP_TYPE_SIG,
		EVP_PKEY_CTRL_MD, 0, (void *)fn.EVP_sha256()) <= 0) {
		fn.EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
dkim_sign_digest(const struct dkim_key *k,
    const unsigned char digest[DKIM_DIGEST_LEN], unsigned char *sig,
    size_t *siglen, size_t sigsz)
{
	EVP_PKEY_CTX *ctx;
	EVP_MD_CTX *md;
	size_t len = 0;
	int rv = -1;

	if (k->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463 3: Ed25519 (pure) over the SHA-256 digest */
		if ((md = fn.EVP_MD_CTX_new()) == NULL)
			return -1;
		len = sigsz;
		if (fn.EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
		    fn.EVP_DigestSign(md, sig, &len, digest, DKIM_DIGEST_LEN) ==
			1) {
			*siglen = len;
			rv = 0;
		}
		fn.EVP_MD_CTX_free(md);
	} else {
		if ((ctx = rsa_ctx(k, 1)) == NULL)
			goto done;
		if (fn.EVP_PKEY_sign(
			ctx, NULL, &len, digest, DKIM_DIGEST_LEN) == 1 &&
		    len <= sigsz &&
		    fn.EVP_PKEY_sign(ctx, sig, &len, digest, DKIM_DIGEST_LEN) ==
			1) {
			*siglen = len;
			rv = 0;
		}
		fn.EVP_PKEY_CTX_free(ctx);
	}
done:
	fn.ERR_clear_error();
	return rv;
}

int
dkim_verify_digest(const struct dkim_key *k,
    const unsigned char digest[DKIM_DIGEST_LEN], const unsigned char *sig,
    size_t siglen)
{
	EVP_PKEY_CTX *ctx;
	EVP_MD_CTX *md;
	int ok = 0;

	if (k->alg == DKIM_ED25519_SHA256) {
		if (siglen != 64 || (md = fn.EVP_MD_CTX_new()) == NULL)
			return 0;
		ok = fn.EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) ==
			1 &&
		    fn.EVP_DigestVerify(
			md, sig, siglen, digest, DKIM_DIGEST_LEN) == 1;
		fn.EVP_MD_CTX_free(md);
	} else if (siglen >= 128 && (ctx = rsa_ctx(k, 0)) != NULL) {
		/* RSA's signature is as long as its modulus: >= 1024 bits */
		ok = fn.EVP_PKEY_verify(
			 ctx, sig, siglen, digest, DKIM_DIGEST_LEN) == 1;
		fn.EVP_PKEY_CTX_free(ctx);
	}
	fn.ERR_clear_error();
	return ok;
}

/* ---- a DKIM-Signature's tags */

/* a tag's value without its surrounding FWS, as a C string; -1 if long */
static int
tag_copy(char *out, size_t outsz, const char *v, size_t len)
{
	if (len >= outsz)
		return -1;
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

static int
parse_decimal(const char *v, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (n > (max - (uint64_t)(v[i] - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

static int
parse_canon(const char *v, size_t len, struct dkim_signature *sig)
{
	char buf[32], *slash;

	if (tag_copy(buf, sizeof(buf), v, len) == -1)
		return -1;
	sig->bcanon = DKIM_SIMPLE;
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash++ = '\0';
		if (strcmp(slash, "relaxed") == 0)
			sig->bcanon = DKIM_RELAXED;
		else if (strcmp(slash, "simple") != 0)
			return -1;
	}
	if (strcmp(buf, "relaxed") == 0)
		sig->hcanon = DKIM_RELAXED;
	else if (strcmp(buf, "simple") == 0)
		sig->hcanon = DKIM_SIMPLE;
	else
		return -1;
	return 0;
}

/* h=: names separated by colons, FWS around them */
static int
parse_names(const char *v, size_t len, struct dkim_signature *sig)
{
	size_t i = 0, start, end, from = 0, k;

	sig->nnames = 0;
	while (i <= len) {
		while (
		    i < len && (is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
			i++;
		start = i;
		while (i < len && is_ftext((unsigned char)v[i]))
			i++;
		end = i;
		while (
		    i < len && (is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
			i++;
		if (end == start || end - start >= DKIM_NAME_MAX ||
		    sig->nnames == DKIM_SIGN_NAMES_MAX)
			return -1;
		for (k = start; k < end; k++)
			sig->names[sig->nnames][k - start] =
			    (char)tolower((unsigned char)v[k]);
		sig->names[sig->nnames][end - start] = '\0';
		if (strcmp(sig->names[sig->nnames], "from") == 0)
			from++;
		sig->nnames++;
		if (i == len)
			break;
		if (v[i] != ':')
			return -1;
		i++;
	}
	/* RFC 6376 5.4: From must be signed */
	return from > 0 ? 0 : -1;
}

/* one tag of a tag-list (RFC 6376 3.2) */
struct dkim_tag {
	const char *name, *val; /* the value without the FWS around it */
	size_t namelen, vallen;
	size_t vstart, vend; /* the value with its FWS, as offsets */
};

static int
is_fws(unsigned char c)
{
	return is_wsp(c) || c == '\r' || c == '\n';
}

/* the next tag of a tag-list from *pos: 1, 0 at its end, -1 malformed */
static int
tag_next(const char *s, size_t len, size_t *pos, struct dkim_tag *t, char *err,
    size_t errsz)
{
	size_t i = *pos;

	while (i < len && is_fws((unsigned char)s[i]))
		i++;
	if (i == len)
		return 0; /* the end, after a ";" or not */
	t->name = s + i;
	if (!isalpha((unsigned char)s[i])) {
		set_err(err, errsz, "bad tag name");
		return -1;
	}
	while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '_'))
		i++;
	t->namelen = (size_t)(s + i - t->name);
	while (i < len && is_fws((unsigned char)s[i]))
		i++;
	if (i == len || s[i] != '=') {
		set_err(err, errsz, "tag without a value");
		return -1;
	}
	t->vstart = ++i;
	while (i < len && is_fws((unsigned char)s[i]))
		i++;
	t->val = s + i;
	for (; i < len && s[i] != ';'; i++)
		/* VALCHAR and FWS alone; a header field's FWS is CRLF WSP */
		if ((unsigned char)s[i] > 0x7e ||
		    ((unsigned char)s[i] < 0x21 &&
			!is_fws((unsigned char)s[i]))) {
			set_err(err, errsz, "bad octet in a tag");
			return -1;
		}
	t->vend = i;
	for (t->vallen = (size_t)(s + i - t->val);
	     t->vallen > 0 && is_fws((unsigned char)t->val[t->vallen - 1]);
	     t->vallen--)
		;
	*pos = i < len ? i + 1 : i;
	return 1;
}

static int
tag_is(const struct dkim_tag *t, const char *name)
{
	return t->namelen == strlen(name) &&
	    memcmp(t->name, name, t->namelen) == 0;
}

static int
tag_bad(const struct dkim_tag *t, char *err, size_t errsz)
{
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "bad %.*s= tag",
		    (int)(t->namelen < 8 ? t->namelen : 8), t->name);
	return -1;
}

/* the bit of a tag among names, for duplicates and required sets */
static unsigned
tag_bit(const struct dkim_tag *t, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tag_is(t, names[i]))
			return 1u << i;
	return 0;
}

static const char *const sig_tags[] = {
    "v", "a", "b", "c", "d", "h", "l", "s", "t", "x", "bh", "i", "q", "z"};
static const char *const record_tags[] = {"v", "h", "k", "p", "s", "t", "n"};

/* sub is domain or a subdomain of it, in any case */
static int
domain_within(const char *sub, const char *domain)
{
	size_t ls = strlen(sub), ld = strlen(domain);

	if (ls < ld || strcasecmp(sub + ls - ld, domain) != 0)
		return 0;
	return ls == ld || sub[ls - ld - 1] == '.';
}

#define SIG_REQUIRED 0x4b7 /* v a b d h s bh */

int
dkim_signature_parse(struct dkim_signature *sig, const char *field, size_t len,
    char *err, size_t errsz)
{
	const char *colon;
	struct dkim_tag t;
	size_t pos, namelen;
	unsigned seen = 0, bit;
	char buf[SMTP_DOMAIN_MAX + 1], idomain[SMTP_DOMAIN_MAX + 1];
	const char *at;
	uint64_t num;
	int n, rv;

	memset(sig, 0, sizeof(*sig));
	idomain[0] = '\0';
	sig->hcanon = sig->bcanon = DKIM_SIMPLE;
	sig->l = UINT64_MAX;
	sig->t = sig->x = -1;
	if (len > DKIM_HEADER_LEN_MAX ||
	    (colon = memchr(field, ':', len)) == NULL) {
		set_err(err, errsz, "not a header field");
		return -1;
	}
	for (namelen = (size_t)(colon - field);
	     namelen > 0 && is_wsp((unsigned char)field[namelen - 1]);
	     namelen--)
		;
	if (namelen != 14 || strncasecmp(field, "DKIM-Signature", 14) != 0) {
		set_err(err, errsz, "not a DKIM-Signature");
		return -1;
	}
	pos = (size_t)(colon - field) + 1;
	while ((rv = tag_next(field, len, &pos, &t, err, errsz)) == 1) {
		bit = tag_bit(
		    &t, sig_tags, sizeof(sig_tags) / sizeof(sig_tags[0]));
		if (bit != 0) {
			if (seen & bit) {
				set_err(err, errsz, "a tag occurs twice");
				return -1;
			}
			seen |= bit;
		}
		if (tag_is(&t, "v")) {
			if (t.vallen != 1 || t.val[0] != '1')
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "a")) {
			if (tag_copy(buf, sizeof(buf), t.val, t.vallen) == -1 ||
			    dkim_alg_parse(buf, &sig->alg) == -1) {
				set_err(err, errsz, "unsupported algorithm");
				return -1;
			}
		} else if (tag_is(&t, "b")) {
			n = b64_decode_fws(
			    t.val, t.vallen, sig->b, sizeof(sig->b));
			if (n <= 0)
				return tag_bad(&t, err, errsz);
			sig->blen = (size_t)n;
			sig->boff = t.vstart;
			sig->bend = t.vend;
		} else if (tag_is(&t, "bh")) {
			if (b64_decode_fws(t.val, t.vallen, sig->bh,
				sizeof(sig->bh)) != DKIM_DIGEST_LEN)
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "c")) {
			if (parse_canon(t.val, t.vallen, sig) == -1)
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "d")) {
			if (tag_copy(sig->domain, sizeof(sig->domain), t.val,
				t.vallen) == -1 ||
			    !dns_label_text(sig->domain, sizeof(sig->domain)))
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "h")) {
			if (parse_names(t.val, t.vallen, sig) == -1)
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "l")) {
			if (parse_decimal(
				t.val, t.vallen, UINT64_MAX - 1, &sig->l) == -1)
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "s")) {
			if (tag_copy(sig->selector, sizeof(sig->selector),
				t.val, t.vallen) == -1 ||
			    !dns_label_text(
				sig->selector, sizeof(sig->selector)))
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "t") || tag_is(&t, "x")) {
			if (parse_decimal(t.val, t.vallen, INT64_MAX, &num) ==
			    -1)
				return tag_bad(&t, err, errsz);
			if (t.name[0] == 't')
				sig->t = (int64_t)num;
			else
				sig->x = (int64_t)num;
		} else if (tag_is(&t, "i")) {
			at = memrchr(t.val, '@', t.vallen);
			if (at == NULL ||
			    tag_copy(idomain, sizeof(idomain), at + 1,
				(size_t)(t.val + t.vallen - at - 1)) == -1)
				return tag_bad(&t, err, errsz);
		}
	}
	if (rv == -1)
		return -1;
	if ((seen & SIG_REQUIRED) != SIG_REQUIRED) {
		set_err(err, errsz, "a required tag is missing");
		return -1;
	}
	/* RFC 6376 3.5: an expiry after the signing; i= within d= */
	if (sig->t != -1 && sig->x != -1 && sig->x < sig->t) {
		set_err(err, errsz, "x= before t=");
		return -1;
	}
	if (idomain[0] != '\0' && !domain_within(idomain, sig->domain)) {
		set_err(err, errsz, "i= outside d=");
		return -1;
	}
	return 0;
}

/* a colon-separated list (h=, s=, t= of a key record) holds word */
static int
list_has(const char *v, size_t len, const char *word)
{
	size_t i = 0, start, end, wl = strlen(word);

	while (i < len) {
		while (i < len && is_fws((unsigned char)v[i]))
			i++;
		start = i;
		while (i < len && v[i] != ':' && !is_fws((unsigned char)v[i]))
			i++;
		end = i;
		while (i < len && v[i] != ':')
			i++;
		if (end - start == wl && strncasecmp(v + start, word, wl) == 0)
			return 1;
		i++;
	}
	return 0;
}

int
dkim_key_record_parse(struct dkim_key_record *rec, const char *s, size_t len,
    char *err, size_t errsz)
{
	struct dkim_tag t;
	size_t pos = 0, i, n;
	unsigned seen = 0, bit;
	int rv, first = 1;

	memset(rec, 0, sizeof(*rec));
	rec->alg = DKIM_RSA_SHA256;
	if (len > 4 * DKIM_PUBKEY_MAX) {
		set_err(err, errsz, "key record too long");
		return -1;
	}
	while ((rv = tag_next(s, len, &pos, &t, err, errsz)) == 1) {
		bit = tag_bit(&t, record_tags,
		    sizeof(record_tags) / sizeof(record_tags[0]));
		if (seen & bit) {
			set_err(err, errsz, "a tag occurs twice");
			return -1;
		}
		seen |= bit;
		if (tag_is(&t, "v")) {
			if (!first || t.vallen != 5 ||
			    memcmp(t.val, "DKIM1", 5) != 0)
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "h")) {
			if (!list_has(t.val, t.vallen, "sha256"))
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "k")) {
			if (t.vallen == 3 && memcmp(t.val, "rsa", 3) == 0)
				rec->alg = DKIM_RSA_SHA256;
			else if (t.vallen == 7 &&
			    memcmp(t.val, "ed25519", 7) == 0)
				rec->alg = DKIM_ED25519_SHA256;
			else {
				set_err(err, errsz, "unsupported key type");
				return -1;
			}
		} else if (tag_is(&t, "p")) {
			for (i = n = 0; i < t.vallen; i++) {
				if (is_fws((unsigned char)t.val[i]))
					continue;
				if (n + 1 == sizeof(rec->p))
					return tag_bad(&t, err, errsz);
				rec->p[n++] = t.val[i];
			}
			rec->p[n] = '\0';
		} else if (tag_is(&t, "s")) {
			if (!list_has(t.val, t.vallen, "email") &&
			    !list_has(t.val, t.vallen, "*"))
				return tag_bad(&t, err, errsz);
		} else if (tag_is(&t, "t")) {
			rec->testing = list_has(t.val, t.vallen, "y");
			rec->strict = list_has(t.val, t.vallen, "s");
		}
		first = 0;
	}
	if (rv == -1)
		return -1;
	if (!(seen & 8)) { /* p= */
		set_err(err, errsz, "no p= tag");
		return -1;
	}
	return 0;
}

int
dkim_verify_prepare(const struct dkim_headers *h, size_t sigidx,
    const struct dkim_signature *sig, unsigned char digest[DKIM_DIGEST_LEN],
    char *err, size_t errsz)
{
	const struct dkim_header *self;
	struct dkim_header emptied;
	unsigned char *used = NULL;
	EVP_MD_CTX *md = NULL;
	char *buf = NULL, *copy = NULL;
	size_t i, j, maxlen = 0;
	unsigned int dlen = DKIM_DIGEST_LEN;
	int rv = -1;

	if (sigidx >= h->n) {
		set_err(err, errsz, "no such signature field");
		return -1;
	}
	self = &h->v[sigidx];
	if (sig->boff > sig->bend || sig->bend > self->len) {
		set_err(err, errsz, "signature does not match its field");
		return -1;
	}
	for (i = 0; i < h->n; i++)
		if (h->v[i].len > maxlen)
			maxlen = h->v[i].len;
	if ((used = calloc(h->n, 1)) == NULL ||
	    (buf = malloc(maxlen + 3)) == NULL ||
	    (copy = malloc(self->len + 1)) == NULL ||
	    (md = fn.EVP_MD_CTX_new()) == NULL ||
	    fn.EVP_DigestInit_ex(md, fn.EVP_sha256(), NULL) != 1) {
		set_err(err, errsz, "out of memory");
		goto done;
	}
	for (i = 0; i < sig->nnames; i++) {
		/* the lowest instance not used yet; none is the empty string */
		for (j = h->n; j-- > 0;)
			if (!used[j] && j != sigidx &&
			    name_is(&h->v[j], sig->names[i]))
				break;
		if (j == SIZE_MAX)
			continue;
		used[j] = 1;
		if (hash_canonical(
			md, &h->v[j], sig->hcanon, buf, maxlen + 3, 1) == -1) {
			set_err(err, errsz, "cannot hash the header");
			goto done;
		}
	}
	memcpy(copy, self->field, sig->boff);
	memcpy(
	    copy + sig->boff, self->field + sig->bend, self->len - sig->bend);
	emptied.field = copy;
	emptied.len = self->len - (sig->bend - sig->boff);
	emptied.namelen = self->namelen;
	if (hash_canonical(md, &emptied, sig->hcanon, buf, maxlen + 3, 0) ==
		-1 ||
	    fn.EVP_DigestFinal_ex(md, digest, &dlen) != 1 ||
	    dlen != DKIM_DIGEST_LEN) {
		set_err(err, errsz, "cannot hash the header");
		goto done;
	}
	rv = 0;
done:
	if (md != NULL)
		fn.EVP_MD_CTX_free(md);
	free(copy);
	free(buf);
	free(used);
	return rv;
}
