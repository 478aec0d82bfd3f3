/*
 * dkim_tool: common/dkim.c from the command line, for test_dkim_tool.py.
 *
 *	dkim_tool sign KEYFILE DOMAIN SELECTOR [KEYFILE DOMAIN SELECTOR ...]
 *	    < msg	the message with a DKIM-Signature per key, the first
 *			key's on top
 *	dkim_tool verify PUBKEY-B64|RECORD ALG < msg
 *			checks the first DKIM-Signature with the p= value or
 *			the whole key record ("v=DKIM1; k=...; p=..."):
 *			"pass", exit 0, or "fail: why", exit 1
 *	dkim_tool keygen rsa|ed25519 KEYFILE
 *	dkim_tool pubkey KEYFILE	the DNS p= value
 *
 * A message with bare LF line ends is taken as if they were CRLF.
 */

#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: dkim_tool sign KEYFILE DOMAIN SELECTOR ... < msg\n"
	    "       dkim_tool verify PUBKEY-B64|RECORD ALG < msg\n"
	    "       dkim_tool keygen rsa|ed25519 KEYFILE\n"
	    "       dkim_tool pubkey KEYFILE\n");
	exit(2);
}

/* all of fd; LF-only line ends become CRLF if crlf */
static char *
read_all(int fd, size_t *lenp, int crlf)
{
	char *buf = NULL, *nb, *out;
	size_t len = 0, sz = 0, i, n;
	ssize_t r;

	for (;;) {
		if (len == sz) {
			sz = sz == 0 ? 65536 : sz * 2;
			if ((nb = realloc(buf, sz)) == NULL)
				err(1, "realloc");
			buf = nb;
		}
		if ((r = read(fd, buf + len, sz - len)) == -1)
			err(1, "read");
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (!crlf) {
		*lenp = len;
		return buf;
	}
	if ((out = malloc(len * 2 + 1)) == NULL)
		err(1, "malloc");
	for (i = n = 0; i < len; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = buf[i];
	}
	out[n] = '\0';
	free(buf);
	*lenp = n;
	return out;
}

static struct dkim_key *
load_key(const char *path)
{
	struct dkim_key *key;
	char *pem, errbuf[128];
	size_t len;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		err(1, "%s", path);
	pem = read_all(fd, &len, 0);
	close(fd);
	if ((key = dkim_key_from_pem(pem, len, errbuf, sizeof(errbuf))) == NULL)
		errx(1, "%s: %s", path, errbuf);
	freezero(pem, len);
	return key;
}

static int
cmd_sign(int argc, char **argv)
{
	struct dkim_message m;
	struct dkim_sign_request req;
	struct dkim_template t;
	struct dkim_key *key;
	unsigned char sig[DKIM_SIG_MAX];
	char *msg, errbuf[128], (*fields)[DKIM_SIGNED_FIELD_MAX];
	size_t len, siglen;
	int i, n;

	if (argc < 3 || argc % 3 != 0)
		usage();
	msg = read_all(STDIN_FILENO, &len, 1);
	if (dkim_message_init(&m) == -1)
		errx(1, "out of memory");
	if (dkim_message_update(&m, msg, len, errbuf, sizeof(errbuf)) == -1 ||
	    dkim_message_final(&m, errbuf, sizeof(errbuf)) == -1)
		errx(1, "%s", errbuf);
	if ((fields = calloc((size_t)argc / 3, sizeof(*fields))) == NULL)
		err(1, "calloc");
	for (i = 0; i < argc; i += 3) {
		key = load_key(argv[i]);
		req.alg = dkim_key_alg(key);
		req.domain = argv[i + 1];
		req.selector = argv[i + 2];
		req.time = time(NULL);
		if (dkim_sign_prepare(&req, &m.headers, m.bh, &t, errbuf,
			sizeof(errbuf)) == -1)
			errx(1, "%s", errbuf);
		if (dkim_sign_digest(
			key, t.digest, sig, &siglen, sizeof(sig)) == -1)
			errx(1, "cannot sign");
		n = (int)dkim_sign_finish(
		    &t, sig, siglen, fields[i / 3], sizeof(fields[i / 3]));
		if (n == -1)
			errx(1, "signature field too long");
		dkim_key_free(key);
	}
	for (i = 0; i < argc / 3; i++)
		fputs(fields[i], stdout);
	fwrite(msg, 1, len, stdout);
	dkim_message_free(&m);
	free(fields);
	free(msg);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* the result of cmd_verify: NULL is a pass */
static int
verdict(const char *why)
{
	if (why == NULL)
		printf("pass\n");
	else
		printf("fail: %s\n", why);
	return why == NULL ? 0 : 1;
}

static int
cmd_verify(const char *p, const char *algname)
{
	struct dkim_headers h = {NULL, 0};
	struct dkim_signature *sig;
	struct dkim_key_record rec;
	struct dkim_body body;
	struct dkim_key *key = NULL;
	enum dkim_alg alg;
	unsigned char bh[DKIM_DIGEST_LEN], digest[DKIM_DIGEST_LEN];
	char *msg, errbuf[128];
	const char *why = errbuf;
	size_t len, off, i;
	uint64_t blen;

	if (dkim_alg_parse(algname, &alg) == -1)
		usage();
	msg = read_all(STDIN_FILENO, &len, 1);
	if ((sig = malloc(sizeof(*sig))) == NULL)
		err(1, "malloc");
	if (dkim_headers_parse(&h, msg, len, &off, errbuf, sizeof(errbuf)) ==
	    -1)
		goto done;
	for (i = 0; i < h.n; i++)
		if (h.v[i].namelen == 14 &&
		    strncasecmp(h.v[i].field, "DKIM-Signature", 14) == 0)
			break;
	if (i == h.n) {
		why = "no DKIM-Signature";
		goto done;
	}
	if (dkim_signature_parse(
		sig, h.v[i].field, h.v[i].len, errbuf, sizeof(errbuf)) == -1)
		goto done;
	if (sig->alg != alg) {
		why = "another algorithm";
		goto done;
	}
	if (dkim_body_init(&body, sig->bcanon, sig->l) == -1 ||
	    dkim_body_update(&body, msg + off, len - off) == -1 ||
	    dkim_body_final(&body, bh, &blen) == -1)
		errx(1, "cannot hash the body");
	if (sig->l != UINT64_MAX && blen < sig->l) {
		why = "body shorter than l=";
		goto done;
	}
	if (memcmp(bh, sig->bh, sizeof(bh)) != 0) {
		why = "body hash mismatch";
		goto done;
	}
	if (dkim_verify_prepare(&h, i, sig, digest, errbuf, sizeof(errbuf)) ==
	    -1)
		goto done;
	/* base64 has no ";" and no "=" but at its end */
	if (strchr(p, ';') != NULL || (p[0] != '\0' && p[1] == '=')) {
		if (dkim_key_record_parse(
			&rec, p, strlen(p), errbuf, sizeof(errbuf)) == -1)
			goto done;
		if (rec.alg != alg) {
			why = "key record of another algorithm";
			goto done;
		}
		if (rec.p[0] == '\0') {
			why = "key revoked";
			goto done;
		}
		p = rec.p;
	}
	if ((key = dkim_key_from_dns(alg, p, errbuf, sizeof(errbuf))) == NULL)
		goto done;
	why = dkim_verify_digest(key, digest, sig->b, sig->blen)
	    ? NULL
	    : "signature mismatch";
done:
	dkim_key_free(key);
	dkim_headers_free(&h);
	free(sig);
	free(msg);
	return verdict(why);
}

static int
cmd_keygen(const char *algname, const char *path)
{
	enum dkim_alg alg;
	char *pem;
	size_t len;
	int fd;

	if (strcmp(algname, "rsa") == 0)
		alg = DKIM_RSA_SHA256;
	else if (strcmp(algname, "ed25519") == 0)
		alg = DKIM_ED25519_SHA256;
	else
		usage();
	if (dkim_key_generate(alg, &pem, &len) == -1)
		errx(1, "cannot generate a key");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		err(1, "%s", path);
	if (write(fd, pem, len) != (ssize_t)len || close(fd) == -1)
		err(1, "%s", path);
	freezero(pem, len);
	return 0;
}

static int
cmd_pubkey(const char *path)
{
	struct dkim_key *key;
	char p[DKIM_PUBKEY_MAX];

	key = load_key(path);
	if (dkim_key_public(key, p, sizeof(p)) == -1)
		errx(1, "cannot encode the public key");
	printf("%s\n", p);
	dkim_key_free(key);
	return 0;
}

int
main(int argc, char **argv)
{
	log_init(1, LOG_LEVEL_INFO, "dkim_tool");
	dkim_load();
	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 2, argv + 2);
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "pubkey") == 0)
		return cmd_pubkey(argv[2]);
	usage();
}
