/*
 * Modified UTF-7 of mailbox names (RFC 3501 5.1.3) and UTF-8.  Each name
 * has one spelling in modified UTF-7, so everything else is refused: a
 * printable ASCII character or an empty run in base64, two runs side by
 * side, padding bits that are not zero, lone surrogates, NUL.
 */

#include <stdint.h>
#include <string.h>

#include "imapd.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* the value of a modified base64 digit (',' where base64 has '/'), or -1 */
static int
b64_value(unsigned char c)
{
	if (c == '/')
		return -1;
	return base64_value(c == ',' ? '/' : c);
}

/* printable ASCII stands for itself, '&' is "&-"; the rest is base64 */
static int
is_direct(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

struct outbuf {
	char *p;
	size_t left;
};

static int
put(struct outbuf *o, char c)
{
	if (o->left <= 1)
		return -1;
	*o->p++ = c;
	o->left--;
	return 0;
}

static int
put_utf8(struct outbuf *o, uint32_t cp)
{
	if (cp < 0x80)
		return put(o, cp);
	if (cp < 0x800)
		return put(o, 0xc0 | cp >> 6) == -1 ||
			put(o, 0x80 | (cp & 0x3f)) == -1
		    ? -1
		    : 0;
	if (cp < 0x10000)
		return put(o, 0xe0 | cp >> 12) == -1 ||
			put(o, 0x80 | (cp >> 6 & 0x3f)) == -1 ||
			put(o, 0x80 | (cp & 0x3f)) == -1
		    ? -1
		    : 0;
	return put(o, 0xf0 | cp >> 18) == -1 ||
		put(o, 0x80 | (cp >> 12 & 0x3f)) == -1 ||
		put(o, 0x80 | (cp >> 6 & 0x3f)) == -1 ||
		put(o, 0x80 | (cp & 0x3f)) == -1
	    ? -1
	    : 0;
}

/* one base64 run from *sp up to its '-', as UTF-8 */
static int
decode_run(const char **sp, struct outbuf *o)
{
	const char *s = *sp;
	uint32_t bits = 0, unit, high = 0;
	int nbits = 0, v, nunits = 0;

	for (; *s != '-'; s++) {
		if ((v = b64_value(*s)) == -1)
			return -1;
		bits = (bits << 6 | v) & 0xffffff;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		unit = bits >> nbits & 0xffff;
		nunits++;
		if (high != 0) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return -1;
			if (put_utf8(o,
				0x10000 + ((high - 0xd800) << 10) +
				    (unit - 0xdc00)) == -1)
				return -1;
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff)
			high = unit;
		else if (unit >= 0xdc00 && unit <= 0xdfff)
			return -1;
		else if (unit == 0 || is_direct(unit) ||
		    put_utf8(o, unit) == -1)
			return -1;
	}
	/* leftover bits: fewer than 6 and zero, and nothing pending */
	if (nunits == 0 || high != 0 || nbits >= 6 ||
	    (bits & ((1u << nbits) - 1)) != 0)
		return -1;
	*sp = s + 1;
	return 0;
}

int
imap_utf7_to_utf8(const char *in, char *out, size_t outsz)
{
	struct outbuf o = {out, outsz};
	const char *s = in;
	int after_run = 0;

	if (outsz == 0)
		return -1;
	while (*s != '\0') {
		if (*s == '&') {
			s++;
			if (*s == '-') {
				s++;
				if (put(&o, '&') == -1)
					return -1;
				after_run = 0;
				continue;
			}
			/* two runs side by side are one run */
			if (after_run || decode_run(&s, &o) == -1)
				return -1;
			after_run = 1;
			continue;
		}
		if (!is_direct((unsigned char)*s) || put(&o, *s) == -1)
			return -1;
		s++;
		after_run = 0;
	}
	*o.p = '\0';
	return 0;
}

size_t
imap_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and past U+10FFFF */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

int
imap_utf8_to_utf7(const char *in, char *out, size_t outsz)
{
	struct outbuf o = {out, outsz};
	const unsigned char *s = (const unsigned char *)in;
	size_t left = strlen(in), seq;
	uint32_t cp, bits = 0;
	uint16_t units[2];
	int nbits = 0, inrun = 0, nunits, i;

	if (outsz == 0)
		return -1;
	while (left > 0) {
		if ((seq = imap_utf8_decode(s, left, &cp)) == 0)
			return -1;
		s += seq;
		left -= seq;
		if (is_direct(cp)) {
			if (inrun) {
				if (nbits > 0 &&
				    put(&o, b64[bits << (6 - nbits) & 0x3f]) ==
					-1)
					return -1;
				if (put(&o, '-') == -1)
					return -1;
				inrun = 0;
				nbits = 0;
			}
			if (put(&o, cp) == -1 ||
			    (cp == '&' && put(&o, '-') == -1))
				return -1;
			continue;
		}
		if (!inrun) {
			if (put(&o, '&') == -1)
				return -1;
			inrun = 1;
			bits = 0;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			units[0] = 0xd800 | cp >> 10;
			units[1] = 0xdc00 | (cp & 0x3ff);
			nunits = 2;
		} else {
			units[0] = cp;
			nunits = 1;
		}
		for (i = 0; i < nunits; i++) {
			bits = (bits << 16 | units[i]) & 0x3fffff;
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				if (put(&o, b64[bits >> nbits & 0x3f]) == -1)
					return -1;
			}
		}
	}
	if (inrun) {
		if (nbits > 0 && put(&o, b64[bits << (6 - nbits) & 0x3f]) == -1)
			return -1;
		if (put(&o, '-') == -1)
			return -1;
	}
	*o.p = '\0';
	return 0;
}
