/*
 * The re-encoding of a binary APPEND on arbitrary octets, then what
 * FETCH does with its result: parsed, every leaf decoded (the base64
 * written read back), and re-encoded once more.  Nothing may crash, leak
 * or read outside the input; a message left alone gives nothing out.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* every leaf's BINARY form, so that the base64 written is read back */
static void
leaves(const struct mime_message *m, const struct mime_part *p,
    struct evbuffer *b)
{
	const struct mime_part *c;

	for (c = p->child; c != NULL; c = c->next)
		leaves(m, c, b);
	if (p->child == NULL)
		(void)mime_part_decode(m, p, b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_message *m;
	struct evbuffer *b, *again;
	const char *s;
	size_t len;
	int rv;

	if ((b = evbuffer_new()) == NULL)
		return 0;
	if ((again = evbuffer_new()) == NULL) {
		evbuffer_free(b);
		return 0;
	}
	rv = imap_binary_recode((const char *)data, size, b);
	if (rv == 0 && evbuffer_get_length(b) != 0)
		abort();
	if (rv == 1) {
		len = evbuffer_get_length(b);
		if ((s = (const char *)evbuffer_pullup(b, -1)) == NULL)
			abort();
		if ((m = mime_parse(s, len)) != NULL) {
			leaves(m, m->root, again);
			mime_free(m);
		}
		evbuffer_drain(again, evbuffer_get_length(again));
		(void)imap_binary_recode(s, len, again);
	}
	evbuffer_free(again);
	evbuffer_free(b);
	return 0;
}
