/*
 * signer.c: keys from PEM (bad ones refused, the set unchanged), which
 * keys sign for a domain, and the sign request handler over a real
 * socketpair: a digest in, a signature out that verifies with the
 * public key as DNS publishes it; unknown keys answered, malformed
 * requests refused.
 */

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "signerd.h"
#include "test.h"

static char *pem_rsa, *pem_rsa2, *pem_ed, *pem_ed2;
static size_t len_rsa, len_rsa2, len_ed, len_ed2;

static void
test_keys(struct signer_keys *keys)
{
	char err[256];
	const struct signer_key *rsa, *ed;
	size_t n;

	CHECK("add rsa", signer_keys_add(keys, "Example.ORG", "b20261208r",
			     pem_rsa, len_rsa, err, sizeof(err)) == 0);
	CHECK("add ed25519", signer_keys_add(keys, "example.org", "b20261208e",
				 pem_ed, len_ed, err, sizeof(err)) == 0);
	CHECK("add newer rsa", signer_keys_add(keys, "example.org",
				   "b20261208r02", pem_rsa2, len_rsa2, err,
				   sizeof(err)) == 0);
	CHECK("add by hand", signer_keys_add(keys, "example.org", "default",
				 pem_ed2, len_ed2, err, sizeof(err)) == 0);
	CHECK("add other domain", signer_keys_add(keys, "other.test",
				      "b20251101e", pem_ed2, len_ed2, err,
				      sizeof(err)) == 0);
	n = keys->n;
	CHECK("refuse garbage", signer_keys_add(keys, "example.org", "x",
				    "-----BEGIN PRIVATE KEY-----\nAAAA\n",
				    34, err, sizeof(err)) == -1 &&
		keys->n == n);
	CHECK("refuse empty", signer_keys_add(keys, "example.org", "x", "", 0,
				  err, sizeof(err)) == -1 &&
		keys->n == n);
	CHECK("refuse rsa named ed25519",
	    signer_keys_add(keys, "example.org", "b20261209e", pem_rsa,
		len_rsa, err, sizeof(err)) == -1 &&
		keys->n == n);
	CHECK("refuse bad domain", signer_keys_add(keys, "a/b", "s", pem_ed,
				       len_ed, err, sizeof(err)) == -1 &&
		keys->n == n);
	CHECK("refuse bad selector",
	    signer_keys_add(keys, "example.org", "../s", pem_ed, len_ed, err,
		sizeof(err)) == -1 &&
		keys->n == n);
	signer_keys_done(keys);

	CHECK("find", signer_keys_find(keys, "EXAMPLE.org", "b20261208r") !=
		NULL);
	CHECK("find none", signer_keys_find(keys, "example.org", "nope") ==
			       NULL &&
		signer_keys_find(keys, "nope.org", "b20261208r") == NULL);
	CHECK("signing", signer_keys_signing(keys, 0, &rsa, &ed) == 4 &&
		rsa != NULL && strcmp(rsa->selector, "b20261208r02") == 0 &&
		ed != NULL && strcmp(ed->selector, "b20261208e") == 0);
	CHECK("signing other", signer_keys_signing(keys, 4, &rsa, &ed) == 5 &&
		rsa == NULL && ed != NULL &&
		strcmp(ed->selector, "b20251101e") == 0);
	CHECK("public keys",
	    strlen(signer_keys_find(keys, "example.org", "b20261208r")->p) >
		    300 &&
		strlen(signer_keys_find(keys, "example.org", "b20261208e")->p) ==
		    44);
}

static void
request(struct msg_writer *w, uint64_t reqid, const char *domain,
    const char *selector, uint32_t alg, const unsigned char *digest)
{
	msg_writer_init(w);
	msg_put_u64(w, reqid);
	msg_put_str(w, domain);
	msg_put_str(w, selector);
	msg_put_u32(w, alg);
	msg_put_data(w, digest, DKIM_DIGEST_LEN);
}

/* one request over the socketpair, answered by the handler */
static int
round_trip(struct imsgbuf *client, struct imsgbuf *server,
    const struct signer_keys *keys, struct msg_writer *req, uint64_t *reqid,
    uint32_t *status, unsigned char *sig, size_t *siglen)
{
	struct msg_writer reply;
	struct msg_reader r;
	struct imsg imsg;
	uint32_t len;
	int rv;

	if (imsgbuf_compose(client, IMSG_SIGNER_SIGN, 0, -1, req->buf,
		req->len) == -1 ||
	    imsgbuf_flush(client) != 1)
		return -1;
	msg_writer_free(req);
	while ((rv = imsgbuf_get(server, &imsg)) == 0)
		if (imsgbuf_read(server) != 1)
			return -1;
	if (rv == -1 || imsg.hdr.type != IMSG_SIGNER_SIGN)
		return -1;
	msg_writer_init(&reply);
	rv = signer_sign_request(keys, imsg.data, imsg.datalen, &reply);
	imsg_free(&imsg);
	if (rv == -1) {
		msg_writer_free(&reply);
		return -2;
	}
	if (imsgbuf_compose(server, IMSG_SIGNER_SIGNATURE, 0, -1, reply.buf,
		reply.len) == -1 ||
	    imsgbuf_flush(server) != 1)
		return -1;
	msg_writer_free(&reply);
	while ((rv = imsgbuf_get(client, &imsg)) == 0)
		if (imsgbuf_read(client) != 1)
			return -1;
	if (rv == -1 || imsg.hdr.type != IMSG_SIGNER_SIGNATURE)
		return -1;
	msg_reader_init(&r, imsg.data, imsg.datalen);
	rv = msg_get_u64(&r, reqid) == -1 || msg_get_u32(&r, status) == -1 ||
	    msg_get_u32(&r, &len) == -1 || len > DKIM_SIG_MAX ||
	    msg_get_data(&r, sig, len) == -1 || msg_get_end(&r) == -1;
	*siglen = len;
	imsg_free(&imsg);
	return rv ? -1 : 0;
}

static int
verifies(const struct signer_key *k, const unsigned char *digest,
    const unsigned char *sig, size_t siglen)
{
	struct dkim_key *pub;
	char err[256];
	int ok;

	if ((pub = dkim_key_from_dns(k->alg, k->p, err, sizeof(err))) == NULL)
		return 0;
	ok = dkim_verify_digest(pub, digest, sig, siglen) == 1;
	dkim_key_free(pub);
	return ok;
}

static void
test_sign(const struct signer_keys *keys)
{
	struct imsgbuf client, server;
	struct msg_writer w, reply;
	unsigned char digest[DKIM_DIGEST_LEN], sig[DKIM_SIG_MAX];
	const struct signer_key *k;
	uint64_t reqid;
	uint32_t status;
	size_t siglen, i;
	int fds[2], ok;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1) {
		CHECK("socketpair", 0);
		return;
	}
	imsgbuf_init(&client, fds[0], IMSG_MAX_SIZE);
	imsgbuf_init(&server, fds[1], IMSG_MAX_SIZE);
	for (i = 0; i < sizeof(digest); i++)
		digest[i] = (unsigned char)(i * 7 + 1);

	k = signer_keys_find(keys, "example.org", "b20261208r02");
	request(&w, 41, "example.org", "b20261208r02", DKIM_RSA_SHA256,
	    digest);
	CHECK("rsa round trip",
	    round_trip(&client, &server, keys, &w, &reqid, &status, sig,
		&siglen) == 0 &&
		reqid == 41 && status == SIGNER_OK && siglen == 256 &&
		verifies(k, digest, sig, siglen));
	digest[0] ^= 1;
	CHECK("rsa other digest fails", !verifies(k, digest, sig, siglen));

	k = signer_keys_find(keys, "example.org", "b20261208e");
	request(&w, 42, "EXAMPLE.ORG", "b20261208e", DKIM_ED25519_SHA256,
	    digest);
	CHECK("ed25519 round trip",
	    round_trip(&client, &server, keys, &w, &reqid, &status, sig,
		&siglen) == 0 &&
		reqid == 42 && status == SIGNER_OK && siglen == 64 &&
		verifies(k, digest, sig, siglen));

	request(&w, 43, "example.org", "b20200101r", DKIM_RSA_SHA256, digest);
	CHECK("unknown selector",
	    round_trip(&client, &server, keys, &w, &reqid, &status, sig,
		&siglen) == 0 &&
		reqid == 43 && status == SIGNER_NOKEY && siglen == 0);
	request(&w, 44, "example.org", "b20261208e", DKIM_RSA_SHA256, digest);
	CHECK("algorithm not the key's",
	    round_trip(&client, &server, keys, &w, &reqid, &status, sig,
		&siglen) == 0 &&
		reqid == 44 && status == SIGNER_NOKEY);
	request(&w, 45, "example.org", "b20261208e", 7, digest);
	CHECK("unknown algorithm refused",
	    round_trip(&client, &server, keys, &w, &reqid, &status, sig,
		&siglen) == -2);

	/* every prefix of a request, and one octet more, are malformed */
	request(&w, 46, "example.org", "b20261208e", DKIM_ED25519_SHA256,
	    digest);
	ok = 1;
	for (i = 0; i < w.len; i++) {
		msg_writer_init(&reply);
		if (signer_sign_request(keys, w.buf, i, &reply) != -1)
			ok = 0;
		msg_writer_free(&reply);
	}
	CHECK("prefixes refused", ok);
	msg_put_u8(&w, 0);
	msg_writer_init(&reply);
	CHECK("trailing octet refused",
	    signer_sign_request(keys, w.buf, w.len, &reply) == -1);
	msg_writer_free(&reply);
	msg_writer_free(&w);
	/* names past their bounds */
	msg_writer_init(&w);
	msg_put_u64(&w, 1);
	{
		char big[400];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		msg_put_str(&w, big);
	}
	msg_put_str(&w, "s");
	msg_put_u32(&w, DKIM_RSA_SHA256);
	msg_put_data(&w, digest, sizeof(digest));
	msg_writer_init(&reply);
	CHECK("long domain refused",
	    signer_sign_request(keys, w.buf, w.len, &reply) == -1);
	msg_writer_free(&reply);
	msg_writer_free(&w);

	imsgbuf_clear(&client);
	imsgbuf_clear(&server);
	close(fds[0]);
	close(fds[1]);
}

/* sign with every key of the set and check each signature; 0 if all do */
static int
sign_all(const struct signer_keys *keys)
{
	struct msg_writer req, reply;
	struct msg_reader r;
	unsigned char digest[DKIM_DIGEST_LEN], sig[DKIM_SIG_MAX];
	uint64_t reqid;
	uint32_t status, len;
	size_t i;

	memset(digest, 0x5a, sizeof(digest));
	for (i = 0; i < keys->n; i++) {
		request(&req, i, keys->v[i].domain, keys->v[i].selector,
		    keys->v[i].alg, digest);
		msg_writer_init(&reply);
		if (signer_sign_request(keys, req.buf, req.len, &reply) == -1)
			return -1;
		msg_reader_init(&r, reply.buf, reply.len);
		if (msg_get_u64(&r, &reqid) == -1 ||
		    msg_get_u32(&r, &status) == -1 ||
		    msg_get_u32(&r, &len) == -1 || len > sizeof(sig) ||
		    msg_get_data(&r, sig, len) == -1 || status != SIGNER_OK ||
		    !verifies(&keys->v[i], digest, sig, len))
			return -1;
		msg_writer_free(&req);
		msg_writer_free(&reply);
	}
	return 0;
}

/*
 * As the signer runs: the library loaded and the first keys parsed
 * before the filter, signing and a reload's keys after it, in a process
 * whose random generator has not been used before the filter.  With -S's
 * debug mode a forbidden call is named on stderr, exit 3.
 */
static void
test_sandboxed(void)
{
	struct signer_keys keys = {0};
	char err[256];
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) == -1) {
		CHECK("sandboxed fork", 0);
		return;
	}
	if (pid == 0) {
		log_init(1, 0, "test_signer");
		dkim_load();
		if (signer_keys_add(&keys, "example.org", "b20261208r", pem_rsa,
			len_rsa, err, sizeof(err)) == -1)
			_exit(10);
		sandbox_set_debug(1);
		sandbox_init(&sandbox_profile_signer);
		if (signer_keys_add(&keys, "example.org", "b20261208e", pem_ed,
			len_ed, err, sizeof(err)) == -1)
			_exit(11);
		signer_keys_done(&keys);
		_exit(sign_all(&keys) == 0 ? 0 : 12);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	CHECK("signs inside the signer's filter",
	    WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* keys made in a child: this process's generator stays unused */
static int
generate(void)
{
	char *pem[4];
	size_t len[4], i;
	ssize_t n;
	uint32_t l;
	int fds[2], status, ok = 1;
	pid_t pid;
	FILE *f;

	if (pipe(fds) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		dkim_load();
		for (i = 0; i < 4; i++) {
			if (dkim_key_generate(i < 2 ? DKIM_RSA_SHA256
						    : DKIM_ED25519_SHA256,
				&pem[i], &len[i]) == -1)
				_exit(1);
			l = (uint32_t)len[i];
			if (write_all(fds[1], &l, sizeof(l)) == -1 ||
			    write_all(fds[1], pem[i], len[i]) == -1)
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	if ((f = fdopen(fds[0], "r")) == NULL)
		return -1;
	for (i = 0; i < 4 && ok; i++) {
		if (fread(&l, sizeof(l), 1, f) != 1 || l > 65536) {
			ok = 0;
			break;
		}
		pem[i] = xcalloc(1, (size_t)l + 1);
		len[i] = l;
		n = (ssize_t)fread(pem[i], 1, l, f);
		if (n != (ssize_t)l)
			ok = 0;
	}
	fclose(f);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	pem_rsa = pem[0], len_rsa = len[0];
	pem_rsa2 = pem[1], len_rsa2 = len[1];
	pem_ed = pem[2], len_ed = len[2];
	pem_ed2 = pem[3], len_ed2 = len[3];
	return 0;
}

int
main(void)
{
	struct signer_keys keys = {0};

	if (generate() == -1) {
		CHECK("generate", 0);
		TEST_EXIT();
	}
	test_sandboxed();
	dkim_load();
	test_keys(&keys);
	test_sign(&keys);
	signer_keys_free(&keys);
	CHECK("freed", keys.n == 0 && keys.v == NULL);
	freezero(pem_rsa, len_rsa);
	freezero(pem_rsa2, len_rsa2);
	freezero(pem_ed, len_ed);
	freezero(pem_ed2, len_ed2);
	TEST_EXIT();
}
