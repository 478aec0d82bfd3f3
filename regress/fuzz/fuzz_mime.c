/*
 * The MIME parser on arbitrary octets, and everything IMAP shows of the
 * result: ENVELOPE, BODY and BODYSTRUCTURE in both string modes, every
 * section of every part a short part number reaches, BINARY, each part's
 * text in UTF-8, each header field decoded, as parameters, as an address
 * list and as a date, and the message's CRLF form.  Nothing may crash,
 * leak or read outside the input; part offsets must stay inside it.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const texts[] = {"", "HEADER", "TEXT", "MIME",
    "HEADER.FIELDS (FROM SUBJECT)", "HEADER.FIELDS.NOT (CONTENT-TYPE)"};

static void
check_part(const struct mime_message *m, const struct mime_part *p,
    struct evbuffer *b, size_t *count)
{
	const struct mime_part *c;
	struct mime_addresses as;
	struct mime_params ps;
	struct mime_field f;
	size_t pos = 0, n = 0;
	char *first, *d;

	(*count)++;
	if (p->hdr_off + p->hdr_len != p->body_off ||
	    p->body_off + p->body_len > m->len || p->body_lines > p->body_len)
		abort();
	for (c = p->child; c != NULL; c = c->next) {
		if (c->parent != p)
			abort();
		n++;
		check_part(m, c, b, count);
	}
	if (n != p->nchild)
		abort();
	(void)mime_part_text(m, p, b);
	while (mime_header_next(m->msg + p->hdr_off, p->hdr_len, &pos, &f)) {
		if (f.raw < m->msg + p->hdr_off ||
		    f.raw + f.rawlen > m->msg + p->hdr_off + p->hdr_len)
			abort();
		if ((d = mime_header_decode(f.value, f.valuelen)) != NULL)
			free(d);
		if (mime_params_parse(f.value, f.valuelen, &first, &ps) == 0) {
			free(first);
			mime_params_free(&ps);
		}
		if (mime_address_parse(f.value, f.valuelen, 1, &as) == 0) {
			if (as.n > MIME_ADDRESSES_MAX)
				abort();
			mime_addresses_free(&as);
		}
		(void)mime_date_parse(f.value, f.valuelen, NULL);
	}
}

static void
sections(const struct mime_message *m, struct evbuffer *b, const char *nums)
{
	struct imap_section sec;
	char spec[64];
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(spec, sizeof(spec), "%s%s%s", nums,
		    nums[0] != '\0' && texts[i][0] != '\0' ? "." : "", texts[i]);
		if (imap_section_parse(&sec, spec, strlen(spec), 0) == 0) {
			if (imap_section_write(b, m, &sec) == -1)
				abort();
			imap_section_free(&sec);
		}
	}
	if (imap_section_parse(&sec, nums, strlen(nums), 1) == 0) {
		(void)imap_section_binary(b, m, &sec);
		imap_section_free(&sec);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_message *m;
	struct evbuffer *b;
	char nums[16];
	size_t count = 0;
	int i, j, k;

	if ((b = evbuffer_new()) == NULL)
		return 0;
	if ((m = mime_parse((const char *)data, size)) == NULL) {
		evbuffer_free(b);
		return 0;
	}
	check_part(m, m->root, b, &count);
	if (count != m->nparts || m->nparts > MIME_PARTS_MAX)
		abort();
	if (imap_envelope_write(b, m, m->root, 0) == -1 ||
	    imap_envelope_write(b, m, m->root, 1) == -1 ||
	    imap_bodystructure_write(b, m, m->root, 0, 0) == -1 ||
	    imap_bodystructure_write(b, m, m->root, 1, 0) == -1 ||
	    imap_bodystructure_write(b, m, m->root, 1, 1) == -1)
		abort();
	sections(m, b, "");
	for (i = 1; i <= 3; i++) {
		snprintf(nums, sizeof(nums), "%d", i);
		sections(m, b, nums);
		for (j = 1; j <= 3; j++) {
			snprintf(nums, sizeof(nums), "%d.%d", i, j);
			sections(m, b, nums);
			for (k = 1; k <= 2; k++) {
				snprintf(nums, sizeof(nums), "%d.%d.%d", i, j,
				    k);
				sections(m, b, nums);
			}
		}
	}
	mime_free(m);
	/* the CRLF form has no bare line end left */
	evbuffer_drain(b, evbuffer_get_length(b));
	if (mime_crlf((const char *)data, size, b) == -1)
		abort();
	if (mime_crlf_needed((const char *)evbuffer_pullup(b, -1),
		evbuffer_get_length(b)))
		abort();
	evbuffer_free(b);
	return 0;
}
