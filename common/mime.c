/*
 * The MIME structure of a message held in memory (RFC 2045, 2046): a tree
 * of parts by offsets, bodies never copied.  Mail is often malformed; the
 * tree is what a reader would see: a missing final boundary ends the part
 * at its parent's end, a line that is no header field ends a header, bare
 * LF line ends count as line ends.  Every bound is checked before the
 * allocation it guards, and past one the rest is an opaque body.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common.h"

#define ISWSP(c) ((c) == ' ' || (c) == '\t')

static void
part_free(struct mime_part *p)
{
	struct mime_part *c, *next;

	if (p == NULL)
		return;
	for (c = p->child; c != NULL; c = next) {
		next = c->next;
		part_free(c);
	}
	free(p->type);
	free(p->subtype);
	mime_params_free(&p->params);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->md5);
	free(p->language);
	free(p->location);
	free(p->disposition);
	mime_params_free(&p->dparams);
	free(p);
}

void
mime_free(struct mime_message *m)
{
	if (m == NULL)
		return;
	part_free(m->root);
	free(m);
}

const char *
mime_param_get(const struct mime_params *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].name, name) == 0)
			return ps->v[i].value;
	return NULL;
}

int
mime_part_is_multipart(const struct mime_part *p)
{
	return strcmp(p->type, "multipart") == 0;
}

int
mime_part_is_message(const struct mime_part *p)
{
	return strcmp(p->type, "message") == 0 &&
	    (strcmp(p->subtype, "rfc822") == 0 ||
		strcmp(p->subtype, "global") == 0);
}

/* is the line at i "name:" (WSP allowed before the colon) */
static int
field_line(const char *s, size_t end, size_t i)
{
	size_t start = i;
	unsigned char c;

	for (; i < end; i++) {
		c = s[i];
		if (c <= ' ' || c >= 0x7f || c == ':')
			break;
	}
	if (i == start)
		return 0;
	while (i < end && ISWSP(s[i]))
		i++;
	return i < end && s[i] == ':';
}

/*
 * Where the header at start ends: the blank line is the header's; a line
 * that is no field (nor a continuation) starts the body.  1 when one of
 * them ended it, 0 when the text did.
 */
static int
header_bounds(struct mime_part *p, const char *s, size_t start, size_t end)
{
	size_t i = start;

	/* an mbox "From " line that came along with a whole message */
	if (start == 0 && end > 5 && memcmp(s, "From ", 5) == 0)
		i = message_line_end(s, end, i);
	while (i < end) {
		if (s[i] == '\n' ||
		    (s[i] == '\r' && i + 1 < end && s[i + 1] == '\n')) {
			p->hdr_off = start;
			p->body_off = message_line_end(s, end, i);
			p->hdr_len = p->body_off - start;
			return 1;
		}
		if (!(i > start && ISWSP(s[i])) && !field_line(s, end, i))
			break;
		i = message_line_end(s, end, i);
	}
	p->hdr_off = start;
	p->hdr_len = i - start;
	p->body_off = i;
	return i < end;
}

int
mime_header_extent(const char *msg, size_t len, int whole, size_t *hdr_len)
{
	struct mime_part p;
	int ended;

	memset(&p, 0, sizeof(p));
	ended = header_bounds(&p, msg, 0, len);
	*hdr_len = p.hdr_len;
	return ended || whole;
}

static char *
field_unfolded(const struct mime_field *f)
{
	return mime_header_unfold(f->value, f->valuelen);
}

/* an RFC 2045 token: no specials, no controls, no 8-bit */
static int
token_valid(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?=", *s) != NULL)
			return 0;
	return 1;
}

static int
content_type(struct mime_part *p, const struct mime_field *f)
{
	struct mime_params ps;
	char *first, *slash;

	if (mime_params_parse(f->value, f->valuelen, &first, &ps) == -1)
		return -1;
	if (first == NULL || (slash = strchr(first, '/')) == NULL) {
		/* unusable: the default type stays */
		free(first);
		mime_params_free(&ps);
		return 0;
	}
	*slash = '\0';
	if (!token_valid(first) || !token_valid(slash + 1)) {
		free(first);
		mime_params_free(&ps);
		return 0;
	}
	free(p->type);
	free(p->subtype);
	p->type = first;
	if ((p->subtype = strdup(slash + 1)) == NULL) {
		mime_params_free(&ps);
		return -1;
	}
	mime_params_free(&p->params);
	p->params = ps;
	p->explicit_type = 1;
	return 0;
}

static int
set_string(char **dst, const struct mime_field *f)
{
	if (*dst != NULL)
		return 0; /* the first of duplicate fields counts */
	return (*dst = field_unfolded(f)) == NULL ? -1 : 0;
}

/* the Content-* fields of the part's header */
static int
part_fields(struct mime_part *p, const char *s)
{
	struct mime_field f;
	struct mime_params ps;
	size_t pos = 0, count = 0;
	char *first;
	int have_type = 0;

	while (count++ < MIME_FIELDS_MAX &&
	    mime_header_next(s + p->hdr_off, p->hdr_len, &pos, &f)) {
		if (f.namelen < 9 || strncasecmp(f.name, "content-", 8) != 0)
			continue;
#define IS(n) \
	(f.namelen == sizeof(n) - 1 && strncasecmp(f.name, n, f.namelen) == 0)
		if (IS("content-type")) {
			if (!have_type && content_type(p, &f) == -1)
				return -1;
			have_type = 1;
		} else if (IS("content-transfer-encoding")) {
			if (p->encoding != NULL)
				continue;
			if (mime_params_parse(
				f.value, f.valuelen, &p->encoding, &ps) == -1)
				return -1;
			mime_params_free(&ps);
		} else if (IS("content-disposition")) {
			if (p->disposition != NULL)
				continue;
			if (mime_params_parse(
				f.value, f.valuelen, &first, &ps) == -1)
				return -1;
			if (first == NULL)
				mime_params_free(&ps);
			else {
				p->disposition = first;
				p->dparams = ps;
			}
		} else if (IS("content-id")) {
			if (set_string(&p->id, &f) == -1)
				return -1;
		} else if (IS("content-description")) {
			if (set_string(&p->description, &f) == -1)
				return -1;
		} else if (IS("content-md5")) {
			if (set_string(&p->md5, &f) == -1)
				return -1;
		} else if (IS("content-language")) {
			if (set_string(&p->language, &f) == -1)
				return -1;
		} else if (IS("content-location")) {
			if (set_string(&p->location, &f) == -1)
				return -1;
		}
#undef IS
	}
	if (count > MIME_FIELDS_MAX)
		return 1;
	return 0;
}

static size_t
count_lines(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *lf;
	size_t n = 0;

	while (p < end && (lf = memchr(p, '\n', end - p)) != NULL) {
		n++;
		p = lf + 1;
	}
	if (p < end)
		n++;
	return n;
}

struct parser {
	struct mime_message *m;
	const char *s;
};

static struct mime_part *parse_part(struct parser *, struct mime_part *parent,
    size_t start, size_t end, int depth, int digest);

/*
 * A delimiter line for boundary b at i: 1 for "--b", 2 for "--b--"; any
 * white space may follow before the line end.
 */
static int
delimiter(const char *s, size_t end, size_t i, const char *b, size_t blen)
{
	int kind = 1;

	if (end - i < blen + 2 || s[i] != '-' || s[i + 1] != '-' ||
	    memcmp(s + i + 2, b, blen) != 0)
		return 0;
	i += blen + 2;
	if (end - i >= 2 && s[i] == '-' && s[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	while (i < end && ISWSP(s[i]))
		i++;
	if (i < end && s[i] != '\r' && s[i] != '\n')
		return 0;
	return kind;
}

/* the next delimiter line at or after i, at a line start: its start */
static size_t
find_delimiter(const char *s, size_t body, size_t end, size_t i, const char *b,
    size_t blen, int *kind)
{
	const char *hit;

	while (i < end) {
		hit = memmem(s + i, end - i, "--", 2);
		if (hit == NULL)
			return end;
		i = hit - s;
		if ((i == body || s[i - 1] == '\n') &&
		    (*kind = delimiter(s, end, i, b, blen)) != 0)
			return i;
		i = message_line_end(s, end, i);
	}
	return end;
}

static void
add_child(
    struct mime_part *parent, struct mime_part *c, struct mime_part **last)
{
	if (*last == NULL)
		parent->child = c;
	else
		(*last)->next = c;
	*last = c;
	parent->nchild++;
}

static int
parse_multipart(struct parser *ps, struct mime_part *p, size_t end, int depth)
{
	const char *b = mime_param_get(&p->params, "boundary");
	struct mime_part *c, *last = NULL;
	size_t blen, i, start, stop;
	int kind = 0, digest = strcmp(p->subtype, "digest") == 0;

	if (b == NULL || (blen = strlen(b)) == 0 || blen > MIME_BOUNDARY_MAX)
		return 0;
	i = find_delimiter(
	    ps->s, p->body_off, end, p->body_off, b, blen, &kind);
	while (i < end && kind == 1) {
		start = message_line_end(ps->s, end, i);
		i = find_delimiter(
		    ps->s, p->body_off, end, start, b, blen, &kind);
		/* the line end before a delimiter is the delimiter's */
		stop = i;
		if (i < end && stop > start && ps->s[stop - 1] == '\n')
			stop--;
		if (i < end && stop > start && ps->s[stop - 1] == '\r')
			stop--;
		if (ps->m->nparts >= MIME_PARTS_MAX) {
			ps->m->flags |= MIME_TRUNCATED;
			break;
		}
		if ((c = parse_part(ps, p, start, stop, depth + 1, digest)) ==
		    NULL)
			return -1;
		add_child(p, c, &last);
	}
	return 0;
}

static struct mime_part *
parse_part(struct parser *ps, struct mime_part *parent, size_t start,
    size_t end, int depth, int digest)
{
	struct mime_part *p;
	int rv;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	ps->m->nparts++;
	p->parent = parent;
	header_bounds(p, ps->s, start, end);
	p->body_len = end - p->body_off;
	p->body_lines = count_lines(ps->s + p->body_off, p->body_len);
	if ((rv = part_fields(p, ps->s)) == -1)
		goto fail;
	if (rv == 1)
		ps->m->flags |= MIME_TRUNCATED;
	if (p->type == NULL) {
		p->type = strdup(digest ? "message" : "text");
		p->subtype = strdup(digest ? "rfc822" : "plain");
		if (p->type == NULL || p->subtype == NULL)
			goto fail;
	}
	if (mime_part_is_multipart(p) || mime_part_is_message(p)) {
		if (depth >= MIME_DEPTH_MAX) {
			ps->m->flags |= MIME_TRUNCATED;
			return p;
		}
	}
	if (mime_part_is_multipart(p)) {
		if (parse_multipart(ps, p, end, depth) == -1)
			goto fail;
	} else if (mime_part_is_message(p) &&
	    (p->encoding == NULL || strcmp(p->encoding, "7bit") == 0 ||
		strcmp(p->encoding, "8bit") == 0 ||
		strcmp(p->encoding, "binary") == 0)) {
		/* an encoded message/rfc822 is no message to look into */
		if (ps->m->nparts >= MIME_PARTS_MAX) {
			ps->m->flags |= MIME_TRUNCATED;
			return p;
		}
		if ((p->child = parse_part(
			 ps, p, p->body_off, end, depth + 1, 0)) == NULL)
			goto fail;
		p->nchild = 1;
	}
	return p;
fail:
	part_free(p);
	return NULL;
}

struct mime_message *
mime_parse(const char *msg, size_t len)
{
	struct mime_message *m;
	struct parser ps;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->msg = msg;
	m->len = len;
	ps.m = m;
	ps.s = msg;
	if ((m->root = parse_part(&ps, NULL, 0, len, 0, 0)) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

int
mime_part_decode(const struct mime_message *m, const struct mime_part *p,
    struct evbuffer *out)
{
	const char *body = m->msg + p->body_off;
	const char *e = p->encoding;

	if (e == NULL || strcmp(e, "7bit") == 0 || strcmp(e, "8bit") == 0 ||
	    strcmp(e, "binary") == 0)
		return evbuffer_add(out, body, p->body_len);
	if (strcmp(e, "base64") == 0)
		return mime_base64_decode(body, p->body_len, out);
	if (strcmp(e, "quoted-printable") == 0)
		return mime_qp_decode(body, p->body_len, out);
	if (evbuffer_add(out, body, p->body_len) == -1)
		return -1;
	return 1;
}

int
mime_part_text(const struct mime_message *m, const struct mime_part *p,
    struct evbuffer *out)
{
	struct evbuffer *raw;
	const char *charset;
	unsigned char *s;
	size_t n;
	int rv = -1;

	if ((raw = evbuffer_new()) == NULL)
		return -1;
	if (mime_part_decode(m, p, raw) == -1)
		goto done;
	if ((charset = mime_param_get(&p->params, "charset")) == NULL)
		charset = "us-ascii";
	n = evbuffer_get_length(raw);
	if ((s = evbuffer_pullup(raw, n)) == NULL && n > 0)
		goto done;
	if (charset_to_utf8(charset, (char *)s, n, out) == -1)
		goto done;
	rv = 0;
done:
	evbuffer_free(raw);
	return rv;
}

static int
message_text(const struct mime_message *m, const struct mime_part *p,
    struct evbuffer *out)
{
	const struct mime_part *c;

	if (mime_part_is_multipart(p) || mime_part_is_message(p)) {
		for (c = p->child; c != NULL; c = c->next)
			if (message_text(m, c, out) == -1)
				return -1;
		return 0;
	}
	if (strcmp(p->type, "text") != 0)
		return 0;
	if (mime_part_text(m, p, out) == -1 || evbuffer_add(out, "\n", 1) == -1)
		return -1;
	return 0;
}

int
mime_message_text(const struct mime_message *m, struct evbuffer *out)
{
	return message_text(m, m->root, out);
}

int
mime_crlf_needed(const char *msg, size_t len)
{
	const char *p, *end;

	/* an empty buffer's pullup is NULL: no arithmetic on it */
	if (len == 0)
		return 0;
	p = msg;
	end = msg + len;
	while (p < end && (p = memchr(p, '\n', end - p)) != NULL) {
		if (p == msg || p[-1] != '\r')
			return 1;
		p++;
	}
	/* a CR not followed by LF */
	for (p = msg; p < end && (p = memchr(p, '\r', end - p)) != NULL; p++)
		if (p + 1 == end || p[1] != '\n')
			return 1;
	return 0;
}

int
mime_crlf(const char *msg, size_t len, struct evbuffer *out)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r')) {
			if (evbuffer_add(out, msg + start, i - start) == -1 ||
			    evbuffer_add(out, "\r\n", 2) == -1)
				return -1;
			start = i + 1;
		} else if (msg[i] == '\r' &&
		    (i + 1 == len || msg[i + 1] != '\n')) {
			if (evbuffer_add(out, msg + start, i - start) == -1 ||
			    evbuffer_add(out, "\r\n", 2) == -1)
				return -1;
			start = i + 1;
		}
	}
	return evbuffer_add(out, msg + start, len - start);
}
