/*
 * The SEARCH engine: the search program of RFC 3501 and RFC 9051 6.4.4
 * (with MODSEQ of RFC 7162, OLDER and YOUNGER of RFC 5032, $ of RFC 5182
 * and ESEARCH's RETURN of RFC 4731) parsed into a tree, and evaluated on
 * messages read through the session's accessor.  Pure: no I/O of its own.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* how dear a key is to evaluate: cheap keys go first under AND and OR */
enum search_cost {
	COST_META,     /* flags, numbers and sets of the index */
	COST_CACHED,   /* keywords, size, modseq, internal date */
	COST_ENVELOPE, /* the envelope's fields, cached by the accessor */
	COST_HEADER,   /* any header: the accessor may read the message */
	COST_BODY,
	COST_TEXT,
};

enum search_op {
	SEARCH_OP_ALL,
	SEARCH_OP_AND,
	SEARCH_OP_OR,
	SEARCH_OP_NOT,
	SEARCH_OP_FLAGS,
	SEARCH_OP_KEYWORD,
	SEARCH_OP_SEQSET,
	SEARCH_OP_UIDSET,
	SEARCH_OP_LARGER,
	SEARCH_OP_SMALLER,
	SEARCH_OP_BEFORE,
	SEARCH_OP_ON,
	SEARCH_OP_SINCE,
	SEARCH_OP_SENTBEFORE,
	SEARCH_OP_SENTON,
	SEARCH_OP_SENTSINCE,
	SEARCH_OP_OLDER,
	SEARCH_OP_YOUNGER,
	SEARCH_OP_MODSEQ,
	SEARCH_OP_HEADER,
	SEARCH_OP_BODY,
	SEARCH_OP_TEXT,
};

struct search_node {
	enum search_op op;
	enum search_cost cost;
	struct search_node *child; /* AND, OR (two), NOT (one) */
	struct search_node *next;  /* the next sibling under AND or OR */
	uint32_t mask, want;	   /* FLAGS: (flags & mask) == want */
	uint64_t num;		   /* LARGER, SMALLER, MODSEQ, OLDER, YOUNGER */
	int64_t day;		   /* dates: days since the epoch */
	struct imap_seqset set;	   /* SEQSET, UIDSET */
	char *name;		   /* HEADER's field, KEYWORD's keyword */
	char *needle;		   /* HEADER, BODY, TEXT: folded */
	size_t needlen;
};

struct search_parser {
	const struct imap_arg *args;
	size_t nargs, i;
	struct search_program *prog;
	int depth;
	char *err;
	size_t errsz;
};

/* the envelope's fields, which an accessor is told to cache */
static const char *const envelope_fields[] = {"Subject", "From", "Sender",
    "Reply-To", "To", "Cc", "Bcc", "Date", "Message-ID", "In-Reply-To",
    "References"};

/* ---------------------------------------------------------------- folding */

static uint32_t
fold_codepoint(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c < 0x100) {
		if (c == 0xb5)
			return 0x3bc;
		if (c >= 0xc0 && c <= 0xde && c != 0xd7)
			return c + 32;
		return c;
	}
	if (c < 0x180) {
		/* Latin Extended-A: pairs, upper case first */
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149)
			return c;
		if (c == 0x178)
			return 0xff;
		if (c == 0x17f)
			return 's';
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x370 && c < 0x400) {
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 37;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 63;
		if (c >= 0x391 && c <= 0x3ab && c != 0x3a2)
			return c + 32;
		if (c == 0x3c2)
			return 0x3c3;
		return c;
	}
	if (c >= 0x400 && c < 0x530) {
		if (c < 0x410)
			return c + 80;
		if (c < 0x430)
			return c + 32;
		if (c < 0x460)
			return c;
		if (c == 0x4c0)
			return 0x4cf;
		if (c >= 0x4c1 && c <= 0x4ce)
			return (c & 1) ? c + 1 : c;
		if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) ||
		    (c >= 0x4d0 && c <= 0x52f))
			return (c & 1) ? c : c + 1;
		return c;
	}
	if (c >= 0x1e00 && c <= 0x1eff) {
		if (c == 0x1e9e)
			return 0xdf;
		if (c > 0x1e95 && c < 0x1ea0)
			return c;
		return (c & 1) ? c : c + 1;
	}
	return c;
}

static size_t
utf8_encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = 0xc0 | (c >> 6);
		out[1] = 0x80 | (c & 0x3f);
		return 2;
	}
	if (c < 0x10000) {
		out[0] = 0xe0 | (c >> 12);
		out[1] = 0x80 | ((c >> 6) & 0x3f);
		out[2] = 0x80 | (c & 0x3f);
		return 3;
	}
	out[0] = 0xf0 | (c >> 18);
	out[1] = 0x80 | ((c >> 12) & 0x3f);
	out[2] = 0x80 | ((c >> 6) & 0x3f);
	out[3] = 0x80 | (c & 0x3f);
	return 4;
}

size_t
search_fold(const char *in, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, n;
	uint32_t c;

	while (i < len) {
		if (s[i] < 0x80) {
			out[o++] =
			    (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i];
			i++;
			continue;
		}
		if ((n = imap_utf8_decode(s + i, len - i, &c)) == 0) {
			/* not UTF-8: the octet as it is */
			out[o++] = s[i++];
			continue;
		}
		/* every folding maps to as many octets or fewer */
		o += utf8_encode(fold_codepoint(c), out + o);
		i += n;
	}
	return o;
}

/* ---------------------------------------------------------------- matching */

#define MATCH_PIECE 4096

/*
 * A substring search over text that comes in pieces: folded a piece at a
 * time, with the last needlen - 1 folded octets kept for a match across
 * pieces, and an unfinished UTF-8 sequence kept for the next piece.
 */
struct text_match {
	const char *needle;
	size_t needlen;
	int found;
	int seen; /* cb ran at all: the header exists */
	unsigned char raw[4];
	size_t nraw;
	size_t ncarry;
	char work[SEARCH_STRING_MAX + MATCH_PIECE + 8];
};

static void
text_match_init(struct text_match *m, const char *needle, size_t needlen)
{
	m->needle = needle;
	m->needlen = needlen;
	m->found = 0;
	m->seen = 0;
	m->nraw = 0;
	m->ncarry = 0;
}

/* octets at the end of s that begin a UTF-8 sequence s does not finish */
static size_t
utf8_unfinished(const unsigned char *s, size_t len)
{
	size_t back, need;

	for (back = 1; back <= 3 && back <= len; back++) {
		unsigned char c = s[len - back];

		if ((c & 0xc0) == 0x80)
			continue;
		if (c >= 0xf0)
			need = 4;
		else if (c >= 0xe0)
			need = 3;
		else if (c >= 0xc0)
			need = 2;
		else
			return 0;
		return need > back ? back : 0;
	}
	return 0;
}

static void
text_match_piece(struct text_match *m, const unsigned char *in, size_t len)
{
	unsigned char stage[MATCH_PIECE + 4];
	size_t n, keep;

	memcpy(stage, m->raw, m->nraw);
	memcpy(stage + m->nraw, in, len);
	n = m->nraw + len;
	keep = utf8_unfinished(stage, n);
	n -= keep;
	memcpy(m->raw, stage + n, keep);
	m->nraw = keep;

	n = m->ncarry +
	    search_fold((const char *)stage, n, m->work + m->ncarry);
	if (memmem(m->work, n, m->needle, m->needlen) != NULL) {
		m->found = 1;
		return;
	}
	keep = m->needlen - 1;
	if (keep > n)
		keep = n;
	memmove(m->work, m->work + n - keep, keep);
	m->ncarry = keep;
}

static void
text_match_feed(struct text_match *m, const char *text, size_t len)
{
	size_t piece;

	while (len > 0 && !m->found) {
		piece = len < MATCH_PIECE ? len : MATCH_PIECE;
		text_match_piece(m, (const unsigned char *)text, piece);
		text += piece;
		len -= piece;
	}
}

/* the end of the text: an unfinished sequence is matched as octets */
static void
text_match_end(struct text_match *m)
{
	size_t n;

	if (m->found || m->nraw == 0)
		return;
	memcpy(m->work + m->ncarry, m->raw, m->nraw);
	n = m->ncarry + m->nraw;
	m->nraw = 0;
	if (memmem(m->work, n, m->needle, m->needlen) != NULL)
		m->found = 1;
}

/* each header value is a text of its own */
static int
match_value_cb(void *arg, const char *text, size_t len)
{
	struct text_match *m = arg;

	m->seen = 1;
	m->ncarry = 0;
	m->nraw = 0;
	if (m->needlen == 0) {
		m->found = 1;
		return 1;
	}
	text_match_feed(m, text, len);
	text_match_end(m);
	return m->found;
}

/* the body is one text in pieces */
static int
match_stream_cb(void *arg, const char *text, size_t len)
{
	struct text_match *m = arg;

	text_match_feed(m, text, len);
	return m->found;
}

static int
match_header(
    const struct search_node *node, const struct search_context *ctx, void *msg)
{
	struct text_match m;

	text_match_init(&m, node->needle, node->needlen);
	if (ctx->ops->header(msg, node->name, match_value_cb, &m) == -1)
		return 0;
	return m.found;
}

static int
match_body(const struct search_node *node, const struct search_context *ctx,
    void *msg, int headers)
{
	struct text_match m;

	if (node->needlen == 0)
		return 1;
	text_match_init(&m, node->needle, node->needlen);
	if (headers && ctx->ops->header(msg, NULL, match_value_cb, &m) == 0 &&
	    m.found)
		return 1;
	m.found = 0;
	m.ncarry = 0;
	m.nraw = 0;
	if (ctx->ops->body(msg, match_stream_cb, &m) == -1)
		return 0;
	text_match_end(&m);
	return m.found;
}

/* ---------------------------------------------------------------- evaluation
 */

static int64_t
day_of(int64_t when, int tzoff)
{
	int64_t t = when + (int64_t)tzoff * 60;

	/* floor division: days before 1970 too */
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

static int
saved_contains(const struct search_context *ctx, uint32_t uid)
{
	size_t lo = 0, hi = ctx->nsaved, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ctx->saved[mid] == uid)
			return 1;
		if (ctx->saved[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int
eval(
    const struct search_node *node, const struct search_context *ctx, void *msg)
{
	const struct search_msg_ops *ops = ctx->ops;
	const struct search_node *c;
	int64_t when;
	int tzoff;

	switch (node->op) {
	case SEARCH_OP_ALL:
		return 1;
	case SEARCH_OP_AND:
		for (c = node->child; c != NULL; c = c->next)
			if (!eval(c, ctx, msg))
				return 0;
		return 1;
	case SEARCH_OP_OR:
		for (c = node->child; c != NULL; c = c->next)
			if (eval(c, ctx, msg))
				return 1;
		return 0;
	case SEARCH_OP_NOT:
		return !eval(node->child, ctx, msg);
	case SEARCH_OP_FLAGS:
		return (ops->flags(msg) & node->mask) == node->want;
	case SEARCH_OP_KEYWORD:
		return ops->keyword(msg, node->name) == 1;
	case SEARCH_OP_SEQSET:
		if (node->set.dollar)
			return saved_contains(ctx, ops->uid(msg));
		return imap_seqset_contains(&node->set, ops->seq(msg));
	case SEARCH_OP_UIDSET:
		if (node->set.dollar)
			return saved_contains(ctx, ops->uid(msg));
		return imap_seqset_contains(&node->set, ops->uid(msg));
	case SEARCH_OP_LARGER:
		return ops->size(msg) > node->num;
	case SEARCH_OP_SMALLER:
		return ops->size(msg) < node->num;
	case SEARCH_OP_BEFORE:
		when = ops->internal_date(msg, &tzoff);
		return day_of(when, tzoff) < node->day;
	case SEARCH_OP_ON:
		when = ops->internal_date(msg, &tzoff);
		return day_of(when, tzoff) == node->day;
	case SEARCH_OP_SINCE:
		when = ops->internal_date(msg, &tzoff);
		return day_of(when, tzoff) >= node->day;
	case SEARCH_OP_SENTBEFORE:
		if (ops->sent_date(msg, &when, &tzoff) == -1)
			return 0;
		return day_of(when, tzoff) < node->day;
	case SEARCH_OP_SENTON:
		if (ops->sent_date(msg, &when, &tzoff) == -1)
			return 0;
		return day_of(when, tzoff) == node->day;
	case SEARCH_OP_SENTSINCE:
		if (ops->sent_date(msg, &when, &tzoff) == -1)
			return 0;
		return day_of(when, tzoff) >= node->day;
	case SEARCH_OP_OLDER:
		when = ops->internal_date(msg, &tzoff);
		return when <= ctx->now - (int64_t)node->num;
	case SEARCH_OP_YOUNGER:
		when = ops->internal_date(msg, &tzoff);
		return when > ctx->now - (int64_t)node->num;
	case SEARCH_OP_MODSEQ:
		return ops->modseq(msg) >= node->num;
	case SEARCH_OP_HEADER:
		return match_header(node, ctx, msg);
	case SEARCH_OP_BODY:
		return match_body(node, ctx, msg, 0);
	case SEARCH_OP_TEXT:
		return match_body(node, ctx, msg, 1);
	}
	return 0;
}

static void
prepare_node(struct search_node *node, const struct search_context *ctx)
{
	struct search_node *c;

	if (node->op == SEARCH_OP_SEQSET && !node->set.dollar)
		imap_seqset_resolve(&node->set, ctx->nmsgs);
	else if (node->op == SEARCH_OP_UIDSET && !node->set.dollar)
		imap_seqset_resolve(&node->set, ctx->uidmax);
	for (c = node->child; c != NULL; c = c->next)
		prepare_node(c, ctx);
}

void
search_prepare(struct search_program *prog, const struct search_context *ctx)
{
	if (prog->root != NULL)
		prepare_node(prog->root, ctx);
}

int
search_match(const struct search_program *prog,
    const struct search_context *ctx, void *msg)
{
	if (prog->root == NULL)
		return 0;
	return eval(prog->root, ctx, msg);
}

int
search_run(struct search_program *prog, const struct search_context *ctx,
    void *const *msgs, size_t n, int uid, struct search_result *res)
{
	uint64_t modseq;
	size_t i;

	memset(res, 0, sizeof(*res));
	search_prepare(prog, ctx);
	if (n == 0)
		return 0;
	if ((res->ids = reallocarray(NULL, n, sizeof(*res->ids))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (!search_match(prog, ctx, msgs[i]))
			continue;
		res->ids[res->n++] =
		    uid ? ctx->ops->uid(msgs[i]) : ctx->ops->seq(msgs[i]);
		if (prog->modseq) {
			modseq = ctx->ops->modseq(msgs[i]);
			if (modseq > res->highest_modseq)
				res->highest_modseq = modseq;
		}
	}
	return 0;
}

void
search_result_free(struct search_result *res)
{
	free(res->ids);
	memset(res, 0, sizeof(*res));
}

/* ---------------------------------------------------------------- parsing */

static void
node_free(struct search_node *node)
{
	struct search_node *c, *next;

	if (node == NULL)
		return;
	for (c = node->child; c != NULL; c = next) {
		next = c->next;
		node_free(c);
	}
	imap_seqset_free(&node->set);
	free(node->name);
	free(node->needle);
	free(node);
}

void
search_program_free(struct search_program *prog)
{
	node_free(prog->root);
	memset(prog, 0, sizeof(*prog));
}

static void
parse_error(struct search_parser *p, const char *msg)
{
	/* the first error is the one to report */
	if (p->err[0] == '\0')
		(void)strlcpy(p->err, msg, p->errsz);
}

static struct search_node *
node_new(struct search_parser *p, enum search_op op, enum search_cost cost)
{
	struct search_node *node;

	if (++p->prog->nkeys > SEARCH_KEYS_MAX) {
		parse_error(p, "search program too long");
		return NULL;
	}
	if ((node = calloc(1, sizeof(*node))) == NULL) {
		parse_error(p, "out of memory");
		return NULL;
	}
	node->op = op;
	node->cost = cost;
	return node;
}

static const struct imap_arg *
next_arg(struct search_parser *p)
{
	if (p->i >= p->nargs) {
		parse_error(p, "missing argument to search key");
		return NULL;
	}
	return &p->args[p->i++];
}

static int
arg_string(struct search_parser *p, const struct imap_arg *arg, const char **s,
    size_t *len)
{
	if (imap_arg_astring(arg) == NULL) {
		parse_error(p, "search key wants a string");
		return -1;
	}
	if (arg->len > SEARCH_STRING_MAX) {
		parse_error(p, "search string too long");
		return -1;
	}
	*s = arg->str;
	*len = arg->len;
	return 0;
}

static int
set_needle(struct search_parser *p, struct search_node *node, const char *s,
    size_t len)
{
	if ((node->needle = malloc(len + 1)) == NULL) {
		parse_error(p, "out of memory");
		return -1;
	}
	node->needlen = search_fold(s, len, node->needle);
	node->needle[node->needlen] = '\0';
	return 0;
}

static int
days_in_month(int64_t year, int month)
{
	static const int days[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 &&
	    (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return 29;
	return days[month - 1];
}

/* date-text of RFC 3501: 1*2DIGIT "-" month "-" 4DIGIT */
static int
parse_date(const char *s, int64_t *day)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	const char *m;
	int64_t year;
	int d, month, i;
	char mon[4];

	if (s[0] < '0' || s[0] > '9')
		return -1;
	d = s[0] - '0';
	s++;
	if (s[0] >= '0' && s[0] <= '9') {
		d = d * 10 + s[0] - '0';
		s++;
	}
	if (*s++ != '-')
		return -1;
	for (i = 0; i < 3; i++) {
		if (s[i] == '\0')
			return -1;
		mon[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i];
	}
	mon[3] = '\0';
	s += 3;
	if ((m = strstr(months, mon)) == NULL || (m - months) % 3 != 0)
		return -1;
	month = (m - months) / 3 + 1;
	if (*s++ != '-')
		return -1;
	year = 0;
	for (i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		year = year * 10 + s[i] - '0';
	}
	if (s[4] != '\0' || d < 1 || d > days_in_month(year, month))
		return -1;
	*day = days_from_civil(year, month, d);
	return 0;
}

static struct search_node *parse_key(struct search_parser *);

/* keys up to the end of args, ANDed */
static struct search_node *
parse_and(struct search_parser *p, const struct imap_arg *args, size_t nargs)
{
	const struct imap_arg *save_args = p->args;
	size_t save_n = p->nargs, save_i = p->i;
	struct search_node *and, *key, **tail, **pp, *c, *sorted = NULL;

	if (nargs == 0) {
		parse_error(p, "empty search key list");
		return NULL;
	}
	if ((and = node_new(p, SEARCH_OP_AND, COST_META)) == NULL)
		return NULL;
	p->args = args;
	p->nargs = nargs;
	p->i = 0;
	tail = &and->child;
	while (p->i < p->nargs) {
		if ((key = parse_key(p)) == NULL) {
			node_free(and);
			and = NULL;
			goto out;
		}
		*tail = key;
		tail = &key->next;
	}
	/* cheapest first, stable: insertion into a sorted list */
	while ((c = and->child) != NULL) {
		and->child = c->next;
		for (pp = &sorted; *pp != NULL && (*pp)->cost <= c->cost;
		     pp = &(*pp)->next)
			;
		c->next = *pp;
		*pp = c;
		if (c->cost > and->cost)
			and->cost = c->cost;
	}
	and->child = sorted;
out:
	p->args = save_args;
	p->nargs = save_n;
	p->i = save_i;
	return and;
}

static struct search_node *
parse_flag_key(struct search_parser *p, uint32_t mask, uint32_t want)
{
	struct search_node *node;

	if ((node = node_new(p, SEARCH_OP_FLAGS, COST_META)) == NULL)
		return NULL;
	node->mask = mask;
	node->want = want;
	return node;
}

static struct search_node *
parse_string_key(struct search_parser *p, enum search_op op, const char *field,
    const char *key)
{
	const struct imap_arg *arg;
	struct search_node *node;
	enum search_cost cost;
	const char *s, *name = field;
	size_t len, i;

	cost = op == SEARCH_OP_BODY ? COST_BODY
	    : op == SEARCH_OP_TEXT  ? COST_TEXT
				    : COST_HEADER;
	if (op == SEARCH_OP_HEADER && field == NULL) {
		if ((arg = next_arg(p)) == NULL ||
		    arg_string(p, arg, &name, &len) == -1)
			return NULL;
		if (len == 0 || len > 128 || strlen(name) != len) {
			parse_error(p, "bad header field name");
			return NULL;
		}
		for (i = 0; i < len; i++)
			if (name[i] <= ' ' || name[i] == ':' ||
			    (unsigned char)name[i] >= 0x7f) {
				parse_error(p, "bad header field name");
				return NULL;
			}
	}
	if ((arg = next_arg(p)) == NULL || arg_string(p, arg, &s, &len))
		return NULL;
	if (op == SEARCH_OP_HEADER) {
		for (i = 0; i < NITEMS(envelope_fields); i++)
			if (strcasecmp(name, envelope_fields[i]) == 0)
				cost = COST_ENVELOPE;
	}
	if ((node = node_new(p, op, cost)) == NULL)
		return NULL;
	if (name != NULL && (node->name = strdup(name)) == NULL) {
		parse_error(p, "out of memory");
		node_free(node);
		return NULL;
	}
	if (set_needle(p, node, s, len) == -1) {
		node_free(node);
		return NULL;
	}
	return node;
}

static struct search_node *
parse_date_key(struct search_parser *p, enum search_op op, const char *key)
{
	const struct imap_arg *arg;
	struct search_node *node;
	const char *s;
	int64_t day;

	if ((arg = next_arg(p)) == NULL)
		return NULL;
	if ((s = imap_arg_astring(arg)) == NULL || parse_date(s, &day) == -1) {
		parse_error(p, "bad date");
		return NULL;
	}
	if ((node = node_new(p, op,
		 op >= SEARCH_OP_SENTBEFORE ? COST_ENVELOPE : COST_CACHED)) ==
	    NULL)
		return NULL;
	node->day = day;
	return node;
}

static struct search_node *
parse_number_key(struct search_parser *p, enum search_op op, const char *key)
{
	const struct imap_arg *arg;
	struct search_node *node;
	uint64_t num;

	if ((arg = next_arg(p)) == NULL)
		return NULL;
	if (arg->type != IMAP_ARG_ATOM || imap_arg_number64(arg, &num) == -1 ||
	    ((op == SEARCH_OP_OLDER || op == SEARCH_OP_YOUNGER) &&
		(num == 0 || num > UINT32_MAX))) {
		parse_error(p, "bad number");
		return NULL;
	}
	if ((node = node_new(p, op, COST_CACHED)) == NULL)
		return NULL;
	node->num = num;
	return node;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162) */
static struct search_node *
parse_modseq_key(struct search_parser *p)
{
	const struct imap_arg *arg;

	if (p->i < p->nargs && p->args[p->i].type == IMAP_ARG_STRING) {
		arg = &p->args[p->i++];
		if (strncasecmp(arg->str, "/flags/", 7) != 0 || arg->len == 7 ||
		    strlen(arg->str) != arg->len) {
			parse_error(p, "bad MODSEQ entry name");
			return NULL;
		}
		if ((arg = next_arg(p)) == NULL)
			return NULL;
		if (!imap_arg_is_atom(arg, "PRIV") &&
		    !imap_arg_is_atom(arg, "SHARED") &&
		    !imap_arg_is_atom(arg, "ALL")) {
			parse_error(p, "bad MODSEQ entry type");
			return NULL;
		}
	}
	p->prog->modseq = 1;
	return parse_number_key(p, SEARCH_OP_MODSEQ, "MODSEQ");
}

static struct search_node *
parse_set_key(
    struct search_parser *p, enum search_op op, const struct imap_arg *arg)
{
	struct search_node *node;

	if ((node = node_new(p, op, COST_META)) == NULL)
		return NULL;
	if (arg->type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(arg->str, &node->set, SEARCH_RANGES_MAX) == -1) {
		parse_error(p, "bad sequence set");
		node_free(node);
		return NULL;
	}
	if (node->set.dollar)
		p->prog->dollar = 1;
	return node;
}

static struct search_node *
parse_not_or(struct search_parser *p, int or)
{
	struct search_node *node, *a, *b;

	if (++p->depth > SEARCH_DEPTH_MAX) {
		parse_error(p, "search program nested too deep");
		return NULL;
	}
	if ((node = node_new(
		 p, or ? SEARCH_OP_OR : SEARCH_OP_NOT, COST_META)) == NULL)
		return NULL;
	if (p->i >= p->nargs) {
		parse_error(p, or ? "OR wants two keys" : "NOT wants a key");
		node_free(node);
		return NULL;
	}
	if ((a = parse_key(p)) == NULL) {
		node_free(node);
		return NULL;
	}
	node->child = a;
	node->cost = a->cost;
	if (or) {
		if (p->i >= p->nargs) {
			parse_error(p, "OR wants two keys");
			node_free(node);
			return NULL;
		}
		if ((b = parse_key(p)) == NULL) {
			node_free(node);
			return NULL;
		}
		/* the cheaper one first */
		if (b->cost < a->cost) {
			node->child = b;
			b->next = a;
		} else
			a->next = b;
		if (b->cost > node->cost)
			node->cost = b->cost;
	}
	p->depth--;
	return node;
}

static const struct {
	const char *name;
	uint32_t mask, want;
} flag_keys[] = {
    {"ANSWERED", SEARCH_FLAG_ANSWERED, SEARCH_FLAG_ANSWERED},
    {"DELETED", SEARCH_FLAG_DELETED, SEARCH_FLAG_DELETED},
    {"DRAFT", SEARCH_FLAG_DRAFT, SEARCH_FLAG_DRAFT},
    {"FLAGGED", SEARCH_FLAG_FLAGGED, SEARCH_FLAG_FLAGGED},
    {"NEW", SEARCH_FLAG_RECENT | SEARCH_FLAG_SEEN, SEARCH_FLAG_RECENT},
    {"OLD", SEARCH_FLAG_RECENT, 0},
    {"RECENT", SEARCH_FLAG_RECENT, SEARCH_FLAG_RECENT},
    {"SEEN", SEARCH_FLAG_SEEN, SEARCH_FLAG_SEEN},
    {"UNANSWERED", SEARCH_FLAG_ANSWERED, 0},
    {"UNDELETED", SEARCH_FLAG_DELETED, 0},
    {"UNDRAFT", SEARCH_FLAG_DRAFT, 0},
    {"UNFLAGGED", SEARCH_FLAG_FLAGGED, 0},
    {"UNSEEN", SEARCH_FLAG_SEEN, 0},
};

static const struct {
	const char *name;
	enum search_op op;
	const char *field; /* HEADER's field; NULL: BODY, TEXT, HEADER */
} string_keys[] = {
    {"BCC", SEARCH_OP_HEADER, "Bcc"},
    {"BODY", SEARCH_OP_BODY, NULL},
    {"CC", SEARCH_OP_HEADER, "Cc"},
    {"FROM", SEARCH_OP_HEADER, "From"},
    {"HEADER", SEARCH_OP_HEADER, NULL},
    {"SUBJECT", SEARCH_OP_HEADER, "Subject"},
    {"TEXT", SEARCH_OP_TEXT, NULL},
    {"TO", SEARCH_OP_HEADER, "To"},
};

static const struct {
	const char *name;
	enum search_op op;
} arg_keys[] = {
    {"BEFORE", SEARCH_OP_BEFORE},
    {"ON", SEARCH_OP_ON},
    {"SINCE", SEARCH_OP_SINCE},
    {"SENTBEFORE", SEARCH_OP_SENTBEFORE},
    {"SENTON", SEARCH_OP_SENTON},
    {"SENTSINCE", SEARCH_OP_SENTSINCE},
    {"LARGER", SEARCH_OP_LARGER},
    {"SMALLER", SEARCH_OP_SMALLER},
    {"OLDER", SEARCH_OP_OLDER},
    {"YOUNGER", SEARCH_OP_YOUNGER},
};

static struct search_node *
parse_key(struct search_parser *p)
{
	const struct imap_arg *arg = &p->args[p->i++];
	struct search_node *node;
	size_t i;

	if (arg->type == IMAP_ARG_LIST) {
		if (++p->depth > SEARCH_DEPTH_MAX) {
			parse_error(p, "search program nested too deep");
			return NULL;
		}
		node = parse_and(p, arg->list, arg->nlist);
		p->depth--;
		return node;
	}
	if (arg->type != IMAP_ARG_ATOM || arg->len == 0) {
		parse_error(p, "bad search key");
		return NULL;
	}
	if ((arg->str[0] >= '0' && arg->str[0] <= '9') || arg->str[0] == '*' ||
	    arg->str[0] == '$')
		return parse_set_key(p, SEARCH_OP_SEQSET, arg);
	if (imap_arg_is_atom(arg, "ALL"))
		return node_new(p, SEARCH_OP_ALL, COST_META);
	for (i = 0; i < NITEMS(flag_keys); i++)
		if (imap_arg_is_atom(arg, flag_keys[i].name))
			return parse_flag_key(
			    p, flag_keys[i].mask, flag_keys[i].want);
	for (i = 0; i < NITEMS(string_keys); i++)
		if (imap_arg_is_atom(arg, string_keys[i].name))
			return parse_string_key(p, string_keys[i].op,
			    string_keys[i].field, string_keys[i].name);
	for (i = 0; i < NITEMS(arg_keys); i++) {
		if (!imap_arg_is_atom(arg, arg_keys[i].name))
			continue;
		if (arg_keys[i].op >= SEARCH_OP_BEFORE &&
		    arg_keys[i].op <= SEARCH_OP_SENTSINCE)
			return parse_date_key(
			    p, arg_keys[i].op, arg_keys[i].name);
		return parse_number_key(p, arg_keys[i].op, arg_keys[i].name);
	}
	if (imap_arg_is_atom(arg, "KEYWORD") ||
	    imap_arg_is_atom(arg, "UNKEYWORD")) {
		int un = imap_arg_is_atom(arg, "UNKEYWORD");
		struct search_node *kw;

		if ((arg = next_arg(p)) == NULL)
			return NULL;
		if (arg->type != IMAP_ARG_ATOM || arg->len == 0 ||
		    arg->len > 255) {
			parse_error(p, "bad keyword");
			return NULL;
		}
		if ((kw = node_new(p, SEARCH_OP_KEYWORD, COST_CACHED)) == NULL)
			return NULL;
		if ((kw->name = strdup(arg->str)) == NULL) {
			parse_error(p, "out of memory");
			node_free(kw);
			return NULL;
		}
		if (!un)
			return kw;
		if ((node = node_new(p, SEARCH_OP_NOT, COST_CACHED)) == NULL) {
			node_free(kw);
			return NULL;
		}
		node->child = kw;
		return node;
	}
	if (imap_arg_is_atom(arg, "NOT"))
		return parse_not_or(p, 0);
	if (imap_arg_is_atom(arg, "OR"))
		return parse_not_or(p, 1);
	if (imap_arg_is_atom(arg, "UID")) {
		if ((arg = next_arg(p)) == NULL)
			return NULL;
		return parse_set_key(p, SEARCH_OP_UIDSET, arg);
	}
	if (imap_arg_is_atom(arg, "MODSEQ"))
		return parse_modseq_key(p);
	parse_error(p, "unknown search key");
	return NULL;
}

static int
parse_return(struct search_parser *p, const struct imap_arg *list)
{
	static const struct {
		const char *name;
		int bit;
	} opts[] = {
	    {"MIN", SEARCH_RETURN_MIN},
	    {"MAX", SEARCH_RETURN_MAX},
	    {"ALL", SEARCH_RETURN_ALL},
	    {"COUNT", SEARCH_RETURN_COUNT},
	    {"SAVE", SEARCH_RETURN_SAVE},
	};
	size_t i, j;

	if (list->type != IMAP_ARG_LIST) {
		parse_error(p, "RETURN wants a list");
		return -1;
	}
	for (i = 0; i < list->nlist; i++) {
		for (j = 0; j < NITEMS(opts); j++)
			if (imap_arg_is_atom(&list->list[i], opts[j].name))
				break;
		if (j == NITEMS(opts)) {
			parse_error(p, "unknown RETURN option");
			return -1;
		}
		p->prog->ret |= opts[j].bit;
	}
	if (list->nlist == 0)
		p->prog->ret = SEARCH_RETURN_ALL;
	p->prog->esearch = 1;
	return 0;
}

static int
charset_known(const struct imap_arg *arg)
{
	const char *s;

	if ((s = imap_arg_astring(arg)) == NULL)
		return 0;
	return strcasecmp(s, "UTF-8") == 0 || strcasecmp(s, "US-ASCII") == 0;
}

int
search_parse(struct search_program *prog, const struct imap_arg *args,
    size_t nargs, int flags, char *err, size_t errsz)
{
	struct search_parser p;
	size_t i = 0;

	memset(prog, 0, sizeof(*prog));
	memset(&p, 0, sizeof(p));
	p.prog = prog;
	p.err = err;
	p.errsz = errsz;
	if (errsz > 0)
		err[0] = '\0';

	if ((flags & SEARCH_PARSE_RETURN) && nargs > 0 &&
	    imap_arg_is_atom(&args[0], "RETURN")) {
		if (nargs < 2 || parse_return(&p, &args[1]) == -1) {
			parse_error(&p, "RETURN wants a list");
			return SEARCH_BAD;
		}
		i = 2;
	}
	if (flags & SEARCH_PARSE_CHARSET) {
		if (i >= nargs || imap_arg_astring(&args[i]) == NULL) {
			parse_error(&p, "missing charset");
			return SEARCH_BAD;
		}
		if (!charset_known(&args[i]))
			return SEARCH_BADCHARSET;
		i++;
	} else if (i < nargs && imap_arg_is_atom(&args[i], "CHARSET")) {
		if (i + 1 >= nargs || imap_arg_astring(&args[i + 1]) == NULL) {
			parse_error(&p, "missing charset");
			return SEARCH_BAD;
		}
		if (!charset_known(&args[i + 1]))
			return SEARCH_BADCHARSET;
		i += 2;
	}
	if (i >= nargs) {
		parse_error(&p, "missing search key");
		return SEARCH_BAD;
	}
	if ((prog->root = parse_and(&p, args + i, nargs - i)) == NULL) {
		search_program_free(prog);
		return SEARCH_BAD;
	}
	return 0;
}
