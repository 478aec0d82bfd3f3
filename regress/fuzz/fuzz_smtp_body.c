/*
 * smtp_body.c on arbitrary octets, as DATA and as BDAT, cut where the
 * input says.  Each result is checked against a plain model that reads
 * the whole input line by line (the session's rules before smtp_body.c
 * existed): the same end of DATA, the same verdict, the same message.
 * An accepted message never holds a CR, and nothing writes more than it
 * was given plus the Received header.
 *
 * Input: one octet for the size limit (0: none), one for the number of
 * cuts (up to 15), that many piece or chunk lengths, then the octets.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

#define FUZZ_CUTS_MAX 15

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct sink {
	uint8_t *buf;
	size_t len;
};

static const struct smtp_received received = {"mx.test", 1, NULL, 0, 0};

static int
sink_write(void *arg, const void *data, size_t len)
{
	struct sink *k = arg;

	if ((k->buf = realloc(k->buf, k->len + len)) == NULL)
		abort();
	memcpy(k->buf + k->len, data, len);
	k->len += len;
	return 0;
}

/* what the model says */
struct model {
	int done;
	size_t taken;
	int status;
	uint8_t *body;
	size_t bodylen;
	uint64_t size, max;
	int bare, too_long, too_big;
};

static void
model_add(struct model *m, const void *data, size_t len)
{
	if (m->too_big)
		return;
	if (m->size + len > m->max) {
		m->too_big = 1;
		return;
	}
	m->size += len;
	memcpy(m->body + m->bodylen, data, len);
	m->bodylen += len;
}

static void
model_verdict(struct model *m)
{
	if (m->bare)
		m->status = SMTP_BODY_BARE_CRLF;
	else if (m->too_long)
		m->status = SMTP_BODY_LINE_TOO_LONG;
	else if (m->too_big)
		m->status = SMTP_BODY_TOO_BIG;
	else
		m->status = SMTP_BODY_OK;
}

/* DATA: whole lines; CRLF.CRLF ends it */
static void
model_data(struct model *m, const uint8_t *p, size_t len)
{
	const uint8_t *lf, *line;
	size_t pos = 0, raw, n;
	int crlf, prev_crlf = 1;

	while ((lf = memchr(p + pos, '\n', len - pos)) != NULL) {
		line = p + pos;
		raw = (size_t)(lf - line);
		pos += raw + 1;
		crlf = raw > 0 && line[raw - 1] == '\r';
		if (raw + 1 > SMTP_LINE_MAX) {
			m->too_long = 1;
			prev_crlf = crlf;
			continue;
		}
		n = raw - (size_t)crlf;
		if (crlf && prev_crlf && n == 1 && line[0] == '.') {
			m->done = 1;
			break;
		}
		if (!crlf || memchr(line, '\r', n) != NULL)
			m->bare = 1;
		prev_crlf = crlf;
		if (n > 0 && line[0] == '.') {
			line++;
			n--;
		}
		model_add(m, line, n);
		model_add(m, "\n", 1);
	}
	m->taken = m->done ? pos : len;
	if (m->done)
		model_verdict(m);
	else
		m->status = -1;
}

/* BDAT: octet by octet; the last line may lack its CRLF */
static void
model_bdat(struct model *m, const uint8_t *p, size_t len)
{
	size_t i, start = 0, linelen = 0;
	int cr = 0;

	for (i = 0; i < len; i++) {
		if (cr) {
			cr = 0;
			if (p[i] == '\n') {
				model_add(m, "\n", 1);
				linelen = 0;
				start = i + 1;
				continue;
			}
			m->bare = 1;
		}
		if (p[i] == '\r' || p[i] == '\n') {
			model_add(m, p + start, i - start);
			start = i + 1;
			if (p[i] == '\r')
				cr = 1;
			else
				m->bare = 1;
			continue;
		}
		if (++linelen > SMTP_LINE_MAX - 2)
			m->too_long = 1;
	}
	model_add(m, p + start, len - start);
	if (cr)
		m->bare = 1;
	else if (linelen > 0)
		model_add(m, "\n", 1);
	m->done = 1;
	m->taken = len;
	model_verdict(m);
}

static void
txn_init(struct smtp_transaction *t)
{
	struct envelope_rcpt r;

	memset(t, 0, sizeof(*t));
	t->active = 1;
	strlcpy(t->env.helo, "client.test", sizeof(t->env.helo));
	strlcpy(t->env.client_addr, "192.0.2.1", sizeof(t->env.client_addr));
	memset(&r, 0, sizeof(r));
	strlcpy(r.addr, "alice@example.test", sizeof(r.addr));
	strlcpy(r.mailbox, "example.test/alice", sizeof(r.mailbox));
	envelope_add_rcpt(&t->env, &r);
	t->msgid = 1;
}

/* the transaction's result against the model's */
static void
check(struct smtp_transaction *t, struct sink *k, size_t hl, int done,
    size_t taken, int status, const struct model *m)
{
	if (done != m->done || taken != m->taken || status != m->status)
		abort();
	/* nothing written but what came in, and the header */
	if (k->len > hl + taken + 1)
		abort();
	if (status != SMTP_BODY_OK)
		return;
	if (k->len != hl + m->bodylen || t->size != k->len ||
	    memcmp(k->buf + hl, m->body, m->bodylen) != 0 ||
	    memchr(k->buf + hl, '\r', m->bodylen) != NULL ||
	    crc32_update(0, k->buf, k->len) != t->crc)
		abort();
}

static void
fuzz_data(const uint8_t *p, size_t len, const size_t *cuts, size_t ncuts,
    uint64_t max, size_t hl)
{
	struct smtp_transaction t;
	struct sink k = {NULL, 0};
	struct model m;
	size_t from = 0, to, i, n, taken = 0;
	int done = 0;

	memset(&m, 0, sizeof(m));
	m.size = hl;
	m.max = max;
	if ((m.body = malloc(2 * len + 1)) == NULL)
		abort();
	model_data(&m, p, len);
	txn_init(&t);
	smtp_body_begin(&t, max, sink_write, &k, &received);
	for (i = 0; i <= ncuts && !done; i++) {
		to = i < ncuts && cuts[i] < len ? cuts[i] : len;
		if (to < from)
			to = from;
		n = smtp_body_data(&t, p + from, to - from, &done);
		if (n > to - from || (!done && n != to - from))
			abort();
		taken += n;
		from = to;
	}
	check(
	    &t, &k, hl, done, taken, done ? (int)smtp_body_finish(&t) : -1, &m);
	smtp_transaction_reset(&t);
	free(k.buf);
	free(m.body);
}

static void
fuzz_bdat(const uint8_t *p, size_t len, const size_t *cuts, size_t ncuts,
    uint64_t max, size_t hl)
{
	struct smtp_transaction t;
	struct sink k = {NULL, 0};
	struct model m;
	size_t from = 0, to, i, half, n, taken = 0;

	memset(&m, 0, sizeof(m));
	m.size = hl;
	m.max = max;
	if ((m.body = malloc(2 * len + 2)) == NULL)
		abort();
	model_bdat(&m, p, len);
	txn_init(&t);
	t.bdat = 1;
	smtp_body_begin(&t, max, sink_write, &k, &received);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts && cuts[i] < len ? cuts[i] : len;
		if (to < from)
			to = from;
		smtp_body_chunk_begin(&t, to - from, i == ncuts);
		/* in two reads, each offered all the input there is */
		half = from + (to - from) / 2;
		n = smtp_body_chunk(&t, p + from, half - from);
		n += smtp_body_chunk(&t, p + half, len - half);
		if (n != to - from || t.chunk_left != 0)
			abort();
		taken += n;
		from = to;
	}
	check(&t, &k, hl, 1, taken, (int)smtp_body_finish(&t), &m);
	smtp_transaction_reset(&t);
	free(k.buf);
	free(m.body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_transaction t;
	char hdr[SMTP_RECEIVED_MAX];
	size_t cuts[FUZZ_CUTS_MAX], ncuts, i, at = 0, hl;
	uint64_t max;

	if (size < 2)
		return 0;
	txn_init(&t);
	hl = smtp_received_header(&t, &received, hdr, sizeof(hdr));
	smtp_transaction_reset(&t);
	max = data[0] == 0 ? UINT64_MAX : hl + (uint64_t)(data[0] - 1) * 4;
	ncuts = data[1] % (FUZZ_CUTS_MAX + 1);
	data += 2;
	size -= 2;
	if (size < ncuts)
		return 0;
	for (i = 0; i < ncuts; i++) {
		at += data[i];
		cuts[i] = at;
	}
	data += ncuts;
	size -= ncuts;
	fuzz_data(data, size, cuts, ncuts, max, hl);
	fuzz_bdat(data, size, cuts, ncuts, max, hl);
	return 0;
}
