/*
 * Header fields as mail really has them: RFC 5322 fields with folding and
 * bare LF line ends, RFC 2047 encoded words, RFC 2231 parameters, dates
 * in every obsolete form, address lists with groups and routes.  The
 * input is hostile: every scan is bounded by its length, and what is
 * allocated is bounded before it is.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common.h"

#define ISWSP(c) ((c) == ' ' || (c) == '\t')

int
mime_header_next(const char *hdr, size_t len, size_t *pos, struct mime_field *f)
{
	size_t i, start, colon, end, vend;

	for (;;) {
		start = i = *pos;
		if (i >= len || hdr[i] == '\n' ||
		    (hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n'))
			return 0;
		end = message_line_end(hdr, len, i);
		while (end < len && ISWSP(hdr[end]))
			end = message_line_end(hdr, len, end);
		*pos = end;
		/* the name: printable ASCII but ':', then optional WSP */
		for (; i < end; i++) {
			unsigned char c = hdr[i];

			if (c <= ' ' || c >= 0x7f || c == ':')
				break;
		}
		colon = i;
		while (colon < end && ISWSP(hdr[colon]))
			colon++;
		if (i == start || colon >= end || hdr[colon] != ':')
			continue; /* not a field: skipped */
		vend = end;
		if (vend > colon && hdr[vend - 1] == '\n')
			vend--;
		if (vend > colon && hdr[vend - 1] == '\r')
			vend--;
		f->name = hdr + start;
		f->namelen = i - start;
		f->value = hdr + colon + 1;
		f->valuelen = vend - colon - 1;
		f->raw = hdr + start;
		f->rawlen = end - start;
		return 1;
	}
}

int
mime_header_get(
    const char *hdr, size_t len, const char *name, struct mime_field *f)
{
	size_t pos = 0, n = strlen(name), count = 0;

	while (count++ < MIME_FIELDS_MAX && mime_header_next(hdr, len, &pos, f))
		if (f->namelen == n && strncasecmp(f->name, name, n) == 0)
			return 1;
	return 0;
}

char *
mime_header_unfold(const char *value, size_t len)
{
	char *s;
	size_t i, o = 0;

	if (len > MIME_FIELD_MAX)
		len = MIME_FIELD_MAX;
	while (len > 0 &&
	    (ISWSP(value[0]) || value[0] == '\r' || value[0] == '\n')) {
		value++;
		len--;
	}
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		if (value[i] != '\r' && value[i] != '\n' && value[i] != '\0')
			s[o++] = value[i];
	while (o > 0 && ISWSP(s[o - 1]))
		o--;
	s[o] = '\0';
	return s;
}

/* ---- content transfer encodings, shared with mime.c */

int
mime_base64_decode(const char *in, size_t len, struct evbuffer *out)
{
	unsigned char buf[4096];
	uint32_t acc = 0;
	size_t i, o = 0;
	int n = 0, v;

	for (i = 0; i < len; i++) {
		if (in[i] == '=')
			break; /* padding: the end of the data */
		if ((v = base64_value(in[i])) == -1)
			continue; /* line ends and junk */
		acc = acc << 6 | v;
		if (++n == 4) {
			buf[o++] = acc >> 16;
			buf[o++] = acc >> 8;
			buf[o++] = acc;
			n = 0;
			acc = 0;
		}
		if (o + 3 > sizeof(buf)) {
			if (evbuffer_add(out, buf, o) == -1)
				return -1;
			o = 0;
		}
	}
	/* a missing padding: what the leftover bits hold */
	if (n == 2)
		buf[o++] = acc >> 4;
	else if (n == 3) {
		buf[o++] = acc >> 10;
		buf[o++] = acc >> 2;
	}
	if (o > 0 && evbuffer_add(out, buf, o) == -1)
		return -1;
	return 0;
}

/* quoted-printable; header: RFC 2047 Q, where '_' is a space */
static int
qp_decode(const char *in, size_t len, struct evbuffer *out, int header)
{
	char buf[4096];
	size_t i = 0, o = 0, j;
	int hi, lo;

	while (i < len) {
		if (o + 2 > sizeof(buf)) {
			if (evbuffer_add(out, buf, o) == -1)
				return -1;
			o = 0;
		}
		if (in[i] == '_' && header) {
			buf[o++] = ' ';
			i++;
		} else if (in[i] != '=') {
			if (!header && ISWSP(in[i])) {
				/* white space at a line end is padding */
				for (j = i; j < len && ISWSP(in[j]); j++)
					;
				if (j == len || in[j] == '\r' ||
				    in[j] == '\n') {
					i = j;
					continue;
				}
			}
			buf[o++] = in[i++];
		} else if (i + 2 < len &&
		    (hi = ascii_hex_value(in[i + 1])) != -1 &&
		    (lo = ascii_hex_value(in[i + 2])) != -1) {
			buf[o++] = hi << 4 | lo;
			i += 3;
		} else {
			/* a soft line break, with white space before it */
			for (j = i + 1; j < len && ISWSP(in[j]); j++)
				;
			if (!header && j < len && in[j] == '\n')
				i = j + 1;
			else if (!header && j + 1 < len && in[j] == '\r' &&
			    in[j + 1] == '\n')
				i = j + 2;
			else if (!header && j == len)
				i = len;
			else
				buf[o++] = in[i++]; /* a bad escape: as it is */
		}
	}
	if (o > 0 && evbuffer_add(out, buf, o) == -1)
		return -1;
	return 0;
}

int
mime_qp_decode(const char *in, size_t len, struct evbuffer *out)
{
	return qp_decode(in, len, out, 0);
}

/* ---- RFC 2047 */

/* text outside encoded words: UTF-8 if valid, else windows-1252 */
static int
decode_raw(struct evbuffer *out, const char *s, size_t len)
{
	if (len == 0)
		return 0;
	return charset_to_utf8(
		   charset_utf8_valid(s, len) ? "utf-8" : "windows-1252", s,
		   len, out) == -1
	    ? -1
	    : 0;
}

struct encoded_word {
	const char *charset;
	size_t charsetlen;
	int b; /* B, else Q */
	const char *text;
	size_t textlen;
	size_t len; /* the whole word */
};

/*
 * "=?charset?B?text?=" at s: 1 and w set, else 0.  When the text has no
 * end before white space, no word can start before that point: *skip
 * says where it is, so that a line of "=?" costs one pass.
 */
static int
encoded_word(const char *s, size_t len, struct encoded_word *w, size_t *skip)
{
	size_t i, j;

	*skip = 1;
	if (len < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	/* a charset of 64 octets at most: pending_word's has room for it */
	for (i = 2; i < len && s[i] != '?'; i++)
		if ((unsigned char)s[i] <= ' ' || i >= 2 + 64)
			return 0;
	if (i == 2 || i + 3 >= len || s[i + 2] != '?')
		return 0;
	w->charset = s + 2;
	w->charsetlen = i - 2;
	if (s[i + 1] == 'B' || s[i + 1] == 'b')
		w->b = 1;
	else if (s[i + 1] == 'Q' || s[i + 1] == 'q')
		w->b = 0;
	else
		return 0;
	for (j = i + 3; j + 1 < len; j++) {
		if ((unsigned char)s[j] <= ' ') {
			*skip = j;
			return 0;
		}
		if (s[j] == '?' && s[j + 1] == '=')
			break;
	}
	if (j + 1 >= len) {
		*skip = len;
		return 0;
	}
	w->text = s + i + 3;
	w->textlen = j - (i + 3);
	w->len = j + 2;
	return 1;
}

/*
 * Decoded octets of adjacent words in one charset are converted together,
 * so that a character split across two words comes out whole.
 */
struct pending_word {
	struct evbuffer *octets;
	char charset[65];
};

static int
pending_flush(struct pending_word *p, struct evbuffer *out)
{
	size_t n = evbuffer_get_length(p->octets);
	unsigned char *s;

	if (n == 0)
		return 0;
	if ((s = evbuffer_pullup(p->octets, n)) == NULL)
		return -1;
	if (charset_to_utf8(p->charset, (char *)s, n, out) == -1)
		return -1;
	return evbuffer_drain(p->octets, n);
}

static int
decode_2047(struct evbuffer *out, const char *s, size_t len)
{
	struct pending_word p;
	struct encoded_word w;
	size_t i = 0, raw = 0, gap, skip;
	int rv = -1, after_word = 0;

	if ((p.octets = evbuffer_new()) == NULL)
		return -1;
	p.charset[0] = '\0';
	while (i < len) {
		if (!encoded_word(s + i, len - i, &w, &skip)) {
			i += skip;
			continue;
		}
		/* only white space between two words: dropped */
		for (gap = raw; gap < i && ISWSP(s[gap]); gap++)
			;
		if (!(after_word && gap == i)) {
			if (pending_flush(&p, out) == -1 ||
			    decode_raw(out, s + raw, i - raw) == -1)
				goto done;
		}
		if (w.charsetlen >= sizeof(p.charset) ||
		    strncasecmp(p.charset, w.charset, w.charsetlen) != 0 ||
		    p.charset[w.charsetlen] != '\0') {
			if (pending_flush(&p, out) == -1)
				goto done;
			memcpy(p.charset, w.charset, w.charsetlen);
			p.charset[w.charsetlen] = '\0';
		}
		if ((w.b ? mime_base64_decode(w.text, w.textlen, p.octets)
			 : qp_decode(w.text, w.textlen, p.octets, 1)) == -1)
			goto done;
		i += w.len;
		raw = i;
		after_word = 1;
	}
	if (pending_flush(&p, out) == -1 ||
	    decode_raw(out, s + raw, len - raw) == -1)
		goto done;
	rv = 0;
done:
	evbuffer_free(p.octets);
	return rv;
}

int
mime_header_decode_buf(struct evbuffer *out, const char *value, size_t len)
{
	char *s;
	int rv;

	if ((s = mime_header_unfold(value, len)) == NULL)
		return -1;
	rv = decode_2047(out, s, strlen(s));
	free(s);
	return rv;
}

/* an evbuffer's text as a malloc'ed string */
static char *
buffer_string(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	if (evbuffer_remove(b, s, n) != (int)n) {
		free(s);
		return NULL;
	}
	s[n] = '\0';
	return s;
}

char *
mime_header_decode(const char *value, size_t len)
{
	struct evbuffer *b;
	char *s = NULL;

	if ((b = evbuffer_new()) == NULL)
		return NULL;
	if (mime_header_decode_buf(b, value, len) == 0)
		s = buffer_string(b);
	evbuffer_free(b);
	return s;
}

/* ---- RFC 2045 parameters, RFC 2231 */

static size_t
skip_cfws(const char *s, size_t len, size_t i)
{
	int depth;

	while (i < len) {
		if (ISWSP(s[i]) || s[i] == '\r' || s[i] == '\n')
			i++;
		else if (s[i] == '(') {
			for (depth = 0; i < len; i++) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
		} else
			break;
	}
	return i;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = tolower((unsigned char)*s);
}

/* one name=value as written, pointers into the unfolded value */
struct raw_param {
	const char *name;
	size_t namelen; /* without the '*' suffixes */
	int section;	/* *N, or -1 */
	int extended;	/* a trailing '*': charset'lang'%XX */
	char *value;	/* unquoted copy */
	size_t valuelen;
};

/* a quoted string or a token at s[i]; its unquoted copy */
static char *
param_value(const char *s, size_t len, size_t *ip, size_t *outlen)
{
	size_t i = *ip, start, end, o = 0;
	char *v;

	if (i < len && s[i] == '"') {
		/* its end first, so that only the value is allocated */
		for (end = i + 1; end < len && s[end] != '"'; end++)
			if (s[end] == '\\' && end + 1 < len)
				end++;
		if ((v = malloc(end - i)) == NULL)
			return NULL;
		for (i++; i < end; i++) {
			if (s[i] == '\\' && i + 1 < end)
				i++;
			v[o++] = s[i];
		}
		if (i < len)
			i++;
	} else {
		/* lenient: up to the ';', spaces inside kept */
		start = i;
		while (i < len && s[i] != ';')
			i++;
		o = i - start;
		while (o > 0 && ISWSP(s[start + o - 1]))
			o--;
		if ((v = malloc(o + 1)) == NULL)
			return NULL;
		memcpy(v, s + start, o);
	}
	v[o] = '\0';
	*outlen = o;
	*ip = i;
	return v;
}

/* RFC 2231 %XX, appended */
static int
percent_decode(struct evbuffer *b, const char *s, size_t len)
{
	size_t i;
	int hi, lo;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '%' && i + 2 < len &&
		    (hi = ascii_hex_value(s[i + 1])) != -1 &&
		    (lo = ascii_hex_value(s[i + 2])) != -1) {
			c = hi << 4 | lo;
			i += 2;
		}
		if (evbuffer_add(b, &c, 1) == -1)
			return -1;
	}
	return 0;
}

/* RFC 2231 charset'language'value: the charset taken, v moved past both */
static void
split_2231(const char **v, size_t *vlen, char *charset, size_t charsetsz)
{
	const char *q;
	size_t cl;

	if ((q = memchr(*v, '\'', *vlen)) == NULL)
		return;
	cl = q - *v;
	if (cl < charsetsz) {
		memcpy(charset, *v, cl);
		charset[cl] = '\0';
	}
	*vlen -= cl + 1;
	*v = q + 1;
	if ((q = memchr(*v, '\'', *vlen)) != NULL) {
		*vlen -= q - *v + 1;
		*v = q + 1;
	}
}

/* the RFC 2231 sections of raw[first]'s name, joined and decoded */
static char *
param_join(struct raw_param *raw, size_t nraw, size_t first)
{
	struct evbuffer *octets = NULL, *out = NULL;
	char charset[65] = "", *s = NULL;
	const char *v;
	size_t i, n, vlen;
	int want, found, extended = 0;
	unsigned char *p;

	if ((octets = evbuffer_new()) == NULL || (out = evbuffer_new()) == NULL)
		goto done;
	v = raw[first].value;
	vlen = raw[first].valuelen;
	if (raw[first].section == -1 && !raw[first].extended) {
		if (raw[first].namelen == 8 &&
		    strncasecmp(raw[first].name, "boundary", 8) == 0) {
			/* a boundary is compared octet for octet */
			if (evbuffer_add(out, v, vlen) == -1)
				goto done;
		} else if (decode_2047(out, v, vlen) == -1)
			goto done;
		s = buffer_string(out);
		goto done;
	}
	if (raw[first].section == -1) {
		extended = 1;
		split_2231(&v, &vlen, charset, sizeof(charset));
		if (percent_decode(octets, v, vlen) == -1)
			goto done;
	}
	/* sections 0, 1, ... in order, whatever order they came in */
	for (want = 0; raw[first].section != -1; want++) {
		found = 0;
		for (i = 0; i < nraw && !found; i++) {
			if (raw[i].section != want ||
			    raw[i].namelen != raw[first].namelen ||
			    strncasecmp(raw[i].name, raw[first].name,
				raw[i].namelen) != 0)
				continue;
			found = 1;
			v = raw[i].value;
			vlen = raw[i].valuelen;
			if (want == 0 && raw[i].extended) {
				extended = 1;
				split_2231(&v, &vlen, charset, sizeof(charset));
			}
			if (raw[i].extended) {
				if (percent_decode(octets, v, vlen) == -1)
					goto done;
			} else if (evbuffer_add(octets, v, vlen) == -1)
				goto done;
		}
		if (!found)
			break;
	}
	n = evbuffer_get_length(octets);
	if ((p = evbuffer_pullup(octets, n)) == NULL && n > 0)
		goto done;
	if (extended && charset[0] != '\0') {
		if (charset_to_utf8(charset, (char *)p, n, out) == -1)
			goto done;
	} else if (decode_raw(out, (char *)p, n) == -1)
		goto done;
	s = buffer_string(out);
done:
	if (octets != NULL)
		evbuffer_free(octets);
	if (out != NULL)
		evbuffer_free(out);
	return s;
}

void
mime_params_free(struct mime_params *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		free(ps->v[i].name);
		free(ps->v[i].value);
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

int
mime_params_parse(
    const char *value, size_t len, char **first, struct mime_params *ps)
{
	struct raw_param raw[MIME_PARAMS_MAX];
	size_t nraw = 0, i, j, start, n, k, best;
	char *s;
	int rv = -1, dup;

	*first = NULL;
	ps->v = NULL;
	ps->n = 0;
	if ((s = mime_header_unfold(value, len)) == NULL)
		return -1;
	len = strlen(s);
	i = skip_cfws(s, len, 0);
	start = i;
	while (i < len && s[i] != ';' && !ISWSP(s[i]) && s[i] != '(')
		i++;
	if (i > start) {
		if ((*first = strndup(s + start, i - start)) == NULL)
			goto done;
		lower(*first);
	}
	while (nraw < MIME_PARAMS_MAX) {
		while (i < len && s[i] != ';')
			i++;
		if (i >= len)
			break;
		i = skip_cfws(s, len, i + 1);
		start = i;
		while (i < len && s[i] != '=' && s[i] != ';' && !ISWSP(s[i]))
			i++;
		n = i - start;
		i = skip_cfws(s, len, i);
		if (n == 0 || i >= len || s[i] != '=')
			continue;
		i = skip_cfws(s, len, i + 1);
		raw[nraw].name = s + start;
		raw[nraw].extended = 0;
		raw[nraw].section = -1;
		if (n > 1 && s[start + n - 1] == '*') {
			raw[nraw].extended = 1;
			n--;
		}
		/* name*N: a section number of at most three digits */
		for (j = n; j > 0 && isdigit((unsigned char)s[start + j - 1]);
		     j--)
			;
		if (j > 1 && j < n && s[start + j - 1] == '*' && n - j <= 3) {
			raw[nraw].section = atoi(s + start + j);
			n = j - 1;
		}
		raw[nraw].namelen = n;
		if ((raw[nraw].value = param_value(
			 s, len, &i, &raw[nraw].valuelen)) == NULL)
			goto done;
		nraw++;
	}
	if (nraw > 0 && (ps->v = calloc(nraw, sizeof(*ps->v))) == NULL)
		goto done;
	for (i = 0; i < nraw; i++) {
		/* one parameter per name, where it first appears */
		for (dup = 0, k = 0; k < i && !dup; k++)
			dup = raw[k].namelen == raw[i].namelen &&
			    strncasecmp(
				raw[k].name, raw[i].name, raw[i].namelen) == 0;
		if (dup)
			continue;
		if ((ps->v[ps->n].name =
			    strndup(raw[i].name, raw[i].namelen)) == NULL)
			goto done;
		lower(ps->v[ps->n].name);
		/* an RFC 2231 form wins over a plain one of the same name */
		for (best = i, k = i; k < nraw; k++)
			if (raw[k].namelen == raw[i].namelen &&
			    strncasecmp(raw[k].name, raw[i].name,
				raw[i].namelen) == 0 &&
			    (raw[k].extended || raw[k].section != -1)) {
				best = k;
				break;
			}
		if ((ps->v[ps->n].value = param_join(raw, nraw, best)) ==
		    NULL) {
			free(ps->v[ps->n].name);
			goto done;
		}
		ps->n++;
	}
	rv = 0;
done:
	for (i = 0; i < nraw; i++)
		free(raw[i].value);
	free(s);
	if (rv == -1) {
		mime_params_free(ps);
		free(*first);
		*first = NULL;
	}
	return rv;
}

/* ---- RFC 5322 dates */

static const char *const month_names[12] = {"jan", "feb", "mar", "apr", "may",
    "jun", "jul", "aug", "sep", "oct", "nov", "dec"};

struct zone_name {
	const char *name;
	int minutes;
};

static const struct zone_name zone_names[] = {{"ut", 0}, {"utc", 0}, {"gmt", 0},
    {"z", 0}, {"edt", -240}, {"est", -300}, {"cdt", -300}, {"cst", -360},
    {"mdt", -360}, {"mst", -420}, {"pdt", -420}, {"pst", -480}, {"cet", 60},
    {"cest", 120}, {"bst", 60}, {"met", 60}, {"mest", 120}, {"eet", 120},
    {"eest", 180}, {"jst", 540}};

/* the next word of a date: digits, letters, or one other octet */
static size_t
date_token(const char *s, size_t len, size_t *ip, char *tok, size_t toksz)
{
	size_t i = skip_cfws(s, len, *ip), n = 0;

	while (i < len && (s[i] == ',' || ISWSP(s[i])))
		i = skip_cfws(s, len, i + 1);
	if (i >= len) {
		*ip = i;
		return 0;
	}
	if (isdigit((unsigned char)s[i]))
		while (i < len && isdigit((unsigned char)s[i])) {
			if (n + 1 < toksz)
				tok[n++] = s[i];
			i++;
		}
	else if (isalpha((unsigned char)s[i]))
		while (i < len && isalpha((unsigned char)s[i])) {
			if (n + 1 < toksz)
				tok[n++] = tolower((unsigned char)s[i]);
			i++;
		}
	else
		tok[n++] = s[i++];
	tok[n] = '\0';
	*ip = i;
	return n;
}

int64_t
mime_date_parse(const char *s, size_t len, int *tzoff)
{
	char tok[32];
	size_t i = 0, k, n;
	int day = -1, month = -1, hour = 0, min = 0, sec = 0, zone = 0;
	int64_t year = -1;
	int have_time = 0, sign, v;

	if (len > 1024)
		len = 1024;
	while ((n = date_token(s, len, &i, tok, sizeof(tok))) > 0) {
		if (isalpha((unsigned char)tok[0])) {
			for (k = 0; k < 12; k++)
				if (strncmp(tok, month_names[k], 3) == 0 &&
				    month == -1 && n >= 3)
					break;
			if (k < 12) {
				month = k + 1;
				continue;
			}
			if (have_time)
				for (k = 0; k <
				     sizeof(zone_names) / sizeof(zone_names[0]);
				     k++)
					if (strcmp(tok, zone_names[k].name) ==
					    0) {
						zone = zone_names[k].minutes;
						break;
					}
			continue; /* a day name, or an unknown zone: UTC */
		}
		if ((tok[0] == '+' || tok[0] == '-') && have_time) {
			sign = tok[0] == '-' ? -1 : 1;
			if (date_token(s, len, &i, tok, sizeof(tok)) != 4 ||
			    !isdigit((unsigned char)tok[0]))
				break;
			v = atoi(tok);
			if (v / 100 > 23 || v % 100 > 59)
				break;
			zone = sign * (v / 100 * 60 + v % 100);
			break;
		}
		if (!isdigit((unsigned char)tok[0]))
			continue;
		v = n <= 9 ? atoi(tok) : -1;
		if (i < len && s[i] == ':' && !have_time && n <= 2) {
			/* hh:mm[:ss] */
			hour = v;
			i++;
			if (date_token(s, len, &i, tok, sizeof(tok)) == 0 ||
			    !isdigit((unsigned char)tok[0]) || strlen(tok) > 2)
				return -1;
			min = atoi(tok);
			if (i < len && s[i] == ':') {
				i++;
				if (date_token(s, len, &i, tok, sizeof(tok)) ==
					0 ||
				    !isdigit((unsigned char)tok[0]) ||
				    strlen(tok) > 2)
					return -1;
				sec = atoi(tok);
			}
			have_time = 1;
		} else if (day == -1 && month == -1 && n <= 2)
			day = v;
		else if (year == -1 && (month != -1 || day != -1)) {
			if (day == -1 && n <= 2)
				day = v;
			else {
				year = v;
				if (n <= 2)
					year += year < 50 ? 2000 : 1900;
				else if (n == 3)
					year += 1900;
			}
		}
	}
	if (day < 1 || day > 31 || month == -1 || year < 1000 || year > 9999 ||
	    hour > 23 || min > 59 || sec > 60)
		return -1;
	if (tzoff != NULL)
		*tzoff = zone;
	return days_from_civil(year, month, day) * 86400 + hour * 3600 +
	    min * 60 + sec - (int64_t)zone * 60;
}

/* ---- RFC 5322 address lists */

enum addr_token {
	ADDR_END,
	ADDR_WORD,   /* atom or quoted string */
	ADDR_SPECIAL /* one of <>@,;:. and others */
};

/*
 * The text of a token or of a part of an address, built a word at a
 * time: in place while short, no allocation for the usual address.
 */
struct addr_buf {
	char *s;
	size_t len, cap;
	char inline_s[128];
};

static void
addr_buf_init(struct addr_buf *b)
{
	b->s = b->inline_s;
	b->len = 0;
	b->cap = sizeof(b->inline_s);
}

static void
addr_buf_free(struct addr_buf *b)
{
	if (b->s != b->inline_s)
		free(b->s);
}

static int
addr_buf_add(struct addr_buf *b, const char *p, size_t n)
{
	size_t cap = b->cap;
	char *s;

	if (n > SIZE_MAX / 2 - b->len)
		return -1;
	while (cap < b->len + n)
		cap *= 2;
	if (cap != b->cap) {
		if ((s = malloc(cap)) == NULL)
			return -1;
		memcpy(s, b->s, b->len);
		addr_buf_free(b);
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	return 0;
}

/* src appended to dst, then emptied */
static int
addr_buf_move(struct addr_buf *dst, struct addr_buf *src)
{
	int rv = addr_buf_add(dst, src->s, src->len);

	src->len = 0;
	return rv;
}

/* the text as a malloc'ed string (NULL if empty), then emptied */
static char *
addr_buf_take(struct addr_buf *b)
{
	char *s;

	if (b->len == 0)
		return NULL;
	if ((s = malloc(b->len + 1)) == NULL)
		return NULL;
	memcpy(s, b->s, b->len);
	s[b->len] = '\0';
	b->len = 0;
	return s;
}

struct addr_lexer {
	const char *s;
	size_t len, i;
	char *comment; /* the last comment, for a name-less mailbox */
};

/* the next token; a word's unquoted text appended to w */
static enum addr_token
addr_next(struct addr_lexer *lx, struct addr_buf *w, char *special)
{
	const char *s = lx->s;
	size_t i = lx->i, start;
	int depth;

	for (;;) {
		while (i < lx->len &&
		    (ISWSP(s[i]) || s[i] == '\r' || s[i] == '\n'))
			i++;
		if (i >= lx->len || s[i] != '(')
			break;
		start = i + 1;
		for (depth = 0; i < lx->len; i++) {
			if (s[i] == '\\' && i + 1 < lx->len)
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')' && --depth == 0)
				break;
		}
		free(lx->comment);
		lx->comment = strndup(s + start, i - start);
		if (i < lx->len)
			i++;
	}
	if (i >= lx->len) {
		lx->i = i;
		return ADDR_END;
	}
	if (s[i] == '"') {
		for (i++; i < lx->len && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < lx->len)
				i++;
			if (addr_buf_add(w, s + i, 1) == -1)
				return ADDR_END;
		}
		lx->i = i < lx->len ? i + 1 : i;
		return ADDR_WORD;
	}
	if (strchr("<>@,;:.[]", s[i]) != NULL && s[i] != '\0') {
		*special = s[i];
		lx->i = i + 1;
		return ADDR_SPECIAL;
	}
	start = i;
	while (i < lx->len && !ISWSP(s[i]) && s[i] != '\r' && s[i] != '\n' &&
	    s[i] != '"' && s[i] != '(' && strchr("<>@,;:.[]", s[i]) == NULL)
		i++;
	if (i == start) {
		/* ')' or a NUL alone: a word of itself */
		i++;
	}
	(void)addr_buf_add(w, s + start, i - start);
	lx->i = i;
	return ADDR_WORD;
}

void
mime_addresses_free(struct mime_addresses *as)
{
	size_t i;

	for (i = 0; i < as->n; i++) {
		free(as->v[i].name);
		free(as->v[i].adl);
		free(as->v[i].mailbox);
		free(as->v[i].host);
	}
	free(as->v);
	as->v = NULL;
	as->n = 0;
}

static struct mime_address *
addr_add(struct mime_addresses *as, size_t *cap)
{
	struct mime_address *v;
	size_t ncap;

	if (as->n == *cap) {
		ncap = *cap == 0 ? 4 : *cap * 2;
		if (ncap > MIME_ADDRESSES_MAX)
			ncap = MIME_ADDRESSES_MAX;
		if ((v = reallocarray(as->v, ncap, sizeof(*v))) == NULL)
			return NULL;
		as->v = v;
		*cap = ncap;
	}
	memset(&as->v[as->n], 0, sizeof(as->v[0]));
	return &as->v[as->n++];
}

/* the phrase (words joined by one space), decoded if asked */
static char *
addr_phrase(struct addr_buf *phrase, int decode)
{
	if (phrase->len == 0)
		return NULL;
	if (!decode)
		return addr_buf_take(phrase);
	return mime_header_decode(phrase->s, phrase->len);
}

/*
 * One mailbox or group at the lexer: phrase words are gathered until a
 * special says what they were.
 */
int
mime_address_parse(
    const char *value, size_t len, int decode, struct mime_addresses *as)
{
	struct addr_lexer lx;
	struct addr_buf phrase, local, host, adl, word;
	struct mime_address *a;
	enum addr_token t;
	size_t cap = 0;
	char c = 0;
	int rv = -1, in_group = 0, angle, at, route, prev_word, room = 1;
	char *unfolded;

	as->v = NULL;
	as->n = 0;
	/* unfolded first: no line end inside a quoted name or a comment */
	if ((unfolded = mime_header_unfold(value, len)) == NULL)
		return -1;
	lx.s = unfolded;
	lx.len = strlen(unfolded);
	lx.i = 0;
	lx.comment = NULL;
	addr_buf_init(&phrase);
	addr_buf_init(&local);
	addr_buf_init(&host);
	addr_buf_init(&adl);
	addr_buf_init(&word);
	while (room) {
		/* one entry: phrase, then <addr>, addr-spec, or group: */
		phrase.len = 0;
		local.len = 0;
		host.len = 0;
		adl.len = 0;
		free(lx.comment);
		lx.comment = NULL;
		angle = at = route = 0;
		t = ADDR_END;
		for (;;) {
			word.len = 0;
			prev_word = t == ADDR_WORD;
			t = addr_next(&lx, &word, &c);
			if (t == ADDR_END)
				break;
			if (t == ADDR_WORD ||
			    (t == ADDR_SPECIAL &&
				(c == '.' || c == '[' || c == ']'))) {
				if (t == ADDR_SPECIAL &&
				    addr_buf_add(&word, &c, 1) == -1)
					goto done;
				if (angle && route)
					addr_buf_move(&adl, &word);
				else if (at)
					addr_buf_move(&host, &word);
				else if (angle)
					addr_buf_move(&local, &word);
				else {
					/* words apart, "a.b" together */
					if (t == ADDR_WORD && prev_word &&
					    addr_buf_add(&phrase, " ", 1) == -1)
						goto done;
					addr_buf_move(&phrase, &word);
				}
				continue;
			}
			if (c == '<' && !angle) {
				angle = 1;
				at = 0;
				continue;
			}
			if (c == '>' && angle)
				break;
			if (c == '@') {
				if (angle && local.len == 0 && !at) {
					/* a route: @a,@b: */
					route = 1;
					if (addr_buf_add(&adl, "@", 1) == -1)
						goto done;
					continue;
				}
				if (!angle && !at) {
					/* the phrase was the local part */
					local.len = 0;
					addr_buf_move(&local, &phrase);
				}
				at = 1;
				continue;
			}
			if (c == ',' && angle && route) {
				if (addr_buf_add(&adl, ",", 1) == -1)
					goto done;
				continue;
			}
			if (c == ':' && angle && route) {
				route = 0;
				continue;
			}
			if (c == ':' && !angle && !in_group && !at) {
				/* a group's start */
				if ((a = addr_add(as, &cap)) == NULL)
					goto done;
				a->mailbox = addr_phrase(&phrase, 0);
				if (a->mailbox == NULL &&
				    (a->mailbox = strdup("")) == NULL)
					goto done;
				in_group = 1;
				phrase.len = 0;
				if (as->n == MIME_ADDRESSES_MAX)
					room = 0;
				break;
			}
			if (c == ',' || c == ';')
				break;
			/* a stray special: part of the phrase */
			if (addr_buf_add(&phrase, &c, 1) == -1)
				goto done;
		}
		if (as->n > 0 && in_group && as->v[as->n - 1].host == NULL &&
		    as->v[as->n - 1].mailbox != NULL && t == ADDR_SPECIAL &&
		    c == ':' && local.len == 0 && phrase.len == 0)
			continue; /* just started a group */
		if (!room)
			break;
		if (route) {
			/* "<@x>": no route, a domain without a local part */
			if (adl.len > 0 &&
			    addr_buf_add(&host, adl.s + 1, adl.len - 1) == -1)
				goto done;
			adl.len = 0;
		}
		if (local.len > 0 || host.len > 0 || phrase.len > 0) {
			if ((a = addr_add(as, &cap)) == NULL)
				goto done;
			if (!angle && !at) {
				/* a bare word: a local part, no host */
				if (addr_buf_move(&local, &phrase) == -1)
					goto done;
			}
			a->name = angle ? addr_phrase(&phrase, decode) : NULL;
			if (a->name == NULL && lx.comment != NULL &&
			    lx.comment[0] != '\0') {
				a->name = decode
				    ? mime_header_decode(
					  lx.comment, strlen(lx.comment))
				    : strdup(lx.comment);
			}
			a->adl = addr_buf_take(&adl);
			a->mailbox = addr_buf_take(&local);
			a->host = addr_buf_take(&host);
			if (a->mailbox == NULL &&
			    (a->mailbox = strdup("MISSING_MAILBOX")) == NULL)
				goto done;
			if (a->host == NULL &&
			    (a->host = strdup("MISSING_DOMAIN")) == NULL)
				goto done;
			if (as->n == MIME_ADDRESSES_MAX)
				break;
		}
		if (t == ADDR_SPECIAL && c == '>') {
			/* what follows up to the ',' is junk */
			do {
				word.len = 0;
				t = addr_next(&lx, &word, &c);
			} while (t != ADDR_END &&
			    !(t == ADDR_SPECIAL && (c == ',' || c == ';')));
		}
		if (t == ADDR_SPECIAL && c == ';' && in_group) {
			if (addr_add(as, &cap) == NULL)
				goto done; /* the group's end */
			in_group = 0;
			if (as->n == MIME_ADDRESSES_MAX)
				break;
		}
		if (t == ADDR_END)
			break;
	}
	if (in_group && as->n < MIME_ADDRESSES_MAX &&
	    addr_add(as, &cap) == NULL)
		goto done;
	rv = 0;
done:
	free(lx.comment);
	free(unfolded);
	addr_buf_free(&phrase);
	addr_buf_free(&local);
	addr_buf_free(&host);
	addr_buf_free(&adl);
	addr_buf_free(&word);
	if (rv == -1)
		mime_addresses_free(as);
	return rv;
}
