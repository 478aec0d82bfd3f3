/*
 * boxd.conf(5) parser on any bytes: it must answer, never crash, and a
 * config it accepts must survive config_print and the marshal round trip.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	config_same(const struct boxd_config *,
		    const struct boxd_config *);

static int
config_same(const struct boxd_config *a, const struct boxd_config *b)
{
	size_t	 i;

	if (strcmp(a->hostname, b->hostname) != 0 ||
	    strcmp(a->storage, b->storage) != 0 ||
	    strcmp(a->control_socket, b->control_socket) != 0 ||
	    strcmp(a->tls_cert, b->tls_cert) != 0 ||
	    strcmp(a->tls_key, b->tls_key) != 0 ||
	    a->nlisteners != b->nlisteners ||
	    a->nlisteners > CONFIG_LISTEN_MAX)
		return 0;
	for (i = 0; i < a->nlisteners; i++)
		if (strcmp(a->listeners[i].addr, b->listeners[i].addr) != 0 ||
		    a->listeners[i].port != b->listeners[i].port ||
		    a->listeners[i].kind != b->listeners[i].kind)
			return 0;
	return a->max_message_size == b->max_message_size &&
	    a->queue_retry == b->queue_retry &&
	    a->queue_max_retry == b->queue_max_retry &&
	    a->queue_expire == b->queue_expire &&
	    strcmp(a->resolver_addr, b->resolver_addr) == 0 &&
	    a->resolver_port == b->resolver_port &&
	    strcmp(a->relay_url, b->relay_url) == 0 &&
	    strcmp(a->relay_secret, b->relay_secret) == 0 &&
	    a->mta_port == b->mta_port &&
	    a->limit_auth_failures == b->limit_auth_failures &&
	    a->limit_auth_period == b->limit_auth_period &&
	    a->limit_connections == b->limit_connections &&
	    a->timeout_command == b->timeout_command &&
	    a->timeout_data == b->timeout_data &&
	    a->log_level == b->log_level;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boxd_config	 c, again;
	struct msg_writer		 w;
	struct msg_reader		 r;
	char				 err[256];
	char				*text;

	if (config_parse_buffer(&c, "fuzz.conf", (const char *)data, size,
	    err, sizeof(err)) == -1) {
		if (memchr(err, '\0', sizeof(err)) == NULL ||
		    strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		return 0;
	}
	if ((text = config_print(&c)) == NULL)
		abort();
	if (config_parse_buffer(&again, "fuzz.conf", text, strlen(text),
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "re-parse failed: %s\n%s", err, text);
		abort();
	}
	if (!config_same(&c, &again)) {
		fprintf(stderr, "re-parse differs:\n%s", text);
		abort();
	}
	free(text);

	msg_writer_init(&w);
	config_marshal(&c, &w);
	if (w.error)
		abort();
	msg_reader_init(&r, w.buf, w.len);
	if (config_unmarshal(&again, &r) == -1 || !config_same(&c, &again))
		abort();
	msg_writer_free(&w);
	return 0;
}
