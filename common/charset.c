/*
 * Mail text in the charsets mail really uses, to UTF-8.  US-ASCII, UTF-8,
 * ISO-8859-1 and windows-1252 are done here; the rest goes through
 * iconv(3), whose handles are all opened by charset_init() while the
 * gconv modules can still be loaded (the imap role then chroots), and
 * kept: each use starts with a reset of its handle.
 */

#include <errno.h>
#include <iconv.h>
#include <string.h>

#include <event2/buffer.h>

#include "common.h"

enum charset_builtin {
	CHARSET_ICONV,
	CHARSET_ASCII,
	CHARSET_UTF8,
	CHARSET_LATIN1,
	CHARSET_CP1252,
};

struct charset {
	const char *name;  /* canonical, lowercase */
	const char *iconv; /* name for iconv_open(); NULL when built in */
	enum charset_builtin builtin;
	/* other names, compared as charset_key() leaves them */
	const char *aliases[10];
};

/*
 * Where a label means a narrower charset than the one mail agents really
 * write under it, the wider one decodes it (as the WHATWG encoding
 * standard does): gb2312 as GB18030, euc-kr as CP949, shift_jis as CP932.
 */
static const struct charset charsets[] = {
    {"us-ascii", NULL, CHARSET_ASCII,
	{"usascii", "ascii", "ansix341968", "iso646us", "csascii", "us",
	    "ibm367", "cp367"}},
    {"utf-8", NULL, CHARSET_UTF8, {"utf8", "unicode11utf8", "xunicode20utf8"}},
    {"iso-8859-1", NULL, CHARSET_LATIN1,
	{"iso88591", "latin1", "l1", "iso885911987", "cp819", "ibm819",
	    "csisolatin1", "isoir100"}},
    {"windows-1252", NULL, CHARSET_CP1252,
	{"windows1252", "cp1252", "xcp1252", "mswin1252"}},
    {"iso-8859-2", "ISO-8859-2", 0, {"iso88592", "latin2", "l2"}},
    {"iso-8859-3", "ISO-8859-3", 0, {"iso88593", "latin3", "l3"}},
    {"iso-8859-4", "ISO-8859-4", 0, {"iso88594", "latin4", "l4"}},
    {"iso-8859-5", "ISO-8859-5", 0, {"iso88595", "cyrillic"}},
    {"iso-8859-6", "ISO-8859-6", 0, {"iso88596", "arabic"}},
    {"iso-8859-7", "ISO-8859-7", 0, {"iso88597", "greek"}},
    {"iso-8859-8", "ISO-8859-8", 0, {"iso88598", "iso88598i", "hebrew"}},
    {"iso-8859-9", "ISO-8859-9", 0, {"iso88599", "latin5", "l5"}},
    {"iso-8859-10", "ISO-8859-10", 0, {"iso885910", "latin6", "l6"}},
    {"iso-8859-11", "ISO-8859-11", 0, {"iso885911"}},
    {"iso-8859-13", "ISO-8859-13", 0, {"iso885913", "latin7", "l7"}},
    {"iso-8859-14", "ISO-8859-14", 0, {"iso885914", "latin8", "l8"}},
    {"iso-8859-15", "ISO-8859-15", 0, {"iso885915", "latin9", "l9"}},
    {"iso-8859-16", "ISO-8859-16", 0, {"iso885916", "latin10", "l10"}},
    {"koi8-r", "KOI8-R", 0, {"koi8r", "koi8", "cskoi8r"}},
    {"koi8-u", "KOI8-U", 0, {"koi8u", "koi8ru"}},
    {"windows-1250", "CP1250", 0, {"windows1250", "cp1250", "xcp1250"}},
    {"windows-1251", "CP1251", 0, {"windows1251", "cp1251", "xcp1251"}},
    {"windows-1253", "CP1253", 0, {"windows1253", "cp1253"}},
    {"windows-1254", "CP1254", 0, {"windows1254", "cp1254"}},
    {"windows-1255", "CP1255", 0, {"windows1255", "cp1255"}},
    {"windows-1256", "CP1256", 0, {"windows1256", "cp1256"}},
    {"windows-1257", "CP1257", 0, {"windows1257", "cp1257"}},
    {"windows-1258", "CP1258", 0, {"windows1258", "cp1258"}},
    {"windows-874", "CP874", 0, {"windows874", "cp874", "tis620"}},
    {"ibm866", "CP866", 0, {"ibm866", "cp866", "866"}},
    {"macintosh", "MACINTOSH", 0, {"macintosh", "mac", "xmacroman"}},
    {"iso-2022-jp", "ISO-2022-JP-2", 0,
	{"iso2022jp", "iso2022jp2", "csiso2022jp", "cp50220", "cp50221"}},
    {"shift_jis", "CP932", 0,
	{"shiftjis", "sjis", "xsjis", "mskanji", "csshiftjis", "windows31j",
	    "cp932"}},
    {"euc-jp", "EUC-JP-MS", 0, {"eucjp", "xeucjp", "cseucpkdfmtjapanese"}},
    {"gb2312", "GB18030", 0,
	{"gb2312", "gbk", "gb18030", "xgbk", "cp936", "euccn", "chinese",
	    "csgb2312", "hzgb2312", "gb231280"}},
    {"big5", "BIG5-HKSCS", 0,
	{"big5", "big5hkscs", "csbig5", "xxbig5", "cp950"}},
    {"euc-kr", "CP949", 0,
	{"euckr", "ksc56011987", "ksc5601", "cp949", "windows949", "korean",
	    "csksc56011987", "isoir149"}},
    {"iso-2022-kr", "ISO-2022-KR", 0, {"iso2022kr", "csiso2022kr"}},
    {"utf-16", "UTF-16", 0, {"utf16", "ucs2", "iso10646ucs2"}},
    {"utf-16le", "UTF-16LE", 0, {"utf16le"}},
    {"utf-16be", "UTF-16BE", 0, {"utf16be"}},
    {"utf-32", "UTF-32", 0, {"utf32", "ucs4"}},
    {"utf-7", "UTF-7", 0, {"utf7", "unicode11utf7"}},
};

#define NCHARSETS (sizeof(charsets) / sizeof(charsets[0]))
#define NALIASES  (sizeof(charsets[0].aliases) / sizeof(charsets[0].aliases[0]))

static iconv_t charset_cd[NCHARSETS];
static int charset_ready;

/* windows-1252 0x80-0x9f; the five holes stay as C1 controls */
static const uint16_t cp1252_high[32] = {0x20ac, 0x0081, 0x201a, 0x0192, 0x201e,
    0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d,
    0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013,
    0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178};

int
charset_init(void)
{
	size_t i;
	int rv = 0;

	if (charset_ready)
		return 0;
	for (i = 0; i < NCHARSETS; i++) {
		charset_cd[i] = (iconv_t)-1;
		if (charsets[i].iconv == NULL)
			continue;
		charset_cd[i] = iconv_open("UTF-8", charsets[i].iconv);
		if (charset_cd[i] == (iconv_t)-1) {
			log_warn("iconv_open %s", charsets[i].iconv);
			rv = -1;
		}
	}
	charset_ready = 1;
	return rv;
}

/* lowercase letters and digits only: "ISO_8859-1" and "iso8859-1" meet */
static void
charset_key(const char *name, char *key, size_t keysz)
{
	size_t i = 0;
	unsigned char c;

	for (; *name != '\0' && i + 1 < keysz; name++) {
		c = (unsigned char)*name;
		if (c >= 'A' && c <= 'Z')
			key[i++] = c - 'A' + 'a';
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			key[i++] = c;
		else if (c == '*')
			break; /* an RFC 2231 language follows */
	}
	key[i] = '\0';
}

static int
charset_lookup(const char *name)
{
	char key[64], ckey[64];
	size_t i, j;

	if (name == NULL)
		return -1;
	charset_key(name, key, sizeof(key));
	if (key[0] == '\0')
		return -1;
	for (i = 0; i < NCHARSETS; i++) {
		charset_key(charsets[i].name, ckey, sizeof(ckey));
		if (strcmp(key, ckey) == 0)
			return i;
		for (j = 0; j < NALIASES && charsets[i].aliases[j] != NULL; j++)
			if (strcmp(key, charsets[i].aliases[j]) == 0)
				return i;
	}
	return -1;
}

const char *
charset_canonical(const char *name)
{
	int i;

	if ((i = charset_lookup(name)) == -1)
		return NULL;
	return charsets[i].name;
}

/* a well-formed UTF-8 sequence at p (n octets left): its length, or 0 */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

int
charset_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_seq(p + i, len - i)) == 0)
			return 0;
	return 1;
}

static size_t
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | (cp >> 6);
		out[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	out[0] = 0xe0 | (cp >> 12);
	out[1] = 0x80 | ((cp >> 6) & 0x3f);
	out[2] = 0x80 | (cp & 0x3f);
	return 3;
}

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* single-octet charsets and UTF-8 repair, in chunks of a stack buffer */
static int
convert_builtin(enum charset_builtin how, const unsigned char *in, size_t len,
    struct evbuffer *out)
{
	char buf[4096];
	size_t i = 0, o = 0, n;
	unsigned char c;

	while (i < len) {
		if (o + 8 > sizeof(buf)) {
			if (evbuffer_add(out, buf, o) == -1)
				return -1;
			o = 0;
		}
		c = in[i];
		if (c < 0x80) {
			buf[o++] = c;
			i++;
			continue;
		}
		switch (how) {
		case CHARSET_UTF8:
			if ((n = utf8_seq(in + i, len - i)) == 0) {
				memcpy(buf + o, REPLACEMENT, 3);
				o += 3;
				i++;
			} else {
				memcpy(buf + o, in + i, n);
				o += n;
				i += n;
			}
			continue;
		case CHARSET_CP1252:
			if (c < 0xa0) {
				o += utf8_put(buf + o, cp1252_high[c - 0x80]);
				break;
			}
			/* FALLTHROUGH */
		default:
			o += utf8_put(buf + o, c);
		}
		i++;
	}
	if (o > 0 && evbuffer_add(out, buf, o) == -1)
		return -1;
	return 0;
}

static int
convert_iconv(iconv_t cd, const char *in, size_t len, struct evbuffer *out)
{
	char buf[4096], *ip = (char *)in, *op;
	size_t il = len, ol;
	int done = 0;

	(void)iconv(cd, NULL, NULL, NULL, NULL);
	while (!done) {
		op = buf;
		ol = sizeof(buf);
		if (il == 0) {
			/* the shift back to the initial state, if any */
			(void)iconv(cd, NULL, NULL, &op, &ol);
			done = 1;
		} else if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) {
			if (errno == EILSEQ || errno == EINVAL) {
				if (ol >= 3) {
					memcpy(op, REPLACEMENT, 3);
					op += 3;
				}
				/* EINVAL: an unfinished sequence at the end */
				if (errno == EINVAL)
					il = 0;
				else {
					ip++;
					il--;
				}
				(void)iconv(cd, NULL, NULL, NULL, NULL);
			} else if (errno != E2BIG)
				return -1;
		}
		if (op > buf && evbuffer_add(out, buf, op - buf) == -1)
			return -1;
	}
	return 0;
}

int
charset_to_utf8(
    const char *name, const char *in, size_t len, struct evbuffer *out)
{
	const unsigned char *p = (const unsigned char *)in;
	int i;

	if ((i = charset_lookup(name)) == -1) {
		if (convert_builtin(charset_utf8_valid(in, len)
			    ? CHARSET_UTF8
			    : CHARSET_CP1252,
			p, len, out) == -1)
			return -1;
		return 1;
	}
	switch (charsets[i].builtin) {
	case CHARSET_ASCII:
		/* 8-bit text labelled us-ascii: what it most likely is */
		return convert_builtin(
		    charset_utf8_valid(in, len) ? CHARSET_UTF8 : CHARSET_CP1252,
		    p, len, out);
	case CHARSET_ICONV:
		break;
	default:
		return convert_builtin(charsets[i].builtin, p, len, out);
	}
	if (!charset_ready)
		(void)charset_init();
	if (charset_cd[i] == (iconv_t)-1) {
		if (convert_builtin(charset_utf8_valid(in, len)
			    ? CHARSET_UTF8
			    : CHARSET_CP1252,
			p, len, out) == -1)
			return -1;
		return 1;
	}
	return convert_iconv(charset_cd[i], in, len, out);
}
