/*
 * The body of one mail transaction as DATA or BDAT brings it: CRLF-only
 * lines (a bare CR or LF refuses the message, so nothing can be smuggled
 * past the end of DATA: CVE-2023-51764/51765/51766), the end of DATA at
 * CRLF.CRLF alone, dot-unstuffing, the line and size limits, the CRC the
 * queue checks, and the Received header.  Nothing here reads the network,
 * the clock or a file: octets come in, the message goes out to a writer
 * with LF line ends, and the session is told what to answer.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpd.h"

#define SMTP_BODY_BUFSZ 65536

#define BODY_ERROR(st) (1U << (st))

void
smtp_transaction_reset(struct smtp_transaction *t)
{
	envelope_clear(&t->env);
	/* an idle session keeps no body buffer */
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

size_t
smtp_received_header(const struct smtp_transaction *t,
    const struct smtp_received *r, char *buf, size_t len)
{
	const struct envelope *env = &t->env;
	struct tm tm;
	char date[64];
	const char *proto;
	int n, one = env->nrcpt == 1;

	if (localtime_r(&r->time, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		date[0] = '\0';
	if (env->flags & ENVELOPE_SMTPUTF8)
		proto = r->tls != NULL ? "UTF8SMTPS" : "UTF8SMTP";
	else if (r->esmtp)
		proto = r->tls != NULL ? "ESMTPS" : "ESMTP";
	else
		proto = "SMTP";
	n = snprintf(buf, len,
	    "Received: from %s ([%s%s])\n"
	    "\tby %s (boxd) with %s%s%s%s%s\n\tid %016" PRIx64 "%s%s%s; %s\n",
	    env->helo, strchr(env->client_addr, ':') != NULL ? "IPv6:" : "",
	    env->client_addr, r->hostname, proto, r->auth ? "A" : "",
	    r->tls != NULL ? " (" : "", r->tls != NULL ? r->tls : "",
	    r->tls != NULL ? ")" : "", t->msgid, one ? "\n\tfor <" : "",
	    one ? env->rcpt[0].addr : "", one ? ">" : "", date);
	if (n < 0 || (size_t)n >= len)
		return 0;
	return (size_t)n;
}

static void
body_flush(struct smtp_transaction *t)
{
	/* a message already refused is not worth the writes */
	if (t->buflen > 0 && t->errors == 0 &&
	    t->write(t->write_arg, t->buf, t->buflen) == -1)
		t->errors |= BODY_ERROR(SMTP_BODY_WRITE_ERROR);
	t->buflen = 0;
}

/* octets of the message as stored */
static void
body_add(struct smtp_transaction *t, const void *data, size_t len)
{
	size_t n;

	if (t->errors != 0)
		return;
	if (len > t->max_size - t->size) {
		t->errors |= BODY_ERROR(SMTP_BODY_TOO_BIG);
		return;
	}
	t->size += len;
	t->crc = crc32_update(t->crc, data, len);
	while (len > 0) {
		if ((n = SMTP_BODY_BUFSZ - t->buflen) > len)
			n = len;
		memcpy(t->buf + t->buflen, data, n);
		t->buflen += n;
		data = (const uint8_t *)data + n;
		len -= n;
		if (t->buflen == SMTP_BODY_BUFSZ)
			body_flush(t);
	}
}

void
smtp_body_begin(struct smtp_transaction *t, uint64_t max_size,
    smtp_body_writer write, void *arg, const struct smtp_received *r)
{
	char hdr[SMTP_RECEIVED_MAX];

	if (t->buf == NULL)
		t->buf = xcalloc(1, SMTP_BODY_BUFSZ);
	t->buflen = 0;
	t->max_size = max_size;
	t->write = write;
	t->write_arg = arg;
	t->size = 0;
	t->crc = 0;
	t->errors = 0;
	t->linelen = 0;
	t->cr = t->line_bare = t->dotted = 0;
	/* DATA's first line may be the final dot: an empty message */
	t->prev_crlf = 1;
	body_add(t, hdr, smtp_received_header(t, r, hdr, sizeof(hdr)));
}

/*
 * An LF ended the line: 1 if it was the final dot of DATA.  In DATA an
 * overlong line is refused as such, whatever it holds; in BDAT a bare CR
 * or LF is found wherever it is.
 */
static int
body_line_end(struct smtp_transaction *t)
{
	int crlf = t->cr;

	if (t->linelen >= SMTP_LINE_MAX)
		t->errors |= BODY_ERROR(SMTP_BODY_LINE_TOO_LONG);
	if (!t->bdat) {
		if (crlf && t->prev_crlf && t->dotted && t->linelen == 2)
			return 1;
		if (t->linelen < SMTP_LINE_MAX && (!crlf || t->line_bare))
			t->errors |= BODY_ERROR(SMTP_BODY_BARE_CRLF);
		t->prev_crlf = crlf;
	} else if (!crlf || t->line_bare)
		t->errors |= BODY_ERROR(SMTP_BODY_BARE_CRLF);
	body_add(t, "\n", 1);
	t->linelen = 0;
	t->cr = t->line_bare = t->dotted = 0;
	return 0;
}

/*
 * Octets of the body, in pieces cut anywhere: each line's text goes out
 * as it comes, its CRLF as one LF; whether the line was good is known at
 * its end.  A CR is held until the next octet says whether an LF follows.
 */
size_t
smtp_body_data(
    struct smtp_transaction *t, const void *data, size_t len, int *done)
{
	const uint8_t *p = data, *q = p, *end = p + len, *lf, *stop;
	size_t n;

	*done = 0;
	while (q < end) {
		if (!t->bdat && t->linelen == 0 && *q == '.') {
			t->dotted = 1;
			t->linelen = 1;
			q++;
			continue;
		}
		lf = memchr(q, '\n', (size_t)(end - q));
		stop = lf != NULL ? lf : end;
		if (stop > q) {
			if (t->cr)
				t->line_bare = 1;
			n = (size_t)(stop - q);
			t->linelen += n;
			t->cr = stop[-1] == '\r';
			n -= (size_t)t->cr;
			if (memchr(q, '\r', n) != NULL)
				t->line_bare = 1;
			body_add(t, q, n);
		}
		if (lf == NULL)
			return len;
		q = lf + 1;
		if (body_line_end(t)) {
			*done = 1;
			break;
		}
	}
	return (size_t)(q - p);
}

void
smtp_body_chunk_begin(struct smtp_transaction *t, uint64_t size, int last)
{
	t->chunk_size = t->chunk_left = size;
	t->chunk_last = last;
	t->chunk_discard = 0;
	t->chunk_failed = 0;
}

size_t
smtp_body_chunk(struct smtp_transaction *t, const void *data, size_t len)
{
	int done;

	if (len > t->chunk_left)
		len = (size_t)t->chunk_left;
	t->chunk_left -= len;
	if (!t->chunk_discard)
		smtp_body_data(t, data, len, &done);
	return len;
}

enum smtp_body_status
smtp_body_finish(struct smtp_transaction *t)
{
	int st;

	/* BDAT: the last line may lack its CRLF, but not half of it */
	if (t->bdat) {
		if (t->cr || t->line_bare)
			t->errors |= BODY_ERROR(SMTP_BODY_BARE_CRLF);
		if (t->linelen > SMTP_LINE_MAX - 2)
			t->errors |= BODY_ERROR(SMTP_BODY_LINE_TOO_LONG);
		if (t->linelen > 0)
			body_add(t, "\n", 1);
	}
	body_flush(t);
	for (st = SMTP_BODY_BARE_CRLF; st <= SMTP_BODY_WRITE_ERROR; st++)
		if (t->errors & BODY_ERROR(st))
			return (enum smtp_body_status)st;
	return SMTP_BODY_OK;
}
