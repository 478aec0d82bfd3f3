/*
 * A parsed message as IMAP shows it: ENVELOPE (RFC 3501 7.4.2), BODY and
 * BODYSTRUCTURE with their extension data, and the octets of a FETCH
 * section (RFC 3501 6.4.5) or a BINARY one (RFC 3516).  Where the RFC
 * leaves room, the choices are Dovecot's, so that clients see the same.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "imapd.h"

#define ADD(b, s) evbuffer_add((b), (s), sizeof(s) - 1)

static int
write_cstring(struct evbuffer *b, const char *s, int utf8)
{
	return imap_write_nstring(b, s, s == NULL ? 0 : strlen(s), utf8);
}

/* the fields ENVELOPE shows, in its order */
enum envelope_field {
	ENV_DATE,
	ENV_SUBJECT,
	ENV_FROM,
	ENV_SENDER,
	ENV_REPLY_TO,
	ENV_TO,
	ENV_CC,
	ENV_BCC,
	ENV_IN_REPLY_TO,
	ENV_MESSAGE_ID,
	ENV_MAX
};

static const struct {
	const char *name;
	size_t len;
} envelope_names[ENV_MAX] = {{"date", 4}, {"subject", 7}, {"from", 4},
    {"sender", 6}, {"reply-to", 8}, {"to", 2}, {"cc", 2}, {"bcc", 3},
    {"in-reply-to", 11}, {"message-id", 10}};

/*
 * The first field of each name, in one pass over the header: what
 * mime_header_get() finds for each, without a pass per name.
 */
static void
envelope_fields(const char *hdr, size_t len, struct mime_field *v, int *found)
{
	struct mime_field f;
	size_t pos = 0, count = 0;
	int i, left = ENV_MAX;

	memset(found, 0, ENV_MAX * sizeof(*found));
	while (left > 0 && count++ < MIME_FIELDS_MAX &&
	    mime_header_next(hdr, len, &pos, &f))
		for (i = 0; i < ENV_MAX; i++) {
			if (!found[i] && f.namelen == envelope_names[i].len &&
			    strncasecmp(f.name, envelope_names[i].name,
				f.namelen) == 0) {
				v[i] = f;
				found[i] = 1;
				left--;
				break;
			}
		}
}

static int
envelope_string(struct evbuffer *b, const struct mime_field *f, int utf8)
{
	char *v = NULL;
	int rv;

	if (f != NULL &&
	    (v = mime_header_unfold(f->value, f->valuelen)) == NULL)
		return -1;
	rv = write_cstring(b, v, utf8);
	free(v);
	return rv;
}

/* the addresses of a field (none if f is NULL): 0 or -1 */
static int
envelope_parse(const struct mime_field *f, struct mime_addresses *as)
{
	as->v = NULL;
	as->n = 0;
	if (f == NULL)
		return 0;
	return mime_address_parse(f->value, f->valuelen, 0, as);
}

/* an address list, or NIL when it holds none */
static int
envelope_addresses(
    struct evbuffer *b, const struct mime_addresses *as, int utf8)
{
	size_t i;

	if (as->n == 0)
		return ADD(b, "NIL");
	if (ADD(b, "(") == -1)
		return -1;
	for (i = 0; i < as->n; i++) {
		if (ADD(b, "(") == -1 ||
		    write_cstring(b, as->v[i].name, utf8) == -1 ||
		    ADD(b, " ") == -1 ||
		    write_cstring(b, as->v[i].adl, utf8) == -1 ||
		    ADD(b, " ") == -1 ||
		    write_cstring(b, as->v[i].mailbox, utf8) == -1 ||
		    ADD(b, " ") == -1 ||
		    write_cstring(b, as->v[i].host, utf8) == -1 ||
		    ADD(b, ")") == -1)
			return -1;
	}
	return ADD(b, ")");
}

/* a list field; Sender and Reply-To default to From (RFC 3501 7.4.2) */
static int
envelope_list(struct evbuffer *b, const struct mime_field *f,
    const struct mime_addresses *from, int utf8)
{
	struct mime_addresses as;
	int rv;

	if (envelope_parse(f, &as) == -1)
		return -1;
	rv =
	    envelope_addresses(b, as.n == 0 && from != NULL ? from : &as, utf8);
	mime_addresses_free(&as);
	return rv;
}

int
imap_envelope_write(struct evbuffer *b, const struct mime_message *m,
    const struct mime_part *p, int utf8)
{
	struct mime_field v[ENV_MAX];
	struct mime_addresses from;
	int found[ENV_MAX], rv = -1;

#define F(i) (found[i] ? &v[i] : NULL)
	envelope_fields(m->msg + p->hdr_off, p->hdr_len, v, found);
	/* From once, for Sender and Reply-To as well */
	if (envelope_parse(F(ENV_FROM), &from) == -1)
		return -1;
	if (ADD(b, "(") == -1 || envelope_string(b, F(ENV_DATE), utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_string(b, F(ENV_SUBJECT), utf8) == -1 ||
	    ADD(b, " ") == -1 || envelope_addresses(b, &from, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_list(b, F(ENV_SENDER), &from, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_list(b, F(ENV_REPLY_TO), &from, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_list(b, F(ENV_TO), NULL, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_list(b, F(ENV_CC), NULL, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_list(b, F(ENV_BCC), NULL, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_string(b, F(ENV_IN_REPLY_TO), utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    envelope_string(b, F(ENV_MESSAGE_ID), utf8) == -1 ||
	    ADD(b, ")") == -1)
		goto done;
#undef F
	rv = 0;
done:
	mime_addresses_free(&from);
	return rv;
}

static int
ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* a non-ASCII value, for a client without UTF8=ACCEPT: RFC 2231 again */
static int
write_param_2231(struct evbuffer *b, const struct mime_param *pa)
{
	static const char hex[] = "0123456789ABCDEF";
	struct evbuffer *v;
	const unsigned char *s;
	char esc[3];
	size_t n;
	unsigned char *flat;
	int rv = -1;

	if ((v = evbuffer_new()) == NULL)
		return -1;
	if (evbuffer_add_printf(v, "%s*", pa->name) == -1)
		goto done;
	n = evbuffer_get_length(v);
	if ((flat = evbuffer_pullup(v, n)) == NULL ||
	    imap_write_string(b, (char *)flat, n, 0) == -1)
		goto done;
	evbuffer_drain(v, n);
	if (ADD(v, "utf-8''") == -1)
		goto done;
	for (s = (const unsigned char *)pa->value; *s != '\0'; s++) {
		if (isalnum(*s) || strchr("-._~!$&+", *s) != NULL) {
			if (evbuffer_add(v, s, 1) == -1)
				goto done;
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*s >> 4];
		esc[2] = hex[*s & 15];
		if (evbuffer_add(v, esc, 3) == -1)
			goto done;
	}
	n = evbuffer_get_length(v);
	if (ADD(b, " ") == -1 || (flat = evbuffer_pullup(v, n)) == NULL ||
	    imap_write_string(b, (char *)flat, n, 0) == -1)
		goto done;
	rv = 0;
done:
	evbuffer_free(v);
	return rv;
}

static int
write_param(struct evbuffer *b, const struct mime_param *pa, int utf8)
{
	if (!utf8 && !ascii(pa->value))
		return write_param_2231(b, pa);
	if (write_cstring(b, pa->name, utf8) == -1 || ADD(b, " ") == -1 ||
	    write_cstring(b, pa->value, utf8) == -1)
		return -1;
	return 0;
}

/* text: a part without a charset gets RFC 2045's default, as in Dovecot */
static int
write_params(
    struct evbuffer *b, const struct mime_params *ps, int text, int utf8)
{
	size_t i;

	if (ps->n == 0 && !text)
		return ADD(b, "NIL");
	if (ADD(b, "(") == -1)
		return -1;
	for (i = 0; i < ps->n; i++)
		if ((i > 0 && ADD(b, " ") == -1) ||
		    write_param(b, &ps->v[i], utf8) == -1)
			return -1;
	if (text && mime_param_get(ps, "charset") == NULL &&
	    ((ps->n > 0 && ADD(b, " ") == -1) ||
		ADD(b, "\"charset\" \"us-ascii\"") == -1))
		return -1;
	return ADD(b, ")");
}

/* Content-Language: one string, or a list of them */
static int
write_language(struct evbuffer *b, const char *lang, int utf8)
{
	const char *p, *start;
	size_t n = 0, len;
	int list;

	if (lang == NULL)
		return ADD(b, "NIL");
	for (p = lang; *p != '\0'; p++)
		n += *p == ',';
	list = n > 0;
	if (list && ADD(b, "(") == -1)
		return -1;
	for (p = lang, n = 0; *p != '\0';) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if ((len = p - start) == 0)
			continue;
		if ((n++ > 0 && ADD(b, " ") == -1) ||
		    imap_write_string(b, start, len, utf8) == -1)
			return -1;
		if (!list)
			break;
	}
	if (n == 0 && !list)
		return ADD(b, "NIL");
	if (list && ADD(b, ")") == -1)
		return -1;
	return 0;
}

static int
write_disposition(struct evbuffer *b, const struct mime_part *p, int utf8)
{
	if (p->disposition == NULL)
		return ADD(b, "NIL");
	if (ADD(b, "(") == -1 || write_cstring(b, p->disposition, utf8) == -1 ||
	    ADD(b, " ") == -1 || write_params(b, &p->dparams, 0, utf8) == -1 ||
	    ADD(b, ")") == -1)
		return -1;
	return 0;
}

/* the disposition, language and location every extended part ends with */
static int
write_extension_tail(struct evbuffer *b, const struct mime_part *p, int utf8)
{
	if (ADD(b, " ") == -1 || write_disposition(b, p, utf8) == -1 ||
	    ADD(b, " ") == -1 || write_language(b, p->language, utf8) == -1 ||
	    ADD(b, " ") == -1 || write_cstring(b, p->location, utf8) == -1)
		return -1;
	return 0;
}

#define EMPTY_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
#define EMPTY_TEXT \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_TEXT_EXTENDED                                                    \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 " \
	"NIL NIL NIL NIL)"

static int
bodystructure(struct evbuffer *b, const struct mime_message *m,
    const struct mime_part *p, int extended, int utf8)
{
	const struct mime_part *c;
	int text = strcmp(p->type, "text") == 0;

	if (mime_part_is_multipart(p)) {
		if (ADD(b, "(") == -1)
			return -1;
		/* no part found: one empty text part, as Dovecot shows it */
		if (p->child == NULL &&
		    (extended ? ADD(b, EMPTY_TEXT_EXTENDED)
			      : ADD(b, EMPTY_TEXT)) == -1)
			return -1;
		for (c = p->child; c != NULL; c = c->next)
			if (bodystructure(b, m, c, extended, utf8) == -1)
				return -1;
		if (ADD(b, " ") == -1 ||
		    write_cstring(b, p->subtype, utf8) == -1)
			return -1;
		if (extended &&
		    (ADD(b, " ") == -1 ||
			write_params(b, &p->params, 0, utf8) == -1 ||
			write_extension_tail(b, p, utf8) == -1))
			return -1;
		return ADD(b, ")");
	}
	if (ADD(b, "(") == -1 || write_cstring(b, p->type, utf8) == -1 ||
	    ADD(b, " ") == -1 || write_cstring(b, p->subtype, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    write_params(b, &p->params, text, utf8) == -1 ||
	    ADD(b, " ") == -1 || write_cstring(b, p->id, utf8) == -1 ||
	    ADD(b, " ") == -1 || write_cstring(b, p->description, utf8) == -1 ||
	    ADD(b, " ") == -1 ||
	    write_cstring(
		b, p->encoding == NULL ? "7bit" : p->encoding, utf8) == -1 ||
	    evbuffer_add_printf(b, " %zu", p->body_len) == -1)
		return -1;
	if (mime_part_is_message(p) && p->child != NULL) {
		if (ADD(b, " ") == -1 ||
		    imap_envelope_write(b, m, p->child, utf8) == -1 ||
		    ADD(b, " ") == -1 ||
		    bodystructure(b, m, p->child, extended, utf8) == -1 ||
		    evbuffer_add_printf(b, " %zu", p->body_lines) == -1)
			return -1;
	} else if (mime_part_is_message(p)) {
		/*
		 * Not looked into (encoded, or past a bound): clients still
		 * get the shape message/rfc822 promises, empty.
		 */
		if ((extended
			    ? ADD(b, " " EMPTY_ENVELOPE " " EMPTY_TEXT_EXTENDED)
			    : ADD(b, " " EMPTY_ENVELOPE " " EMPTY_TEXT)) ==
			-1 ||
		    evbuffer_add_printf(b, " %zu", p->body_lines) == -1)
			return -1;
	} else if (text && evbuffer_add_printf(b, " %zu", p->body_lines) == -1)
		return -1;
	if (extended &&
	    (ADD(b, " ") == -1 || write_cstring(b, p->md5, utf8) == -1 ||
		write_extension_tail(b, p, utf8) == -1))
		return -1;
	return ADD(b, ")");
}

int
imap_bodystructure_write(struct evbuffer *b, const struct mime_message *m,
    const struct mime_part *p, int extended, int utf8)
{
	return bodystructure(b, m, p, extended, utf8);
}

/* b's octets as a malloc'ed string: 0 or -1 */
static int
view_text(struct evbuffer *b, char **text, size_t *len)
{
	*len = evbuffer_get_length(b);
	if ((*text = malloc(*len + 1)) == NULL)
		return -1;
	if (evbuffer_remove(b, *text, *len) != (int)*len) {
		free(*text);
		return -1;
	}
	(*text)[*len] = '\0';
	return 0;
}

#define ENVELOPE_READ	    4096	 /* read at first: most headers fit */
#define ENVELOPE_HEADER_MAX (256 * 1024) /* past it the whole is parsed */

/* the CRLF form of s as mime_crlf() makes it, into out (2 * n): its length */
static size_t
crlf_copy(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if ((s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) ||
		    (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))) {
			out[o++] = '\r';
			out[o++] = '\n';
		} else
			out[o++] = s[i];
	}
	return o;
}

/*
 * How much of the raw octets read to convert: up to a blank line (LF LF
 * or LF CR LF), where the header ends at the latest, else up to the last
 * LF (a prefix converts as the whole would up to there), or all of it.
 */
static size_t
header_cut(const char *raw, size_t have, int whole)
{
	const char *p = raw, *end = raw + have, *last = NULL;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		last = ++p;
		if (p < end && *p == '\n')
			return (size_t)(p + 1 - raw);
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - raw);
	}
	if (whole)
		return have;
	return last == NULL ? 0 : (size_t)(last - raw);
}

/*
 * ENVELOPE from the header alone (a message's body cannot change it),
 * read from the start of fd until it is whole: the same text as from the
 * parsed message, without reading, converting or parsing the body.  0,
 * -1, or 1 when the header is too long for it.
 */
static int
envelope_from_header(int fd, char **text, size_t *len)
{
	char rawbuf[ENVELOPE_READ], crlfbuf[2 * ENVELOPE_READ];
	char *raw = rawbuf, *crlf = crlfbuf, *p;
	struct mime_message m;
	struct mime_part part;
	struct evbuffer *b = NULL;
	size_t cap = sizeof(rawbuf), have = 0, cut, n, hdr_len;
	ssize_t got;
	int whole, rv = -1;

	for (;;) {
		if ((got = pread(fd, raw + have, cap - have, (off_t)have)) ==
		    -1)
			goto done;
		have += (size_t)got;
		/* a short read of a plain file is its end */
		whole = have < cap || got == 0;
		cut = header_cut(raw, have, whole);
		n = crlf_copy(raw, cut, crlf);
		if (mime_header_extent(crlf, n, whole, &hdr_len))
			break;
		if (cap >= ENVELOPE_HEADER_MAX) {
			rv = 1;
			goto done;
		}
		cap *= 2;
		if ((p = malloc(cap)) == NULL)
			goto done;
		memcpy(p, raw, have);
		if (raw != rawbuf)
			free(raw);
		raw = p;
		if (crlf != crlfbuf)
			free(crlf);
		if ((crlf = malloc(2 * cap)) == NULL)
			goto done;
	}
	memset(&m, 0, sizeof(m));
	memset(&part, 0, sizeof(part));
	m.msg = crlf;
	m.len = hdr_len;
	m.root = &part;
	m.nparts = 1;
	part.hdr_len = hdr_len;
	if ((b = evbuffer_new()) == NULL ||
	    imap_envelope_write(b, &m, &part, 0) == -1 ||
	    view_text(b, text, len) == -1)
		goto done;
	rv = 0;
done:
	if (b != NULL)
		evbuffer_free(b);
	if (raw != rawbuf)
		free(raw);
	if (crlf != crlfbuf)
		free(crlf);
	return rv;
}

int
imap_message_view(int fd, enum imap_view what, char **text, size_t *len)
{
	struct mime_message *m = NULL;
	struct evbuffer *b = NULL, *crlf = NULL;
	struct stat st;
	void *map = NULL;
	const char *msg;
	size_t size = 0, size_crlf;
	int rv = -1;

	if (what == IMAP_VIEW_ENVELOPE &&
	    (rv = envelope_from_header(fd, text, len)) != 1)
		return rv;
	rv = -1;
	if (fstat(fd, &st) == -1 || st.st_size < 0)
		return -1;
	size = st.st_size;
	if (size > 0 &&
	    (map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
		MAP_FAILED)
		return -1;
	if ((b = evbuffer_new()) == NULL || (crlf = evbuffer_new()) == NULL)
		goto done;
	msg = size > 0 ? map : "";
	if (mime_crlf_needed(msg, size)) {
		if (mime_crlf(msg, size, crlf) == -1 ||
		    (msg = (char *)evbuffer_pullup(crlf, -1)) == NULL)
			goto done;
		size_crlf = evbuffer_get_length(crlf);
	} else
		size_crlf = size;
	if ((m = mime_parse(msg, size_crlf)) == NULL)
		goto done;
	if ((what == IMAP_VIEW_ENVELOPE
		    ? imap_envelope_write(b, m, m->root, 0)
		    : imap_bodystructure_write(b, m, m->root,
			  what == IMAP_VIEW_BODYSTRUCTURE, 0)) == -1)
		goto done;
	if (view_text(b, text, len) == -1)
		goto done;
	rv = 0;
done:
	mime_free(m);
	if (b != NULL)
		evbuffer_free(b);
	if (crlf != NULL)
		evbuffer_free(crlf);
	if (map != NULL)
		munmap(map, size);
	return rv;
}

/* ---- sections */

void
imap_section_free(struct imap_section *sec)
{
	size_t i;

	for (i = 0; i < sec->nfields; i++)
		free(sec->fields[i]);
	free(sec->fields);
	sec->fields = NULL;
	sec->nfields = 0;
}

static int
word_is(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp(s, word, n) == 0 &&
	    (len == n || s[n] == ' ' || s[n] == '.');
}

/* the header names of "(A B "C")": astrings, at most the bound */
static int
section_fields(struct imap_section *sec, const char *s, size_t len)
{
	size_t i = 0, start, o, n = 0;
	char *name;

	if (len < 2 || s[0] != '(' || s[len - 1] != ')')
		return -1;
	/* count first, allocate then */
	for (i = 1; i < len - 1; i++)
		if (s[i] == ' ')
			n++;
	if (n + 1 > IMAP_SECTION_FIELDS_MAX)
		return -1;
	if ((sec->fields = calloc(n + 1, sizeof(*sec->fields))) == NULL)
		return -1;
	for (i = 1; i < len - 1;) {
		if ((name = malloc(len)) == NULL)
			return -1;
		o = 0;
		if (s[i] == '"') {
			for (i++; i < len - 1 && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < len - 1)
					i++;
				name[o++] = s[i];
			}
			if (i >= len - 1) {
				free(name);
				return -1;
			}
			i++;
		} else {
			start = i;
			while (i < len - 1 && s[i] != ' ') {
				if ((unsigned char)s[i] <= ' ' ||
				    (unsigned char)s[i] >= 0x7f ||
				    strchr("(){%*\"\\]", s[i]) != NULL) {
					free(name);
					return -1;
				}
				i++;
			}
			o = i - start;
			memcpy(name, s + start, o);
		}
		name[o] = '\0';
		if (o == 0 || sec->nfields > n) {
			free(name);
			return -1;
		}
		sec->fields[sec->nfields++] = name;
		if (i < len - 1) {
			if (s[i] != ' ' || i + 1 >= len - 1) {
				return -1;
			}
			i++;
		}
	}
	return sec->nfields > 0 ? 0 : -1;
}

static int
section_parse(struct imap_section *sec, const char *s, size_t len, int binary)
{
	size_t i = 0, start;
	uint64_t v;

	while (i < len && isdigit((unsigned char)s[i])) {
		start = i;
		for (v = 0; i < len && isdigit((unsigned char)s[i]); i++) {
			v = v * 10 + (s[i] - '0');
			if (v > UINT32_MAX)
				return -1;
		}
		if (v == 0 || s[start] == '0' ||
		    sec->npart >= sizeof(sec->part) / sizeof(sec->part[0]))
			return -1;
		sec->part[sec->npart++] = v;
		if (i == len)
			return 0;
		if (s[i] != '.' || i + 1 == len)
			return -1;
		i++;
	}
	if (binary)
		return len == 0 ? 0 : -1;
	s += i;
	len -= i;
	if (len == 4 && strncasecmp(s, "TEXT", 4) == 0)
		sec->text = IMAP_SECTION_TEXT;
	else if (len == 4 && strncasecmp(s, "MIME", 4) == 0 && sec->npart > 0)
		sec->text = IMAP_SECTION_MIME;
	else if (len == 6 && strncasecmp(s, "HEADER", 6) == 0)
		sec->text = IMAP_SECTION_HEADER;
	else if (word_is(s, len, "HEADER.FIELDS.NOT") && len > 18 &&
	    s[17] == ' ') {
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
		return section_fields(sec, s + 18, len - 18);
	} else if (word_is(s, len, "HEADER.FIELDS") && len > 14 &&
	    s[13] == ' ') {
		sec->text = IMAP_SECTION_HEADER_FIELDS;
		return section_fields(sec, s + 14, len - 14);
	} else if (len > 0)
		return -1;
	return 0;
}

int
imap_section_parse(
    struct imap_section *sec, const char *s, size_t len, int binary)
{
	memset(sec, 0, sizeof(*sec));
	sec->text = IMAP_SECTION_BODY;
	if (section_parse(sec, s, len, binary) == -1) {
		imap_section_free(sec);
		return -1;
	}
	return 0;
}

/*
 * The part a section's numbers name (RFC 3501 6.4.5): a multipart's n-th
 * part; inside a message/rfc822 part, its message's parts, or the message
 * itself as part 1 when it is no multipart; the same for the top-level
 * message.  NULL if there is none.
 */
static const struct mime_part *
section_part(const struct mime_message *m, const struct imap_section *sec)
{
	const struct mime_part *p = m->root, *c;
	size_t i;
	uint32_t n;

	for (i = 0; i < sec->npart; i++) {
		n = sec->part[i];
		if (i > 0 && mime_part_is_message(p)) {
			if ((p = p->child) == NULL)
				return NULL;
		} else if (i > 0 && !mime_part_is_multipart(p))
			return NULL;
		if (!mime_part_is_multipart(p)) {
			if (n != 1)
				return NULL;
			continue;
		}
		for (c = p->child; c != NULL && n > 1; c = c->next)
			n--;
		if ((p = c) == NULL)
			return NULL;
	}
	return p;
}

static int
field_listed(const struct imap_section *sec, const struct mime_field *f)
{
	size_t i;

	for (i = 0; i < sec->nfields; i++)
		if (strlen(sec->fields[i]) == f->namelen &&
		    strncasecmp(sec->fields[i], f->name, f->namelen) == 0)
			return 1;
	return 0;
}

static int
header_fields(struct evbuffer *b, const struct mime_message *m,
    const struct mime_part *p, const struct imap_section *sec)
{
	struct mime_field f;
	size_t pos = 0;
	int not = sec->text == IMAP_SECTION_HEADER_FIELDS_NOT;

	while (mime_header_next(m->msg + p->hdr_off, p->hdr_len, &pos, &f)) {
		if (field_listed(sec, &f) == not )
			continue;
		if (evbuffer_add(b, f.raw, f.rawlen) == -1)
			return -1;
		if (f.raw[f.rawlen - 1] != '\n' && ADD(b, "\r\n") == -1)
			return -1;
	}
	return ADD(b, "\r\n");
}

int
imap_section_write(struct evbuffer *b, const struct mime_message *m,
    const struct imap_section *sec)
{
	const struct mime_part *p;

	if ((p = section_part(m, sec)) == NULL)
		return 0;
	if (sec->npart == 0 && sec->text == IMAP_SECTION_BODY)
		return evbuffer_add(b, m->msg, m->len);
	if (sec->text == IMAP_SECTION_BODY)
		return evbuffer_add(b, m->msg + p->body_off, p->body_len);
	if (sec->text == IMAP_SECTION_MIME)
		return evbuffer_add(b, m->msg + p->hdr_off, p->hdr_len);
	/* HEADER and TEXT of a part: of the message the part holds */
	if (sec->npart > 0) {
		if (!mime_part_is_message(p) || p->child == NULL)
			return 0;
		p = p->child;
	}
	switch (sec->text) {
	case IMAP_SECTION_HEADER:
		return evbuffer_add(b, m->msg + p->hdr_off, p->hdr_len);
	case IMAP_SECTION_TEXT:
		return evbuffer_add(b, m->msg + p->body_off, p->body_len);
	default:
		return header_fields(b, m, p, sec);
	}
}

int
imap_section_binary(struct evbuffer *b, const struct mime_message *m,
    const struct imap_section *sec)
{
	const struct mime_part *p;

	if (sec->npart == 0)
		return evbuffer_add(b, m->msg, m->len);
	if ((p = section_part(m, sec)) == NULL)
		return 0;
	if (mime_part_is_multipart(p) || mime_part_is_message(p))
		return evbuffer_add(b, m->msg + p->body_off, p->body_len);
	return mime_part_decode(m, p, b);
}
