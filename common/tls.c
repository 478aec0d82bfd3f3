/*
 * TLS for the roles that speak it.  OpenSSL and libevent's OpenSSL
 * bufferevents are loaded with dlopen() by those roles alone (before
 * they chroot): every other process is spared the half megabyte of
 * private relocated data the libraries cost each process that maps them.
 */

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "common.h"

#define TLS_FUNCTIONS(X)                         \
	X(crypto, OPENSSL_init_crypto)           \
	X(ssl, SSL_CTX_new)                      \
	X(ssl, SSL_CTX_free)                     \
	X(ssl, TLS_server_method)                \
	X(ssl, TLS_client_method)                \
	X(ssl, SSL_CTX_ctrl)                     \
	X(ssl, SSL_CTX_set_options)              \
	X(ssl, SSL_CTX_set_security_level)       \
	X(ssl, SSL_CTX_use_certificate)          \
	X(ssl, SSL_CTX_use_PrivateKey)           \
	X(ssl, SSL_CTX_check_private_key)        \
	X(ssl, SSL_CTX_set_verify)               \
	X(ssl, SSL_CTX_load_verify_locations)    \
	X(ssl, SSL_new)                          \
	X(ssl, SSL_free)                         \
	X(ssl, SSL_ctrl)                         \
	X(ssl, SSL_get0_param)                   \
	X(ssl, SSL_get_verify_result)            \
	X(ssl, SSL_get_peer_cert_chain)          \
	X(ssl, SSL_get_version)                  \
	X(ssl, SSL_get_current_cipher)           \
	X(ssl, SSL_CIPHER_get_name)              \
	X(crypto, BIO_new_mem_buf)               \
	X(crypto, BIO_free)                      \
	X(crypto, PEM_read_bio_X509)             \
	X(crypto, PEM_read_bio_PrivateKey)       \
	X(crypto, X509_free)                     \
	X(crypto, EVP_PKEY_free)                 \
	X(crypto, ERR_clear_error)               \
	X(crypto, X509_get_default_cert_file)    \
	X(crypto, X509_VERIFY_PARAM_set1_host)   \
	X(crypto, X509_verify_cert_error_string) \
	X(evssl, bufferevent_openssl_socket_new) \
	X(evssl, bufferevent_openssl_get_ssl)    \
	X(evssl, bufferevent_openssl_set_allow_dirty_shutdown)

#define TLS_POINTER(lib, name) __typeof__(name) *name;
static struct {
	TLS_FUNCTIONS(TLS_POINTER)
} fn;

#define TLS_LOOKUP(lib, name)                                           \
	if ((fn.name = (__typeof__(fn.name))dlsym(lib, #name)) == NULL) \
		fatalx("%s: %s", #name, dlerror());

void
tls_load(void)
{
	void *ssl, *crypto, *evssl;

	if (fn.SSL_CTX_new != NULL)
		return;
	if ((crypto = dlopen(TLS_LIBCRYPTO, RTLD_NOW | RTLD_GLOBAL)) == NULL ||
	    (ssl = dlopen(TLS_LIBSSL, RTLD_NOW | RTLD_GLOBAL)) == NULL ||
	    (evssl = dlopen(TLS_LIBEVENT_OPENSSL, RTLD_NOW)) == NULL)
		fatalx("cannot load TLS libraries: %s", dlerror());
	TLS_FUNCTIONS(TLS_LOOKUP)
	/*
	 * No openssl.cnf: a jailed role could not read it later, and boxd
	 * sets its own policy (TLS 1.2 or later, security level 2).  The
	 * rest of OpenSSL's initialisation waits for the first client.
	 */
	if (fn.OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		fatalx("cannot initialise OpenSSL");
}

/* boxd's policy, the same both ways: TLS 1.2 or later, security level 2 */
static SSL_CTX *
tls_ctx_new(const SSL_METHOD *method, char *err, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = fn.SSL_CTX_new(method)) == NULL) {
		strlcpy(err, "cannot create a TLS context", errsz);
		return NULL;
	}
	fn.SSL_CTX_ctrl(
	    ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
	fn.SSL_CTX_set_security_level(ctx, 2);
	/* an idle session (IMAP IDLE) keeps no 34 KB of record buffers */
	fn.SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS, NULL);
#ifdef SSL_OP_NO_RENEGOTIATION
	fn.SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
#endif
	return ctx;
}

void *
tls_server_ctx_new(
    const char *cert_pem, const char *key_pem, char *err, size_t errsz)
{
	SSL_CTX *ctx;
	BIO *bio;
	X509 *x509;
	EVP_PKEY *key;

	tls_load();
	if ((ctx = tls_ctx_new(fn.TLS_server_method(), err, errsz)) == NULL)
		return NULL;
	if ((bio = fn.BIO_new_mem_buf(cert_pem, -1)) == NULL)
		goto fail;
	if ((x509 = fn.PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    fn.SSL_CTX_use_certificate(ctx, x509) != 1) {
		strlcpy(err, "cannot load the certificate", errsz);
		fn.BIO_free(bio);
		goto fail;
	}
	fn.X509_free(x509);
	/* the rest of the file is the chain; the context owns each one */
	while ((x509 = fn.PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (fn.SSL_CTX_ctrl(ctx, SSL_CTRL_EXTRA_CHAIN_CERT, 0, x509) !=
		    1) {
			strlcpy(
			    err, "cannot load the certificate chain", errsz);
			fn.X509_free(x509);
			fn.BIO_free(bio);
			goto fail;
		}
	fn.ERR_clear_error();
	fn.BIO_free(bio);
	if ((bio = fn.BIO_new_mem_buf(key_pem, -1)) == NULL)
		goto fail;
	key = fn.PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	fn.BIO_free(bio);
	if (key == NULL || fn.SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		strlcpy(err, "cannot load the key", errsz);
		if (key != NULL)
			fn.EVP_PKEY_free(key);
		goto fail;
	}
	fn.EVP_PKEY_free(key);
	if (fn.SSL_CTX_check_private_key(ctx) != 1) {
		strlcpy(err, "the key does not match the certificate", errsz);
		goto fail;
	}
	return ctx;
fail:
	if (err[0] == '\0')
		strlcpy(err, "out of memory", errsz);
	fn.SSL_CTX_free(ctx);
	return NULL;
}

void *
tls_client_ctx(const char *cafile, char *err, size_t errsz)
{
	SSL_CTX *ctx;

	tls_load();
	if ((ctx = tls_ctx_new(fn.TLS_client_method(), err, errsz)) == NULL)
		return NULL;
	/*
	 * The trust store is read whole now, as one file: a jailed role
	 * could not open it later, and the hashed directory OpenSSL would
	 * otherwise search lazily is out of reach of a sandboxed one.
	 */
	if (cafile == NULL)
		cafile = fn.X509_get_default_cert_file();
	if (fn.SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
		snprintf(err, errsz, "cannot load the trust store %s", cafile);
		fn.ERR_clear_error();
		fn.SSL_CTX_free(ctx);
		return NULL;
	}
	/* opportunistic: the handshake goes on, tls_verified() tells */
	fn.SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* sessions that use it keep their own reference */
void
tls_ctx_free(void *ctx)
{
	if (ctx != NULL)
		fn.SSL_CTX_free(ctx);
}

/*
 * Takes ssl whatever happens: the bufferevent frees it with itself, and
 * under BEV_OPT_CLOSE_ON_FREE libevent frees it on its own failure paths
 * too (2.1's bufferevent_openssl_socket_new and its _new_impl alike), so
 * it must not be freed here again.  fd is closed with the bufferevent; on
 * failure it is left to the caller.
 */
static struct bufferevent *
tls_bufferevent(
    struct event_base *base, int fd, SSL *ssl, enum bufferevent_ssl_state state)
{
	struct bufferevent *bev;

	bev = fn.bufferevent_openssl_socket_new(
	    base, fd, ssl, state, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	fn.bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *
tls_accept_bufferevent(struct event_base *base, int fd, void *ctx)
{
	SSL *ssl;

	if ((ssl = fn.SSL_new(ctx)) == NULL)
		return NULL;
	return tls_bufferevent(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING);
}

struct bufferevent *
tls_connect_bufferevent(
    struct event_base *base, int fd, void *ctx, const char *host)
{
	SSL *ssl;

	if ((ssl = fn.SSL_new(ctx)) == NULL)
		return NULL;
	/* SNI, and the name the certificate must carry to verify */
	if (host != NULL &&
	    (fn.SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
		 TLSEXT_NAMETYPE_host_name, (void *)host) != 1 ||
		fn.X509_VERIFY_PARAM_set1_host(
		    fn.SSL_get0_param(ssl), host, 0) != 1)) {
		fn.SSL_free(ssl);
		return NULL;
	}
	return tls_bufferevent(base, fd, ssl, BUFFEREVENT_SSL_CONNECTING);
}

int
tls_verified(struct bufferevent *bev, char *why, size_t len)
{
	SSL *ssl;
	long rv;

	if ((ssl = fn.bufferevent_openssl_get_ssl(bev)) == NULL) {
		strlcpy(why, "no TLS", len);
		return 0;
	}
	/* no certificate leaves the result at X509_V_OK */
	if (fn.SSL_get_peer_cert_chain(ssl) == NULL) {
		strlcpy(why, "no certificate", len);
		return 0;
	}
	if ((rv = fn.SSL_get_verify_result(ssl)) != X509_V_OK) {
		strlcpy(why, fn.X509_verify_cert_error_string(rv), len);
		return 0;
	}
	strlcpy(why, "verified", len);
	return 1;
}

void
tls_info(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl;

	buf[0] = '\0';
	if ((ssl = fn.bufferevent_openssl_get_ssl(bev)) == NULL)
		return;
	snprintf(buf, len, "%s %s", fn.SSL_get_version(ssl),
	    fn.SSL_CIPHER_get_name(fn.SSL_get_current_cipher(ssl)));
}
