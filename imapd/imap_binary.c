/*
 * Binary APPEND (RFC 3516 4.3): a message that arrives with NULs or bare
 * CRs in its parts is not stored as it came.  IMAP sends and counts a
 * message in CRLF lines, and a BODY[] literal may not hold NUL, so each
 * binary leaf part is stored base64-encoded, as Dovecot does; BINARY[n]
 * undoes the encoding and gives the client back the octets it sent.
 */

#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "imapd.h"

#define B64_LINE 76 /* RFC 2045 6.8: at most 76 characters a line */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
imap_base64_lines(struct evbuffer *out, const unsigned char *src, size_t len)
{
	char line[B64_LINE + 2];
	size_t i = 0, n = 0;
	uint32_t v;

	while (i < len) {
		v = (uint32_t)src[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)src[i + 1] << 8;
		if (i + 2 < len)
			v |= src[i + 2];
		line[n++] = b64[(v >> 18) & 0x3f];
		line[n++] = b64[(v >> 12) & 0x3f];
		line[n++] = i + 1 < len ? b64[(v >> 6) & 0x3f] : '=';
		line[n++] = i + 2 < len ? b64[v & 0x3f] : '=';
		i += 3;
		if (n == B64_LINE || i >= len) {
			/* a CRLF between lines: the part's own ends the last */
			if (i < len) {
				line[n++] = '\r';
				line[n++] = '\n';
			}
			if (evbuffer_add(out, line, n) == -1)
				return -1;
			n = 0;
		}
	}
	return 0;
}

/* is the body binary: a NUL, or a CR that no LF follows */
static int
body_binary(const char *p, size_t len)
{
	const char *cr;
	size_t off = 0;

	if (memchr(p, '\0', len) != NULL)
		return 1;
	while ((cr = memchr(p + off, '\r', len - off)) != NULL) {
		off = cr - p + 1;
		if (off == len || p[off] != '\n')
			return 1;
	}
	return 0;
}

static int
part_needs_recode(const struct mime_message *m, const struct mime_part *p)
{
	if (p->body_len == 0)
		return 0;
	if (p->encoding == NULL)
		return body_binary(m->msg + p->body_off, p->body_len);
	if (strcmp(p->encoding, "base64") == 0 ||
	    strcmp(p->encoding, "quoted-printable") == 0)
		return 0;
	if (strcmp(p->encoding, "binary") == 0)
		return 1;
	return body_binary(m->msg + p->body_off, p->body_len);
}

struct recode {
	const struct mime_message *m;
	struct evbuffer *out;
	size_t done; /* octets of the message written to out */
	int changed;
};

/* the part's header with its Content-Transfer-Encoding now base64 */
static int
header_recode(struct recode *r, const struct mime_part *p)
{
	static const char cte[] = "Content-Transfer-Encoding: base64\r\n";
	const char *msg = r->m->msg, *hdr = msg + p->hdr_off;
	size_t len = p->hdr_len, pos = 0, at = 0, blank = len, field = 0;
	struct mime_field f;

	/* where the blank line ending the header starts, if there is one */
	if (len > 0 && hdr[len - 1] == '\n') {
		blank = len - 1;
		if (blank > 0 && hdr[blank - 1] == '\r')
			blank--;
		if (blank > 0 && hdr[blank - 1] != '\n')
			blank = len;
	}
	while (field++ < MIME_FIELDS_MAX &&
	    mime_header_next(hdr, blank, &pos, &f)) {
		if (f.namelen != 25 ||
		    strncasecmp(f.name, "Content-Transfer-Encoding", 25) != 0)
			continue;
		if (evbuffer_add(r->out, hdr + at, f.raw - (hdr + at)) == -1)
			return -1;
		at = f.raw + f.rawlen - hdr;
	}
	if (evbuffer_add(r->out, hdr + at, blank - at) == -1)
		return -1;
	/* a header whose last line has no end, or no blank line after it */
	if (blank > 0 && hdr[blank - 1] != '\n' &&
	    evbuffer_add(r->out, "\r\n", 2) == -1)
		return -1;
	if (evbuffer_add(r->out, cte, sizeof(cte) - 1) == -1)
		return -1;
	if (blank == len)
		return evbuffer_add(r->out, "\r\n", 2);
	return evbuffer_add(r->out, hdr + blank, len - blank);
}

static int
part_recode(struct recode *r, const struct mime_part *p)
{
	const struct mime_part *c;

	if (mime_part_is_multipart(p) || mime_part_is_message(p)) {
		for (c = p->child; c != NULL; c = c->next)
			if (part_recode(r, c) == -1)
				return -1;
		return 0;
	}
	if (!part_needs_recode(r->m, p) || p->hdr_off < r->done)
		return 0;
	if (evbuffer_add(r->out, r->m->msg + r->done, p->hdr_off - r->done) ==
		-1 ||
	    header_recode(r, p) == -1 ||
	    imap_base64_lines(r->out,
		(const unsigned char *)r->m->msg + p->body_off,
		p->body_len) == -1)
		return -1;
	r->done = p->body_off + p->body_len;
	r->changed = 1;
	return 0;
}

int
imap_binary_recode(const char *msg, size_t len, struct evbuffer *out)
{
	struct mime_message *m;
	struct evbuffer *b;
	struct recode r;
	int rv = -1;

	if ((b = evbuffer_new()) == NULL)
		return -1;
	if ((m = mime_parse(msg, len)) == NULL) {
		evbuffer_free(b);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.m = m;
	r.out = b;
	if (part_recode(&r, m->root) == -1)
		goto done;
	rv = 0;
	if (!r.changed)
		goto done;
	/* the base64 body ends without a line end: the part's own follows */
	if (evbuffer_add(b, msg + r.done, len - r.done) == -1 ||
	    evbuffer_add_buffer(out, b) == -1) {
		rv = -1;
		goto done;
	}
	rv = 1;
done:
	mime_free(m);
	evbuffer_free(b);
	return rv;
}
