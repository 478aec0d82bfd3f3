/*
 * The login protocol's decoders (auth_msg.c) on any bytes, as imap's
 * requests reach auth and auth's answers reach imap: no read out of
 * bounds, no leak, and whatever decodes encodes back to the very same
 * bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
same(struct msg_writer *w, const uint8_t *data, size_t len)
{
	if (w->error || w->len != len || (len > 0 &&
	    memcmp(w->buf, data, len) != 0))
		abort();
	msg_writer_free(w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct auth_login	 l;
	struct auth_login_result r;
	struct msg_writer	 w;

	if (auth_login_decode(&l, data, len) == 0) {
		if (l.service >= AUTH_SERVICES)
			abort();
		msg_writer_init(&w);
		auth_login_encode(&w, &l);
		same(&w, data, len);
	}
	auth_login_clear(&l);
	if (auth_login_result_decode(&r, data, len) == 0) {
		if (r.status == AUTH_LOGIN_OK &&
		    !envelope_mailbox_valid(r.mailbox))
			abort();
		msg_writer_init(&w);
		auth_login_result_encode(&w, &r);
		same(&w, data, len);
	}
	return 0;
}
