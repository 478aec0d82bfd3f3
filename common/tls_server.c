/*
 * A server's TLS context, made when the first client asks for TLS: until
 * then the process carries no OpenSSL state, only the certificate and key
 * as the parent sent them (it has checked them already).  The key's text
 * is wiped once the context holds it, or once making it failed.
 */

#include <stdlib.h>
#include <string.h>

#include "common.h"

void
tls_server_init(
    struct tls_server *ts, const char *cert_path, const char *key_path)
{
	memset(ts, 0, sizeof(*ts));
	ts->cert_path = cert_path;
	ts->key_path = key_path;
}

void
tls_server_forget(struct tls_server *ts)
{
	if (ts->key_pem != NULL)
		freezero(ts->key_pem, strlen(ts->key_pem));
	free(ts->cert_pem);
	ts->cert_pem = ts->key_pem = NULL;
}

int
tls_server_set_pem(struct tls_server *ts, struct msg_reader *r)
{
	tls_server_forget(ts);
	if (msg_get_strdup(r, &ts->cert_pem, IMSG_MAX_SIZE) == -1 ||
	    msg_get_strdup(r, &ts->key_pem, IMSG_MAX_SIZE) == -1 ||
	    msg_get_end(r) == -1) {
		tls_server_forget(ts);
		return -1;
	}
	return 0;
}

int
tls_server_available(const struct tls_server *ts)
{
	return ts->ctx != NULL || ts->cert_pem != NULL;
}

void *
tls_server_ctx(struct tls_server *ts)
{
	char err[256] = "";
	void *ctx;

	if (ts->cert_pem == NULL)
		return ts->ctx;
	if ((ctx = tls_server_ctx_new(
		 ts->cert_pem, ts->key_pem, err, sizeof(err))) == NULL)
		log_warnx("tls: %s (%s, %s)", err, ts->cert_path, ts->key_path);
	else {
		tls_ctx_free(ts->ctx);
		ts->ctx = ctx;
	}
	tls_server_forget(ts);
	return ts->ctx;
}

int
tls_server_reload(struct tls_server *ts, struct msg_reader *r)
{
	if (tls_server_set_pem(ts, r) == -1)
		return -1;
	/* a context in use is replaced now, else on first use */
	if (ts->ctx != NULL)
		tls_server_ctx(ts);
	log_info("tls: certificate reloaded");
	return 0;
}
