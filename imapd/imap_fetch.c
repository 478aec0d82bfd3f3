/*
 * FETCH and STORE (RFC 3501 6.4.5-6, RFC 9051 6.4.5-6), with BINARY
 * (RFC 3516), CONDSTORE's CHANGEDSINCE, UNCHANGEDSINCE and MODSEQ, and
 * QRESYNC's VANISHED (RFC 7162).
 *
 * Sizes, dates, flags, ENVELOPE and BODYSTRUCTURE come from the store's
 * index and cache; only body sections open the message, mmap'ed, and the
 * MIME parser runs only when a section needs more than the split of the
 * header from the text.  A FETCH of many messages goes on as the client
 * reads: each message's answer is made whole (so that an error drops
 * none of it), then queued while the output is below IMAP_OUTPUT_MAX.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "boxd.h"
#include "imapd.h"

/* raw octets below this are copied, past it referenced in the mapping */
#define FETCH_COPY_MAX (64 * 1024)

/* fetch_message() results */
#define FETCH_OK	  0
#define FETCH_GONE	  1  /* expunged by another session, or its file */
#define FETCH_SKIP	  2  /* not changed since CHANGEDSINCE */
#define FETCH_UNKNOWN_CTE -1 /* BINARY of an encoding it cannot undo */
#define FETCH_NOMEM	  -2
#define FETCH_TOOMUCH	  -3 /* sections made past FETCH_MADE_MAX */

/*
 * The octets of sections made (copied or decoded, not referenced) that one
 * message's answer may hold: a few times the message is more than any
 * client needs, and 64 BODY[1] of one big part would be 64 copies of it.
 */
#define FETCH_MADE_MAX(len) (4 * (uint64_t)(len) + 1024 * 1024)

/* ------------------------------------------------------------ parsing */

static int
fetch_err(char *err, size_t errsz, const char *why)
{
	if (errsz > 0)
		strlcpy(err, why, errsz);
	return -1;
}

/* the number of a partial, up to 2^63-1: digits consumed, or 0 */
static size_t
fetch_number(const char *s, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (n > ((uint64_t)INT64_MAX - (s[i] - '0')) / 10)
			return 0;
		n = n * 10 + (s[i] - '0');
	}
	*out = n;
	return i;
}

/* "<o.n>", all of what follows the ']': 0, or -1 */
static int
fetch_partial_parse(const char *s, size_t len, struct fetch_section *fs)
{
	size_t n;

	if (len < 5 || s[0] != '<' || s[len - 1] != '>')
		return -1;
	s++;
	len -= 2;
	if ((n = fetch_number(s, len, &fs->offset)) == 0 || n == len ||
	    s[n] != '.')
		return -1;
	s += n + 1;
	len -= n + 1;
	if ((n = fetch_number(s, len, &fs->count)) == 0 || n != len ||
	    fs->count == 0)
		return -1;
	fs->partial = 1;
	return 0;
}

static struct fetch_section *
fetch_section_add(struct fetch_request *req)
{
	struct fetch_section *fs;

	if ((fs = reallocarray(
		 req->sections, req->nsections + 1, sizeof(*fs))) == NULL)
		return NULL;
	req->sections = fs;
	fs = &req->sections[req->nsections++];
	memset(fs, 0, sizeof(*fs));
	return fs;
}

/* RFC822, RFC822.HEADER and RFC822.TEXT: sections under their own names */
static int
fetch_rfc822(
    struct fetch_request *req, const char *name, const char *spec, int peek)
{
	struct fetch_section *fs;

	if ((fs = fetch_section_add(req)) == NULL)
		return -1;
	fs->kind = FETCH_SECTION_BODY;
	fs->peek = peek;
	if ((fs->name = strdup(name)) == NULL)
		return -1;
	if (imap_section_parse(&fs->section, spec, strlen(spec), 0) == -1)
		return -1;
	if (!peek)
		req->sets_seen = 1;
	return 0;
}

/* BODY[...]<...>, BINARY[...]<...> and BINARY.SIZE[...] */
static int
fetch_section_parse(struct fetch_request *req, const char *att, size_t len,
    char *err, size_t errsz)
{
	static const struct {
		const char *prefix;
		enum fetch_section_kind kind;
		int peek;
		const char *name;
	} kinds[] = {
	    {"BODY[", FETCH_SECTION_BODY, 0, "BODY"},
	    {"BODY.PEEK[", FETCH_SECTION_BODY, 1, "BODY"},
	    {"BINARY[", FETCH_SECTION_BINARY, 0, "BINARY"},
	    {"BINARY.PEEK[", FETCH_SECTION_BINARY, 1, "BINARY"},
	    {"BINARY.SIZE[", FETCH_SECTION_BINARY_SIZE, 1, "BINARY.SIZE"},
	};
	struct fetch_section *fs;
	const char *spec, *close;
	size_t i, plen, speclen, namelen;
	int binary;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		plen = strlen(kinds[i].prefix);
		if (len >= plen && strncasecmp(att, kinds[i].prefix, plen) == 0)
			break;
	}
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return fetch_err(err, errsz, "Unknown FETCH data item");
	spec = att + plen;
	if ((close = memchr(spec, ']', len - plen)) == NULL)
		return fetch_err(err, errsz, "Unterminated section");
	speclen = close - spec;
	binary = kinds[i].kind != FETCH_SECTION_BODY;
	if ((fs = fetch_section_add(req)) == NULL)
		return fetch_err(err, errsz, "Out of memory");
	fs->kind = kinds[i].kind;
	fs->peek = kinds[i].peek;
	/* BINARY[] is the whole message, as BODY[] (RFC 3516 section-binary) */
	if (imap_section_parse(
		&fs->section, spec, speclen, binary && speclen > 0) == -1)
		return fetch_err(err, errsz, "Invalid section");
	if (close + 1 < att + len) {
		if (fs->kind == FETCH_SECTION_BINARY_SIZE)
			return fetch_err(
			    err, errsz, "BINARY.SIZE takes no partial");
		if (fetch_partial_parse(close + 1, att + len - close - 1, fs) ==
		    -1)
			return fetch_err(err, errsz, "Invalid partial");
	}
	namelen = strlen(kinds[i].name);
	if ((fs->name = malloc(namelen + speclen + 3)) == NULL)
		return fetch_err(err, errsz, "Out of memory");
	memcpy(fs->name, kinds[i].name, namelen);
	fs->name[namelen] = '[';
	for (i = 0; i < speclen; i++)
		fs->name[namelen + 1 + i] = toupper((unsigned char)spec[i]);
	fs->name[namelen + 1 + speclen] = ']';
	fs->name[namelen + 2 + speclen] = '\0';
	if (!fs->peek)
		req->sets_seen = 1;
	return 0;
}

/* one fetch-att, never a macro */
static int
fetch_att_parse(struct fetch_request *req, const struct imap_arg *a, char *err,
    size_t errsz)
{
	static const struct {
		const char *name;
		uint32_t item;
	} simple[] = {
	    {"UID", FETCH_UID},
	    {"FLAGS", FETCH_FLAGS},
	    {"INTERNALDATE", FETCH_INTERNALDATE},
	    {"RFC822.SIZE", FETCH_RFC822_SIZE},
	    {"ENVELOPE", FETCH_ENVELOPE},
	    {"BODY", FETCH_BODY},
	    {"BODYSTRUCTURE", FETCH_BODYSTRUCTURE},
	    {"MODSEQ", FETCH_MODSEQ},
	};
	size_t i;

	if (a->type != IMAP_ARG_ATOM)
		return fetch_err(err, errsz, "FETCH data items are atoms");
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (imap_arg_is_atom(a, simple[i].name)) {
			req->items |= simple[i].item;
			return 0;
		}
	if (imap_arg_is_atom(a, "RFC822"))
		return fetch_rfc822(req, "RFC822", "", 0) == -1
		    ? fetch_err(err, errsz, "Out of memory")
		    : 0;
	if (imap_arg_is_atom(a, "RFC822.HEADER"))
		return fetch_rfc822(req, "RFC822.HEADER", "HEADER", 1) == -1
		    ? fetch_err(err, errsz, "Out of memory")
		    : 0;
	if (imap_arg_is_atom(a, "RFC822.TEXT"))
		return fetch_rfc822(req, "RFC822.TEXT", "TEXT", 0) == -1
		    ? fetch_err(err, errsz, "Out of memory")
		    : 0;
	if (memchr(a->str, '[', a->len) == NULL)
		return fetch_err(err, errsz, "Unknown FETCH data item");
	return fetch_section_parse(req, a->str, a->len, err, errsz);
}

/* (CHANGEDSINCE n) or (CHANGEDSINCE n VANISHED), in any order */
static int
fetch_modifiers_parse(struct fetch_request *req, const struct imap_arg *mods,
    int uid, char *err, size_t errsz)
{
	size_t i;

	if (mods->type != IMAP_ARG_LIST || mods->nlist == 0)
		return fetch_err(err, errsz, "Invalid FETCH modifiers");
	for (i = 0; i < mods->nlist; i++) {
		if (imap_arg_is_atom(&mods->list[i], "CHANGEDSINCE") &&
		    !req->changedsince_set && i + 1 < mods->nlist) {
			if (imap_arg_number64(
				&mods->list[i + 1], &req->changedsince) == -1)
				return fetch_err(
				    err, errsz, "Invalid CHANGEDSINCE");
			req->changedsince_set = 1;
			i++;
		} else if (imap_arg_is_atom(&mods->list[i], "VANISHED") &&
		    !req->vanished)
			req->vanished = 1;
		else
			return fetch_err(err, errsz, "Unknown FETCH modifier");
	}
	if (req->vanished && !req->changedsince_set)
		return fetch_err(err, errsz, "VANISHED needs CHANGEDSINCE");
	if (req->vanished && !uid)
		return fetch_err(err, errsz, "VANISHED is for UID FETCH");
	return 0;
}

int
fetch_parse(struct fetch_request *req, const struct imap_arg *atts,
    const struct imap_arg *mods, int uid, char *err, size_t errsz)
{
	size_t i;

	memset(req, 0, sizeof(*req));
	if (atts->type == IMAP_ARG_ATOM) {
		if (imap_arg_is_atom(atts, "ALL"))
			req->items = FETCH_FLAGS | FETCH_INTERNALDATE |
			    FETCH_RFC822_SIZE | FETCH_ENVELOPE;
		else if (imap_arg_is_atom(atts, "FAST"))
			req->items = FETCH_FLAGS | FETCH_INTERNALDATE |
			    FETCH_RFC822_SIZE;
		else if (imap_arg_is_atom(atts, "FULL"))
			req->items = FETCH_FLAGS | FETCH_INTERNALDATE |
			    FETCH_RFC822_SIZE | FETCH_ENVELOPE | FETCH_BODY;
		else if (fetch_att_parse(req, atts, err, errsz) == -1)
			return -1;
	} else if (atts->type == IMAP_ARG_LIST) {
		if (atts->nlist > FETCH_ATTS_MAX)
			return fetch_err(err, errsz, "Too many FETCH items");
		for (i = 0; i < atts->nlist; i++)
			if (fetch_att_parse(req, &atts->list[i], err, errsz) ==
			    -1)
				return -1;
	} else
		return fetch_err(err, errsz, "Invalid FETCH data items");
	if (mods != NULL &&
	    fetch_modifiers_parse(req, mods, uid, err, errsz) == -1)
		return -1;
	if (uid)
		req->items |= FETCH_UID;
	if (req->changedsince_set)
		req->items |= FETCH_MODSEQ;
	return 0;
}

void
fetch_request_free(struct fetch_request *req)
{
	size_t i;

	for (i = 0; i < req->nsections; i++) {
		imap_section_free(&req->sections[i].section);
		free(req->sections[i].name);
	}
	free(req->sections);
	memset(req, 0, sizeof(*req));
}

/* two digits of v (0-99) at p */
static void
fetch_digits2(char *p, int64_t v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/*
 * The proleptic Gregorian date by arithmetic (days from civil, inverted:
 * H. Hinnant's algorithm), not gmtime_r(), which takes the time zone lock
 * for every message of a large FETCH.
 */
int
fetch_date_format(int64_t t, char *buf, size_t len)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t days, secs, z, era, doe, yoe, doy, mp, day, month, year;

	if (len < sizeof("dd-Mon-yyyy hh:mm:ss +0000"))
		return -1;
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	year = yoe + era * 400 + (month <= 2);
	if (year < 0 || year > 9999)
		return -1;
	buf[0] = day < 10 ? ' ' : (char)('0' + day / 10);
	buf[1] = (char)('0' + day % 10);
	buf[2] = '-';
	memcpy(buf + 3, months + 3 * (month - 1), 3);
	buf[6] = '-';
	fetch_digits2(buf + 7, year / 100);
	fetch_digits2(buf + 9, year % 100);
	buf[11] = ' ';
	fetch_digits2(buf + 12, secs / 3600);
	buf[14] = ':';
	fetch_digits2(buf + 15, secs / 60 % 60);
	buf[17] = ':';
	fetch_digits2(buf + 18, secs % 60);
	memcpy(buf + 20, " +0000", 7);
	return 0;
}

int
store_parse(struct store_request *req, const struct imap_arg *args,
    size_t nargs, char *err, size_t errsz)
{
	const struct imap_arg *mods;
	const char *item;
	size_t i = 0, n;

	memset(req, 0, sizeof(*req));
	if (nargs > 0 && args[0].type == IMAP_ARG_LIST) {
		mods = &args[0];
		if (mods->nlist != 2 ||
		    !imap_arg_is_atom(&mods->list[0], "UNCHANGEDSINCE") ||
		    imap_arg_number64(&mods->list[1], &req->unchangedsince) ==
			-1)
			return fetch_err(err, errsz, "Invalid STORE modifier");
		req->unchangedsince_set = 1;
		i++;
	}
	if (i + 2 > nargs || args[i].type != IMAP_ARG_ATOM)
		return fetch_err(err, errsz, "STORE needs an item and flags");
	item = args[i].str;
	n = args[i].len;
	req->op = STORE_SET;
	if (item[0] == '+' || item[0] == '-') {
		req->op = item[0] == '+' ? STORE_ADD : STORE_REMOVE;
		item++;
		n--;
	}
	if (n == 12 && strncasecmp(item, "FLAGS.SILENT", 12) == 0)
		req->silent = 1;
	else if (n != 5 || strncasecmp(item, "FLAGS", 5) != 0)
		return fetch_err(err, errsz, "Unknown STORE item");
	i++;
	if (args[i].type == IMAP_ARG_LIST) {
		if (i + 1 != nargs)
			return fetch_err(err, errsz, "Too many arguments");
		req->flags_list = 1;
		req->flags = &args[i];
		req->nflags = 1;
		return 0;
	}
	for (n = i; n < nargs; n++)
		if (args[n].type != IMAP_ARG_ATOM)
			return fetch_err(err, errsz, "Invalid flag");
	req->flags = &args[i];
	req->nflags = nargs - i;
	return 0;
}

/* ------------------------------------------------------ message octets */

/*
 * A message file mapped for reading; the octets referenced in output
 * buffers hold a reference each, so that it goes when the last is sent.
 */
struct fetch_map {
	char *addr;
	size_t len;
	int refs;
	int copy; /* addr is malloc'ed (the CRLF form), not mapped */
};

static void
fetch_map_unref(struct fetch_map *map)
{
	if (--map->refs > 0)
		return;
	if (map->copy)
		free(map->addr);
	else if (map->len > 0)
		munmap(map->addr, map->len);
	free(map);
}

static void
fetch_map_cleanup(const void *data, size_t len, void *arg)
{
	fetch_map_unref(arg);
}

/*
 * Maildir files have LF line ends (mda's, Dovecot's); IMAP counts and
 * sends CRLF, as RFC822.SIZE and the cached views do: the CRLF form.
 */
static int
fetch_map_crlf(struct fetch_map *map)
{
	struct evbuffer *b;
	size_t len;
	char *copy;

	if ((b = evbuffer_new()) == NULL)
		return -1;
	if (mime_crlf(map->addr, map->len, b) == -1 ||
	    (copy = malloc((len = evbuffer_get_length(b)) + 1)) == NULL) {
		evbuffer_free(b);
		return -1;
	}
	evbuffer_remove(b, copy, len);
	evbuffer_free(b);
	munmap(map->addr, map->len);
	map->addr = copy;
	map->len = len;
	map->copy = 1;
	return 0;
}

/* the whole file fd, or NULL (logged) */
static struct fetch_map *
fetch_map_fd(int fd)
{
	struct fetch_map *map;
	struct stat st;
	void *addr;

	if (fstat(fd, &st) == -1) {
		log_warn("fetch: fstat");
		return NULL;
	}
	if ((map = calloc(1, sizeof(*map))) == NULL)
		return NULL;
	map->refs = 1;
	if (st.st_size <= 0) {
		map->addr = (char *)"";
		return map;
	}
	if ((uintmax_t)st.st_size > SIZE_MAX ||
	    (addr = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
		MAP_FAILED) {
		log_warn("fetch: mmap");
		free(map);
		return NULL;
	}
	map->addr = addr;
	map->len = st.st_size;
	if (mime_crlf_needed(map->addr, map->len) &&
	    fetch_map_crlf(map) == -1) {
		fetch_map_unref(map);
		return NULL;
	}
	return map;
}

/* ------------------------------------------------------------ FETCH */

struct fetch_job {
	struct fetch_request req;
	uint32_t *seqs;
	size_t nseqs, next;
	int uid;  /* UID FETCH */
	int gone; /* some messages were expunged: OK [EXPUNGEISSUED] */
	struct evbuffer *msgbuf; /* the answer being made */
	struct evbuffer *tmp;	 /* a section being made */
};

/* one message being answered: its file, when a section needs it */
struct fetch_msg {
	struct fetch_map *map;
	size_t hdr_len;
	struct mime_message *mime; /* the whole message, parsed */
	struct mime_message *head; /* its header alone, parsed */
	uint64_t made;		   /* octets of sections made */
};

static void
fetch_msg_free(struct fetch_msg *fm)
{
	if (fm->mime != NULL)
		mime_free(fm->mime);
	if (fm->head != NULL)
		mime_free(fm->head);
	if (fm->map != NULL)
		fetch_map_unref(fm->map);
	memset(fm, 0, sizeof(*fm));
}

/* FETCH_OK, FETCH_GONE, FETCH_NOMEM */
static int
fetch_msg_open(struct imap_session *s, uint32_t seq, struct fetch_msg *fm)
{
	int fd;

	if (fm->map != NULL)
		return FETCH_OK;
	if ((fd = mailbox_msg_open(s->mbox->view, seq)) == -1)
		return FETCH_GONE;
	fm->map = fetch_map_fd(fd);
	close(fd);
	if (fm->map == NULL)
		return FETCH_GONE;
	fm->hdr_len = message_header_len(fm->map->addr, fm->map->len);
	return FETCH_OK;
}

static int
fetch_msg_mime(struct fetch_msg *fm, int header_only)
{
	if (fm->mime != NULL)
		return 0;
	if (header_only) {
		if (fm->head == NULL &&
		    (fm->head = mime_parse(fm->map->addr, fm->hdr_len)) == NULL)
			return -1;
		return 0;
	}
	if ((fm->mime = mime_parse(fm->map->addr, fm->map->len)) == NULL)
		return -1;
	return 0;
}

/* the octets [off, off + n) of what a partial asks for */
static void
fetch_partial_range(
    const struct fetch_section *fs, size_t len, size_t *off, size_t *n)
{
	*off = 0;
	*n = len;
	if (!fs->partial)
		return;
	if (fs->offset >= len) {
		*off = len;
		*n = 0;
		return;
	}
	*off = fs->offset;
	*n = len - *off;
	if (fs->count < *n)
		*n = fs->count;
}

static int
fetch_name_write(struct evbuffer *out, const struct fetch_section *fs)
{
	if (fs->partial)
		return evbuffer_add_printf(out, "%s<%llu> ", fs->name,
			   (unsigned long long)fs->offset) < 0
		    ? -1
		    : 0;
	return evbuffer_add_printf(out, "%s ", fs->name) < 0 ? -1 : 0;
}

/*
 * RFC 9051 4.3: a literal holds no NUL; only BINARY may answer with a
 * literal8 (RFC 3516 4.2).  A file that holds NULs (delivered so, or
 * APPENDed with a plain literal) has each one sent as 0x80 in BODY[] and
 * RFC822, as Dovecot does: the size stays, so sizes and partials agree,
 * and 0x80 is no valid UTF-8 octet alone, so nothing is made to look like
 * text that was not.
 */
static int
fetch_add_nonul(struct evbuffer *out, const char *p, size_t n)
{
	const char *nul;
	size_t len;

	while (n > 0) {
		if ((nul = memchr(p, '\0', n)) == NULL)
			return evbuffer_add(out, p, n);
		len = nul - p;
		if (evbuffer_add(out, p, len) == -1 ||
		    evbuffer_add(out, "\x80", 1) == -1)
			return -1;
		p += len + 1;
		n -= len + 1;
	}
	return 0;
}

/* raw octets of the mapped message as a literal (literal8 for NULs) */
static int
fetch_raw_write(struct evbuffer *out, struct fetch_msg *fm,
    const struct fetch_section *fs, size_t start, size_t len)
{
	size_t off, n;
	int nul;

	fetch_partial_range(fs, len, &off, &n);
	if (fs->kind == FETCH_SECTION_BINARY_SIZE)
		return evbuffer_add_printf(out, "%s %zu", fs->name, len) < 0
		    ? -1
		    : 0;
	nul = memchr(fm->map->addr + start + off, '\0', n) != NULL;
	if (fetch_name_write(out, fs) == -1 ||
	    evbuffer_add_printf(out, "%s{%zu}\r\n",
		nul && fs->kind == FETCH_SECTION_BINARY ? "~" : "", n) < 0)
		return -1;
	if (nul && fs->kind != FETCH_SECTION_BINARY)
		return fetch_add_nonul(out, fm->map->addr + start + off, n);
	if (n < FETCH_COPY_MAX)
		return evbuffer_add(out, fm->map->addr + start + off, n);
	fm->map->refs++;
	if (evbuffer_add_reference(out, fm->map->addr + start + off, n,
		fetch_map_cleanup, fm->map) == -1) {
		fm->map->refs--;
		return -1;
	}
	return 0;
}

/* made octets (tmp, drained) as a literal, literal8 when they hold NUL */
static int
fetch_buf_write(
    struct evbuffer *out, const struct fetch_section *fs, struct evbuffer *tmp)
{
	struct evbuffer_ptr nul;
	size_t off, n;
	int bin;
	char *p;

	fetch_partial_range(fs, evbuffer_get_length(tmp), &off, &n);
	if (evbuffer_drain(tmp, off) == -1)
		return -1;
	nul = evbuffer_search(tmp, "\0", 1, NULL);
	bin = nul.pos != -1 && (size_t)nul.pos < n;
	if (fetch_name_write(out, fs) == -1 ||
	    evbuffer_add_printf(out, "%s{%zu}\r\n",
		bin && fs->kind == FETCH_SECTION_BINARY ? "~" : "", n) < 0)
		return -1;
	if (bin && fs->kind != FETCH_SECTION_BINARY) {
		if ((p = (char *)evbuffer_pullup(tmp, n)) == NULL ||
		    fetch_add_nonul(out, p, n) == -1)
			return -1;
	} else if (evbuffer_remove_buffer(tmp, out, n) != (int)n)
		return -1;
	return evbuffer_drain(tmp, evbuffer_get_length(tmp));
}

/* one section of a message into out: FETCH_OK or an error */
static int
fetch_section_write(struct imap_session *s, uint32_t seq, struct evbuffer *out,
    struct fetch_msg *fm, const struct fetch_section *fs, struct evbuffer *tmp)
{
	const struct imap_section *sec = &fs->section;
	const struct mime_message *mime;
	size_t off, n;
	int rv;

	if ((rv = fetch_msg_open(s, seq, fm)) != FETCH_OK)
		return rv;
	/* BINARY[] too: the message as a whole has no encoding to undo */
	if (sec->npart == 0) {
		switch (sec->text) {
		case IMAP_SECTION_BODY:
			rv = fetch_raw_write(out, fm, fs, 0, fm->map->len);
			return rv == -1 ? FETCH_NOMEM : FETCH_OK;
		case IMAP_SECTION_HEADER:
			rv = fetch_raw_write(out, fm, fs, 0, fm->hdr_len);
			return rv == -1 ? FETCH_NOMEM : FETCH_OK;
		case IMAP_SECTION_TEXT:
			rv = fetch_raw_write(out, fm, fs, fm->hdr_len,
			    fm->map->len - fm->hdr_len);
			return rv == -1 ? FETCH_NOMEM : FETCH_OK;
		default:
			/* HEADER.FIELDS of the message: its header will do */
			if (fetch_msg_mime(fm, 1) == -1)
				return FETCH_NOMEM;
			mime = fm->mime != NULL ? fm->mime : fm->head;
			break;
		}
	} else {
		if (fetch_msg_mime(fm, 0) == -1)
			return FETCH_NOMEM;
		mime = fm->mime;
	}
	if (fs->kind == FETCH_SECTION_BODY)
		rv = imap_section_write(tmp, mime, sec);
	else
		rv = imap_section_binary(tmp, mime, sec);
	if (rv == -1)
		return FETCH_NOMEM;
	if (rv == 1) {
		evbuffer_drain(tmp, evbuffer_get_length(tmp));
		return FETCH_UNKNOWN_CTE;
	}
	if (fs->kind == FETCH_SECTION_BINARY_SIZE) {
		rv = evbuffer_add_printf(
		    out, "%s %zu", fs->name, evbuffer_get_length(tmp));
		evbuffer_drain(tmp, evbuffer_get_length(tmp));
		return rv < 0 ? FETCH_NOMEM : FETCH_OK;
	}
	fetch_partial_range(fs, evbuffer_get_length(tmp), &off, &n);
	if ((fm->made += n) > FETCH_MADE_MAX(fm->map->len)) {
		evbuffer_drain(tmp, evbuffer_get_length(tmp));
		return FETCH_TOOMUCH;
	}
	return fetch_buf_write(out, fs, tmp) == -1 ? FETCH_NOMEM : FETCH_OK;
}

/* a space before every item but the first */
/* prefix, v in decimal, suffix (short literals both): without printf */
static int
fetch_add_number(
    struct evbuffer *out, const char *prefix, uint64_t v, const char *suffix)
{
	char buf[96], digits[20];
	size_t d = sizeof(digits), plen = strlen(prefix), slen = strlen(suffix);

	do {
		digits[--d] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (plen + sizeof(digits) + slen > sizeof(buf))
		return -1;
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, digits + d, sizeof(digits) - d);
	memcpy(buf + plen + sizeof(digits) - d, suffix, slen);
	return evbuffer_add(out, buf, plen + sizeof(digits) - d + slen);
}

static int
fetch_sep(struct evbuffer *out, int *first)
{
	if (*first) {
		*first = 0;
		return 0;
	}
	return evbuffer_add(out, " ", 1);
}

/* text: what of the message, when already at hand; NULL to get it */
static int
fetch_cached_write(struct imap_session *s, uint32_t seq, struct evbuffer *out,
    int *first, const char *name, int what, const char *text, size_t len)
{
	if (text == NULL &&
	    mailbox_msg_cached(s->mbox->view, seq, what, &text, &len) == -1)
		return FETCH_GONE;
	if (fetch_sep(out, first) == -1 ||
	    evbuffer_add(out, name, strlen(name)) == -1 ||
	    evbuffer_add(out, " ", 1) == -1 ||
	    evbuffer_add(out, text, len) == -1)
		return FETCH_NOMEM;
	return FETCH_OK;
}

/* the items of one message, after "* n FETCH (" */
static int
fetch_items_write(struct imap_session *s, struct fetch_job *job, uint32_t seq,
    const struct mail_msg *msg, int seen_set, struct evbuffer *out,
    struct evbuffer *tmp)
{
	const struct fetch_request *req = &job->req;
	struct fetch_msg fm;
	const char *envelope = NULL;
	char date[64] = "INTERNALDATE \"";
	uint64_t size;
	int64_t when;
	size_t i, envelope_len = 0;
	int first = 1, rv = FETCH_OK;

	/*
	 * The ENVELOPE first: computed from a file copied in, the same open
	 * tells its date, which then needs no open of its own.
	 */
	if ((req->items & FETCH_ENVELOPE) &&
	    (req->items & (FETCH_INTERNALDATE | FETCH_RFC822_SIZE)) &&
	    mailbox_msg_cached(s->mbox->view, seq, CACHED_ENVELOPE, &envelope,
		&envelope_len) == -1)
		return FETCH_GONE;
	/* QRESYNC: flags changed by this FETCH are told with their UID */
	if (((req->items & FETCH_UID) || (seen_set && s->qresync)) &&
	    (fetch_sep(out, &first) == -1 ||
		fetch_add_number(out, "UID ", msg->uid, "") == -1))
		return FETCH_NOMEM;
	if ((req->items & FETCH_FLAGS) || seen_set) {
		if (fetch_sep(out, &first) == -1 ||
		    evbuffer_add(out, "FLAGS ", 6) == -1)
			return FETCH_NOMEM;
		imap_mbox_flags_write(s, out, msg);
	}
	if (((req->items & FETCH_MODSEQ) || (seen_set && s->condstore)) &&
	    (fetch_sep(out, &first) == -1 ||
		fetch_add_number(out, "MODSEQ (", msg->modseq, ")") == -1))
		return FETCH_NOMEM;
	if (req->items & FETCH_INTERNALDATE) {
		if (mailbox_msg_date(s->mbox->view, seq, &when) == -1)
			return FETCH_GONE;
		if (fetch_date_format(when, date + 14, sizeof(date) - 15) == -1)
			strlcpy(date + 14, " 1-Jan-1970 00:00:00 +0000",
			    sizeof(date) - 15);
		strlcat(date, "\"", sizeof(date));
		if (fetch_sep(out, &first) == -1 ||
		    evbuffer_add(out, date, strlen(date)) == -1)
			return FETCH_NOMEM;
	}
	if (req->items & FETCH_RFC822_SIZE) {
		if (mailbox_msg_size(s->mbox->view, seq, &size) == -1)
			return FETCH_GONE;
		if (fetch_sep(out, &first) == -1 ||
		    fetch_add_number(out, "RFC822.SIZE ", size, "") == -1)
			return FETCH_NOMEM;
	}
	if ((req->items & FETCH_ENVELOPE) &&
	    (rv = fetch_cached_write(s, seq, out, &first, "ENVELOPE",
		 CACHED_ENVELOPE, envelope, envelope_len)) != FETCH_OK)
		return rv;
	if ((req->items & FETCH_BODY) &&
	    (rv = fetch_cached_write(s, seq, out, &first, "BODY", CACHED_BODY,
		 NULL, 0)) != FETCH_OK)
		return rv;
	if ((req->items & FETCH_BODYSTRUCTURE) &&
	    (rv = fetch_cached_write(s, seq, out, &first, "BODYSTRUCTURE",
		 CACHED_BODYSTRUCTURE, NULL, 0)) != FETCH_OK)
		return rv;
	memset(&fm, 0, sizeof(fm));
	for (i = 0; i < req->nsections; i++) {
		if (fetch_sep(out, &first) == -1) {
			rv = FETCH_NOMEM;
			break;
		}
		if ((rv = fetch_section_write(
			 s, seq, out, &fm, &req->sections[i], tmp)) != FETCH_OK)
			break;
	}
	fetch_msg_free(&fm);
	return rv;
}

/*
 * One message's answer, queued whole or not at all: FETCH_OK,
 * FETCH_GONE, FETCH_SKIP or an error.
 */
static int
fetch_message(struct imap_session *s, struct fetch_job *job, uint32_t seq)
{
	struct mailbox_view *view = s->mbox->view;
	const struct mail_msg *m;
	struct mail_msg msg;
	struct evbuffer *out = job->msgbuf;
	const unsigned char *p;
	size_t len;
	int rv, seen_set = 0;

	if ((m = mailbox_view_msg(view, seq)) == NULL)
		return FETCH_GONE;
	msg = *m;
	if (job->req.changedsince_set && msg.modseq <= job->req.changedsince)
		return FETCH_SKIP;
	if (job->req.sets_seen && !s->mbox->readonly &&
	    (msg.flags & MAILDIR_FLAG_SEEN) == 0 &&
	    mailbox_store(view, seq, STORE_ADD, MAILDIR_FLAG_SEEN, 0) == 0 &&
	    (m = mailbox_view_msg(view, seq)) != NULL) {
		msg = *m;
		seen_set = 1;
	}
	if (fetch_add_number(out, "* ", seq, " FETCH (") == -1)
		rv = FETCH_NOMEM;
	else
		rv = fetch_items_write(
		    s, job, seq, &msg, seen_set, out, job->tmp);
	if (rv == FETCH_OK && evbuffer_add(out, ")\r\n", 3) == -1)
		rv = FETCH_NOMEM;
	/*
	 * Small answers are copied, so that many of them share the output's
	 * chains (and TLS records); big ones, references included, move.
	 */
	len = evbuffer_get_length(out);
	if (rv == FETCH_OK && len <= FETCH_COPY_MAX) {
		if ((p = evbuffer_pullup(out, len)) == NULL ||
		    evbuffer_add(s->out, p, len) == -1)
			rv = FETCH_NOMEM;
	} else if (rv == FETCH_OK && evbuffer_add_buffer(s->out, out) == -1)
		rv = FETCH_NOMEM;
	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_drain(job->tmp, evbuffer_get_length(job->tmp));
	return rv;
}

static void
fetch_job_free(struct imap_session *s)
{
	struct fetch_job *job = s->job;

	fetch_request_free(&job->req);
	if (job->msgbuf != NULL)
		evbuffer_free(job->msgbuf);
	if (job->tmp != NULL)
		evbuffer_free(job->tmp);
	free(job->seqs);
	free(job);
}

/*
 * Answers messages while the client keeps up; past IMAP_OUTPUT_MAX the
 * session calls again as its output drains.
 */
static void
fetch_run(struct imap_session *s)
{
	struct fetch_job *job = s->job;
	int rv = FETCH_OK, busy = s->busy;

	while (job->next < job->nseqs) {
		if (evbuffer_get_length(s->out) >= IMAP_OUTPUT_MAX) {
			s->busy = 1;
			s->resume = fetch_run;
			return;
		}
		rv = fetch_message(s, job, job->seqs[job->next++]);
		if (rv == FETCH_GONE)
			job->gone = 1;
		else if (rv < 0)
			break;
	}
	imap_mbox_sync(s, job->uid);
	if (rv == FETCH_UNKNOWN_CTE)
		imap_tagged(s, "NO",
		    "[UNKNOWN-CTE] Cannot decode the "
		    "content transfer encoding of a part");
	else if (rv == FETCH_NOMEM)
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
	else if (rv == FETCH_TOOMUCH)
		imap_tagged(s, "NO",
		    "[LIMIT] Too many sections of one message, "
		    "fetch fewer at a time");
	else if (job->gone)
		imap_tagged(s, "OK",
		    "[EXPUNGEISSUED] Some messages were already expunged");
	else
		imap_tagged(s, "OK", "FETCH completed");
	if (busy)
		imap_cmd_job_done(s);
}

static int
fetch_range_cmp(const void *a, const void *b)
{
	const struct mail_uid_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* sorts ranges and merges those that overlap or touch; the new count */
static size_t
fetch_ranges_merge(struct mail_uid_range *v, size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), fetch_range_cmp);
	for (i = 1; i < n; i++) {
		if (v[out].last == UINT32_MAX ||
		    v[i].first <= v[out].last + 1) {
			if (v[i].last > v[out].last)
				v[out].last = v[i].last;
		} else
			v[++out] = v[i];
	}
	return out + 1;
}

static int
fetch_range_write(struct evbuffer *out, int *first, uint32_t lo, uint32_t hi)
{
	if (fetch_sep(out, first) == -1)
		return -1;
	if (lo == hi)
		return evbuffer_add_printf(out, "%u", lo) < 0 ? -1 : 0;
	return evbuffer_add_printf(out, "%u:%u", lo, hi) < 0 ? -1 : 0;
}

/*
 * QRESYNC (RFC 7162 3.2.6): "* VANISHED (EARLIER) uids" of the UIDs of
 * the FETCH's set expunged since its CHANGEDSINCE, before its FETCHes.
 */
static int
fetch_vanished(struct imap_session *s, const char *setstr, uint64_t modseq)
{
	struct mailbox_view *view = s->mbox->view;
	struct mail_uid_range *v = NULL;
	struct imap_seqset set;
	struct evbuffer *line = NULL;
	size_t nv = 0, i, j;
	uint32_t lo, hi;
	int first = 1, rv = -1;

	memset(&set, 0, sizeof(set));
	if (imap_seqset_parse(setstr, &set, IMAP_LINE_MAX / 2) == -1)
		return -1;
	if (set.dollar) {
		/* $: the saved UIDs, as ranges of one */
		if (s->mbox->nsaved > 0 &&
		    (set.r = reallocarray(
			 NULL, s->mbox->nsaved, sizeof(*set.r))) == NULL)
			goto done;
		for (i = 0; i < s->mbox->nsaved; i++)
			set.r[i].lo = set.r[i].hi = s->mbox->saved[i];
		set.n = s->mbox->nsaved;
		set.dollar = 0;
	}
	imap_seqset_resolve(&set, mailbox_view_uidnext(view) - 1);
	if (mailbox_view_vanished_since(view, modseq, &v, &nv) == -1 ||
	    (line = evbuffer_new()) == NULL)
		goto done;
	nv = fetch_ranges_merge(v, nv);
	/* both lists ascending and disjoint: walk them together */
	for (i = 0, j = 0; i < nv && j < set.n;) {
		lo = v[i].first > set.r[j].lo ? v[i].first : set.r[j].lo;
		hi = v[i].last < set.r[j].hi ? v[i].last : set.r[j].hi;
		if (lo <= hi && fetch_range_write(line, &first, lo, hi) == -1)
			goto done;
		if (v[i].last < set.r[j].hi)
			i++;
		else
			j++;
	}
	rv = 0;
	if (!first) {
		imap_printf(s, "* VANISHED (EARLIER) ");
		if (evbuffer_add_buffer(s->out, line) == -1 ||
		    evbuffer_add(s->out, "\r\n", 2) == -1)
			rv = -1;
	}
done:
	if (line != NULL)
		evbuffer_free(line);
	free(v);
	imap_seqset_free(&set);
	return rv;
}

void
imap_cmd_fetch(struct imap_session *s, struct imap_command *cmd)
{
	struct fetch_job *job;
	char err[128];

	if (cmd->nargs < 2 || cmd->nargs > 3 ||
	    cmd->args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(
		    s, "BAD", "FETCH needs a sequence set and data items");
		return;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	s->job = job;
	s->job_free = fetch_job_free;
	job->uid = cmd->uid;
	if ((job->msgbuf = evbuffer_new()) == NULL ||
	    (job->tmp = evbuffer_new()) == NULL) {
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	if (fetch_parse(&job->req, &cmd->args[1],
		cmd->nargs == 3 ? &cmd->args[2] : NULL, cmd->uid, err,
		sizeof(err)) == -1) {
		imap_tagged(s, "BAD", "%s", err);
		return;
	}
	if (job->req.vanished && !s->qresync) {
		imap_tagged(s, "BAD", "VANISHED needs ENABLE QRESYNC");
		return;
	}
	/* MODSEQ and CHANGEDSINCE are CONDSTORE enabling (RFC 7162 3.1) */
	if ((job->req.items & FETCH_MODSEQ) && !s->condstore)
		imap_mbox_condstore(s);
	if (imap_mbox_seqs(
		s, cmd->args[0].str, cmd->uid, &job->seqs, &job->nseqs) == -1)
		return;
	if (job->req.vanished &&
	    fetch_vanished(s, cmd->args[0].str, job->req.changedsince) == -1) {
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	fetch_run(s);
}

/* ------------------------------------------------------------ STORE */

/* the FETCH that tells the client what a STORE did to one message */
static void
store_fetch_write(struct imap_session *s, uint32_t seq,
    const struct mail_msg *m, int uid, int silent, int changed)
{
	struct evbuffer *out = s->out;
	int first = 1;

	/* with CONDSTORE a change is told even when silent (RFC 7162 3.2) */
	if (silent && !(s->condstore && changed))
		return;
	evbuffer_add_printf(out, "* %u FETCH (", seq);
	if (uid) {
		fetch_sep(out, &first);
		evbuffer_add_printf(out, "UID %u", m->uid);
	}
	if (!silent) {
		fetch_sep(out, &first);
		evbuffer_add(out, "FLAGS ", 6);
		imap_mbox_flags_write(s, out, m);
	}
	if (s->condstore) {
		fetch_sep(out, &first);
		evbuffer_add_printf(
		    out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
	}
	evbuffer_add(out, ")\r\n", 3);
}

/* the tagged answer: OK, with the set UNCHANGEDSINCE refused */
static void
store_done(
    struct imap_session *s, const uint32_t *modified, size_t nmod, int gone)
{
	struct evbuffer *set;
	size_t len;
	char *text;

	if (nmod == 0) {
		if (gone)
			imap_tagged(s, "OK",
			    "[EXPUNGEISSUED] Some messages "
			    "were already expunged");
		else
			imap_tagged(s, "OK", "STORE completed");
		return;
	}
	if ((set = evbuffer_new()) == NULL ||
	    imap_seqset_write(set, modified, nmod) == -1 ||
	    (len = evbuffer_get_length(set)) > INT_MAX ||
	    (text = (char *)evbuffer_pullup(set, len)) == NULL)
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
	else
		imap_tagged(s, "OK", "[MODIFIED %.*s] Conditional STORE failed",
		    (int)len, text);
	if (set != NULL)
		evbuffer_free(set);
}

void
imap_cmd_store(struct imap_session *s, struct imap_command *cmd)
{
	struct mailbox_view *view = s->mbox->view;
	const struct mail_msg *m;
	struct store_request req;
	struct imap_arg list;
	uint32_t *seqs = NULL, *modified = NULL, flags, uid, seq;
	uint64_t before;
	size_t nseqs = 0, nmod = 0, i;
	char err[128];
	int rv, gone = 0;

	if (cmd->nargs < 3 || cmd->args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(s, "BAD",
		    "STORE needs a sequence set, an item "
		    "and flags");
		return;
	}
	if (store_parse(
		&req, cmd->args + 1, cmd->nargs - 1, err, sizeof(err)) == -1) {
		imap_tagged(s, "BAD", "%s", err);
		return;
	}
	if (s->mbox->readonly) {
		imap_tagged(s, "NO", "Mailbox is read-only");
		return;
	}
	if (req.flags_list)
		list = *req.flags;
	else {
		memset(&list, 0, sizeof(list));
		list.type = IMAP_ARG_LIST;
		list.list = (struct imap_arg *)req.flags;
		list.nlist = req.nflags;
	}
	if (imap_mbox_flags_arg(s, &list, 1, &flags) == -1)
		return;
	if (req.unchangedsince_set && !s->condstore)
		imap_mbox_condstore(s);
	if (imap_mbox_seqs(s, cmd->args[0].str, cmd->uid, &seqs, &nseqs) == -1)
		return;
	if (req.unchangedsince_set && nseqs > 0 &&
	    (modified = reallocarray(NULL, nseqs, sizeof(*modified))) == NULL) {
		free(seqs);
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	for (i = 0; i < nseqs; i++) {
		seq = seqs[i];
		if ((m = mailbox_view_msg(view, seq)) == NULL) {
			gone = 1;
			continue;
		}
		before = m->modseq;
		uid = m->uid;
		/* UNCHANGEDSINCE 0 fails wherever there is a modseq */
		if (req.unchangedsince_set && req.unchangedsince == 0)
			rv = 1;
		else
			rv = mailbox_store(view, seq, req.op, flags,
			    req.unchangedsince_set ? req.unchangedsince : 0);
		if (rv == 1) {
			modified[nmod++] = cmd->uid ? uid : seq;
			continue;
		}
		if (rv == -1 || (m = mailbox_view_msg(view, seq)) == NULL) {
			gone = 1;
			continue;
		}
		store_fetch_write(
		    s, seq, m, cmd->uid, req.silent, m->modseq != before);
	}
	free(seqs);
	imap_mbox_sync(s, cmd->uid);
	store_done(s, modified, nmod, gone);
	free(modified);
}
