/*
 * ENVELOPE from the header alone (what FETCH computes for a message
 * file copied in) against ENVELOPE from the whole message parsed, on
 * arbitrary octets: the two must be the same text.  The first read's
 * size is 4096 octets; inputs past it cross the reads.
 */

#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *
envelope_whole(const char *msg, size_t len)
{
	struct evbuffer *crlf, *b;
	struct mime_message *m;
	const char *s = msg;
	char *t;
	size_t n = len;

	if ((crlf = evbuffer_new()) == NULL || (b = evbuffer_new()) == NULL)
		abort();
	if (mime_crlf_needed(msg, len)) {
		if (mime_crlf(msg, len, crlf) == -1)
			abort();
		n = evbuffer_get_length(crlf);
		s = n > 0 ? (char *)evbuffer_pullup(crlf, -1) : "";
	}
	if ((m = mime_parse(s, n)) == NULL ||
	    imap_envelope_write(b, m, m->root, 0) == -1 ||
	    evbuffer_add(b, "", 1) == -1 ||
	    (t = strdup((char *)evbuffer_pullup(b, -1))) == NULL)
		abort();
	mime_free(m);
	evbuffer_free(crlf);
	evbuffer_free(b);
	return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char *want, *got;
	size_t len;

	if (fd == -1 && (fd = memfd_create("fuzz_envelope", MFD_CLOEXEC)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	want = envelope_whole((const char *)data, size);
	if (imap_message_view(fd, IMAP_VIEW_ENVELOPE, &got, &len) == -1)
		abort();
	if (strcmp(want, got) != 0 || len != strlen(got))
		abort();
	free(want);
	free(got);
	return 0;
}
