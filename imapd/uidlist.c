/*
 * Dovecot's dovecot-uidlist and dovecot-keywords, read so that a Maildir
 * copied over from Dovecot keeps its UIDVALIDITY, its UIDs and its
 * keyword names, and clients re-download nothing.  boxd never writes a
 * uidlist (its own index holds the UIDs); it writes dovecot-keywords,
 * since Maildir's letters mean nothing without it.
 *
 * Both files are read from the user's Maildir, which any local program
 * may have written: every line is checked, a bad one is skipped (a UID
 * lost is only a message renumbered), and nothing is allocated before
 * the size it depends on is known to be in the input.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

/* a uidlist larger than this is not one we read */
#define UIDLIST_SIZE_MAX  (256U * 1024 * 1024)
#define KEYWORDS_SIZE_MAX (64U * 1024)

/* a decimal number that fits a uint32 and is not 0: its end, or NULL */
static const char *
uidlist_number(const char *p, const char *end, uint32_t *v)
{
	uint64_t n = 0;
	const char *start = p;

	while (p < end && *p >= '0' && *p <= '9') {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX)
			return NULL;
		p++;
	}
	if (p == start || n == 0)
		return NULL;
	*v = (uint32_t)n;
	return p;
}

/* the header line: "1 V N" or "3 Vn Nn ..." */
static int
uidlist_header(struct uidlist *ul, const char *p, const char *end)
{
	uint32_t version;
	const char *q;

	if ((p = uidlist_number(p, end, &version)) == NULL)
		return -1;
	if (version == 1) {
		if (p == end || *p++ != ' ' ||
		    (p = uidlist_number(p, end, &ul->uidvalidity)) == NULL ||
		    p == end || *p++ != ' ' ||
		    (p = uidlist_number(p, end, &ul->uidnext)) == NULL)
			return -1;
		return 0;
	}
	if (version != 3)
		return -1;
	while (p < end) {
		if (*p++ != ' ')
			return -1;
		if (p == end)
			break;
		if (*p == 'V' || *p == 'N') {
			q = uidlist_number(p + 1, end,
			    *p == 'V' ? &ul->uidvalidity : &ul->uidnext);
			if (q == NULL)
				return -1;
			p = q;
		} else
			/* G (guid) and what later versions add */
			while (p < end && *p != ' ')
				p++;
	}
	return ul->uidvalidity != 0 && ul->uidnext != 0 ? 0 : -1;
}

/* a record line "UID [ext...] :NAME" (v3) or "UID NAME" (v1) */
static int
uidlist_line(struct uidlist *ul, const char *p, const char *end, int v3,
    uint32_t *uid, const char **name, size_t *namelen)
{
	const char *colon;

	if ((p = uidlist_number(p, end, uid)) == NULL || p == end ||
	    *p++ != ' ')
		return -1;
	if (v3) {
		/* extensions are " Xvalue" words; the name follows " :" */
		if (*p == ':')
			colon = p;
		else {
			colon = NULL;
			while (p + 1 < end) {
				if (p[0] == ' ' && p[1] == ':') {
					colon = p + 1;
					break;
				}
				p++;
			}
			if (colon == NULL)
				return -1;
		}
		p = colon + 1;
	}
	*name = p;
	*namelen = (size_t)(end - p);
	return 0;
}

int
uidlist_parse(struct uidlist *ul, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *eol, *name;
	char tmp[MAILDIR_NAME_MAX + 1];
	size_t lines = 0, namelen, baselen, cap;
	uint32_t uid, flags;
	int v3;

	memset(ul, 0, sizeof(*ul));
	if ((eol = memchr(p, '\n', len)) == NULL)
		return -1;
	if (uidlist_header(ul, p, eol) == -1)
		goto bad;
	v3 = buf[0] == '3';
	for (name = eol; name < end; name++)
		if (*name == '\n')
			lines++;
	/* every entry is a line of the input: bounded by it */
	if ((ul->ents = reallocarray(NULL, lines + 1, sizeof(*ul->ents))) ==
	    NULL)
		goto bad;
	cap = len + 1;
	if ((ul->names = malloc(cap)) == NULL)
		goto bad;
	for (p = eol + 1; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break; /* a torn last line is not trusted */
		if (uidlist_line(ul, p, eol, v3, &uid, &name, &namelen) == -1 ||
		    namelen == 0 || namelen > MAILDIR_NAME_MAX)
			continue;
		memcpy(tmp, name, namelen);
		tmp[namelen] = '\0';
		if (maildir_name_parse(tmp, &baselen, &flags) == -1)
			continue;
		/* UIDs ascend in the file; one that does not is skipped */
		if ((ul->nents > 0 && uid <= ul->ents[ul->nents - 1].uid) ||
		    uid >= ul->uidnext)
			continue;
		ul->ents[ul->nents].uid = uid;
		ul->ents[ul->nents].base_off = (uint32_t)ul->names_len;
		ul->ents[ul->nents].base_len = (uint16_t)baselen;
		memcpy(ul->names + ul->names_len, tmp, baselen);
		ul->names[ul->names_len + baselen] = '\0';
		ul->names_len += baselen + 1;
		ul->nents++;
	}
	return 0;
bad:
	uidlist_free(ul);
	return -1;
}

int
uidlist_read(int dirfd, struct uidlist *ul)
{
	size_t len;
	void *buf;
	int rc;

	memset(ul, 0, sizeof(*ul));
	if (index_slurp(dirfd, UIDLIST_FILE, &buf, &len, UIDLIST_SIZE_MAX) ==
	    -1)
		return -1;
	if ((rc = uidlist_parse(ul, buf, len)) == -1)
		log_warnx(
		    "%s: not a uidlist boxd can read, ignored", UIDLIST_FILE);
	free(buf);
	return rc;
}

void
uidlist_free(struct uidlist *ul)
{
	free(ul->ents);
	free(ul->names);
	memset(ul, 0, sizeof(*ul));
}

int
keyword_name_valid(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > KEYWORD_NAME_MAX || s[0] == '\\')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		/* RFC 3501 atom-char, minus what a keyword may not hold */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return 0;
	}
	return 1;
}

void
keywords_parse(struct keywords *kw, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *eol, *q;
	char name[KEYWORD_NAME_MAX + 1];
	uint32_t idx;
	size_t i, n;
	int dup;

	memset(kw, 0, sizeof(*kw));
	for (; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		/* "0 name": the index may be 0 here, so no uidlist_number */
		idx = 0;
		for (q = p; q < eol && *q >= '0' && *q <= '9' && q - p < 3; q++)
			idx = idx * 10 + (uint32_t)(*q - '0');
		if (q == p || q == eol || *q != ' ' || idx >= KEYWORDS_MAX)
			continue;
		q++;
		n = (size_t)(eol - q);
		if (n == 0 || n > KEYWORD_NAME_MAX || kw->name[idx] != NULL)
			continue;
		memcpy(name, q, n);
		name[n] = '\0';
		if (!keyword_name_valid(name))
			continue;
		for (dup = 0, i = 0; i < KEYWORDS_MAX; i++)
			if (kw->name[i] != NULL &&
			    strcasecmp(kw->name[i], name) == 0)
				dup = 1;
		if (dup)
			continue;
		if ((kw->name[idx] = strdup(name)) == NULL)
			return; /* what we have is still right */
	}
}

int
keywords_read(int dirfd, struct keywords *kw)
{
	size_t len;
	void *buf;

	memset(kw, 0, sizeof(*kw));
	if (index_slurp(dirfd, KEYWORDS_FILE, &buf, &len, KEYWORDS_SIZE_MAX) ==
	    -1)
		return -1;
	keywords_parse(kw, buf, len);
	free(buf);
	return 0;
}

int
keywords_write(int dirfd, const struct keywords *kw)
{
	struct msg_writer w;
	char line[KEYWORD_NAME_MAX + 8];
	size_t i;
	int n, rc;

	msg_writer_init(&w);
	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (kw->name[i] == NULL)
			continue;
		n = snprintf(line, sizeof(line), "%zu %s\n", i, kw->name[i]);
		if (n < 0 || (size_t)n >= sizeof(line))
			continue;
		msg_put_data(&w, line, (size_t)n);
	}
	if (w.error) {
		msg_writer_free(&w);
		errno = ENOMEM;
		return -1;
	}
	rc = index_replace_file(
	    dirfd, KEYWORDS_FILE, w.len ? (const void *)w.buf : "", w.len);
	msg_writer_free(&w);
	return rc;
}

void
keywords_free(struct keywords *kw)
{
	size_t i;

	for (i = 0; i < KEYWORDS_MAX; i++)
		free(kw->name[i]);
	memset(kw, 0, sizeof(*kw));
}
