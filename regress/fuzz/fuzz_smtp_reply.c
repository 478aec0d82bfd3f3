/*
 * smtp_reply_feed() on arbitrary octets, fed twice: all at once and in
 * pieces whose sizes the input's first octet picks.  Both must give the
 * same replies and the same error; every reply must hold what the
 * parser promises; EHLO parsing and formatting run on each.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_REPLIES_MAX 64

struct fuzz_seen {
	int code[FUZZ_REPLIES_MAX];
	uint32_t nlines[FUZZ_REPLIES_MAX];
	size_t n;
	enum smtp_reply_error error;
};

static void
check_reply(const struct smtp_reply *r)
{
	struct smtp_ehlo e;
	char buf[600], tiny[4];
	uint32_t i;
	size_t n;

	if (r->code < 200 || r->code > 559 || r->nlines == 0 ||
	    r->nlines > SMTP_REPLY_LINES_MAX ||
	    memchr(r->enhanced, '\0', sizeof(r->enhanced)) == NULL)
		abort();
	if (r->enhanced[0] != '\0' && r->enhanced[0] - '0' != r->code / 100)
		abort();
	for (i = 0; i < r->nlines; i++) {
		if (r->line[i] >= r->textlen ||
		    memchr(r->text + r->line[i], '\0',
			r->textlen - r->line[i]) == NULL ||
		    strlen(smtp_reply_line(r, i)) > SMTP_REPLY_LINE_MAX - 6)
			abort();
	}
	if ((smtp_reply_ehlo(r, &e) == 0) != (r->code == 250))
		abort();
	if ((e.ext & SMTP_EXT_SIZE) == 0 && e.size_max != 0)
		abort();
	n = smtp_reply_format(r, buf, sizeof(buf));
	if (n != strlen(buf) || n >= sizeof(buf))
		abort();
	if (smtp_reply_format(r, tiny, sizeof(tiny)) != 3)
		abort();
}

static void
run(const uint8_t *data, size_t size, size_t step, struct fuzz_seen *seen)
{
	struct smtp_reply_parser p;
	enum smtp_reply_status st;
	size_t off = 0, n, used;

	memset(seen, 0, sizeof(*seen));
	smtp_reply_parser_init(&p);
	while (off < size) {
		n = size - off < step ? size - off : step;
		st = smtp_reply_feed(&p, data + off, n, &used);
		if (used > n)
			abort();
		off += used;
		if (st == SMTP_REPLY_ERROR) {
			seen->error = p.error;
			if (p.error == SMTP_REPLY_ERR_NONE)
				abort();
			break;
		}
		if (st == SMTP_REPLY_MORE && used != n)
			abort();
		if (st == SMTP_REPLY_DONE) {
			check_reply(&p.reply);
			if (seen->n < FUZZ_REPLIES_MAX) {
				seen->code[seen->n] = p.reply.code;
				seen->nlines[seen->n] = p.reply.nlines;
			}
			seen->n++;
		}
	}
	smtp_reply_parser_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_seen whole, pieces;
	size_t step;

	if (size == 0)
		return 0;
	step = data[0] % 16 + 1;
	data++;
	size--;
	run(data, size, size == 0 ? 1 : size, &whole);
	run(data, size, step, &pieces);
	if (whole.n != pieces.n || whole.error != pieces.error ||
	    memcmp(whole.code, pieces.code, sizeof(whole.code)) != 0 ||
	    memcmp(whole.nlines, pieces.nlines, sizeof(whole.nlines)) != 0)
		abort();
	return 0;
}
